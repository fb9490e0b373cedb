import type { Migration } from './migration.js';

export const migration: Migration = {
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
};
