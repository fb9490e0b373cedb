import type { Migration } from './migration.js';

export const migration: Migration = {
  version: 42,
  name: 'out-of-tolerance cases: signed decisions per part, lot or record, customer notifications, shipment states',
  // oot_cases: one per calibration that found an instrument out of tolerance (opened with an
  // alert; closed once every suspect record has a decision and the instrument passed again, or
  // when the entry that opened it is rejected). oot_decisions and oot_notifications are signed
  // (the signer's password again; the manifest's SHA-256 is kept and on the audit trail) and
  // append-only: a later decision on the same part, lot or record supersedes an earlier one.
  // part_shipments: where each part is, as the plant's ERP or a person last said.
  sqlite: `
CREATE TABLE oot_cases (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  site_id TEXT,
  calibration_id TEXT NOT NULL,
  opened_at TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('open', 'closed')),
  closed_at TEXT,
  closed_reason TEXT,
  alert_id TEXT,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, calibration_id),
  FOREIGN KEY (tenant_id, calibration_id) REFERENCES calibrations (tenant_id, id)
);
CREATE INDEX oot_cases_by_equipment ON oot_cases (tenant_id, equipment, state);
CREATE INDEX oot_cases_by_time ON oot_cases (tenant_id, opened_at, id);
CREATE TABLE oot_decisions (
  tenant_id TEXT NOT NULL,
  case_id TEXT NOT NULL,
  id TEXT NOT NULL,
  scope TEXT NOT NULL CHECK (scope IN ('record', 'part', 'lot')),
  item TEXT NOT NULL,
  impact TEXT NOT NULL,
  assessment TEXT NOT NULL,
  disposition TEXT NOT NULL,
  decided_at TEXT NOT NULL,
  user_id TEXT NOT NULL,
  user_email TEXT NOT NULL,
  user_name TEXT NOT NULL,
  user_role TEXT NOT NULL,
  meaning TEXT NOT NULL,
  signature_sha256 TEXT NOT NULL,
  PRIMARY KEY (tenant_id, case_id, id),
  FOREIGN KEY (tenant_id, case_id) REFERENCES oot_cases (tenant_id, id)
);
CREATE INDEX oot_decisions_by_item ON oot_decisions (tenant_id, case_id, scope, item, decided_at);
CREATE TABLE oot_notifications (
  tenant_id TEXT NOT NULL,
  case_id TEXT NOT NULL,
  id TEXT NOT NULL,
  customer TEXT NOT NULL,
  contact TEXT NOT NULL,
  notified_at TEXT NOT NULL,
  method TEXT,
  reference TEXT NOT NULL,
  recorded_at TEXT NOT NULL,
  user_id TEXT NOT NULL,
  user_email TEXT NOT NULL,
  user_name TEXT NOT NULL,
  user_role TEXT NOT NULL,
  meaning TEXT NOT NULL,
  signature_sha256 TEXT NOT NULL,
  PRIMARY KEY (tenant_id, case_id, id),
  FOREIGN KEY (tenant_id, case_id) REFERENCES oot_cases (tenant_id, id)
);
CREATE TABLE part_shipments (
  tenant_id TEXT NOT NULL,
  part_serial TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('in-house', 'shipped', 'at-customer', 'scrapped')),
  customer TEXT,
  shipped_at TEXT,
  reference TEXT,
  updated_at TEXT NOT NULL,
  updated_by TEXT NOT NULL,
  PRIMARY KEY (tenant_id, part_serial)
);
CREATE TRIGGER oot_decisions_no_update BEFORE UPDATE ON oot_decisions
BEGIN SELECT RAISE(ABORT, 'oot_decisions is append-only'); END;
CREATE TRIGGER oot_decisions_no_delete BEFORE DELETE ON oot_decisions
BEGIN SELECT RAISE(ABORT, 'oot_decisions is append-only'); END;
CREATE TRIGGER oot_notifications_no_update BEFORE UPDATE ON oot_notifications
BEGIN SELECT RAISE(ABORT, 'oot_notifications is append-only'); END;
CREATE TRIGGER oot_notifications_no_delete BEFORE DELETE ON oot_notifications
BEGIN SELECT RAISE(ABORT, 'oot_notifications is append-only'); END;
`,
  postgres: `
CREATE TABLE oot_cases (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  site_id TEXT,
  calibration_id TEXT NOT NULL,
  opened_at TIMESTAMPTZ NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('open', 'closed')),
  closed_at TIMESTAMPTZ,
  closed_reason TEXT,
  alert_id TEXT,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, calibration_id),
  FOREIGN KEY (tenant_id, calibration_id) REFERENCES calibrations (tenant_id, id)
);
CREATE INDEX oot_cases_by_equipment ON oot_cases (tenant_id, equipment, state);
CREATE INDEX oot_cases_by_time ON oot_cases (tenant_id, opened_at, id);
CREATE TABLE oot_decisions (
  tenant_id TEXT NOT NULL,
  case_id TEXT NOT NULL,
  id TEXT NOT NULL,
  scope TEXT NOT NULL CHECK (scope IN ('record', 'part', 'lot')),
  item TEXT NOT NULL,
  impact TEXT NOT NULL,
  assessment TEXT NOT NULL,
  disposition TEXT NOT NULL,
  decided_at TIMESTAMPTZ NOT NULL,
  user_id TEXT NOT NULL,
  user_email TEXT NOT NULL,
  user_name TEXT NOT NULL,
  user_role TEXT NOT NULL,
  meaning TEXT NOT NULL,
  signature_sha256 TEXT NOT NULL,
  PRIMARY KEY (tenant_id, case_id, id),
  FOREIGN KEY (tenant_id, case_id) REFERENCES oot_cases (tenant_id, id)
);
CREATE INDEX oot_decisions_by_item ON oot_decisions (tenant_id, case_id, scope, item, decided_at);
CREATE TABLE oot_notifications (
  tenant_id TEXT NOT NULL,
  case_id TEXT NOT NULL,
  id TEXT NOT NULL,
  customer TEXT NOT NULL,
  contact TEXT NOT NULL,
  notified_at TIMESTAMPTZ NOT NULL,
  method TEXT,
  reference TEXT NOT NULL,
  recorded_at TIMESTAMPTZ NOT NULL,
  user_id TEXT NOT NULL,
  user_email TEXT NOT NULL,
  user_name TEXT NOT NULL,
  user_role TEXT NOT NULL,
  meaning TEXT NOT NULL,
  signature_sha256 TEXT NOT NULL,
  PRIMARY KEY (tenant_id, case_id, id),
  FOREIGN KEY (tenant_id, case_id) REFERENCES oot_cases (tenant_id, id)
);
CREATE TABLE part_shipments (
  tenant_id TEXT NOT NULL,
  part_serial TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('in-house', 'shipped', 'at-customer', 'scrapped')),
  customer TEXT,
  shipped_at TIMESTAMPTZ,
  reference TEXT,
  updated_at TIMESTAMPTZ NOT NULL,
  updated_by TEXT NOT NULL,
  PRIMARY KEY (tenant_id, part_serial)
);
ALTER TABLE oot_cases ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON oot_cases
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE oot_decisions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON oot_decisions
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE oot_notifications ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON oot_notifications
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE part_shipments ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON part_shipments
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
`,
  grants: [
    // Out-of-tolerance cases (migration 42): a case is closed once; decisions and notifications
    // are signed and append-only; a part's shipment state is replaced as it changes.
    { table: 'oot_cases', privileges: 'SELECT, INSERT, UPDATE (state, closed_at, closed_reason, alert_id)' },
    { table: 'oot_decisions', privileges: 'SELECT, INSERT' },
    { table: 'oot_notifications', privileges: 'SELECT, INSERT' },
    { table: 'part_shipments', privileges: 'SELECT, INSERT, UPDATE' },
  ],
};
