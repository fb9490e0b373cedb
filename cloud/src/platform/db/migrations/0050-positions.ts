import type { Migration } from './migration.js';

export const migration: Migration = {
  version: 50,
  name: 'positions of equipment and the devices installed in them, with their history',
  // equipment_positions: the places in a rig, bench or station ("RIG-01 / rail pressure").
  // installations: a device (a registered instrument) in a position from installed_at until
  // removed_at (null: still there). Never deleted; removal only closes the open row. The partial
  // unique indexes keep one open installation per device and per position.
  sqlite: `
CREATE TABLE equipment_positions (
  tenant_id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  name TEXT NOT NULL,
  description TEXT,
  created_at TEXT NOT NULL,
  created_by TEXT NOT NULL,
  PRIMARY KEY (tenant_id, equipment, name)
);
CREATE TABLE installations (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  position TEXT NOT NULL,
  device TEXT NOT NULL,
  installed_at TEXT NOT NULL,
  removed_at TEXT,
  installed_by TEXT NOT NULL,
  removed_by TEXT,
  created_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, equipment, position) REFERENCES equipment_positions (tenant_id, equipment, name)
);
CREATE INDEX installations_by_device ON installations (tenant_id, device, installed_at);
CREATE INDEX installations_by_position ON installations (tenant_id, equipment, position, installed_at);
CREATE UNIQUE INDEX installations_device_in_one_place ON installations (tenant_id, device) WHERE removed_at IS NULL;
CREATE UNIQUE INDEX installations_one_device_per_position ON installations (tenant_id, equipment, position)
  WHERE removed_at IS NULL;
`,
  postgres: `
CREATE TABLE equipment_positions (
  tenant_id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  name TEXT NOT NULL,
  description TEXT,
  created_at TEXT NOT NULL,
  created_by TEXT NOT NULL,
  PRIMARY KEY (tenant_id, equipment, name)
);
CREATE TABLE installations (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  position TEXT NOT NULL,
  device TEXT NOT NULL,
  installed_at TEXT NOT NULL,
  removed_at TEXT,
  installed_by TEXT NOT NULL,
  removed_by TEXT,
  created_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, equipment, position) REFERENCES equipment_positions (tenant_id, equipment, name)
);
CREATE INDEX installations_by_device ON installations (tenant_id, device, installed_at);
CREATE INDEX installations_by_position ON installations (tenant_id, equipment, position, installed_at);
CREATE UNIQUE INDEX installations_device_in_one_place ON installations (tenant_id, device) WHERE removed_at IS NULL;
CREATE UNIQUE INDEX installations_one_device_per_position ON installations (tenant_id, equipment, position)
  WHERE removed_at IS NULL;
ALTER TABLE equipment_positions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON equipment_positions
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE installations ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON installations
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
`,
  grants: [
    // Positions and installations (migration 50): a removal closes the open installation; never deleted.
    { table: 'equipment_positions', privileges: 'SELECT, INSERT' },
    { table: 'installations', privileges: 'SELECT, INSERT, UPDATE (removed_at, removed_by)' },
  ],
};
