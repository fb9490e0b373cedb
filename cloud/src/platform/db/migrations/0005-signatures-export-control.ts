import type { Migration } from './migration.js';

export const migration: Migration = {
  version: 5,
  name: 'electronic signatures, export control, US-person users, session purge',
  // calibration_signatures: 21 CFR Part 11-style signatures of manual calibration entries (who,
  // meaning, when, bound to the entry's SHA-256), append-only; approval = the 'approval' row.
  // export_access_log: every access to ITAR/EAR-flagged data (read by the compliance reports).
  // rt_purge_ended_sessions: the session cleanup job's only cross-tenant write.
  sqlite: `
ALTER TABLE users ADD COLUMN us_person INTEGER NOT NULL DEFAULT 0;
ALTER TABLE equipment ADD COLUMN export_regime TEXT;
ALTER TABLE equipment ADD COLUMN export_eccn TEXT;
CREATE INDEX equipment_export ON equipment (tenant_id, export_regime) WHERE export_regime IS NOT NULL;
CREATE INDEX calibrations_by_source ON calibrations (tenant_id, source, created_at, id);
CREATE TABLE calibration_signatures (
  tenant_id TEXT NOT NULL,
  calibration_id TEXT NOT NULL,
  purpose TEXT NOT NULL,
  user_id TEXT NOT NULL,
  user_email TEXT NOT NULL,
  user_name TEXT NOT NULL,
  user_role TEXT NOT NULL,
  meaning TEXT NOT NULL,
  signed_at TEXT NOT NULL,
  content_sha256 TEXT NOT NULL,
  signature_sha256 TEXT NOT NULL,
  address TEXT,
  PRIMARY KEY (tenant_id, calibration_id, purpose),
  FOREIGN KEY (tenant_id, calibration_id) REFERENCES calibrations(tenant_id, id)
);
CREATE TRIGGER calibration_signatures_no_update BEFORE UPDATE ON calibration_signatures
BEGIN SELECT RAISE(ABORT, 'calibration_signatures is append-only'); END;
CREATE TRIGGER calibration_signatures_no_delete BEFORE DELETE ON calibration_signatures
BEGIN SELECT RAISE(ABORT, 'calibration_signatures is append-only'); END;
CREATE TABLE export_access_log (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  at TEXT NOT NULL,
  user_id TEXT,
  principal TEXT NOT NULL,
  object_type TEXT NOT NULL,
  object_id TEXT NOT NULL,
  regime TEXT NOT NULL,
  eccn TEXT,
  address TEXT,
  route TEXT NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX export_access_by_time ON export_access_log (tenant_id, at, id);
`,
  postgres: `
ALTER TABLE users ADD COLUMN us_person BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE equipment ADD COLUMN export_regime TEXT;
ALTER TABLE equipment ADD COLUMN export_eccn TEXT;
CREATE INDEX equipment_export ON equipment (tenant_id, export_regime) WHERE export_regime IS NOT NULL;
CREATE INDEX calibrations_by_source ON calibrations (tenant_id, source, created_at, id);
CREATE TABLE calibration_signatures (
  tenant_id TEXT NOT NULL,
  calibration_id TEXT NOT NULL,
  purpose TEXT NOT NULL,
  user_id TEXT NOT NULL,
  user_email TEXT NOT NULL,
  user_name TEXT NOT NULL,
  user_role TEXT NOT NULL,
  meaning TEXT NOT NULL,
  signed_at TIMESTAMPTZ NOT NULL,
  content_sha256 TEXT NOT NULL,
  signature_sha256 TEXT NOT NULL,
  address TEXT,
  PRIMARY KEY (tenant_id, calibration_id, purpose),
  FOREIGN KEY (tenant_id, calibration_id) REFERENCES calibrations (tenant_id, id)
);
CREATE FUNCTION rt_signatures_append_only() RETURNS trigger LANGUAGE plpgsql
  AS $$ BEGIN RAISE EXCEPTION 'calibration_signatures is append-only' USING ERRCODE = 'insufficient_privilege'; END $$;
CREATE TRIGGER calibration_signatures_append_only BEFORE UPDATE OR DELETE ON calibration_signatures
  FOR EACH ROW EXECUTE FUNCTION rt_signatures_append_only();
CREATE TRIGGER calibration_signatures_no_truncate BEFORE TRUNCATE ON calibration_signatures
  FOR EACH STATEMENT EXECUTE FUNCTION rt_signatures_append_only();
CREATE TABLE export_access_log (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  at TIMESTAMPTZ NOT NULL,
  user_id TEXT,
  principal TEXT NOT NULL,
  object_type TEXT NOT NULL,
  object_id TEXT NOT NULL,
  regime TEXT NOT NULL,
  eccn TEXT,
  address TEXT,
  route TEXT NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX export_access_by_time ON export_access_log (tenant_id, at, id);
ALTER TABLE calibration_signatures ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON calibration_signatures
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE export_access_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON export_access_log
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
-- The session cleanup job: deletes ended sessions of every tenant, nothing else.
CREATE FUNCTION rt_purge_ended_sessions(p_before TIMESTAMPTZ, p_idle_before TIMESTAMPTZ) RETURNS BIGINT
  LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
  AS $$ WITH d AS (DELETE FROM sessions s
         WHERE s.expires_at < p_before OR s.revoked_at < p_before OR s.last_seen_at < p_idle_before
         RETURNING 1)
       SELECT count(*) FROM d $$;
REVOKE ALL ON FUNCTION rt_purge_ended_sessions(TIMESTAMPTZ, TIMESTAMPTZ) FROM PUBLIC;
`,
  grants: [
    // Signatures and export control (migration 5): both append-only for the app.
    { table: 'calibration_signatures', privileges: 'SELECT, INSERT' },
    { table: 'export_access_log', privileges: 'SELECT, INSERT' },
  ],
  execute: ['rt_purge_ended_sessions(TIMESTAMPTZ, TIMESTAMPTZ)'],
};
