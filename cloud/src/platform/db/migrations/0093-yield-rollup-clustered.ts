import type { Migration } from './migration.js';

export const migration: Migration = {
  version: 93,
  name: 'first-pass yield rollup stored in its key order (SQLite)',
  // SQLite: yield_quarters becomes a WITHOUT ROWID table, its rows stored in primary-key order
  // (tenant, quarter, site, rig), so that a range of quarter hours is read from the key's own
  // b-tree instead of an index probe into the table per row. A tenant's 30 days at 10 M records
  // are some 41,000 rows: 140 → 85 ms to read them (docs/STORAGE.md). The rows are copied as they
  // are. PostgreSQL keeps its table (it reads the same range in a third of that).
  sqlite: `
CREATE TABLE yield_quarters_clustered (
  tenant_id TEXT NOT NULL,
  quarter TEXT NOT NULL,
  site_id TEXT NOT NULL,
  equipment TEXT NOT NULL,
  tested BIGINT NOT NULL,
  passed BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, quarter, site_id, equipment)
) WITHOUT ROWID;
INSERT INTO yield_quarters_clustered (tenant_id, quarter, site_id, equipment, tested, passed)
  SELECT tenant_id, quarter, site_id, equipment, tested, passed FROM yield_quarters;
DROP TABLE yield_quarters;
ALTER TABLE yield_quarters_clustered RENAME TO yield_quarters;
CREATE INDEX yield_quarters_by_site ON yield_quarters (tenant_id, site_id, quarter);
`,
  postgres: '',
};
