import type { Migration } from './migration.js';

export const migration: Migration = {
  version: 55,
  name: 'maintenance: events (damage, malfunction, repair, modification, preventive task), preventive-maintenance plans, out-of-service history',
  // ISO/IEC 17025 6.4.13 g, h. Events and service changes are append-only (a wrong entry is
  // corrected by a later one); a plan's task and interval change in place, and a plan is
  // retired, never deleted, so the events that name it keep their meaning. occurred_at is ISO
  // 8601 text on both backends, as calibrations.calibrated_at, which it is compared with.
  sqlite: `
CREATE TABLE maintenance_events (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('damage', 'malfunction', 'repair', 'modification', 'preventive')),
  occurred_at TEXT NOT NULL,
  description TEXT NOT NULL,
  parts TEXT NOT NULL,
  calibration_required INTEGER NOT NULL,
  plan_id TEXT,
  recorded_at TEXT NOT NULL,
  user_id TEXT NOT NULL,
  user_email TEXT NOT NULL,
  user_name TEXT NOT NULL,
  user_role TEXT NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX maintenance_events_by_equipment ON maintenance_events (tenant_id, equipment, occurred_at);
CREATE INDEX maintenance_events_calibration_required ON maintenance_events (tenant_id, calibration_required, equipment);
CREATE TABLE maintenance_plans (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  task TEXT NOT NULL,
  interval_days INTEGER NOT NULL CHECK (interval_days > 0),
  starts_on TEXT NOT NULL,
  created_at TEXT NOT NULL,
  created_by TEXT NOT NULL,
  retired_at TEXT,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX maintenance_plans_by_equipment ON maintenance_plans (tenant_id, equipment);
CREATE TABLE equipment_service (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('out', 'in')),
  reason TEXT NOT NULL,
  at TEXT NOT NULL,
  user_id TEXT NOT NULL,
  user_email TEXT NOT NULL,
  user_name TEXT NOT NULL,
  user_role TEXT NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX equipment_service_by_equipment ON equipment_service (tenant_id, equipment, at);
CREATE TRIGGER maintenance_events_no_update BEFORE UPDATE ON maintenance_events
BEGIN SELECT RAISE(ABORT, 'maintenance_events is append-only'); END;
CREATE TRIGGER maintenance_events_no_delete BEFORE DELETE ON maintenance_events
BEGIN SELECT RAISE(ABORT, 'maintenance_events is append-only'); END;
CREATE TRIGGER equipment_service_no_update BEFORE UPDATE ON equipment_service
BEGIN SELECT RAISE(ABORT, 'equipment_service is append-only'); END;
CREATE TRIGGER equipment_service_no_delete BEFORE DELETE ON equipment_service
BEGIN SELECT RAISE(ABORT, 'equipment_service is append-only'); END;
`,
  postgres: `
CREATE TABLE maintenance_events (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('damage', 'malfunction', 'repair', 'modification', 'preventive')),
  occurred_at TEXT NOT NULL,
  description TEXT NOT NULL,
  parts TEXT NOT NULL,
  calibration_required INTEGER NOT NULL,
  plan_id TEXT,
  recorded_at TIMESTAMPTZ NOT NULL,
  user_id TEXT NOT NULL,
  user_email TEXT NOT NULL,
  user_name TEXT NOT NULL,
  user_role TEXT NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX maintenance_events_by_equipment ON maintenance_events (tenant_id, equipment, occurred_at);
CREATE INDEX maintenance_events_calibration_required ON maintenance_events (tenant_id, calibration_required, equipment);
CREATE TABLE maintenance_plans (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  task TEXT NOT NULL,
  interval_days INTEGER NOT NULL CHECK (interval_days > 0),
  starts_on TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  created_by TEXT NOT NULL,
  retired_at TIMESTAMPTZ,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX maintenance_plans_by_equipment ON maintenance_plans (tenant_id, equipment);
CREATE TABLE equipment_service (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('out', 'in')),
  reason TEXT NOT NULL,
  at TIMESTAMPTZ NOT NULL,
  user_id TEXT NOT NULL,
  user_email TEXT NOT NULL,
  user_name TEXT NOT NULL,
  user_role TEXT NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX equipment_service_by_equipment ON equipment_service (tenant_id, equipment, at);
ALTER TABLE maintenance_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON maintenance_events
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE maintenance_plans ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON maintenance_plans
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE equipment_service ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON equipment_service
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
`,
  grants: [
    // Maintenance (migration 55): events and out-of-service changes are append-only; a plan's task
    // and interval are edited and a plan is retired, never deleted.
    { table: 'maintenance_events', privileges: 'SELECT, INSERT' },
    {
      table: 'maintenance_plans',
      privileges: 'SELECT, INSERT, UPDATE (task, interval_days, starts_on, retired_at)',
    },
    { table: 'equipment_service', privileges: 'SELECT, INSERT' },
  ],
};
