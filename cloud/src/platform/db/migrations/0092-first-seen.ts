import type { Migration } from './migration.js';
import { FILL_PART_FIRSTS } from '../yield-quarters.js';

const TABLES = `
CREATE TABLE part_firsts (
  tenant_id TEXT NOT NULL,
  part_serial TEXT NOT NULL,
  first_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, part_serial)
);
CREATE TABLE position_spans (
  tenant_id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  first_at TEXT NOT NULL,
  last_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, equipment)
);`;

const FILL_POSITION_SPANS = `INSERT INTO position_spans (tenant_id, equipment, first_at, last_at)
SELECT tenant_id, equipment, MIN(observed_at), MAX(observed_at) FROM record_positions GROUP BY tenant_id, equipment`;

export const migration: Migration = {
  version: 92,
  name: 'first-seen rows: each part’s first inspection, the span of each rig’s named positions',
  // Rows kept at ingest, in the transaction that indexes the records, so that reads with no time
  // window of their own get one instead of visiting every month of the partitioned tables
  // (PostgreSQL). Neither is partitioned: retention never drops them. part_firsts: per tenant and
  // part serial, the observation time of the part's first inspection (the earliest ever ingested),
  // which the first-pass yield reads (so a part first inspected in a dropped month is still not
  // first-passed by a later re-inspection). position_spans: per tenant and rig, the earliest and
  // latest observation time of its records that name a position (record_positions): the months
  // its unresolved positions are looked for in. Both back-filled here.
  sqlite: `${TABLES}
${FILL_PART_FIRSTS};
${FILL_POSITION_SPANS};
`,
  postgres: `${TABLES}
ALTER TABLE part_firsts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON part_firsts
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE position_spans ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON position_spans
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
${FILL_PART_FIRSTS};
${FILL_POSITION_SPANS};
`,
  grants: [
    // First-seen rows (migration 92): set by ingest, widened by a record earlier or later.
    { table: 'part_firsts', privileges: 'SELECT, INSERT, UPDATE (first_at)' },
    { table: 'position_spans', privileges: 'SELECT, INSERT, UPDATE (first_at, last_at)' },
  ],
};
