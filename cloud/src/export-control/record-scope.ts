import type { SqlParam } from '../platform/db/db.js';
import { type Viewer, visibleSql } from '../access/index.js';

/**
 * The one rule for which stored usage and inspection records (and any raw record) a reader sees,
 * as a WHERE condition on row alias `r` (a `records` row, or its traceability index row in
 * `traceable_records`: both have tenant_id, edge_id, seq and equipment): of the reader's sites
 * (`site`, the column or expression holding the record's site), and, unless the reader is
 * cleared for export-controlled data (ITAR/EAR), neither of flagged equipment (`r.equipment`)
 * nor naming a flagged gauge (an inspection's gauges, or a characteristic's gauge, as the
 * traceability index holds them: traceable_records and record_gauges, written in the batch's
 * transaction). The gauge test starts from the tenant's flagged equipment (few), each a point
 * lookup of the record in record_gauges' key. `observedAt`, when `r` is a traceable_records row:
 * its observed_at, so that on PostgreSQL the lookup reads only that month's partitions.
 *
 * `GET /records`, evidence bundles, `GET /inspections`, `GET /usage`, suspect records and the
 * reports all read through it, so that a page of `limit` is full while more visible records
 * exist and its cursor names a record the reader was served.
 */
export function recordVisibleSql(
  v: Pick<Viewer, 'tenantId' | 'sites' | 'cleared'>,
  r: string,
  site: string,
  observedAt?: string,
): { sql: string; params: SqlParam[] } {
  const seen = visibleSql(v, { site, tag: `${r}.equipment` });
  if (v.cleared) return seen;
  const sameMonth = observedAt ? ` AND xt.observed_at = ${observedAt}` : '';
  return {
    sql: `${seen.sql} AND NOT EXISTS (SELECT 1 FROM equipment xe WHERE xe.tenant_id = ? AND xe.export_regime IS NOT NULL
      AND EXISTS (SELECT 1 FROM traceable_records xt JOIN record_gauges xg ON xg.tenant_id = xt.tenant_id
        AND xg.gauge = xe.tag AND xg.observed_at = xt.observed_at AND xg.edge_id = xt.edge_id AND xg.seq = xt.seq
        WHERE xt.tenant_id = ${r}.tenant_id AND xt.edge_id = ${r}.edge_id AND xt.seq = ${r}.seq${sameMonth}))`,
    params: [...seen.params, v.tenantId],
  };
}

/**
 * The rigs (the `equipment` of inspection records) of which an inspection observed in
 * [from, to) names a flagged gauge, as a SELECT of one column, `equipment`. Those inspections
 * are left out for a reader not cleared (recordVisibleSql); a count over a rig's inspections
 * (first-pass yield) would carry what they say, so such a reader is not given that rig's counts
 * for the period, as a flagged rig's are not. Starts from the tenant's flagged equipment (few),
 * each a range of record_gauges' key.
 */
export function rigsNamingFlaggedGaugesSql(
  tenantId: string,
  from: string,
  to: string,
): { sql: string; params: SqlParam[] } {
  return {
    sql: `SELECT DISTINCT xt.equipment FROM equipment xe
      JOIN record_gauges xg ON xg.tenant_id = xe.tenant_id AND xg.gauge = xe.tag
        AND xg.observed_at >= ? AND xg.observed_at < ?
      JOIN traceable_records xt ON xt.tenant_id = xg.tenant_id AND xt.edge_id = xg.edge_id
        AND xt.seq = xg.seq AND xt.observed_at = xg.observed_at
      WHERE xe.tenant_id = ? AND xe.export_regime IS NOT NULL`,
    params: [from, to, tenantId],
  };
}
