import type { Migration } from './migration.js';

export const migration: Migration = {
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
  grants: [
    // Accounts (version 3). Users: no DELETE (disable instead: the audit log names them).
    {
      table: 'users',
      privileges:
        'SELECT, INSERT, UPDATE (email, name, role, sites, password_hash, must_change_password, password_changed_at, disabled_at, totp_secret, totp_pending, totp_enabled_at, totp_last_step, updated_at, us_person)',
    },
    { table: 'backup_codes', privileges: 'SELECT, INSERT, UPDATE (used_at), DELETE' },
    { table: 'sessions', privileges: 'SELECT, INSERT, UPDATE (state, last_seen_at, revoked_at), DELETE' },
    { table: 'tenant_security', privileges: 'SELECT, INSERT, UPDATE' },
    { table: 'auth_throttle', privileges: 'SELECT, INSERT, UPDATE, DELETE' },
    { table: 'audit_heads', privileges: 'SELECT, INSERT, UPDATE (size, range)' },
    { table: 'audit_log', privileges: 'SELECT, INSERT' },
  ],
};
