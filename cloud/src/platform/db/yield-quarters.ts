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
 * A part's first inspection time as kept in part_firsts (migration 92, by ingest): the earliest
 * ever ingested, so that finding it reads no partition of traceable_records, and a retention that
 * dropped it does not make a later re-inspection the first.
 */
export const PART_FIRST_AT = `(SELECT f.first_at FROM part_firsts f
         WHERE f.tenant_id = t.tenant_id AND f.part_serial = t.part_serial)`;

/**
 * The first inspections of traceable_records `t` grouped per (equipment, site_id, quarter):
 * a part's first inspection is every inspection at its first inspection time (`firstAt`, an SQL
 * expression on `t`; by default PART_FIRST_AT); an inspection without a part serial is nobody's
 * first. `where` narrows `t` (it must leave t.kind = 'inspection' in place); `except`: a condition
 * on `t` naming inspections to count as if they were not there. Parameters: `where`'s, then
 * `except`'s, then `firstAt`'s.
 */
export function firstInspectionsSql(
  where: string,
  opts: { firstAt?: string | undefined; except?: string | undefined } = {},
): string {
  return `SELECT t.equipment AS equipment, t.site_id AS site_id, ${quarterSql('t.observed_at')} AS quarter,
       COUNT(*) AS tested, SUM(CASE WHEN t.result = 'pass' THEN 1 ELSE 0 END) AS passed
     FROM traceable_records t
     WHERE t.kind = 'inspection' AND ${where}${opts.except ? ` AND NOT (${opts.except})` : ''}
       AND t.observed_at = ${opts.firstAt ?? PART_FIRST_AT}
     GROUP BY t.equipment, t.site_id, ${quarterSql('t.observed_at')}`;
}

/** Fills part_firsts from every tenant's traceable_records (an empty table: the back-fill). */
export const FILL_PART_FIRSTS = `INSERT INTO part_firsts (tenant_id, part_serial, first_at)
SELECT tenant_id, part_serial, MIN(observed_at) FROM traceable_records
WHERE kind = 'inspection' AND part_serial IS NOT NULL
GROUP BY tenant_id, part_serial`;

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
