import type { Migration } from './migration.js';

export const migration: Migration = {
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
  grants: [
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
    { table: 'checkpoints', privileges: 'SELECT, INSERT' },
    { table: 'security_events', privileges: 'SELECT, INSERT' },
  ],
  execute: [
    'rt_edge_tenant(TEXT)',
    'rt_api_token_tenant(TEXT)',
    'rt_consume_enrollment_token(TEXT, TEXT, TIMESTAMPTZ)',
  ],
};
