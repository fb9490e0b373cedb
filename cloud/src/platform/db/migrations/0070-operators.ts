import type { Migration } from './migration.js';

export const migration: Migration = {
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
  execute: ['rt_operator_tenants()'],
};
