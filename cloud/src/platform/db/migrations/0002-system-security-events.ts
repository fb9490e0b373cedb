import type { Migration } from './migration.js';

export const migration: Migration = {
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
  grants: [{ table: 'system_security_events', privileges: 'INSERT' }],
};
