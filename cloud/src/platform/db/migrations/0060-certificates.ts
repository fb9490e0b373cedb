import type { Migration } from './migration.js';

export const migration: Migration = {
  version: 60,
  name: 'calibration certificates: the file (PDF or DCC XML), its SHA-256, what a DCC says',
  // The file is in the database (as report files are) so that every cloud process sharing it
  // serves the download, and a backup of the database holds the certificate with its
  // calibration; the size is limited (RIGTRACE_CERTIFICATE_MAX_BYTES). Append-only.
  sqlite: `
CREATE TABLE calibration_certificates (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  calibration_id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('pdf', 'dcc')),
  filename TEXT NOT NULL,
  media_type TEXT NOT NULL,
  size INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  content BLOB NOT NULL,
  dcc TEXT,
  differences TEXT NOT NULL,
  uploaded_by TEXT NOT NULL,
  uploaded_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, calibration_id) REFERENCES calibrations (tenant_id, id)
);
CREATE INDEX calibration_certificates_by_calibration ON calibration_certificates (tenant_id, calibration_id, uploaded_at);
`,
  postgres: `
CREATE TABLE calibration_certificates (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  calibration_id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('pdf', 'dcc')),
  filename TEXT NOT NULL,
  media_type TEXT NOT NULL,
  size INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  content BYTEA NOT NULL,
  dcc TEXT,
  differences TEXT NOT NULL,
  uploaded_by TEXT NOT NULL,
  uploaded_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, calibration_id) REFERENCES calibrations (tenant_id, id)
);
CREATE INDEX calibration_certificates_by_calibration ON calibration_certificates (tenant_id, calibration_id, uploaded_at);
ALTER TABLE calibration_certificates ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON calibration_certificates
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
`,
  grants: [
    // Certificates (migration 60), the standards each calibration used and the re-evaluations of a
    // calibration's traceability (migration 61): append-only.
    { table: 'calibration_certificates', privileges: 'SELECT, INSERT' },
  ],
};
