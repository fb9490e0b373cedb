import type { Migration } from './migration.js';

/** The tables whose rows are derived from records at ingest, partitioned like records here. */
export const DERIVED = ['traceable_records', 'record_gauges', 'spc_measurements'] as const;

// The conversion of a table to monthly partitions, in steps (migrations 73 and 91 use them).

/**
 * `table` renamed to <table>_unpartitioned, and a new `table` partitioned by range of observed_at
 * with `columns` (its column list, no keys: they are added once the rows are in) and a default
 * partition.
 */
export function partitionedTable(table: string, columns: string): string {
  return `ALTER TABLE ${table} RENAME TO ${table}_unpartitioned;
CREATE TABLE ${table} (
${columns}
) PARTITION BY RANGE (observed_at);
CREATE TABLE ${table}_default PARTITION OF ${table} DEFAULT;`;
}

/** rt_monthly_tables(): records, then `tables`; `create` is CREATE or CREATE OR REPLACE. */
export function monthlyTables(create: string, tables: readonly string[]): string {
  return `${create} FUNCTION rt_monthly_tables() RETURNS SETOF TEXT
  LANGUAGE sql IMMUTABLE SET search_path = public, pg_temp
  AS $$ SELECT unnest(ARRAY['records', ${tables.map((t) => `'${t}'`).join(', ')}]) $$;
REVOKE ALL ON FUNCTION rt_monthly_tables() FROM PUBLIC;`;
}

/**
 * A partition of every monthly table for every month records has or `tables`' old rows hold,
 * then the old rows, each into its month; the old tables dropped.
 */
export function moveRows(tables: readonly string[]): string {
  return `SELECT rt_record_partition(m) FROM (
  SELECT to_date(right(c.relname, 7), 'YYYY_MM') AS m FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
   WHERE i.inhparent = 'records'::regclass AND c.relname ~ '^records_[0-9]{4}_[0-9]{2}$'
  ${tables.map((t) => `UNION SELECT to_date(substr(observed_at, 1, 7) || '-01', 'YYYY-MM-DD') FROM ${t}_unpartitioned`).join('\n  ')}
) months ORDER BY m;
${tables.map((t) => `INSERT INTO ${t} SELECT * FROM ${t}_unpartitioned;\nDROP TABLE ${t}_unpartitioned;`).join('\n')}`;
}

/** Row-level security and the tenant_isolation policy on each of `tables` (made anew). */
export function tenantPolicies(tables: readonly string[]): string {
  return tables
    .map(
      (t) => `ALTER TABLE ${t} ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ${t}
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));`,
    )
    .join('\n');
}

export const migration: Migration = {
  version: 73,
  name: 'the rows derived from records partitioned by month with them (PostgreSQL)',
  // traceable_records, record_gauges and spc_measurements grow by one or more rows per record
  // and are append-only: each becomes a table partitioned by range of its observed_at (the
  // record's, normalised ISO text), one partition per month (<table>_YYYY_MM) and a default one,
  // exactly like records (migration 72). A month is now one set of partitions, made by
  // rt_record_partition for every table rt_monthly_tables lists and dropped together by the
  // owner's retention command; rt_records_ahead finds the waiting months in every default
  // partition. traceable_records' primary key gains observed_at (a partitioned table's keys
  // must include it): a record is stored once (record_log) and its derived rows carry its own
  // time, so (tenant, edge, seq, observed_at) is as unique as (tenant, edge, seq) was; the other
  // two keys held observed_at already. Foreign keys to record_log, indexes, row-level security
  // and the app role's grants (re-applied at every start from migrations 4 and 6) are as before.
  // Not partitioned: audit_log (a hash chain kept whole: nothing of it is ever dropped, and
  // (tenant, seq) must stay unique), checkpoints (read by edge and size, not by time: every
  // read would visit each month), record_positions (made by migration 90, after this one on a
  // new database; migration 91 partitions it with these steps). SQLite: unchanged.
  sqlite: '',
  postgres: `
-- The partitioned tables, as the old ones less their keys and indexes (added once the rows are in).
${partitionedTable(
  'traceable_records',
  `  tenant_id TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  kind TEXT NOT NULL,
  site_id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  observed_at TEXT NOT NULL,
  part_serial TEXT,
  work_order TEXT,
  result TEXT,
  cycles BIGINT`,
)}
${partitionedTable(
  'record_gauges',
  `  tenant_id TEXT NOT NULL,
  gauge TEXT NOT NULL,
  observed_at TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  seq BIGINT NOT NULL`,
)}
${partitionedTable(
  'spc_measurements',
  `  tenant_id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  characteristic TEXT NOT NULL,
  observed_at TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  idx INTEGER NOT NULL,
  site_id TEXT NOT NULL,
  measured DOUBLE PRECISION NOT NULL`,
)}

-- The tables a month is made of: records first, then what is derived from them.
${monthlyTables('CREATE', DERIVED)}

-- A month's partition of every monthly table (each moving its rows out of its default
-- partition); the name of records' one.
CREATE OR REPLACE FUNCTION rt_record_partition(p_month DATE) RETURNS TEXT
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
  AS $$
DECLARE
  m DATE := date_trunc('month', p_month)::date;
  lo TEXT := to_char(m, 'YYYY-MM-DD') || 'T00:00:00.000Z';
  hi TEXT := to_char(m + 1 * interval '1 month', 'YYYY-MM-DD') || 'T00:00:00.000Z';
  t TEXT;
  part TEXT;
BEGIN
  -- One creator at a time (several cloud processes start and tick at once).
  PERFORM pg_advisory_xact_lock(hashtext('rt_record_partition'));
  FOR t IN SELECT rt_monthly_tables() LOOP
    part := t || '_' || to_char(m, 'YYYY_MM');
    CONTINUE WHEN to_regclass(part) IS NOT NULL;
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS)', part, t);
    EXECUTE format(
      'WITH moved AS (DELETE FROM %I WHERE observed_at >= %L AND observed_at < %L RETURNING *) INSERT INTO %I SELECT * FROM moved',
      t || '_default', lo, hi, part);
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', t, part, lo, hi);
  END LOOP;
  RETURN 'records_' || to_char(m, 'YYYY_MM');
END $$;
-- The current and next months, and each month found in a default partition.
CREATE OR REPLACE FUNCTION rt_records_ahead(p_now TIMESTAMPTZ) RETURNS SETOF TEXT
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
  AS $$
DECLARE
  waiting TEXT := '';
  t TEXT;
BEGIN
  FOR t IN SELECT rt_monthly_tables() LOOP
    waiting := waiting || format(
      ' UNION SELECT to_date(substr(observed_at, 1, 7) || ''-01'', ''YYYY-MM-DD'') FROM %I', t || '_default');
  END LOOP;
  RETURN QUERY EXECUTE format(
    'SELECT rt_record_partition(m) FROM (SELECT (%L::timestamptz AT TIME ZONE ''UTC'')::date AS m
       UNION SELECT ((%L::timestamptz AT TIME ZONE ''UTC'') + interval ''1 month'')::date%s) months ORDER BY m',
    p_now, p_now, waiting);
END $$;

-- Every month records has or the old tables hold, then the rows, each into its month.
${moveRows(DERIVED)}

ALTER TABLE traceable_records ADD PRIMARY KEY (tenant_id, edge_id, seq, observed_at),
  ADD FOREIGN KEY (tenant_id, edge_id, seq) REFERENCES record_log (tenant_id, edge_id, seq);
CREATE INDEX traceable_by_equipment ON traceable_records (tenant_id, equipment, observed_at);
CREATE INDEX traceable_by_kind ON traceable_records (tenant_id, kind, observed_at);
CREATE INDEX traceable_by_site ON traceable_records (tenant_id, site_id, kind, observed_at);
CREATE INDEX traceable_by_part ON traceable_records (tenant_id, part_serial, observed_at);
CREATE INDEX traceable_by_work_order ON traceable_records (tenant_id, work_order, observed_at);
ALTER TABLE record_gauges ADD PRIMARY KEY (tenant_id, gauge, observed_at, edge_id, seq),
  ADD FOREIGN KEY (tenant_id, edge_id, seq) REFERENCES record_log (tenant_id, edge_id, seq);
ALTER TABLE spc_measurements ADD PRIMARY KEY (tenant_id, equipment, characteristic, observed_at, edge_id, seq, idx),
  ADD FOREIGN KEY (tenant_id, edge_id, seq) REFERENCES record_log (tenant_id, edge_id, seq);
${tenantPolicies(DERIVED)}
SELECT rt_records_ahead(now());
`,
};
