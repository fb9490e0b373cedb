import { migration as m0001 } from './0001-tenancy.js';
import { migration as m0002 } from './0002-system-security-events.js';
import { migration as m0003 } from './0003-accounts.js';
import { migration as m0004 } from './0004-calibration-engine.js';
import { migration as m0005 } from './0005-signatures-export-control.js';
import { migration as m0006 } from './0006-spc-alerts.js';
import { migration as m0007 } from './0007-reminders.js';
import { migration as m0008 } from './0008-reports.js';
import { migration as m0009 } from './0009-edge-backlog.js';
import { migration as m0010 } from './0010-live-state.js';
import { migration as m0020 } from './0020-register-tag-order.js';
import { migration as m0030 } from './0030-procedures.js';
import { migration as m0040 } from './0040-entry-review.js';
import { migration as m0041 } from './0041-site-time-zones.js';
import { migration as m0042 } from './0042-oot-cases.js';
import { migration as m0050 } from './0050-positions.js';
import { migration as m0055 } from './0055-maintenance.js';
import { migration as m0060 } from './0060-certificates.js';
import { migration as m0061 } from './0061-calibration-standards.js';
import { migration as m0065 } from './0065-live-floor.js';
import { migration as m0066 } from './0066-shifts.js';
import { migration as m0070 } from './0070-operators.js';
import { migration as m0071 } from './0071-local-due-dates.js';
import { migration as m0072 } from './0072-records-partitions.js';
import { migration as m0073 } from './0073-derived-partitions.js';
import { migration as m0075 } from './0075-yield-rollup.js';
import { migration as m0090 } from './0090-record-positions.js';
import { migration as m0091 } from './0091-position-partitions.js';
import { migration as m0092 } from './0092-first-seen.js';
import { migration as m0093 } from './0093-yield-rollup-clustered.js';
import { migration as m0094 } from './0094-underived-records.js';
import type { Migration, TableGrant } from './migration.js';

export type { Migration, MigrationSql, TableGrant } from './migration.js';

/**
 * Every migration, in version order: one file per version (`NNNN-name.ts`, NNNN its version),
 * holding the SQLite DDL, the PostgreSQL DDL, any data step and the app role's grants on what it
 * creates. A new migration is a new file and one line here.
 */
export const MIGRATIONS: readonly Migration[] = [
  m0001,
  m0002,
  m0003,
  m0004,
  m0005,
  m0006,
  m0007,
  m0008,
  m0009,
  m0010,
  m0020,
  m0030,
  m0040,
  m0041,
  m0042,
  m0050,
  m0055,
  m0060,
  m0061,
  m0065,
  m0066,
  m0070,
  m0071,
  m0072,
  m0073,
  m0075,
  m0090,
  m0091,
  m0092,
  m0093,
  m0094,
];

/**
 * What the app role may do, table by table, on PostgreSQL: each migration's grants in version
 * order, a later migration's grant on a table replacing an earlier one. Re-applied at every start,
 * so this is the whole truth. Records, checkpoints and security events are append-only for the
 * application: the database refuses UPDATE and DELETE. An edge's key, tenant and site cannot be
 * changed by the app either; only its log state and last contact.
 */
export const APP_PRIVILEGES: readonly TableGrant[] = appPrivileges(MIGRATIONS);

/** Each table's grant from the highest version that states it, in the order tables first appear. */
export function appPrivileges(migrations: readonly Migration[]): TableGrant[] {
  return [...new Map(migrations.flatMap((m) => (m.grants ?? []).map((g) => [g.table, g] as const))).values()];
}

/** The functions the app role may execute (signatures), from every migration in version order. */
export const APP_FUNCTIONS: readonly string[] = MIGRATIONS.flatMap((m) => m.execute ?? []);
