import type { Db, SqlParam } from '../platform/db/db.js';
import { insertChunked, insertChunkedReturning } from '../platform/db/insert-chunked.js';
import { visibleSql, type Viewer } from '../access/index.js';
import { newestByMonths } from '../platform/db/newest-by-months.js';
import type { ChartKind, ControlLimits, RuleSet } from './spc.math.js';

/** One measured characteristic of one inspection record (the record itself stays in `records`). */
export interface Measurement {
  edgeId: string;
  seq: number;
  /** Position of the characteristic in the record's body. */
  idx: number;
  siteId: string;
  equipment: string;
  characteristic: string;
  /** Normalised ISO 8601 (milliseconds, Z): text order is time order. */
  observedAt: string;
  measured: number;
  unit: string;
  nominal: number | null;
  lsl: number | null;
  usl: number | null;
}

/** A measurement as read back for a chart, in (observed_at, edge, seq, idx) order. */
export interface MeasurementRow {
  observed_at: string;
  edge_id: string;
  seq: number;
  idx: number;
  measured: number;
}

export interface CharacteristicRow {
  equipment: string;
  characteristic: string;
  site_id: string;
  unit: string;
  nominal: number | null;
  lsl: number | null;
  usl: number | null;
  n: number;
  first_at: string;
  last_at: string;
}

export interface BaselineRow {
  id: string;
  equipment: string;
  characteristic: string;
  chart: ChartKind;
  subgroup_size: number;
  rules: RuleSet;
  from_at: string;
  to_at: string;
  frozen_at: string;
  frozen_by: string;
  center: number;
  ucl: number;
  lcl: number;
  range_center: number;
  range_ucl: number;
  range_lcl: number;
  sigma_within: number;
  sigma_overall: number | null;
  mean: number;
  points: number;
  measurements: number;
}

export type NewBaseline = Omit<
  BaselineRow,
  keyof ControlLimits | 'range_center' | 'range_ucl' | 'range_lcl'
> & {
  limits: ControlLimits;
};

export interface MeasurementWindow {
  from?: string | undefined;
  to?: string | undefined;
  /** The latest `limit` measurements of the window (still returned oldest first). */
  limit: number;
}

/** Who reads SPC data: the site scope and export clearance of the caller (access's `Viewer`). */
export type SpcViewer = Pick<Viewer, 'tenantId' | 'sites' | 'cleared'>;

const ORDER_DESC = 'observed_at DESC, edge_id DESC, seq DESC, idx DESC';
/** Rows per multi-row statement: 9 or 11 parameters a row, well inside SQLite's and PostgreSQL's limits. */
const MEASUREMENT_CHUNK = 1000;
const SUMMARY_CHUNK = 500;

const NEWER_SUMMARY = 'excluded.last_at >= spc_characteristics.last_at';
/**
 * A characteristic's summary, merged: its count grows by what was added; the spec (unit, nominal,
 * limits) and site follow the latest measurement; first and last times widen.
 */
const SUMMARY_MERGE = `ON CONFLICT (tenant_id, equipment, characteristic) DO UPDATE SET
  n = spc_characteristics.n + excluded.n,
  ${['site_id', 'unit', 'nominal', 'lsl', 'usl']
    .map((c) => `${c} = CASE WHEN ${NEWER_SUMMARY} THEN excluded.${c} ELSE spc_characteristics.${c} END`)
    .join(', ')},
  first_at = CASE WHEN excluded.first_at < spc_characteristics.first_at
    THEN excluded.first_at ELSE spc_characteristics.first_at END,
  last_at = CASE WHEN ${NEWER_SUMMARY} THEN excluded.last_at ELSE spc_characteristics.last_at END`;

/**
 * PostgreSQL, insertMeasurementsAtOnce: the measurements' INSERT (unnest of 8 arrays) returning
 * what it added, and the summaries' upsert (unnest of 9 arrays) of the characteristics that gained.
 */
const INSERT_MEASUREMENTS_AT_ONCE = `WITH added AS (
   INSERT INTO spc_measurements (tenant_id, equipment, characteristic, observed_at, edge_id, seq, idx, site_id, measured)
   SELECT ?, m.* FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::int[], ?::text[], ?::float8[]) AS m
   ON CONFLICT DO NOTHING
   RETURNING equipment, characteristic
 ), gained AS (
   SELECT equipment, characteristic, COUNT(*) AS n FROM added GROUP BY equipment, characteristic
 ), summaries AS (
   INSERT INTO spc_characteristics (tenant_id, equipment, characteristic, site_id, unit, nominal, lsl, usl, n, first_at, last_at)
   SELECT ?, s.equipment, s.characteristic, s.site_id, s.unit, s.nominal, s.lsl, s.usl, g.n, s.first_at, s.last_at
   FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::float8[], ?::float8[], ?::float8[], ?::text[], ?::text[])
     AS s (equipment, characteristic, site_id, unit, nominal, lsl, usl, first_at, last_at),
     gained g
   WHERE g.equipment = s.equipment AND g.characteristic = s.characteristic
   ${SUMMARY_MERGE}
 )
 SELECT COALESCE(SUM(n), 0) AS total FROM gained`;

/** One characteristic's measurements of a batch: the latest (whose spec and site the summary takes) and the first time. */
function summaryOf(g: readonly Measurement[]): { latest: Measurement; first: string } {
  return {
    latest: g.reduce((a, b) => (b.observedAt >= a.observedAt ? b : a)),
    first: g.reduce((a, b) => (b.observedAt < a.observedAt ? b : a)).observedAt,
  };
}

/**
 * The SPC store: characteristic measurements (derived from inspection records at ingest, written
 * once, never updated), a per-characteristic summary kept by the same writes, and frozen
 * baselines (append-only: a new freeze adds a row, the latest one applies).
 */
export class SpcRepository {
  constructor(private readonly db: Db) {}

  /**
   * Stores measurements once (a record derived twice adds nothing) and counts only the rows
   * actually added into the summary, so the hook is idempotent. Joins the caller's transaction.
   * On PostgreSQL one statement (insertMeasurementsAtOnce); on SQLite two for the whole batch,
   * whatever the number of characteristics: one multi-row
   * INSERT … ON CONFLICT DO NOTHING RETURNING the rows it added (per characteristic, the count
   * the summary adds), then one multi-row upsert of the summaries of the characteristics that
   * gained rows.
   */
  async insertMeasurements(tenantId: string, rows: readonly Measurement[]): Promise<number> {
    if (rows.length === 0) return 0;
    const groupKey = (equipment: string, characteristic: string) => `${equipment}\u0000${characteristic}`;
    const groups = new Map<string, Measurement[]>();
    for (const r of rows) {
      const k = groupKey(r.equipment, r.characteristic);
      const g = groups.get(k);
      if (g) g.push(r);
      else groups.set(k, [r]);
    }
    if (this.db.dialect === 'postgres') return this.insertMeasurementsAtOnce(tenantId, rows, groups);
    return this.db.withTenant(tenantId, async () => {
      const inserted = new Map<string, number>();
      const added = await insertChunkedReturning<{ equipment: string; characteristic: string }>(
        this.db,
        'spc_measurements',
        'tenant_id, equipment, characteristic, observed_at, edge_id, seq, idx, site_id, measured',
        rows.map((m) => [
          tenantId,
          m.equipment,
          m.characteristic,
          m.observedAt,
          m.edgeId,
          m.seq,
          m.idx,
          m.siteId,
          m.measured,
        ]),
        'equipment, characteristic',
        { onConflict: 'ON CONFLICT DO NOTHING', rowsPerStatement: MEASUREMENT_CHUNK },
      );
      for (const a of added) {
        const k = groupKey(a.equipment, a.characteristic);
        inserted.set(k, (inserted.get(k) ?? 0) + 1);
      }
      if (inserted.size === 0) return 0;
      const summaries: SqlParam[][] = [];
      let total = 0;
      for (const [k, n] of inserted) {
        total += n;
        const { latest, first } = summaryOf(groups.get(k)!);
        summaries.push([
          tenantId,
          latest.equipment,
          latest.characteristic,
          latest.siteId,
          latest.unit,
          latest.nominal,
          latest.lsl,
          latest.usl,
          n,
          first,
          latest.observedAt,
        ]);
      }
      // One row per characteristic (the groups' keys are distinct), so no row is affected twice.
      await insertChunked(
        this.db,
        'spc_characteristics',
        'tenant_id, equipment, characteristic, site_id, unit, nominal, lsl, usl, n, first_at, last_at',
        summaries,
        { onConflict: SUMMARY_MERGE, rowsPerStatement: SUMMARY_CHUNK },
      );
      return total;
    });
  }

  /**
   * PostgreSQL: insertMeasurements in one statement. The measurements' INSERT returns the rows it
   * added; their count per characteristic feeds the summaries' upsert, a data-modifying CTE of
   * the same statement, so only characteristics that gained rows move, by what they gained.
   */
  private async insertMeasurementsAtOnce(
    tenantId: string,
    rows: readonly Measurement[],
    groups: ReadonlyMap<string, readonly Measurement[]>,
  ): Promise<number> {
    const summaries = [...groups.values()].map(summaryOf);
    const row = await this.db.withTenant(tenantId, () =>
      this.db.get<{ total: number | string }>(INSERT_MEASUREMENTS_AT_ONCE, [
        tenantId,
        rows.map((m) => m.equipment),
        rows.map((m) => m.characteristic),
        rows.map((m) => m.observedAt),
        rows.map((m) => m.edgeId),
        rows.map((m) => m.seq),
        rows.map((m) => m.idx),
        rows.map((m) => m.siteId),
        rows.map((m) => m.measured),
        tenantId,
        summaries.map((x) => x.latest.equipment),
        summaries.map((x) => x.latest.characteristic),
        summaries.map((x) => x.latest.siteId),
        summaries.map((x) => x.latest.unit),
        summaries.map((x) => x.latest.nominal),
        summaries.map((x) => x.latest.lsl),
        summaries.map((x) => x.latest.usl),
        summaries.map((x) => x.first),
        summaries.map((x) => x.latest.observedAt),
      ]),
    );
    return Number(row?.total ?? 0);
  }

  /** One characteristic, if `v` may see it (its site, and its equipment's export control). */
  async characteristic(
    v: SpcViewer,
    equipment: string,
    characteristic: string,
  ): Promise<CharacteristicRow | undefined> {
    const seen = visibleSql(v, { site: 'site_id', tag: 'equipment' });
    return this.db.withTenant(v.tenantId, () =>
      this.db.get<CharacteristicRow>(
        `SELECT equipment, characteristic, site_id, unit, nominal, lsl, usl, n, first_at, last_at
         FROM spc_characteristics WHERE tenant_id = ? AND equipment = ? AND characteristic = ? AND ${seen.sql}`,
        [v.tenantId, equipment, characteristic, ...seen.params],
      ),
    );
  }

  /** The characteristics `v` may see. */
  async characteristics(
    v: SpcViewer,
    q: { siteId?: string | undefined; equipment?: string | undefined },
  ): Promise<CharacteristicRow[]> {
    const tenantId = v.tenantId;
    const seen = visibleSql(v, { site: 'site_id', tag: 'equipment' });
    const where = ['tenant_id = ?', seen.sql];
    const params: SqlParam[] = [tenantId, ...seen.params];
    if (q.siteId !== undefined) {
      where.push('site_id = ?');
      params.push(q.siteId);
    }
    if (q.equipment !== undefined) {
      where.push('equipment = ?');
      params.push(q.equipment);
    }
    return this.db.withTenant(tenantId, () =>
      this.db.all<CharacteristicRow>(
        `SELECT equipment, characteristic, site_id, unit, nominal, lsl, usl, n, first_at, last_at
         FROM spc_characteristics WHERE ${where.join(' AND ')} ORDER BY site_id, equipment, characteristic`,
        params,
      ),
    );
  }

  /**
   * Measurements of one characteristic in [from, to), the latest `limit` of them, oldest first.
   * Without `from`, read within the characteristic's span (its summary's first and last times),
   * newest months first until `limit` are found (newestByMonths): on PostgreSQL each statement
   * reads only its window's months of spc_measurements, not every month's index.
   */
  async measurements(
    v: SpcViewer,
    equipment: string,
    characteristic: string,
    w: MeasurementWindow,
  ): Promise<MeasurementRow[]> {
    const tenantId = v.tenantId;
    const seen = visibleSql(v, { site: 'site_id', tag: 'spc_measurements.equipment' });
    const read = (from: string | undefined, to: string | undefined, limit: number) => {
      const where = ['tenant_id = ?', 'equipment = ?', 'characteristic = ?', seen.sql];
      const params: SqlParam[] = [tenantId, equipment, characteristic, ...seen.params];
      for (const [sql, value] of [
        ['observed_at >= ?', from],
        ['observed_at < ?', w.to],
        ['observed_at < ?', to],
      ] as const)
        if (value !== undefined) {
          where.push(sql);
          params.push(value);
        }
      return this.db.all<MeasurementRow>(
        `SELECT observed_at, edge_id, seq, idx, measured FROM spc_measurements
         WHERE ${where.join(' AND ')} ORDER BY ${ORDER_DESC} LIMIT ?`,
        [...params, limit],
      );
    };
    const rows = await this.db.withTenant(tenantId, async () => {
      if (w.from !== undefined) return read(w.from, undefined, w.limit);
      const span = await this.db.get<{ first_at: string; last_at: string }>(
        'SELECT first_at, last_at FROM spc_characteristics WHERE tenant_id = ? AND equipment = ? AND characteristic = ?',
        [tenantId, equipment, characteristic],
      );
      return newestByMonths(span && { first: span.first_at, last: span.last_at }, w.limit, read);
    });
    return rows.reverse();
  }

  /**
   * The last `limit` measurements observed at or after `from` (oldest first) and how many there
   * are in all, read in one statement so that both come from the same snapshot.
   */
  async tailSince(
    v: SpcViewer,
    equipment: string,
    characteristic: string,
    from: string,
    limit: number,
  ): Promise<{ rows: MeasurementRow[]; total: number }> {
    const seen = visibleSql(v, { site: 'site_id', tag: 'spc_measurements.equipment' });
    const where = `tenant_id = ? AND equipment = ? AND characteristic = ? AND observed_at >= ? AND ${seen.sql}`;
    const key = [v.tenantId, equipment, characteristic, from, ...seen.params];
    const rows = await this.db.withTenant(v.tenantId, () =>
      this.db.all<MeasurementRow & { total: number | string }>(
        `SELECT observed_at, edge_id, seq, idx, measured, (SELECT COUNT(*) FROM spc_measurements WHERE ${where}) AS total
         FROM spc_measurements WHERE ${where} ORDER BY ${ORDER_DESC} LIMIT ?`,
        [...key, ...key, limit],
      ),
    );
    const total = Number(rows[0]?.total ?? 0);
    return { rows: rows.reverse().map(({ total: _t, ...r }) => r), total };
  }

  async insertBaseline(tenantId: string, b: NewBaseline): Promise<void> {
    await this.db.withTenant(tenantId, () =>
      this.db.run(
        `INSERT INTO spc_baselines (tenant_id, id, equipment, characteristic, chart, subgroup_size, rules, from_at,
           to_at, frozen_at, frozen_by, center, ucl, lcl, range_center, range_ucl, range_lcl, sigma_within,
           sigma_overall, mean, points, measurements)
         VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
        [
          tenantId,
          b.id,
          b.equipment,
          b.characteristic,
          b.chart,
          b.subgroup_size,
          b.rules,
          b.from_at,
          b.to_at,
          b.frozen_at,
          b.frozen_by,
          b.limits.center,
          b.limits.ucl,
          b.limits.lcl,
          b.limits.rangeCenter,
          b.limits.rangeUcl,
          b.limits.rangeLcl,
          b.sigma_within,
          b.sigma_overall,
          b.mean,
          b.points,
          b.measurements,
        ],
      ),
    );
  }

  /** The baseline in force: the latest frozen for the characteristic, if `v` sees it (`baselineVisible`). */
  async currentBaseline(
    v: SpcViewer,
    equipment: string,
    characteristic: string,
  ): Promise<BaselineRow | undefined> {
    const seen = baselineVisible(v);
    return this.db.withTenantStatement(v.tenantId, () =>
      this.db.get<BaselineRow>(
        `SELECT * FROM spc_baselines WHERE tenant_id = ? AND equipment = ? AND characteristic = ? AND ${seen.sql}
         ORDER BY frozen_at DESC, id DESC LIMIT 1`,
        [v.tenantId, equipment, characteristic, ...seen.params],
      ),
    );
  }

  /** The current baseline of each characteristic of the equipment `v` sees (of one tag if given). */
  async currentBaselines(v: SpcViewer, equipment?: string): Promise<BaselineRow[]> {
    const tenantId = v.tenantId;
    const seen = baselineVisible(v);
    const rows = await this.db.withTenantStatement(tenantId, () =>
      this.db.all<BaselineRow>(
        `SELECT * FROM spc_baselines WHERE tenant_id = ?${equipment !== undefined ? ' AND equipment = ?' : ''}
           AND ${seen.sql}
         ORDER BY equipment, characteristic, frozen_at, id`,
        [tenantId, ...(equipment !== undefined ? [equipment] : []), ...seen.params],
      ),
    );
    const latest = new Map<string, BaselineRow>();
    for (const r of rows) latest.set(JSON.stringify([r.equipment, r.characteristic]), r);
    return [...latest.values()];
  }
}

/**
 * The baselines (spc_baselines rows) `v` may see. Baselines carry no site: the scope is their
 * characteristic's (its site, its equipment's export control).
 */
function baselineVisible(v: SpcViewer): { sql: string; params: SqlParam[] } {
  const seen = visibleSql(v, { site: 'c.site_id', tag: 'c.equipment' });
  if (seen.sql === '1 = 1') return seen;
  return {
    sql: `EXISTS (SELECT 1 FROM spc_characteristics c WHERE c.tenant_id = spc_baselines.tenant_id
             AND c.equipment = spc_baselines.equipment AND c.characteristic = spc_baselines.characteristic
             AND ${seen.sql})`,
    params: seen.params,
  };
}

export function limitsOf(b: BaselineRow): ControlLimits {
  return {
    center: b.center,
    ucl: b.ucl,
    lcl: b.lcl,
    rangeCenter: b.range_center,
    rangeUcl: b.range_ucl,
    rangeLcl: b.range_lcl,
  };
}
