import type { Migration } from './migration.js';

export const migration: Migration = {
  version: 30,
  name: 'calibration procedures: test points with limits, required standards, environment limits, per revision',
  // A procedure revision is written once and never changed (a change is a new revision), so a
  // calibration that names a revision always means the same points and limits.
  sqlite: `
CREATE TABLE procedures (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  revision TEXT NOT NULL,
  title TEXT NOT NULL,
  spec TEXT NOT NULL,
  created_at TEXT NOT NULL,
  created_by TEXT NOT NULL,
  PRIMARY KEY (tenant_id, id, revision)
);
CREATE INDEX procedures_by_time ON procedures (tenant_id, id, created_at);
`,
  postgres: `
CREATE TABLE procedures (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  revision TEXT NOT NULL,
  title TEXT NOT NULL,
  spec TEXT NOT NULL,
  created_at TEXT NOT NULL,
  created_by TEXT NOT NULL,
  PRIMARY KEY (tenant_id, id, revision)
);
CREATE INDEX procedures_by_time ON procedures (tenant_id, id, created_at);
ALTER TABLE procedures ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON procedures
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
`,
  grants: [
    // Calibration procedures (migration 30): a revision is written once; a change is a new revision.
    { table: 'procedures', privileges: 'SELECT, INSERT' },
  ],
};
