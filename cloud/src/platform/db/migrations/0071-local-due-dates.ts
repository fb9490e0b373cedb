import type { Migration, MigrationSql } from './migration.js';
import { dueAfter } from '../../time-zone.js';

/** Rows per UPDATE of a migration's data step: 3 parameters each, under both backends' limits. */
const ROWS_PER_UPDATE = 1000;

/**
 * Migration 71: each equipment's cached next due date counted from the local calendar day (in its
 * site's time zone) of its last valid calibration, where it was counted from the UTC date.
 * due_sort follows where it held the next due date (not out of tolerance). Set-based: one read,
 * the dates counted in code (dueAfter: SQLite knows no time zones, and the rule lives in one
 * place), then one UPDATE … FROM (VALUES …) per ROWS_PER_UPDATE changed rows, on both backends.
 */
async function localDueDates(q: MigrationSql): Promise<void> {
  const rows = await q.all<{
    tenant_id: string;
    tag: string;
    interval_days: number;
    last_valid_at: string;
    next_due: string | null;
    time_zone: string;
  }>(
    `SELECT e.tenant_id, e.tag, e.interval_days, e.last_valid_at, e.next_due, s.time_zone
       FROM equipment e JOIN sites s ON s.tenant_id = e.tenant_id AND s.id = e.site_id
      WHERE e.last_valid_at IS NOT NULL`,
  );
  const changed: [string, string, string][] = [];
  for (const r of rows) {
    const due = dueAfter(r.last_valid_at, Number(r.interval_days), r.time_zone);
    if (due !== r.next_due) changed.push([r.tenant_id, r.tag, due]);
  }
  for (let i = 0; i < changed.length; i += ROWS_PER_UPDATE) {
    const part = changed.slice(i, i + ROWS_PER_UPDATE);
    // A VALUES list's columns are column1, column2, … on both backends.
    await q.run(
      `UPDATE equipment
          SET next_due = v.column3,
              due_sort = CASE WHEN equipment.due_sort = equipment.next_due THEN v.column3 ELSE equipment.due_sort END
         FROM (VALUES ${part.map(() => '(?, ?, ?)').join(', ')}) AS v
        WHERE equipment.tenant_id = v.column1 AND equipment.tag = v.column2`,
      part.flat(),
    );
  }
}

export const migration: Migration = {
  version: 71,
  name: 'next due dates from the site-local day of the last valid calibration',
  // The due dates were counted from the UTC date of the calibration; now from its local day in
  // the site's time zone (calendarState in calibration.service.ts). Recomputed from the cached
  // last_valid_at in code: SQLite knows no time zones.
  sqlite: '',
  postgres: '',
  data: localDueDates,
};
