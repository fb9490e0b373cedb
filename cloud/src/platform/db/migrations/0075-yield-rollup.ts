import type { Migration } from './migration.js';
import { FILL_YIELD_QUARTERS } from '../yield-quarters.js';

export const migration: Migration = {
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
  grants: [
    // The first-pass yield rollup (migration 75): counts moved by ingest as first inspections arrive.
    { table: 'yield_quarters', privileges: 'SELECT, INSERT, UPDATE (tested, passed)' },
  ],
};
