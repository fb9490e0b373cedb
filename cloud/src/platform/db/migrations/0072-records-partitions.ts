import type { Migration } from './migration.js';

export const migration: Migration = {
  version: 72,
  name: 'records partitioned by month (PostgreSQL); the signed log leaves in record_log',
  // records becomes a table partitioned by range of observed_at (normalised ISO text, so text
  // ranges are time ranges), one partition per month (records_YYYY_MM) and a default one for a
  // month that has none yet, so a record never fails ingest for want of a partition. Whole
  // months are dropped by the owner's retention command (docs/SCALE.md, "Partitioning").
  // record_log, unpartitioned, keeps one row per record of the signed log: (tenant, edge, seq)
  // is unique there (a partitioned table's keys must include observed_at), it holds each leaf
  // hash (inclusion and consistency proofs, re-sent record detection) and the observation time
  // (which month a record is in), and the foreign keys that pointed at records point at it; it
  // outlives the months dropped, so the edges' logs stay provable. Ingest writes both in one
  // statement. rt_record_partition creates a month's partition (moving its rows out of the
  // default partition); rt_records_ahead the current and next months' and one for each month
  // found in the default partition: run at every start and daily by the cloud (the app role
  // may call it; it creates nothing else). SQLite: unchanged (one table).
  sqlite: '',
  postgres: `
CREATE TABLE record_log (
  tenant_id TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  observed_at TEXT NOT NULL,
  leaf_hash BYTEA NOT NULL,
  PRIMARY KEY (tenant_id, edge_id, seq),
  FOREIGN KEY (tenant_id, edge_id) REFERENCES edges (tenant_id, id)
);
INSERT INTO record_log (tenant_id, edge_id, seq, observed_at, leaf_hash)
  SELECT tenant_id, edge_id, seq, observed_at, leaf_hash FROM records;
ALTER TABLE record_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON record_log
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

-- Every foreign key to records (calibrations, traceable_records, record_gauges, spc_measurements)
-- now names record_log, whose rows are never dropped.
DO $$
DECLARE c RECORD;
BEGIN
  FOR c IN SELECT conrelid::regclass AS tbl, conname FROM pg_constraint
            WHERE contype = 'f' AND confrelid = 'records'::regclass LOOP
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', c.tbl, c.conname);
    EXECUTE format('ALTER TABLE %s ADD FOREIGN KEY (tenant_id, edge_id, seq) REFERENCES record_log (tenant_id, edge_id, seq)', c.tbl);
  END LOOP;
END $$;

ALTER TABLE records RENAME TO records_unpartitioned;
ALTER INDEX records_pkey RENAME TO records_unpartitioned_pkey;
ALTER INDEX records_by_equipment RENAME TO records_unpartitioned_by_equipment;
ALTER INDEX records_by_kind RENAME TO records_unpartitioned_by_kind;
CREATE TABLE records (
  tenant_id TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  id TEXT NOT NULL,
  kind TEXT NOT NULL,
  equipment TEXT NOT NULL,
  observed_at TEXT NOT NULL,
  json TEXT NOT NULL,
  leaf_hash BYTEA NOT NULL,
  ingested_at TIMESTAMPTZ NOT NULL,
  replayed BOOLEAN NOT NULL DEFAULT false,
  PRIMARY KEY (tenant_id, edge_id, seq, observed_at),
  FOREIGN KEY (tenant_id, edge_id) REFERENCES edges (tenant_id, id)
) PARTITION BY RANGE (observed_at);
CREATE INDEX records_by_equipment ON records (tenant_id, equipment, observed_at);
CREATE INDEX records_by_kind ON records (tenant_id, kind, observed_at);
CREATE TABLE records_default PARTITION OF records DEFAULT;
ALTER TABLE records ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON records
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

CREATE FUNCTION rt_record_partition(p_month DATE) RETURNS TEXT
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
  AS $$
DECLARE
  m DATE := date_trunc('month', p_month)::date;
  lo TEXT := to_char(m, 'YYYY-MM-DD') || 'T00:00:00.000Z';
  hi TEXT := to_char(m + 1 * interval '1 month', 'YYYY-MM-DD') || 'T00:00:00.000Z';
  part TEXT := 'records_' || to_char(m, 'YYYY_MM');
BEGIN
  -- One creator at a time (several cloud processes start and tick at once).
  PERFORM pg_advisory_xact_lock(hashtext('rt_record_partition'));
  IF to_regclass(part) IS NOT NULL THEN RETURN part; END IF;
  EXECUTE format('CREATE TABLE %I (LIKE records INCLUDING DEFAULTS)', part);
  EXECUTE format(
    'WITH moved AS (DELETE FROM records_default WHERE observed_at >= %L AND observed_at < %L RETURNING *) INSERT INTO %I SELECT * FROM moved',
    lo, hi, part);
  EXECUTE format('ALTER TABLE records ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
  RETURN part;
END $$;
CREATE FUNCTION rt_records_ahead(p_now TIMESTAMPTZ) RETURNS SETOF TEXT
  LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
  AS $$ SELECT rt_record_partition(m) FROM (
          SELECT (p_now AT TIME ZONE 'UTC')::date AS m
          UNION SELECT ((p_now AT TIME ZONE 'UTC') + interval '1 month')::date
          UNION SELECT to_date(substr(observed_at, 1, 7) || '-01', 'YYYY-MM-DD') FROM records_default
        ) months ORDER BY m $$;
REVOKE ALL ON FUNCTION rt_record_partition(DATE) FROM PUBLIC;
REVOKE ALL ON FUNCTION rt_records_ahead(TIMESTAMPTZ) FROM PUBLIC;

-- The existing records, each into its month's partition.
SELECT rt_record_partition(to_date(m || '-01', 'YYYY-MM-DD'))
  FROM (SELECT DISTINCT substr(observed_at, 1, 7) AS m FROM records_unpartitioned) months;
INSERT INTO records (tenant_id, edge_id, seq, id, kind, equipment, observed_at, json, leaf_hash, ingested_at, replayed)
  SELECT tenant_id, edge_id, seq, id, kind, equipment, observed_at, json, leaf_hash, ingested_at, replayed
    FROM records_unpartitioned;
DROP TABLE records_unpartitioned;
SELECT rt_records_ahead(now());
`,
  grants: [{ table: 'record_log', privileges: 'SELECT, INSERT' }],
  execute: ['rt_records_ahead(TIMESTAMPTZ)'],
};
