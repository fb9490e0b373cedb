/**
 * The first-pass yield rollup (yield_quarters, migration 75): per tenant, UTC quarter hour, site
 * and rig, how many parts had their first inspection there and how many of those passed it. The
 * SQL that defines a part's first inspection and a quarter hour lives here once: the repository's
 * reads and upkeep, the migration's back-fill and the queries bench's bulk build all use it.
 */

/**
 * The UTC quarter hour ("2026-12-06T21:45") of a normalised ISO time column: fine enough to place
 * an inspection in any site's shifts (every time zone's offset is a multiple of 15 minutes).
 */
export function quarterSql(col: string): string {
  const minute = `substr(${col}, 15, 2)`;
  return `substr(${col}, 1, 14) || CASE WHEN ${minute} < '15' THEN '00' WHEN ${minute} < '30' THEN '15' WHEN ${minute} < '45' THEN '30' ELSE '45' END`;
}

/**
 * The first inspections of traceable_records `t` grouped per (equipment, site_id, quarter):
 * a part's first inspection is every inspection at the MIN(observed_at) of its inspections (ever,
 * in its tenant); an inspection without a part serial is nobody's first. `where` narrows `t`
 * (it must leave t.kind = 'inspection' in place); its parameters are the caller's. `except`: a
 * condition on an alias naming inspections to count as if they were not there (for both `t` and
 * the first-inspection lookup); its parameters follow `where`'s, twice.
 */
export function firstInspectionsSql(where: string, except?: (alias: string) => string): string {
  const but = (alias: string) => (except ? ` AND NOT (${except(alias)})` : '');
  return `SELECT t.equipment AS equipment, t.site_id AS site_id, ${quarterSql('t.observed_at')} AS quarter,
       COUNT(*) AS tested, SUM(CASE WHEN t.result = 'pass' THEN 1 ELSE 0 END) AS passed
     FROM traceable_records t
     WHERE t.kind = 'inspection' AND ${where}${but('t')}
       AND t.observed_at = (
         SELECT MIN(e.observed_at) FROM traceable_records e
         WHERE e.tenant_id = t.tenant_id AND e.part_serial = t.part_serial AND e.kind = 'inspection'${but('e')})
     GROUP BY t.equipment, t.site_id, ${quarterSql('t.observed_at')}`;
}

/** Fills yield_quarters from every tenant's traceable_records (an empty rollup: the back-fill). */
export const FILL_YIELD_QUARTERS = `INSERT INTO yield_quarters (tenant_id, quarter, site_id, equipment, tested, passed)
SELECT t.tenant_id, ${quarterSql('t.observed_at')}, t.site_id, t.equipment, COUNT(*),
  SUM(CASE WHEN t.result = 'pass' THEN 1 ELSE 0 END)
FROM traceable_records t
JOIN (SELECT tenant_id, part_serial, MIN(observed_at) AS first_at FROM traceable_records
      WHERE kind = 'inspection' AND part_serial IS NOT NULL GROUP BY tenant_id, part_serial) f
  ON f.tenant_id = t.tenant_id AND f.part_serial = t.part_serial AND f.first_at = t.observed_at
WHERE t.kind = 'inspection'
GROUP BY t.tenant_id, t.site_id, t.equipment, ${quarterSql('t.observed_at')}`;
