import pg from 'pg';
import { DEFAULT_APP_ROLE, pgConnectionConfig, ROLE_NAME } from './postgres.js';
import { dueAfter } from '../time-zone.js';
import { toPgPlaceholders } from './db.js';
import { FILL_YIELD_QUARTERS } from './yield-quarters.js';
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
  /**
   * What SQL alone cannot do on both backends (SQLite has no time zones), run after the DDL in
   * the same transaction, as the owner.
   */
  data?: (q: MigrationSql) => Promise<void>;
}

/** A migration's data step's access to the database: `?` placeholders on both backends. */
export interface MigrationSql {
  all<T>(sql: string, params?: MigrationParams): Promise<T[]>;
  run(sql: string, params?: MigrationParams): Promise<void>;
}
type MigrationParams = readonly (string | number | null)[];

/** Rows per UPDATE of a migration's data step: 3 parameters each, under both backends' limits. */
const ROWS_PER_UPDATE = 1000;

/**
 * Migration 71: each equipment's cached next due date counted from the local calendar day (in its
 * site's time zone) of its last valid calibration, where it was counted from the UTC date.
 * due_sort follows where it held the next due date (not out of tolerance). Set-based: one read,
 * the dates counted in code (dueAfter: SQLite knows no time zones, and the rule lives in one
 * place), then one UPDATE … FROM (VALUES …) per ROWS_PER_UPDATE changed rows, on both backends.
 */
async function localDueDates(q: MigrationSql): Promise<void> {
  const rows = await q.all<{
    tenant_id: string;
    tag: string;
    interval_days: number;
    last_valid_at: string;
    next_due: string | null;
    time_zone: string;
  }>(
    `SELECT e.tenant_id, e.tag, e.interval_days, e.last_valid_at, e.next_due, s.time_zone
       FROM equipment e JOIN sites s ON s.tenant_id = e.tenant_id AND s.id = e.site_id
      WHERE e.last_valid_at IS NOT NULL`,
  );
  const changed: [string, string, string][] = [];
  for (const r of rows) {
    const due = dueAfter(r.last_valid_at, Number(r.interval_days), r.time_zone);
    if (due !== r.next_due) changed.push([r.tenant_id, r.tag, due]);
  }
  for (let i = 0; i < changed.length; i += ROWS_PER_UPDATE) {
    const part = changed.slice(i, i + ROWS_PER_UPDATE);
    // A VALUES list's columns are column1, column2, … on both backends.
    await q.run(
      `UPDATE equipment
          SET next_due = v.column3,
              due_sort = CASE WHEN equipment.due_sort = equipment.next_due THEN v.column3 ELSE equipment.due_sort END
         FROM (VALUES ${part.map(() => '(?, ?, ?)').join(', ')}) AS v
        WHERE equipment.tenant_id = v.column1 AND equipment.tag = v.column2`,
      part.flat(),
    );
  }
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
  {
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
  },
  {
    version: 9,
    name: 'edge backlog reported on ingest',
    // The number of records an edge still holds unsent, from the X-RigTrace-Backlog header of
    // its last accepted batch, and when it said so (the admin's edges page).
    sqlite: `
ALTER TABLE edges ADD COLUMN backlog INTEGER;
ALTER TABLE edges ADD COLUMN backlog_at TEXT;
`,
    postgres: `
ALTER TABLE edges ADD COLUMN backlog BIGINT;
ALTER TABLE edges ADD COLUMN backlog_at TIMESTAMPTZ;
`,
  },
  {
    version: 10,
    name: 'live state: latest telemetry values and rig states',
    // Written by the ingest transaction (under the edge's row lock), read by the live snapshot.
    // Observation times are normalized ISO 8601 text (milliseconds, Z), as in traceable_records.
    sqlite: `
CREATE TABLE live_points (
  tenant_id TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  point TEXT NOT NULL,
  site_id TEXT NOT NULL,
  value TEXT NOT NULL,
  unit TEXT,
  quality TEXT NOT NULL CHECK (quality IN ('good', 'uncertain', 'bad')),
  observed_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, edge_id, equipment, point),
  FOREIGN KEY (tenant_id, edge_id) REFERENCES edges (tenant_id, id)
);
CREATE INDEX live_points_by_site ON live_points (tenant_id, site_id);
CREATE TABLE live_rigs (
  tenant_id TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  site_id TEXT NOT NULL,
  state TEXT CHECK (state IN ('running', 'stopped')),
  state_since TEXT,
  state_at TEXT,
  last_seen_at TEXT NOT NULL,
  operator TEXT,
  work_order TEXT,
  part_serial TEXT,
  PRIMARY KEY (tenant_id, edge_id, equipment),
  FOREIGN KEY (tenant_id, edge_id) REFERENCES edges (tenant_id, id)
);
CREATE INDEX live_rigs_by_site ON live_rigs (tenant_id, site_id);
`,
    postgres: `
CREATE TABLE live_points (
  tenant_id TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  point TEXT NOT NULL,
  site_id TEXT NOT NULL,
  value TEXT NOT NULL,
  unit TEXT,
  quality TEXT NOT NULL CHECK (quality IN ('good', 'uncertain', 'bad')),
  observed_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, edge_id, equipment, point),
  FOREIGN KEY (tenant_id, edge_id) REFERENCES edges (tenant_id, id)
);
CREATE INDEX live_points_by_site ON live_points (tenant_id, site_id);
CREATE TABLE live_rigs (
  tenant_id TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  site_id TEXT NOT NULL,
  state TEXT CHECK (state IN ('running', 'stopped')),
  state_since TEXT,
  state_at TEXT,
  last_seen_at TEXT NOT NULL,
  operator TEXT,
  work_order TEXT,
  part_serial TEXT,
  PRIMARY KEY (tenant_id, edge_id, equipment),
  FOREIGN KEY (tenant_id, edge_id) REFERENCES edges (tenant_id, id)
);
CREATE INDEX live_rigs_by_site ON live_rigs (tenant_id, site_id);
ALTER TABLE live_points ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON live_points
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE live_rigs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON live_rigs
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
`,
  },
  {
    version: 6,
    name: 'SPC: characteristic measurements, summaries, frozen baselines; alerts',
    // spc_measurements: one row per characteristic of each inspection record, derived at ingest,
    // keyed in chart order (a chart is one range scan) and append-only. spc_characteristics: the
    // per-characteristic summary the same writes keep (count, latest spec and site). spc_baselines:
    // frozen control limits, append-only (the latest applies). alerts: raised once per dedupe key,
    // acknowledged once, never deleted.
    sqlite: `
CREATE TABLE spc_measurements (
  tenant_id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  characteristic TEXT NOT NULL,
  observed_at TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  site_id TEXT NOT NULL,
  measured REAL NOT NULL,
  PRIMARY KEY (tenant_id, equipment, characteristic, observed_at, edge_id, seq, idx)
) WITHOUT ROWID;
CREATE TABLE spc_characteristics (
  tenant_id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  characteristic TEXT NOT NULL,
  site_id TEXT NOT NULL,
  unit TEXT NOT NULL,
  nominal REAL,
  lsl REAL,
  usl REAL,
  n INTEGER NOT NULL,
  first_at TEXT NOT NULL,
  last_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, equipment, characteristic)
);
CREATE INDEX spc_characteristics_by_site ON spc_characteristics (tenant_id, site_id, equipment);
CREATE TABLE spc_baselines (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  characteristic TEXT NOT NULL,
  chart TEXT NOT NULL,
  subgroup_size INTEGER NOT NULL,
  rules TEXT NOT NULL,
  from_at TEXT NOT NULL,
  to_at TEXT NOT NULL,
  frozen_at TEXT NOT NULL,
  frozen_by TEXT NOT NULL,
  center REAL NOT NULL,
  ucl REAL NOT NULL,
  lcl REAL NOT NULL,
  range_center REAL NOT NULL,
  range_ucl REAL NOT NULL,
  range_lcl REAL NOT NULL,
  sigma_within REAL NOT NULL,
  sigma_overall REAL,
  mean REAL NOT NULL,
  points INTEGER NOT NULL,
  measurements INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX spc_baselines_by_characteristic ON spc_baselines (tenant_id, equipment, characteristic, frozen_at);
CREATE TRIGGER spc_baselines_no_update BEFORE UPDATE ON spc_baselines
BEGIN SELECT RAISE(ABORT, 'spc_baselines is append-only'); END;
CREATE TRIGGER spc_baselines_no_delete BEFORE DELETE ON spc_baselines
BEGIN SELECT RAISE(ABORT, 'spc_baselines is append-only'); END;
CREATE TABLE alerts (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  dedupe_key TEXT NOT NULL,
  site_id TEXT,
  kind TEXT NOT NULL,
  severity TEXT NOT NULL,
  message TEXT NOT NULL,
  at TEXT NOT NULL,
  tag TEXT,
  characteristic TEXT,
  rule TEXT,
  chart TEXT,
  point_at TEXT,
  detail TEXT NOT NULL,
  acknowledged_at TEXT,
  acknowledged_by TEXT,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, dedupe_key)
);
CREATE INDEX alerts_by_time ON alerts (tenant_id, at, id);
CREATE INDEX alerts_by_site ON alerts (tenant_id, site_id, at, id);
CREATE INDEX alerts_open ON alerts (tenant_id, kind, tag, characteristic) WHERE acknowledged_at IS NULL;
`,
    postgres: `
CREATE TABLE spc_measurements (
  tenant_id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  characteristic TEXT NOT NULL,
  observed_at TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  idx INTEGER NOT NULL,
  site_id TEXT NOT NULL,
  measured DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (tenant_id, equipment, characteristic, observed_at, edge_id, seq, idx),
  FOREIGN KEY (tenant_id, edge_id, seq) REFERENCES records (tenant_id, edge_id, seq)
);
CREATE TABLE spc_characteristics (
  tenant_id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  characteristic TEXT NOT NULL,
  site_id TEXT NOT NULL,
  unit TEXT NOT NULL,
  nominal DOUBLE PRECISION,
  lsl DOUBLE PRECISION,
  usl DOUBLE PRECISION,
  n BIGINT NOT NULL,
  first_at TEXT NOT NULL,
  last_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, equipment, characteristic)
);
CREATE INDEX spc_characteristics_by_site ON spc_characteristics (tenant_id, site_id, equipment);
CREATE TABLE spc_baselines (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  characteristic TEXT NOT NULL,
  chart TEXT NOT NULL,
  subgroup_size INTEGER NOT NULL,
  rules TEXT NOT NULL,
  from_at TEXT NOT NULL,
  to_at TEXT NOT NULL,
  frozen_at TEXT NOT NULL,
  frozen_by TEXT NOT NULL,
  center DOUBLE PRECISION NOT NULL,
  ucl DOUBLE PRECISION NOT NULL,
  lcl DOUBLE PRECISION NOT NULL,
  range_center DOUBLE PRECISION NOT NULL,
  range_ucl DOUBLE PRECISION NOT NULL,
  range_lcl DOUBLE PRECISION NOT NULL,
  sigma_within DOUBLE PRECISION NOT NULL,
  sigma_overall DOUBLE PRECISION,
  mean DOUBLE PRECISION NOT NULL,
  points INTEGER NOT NULL,
  measurements INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX spc_baselines_by_characteristic ON spc_baselines (tenant_id, equipment, characteristic, frozen_at);
CREATE TABLE alerts (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  dedupe_key TEXT NOT NULL,
  site_id TEXT,
  kind TEXT NOT NULL,
  severity TEXT NOT NULL,
  message TEXT NOT NULL,
  at TEXT NOT NULL,
  tag TEXT,
  characteristic TEXT,
  rule TEXT,
  chart TEXT,
  point_at TEXT,
  detail TEXT NOT NULL,
  acknowledged_at TEXT,
  acknowledged_by TEXT,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, dedupe_key)
);
CREATE INDEX alerts_by_time ON alerts (tenant_id, at, id);
CREATE INDEX alerts_by_site ON alerts (tenant_id, site_id, at, id);
CREATE INDEX alerts_open ON alerts (tenant_id, kind, tag, characteristic) WHERE acknowledged_at IS NULL;
ALTER TABLE spc_measurements ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON spc_measurements
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE spc_characteristics ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON spc_characteristics
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE spc_baselines ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON spc_baselines
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE alerts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON alerts
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
`,
  },
  {
    version: 7,
    name: 'calibration reminders: per-site settings, webhooks, delivery log',
    // reminder_deliveries is the log and the claim at once: its unique key (tenant, site, date,
    // channel, target, run) is inserted before anything is sent, so processes sharing one
    // database send each digest once. rt_reminder_tenants is the scheduler's only look across
    // tenants (tenant ids with work, nothing else).
    sqlite: `
CREATE TABLE reminder_settings (
  tenant_id TEXT NOT NULL,
  site_id TEXT NOT NULL,
  enabled INTEGER NOT NULL,
  send_all_clear INTEGER NOT NULL,
  email_enabled INTEGER NOT NULL,
  email_recipients TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  updated_by TEXT NOT NULL,
  PRIMARY KEY (tenant_id, site_id),
  FOREIGN KEY (tenant_id, site_id) REFERENCES sites(tenant_id, id)
);
CREATE TABLE reminder_webhooks (
  tenant_id TEXT NOT NULL,
  site_id TEXT NOT NULL,
  id TEXT NOT NULL,
  url TEXT NOT NULL,
  secret TEXT NOT NULL,
  enabled INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  secret_created_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, site_id, id),
  FOREIGN KEY (tenant_id, site_id) REFERENCES reminder_settings(tenant_id, site_id)
);
CREATE TABLE reminder_deliveries (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  site_id TEXT NOT NULL,
  digest_date TEXT NOT NULL,
  channel TEXT NOT NULL,
  target_id TEXT NOT NULL,
  run_key TEXT NOT NULL,
  origin TEXT NOT NULL,
  target TEXT NOT NULL,
  out_of_tolerance INTEGER NOT NULL,
  overdue INTEGER NOT NULL,
  due_soon INTEGER NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  next_attempt_at TEXT,
  lease_until TEXT,
  response_status INTEGER,
  error TEXT,
  payload TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  sent_at TEXT,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, site_id, digest_date, channel, target_id, run_key)
);
CREATE INDEX reminder_deliveries_by_time ON reminder_deliveries (tenant_id, created_at, id);
CREATE INDEX reminder_deliveries_by_site ON reminder_deliveries (tenant_id, site_id, created_at, id);
CREATE INDEX reminder_deliveries_open ON reminder_deliveries (tenant_id, state, next_attempt_at)
  WHERE state IN ('retry', 'sending');
`,
    postgres: `
CREATE TABLE reminder_settings (
  tenant_id TEXT NOT NULL,
  site_id TEXT NOT NULL,
  enabled BOOLEAN NOT NULL,
  send_all_clear BOOLEAN NOT NULL,
  email_enabled BOOLEAN NOT NULL,
  email_recipients TEXT NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  updated_by TEXT NOT NULL,
  PRIMARY KEY (tenant_id, site_id),
  FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id)
);
CREATE TABLE reminder_webhooks (
  tenant_id TEXT NOT NULL,
  site_id TEXT NOT NULL,
  id TEXT NOT NULL,
  url TEXT NOT NULL,
  secret TEXT NOT NULL,
  enabled BOOLEAN NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  secret_created_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (tenant_id, site_id, id),
  FOREIGN KEY (tenant_id, site_id) REFERENCES reminder_settings (tenant_id, site_id)
);
CREATE TABLE reminder_deliveries (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  site_id TEXT NOT NULL,
  digest_date TEXT NOT NULL,
  channel TEXT NOT NULL,
  target_id TEXT NOT NULL,
  run_key TEXT NOT NULL,
  origin TEXT NOT NULL,
  target TEXT NOT NULL,
  out_of_tolerance INTEGER NOT NULL,
  overdue INTEGER NOT NULL,
  due_soon INTEGER NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  next_attempt_at TIMESTAMPTZ,
  lease_until TIMESTAMPTZ,
  response_status INTEGER,
  error TEXT,
  payload TEXT,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  sent_at TIMESTAMPTZ,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, site_id, digest_date, channel, target_id, run_key)
);
CREATE INDEX reminder_deliveries_by_time ON reminder_deliveries (tenant_id, created_at, id);
CREATE INDEX reminder_deliveries_by_site ON reminder_deliveries (tenant_id, site_id, created_at, id);
CREATE INDEX reminder_deliveries_open ON reminder_deliveries (tenant_id, state, next_attempt_at)
  WHERE state IN ('retry', 'sending');
ALTER TABLE reminder_settings ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON reminder_settings
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE reminder_webhooks ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON reminder_webhooks
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE reminder_deliveries ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON reminder_deliveries
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
CREATE FUNCTION rt_reminder_tenants(p_now TIMESTAMPTZ) RETURNS TABLE (tenant_id TEXT)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
  AS $$ SELECT tenant_id FROM reminder_settings WHERE enabled
        UNION SELECT tenant_id FROM reminder_deliveries
          WHERE (state = 'retry' AND next_attempt_at <= p_now) OR (state = 'sending' AND lease_until <= p_now) $$;
REVOKE ALL ON FUNCTION rt_reminder_tenants(TIMESTAMPTZ) FROM PUBLIC;
`,
  },
  {
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
  },
  {
    version: 40,
    name: 'second-person review of manual calibration entries: reject and return with a reason',
    // A manual entry is reviewed once: approved, rejected or returned for correction (a partial
    // unique index makes the three exclusive). Rejection and return carry the reviewer's reason,
    // bound into the signature manifest. A corrected entry names the returned one it replaces.
    sqlite: `
ALTER TABLE calibration_signatures ADD COLUMN reason TEXT;
CREATE UNIQUE INDEX calibration_signatures_one_review ON calibration_signatures (tenant_id, calibration_id)
  WHERE purpose IN ('approval', 'rejection', 'return');
ALTER TABLE calibrations ADD COLUMN corrects TEXT;
`,
    postgres: `
ALTER TABLE calibration_signatures ADD COLUMN reason TEXT;
CREATE UNIQUE INDEX calibration_signatures_one_review ON calibration_signatures (tenant_id, calibration_id)
  WHERE purpose IN ('approval', 'rejection', 'return');
ALTER TABLE calibrations ADD COLUMN corrects TEXT;
`,
  },
  {
    version: 41,
    name: 'site time zones, revoked enrollment tokens, retired edges',
    // time_zone: the IANA zone a site's pages show times in (UTC on hover and in exports).
    // revoked_at: an admin took back an unused enrollment token; it no longer enrolls.
    // retired_at: an admin retired an edge; its key is refused from then on, its records stay.
    sqlite: `
ALTER TABLE sites ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
ALTER TABLE enrollment_tokens ADD COLUMN revoked_at TEXT;
ALTER TABLE edges ADD COLUMN retired_at TEXT;
`,
    postgres: `
ALTER TABLE sites ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
ALTER TABLE enrollment_tokens ADD COLUMN revoked_at TIMESTAMPTZ;
ALTER TABLE edges ADD COLUMN retired_at TIMESTAMPTZ;
CREATE OR REPLACE FUNCTION rt_consume_enrollment_token(p_token_hash TEXT, p_edge_id TEXT, p_now TIMESTAMPTZ)
  RETURNS TABLE (tenant_id TEXT, site_id TEXT)
  LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
  AS $$ UPDATE enrollment_tokens t SET used_at = p_now, used_by_edge = p_edge_id
         WHERE t.token_hash = p_token_hash AND t.used_at IS NULL AND t.revoked_at IS NULL AND t.expires_at > p_now
         RETURNING t.tenant_id, t.site_id $$;
REVOKE ALL ON FUNCTION rt_consume_enrollment_token(TEXT, TEXT, TIMESTAMPTZ) FROM PUBLIC;
`,
  },
  {
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
  },
  {
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
  },
  {
    version: 20,
    name: 'register list page of a site in tag order',
    // GET /equipment?site=…: a range of (tenant_id, site_id, tag) instead of walking the whole
    // tenant's primary key and filtering the site (measured at 100 k equipment: STORAGE.md).
    sqlite: `CREATE INDEX equipment_site_tag ON equipment (tenant_id, site_id, tag);`,
    postgres: `CREATE INDEX equipment_site_tag ON equipment (tenant_id, site_id, tag);`,
  },
  {
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
  },
  {
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
  },
  {
    version: 61,
    name: 'reference standards used by each calibration; re-evaluations of a calibration traceability',
    // calibration_standards: which calibrations cited a standard, found by a range scan when the
    // standard's own history changes (filled from the stored bodies here, then as each calibration
    // is stored). calibration_trace_reviews: every change of a stored calibration's traceability
    // after it was stored (append-only), the reason kept.
    sqlite: `
CREATE TABLE calibration_standards (
  tenant_id TEXT NOT NULL,
  standard TEXT NOT NULL,
  calibrated_at TEXT NOT NULL,
  calibration_id TEXT NOT NULL,
  PRIMARY KEY (tenant_id, standard, calibrated_at, calibration_id),
  FOREIGN KEY (tenant_id, calibration_id) REFERENCES calibrations (tenant_id, id)
);
CREATE TABLE calibration_trace_reviews (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  calibration_id TEXT NOT NULL,
  standard TEXT NOT NULL,
  cause TEXT NOT NULL,
  status_before TEXT NOT NULL,
  status_after TEXT NOT NULL,
  issues_before TEXT NOT NULL,
  issues_after TEXT NOT NULL,
  at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, calibration_id) REFERENCES calibrations (tenant_id, id)
);
CREATE INDEX calibration_trace_reviews_by_calibration ON calibration_trace_reviews (tenant_id, calibration_id, at);

INSERT OR IGNORE INTO calibration_standards (tenant_id, standard, calibrated_at, calibration_id)
  SELECT c.tenant_id, json_extract(s.value, '$.id'), c.calibrated_at, c.id
  FROM calibrations c, json_each(c.body, '$.standards') s
  WHERE json_extract(s.value, '$.id') IS NOT NULL;
`,
    postgres: `
CREATE TABLE calibration_standards (
  tenant_id TEXT NOT NULL,
  standard TEXT NOT NULL,
  calibrated_at TEXT NOT NULL,
  calibration_id TEXT NOT NULL,
  PRIMARY KEY (tenant_id, standard, calibrated_at, calibration_id),
  FOREIGN KEY (tenant_id, calibration_id) REFERENCES calibrations (tenant_id, id)
);
CREATE TABLE calibration_trace_reviews (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  calibration_id TEXT NOT NULL,
  standard TEXT NOT NULL,
  cause TEXT NOT NULL,
  status_before TEXT NOT NULL,
  status_after TEXT NOT NULL,
  issues_before TEXT NOT NULL,
  issues_after TEXT NOT NULL,
  at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, calibration_id) REFERENCES calibrations (tenant_id, id)
);
CREATE INDEX calibration_trace_reviews_by_calibration ON calibration_trace_reviews (tenant_id, calibration_id, at);

INSERT INTO calibration_standards (tenant_id, standard, calibrated_at, calibration_id)
  SELECT c.tenant_id, s.value->>'id', c.calibrated_at, c.id
  FROM calibrations c, jsonb_array_elements(COALESCE(c.body::jsonb->'standards', '[]'::jsonb)) s
  WHERE s.value->>'id' IS NOT NULL
  ON CONFLICT DO NOTHING;
ALTER TABLE calibration_standards ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON calibration_standards
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE calibration_trace_reviews ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON calibration_trace_reviews
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
`,
  },
  {
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
  },
  {
    version: 65,
    name: 'live floor: signal dictionary and last completed test per rig',
    // signals: the JSON of the latest signal dictionary the rig's telemetry carried (RECORDS.md),
    // signals_at its observation time; last_test: the JSON of the rig's latest inspection (its
    // characteristics by test point), last_test_at its observation time. Newer wins, as for values.
    sqlite: `
ALTER TABLE live_rigs ADD COLUMN signals TEXT;
ALTER TABLE live_rigs ADD COLUMN signals_at TEXT;
ALTER TABLE live_rigs ADD COLUMN last_test TEXT;
ALTER TABLE live_rigs ADD COLUMN last_test_at TEXT;
`,
    postgres: `
ALTER TABLE live_rigs ADD COLUMN signals TEXT;
ALTER TABLE live_rigs ADD COLUMN signals_at TEXT;
ALTER TABLE live_rigs ADD COLUMN last_test TEXT;
ALTER TABLE live_rigs ADD COLUMN last_test_at TEXT;
`,
  },
  {
    version: 66,
    name: 'shifts per site',
    // JSON array of { name, start: "HH:MM" } in the site's time zone; null: the default three shifts.
    sqlite: `ALTER TABLE sites ADD COLUMN shifts TEXT;`,
    postgres: `ALTER TABLE sites ADD COLUMN shifts TEXT;`,
  },
  {
    version: 70,
    name: 'cloud operators: their realm, and the tenant list they read',
    // '_operators' is the realm of the cloud operators' accounts (access/policy.ts OPERATOR_REALM):
    // stored as a tenants row so that users, sessions, MFA and the audit log work for operators as
    // for everyone, but not a tenant (a tenant id never starts with '_'; it is never listed).
    // rt_operator_tenants is the operators' only look across tenants: each tenant's id, name,
    // creation time and how many sites, users and edges it has, nothing of its data.
    sqlite: `
INSERT INTO tenants (id, name, created_at) VALUES ('_operators', 'Cloud operators', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
  ON CONFLICT (id) DO NOTHING;
`,
    postgres: `
INSERT INTO tenants (id, name, created_at) VALUES ('_operators', 'Cloud operators', now())
  ON CONFLICT (id) DO NOTHING;
CREATE FUNCTION rt_operator_tenants()
  RETURNS TABLE (id TEXT, name TEXT, created_at TIMESTAMPTZ, sites BIGINT, users BIGINT, edges BIGINT)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
  AS $$ SELECT t.id, t.name, t.created_at,
               (SELECT count(*) FROM sites s WHERE s.tenant_id = t.id),
               (SELECT count(*) FROM users u WHERE u.tenant_id = t.id),
               (SELECT count(*) FROM edges e WHERE e.tenant_id = t.id)
          FROM tenants t WHERE t.id <> '_operators' ORDER BY t.created_at, t.id $$;
REVOKE ALL ON FUNCTION rt_operator_tenants() FROM PUBLIC;
`,
  },
  {
    version: 90,
    name: 'positions named by records',
    // record_positions: each position a telemetry point or an inspection characteristic names
    // (RECORDS.md, "Positions"), once per record, with the record's equipment and observation
    // time. Derived at ingest, append-only; the device is resolved when read (installations at
    // observed_at), so an installation recorded later still resolves earlier records.
    sqlite: `
CREATE TABLE record_positions (
  tenant_id TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  position TEXT NOT NULL,
  kind TEXT NOT NULL,
  equipment TEXT NOT NULL,
  observed_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, edge_id, seq, position)
);
CREATE INDEX record_positions_by_position ON record_positions (tenant_id, equipment, position, observed_at);
`,
    postgres: `
CREATE TABLE record_positions (
  tenant_id TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  position TEXT NOT NULL,
  kind TEXT NOT NULL,
  equipment TEXT NOT NULL,
  observed_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, edge_id, seq, position)
);
CREATE INDEX record_positions_by_position ON record_positions (tenant_id, equipment, position, observed_at);
ALTER TABLE record_positions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON record_positions
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
`,
  },
  {
    version: 71,
    name: 'next due dates from the site-local day of the last valid calibration',
    // The due dates were counted from the UTC date of the calibration; now from its local day in
    // the site's time zone (calendarState in calibration.service.ts). Recomputed from the cached
    // last_valid_at in code: SQLite knows no time zones.
    sqlite: '',
    postgres: '',
    data: localDueDates,
  },
  {
    version: 72,
    name: 'records partitioned by month (PostgreSQL); the signed log leaves in record_log',
    // records becomes a table partitioned by range of observed_at (normalised ISO text, so text
    // ranges are time ranges), one partition per month (records_YYYY_MM) and a default one for a
    // month that has none yet, so a record never fails ingest for want of a partition. Whole
    // months are dropped by the owner's retention command (docs/SCALE.md, "Partitioning").
    // record_log, unpartitioned, keeps one row per record of the signed log: (tenant, edge, seq)
    // is unique there (a partitioned table's keys must include observed_at), it holds each leaf
    // hash (inclusion and consistency proofs, re-sent record detection) and the observation time
    // (which month a record is in), and the foreign keys that pointed at records point at it; it
    // outlives the months dropped, so the edges' logs stay provable. Ingest writes both in one
    // statement. rt_record_partition creates a month's partition (moving its rows out of the
    // default partition); rt_records_ahead the current and next months' and one for each month
    // found in the default partition: run at every start and daily by the cloud (the app role
    // may call it; it creates nothing else). SQLite: unchanged (one table).
    sqlite: '',
    postgres: `
CREATE TABLE record_log (
  tenant_id TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  observed_at TEXT NOT NULL,
  leaf_hash BYTEA NOT NULL,
  PRIMARY KEY (tenant_id, edge_id, seq),
  FOREIGN KEY (tenant_id, edge_id) REFERENCES edges (tenant_id, id)
);
INSERT INTO record_log (tenant_id, edge_id, seq, observed_at, leaf_hash)
  SELECT tenant_id, edge_id, seq, observed_at, leaf_hash FROM records;
ALTER TABLE record_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON record_log
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

-- Every foreign key to records (calibrations, traceable_records, record_gauges, spc_measurements)
-- now names record_log, whose rows are never dropped.
DO $$
DECLARE c RECORD;
BEGIN
  FOR c IN SELECT conrelid::regclass AS tbl, conname FROM pg_constraint
            WHERE contype = 'f' AND confrelid = 'records'::regclass LOOP
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', c.tbl, c.conname);
    EXECUTE format('ALTER TABLE %s ADD FOREIGN KEY (tenant_id, edge_id, seq) REFERENCES record_log (tenant_id, edge_id, seq)', c.tbl);
  END LOOP;
END $$;

ALTER TABLE records RENAME TO records_unpartitioned;
ALTER INDEX records_pkey RENAME TO records_unpartitioned_pkey;
ALTER INDEX records_by_equipment RENAME TO records_unpartitioned_by_equipment;
ALTER INDEX records_by_kind RENAME TO records_unpartitioned_by_kind;
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
  PRIMARY KEY (tenant_id, edge_id, seq, observed_at),
  FOREIGN KEY (tenant_id, edge_id) REFERENCES edges (tenant_id, id)
) PARTITION BY RANGE (observed_at);
CREATE INDEX records_by_equipment ON records (tenant_id, equipment, observed_at);
CREATE INDEX records_by_kind ON records (tenant_id, kind, observed_at);
CREATE TABLE records_default PARTITION OF records DEFAULT;
ALTER TABLE records ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON records
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

CREATE FUNCTION rt_record_partition(p_month DATE) RETURNS TEXT
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
  AS $$
DECLARE
  m DATE := date_trunc('month', p_month)::date;
  lo TEXT := to_char(m, 'YYYY-MM-DD') || 'T00:00:00.000Z';
  hi TEXT := to_char(m + 1 * interval '1 month', 'YYYY-MM-DD') || 'T00:00:00.000Z';
  part TEXT := 'records_' || to_char(m, 'YYYY_MM');
BEGIN
  -- One creator at a time (several cloud processes start and tick at once).
  PERFORM pg_advisory_xact_lock(hashtext('rt_record_partition'));
  IF to_regclass(part) IS NOT NULL THEN RETURN part; END IF;
  EXECUTE format('CREATE TABLE %I (LIKE records INCLUDING DEFAULTS)', part);
  EXECUTE format(
    'WITH moved AS (DELETE FROM records_default WHERE observed_at >= %L AND observed_at < %L RETURNING *) INSERT INTO %I SELECT * FROM moved',
    lo, hi, part);
  EXECUTE format('ALTER TABLE records ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
  RETURN part;
END $$;
CREATE FUNCTION rt_records_ahead(p_now TIMESTAMPTZ) RETURNS SETOF TEXT
  LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
  AS $$ SELECT rt_record_partition(m) FROM (
          SELECT (p_now AT TIME ZONE 'UTC')::date AS m
          UNION SELECT ((p_now AT TIME ZONE 'UTC') + interval '1 month')::date
          UNION SELECT to_date(substr(observed_at, 1, 7) || '-01', 'YYYY-MM-DD') FROM records_default
        ) months ORDER BY m $$;
REVOKE ALL ON FUNCTION rt_record_partition(DATE) FROM PUBLIC;
REVOKE ALL ON FUNCTION rt_records_ahead(TIMESTAMPTZ) FROM PUBLIC;

-- The existing records, each into its month's partition.
SELECT rt_record_partition(to_date(m || '-01', 'YYYY-MM-DD'))
  FROM (SELECT DISTINCT substr(observed_at, 1, 7) AS m FROM records_unpartitioned) months;
INSERT INTO records (tenant_id, edge_id, seq, id, kind, equipment, observed_at, json, leaf_hash, ingested_at, replayed)
  SELECT tenant_id, edge_id, seq, id, kind, equipment, observed_at, json, leaf_hash, ingested_at, replayed
    FROM records_unpartitioned;
DROP TABLE records_unpartitioned;
SELECT rt_records_ahead(now());
`,
  },
  {
    version: 75,
    name: 'first-pass yield rollup per quarter hour, site and rig',
    // yield_quarters: per tenant, UTC quarter hour ("2026-12-06T21:45"), site and rig, the parts
    // whose first inspection fell there (tested) and how many passed it. Kept by ingest in the
    // transaction that indexes the inspections (InspectionRepository.insert), read by GET /yield
    // and the live floor instead of probing every inspection of the range; back-filled here from
    // traceable_records. A row whose counts went to 0 (a part's earlier inspection arrived late)
    // stays and is not read.
    sqlite: `
CREATE TABLE yield_quarters (
  tenant_id TEXT NOT NULL,
  quarter TEXT NOT NULL,
  site_id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  tested BIGINT NOT NULL,
  passed BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, quarter, site_id, equipment)
);
CREATE INDEX yield_quarters_by_site ON yield_quarters (tenant_id, site_id, quarter);
${FILL_YIELD_QUARTERS};
`,
    postgres: `
CREATE TABLE yield_quarters (
  tenant_id TEXT NOT NULL,
  quarter TEXT NOT NULL,
  site_id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  tested BIGINT NOT NULL,
  passed BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, quarter, site_id, equipment)
);
CREATE INDEX yield_quarters_by_site ON yield_quarters (tenant_id, site_id, quarter);
ALTER TABLE yield_quarters ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON yield_quarters
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
${FILL_YIELD_QUARTERS};
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
  // Sites: renamed and given a time zone (migration 41) and shifts (66); enrollment tokens: revoked, never deleted.
  { table: 'sites', privileges: 'SELECT, INSERT, UPDATE (name, time_zone, shifts)' },
  { table: 'enrollment_tokens', privileges: 'SELECT, INSERT, UPDATE (revoked_at)' },
  // API tokens are revoked (revoked_at), never deleted (migration 9: the admin API).
  { table: 'api_tokens', privileges: 'SELECT, INSERT, UPDATE (revoked_at)' },
  {
    table: 'edges',
    privileges:
      'SELECT, INSERT, UPDATE (log_size, log_root, log_range, last_checkpoint, last_contact_at, backlog, backlog_at, retired_at)',
  },
  // Records (partitioned by month on PostgreSQL, migration 72) and the signed log's leaves: the
  // app never deletes either; whole months are dropped by the owner's retention command.
  { table: 'records', privileges: 'SELECT, INSERT' },
  { table: 'record_log', privileges: 'SELECT, INSERT' },
  { table: 'checkpoints', privileges: 'SELECT, INSERT' },
  { table: 'security_events', privileges: 'SELECT, INSERT' },
  { table: 'system_security_events', privileges: 'INSERT' },
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
  // Calibration engine (migration 4): calibrations and the traceability indexes are append-only.
  { table: 'calibration_settings', privileges: 'SELECT, INSERT, UPDATE' },
  { table: 'equipment', privileges: 'SELECT, INSERT, UPDATE' },
  // Calibrations: what was measured never changes; the traceability verdict is re-evaluated when
  // a standard's history changes (migration 61; each change kept in calibration_trace_reviews).
  { table: 'calibrations', privileges: 'SELECT, INSERT, UPDATE (traceability, trace_issues)' },
  { table: 'traceable_records', privileges: 'SELECT, INSERT' },
  { table: 'record_gauges', privileges: 'SELECT, INSERT' },
  // The first-pass yield rollup (migration 75): counts moved by ingest as first inspections arrive.
  { table: 'yield_quarters', privileges: 'SELECT, INSERT, UPDATE (tested, passed)' },
  // Reminders (migration 7): the delivery log is never deleted; only an attempt's outcome changes.
  { table: 'reminder_settings', privileges: 'SELECT, INSERT, UPDATE' },
  { table: 'reminder_webhooks', privileges: 'SELECT, INSERT, UPDATE, DELETE' },
  {
    table: 'reminder_deliveries',
    privileges:
      'SELECT, INSERT, UPDATE (state, attempts, next_attempt_at, lease_until, response_status, error, updated_at, sent_at)',
  },
  // Signatures and export control (migration 5): both append-only for the app.
  { table: 'calibration_signatures', privileges: 'SELECT, INSERT' },
  { table: 'export_access_log', privileges: 'SELECT, INSERT' },
  // Live state (migration 10): the latest values and rig states, overwritten as newer ones arrive.
  { table: 'live_points', privileges: 'SELECT, INSERT, UPDATE' },
  { table: 'live_rigs', privileges: 'SELECT, INSERT, UPDATE' },
  // SPC and alerts (migration 6): measurements and baselines append-only; the summary is kept
  // up to date by ingest; an alert changes only by being acknowledged.
  { table: 'spc_measurements', privileges: 'SELECT, INSERT' },
  { table: 'spc_characteristics', privileges: 'SELECT, INSERT, UPDATE' },
  { table: 'spc_baselines', privileges: 'SELECT, INSERT' },
  { table: 'alerts', privileges: 'SELECT, INSERT, UPDATE (acknowledged_at, acknowledged_by)' },
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
  // Calibration procedures (migration 30): a revision is written once; a change is a new revision.
  { table: 'procedures', privileges: 'SELECT, INSERT' },
  // Out-of-tolerance cases (migration 42): a case is closed once; decisions and notifications
  // are signed and append-only; a part's shipment state is replaced as it changes.
  { table: 'oot_cases', privileges: 'SELECT, INSERT, UPDATE (state, closed_at, closed_reason, alert_id)' },
  { table: 'oot_decisions', privileges: 'SELECT, INSERT' },
  { table: 'oot_notifications', privileges: 'SELECT, INSERT' },
  { table: 'part_shipments', privileges: 'SELECT, INSERT, UPDATE' },
  // Maintenance (migration 55): events and out-of-service changes are append-only; a plan's task
  // and interval are edited and a plan is retired, never deleted.
  { table: 'maintenance_events', privileges: 'SELECT, INSERT' },
  {
    table: 'maintenance_plans',
    privileges: 'SELECT, INSERT, UPDATE (task, interval_days, starts_on, retired_at)',
  },
  { table: 'equipment_service', privileges: 'SELECT, INSERT' },
  // Certificates (migration 60), the standards each calibration used and the re-evaluations of a
  // calibration's traceability (migration 61): append-only.
  { table: 'calibration_certificates', privileges: 'SELECT, INSERT' },
  { table: 'calibration_standards', privileges: 'SELECT, INSERT' },
  { table: 'calibration_trace_reviews', privileges: 'SELECT, INSERT' },
  // Positions and installations (migration 50): a removal closes the open installation; never deleted.
  { table: 'equipment_positions', privileges: 'SELECT, INSERT' },
  { table: 'installations', privileges: 'SELECT, INSERT, UPDATE (removed_at, removed_by)' },
  // Positions named by records (migration 90): derived at ingest, append-only.
  { table: 'record_positions', privileges: 'SELECT, INSERT' },
];

export const APP_FUNCTIONS: readonly string[] = [
  'rt_edge_tenant(TEXT)',
  'rt_api_token_tenant(TEXT)',
  'rt_consume_enrollment_token(TEXT, TEXT, TIMESTAMPTZ)',
  'rt_reminder_tenants(TIMESTAMPTZ)',
  'rt_purge_ended_sessions(TIMESTAMPTZ, TIMESTAMPTZ)',
  'rt_operator_tenants()',
  'rt_records_ahead(TIMESTAMPTZ)',
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
      if (m.sqlite) await db.exec(m.sqlite);
      await m.data?.({
        all: (sql, params) => db.all(sql, params),
        run: async (sql, params) => void (await db.run(sql, params)),
      });
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
      // The current and next months' partitions of records (the cloud re-runs it daily).
      await client.query('SELECT rt_records_ahead(now())');
      await ensureAppRole(client, appRole, opts.ownerSwitchesRole ?? true);
      return applied;
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  } finally {
    await client.end();
  }
}

/** Runs `fn` in a transaction on one client: COMMIT when it returns, ROLLBACK when it throws. */
export async function inTransaction(client: pg.Client, fn: () => Promise<void>): Promise<void> {
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
      if (m.postgres) await client.query(m.postgres);
      await m.data?.({
        async all<T>(sql: string, params: MigrationParams = []) {
          return (await client.query(toPgPlaceholders(sql, params.length), [...params])).rows as T[];
        },
        run: async (sql, params = []) =>
          void (await client.query(toPgPlaceholders(sql, params.length), [...params])),
      });
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
