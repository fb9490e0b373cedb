import type { Migration } from './migration.js';

export const migration: Migration = {
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
  grants: [
    // Reminders (migration 7): the delivery log is never deleted; only an attempt's outcome changes.
    { table: 'reminder_settings', privileges: 'SELECT, INSERT, UPDATE' },
    { table: 'reminder_webhooks', privileges: 'SELECT, INSERT, UPDATE, DELETE' },
    {
      table: 'reminder_deliveries',
      privileges:
        'SELECT, INSERT, UPDATE (state, attempts, next_attempt_at, lease_until, response_status, error, updated_at, sent_at)',
    },
  ],
  execute: ['rt_reminder_tenants(TIMESTAMPTZ)'],
};
