import type { Migration } from './migration.js';

export const migration: Migration = {
  version: 10,
  name: 'live state: latest telemetry values and rig states',
  // Written by the ingest transaction (under the edge's row lock), read by the live snapshot.
  // Observation times are normalized ISO 8601 text (milliseconds, Z), as in traceable_records.
  sqlite: `
CREATE TABLE live_points (
  tenant_id TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  point TEXT NOT NULL,
  site_id TEXT NOT NULL,
  value TEXT NOT NULL,
  unit TEXT,
  quality TEXT NOT NULL CHECK (quality IN ('good', 'uncertain', 'bad')),
  observed_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, edge_id, equipment, point),
  FOREIGN KEY (tenant_id, edge_id) REFERENCES edges (tenant_id, id)
);
CREATE INDEX live_points_by_site ON live_points (tenant_id, site_id);
CREATE TABLE live_rigs (
  tenant_id TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  site_id TEXT NOT NULL,
  state TEXT CHECK (state IN ('running', 'stopped')),
  state_since TEXT,
  state_at TEXT,
  last_seen_at TEXT NOT NULL,
  operator TEXT,
  work_order TEXT,
  part_serial TEXT,
  PRIMARY KEY (tenant_id, edge_id, equipment),
  FOREIGN KEY (tenant_id, edge_id) REFERENCES edges (tenant_id, id)
);
CREATE INDEX live_rigs_by_site ON live_rigs (tenant_id, site_id);
`,
  postgres: `
CREATE TABLE live_points (
  tenant_id TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  point TEXT NOT NULL,
  site_id TEXT NOT NULL,
  value TEXT NOT NULL,
  unit TEXT,
  quality TEXT NOT NULL CHECK (quality IN ('good', 'uncertain', 'bad')),
  observed_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, edge_id, equipment, point),
  FOREIGN KEY (tenant_id, edge_id) REFERENCES edges (tenant_id, id)
);
CREATE INDEX live_points_by_site ON live_points (tenant_id, site_id);
CREATE TABLE live_rigs (
  tenant_id TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  site_id TEXT NOT NULL,
  state TEXT CHECK (state IN ('running', 'stopped')),
  state_since TEXT,
  state_at TEXT,
  last_seen_at TEXT NOT NULL,
  operator TEXT,
  work_order TEXT,
  part_serial TEXT,
  PRIMARY KEY (tenant_id, edge_id, equipment),
  FOREIGN KEY (tenant_id, edge_id) REFERENCES edges (tenant_id, id)
);
CREATE INDEX live_rigs_by_site ON live_rigs (tenant_id, site_id);
ALTER TABLE live_points ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON live_points
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE live_rigs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON live_rigs
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
`,
  grants: [
    // Live state (migration 10): the latest values and rig states, overwritten as newer ones arrive.
    { table: 'live_points', privileges: 'SELECT, INSERT, UPDATE' },
    { table: 'live_rigs', privileges: 'SELECT, INSERT, UPDATE' },
  ],
};
