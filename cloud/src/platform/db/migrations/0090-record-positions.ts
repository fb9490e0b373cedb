import type { Migration } from './migration.js';

export const migration: Migration = {
  version: 90,
  name: 'positions named by records',
  // record_positions: each position a telemetry point or an inspection characteristic names
  // (RECORDS.md, "Positions"), once per record, with the record's equipment and observation
  // time. Derived at ingest, append-only; the device is resolved when read (installations at
  // observed_at), so an installation recorded later still resolves earlier records.
  sqlite: `
CREATE TABLE record_positions (
  tenant_id TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  position TEXT NOT NULL,
  kind TEXT NOT NULL,
  equipment TEXT NOT NULL,
  observed_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, edge_id, seq, position)
);
CREATE INDEX record_positions_by_position ON record_positions (tenant_id, equipment, position, observed_at);
`,
  postgres: `
CREATE TABLE record_positions (
  tenant_id TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  position TEXT NOT NULL,
  kind TEXT NOT NULL,
  equipment TEXT NOT NULL,
  observed_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, edge_id, seq, position)
);
CREATE INDEX record_positions_by_position ON record_positions (tenant_id, equipment, position, observed_at);
ALTER TABLE record_positions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON record_positions
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
`,
  grants: [
    // Positions named by records (migration 90): derived at ingest, append-only.
    { table: 'record_positions', privileges: 'SELECT, INSERT' },
  ],
};
