import type { Migration } from './migration.js';

/**
 * Records a tenant may hold that the calibration engine never derived (stored before it
 * existed): a calibration record without its calibration, a usage or inspection record outside
 * the traceability index. The condition `CalibrationRepository.underivedRecords` reads per tag.
 */
const UNDERIVED = `EXISTS (
  SELECT 1 FROM records r
  WHERE r.tenant_id = tenants.id AND r.kind IN ('calibration', 'usage', 'inspection') AND (
    (r.kind = 'calibration' AND NOT EXISTS (
       SELECT 1 FROM calibrations c WHERE c.tenant_id = r.tenant_id AND c.id = r.edge_id || ':' || r.seq))
    OR (r.kind IN ('usage', 'inspection') AND NOT EXISTS (
       SELECT 1 FROM traceable_records t
       WHERE t.tenant_id = r.tenant_id AND t.edge_id = r.edge_id AND t.seq = r.seq))))`;

export const migration: Migration = {
  version: 94,
  name: 'tenants that may hold records stored before the calibration engine',
  // Every record stored since the calibration engine (migration 4) is derived at ingest, whether
  // or not its equipment is registered. Registering equipment looked for underived records of its
  // tag anyway, reading every record of the tag (a rig's telemetry included) in the registration's
  // transaction: ~210 ms per 500,000 records on SQLite, while ingest waited. The look is needed only
  // in a tenant that held records before the engine: found once here (each tenant's calibration,
  // usage and inspection records, through records_by_kind), kept on the tenant. A tenant created
  // since starts without.
  sqlite: `
ALTER TABLE tenants ADD COLUMN underived_records INTEGER NOT NULL DEFAULT 0;
UPDATE tenants SET underived_records = 1 WHERE ${UNDERIVED};
`,
  postgres: `
ALTER TABLE tenants ADD COLUMN underived_records BOOLEAN NOT NULL DEFAULT false;
UPDATE tenants SET underived_records = true WHERE ${UNDERIVED};
`,
};
