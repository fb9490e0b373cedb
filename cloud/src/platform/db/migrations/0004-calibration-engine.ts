import type { Migration } from './migration.js';

export const migration: Migration = {
  version: 4,
  name: 'calibration engine: equipment register, calibrations, traceability index',
  // Derived, append-only indexes over records (traceable_records, record_gauges) make the
  // suspect-product, inspection and yield queries index range scans; equipment carries a
  // cached next_due / due_sort (recomputed whenever its calibrations change) so the due-list is
  // one range scan. Times are normalised ISO 8601 TEXT (sortable) on both backends.
  sqlite: `
CREATE TABLE calibration_settings (
  tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
  due_soon_days INTEGER NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE equipment (
  tenant_id TEXT NOT NULL,
  tag TEXT NOT NULL,
  site_id TEXT NOT NULL,
  type TEXT NOT NULL,
  interval_days INTEGER NOT NULL,
  interval_cycles INTEGER,
  due_soon_days INTEGER,
  is_reference_standard INTEGER NOT NULL DEFAULT 0,
  std_due_date TEXT,
  spec TEXT NOT NULL,
  last_valid_at TEXT,
  next_due TEXT,
  out_of_tolerance INTEGER NOT NULL DEFAULT 0,
  due_sort TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  retired_at TEXT,
  PRIMARY KEY (tenant_id, tag),
  FOREIGN KEY (tenant_id, site_id) REFERENCES sites(tenant_id, id)
);
CREATE INDEX equipment_due ON equipment (tenant_id, due_sort);
CREATE INDEX equipment_site_due ON equipment (tenant_id, site_id, due_sort);
CREATE TABLE calibrations (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  source TEXT NOT NULL,
  edge_id TEXT,
  seq INTEGER,
  calibrated_at TEXT NOT NULL,
  as_found TEXT NOT NULL,
  as_left TEXT,
  traceability TEXT NOT NULL,
  trace_issues TEXT NOT NULL,
  body TEXT NOT NULL,
  entered_by TEXT,
  recorded_by TEXT,
  evidence_sha256 TEXT,
  created_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX calibrations_by_equipment ON calibrations (tenant_id, equipment, calibrated_at);
CREATE TABLE traceable_records (
  tenant_id TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  kind TEXT NOT NULL,
  site_id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  observed_at TEXT NOT NULL,
  part_serial TEXT,
  work_order TEXT,
  result TEXT,
  cycles INTEGER,
  PRIMARY KEY (tenant_id, edge_id, seq)
);
CREATE INDEX traceable_by_equipment ON traceable_records (tenant_id, equipment, observed_at);
CREATE INDEX traceable_by_kind ON traceable_records (tenant_id, kind, observed_at);
CREATE INDEX traceable_by_site ON traceable_records (tenant_id, site_id, kind, observed_at);
CREATE INDEX traceable_by_part ON traceable_records (tenant_id, part_serial, observed_at);
CREATE INDEX traceable_by_work_order ON traceable_records (tenant_id, work_order, observed_at);
CREATE TABLE record_gauges (
  tenant_id TEXT NOT NULL,
  gauge TEXT NOT NULL,
  observed_at TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, gauge, observed_at, edge_id, seq)
);
`,
  postgres: `
CREATE TABLE calibration_settings (
  tenant_id TEXT PRIMARY KEY REFERENCES tenants (id),
  due_soon_days INTEGER NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE equipment (
  tenant_id TEXT NOT NULL,
  tag TEXT NOT NULL,
  site_id TEXT NOT NULL,
  type TEXT NOT NULL,
  interval_days INTEGER NOT NULL,
  interval_cycles INTEGER,
  due_soon_days INTEGER,
  is_reference_standard BOOLEAN NOT NULL DEFAULT false,
  std_due_date TEXT,
  spec TEXT NOT NULL,
  last_valid_at TEXT,
  next_due TEXT,
  out_of_tolerance BOOLEAN NOT NULL DEFAULT false,
  due_sort TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  retired_at TIMESTAMPTZ,
  PRIMARY KEY (tenant_id, tag),
  FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id)
);
CREATE INDEX equipment_due ON equipment (tenant_id, due_sort);
CREATE INDEX equipment_site_due ON equipment (tenant_id, site_id, due_sort);
CREATE TABLE calibrations (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  source TEXT NOT NULL,
  edge_id TEXT,
  seq BIGINT,
  calibrated_at TEXT NOT NULL,
  as_found TEXT NOT NULL,
  as_left TEXT,
  traceability TEXT NOT NULL,
  trace_issues TEXT NOT NULL,
  body TEXT NOT NULL,
  entered_by TEXT,
  recorded_by TEXT,
  evidence_sha256 TEXT,
  created_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, edge_id, seq) REFERENCES records (tenant_id, edge_id, seq)
);
CREATE INDEX calibrations_by_equipment ON calibrations (tenant_id, equipment, calibrated_at);
CREATE TABLE traceable_records (
  tenant_id TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  kind TEXT NOT NULL,
  site_id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  observed_at TEXT NOT NULL,
  part_serial TEXT,
  work_order TEXT,
  result TEXT,
  cycles BIGINT,
  PRIMARY KEY (tenant_id, edge_id, seq),
  FOREIGN KEY (tenant_id, edge_id, seq) REFERENCES records (tenant_id, edge_id, seq)
);
CREATE INDEX traceable_by_equipment ON traceable_records (tenant_id, equipment, observed_at);
CREATE INDEX traceable_by_kind ON traceable_records (tenant_id, kind, observed_at);
CREATE INDEX traceable_by_site ON traceable_records (tenant_id, site_id, kind, observed_at);
CREATE INDEX traceable_by_part ON traceable_records (tenant_id, part_serial, observed_at);
CREATE INDEX traceable_by_work_order ON traceable_records (tenant_id, work_order, observed_at);
CREATE TABLE record_gauges (
  tenant_id TEXT NOT NULL,
  gauge TEXT NOT NULL,
  observed_at TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, gauge, observed_at, edge_id, seq),
  FOREIGN KEY (tenant_id, edge_id, seq) REFERENCES records (tenant_id, edge_id, seq)
);
ALTER TABLE calibration_settings ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON calibration_settings
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE equipment ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON equipment
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE calibrations ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON calibrations
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE traceable_records ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON traceable_records
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE record_gauges ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON record_gauges
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
`,
  grants: [
    // Calibration engine (migration 4): calibrations and the traceability indexes are append-only.
    { table: 'calibration_settings', privileges: 'SELECT, INSERT, UPDATE' },
    { table: 'equipment', privileges: 'SELECT, INSERT, UPDATE' },
    // Calibrations: what was measured never changes; the traceability verdict is re-evaluated when
    // a standard's history changes (migration 61; each change kept in calibration_trace_reviews).
    { table: 'calibrations', privileges: 'SELECT, INSERT, UPDATE (traceability, trace_issues)' },
    { table: 'traceable_records', privileges: 'SELECT, INSERT' },
    { table: 'record_gauges', privileges: 'SELECT, INSERT' },
  ],
};
