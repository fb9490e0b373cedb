import pg from 'pg';
import { DEFAULT_APP_ROLE, pgConnectionConfig, ROLE_NAME } from './postgres.js';
import type { SqliteDb } from './sqlite.js';

/**
 * Versioned schema migrations, applied in order, each in its own transaction, the same list on
 * both backends: version N means the same change on SQLite and PostgreSQL, written in each one's
 * DDL where the types differ (BLOB/BYTEA, INTEGER/BIGINT, TEXT/TIMESTAMPTZ timestamps, 0|1 and
 * BOOLEAN). Never edit a released migration: add a new one. Every tenant-owned table carries
 * tenant_id; on PostgreSQL it leads every primary key and every index except the three that
 * serve the narrow cross-tenant lookups (edge by id, token by hash), and every tenant-owned
 * table has a row-level security policy on `app.tenant_id`.
 */
export interface Migration {
  version: number;
  name: string;
  sqlite: string;
  postgres: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'tenancy, edges, records, checkpoints',
    sqlite: `
CREATE TABLE tenants (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE sites (
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  id TEXT NOT NULL,
  name TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE TABLE enrollment_tokens (
  token_hash TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  site_id TEXT NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  used_at TEXT,
  used_by_edge TEXT,
  FOREIGN KEY (tenant_id, site_id) REFERENCES sites(tenant_id, id)
);
CREATE TABLE api_tokens (
  token_hash TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  name TEXT NOT NULL,
  created_at TEXT NOT NULL,
  revoked_at TEXT
);
CREATE TABLE edges (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL UNIQUE,
  site_id TEXT NOT NULL,
  name TEXT NOT NULL,
  public_key BLOB NOT NULL,
  enrolled_at TEXT NOT NULL,
  log_size INTEGER NOT NULL DEFAULT 0,
  log_root BLOB,
  log_range TEXT NOT NULL DEFAULT '{"size":0,"hashes":[]}',
  last_checkpoint TEXT,
  last_contact_at TEXT,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, site_id) REFERENCES sites(tenant_id, id)
);
CREATE TABLE records (
  tenant_id TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  id TEXT NOT NULL,
  kind TEXT NOT NULL,
  equipment TEXT NOT NULL,
  observed_at TEXT NOT NULL,
  json TEXT NOT NULL,
  leaf_hash BLOB NOT NULL,
  ingested_at TEXT NOT NULL,
  replayed INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, edge_id, seq)
);
CREATE INDEX records_by_equipment ON records (tenant_id, equipment, observed_at);
CREATE INDEX records_by_kind ON records (tenant_id, kind, observed_at);
CREATE TABLE checkpoints (
  tenant_id TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  size INTEGER NOT NULL,
  root BLOB NOT NULL,
  note TEXT NOT NULL,
  cosigned_note TEXT NOT NULL,
  accepted_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, edge_id, size)
);
CREATE TABLE security_events (
  tenant_id TEXT,
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL,
  code TEXT NOT NULL,
  edge_id TEXT,
  address TEXT,
  detail TEXT NOT NULL
);
CREATE INDEX security_events_by_tenant ON security_events (tenant_id, at);
`,
    // Tokens and edges are looked up by hash or id before the tenant is known; those lookups
    // live in SECURITY DEFINER functions, the only way the app role reads across tenants.
    postgres: `
CREATE TABLE tenants (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE sites (
  tenant_id TEXT NOT NULL REFERENCES tenants (id),
  id TEXT NOT NULL,
  name TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE TABLE enrollment_tokens (
  tenant_id TEXT NOT NULL,
  token_hash TEXT NOT NULL,
  site_id TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL,
  used_at TIMESTAMPTZ,
  used_by_edge TEXT,
  PRIMARY KEY (tenant_id, token_hash),
  FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id)
);
CREATE INDEX enrollment_tokens_by_hash ON enrollment_tokens (token_hash);
CREATE TABLE api_tokens (
  tenant_id TEXT NOT NULL REFERENCES tenants (id),
  token_hash TEXT NOT NULL,
  name TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  revoked_at TIMESTAMPTZ,
  PRIMARY KEY (tenant_id, token_hash)
);
CREATE INDEX api_tokens_by_hash ON api_tokens (token_hash);
CREATE TABLE edges (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  site_id TEXT NOT NULL,
  name TEXT NOT NULL,
  public_key BYTEA NOT NULL,
  enrolled_at TIMESTAMPTZ NOT NULL,
  log_size BIGINT NOT NULL DEFAULT 0,
  log_root BYTEA,
  log_range TEXT NOT NULL DEFAULT '{"size":0,"hashes":[]}',
  last_checkpoint TEXT,
  last_contact_at TIMESTAMPTZ,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id)
);
CREATE INDEX edges_by_id ON edges (id);
CREATE TABLE records (
  tenant_id TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  id TEXT NOT NULL,
  kind TEXT NOT NULL,
  equipment TEXT NOT NULL,
  observed_at TEXT NOT NULL,
  json TEXT NOT NULL,
  leaf_hash BYTEA NOT NULL,
  ingested_at TIMESTAMPTZ NOT NULL,
  replayed BOOLEAN NOT NULL DEFAULT false,
  PRIMARY KEY (tenant_id, edge_id, seq),
  FOREIGN KEY (tenant_id, edge_id) REFERENCES edges (tenant_id, id)
);
CREATE INDEX records_by_equipment ON records (tenant_id, equipment, observed_at);
CREATE INDEX records_by_kind ON records (tenant_id, kind, observed_at);
CREATE TABLE checkpoints (
  tenant_id TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  size BIGINT NOT NULL,
  root BYTEA NOT NULL,
  note TEXT NOT NULL,
  cosigned_note TEXT NOT NULL,
  accepted_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (tenant_id, edge_id, size),
  FOREIGN KEY (tenant_id, edge_id) REFERENCES edges (tenant_id, id)
);
CREATE TABLE security_events (
  tenant_id TEXT,
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at TIMESTAMPTZ NOT NULL,
  code TEXT NOT NULL,
  edge_id TEXT,
  address TEXT,
  detail TEXT NOT NULL
);
CREATE INDEX security_events_by_tenant ON security_events (tenant_id, at);

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
  USING (id = current_setting('app.tenant_id', true))
  WITH CHECK (id = current_setting('app.tenant_id', true));
ALTER TABLE sites ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sites
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE enrollment_tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON enrollment_tokens
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE api_tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_tokens
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE edges ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON edges
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE records ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON records
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE checkpoints ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON checkpoints
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE security_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON security_events
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

-- The only cross-tenant reads and writes the app role can make, each as narrow as its purpose.
CREATE FUNCTION rt_edge_tenant(p_edge_id TEXT) RETURNS TABLE (tenant_id TEXT)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
  AS $$ SELECT e.tenant_id FROM edges e WHERE e.id = p_edge_id $$;
CREATE FUNCTION rt_api_token_tenant(p_token_hash TEXT) RETURNS TABLE (tenant_id TEXT)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
  AS $$ SELECT t.tenant_id FROM api_tokens t WHERE t.token_hash = p_token_hash AND t.revoked_at IS NULL $$;
CREATE FUNCTION rt_consume_enrollment_token(p_token_hash TEXT, p_edge_id TEXT, p_now TIMESTAMPTZ)
  RETURNS TABLE (tenant_id TEXT, site_id TEXT)
  LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
  AS $$ UPDATE enrollment_tokens t SET used_at = p_now, used_by_edge = p_edge_id
         WHERE t.token_hash = p_token_hash AND t.used_at IS NULL AND t.expires_at > p_now
         RETURNING t.tenant_id, t.site_id $$;
REVOKE ALL ON FUNCTION rt_edge_tenant(TEXT) FROM PUBLIC;
REVOKE ALL ON FUNCTION rt_api_token_tenant(TEXT) FROM PUBLIC;
REVOKE ALL ON FUNCTION rt_consume_enrollment_token(TEXT, TEXT, TIMESTAMPTZ) FROM PUBLIC;
`,
  },
  {
    version: 2,
    name: 'security events without a tenant kept apart',
    // Refusals that no tenant owns (unknown edge, bad enrollment token) move to their own
    // table, so security_events is wholly tenant-owned: tenant_id NOT NULL and leading its key.
    sqlite: `
CREATE TABLE system_security_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL,
  code TEXT NOT NULL,
  edge_id TEXT,
  address TEXT,
  detail TEXT NOT NULL
);
INSERT INTO system_security_events (at, code, edge_id, address, detail)
  SELECT at, code, edge_id, address, detail FROM security_events WHERE tenant_id IS NULL ORDER BY id;
DELETE FROM security_events WHERE tenant_id IS NULL;
`,
    postgres: `
CREATE TABLE system_security_events (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at TIMESTAMPTZ NOT NULL,
  code TEXT NOT NULL,
  edge_id TEXT,
  address TEXT,
  detail TEXT NOT NULL
);
INSERT INTO system_security_events (at, code, edge_id, address, detail)
  SELECT at, code, edge_id, address, detail FROM security_events WHERE tenant_id IS NULL ORDER BY id;
DELETE FROM security_events WHERE tenant_id IS NULL;
ALTER TABLE security_events ALTER COLUMN tenant_id SET NOT NULL;
ALTER TABLE security_events DROP CONSTRAINT security_events_pkey;
ALTER TABLE security_events ADD PRIMARY KEY (tenant_id, id);
`,
  },
  {
    version: 3,
    name: 'accounts, sessions, sign-in throttling, tamper-evident audit log',
    // Users, sessions, backup codes, the tenant's security policy and the audit log are
    // tenant-owned. auth_throttle is not: it counts failures per address and per (tenant, email)
    // hash before anyone is known, and holds no readable identity (keys are SHA-256 hashes).
    // The audit log is append-only in the database itself: triggers refuse UPDATE and DELETE
    // for every role (the app role also lacks the privileges).
    sqlite: `
CREATE TABLE users (
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  id TEXT NOT NULL,
  email TEXT NOT NULL,
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  sites TEXT,
  password_hash TEXT NOT NULL,
  must_change_password INTEGER NOT NULL DEFAULT 0,
  password_changed_at TEXT NOT NULL,
  disabled_at TEXT,
  totp_secret TEXT,
  totp_pending TEXT,
  totp_enabled_at TEXT,
  totp_last_step INTEGER,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, email)
);
CREATE TABLE backup_codes (
  tenant_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  code_hash TEXT NOT NULL,
  created_at TEXT NOT NULL,
  used_at TEXT,
  PRIMARY KEY (tenant_id, user_id, code_hash),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id)
);
CREATE TABLE sessions (
  tenant_id TEXT NOT NULL,
  id_hash TEXT NOT NULL,
  user_id TEXT NOT NULL,
  state TEXT NOT NULL,
  csrf_token TEXT NOT NULL,
  created_at TEXT NOT NULL,
  last_seen_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  revoked_at TEXT,
  address TEXT,
  user_agent TEXT,
  PRIMARY KEY (tenant_id, id_hash),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id)
);
CREATE INDEX sessions_by_user ON sessions (tenant_id, user_id);
CREATE TABLE tenant_security (
  tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
  mfa_required_roles TEXT NOT NULL DEFAULT '[]',
  idle_timeout_s INTEGER NOT NULL DEFAULT 900,
  absolute_timeout_s INTEGER NOT NULL DEFAULT 43200,
  updated_at TEXT NOT NULL
);
CREATE TABLE auth_throttle (
  key TEXT PRIMARY KEY,
  count INTEGER NOT NULL,
  window_start TEXT NOT NULL,
  locked_until TEXT
);
CREATE TABLE audit_heads (
  tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
  size INTEGER NOT NULL,
  range TEXT NOT NULL
);
CREATE TABLE audit_log (
  tenant_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  at TEXT NOT NULL,
  action TEXT NOT NULL,
  actor TEXT NOT NULL,
  outcome TEXT NOT NULL,
  entry TEXT NOT NULL,
  leaf_hash BLOB NOT NULL,
  checkpoint TEXT NOT NULL,
  PRIMARY KEY (tenant_id, seq)
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
`,
    postgres: `
CREATE TABLE users (
  tenant_id TEXT NOT NULL REFERENCES tenants (id),
  id TEXT NOT NULL,
  email TEXT NOT NULL,
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  sites TEXT,
  password_hash TEXT NOT NULL,
  must_change_password BOOLEAN NOT NULL DEFAULT false,
  password_changed_at TIMESTAMPTZ NOT NULL,
  disabled_at TIMESTAMPTZ,
  totp_secret TEXT,
  totp_pending TEXT,
  totp_enabled_at TIMESTAMPTZ,
  totp_last_step BIGINT,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, email)
);
CREATE TABLE backup_codes (
  tenant_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  code_hash TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  used_at TIMESTAMPTZ,
  PRIMARY KEY (tenant_id, user_id, code_hash),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
CREATE TABLE sessions (
  tenant_id TEXT NOT NULL,
  id_hash TEXT NOT NULL,
  user_id TEXT NOT NULL,
  state TEXT NOT NULL,
  csrf_token TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  last_seen_at TIMESTAMPTZ NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL,
  revoked_at TIMESTAMPTZ,
  address TEXT,
  user_agent TEXT,
  PRIMARY KEY (tenant_id, id_hash),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX sessions_by_user ON sessions (tenant_id, user_id);
CREATE TABLE tenant_security (
  tenant_id TEXT PRIMARY KEY REFERENCES tenants (id),
  mfa_required_roles TEXT NOT NULL DEFAULT '[]',
  idle_timeout_s INTEGER NOT NULL DEFAULT 900,
  absolute_timeout_s INTEGER NOT NULL DEFAULT 43200,
  updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE auth_throttle (
  key TEXT PRIMARY KEY,
  count INTEGER NOT NULL,
  window_start TIMESTAMPTZ NOT NULL,
  locked_until TIMESTAMPTZ
);
CREATE TABLE audit_heads (
  tenant_id TEXT PRIMARY KEY REFERENCES tenants (id),
  size BIGINT NOT NULL,
  range TEXT NOT NULL
);
CREATE TABLE audit_log (
  tenant_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  at TIMESTAMPTZ NOT NULL,
  action TEXT NOT NULL,
  actor TEXT NOT NULL,
  outcome TEXT NOT NULL,
  entry TEXT NOT NULL,
  leaf_hash BYTEA NOT NULL,
  checkpoint TEXT NOT NULL,
  PRIMARY KEY (tenant_id, seq)
);
CREATE FUNCTION rt_audit_append_only() RETURNS trigger LANGUAGE plpgsql
  AS $$ BEGIN RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege'; END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION rt_audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION rt_audit_append_only();

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON users
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE backup_codes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON backup_codes
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sessions
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE tenant_security ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_security
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE audit_heads ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_heads
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_log
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
`,
  },
  {
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
  },
];

/**
 * What the app role may do, table by table, on PostgreSQL. Records, checkpoints and security
 * events are append-only for the application: the database refuses UPDATE and DELETE. An edge's
 * key, tenant and site cannot be changed by the app either; only its log state and last contact.
 * Re-applied at every start, so this list is the whole truth (no migration needed to change it).
 */
export const APP_PRIVILEGES: readonly { table: string; privileges: string }[] = [
  { table: 'tenants', privileges: 'SELECT, INSERT' },
  { table: 'sites', privileges: 'SELECT, INSERT' },
  { table: 'enrollment_tokens', privileges: 'SELECT, INSERT' },
  { table: 'api_tokens', privileges: 'SELECT, INSERT' },
  {
    table: 'edges',
    privileges: 'SELECT, INSERT, UPDATE (log_size, log_root, log_range, last_checkpoint, last_contact_at)',
  },
  { table: 'records', privileges: 'SELECT, INSERT' },
  { table: 'checkpoints', privileges: 'SELECT, INSERT' },
  { table: 'security_events', privileges: 'SELECT, INSERT' },
  { table: 'system_security_events', privileges: 'INSERT' },
  // Accounts (version 3). Users: no DELETE (disable instead: the audit log names them).
  {
    table: 'users',
    privileges:
      'SELECT, INSERT, UPDATE (email, name, role, sites, password_hash, must_change_password, password_changed_at, disabled_at, totp_secret, totp_pending, totp_enabled_at, totp_last_step, updated_at)',
  },
  { table: 'backup_codes', privileges: 'SELECT, INSERT, UPDATE (used_at), DELETE' },
  { table: 'sessions', privileges: 'SELECT, INSERT, UPDATE (state, last_seen_at, revoked_at), DELETE' },
  { table: 'tenant_security', privileges: 'SELECT, INSERT, UPDATE' },
  { table: 'auth_throttle', privileges: 'SELECT, INSERT, UPDATE, DELETE' },
  { table: 'audit_heads', privileges: 'SELECT, INSERT, UPDATE (size, range)' },
  { table: 'audit_log', privileges: 'SELECT, INSERT' },
  // Calibration engine (migration 4): calibrations and the traceability indexes are append-only.
  { table: 'calibration_settings', privileges: 'SELECT, INSERT, UPDATE' },
  { table: 'equipment', privileges: 'SELECT, INSERT, UPDATE' },
  { table: 'calibrations', privileges: 'SELECT, INSERT' },
  { table: 'traceable_records', privileges: 'SELECT, INSERT' },
  { table: 'record_gauges', privileges: 'SELECT, INSERT' },
];

export const APP_FUNCTIONS: readonly string[] = [
  'rt_edge_tenant(TEXT)',
  'rt_api_token_tenant(TEXT)',
  'rt_consume_enrollment_token(TEXT, TEXT, TIMESTAMPTZ)',
];

export async function migrateSqlite(db: SqliteDb): Promise<number> {
  await db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
  );
  const done = new Set(
    (await db.all<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => r.version),
  );
  let applied = 0;
  for (const m of [...MIGRATIONS].sort((a, b) => a.version - b.version)) {
    if (done.has(m.version)) continue;
    await db.transaction(async () => {
      await db.exec(m.sqlite);
      await db.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [
        m.version,
        m.name,
        new Date().toISOString(),
      ]);
    });
    applied += 1;
  }
  return applied;
}

/** pg_advisory_lock key: "RigTrace migrations". Advisory locks are per database. */
const MIGRATION_LOCK = 0x52_54_6d_69_67;

/**
 * Applies pending migrations as the owner (the DATABASE_URL role), then makes sure the app role
 * exists and holds exactly APP_PRIVILEGES. Several cloud processes may start at once: a session
 * advisory lock lets one migrate while the others wait, then find nothing left to do.
 */
export async function migratePostgres(
  url: string,
  appRole = DEFAULT_APP_ROLE,
  opts: {
    /** The owner also serves the queries, switching to the app role: it must be a member. */
    ownerSwitchesRole?: boolean;
  } = {},
): Promise<number> {
  if (!ROLE_NAME.test(appRole)) throw new Error(`"${appRole}" is not a valid role name`);
  const client = new pg.Client(pgConnectionConfig(url, ['-c search_path=public', '-c TimeZone=UTC']));
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      const applied = await applyPostgres(client);
      await ensureAppRole(client, appRole, opts.ownerSwitchesRole ?? true);
      return applied;
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  } finally {
    await client.end();
  }
}

async function inTransaction(client: pg.Client, fn: () => Promise<void>): Promise<void> {
  await client.query('BEGIN');
  try {
    await fn();
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

async function applyPostgres(client: pg.Client): Promise<number> {
  await client.query(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)',
  );
  const done = new Set(
    (await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map(
      (r) => r.version,
    ),
  );
  let applied = 0;
  for (const m of [...MIGRATIONS].sort((a, b) => a.version - b.version)) {
    if (done.has(m.version)) continue;
    await inTransaction(client, async () => {
      await client.query(m.postgres);
      await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, now())', [
        m.version,
        m.name,
      ]);
    });
    applied += 1;
  }
  return applied;
}

async function ensureAppRole(client: pg.Client, appRole: string, ownerSwitchesRole: boolean): Promise<void> {
  const me = (
    await client.query<{ name: string; super: boolean }>(
      'SELECT current_user AS name, rolsuper AS super FROM pg_roles WHERE rolname = current_user',
    )
  ).rows[0];
  if (!me) throw new Error('cannot read the current role from pg_roles');
  if (me.name === appRole) {
    throw new Error(
      `DATABASE_URL logs in as "${appRole}", the app role itself: it must name the role that owns the schema`,
    );
  }
  const role = client.escapeIdentifier(appRole);
  const exists = (await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [appRole])).rowCount;
  if (!exists) {
    try {
      // Roles are per cluster: another database's migration may be creating the same one now.
      await client.query(
        `DO $$ BEGIN CREATE ROLE ${role} NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`,
      );
    } catch (err) {
      throw new Error(
        `the app role "${appRole}" does not exist and "${me.name}" may not create it (${(err as Error).message}); ` +
          `create it once: CREATE ROLE ${role} NOLOGIN; GRANT ${role} TO ${client.escapeIdentifier(me.name)};`,
      );
    }
  }
  if (ownerSwitchesRole && !me.super) {
    const member = await client.query<{ m: boolean }>("SELECT pg_has_role(current_user, $1, 'MEMBER') AS m", [
      appRole,
    ]);
    if (!member.rows[0]?.m) await client.query(`GRANT ${role} TO CURRENT_USER`);
  }
  const tables = APP_PRIVILEGES.map((p) => p.table).join(', ');
  await inTransaction(client, async () => {
    await client.query(`REVOKE ALL ON TABLE ${tables}, schema_migrations FROM ${role}`);
    for (const p of APP_PRIVILEGES)
      await client.query(`GRANT ${p.privileges} ON TABLE ${p.table} TO ${role}`);
    await client.query(`GRANT EXECUTE ON FUNCTION ${APP_FUNCTIONS.join(', ')} TO ${role}`);
  });
}
