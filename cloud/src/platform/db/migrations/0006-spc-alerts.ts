import type { Migration } from './migration.js';

export const migration: Migration = {
  version: 6,
  name: 'SPC: characteristic measurements, summaries, frozen baselines; alerts',
  // spc_measurements: one row per characteristic of each inspection record, derived at ingest,
  // keyed in chart order (a chart is one range scan) and append-only. spc_characteristics: the
  // per-characteristic summary the same writes keep (count, latest spec and site). spc_baselines:
  // frozen control limits, append-only (the latest applies). alerts: raised once per dedupe key,
  // acknowledged once, never deleted.
  sqlite: `
CREATE TABLE spc_measurements (
  tenant_id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  characteristic TEXT NOT NULL,
  observed_at TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  site_id TEXT NOT NULL,
  measured REAL NOT NULL,
  PRIMARY KEY (tenant_id, equipment, characteristic, observed_at, edge_id, seq, idx)
) WITHOUT ROWID;
CREATE TABLE spc_characteristics (
  tenant_id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  characteristic TEXT NOT NULL,
  site_id TEXT NOT NULL,
  unit TEXT NOT NULL,
  nominal REAL,
  lsl REAL,
  usl REAL,
  n INTEGER NOT NULL,
  first_at TEXT NOT NULL,
  last_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, equipment, characteristic)
);
CREATE INDEX spc_characteristics_by_site ON spc_characteristics (tenant_id, site_id, equipment);
CREATE TABLE spc_baselines (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  characteristic TEXT NOT NULL,
  chart TEXT NOT NULL,
  subgroup_size INTEGER NOT NULL,
  rules TEXT NOT NULL,
  from_at TEXT NOT NULL,
  to_at TEXT NOT NULL,
  frozen_at TEXT NOT NULL,
  frozen_by TEXT NOT NULL,
  center REAL NOT NULL,
  ucl REAL NOT NULL,
  lcl REAL NOT NULL,
  range_center REAL NOT NULL,
  range_ucl REAL NOT NULL,
  range_lcl REAL NOT NULL,
  sigma_within REAL NOT NULL,
  sigma_overall REAL,
  mean REAL NOT NULL,
  points INTEGER NOT NULL,
  measurements INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX spc_baselines_by_characteristic ON spc_baselines (tenant_id, equipment, characteristic, frozen_at);
CREATE TRIGGER spc_baselines_no_update BEFORE UPDATE ON spc_baselines
BEGIN SELECT RAISE(ABORT, 'spc_baselines is append-only'); END;
CREATE TRIGGER spc_baselines_no_delete BEFORE DELETE ON spc_baselines
BEGIN SELECT RAISE(ABORT, 'spc_baselines is append-only'); END;
CREATE TABLE alerts (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  dedupe_key TEXT NOT NULL,
  site_id TEXT,
  kind TEXT NOT NULL,
  severity TEXT NOT NULL,
  message TEXT NOT NULL,
  at TEXT NOT NULL,
  tag TEXT,
  characteristic TEXT,
  rule TEXT,
  chart TEXT,
  point_at TEXT,
  detail TEXT NOT NULL,
  acknowledged_at TEXT,
  acknowledged_by TEXT,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, dedupe_key)
);
CREATE INDEX alerts_by_time ON alerts (tenant_id, at, id);
CREATE INDEX alerts_by_site ON alerts (tenant_id, site_id, at, id);
CREATE INDEX alerts_open ON alerts (tenant_id, kind, tag, characteristic) WHERE acknowledged_at IS NULL;
`,
  postgres: `
CREATE TABLE spc_measurements (
  tenant_id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  characteristic TEXT NOT NULL,
  observed_at TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  idx INTEGER NOT NULL,
  site_id TEXT NOT NULL,
  measured DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (tenant_id, equipment, characteristic, observed_at, edge_id, seq, idx),
  FOREIGN KEY (tenant_id, edge_id, seq) REFERENCES records (tenant_id, edge_id, seq)
);
CREATE TABLE spc_characteristics (
  tenant_id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  characteristic TEXT NOT NULL,
  site_id TEXT NOT NULL,
  unit TEXT NOT NULL,
  nominal DOUBLE PRECISION,
  lsl DOUBLE PRECISION,
  usl DOUBLE PRECISION,
  n BIGINT NOT NULL,
  first_at TEXT NOT NULL,
  last_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, equipment, characteristic)
);
CREATE INDEX spc_characteristics_by_site ON spc_characteristics (tenant_id, site_id, equipment);
CREATE TABLE spc_baselines (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  characteristic TEXT NOT NULL,
  chart TEXT NOT NULL,
  subgroup_size INTEGER NOT NULL,
  rules TEXT NOT NULL,
  from_at TEXT NOT NULL,
  to_at TEXT NOT NULL,
  frozen_at TEXT NOT NULL,
  frozen_by TEXT NOT NULL,
  center DOUBLE PRECISION NOT NULL,
  ucl DOUBLE PRECISION NOT NULL,
  lcl DOUBLE PRECISION NOT NULL,
  range_center DOUBLE PRECISION NOT NULL,
  range_ucl DOUBLE PRECISION NOT NULL,
  range_lcl DOUBLE PRECISION NOT NULL,
  sigma_within DOUBLE PRECISION NOT NULL,
  sigma_overall DOUBLE PRECISION,
  mean DOUBLE PRECISION NOT NULL,
  points INTEGER NOT NULL,
  measurements INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX spc_baselines_by_characteristic ON spc_baselines (tenant_id, equipment, characteristic, frozen_at);
CREATE TABLE alerts (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  dedupe_key TEXT NOT NULL,
  site_id TEXT,
  kind TEXT NOT NULL,
  severity TEXT NOT NULL,
  message TEXT NOT NULL,
  at TEXT NOT NULL,
  tag TEXT,
  characteristic TEXT,
  rule TEXT,
  chart TEXT,
  point_at TEXT,
  detail TEXT NOT NULL,
  acknowledged_at TEXT,
  acknowledged_by TEXT,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, dedupe_key)
);
CREATE INDEX alerts_by_time ON alerts (tenant_id, at, id);
CREATE INDEX alerts_by_site ON alerts (tenant_id, site_id, at, id);
CREATE INDEX alerts_open ON alerts (tenant_id, kind, tag, characteristic) WHERE acknowledged_at IS NULL;
ALTER TABLE spc_measurements ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON spc_measurements
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE spc_characteristics ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON spc_characteristics
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE spc_baselines ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON spc_baselines
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE alerts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON alerts
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
`,
  grants: [
    // SPC and alerts (migration 6): measurements and baselines append-only; the summary is kept
    // up to date by ingest; an alert changes only by being acknowledged.
    { table: 'spc_measurements', privileges: 'SELECT, INSERT' },
    { table: 'spc_characteristics', privileges: 'SELECT, INSERT, UPDATE' },
    { table: 'spc_baselines', privileges: 'SELECT, INSERT' },
    { table: 'alerts', privileges: 'SELECT, INSERT, UPDATE (acknowledged_at, acknowledged_by)' },
  ],
};
