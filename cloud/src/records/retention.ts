import pg from 'pg';
import type { Db, SqlParam } from '../platform/db/db.js';
import { toPgPlaceholders } from '../platform/db/db.js';
import { ownerTransactionDb, pgConnectionConfig, typeParsers } from '../platform/db/postgres.js';
import { inTransaction } from '../platform/db/migrations.js';

/**
 * Records retention: whole months of records dropped by the cloud's owner (the `rigtrace-cloud
 * records retention` command), never by the app. On PostgreSQL records is partitioned by month
 * of observed_at (migration 72), and so are the rows derived from them (migration 73,
 * rt_monthly_tables): a month goes with one DROP TABLE of its partitions; the
 * signed log's leaves (record_log) stay, so the edges' logs, the evidence of the remaining
 * records and their inclusion and consistency proofs still verify. SQLite keeps each leaf hash
 * in its record's row only: deleting a month there would leave the edges' logs unprovable, so
 * SQLite lists its months but drops none.
 */

/** A month of records ("2026-11") and how many it holds. */
export interface RecordMonth {
  month: string;
  records: number;
  /**
   * PostgreSQL: how many of them are still in the default partition (their month has no
   * partition yet): a drop first moves them into their month's own partition.
   */
  unpartitioned?: number;
}

/** Records the product must keep: from `from` to `to` (ISO times; null: since the first record, until now). */
export interface RetentionHold {
  from: string | null;
  to: string | null;
  reason: string;
}

export interface RetentionMonth extends RecordMonth {
  /** Older than the cutoff and held by nothing: dropped when told to. */
  drop: boolean;
  /** What keeps the month (empty: nothing). */
  keptBy: string[];
}

export interface RetentionPlan {
  before: string;
  months: RetentionMonth[];
  /** Months older than the cutoff that something keeps: a drop refuses them all. */
  refused: RetentionMonth[];
}

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;

/** "2026-11" when `s` is a month in that form, else undefined. */
export function parseMonth(s: string): string | undefined {
  return MONTH.test(s) ? s : undefined;
}

/**
 * Which months go: those before `before` (a month, at most the current one: the current month's
 * records are never dropped), unless a hold covers part of them (the month of its start to the
 * month of its end, both whole).
 */
export function planRetention(
  months: readonly RecordMonth[],
  before: string,
  holds: readonly RetentionHold[],
): RetentionPlan {
  const planned = months.map((m) => {
    const keptBy = holds
      .filter((h) => (h.from ?? '').slice(0, 7) <= m.month && m.month <= (h.to ?? '9999-12').slice(0, 7))
      .map((h) => h.reason);
    return { ...m, drop: m.month < before && keptBy.length === 0, keptBy };
  });
  return { before, months: planned, refused: planned.filter((m) => m.month < before && m.keptBy.length > 0) };
}

/** The owner's connection (PostgreSQL) or the one SQLite database: `?` placeholders on both. */
interface OwnerSql {
  all<T>(sql: string, params?: SqlParam[]): Promise<T[]>;
  run(sql: string, params?: SqlParam[]): Promise<void>;
  /** `fn` in one transaction; on PostgreSQL it gets the `Db` face of that transaction. */
  transaction(fn: (db: Db) => Promise<void>): Promise<void>;
  /** `fn` in a READ ONLY transaction (PostgreSQL): whatever it runs cannot change anything. */
  readOnly<T>(fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

async function ownerOf(storeDb: Db, ownerUrl: string | undefined): Promise<OwnerSql> {
  if (storeDb.dialect !== 'postgres' || ownerUrl === undefined) {
    return {
      all: (sql, params = []) => storeDb.all(sql, params),
      run: async (sql, params = []) => void (await storeDb.run(sql, params)),
      transaction: (fn) => storeDb.transaction(() => fn(storeDb)),
      readOnly: (fn) => fn(),
      close: () => Promise.resolve(),
    };
  }
  const client = new pg.Client({
    ...pgConnectionConfig(ownerUrl, ['-c search_path=public', '-c TimeZone=UTC']),
    types: typeParsers(),
  });
  await client.connect();
  const q = async <T>(sql: string, params: SqlParam[] = []) =>
    (await client.query(toPgPlaceholders(sql, params.length), params)).rows as T[];
  return {
    all: q,
    run: async (sql, params) => void (await q(sql, params)),
    transaction: (fn) => inTransaction(client, () => fn(ownerTransactionDb(client))),
    readOnly: async (fn) => {
      await client.query('BEGIN TRANSACTION READ ONLY');
      try {
        const value = await fn();
        await client.query('COMMIT');
        return value;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    },
    close: () => client.end(),
  };
}

/** An open out-of-tolerance case, read across tenants by the owner. */
export interface OpenCase {
  tenant_id: string;
  id: string;
  equipment: string;
  calibration_id: string;
}

/**
 * The owner's view of records for retention. PostgreSQL: connects as `ownerUrl` (the role that
 * owns the schema: DATABASE_OWNER_URL, else DATABASE_URL), never as the app role.
 */
export class RecordsRetention {
  private constructor(
    private readonly sql: OwnerSql,
    readonly backend: 'sqlite' | 'postgres',
  ) {}

  static async open(storeDb: Db, ownerUrl: string | undefined): Promise<RecordsRetention> {
    return new RecordsRetention(await ownerOf(storeDb, ownerUrl), storeDb.dialect);
  }

  close(): Promise<void> {
    return this.sql.close();
  }

  /**
   * Every month that holds records (PostgreSQL: every month's partition, empty ones too, and
   * the months of the records still in the default partition), oldest first. Reads only: on
   * PostgreSQL in a READ ONLY transaction, so listing (the dry run) changes nothing.
   */
  async months(): Promise<RecordMonth[]> {
    if (this.backend === 'sqlite') {
      const rows = await this.sql.all<{ month: string; n: number }>(
        'SELECT substr(observed_at, 1, 7) AS month, COUNT(*) AS n FROM records GROUP BY 1 ORDER BY 1',
      );
      return rows.map((r) => ({ month: r.month, records: Number(r.n) }));
    }
    return this.sql.readOnly(async () => {
      const parts = await this.sql.all<{ name: string }>(
        `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          WHERE i.inhparent = 'records'::regclass AND c.relname ~ '^records_[0-9]{4}_[0-9]{2}$' ORDER BY 1`,
      );
      const byMonth = new Map<string, RecordMonth>();
      for (const p of parts) {
        const n = await this.sql.all<{ n: number }>(`SELECT COUNT(*) AS n FROM ${p.name}`);
        const month = p.name.slice(8).replace('_', '-');
        byMonth.set(month, { month, records: Number(n[0]?.n ?? 0) });
      }
      const waiting = await this.sql.all<{ month: string; n: number }>(
        'SELECT substr(observed_at, 1, 7) AS month, COUNT(*) AS n FROM records_default GROUP BY 1',
      );
      for (const w of waiting) {
        const m = byMonth.get(w.month) ?? { month: w.month, records: 0 };
        byMonth.set(w.month, { ...m, records: m.records + Number(w.n), unpartitioned: Number(w.n) });
      }
      return [...byMonth.values()].sort((a, b) => (a.month < b.month ? -1 : 1));
    });
  }

  async openCases(): Promise<OpenCase[]> {
    return this.sql.all<OpenCase>(
      "SELECT tenant_id, id, equipment, calibration_id FROM oot_cases WHERE state = 'open' ORDER BY tenant_id, id",
    );
  }

  /**
   * Drops the given months' partitions in one transaction (PostgreSQL only), after moving the
   * records waiting in the default partition into their months' own; `alongside` runs in the
   * same transaction with its `Db` face and what was dropped (how many records each tenant had in
   * each month), so what it writes (the audit trail) commits with the drop or not at all.
   */
  async drop(
    months: readonly string[],
    alongside: (db: Db, dropped: DroppedMonth[]) => Promise<void>,
  ): Promise<DroppedMonth[]> {
    if (this.backend === 'sqlite') throw new Error(SQLITE_KEEPS_LEAVES);
    for (const month of months) if (!parseMonth(month)) throw new Error(`not a month: ${month}`);
    let out: DroppedMonth[] = [];
    await this.sql.transaction(async (db) => {
      out = [];
      // Dropping a partition locks records briefly: wait for running statements, not for ever.
      await this.sql.run("SET LOCAL lock_timeout = '30s'");
      await this.sql.run('SELECT rt_records_ahead(now())');
      for (const month of months) {
        const part = `records_${month.replace('-', '_')}`;
        const counts = await this.sql.all<{ tenant_id: string; n: number }>(
          `SELECT tenant_id, COUNT(*) AS n FROM ${part} GROUP BY tenant_id ORDER BY tenant_id`,
        );
        for (const c of counts) out.push({ month, tenantId: c.tenant_id, records: Number(c.n) });
        // The month of every monthly table (records and the rows derived from them, migration
        // 73), made together by rt_record_partition, goes together.
        const parts = await this.sql.all<{ part: string }>(
          'SELECT t || ? AS part FROM rt_monthly_tables() t WHERE to_regclass(t || ?) IS NOT NULL',
          [`_${month.replace('-', '_')}`, `_${month.replace('-', '_')}`],
        );
        await this.forgetSummaries(month);
        await this.sql.run(`DROP TABLE ${parts.map((p) => p.part).join(', ')}`);
      }
      if (months.length > 0) await this.trimSpcSummaries(months);
      await alongside(db, out);
    });
    return out;
  }

  /**
   * Before a month's partitions go: the summaries stop counting its rows, so that no summary
   * reports rows the store no longer holds. The first-pass yield rollup loses the month's quarter
   * hours (a quarter hour's first inspections all lie in its month; each part's first inspection
   * time stays in part_firsts, so a later re-inspection of a part first inspected in the month
   * is still not a first); each SPC characteristic's count loses the month's measurements.
   */
  private async forgetSummaries(month: string): Promise<void> {
    await this.sql.run('DELETE FROM yield_quarters WHERE substr(quarter, 1, 7) = ?', [month]);
    await this.sql.run(
      `UPDATE spc_characteristics c SET n = c.n - d.n
       FROM (SELECT tenant_id, equipment, characteristic, COUNT(*) AS n FROM spc_measurements_${month.replace('-', '_')}
             GROUP BY tenant_id, equipment, characteristic) d
       WHERE c.tenant_id = d.tenant_id AND c.equipment = d.equipment AND c.characteristic = d.characteristic`,
    );
  }

  /**
   * Once the months are dropped: a characteristic none of whose measurements are held leaves the
   * summaries; one whose first or last measurement lay in a dropped month takes its first and last
   * times from the measurements held.
   */
  private async trimSpcSummaries(months: readonly string[]): Promise<void> {
    await this.sql.run('DELETE FROM spc_characteristics WHERE n <= 0');
    const inDropped = months.map(() => '?').join(', ');
    const span = (fn: 'MIN' | 'MAX') => `(SELECT ${fn}(m.observed_at) FROM spc_measurements m
       WHERE m.tenant_id = c.tenant_id AND m.equipment = c.equipment AND m.characteristic = c.characteristic)`;
    await this.sql.run(
      `UPDATE spc_characteristics c SET first_at = ${span('MIN')}, last_at = ${span('MAX')}
       WHERE substr(c.first_at, 1, 7) IN (${inDropped}) OR substr(c.last_at, 1, 7) IN (${inDropped})`,
      [...months, ...months],
    );
  }
}

/** How many records of one tenant a dropped month held. */
export interface DroppedMonth {
  month: string;
  tenantId: string;
  records: number;
}

export const SQLITE_KEEPS_LEAVES =
  "SQLite keeps each record's leaf hash in the record's own row: deleting a month would leave the edges' signed logs unprovable, so on SQLite retention lists months and drops none (PostgreSQL drops whole months and keeps the leaves)";
