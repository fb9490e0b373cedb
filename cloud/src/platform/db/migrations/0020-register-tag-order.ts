import type { Migration } from './migration.js';

export const migration: Migration = {
  version: 20,
  name: 'register list page of a site in tag order',
  // GET /equipment?site=…: a range of (tenant_id, site_id, tag) instead of walking the whole
  // tenant's primary key and filtering the site (measured at 100 k equipment: STORAGE.md).
  sqlite: `CREATE INDEX equipment_site_tag ON equipment (tenant_id, site_id, tag);`,
  postgres: `CREATE INDEX equipment_site_tag ON equipment (tenant_id, site_id, tag);`,
};
