import type { Migration } from './migration.js';

export const migration: Migration = {
  version: 8,
  name: 'compliance reports (jobs and stored files), out-of-tolerance dispositions',
  // reports: one row per generation job (state, progress, heartbeat, the file's SHA-256 and the
  // checkpoints it was built from; `cleared`: the requester may see ITAR/EAR data,
  // `export_controlled`: the file holds some, so only cleared users may download it);
  // report_chunks: the file itself in 1 MiB chunks, in the
  // database so that any cloud process sharing it can serve the download; calibration
  // dispositions: the decision on a failed calibration's suspect product (IATF 16949 7.1.5.2.1),
  // changed by replacing it (every change is on the audit trail with before and after).
  sqlite: `
CREATE TABLE reports (
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  id TEXT NOT NULL,
  type TEXT NOT NULL,
  site_id TEXT,
  period_from TEXT NOT NULL,
  period_to TEXT NOT NULL,
  format TEXT NOT NULL,
  state TEXT NOT NULL,
  done INTEGER NOT NULL DEFAULT 0,
  total INTEGER NOT NULL DEFAULT 0,
  requested_by TEXT NOT NULL,
  requested_at TEXT NOT NULL,
  started_at TEXT,
  heartbeat_at TEXT NOT NULL,
  finished_at TEXT,
  error TEXT,
  filename TEXT,
  content_type TEXT,
  size INTEGER,
  sha256 TEXT,
  sources TEXT,
  summary TEXT,
  cleared INTEGER NOT NULL DEFAULT 0,
  export_controlled INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX reports_by_time ON reports (tenant_id, requested_at, id);
CREATE TABLE report_chunks (
  tenant_id TEXT NOT NULL,
  report_id TEXT NOT NULL,
  n INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (tenant_id, report_id, n),
  FOREIGN KEY (tenant_id, report_id) REFERENCES reports(tenant_id, id)
);
CREATE TABLE calibration_dispositions (
  tenant_id TEXT NOT NULL,
  calibration_id TEXT NOT NULL,
  disposition TEXT NOT NULL,
  customer_notified INTEGER NOT NULL,
  notes TEXT,
  decided_by TEXT NOT NULL,
  decided_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, calibration_id),
  FOREIGN KEY (tenant_id, calibration_id) REFERENCES calibrations(tenant_id, id)
);
`,
  postgres: `
CREATE TABLE reports (
  tenant_id TEXT NOT NULL REFERENCES tenants (id),
  id TEXT NOT NULL,
  type TEXT NOT NULL,
  site_id TEXT,
  period_from TEXT NOT NULL,
  period_to TEXT NOT NULL,
  format TEXT NOT NULL,
  state TEXT NOT NULL,
  done BIGINT NOT NULL DEFAULT 0,
  total BIGINT NOT NULL DEFAULT 0,
  requested_by TEXT NOT NULL,
  requested_at TEXT NOT NULL,
  started_at TEXT,
  heartbeat_at TEXT NOT NULL,
  finished_at TEXT,
  error TEXT,
  filename TEXT,
  content_type TEXT,
  size BIGINT,
  sha256 TEXT,
  sources TEXT,
  summary TEXT,
  cleared BOOLEAN NOT NULL DEFAULT false,
  export_controlled BOOLEAN NOT NULL DEFAULT false,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX reports_by_time ON reports (tenant_id, requested_at, id);
CREATE TABLE report_chunks (
  tenant_id TEXT NOT NULL,
  report_id TEXT NOT NULL,
  n INTEGER NOT NULL,
  data BYTEA NOT NULL,
  PRIMARY KEY (tenant_id, report_id, n),
  FOREIGN KEY (tenant_id, report_id) REFERENCES reports (tenant_id, id)
);
CREATE TABLE calibration_dispositions (
  tenant_id TEXT NOT NULL,
  calibration_id TEXT NOT NULL,
  disposition TEXT NOT NULL,
  customer_notified BOOLEAN NOT NULL,
  notes TEXT,
  decided_by TEXT NOT NULL,
  decided_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, calibration_id),
  FOREIGN KEY (tenant_id, calibration_id) REFERENCES calibrations (tenant_id, id)
);
ALTER TABLE reports ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON reports
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE report_chunks ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON report_chunks
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE calibration_dispositions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON calibration_dispositions
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
`,
  grants: [
    // Reports (migration 8): a job's state and file description change as it runs; a failed job's
    // chunks are deleted; a disposition is replaced when it changes (the audit trail keeps each).
    {
      table: 'reports',
      privileges:
        'SELECT, INSERT, UPDATE (state, done, total, started_at, heartbeat_at, finished_at, error, filename, content_type, size, sha256, sources, summary, export_controlled)',
    },
    { table: 'report_chunks', privileges: 'SELECT, INSERT, DELETE' },
    // Dispositions per calibration from before out-of-tolerance cases (migration 42): read-only now.
    { table: 'calibration_dispositions', privileges: 'SELECT' },
  ],
};
