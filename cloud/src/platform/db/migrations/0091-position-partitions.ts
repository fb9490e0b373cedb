import {
  DERIVED,
  monthlyTables,
  moveRows,
  partitionedTable,
  tenantPolicies,
} from './0073-derived-partitions.js';
import type { Migration } from './migration.js';

export const migration: Migration = {
  version: 91,
  name: 'the positions named by records partitioned by month with them (PostgreSQL)',
  // record_positions (migration 90) grows with records and is append-only: partitioned like the
  // other rows derived from records (migration 73, whose steps this reuses), one partition per
  // month (record_positions_YYYY_MM) and a default one. rt_monthly_tables now lists it, so
  // rt_record_partition makes its month with the others, rt_records_ahead looks in its default
  // partition and the owner's retention command drops its old months with records'. Its primary
  // key gains observed_at (a partitioned table's keys must include it): a record is stored once
  // and its positions carry its own time, so (tenant, edge, seq, position, observed_at) is as
  // unique as (tenant, edge, seq, position) was. Index, row-level security and the app role's
  // grant (migration 90, re-applied at every start) are as before. SQLite: unchanged.
  sqlite: '',
  postgres: `
-- The partitioned table, as the old one less its key and index (added once the rows are in).
${partitionedTable(
  'record_positions',
  `  tenant_id TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  position TEXT NOT NULL,
  kind TEXT NOT NULL,
  equipment TEXT NOT NULL,
  observed_at TEXT NOT NULL`,
)}

-- A month is made of records, the rows derived from them and the positions they name.
${monthlyTables('CREATE OR REPLACE', [...DERIVED, 'record_positions'])}

-- Every month records has or the old table holds (each monthly table gets the months it lacks),
-- then the rows, each into its month.
${moveRows(['record_positions'])}

ALTER TABLE record_positions ADD PRIMARY KEY (tenant_id, edge_id, seq, position, observed_at);
CREATE INDEX record_positions_by_position ON record_positions (tenant_id, equipment, position, observed_at);
${tenantPolicies(['record_positions'])}
SELECT rt_records_ahead(now());
`,
};
