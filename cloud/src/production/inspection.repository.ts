import type { Db, SqlParam } from '../platform/db/db.js';
import { inChunks } from '../platform/db/in-chunks.js';
import {
  insertChunked,
  insertChunkedReturning,
  insertStatement,
  MAX_STATEMENT_PARAMS,
  type ChunkedInsert,
} from '../platform/db/insert-chunked.js';
import { visibleSql, type Viewer } from '../access/index.js';
import { recordVisibleSql, rigsNamingFlaggedGaugesSql } from '../export-control/index.js';
import { compareText } from '../platform/compare.js';
import { firstInspectionsSql } from '../platform/db/yield-quarters.js';
import { lastInTransaction } from '../platform/after-commit.js';

/** One usage or inspection record as indexed for traceability and queries (the record itself stays in `records`). */
export interface TraceableRow {
  edgeId: string;
  seq: number;
  kind: 'usage' | 'inspection';
  siteId: string;
  equipment: string;
  /** Normalised ISO 8601 (milliseconds, Z), so that text order is time order. */
  observedAt: string;
  partSerial: string | null;
  workOrder: string | null;
  result: 'pass' | 'fail' | null;
  cycles: number | null;
}

export interface GaugeUse {
  gauge: string;
  observedAt: string;
  edgeId: string;
  seq: number;
}

/** A position a record's telemetry point or inspection characteristic names (RECORDS.md, "Positions"). */
export interface PositionUse {
  edgeId: string;
  seq: number;
  position: string;
  kind: 'telemetry' | 'inspection';
  equipment: string;
  observedAt: string;
}

/** A named position resolved: the device installed there at the record's observedAt (null: none). */
export interface NamedPositionRow {
  edge_id: string;
  seq: number;
  position: string;
  equipment: string;
  observed_at: string;
  device: string | null;
}

export interface TraceableQuery {
  kind: 'usage' | 'inspection';
  siteId?: string | undefined;
  equipment?: string | undefined;
  partSerial?: string | undefined;
  workOrder?: string | undefined;
  result?: 'pass' | 'fail' | undefined;
  from?: string | undefined;
  to?: string | undefined;
  after?: { observedAt: string; edge: string; seq: number } | undefined;
  limit: number;
}

export interface TraceableResultRow {
  edge_id: string;
  seq: number;
  kind: 'usage' | 'inspection';
  site_id: string;
  equipment: string;
  observed_at: string;
  part_serial: string | null;
  work_order: string | null;
  result: 'pass' | 'fail' | null;
  json: string;
}

export interface SuspectRow extends TraceableResultRow {
  /**
   * 'equipment': the record is about the equipment itself; 'gauge': it lists the equipment among
   * its gauges; 'position': it was made by a rig while the equipment was installed in one of its
   * positions.
   */
  via: 'equipment' | 'gauge' | 'position';
  /** With via 'position': where the equipment sat ("RIG-01 / rail pressure"); else null. */
  position: string | null;
}

/**
 * The records a rig made while a device sat in one of its positions: installations of the device
 * joined to the rig's records observed from installation (inclusive) to removal (exclusive).
 * Records that list the device as a gauge are left to the gauge side (each record once).
 */
const INSTALLED_IN = `installations i
  JOIN traceable_records t ON t.tenant_id = i.tenant_id AND t.equipment = i.equipment
    AND t.observed_at >= i.installed_at AND (i.removed_at IS NULL OR t.observed_at < i.removed_at)`;
const NOT_AS_GAUGE = `NOT EXISTS (SELECT 1 FROM record_gauges xg WHERE xg.tenant_id = t.tenant_id AND xg.gauge = i.device
    AND xg.observed_at = t.observed_at AND xg.edge_id = t.edge_id AND xg.seq = t.seq)`;

/** Who reads: the request's viewer, or the part of it the scope needs. */
type Reader = Pick<Viewer, 'tenantId' | 'sites' | 'cleared'>;

/**
 * The usage and inspection records (`t`, a traceable_records row) `v` may see: export control's
 * one record rule (`recordVisibleSql`): sent by an edge of its sites, and unless `v` is cleared,
 * neither made by export-controlled equipment nor naming an export-controlled gauge. Applied in
 * the query, so that a page is full and its cursor is a record `v` was served.
 */
const recordVisible = (v: Reader) => recordVisibleSql(v, 't', 't.site_id', 't.observed_at');

/**
 * The conditions of one side of suspect() and countSuspect(): the viewer's scope on the record
 * (`t`: `recordVisible`), the window (start, end] and the page's
 * cursor on `alias`'s (observed_at, edge_id, seq). Each condition led by " AND ".
 */
function suspectWindow(
  v: Reader,
  alias: string,
  start: string | null,
  end: string | null,
  after?: { observedAt: string; edge: string; seq: number },
  /** A table joined on the record's observed_at, bounded too (pruned to the window's months). */
  also?: string,
): { sql: string; params: SqlParam[] } {
  const scope = recordVisible(v);
  const w: string[] = [scope.sql];
  const p: SqlParam[] = [...scope.params];
  for (const x of also ? [alias, also] : [alias]) {
    if (start !== null) {
      w.push(`${x}.observed_at > ?`);
      p.push(start);
    }
    if (end !== null) {
      w.push(`${x}.observed_at <= ?`);
      p.push(end);
    }
  }
  if (after) {
    w.push(`(${alias}.observed_at, ${alias}.edge_id, ${alias}.seq) > (?, ?, ?)`);
    p.push(after.observedAt, after.edge, after.seq);
  }
  return { sql: w.map((x) => ` AND ${x}`).join(''), params: p };
}

const COLS =
  't.edge_id, t.seq, t.kind, t.site_id, t.equipment, t.observed_at, t.part_serial, t.work_order, t.result, r.json';
/**
 * COLS for a row reached through record_gauges: the order columns (observed_at, edge_id, seq) are
 * g's, equal to t's, so that the database reads record_gauges' primary key in order and stops at
 * the page's end instead of sorting every row of the window (a gauge may have 50 k in it).
 */
const GAUGE_COLS =
  'g.edge_id, g.seq, t.kind, t.site_id, t.equipment, g.observed_at, t.part_serial, t.work_order, t.result, r.json';
/**
 * The record's day too: on PostgreSQL records is partitioned by month of observed_at, so each row
 * reads one partition. records keep observed_at as the edge sent it (UTC, 0 to 9 decimals),
 * traceable_records normalised (3): the same day, so a range on the day's prefix ('T' < 'U').
 */
const JOIN_RECORD = `JOIN records r ON r.tenant_id = t.tenant_id AND r.edge_id = t.edge_id AND r.seq = t.seq
  AND r.observed_at >= substr(t.observed_at, 1, 10) AND r.observed_at < substr(t.observed_at, 1, 10) || 'U'`;

/** Which first inspections a yield counts: observed in [from, to), optionally of one site or rig. */
export interface YieldQuery {
  from: string;
  to: string;
  siteId?: string | undefined;
  equipment?: string | undefined;
}

/** First inspections per rig, site and UTC quarter hour (firstPassYieldByQuarter). */
export interface YieldQuarter {
  equipment: string;
  siteId: string;
  /** "2026-12-06T21:45": the UTC quarter hour. */
  quarter: string;
  tested: number;
  passed: number;
}

/** An inspection of a part that one call of InspectionRepository.insert stored. */
interface AddedInspection {
  edge: string;
  seq: number;
  part: string;
  /** Its observedAt (normalised). */
  at: string;
}

/**
 * The traceability index over usage and inspection records (traceable_records, record_gauges):
 * written once per record at ingest, never updated, every key led by tenant_id. With it, in the
 * same transaction, the first-pass yield rollup (yield_quarters), whose counts ingest moves.
 */
export class InspectionRepository {
  constructor(private readonly db: Db) {}

  async insert(
    tenantId: string,
    rows: readonly TraceableRow[],
    gauges: readonly GaugeUse[],
    positions: readonly PositionUse[] = [],
  ): Promise<void> {
    // A batch's new inspections may change which inspection is a part's first: the rollup moves
    // by the parts' first inspections with the inspections this call added less those without
    // them, in the same transaction.
    const parts = [
      ...new Set(
        rows.flatMap((r) => (r.kind === 'inspection' && r.partSerial !== null ? [r.partSerial] : [])),
      ),
    ].sort(compareText);
    await this.db.transaction(() =>
      this.db.withTenant(tenantId, async () => {
        const added = await this.insertRows(tenantId, rows, gauges, positions);
        if (positions.length > 0)
          await lastInTransaction(() =>
            this.db.withTenant(tenantId, () => this.widenPositionSpans(tenantId, positions)),
          );
        if (parts.length === 0 || added.length === 0) return;
        // Last in the ingest transaction: the part locks and the rollup's rows, which other
        // edges' batches may wait for, are then held only until the commit.
        await lastInTransaction(() =>
          this.db.withTenant(tenantId, () => this.moveRollup(tenantId, parts, added)),
        );
      }),
    );
  }

  /**
   * yield_quarters moved by the first inspections of `parts` with the inspections `added` less
   * without them: per chunk of parts, their first times (part_firsts) before and with `added`,
   * one statement that computes both counts and upserts the difference, and the first times
   * moved (on PostgreSQL after the parts' locks).
   */
  private async moveRollup(
    tenantId: string,
    parts: readonly string[],
    added: readonly AddedInspection[],
  ): Promise<void> {
    if (this.db.dialect === 'postgres')
      // Two batches inspecting one part at once take turns (SQLite writes one at a time):
      // each must see the other's inspections to count the part once. Locks in one order. A
      // statement of its own: the upsert's snapshot must be taken once the locks are held.
      await this.db.run(
        `SELECT pg_advisory_xact_lock(k) FROM (
           SELECT DISTINCT hashtextextended(? || '/' || p, 0) AS k FROM unnest(?::text[]) AS p ORDER BY k) s`,
        [tenantId, parts],
      );
    const ofPart = new Map<string, AddedInspection[]>();
    for (const w of added) {
      const list = ofPart.get(w.part);
      if (list) list.push(w);
      else ofPart.set(w.part, [w]);
    }
    // Parts in chunks of at most 500 whose statement binds at most ~30,000 parameters: a part
    // costs eight (its serial, first time and the two in its CASE, once with, once without), each
    // inspection left out one and each edge of them one more.
    const chunks: string[][] = [];
    let chunk: string[] = [];
    let cost = 0;
    for (const part of parts) {
      const n = 8 + 2 * (ofPart.get(part)?.length ?? 0);
      if (chunk.length > 0 && (chunk.length >= 500 || cost + n > 30_000)) {
        chunks.push(chunk);
        chunk = [];
        cost = 0;
      }
      chunk.push(part);
      cost += n;
    }
    if (chunk.length > 0) chunks.push(chunk);
    for (const c of chunks) {
      const inChunk = c.map(() => '?').join(',');
      // Each part's first inspection time before this call (part_firsts) and with it.
      const before = new Map(
        (
          await this.db.all<{ part_serial: string; first_at: string }>(
            `SELECT part_serial, first_at FROM part_firsts WHERE tenant_id = ? AND part_serial IN (${inChunk})`,
            [tenantId, ...c],
          )
        ).map((r) => [r.part_serial, r.first_at]),
      );
      const after = new Map(before);
      const byEdge = new Map<string, number[]>();
      for (const w of c.flatMap((part) => ofPart.get(part) ?? [])) {
        const first = after.get(w.part);
        if (first === undefined || w.at < first) after.set(w.part, w.at);
        const seqs = byEdge.get(w.edge);
        if (seqs) seqs.push(w.seq);
        else byEdge.set(w.edge, [w.seq]);
      }
      const edges = [...byEdge];
      const except = edges
        .map(([, seqs]) => `(t.edge_id = ? AND t.seq IN (${seqs.map(() => '?').join(',')}))`)
        .join(' OR ');
      const exceptParams = edges.flatMap(([edge, seqs]) => [edge, ...seqs]);
      // A part's first inspections are those at its first time: the inspections read are those
      // parts' at those times only (so PostgreSQL reads only those months of traceable_records).
      const firsts = (m: ReadonlyMap<string, string>) => {
        const entries = [...m];
        if (entries.length === 0) return undefined;
        const times = [...new Set(entries.map(([, at]) => at))];
        return {
          where: `t.tenant_id = ? AND t.part_serial IN (${entries.map(() => '?').join(',')})
            AND t.observed_at IN (${times.map(() => '?').join(',')})`,
          whereParams: [tenantId, ...entries.map(([p]) => p), ...times],
          firstAt: `CASE t.part_serial ${entries.map(() => 'WHEN ? THEN ?').join(' ')} END`,
          firstParams: entries.flatMap(([p, at]) => [p, at]),
        };
      };
      const now = firsts(after)!;
      const was = firsts(before);
      // The parts' first inspections now, less the same without this call's: what moved. The
      // WHERE before ON CONFLICT is SQLite's (an INSERT … SELECT upsert needs one).
      await this.db.run(
        `WITH moved AS (
           SELECT equipment, site_id, quarter, SUM(tested) AS tested, SUM(passed) AS passed FROM (
             SELECT a.equipment, a.site_id, a.quarter, a.tested, a.passed FROM (${firstInspectionsSql(now.where, { firstAt: now.firstAt })}) a${
               was
                 ? `
             UNION ALL
             SELECT b.equipment, b.site_id, b.quarter, -b.tested, -b.passed FROM (${firstInspectionsSql(was.where, { firstAt: was.firstAt, except })}) b`
                 : ''
             }
           ) x GROUP BY equipment, site_id, quarter)
         INSERT INTO yield_quarters (tenant_id, quarter, site_id, equipment, tested, passed)
         SELECT ?, quarter, site_id, equipment, tested, passed FROM moved WHERE tested <> 0 OR passed <> 0
         ON CONFLICT (tenant_id, quarter, site_id, equipment) DO UPDATE
           SET tested = yield_quarters.tested + excluded.tested, passed = yield_quarters.passed + excluded.passed`,
        [
          ...now.whereParams,
          ...now.firstParams,
          ...(was ? [...was.whereParams, ...exceptParams, ...was.firstParams] : []),
          tenantId,
        ],
      );
      // The parts whose first inspection this call added or moved earlier.
      const moved = [...after].filter(([p, at]) => before.get(p) !== at);
      if (moved.length > 0)
        await this.db.run(
          `INSERT INTO part_firsts (tenant_id, part_serial, first_at)
           VALUES ${moved.map(() => '(?, ?, ?)').join(', ')}
           ON CONFLICT (tenant_id, part_serial) DO UPDATE SET first_at = excluded.first_at`,
          moved.flatMap(([p, at]) => [tenantId, p, at]),
        );
    }
  }

  /**
   * position_spans widened to the records of `positions` (per rig, the earliest and latest time
   * of its records that name a position): the months PositionsRepository.unresolved reads.
   */
  private async widenPositionSpans(tenantId: string, positions: readonly PositionUse[]): Promise<void> {
    const spans = new Map<string, { first: string; last: string }>();
    for (const p of positions) {
      const s = spans.get(p.equipment);
      if (!s) spans.set(p.equipment, { first: p.observedAt, last: p.observedAt });
      else {
        if (p.observedAt < s.first) s.first = p.observedAt;
        if (p.observedAt > s.last) s.last = p.observedAt;
      }
    }
    const rigs = [...spans].sort(([a], [b]) => compareText(a, b));
    await this.db.run(
      `INSERT INTO position_spans (tenant_id, equipment, first_at, last_at)
       VALUES ${rigs.map(() => '(?, ?, ?, ?)').join(', ')}
       ON CONFLICT (tenant_id, equipment) DO UPDATE SET
         first_at = CASE WHEN excluded.first_at < position_spans.first_at THEN excluded.first_at ELSE position_spans.first_at END,
         last_at = CASE WHEN excluded.last_at > position_spans.last_at THEN excluded.last_at ELSE position_spans.last_at END
       WHERE excluded.first_at < position_spans.first_at OR excluded.last_at > position_spans.last_at`,
      rigs.flatMap(([rig, s]) => [tenantId, rig, s.first, s.last]),
    );
  }

  /** The inspections it added (not stored before). */
  private async insertRows(
    tenantId: string,
    rows: readonly TraceableRow[],
    gauges: readonly GaugeUse[],
    positions: readonly PositionUse[],
  ): Promise<AddedInspection[]> {
    const ignoreDuplicates = { onConflict: 'ON CONFLICT DO NOTHING' };
    type Rows = { table: string; columns: string; rows: SqlParam[][]; opts: ChunkedInsert };
    const traceable: Rows = {
      table: 'traceable_records',
      columns:
        'tenant_id, edge_id, seq, kind, site_id, equipment, observed_at, part_serial, work_order, result, cycles',
      rows: rows.map((r) => [
        tenantId,
        r.edgeId,
        r.seq,
        r.kind,
        r.siteId,
        r.equipment,
        r.observedAt,
        r.partSerial,
        r.workOrder,
        r.result,
        r.cycles,
      ]),
      opts: ignoreDuplicates,
    };
    const others = (
      [
        {
          table: 'record_gauges',
          columns: 'tenant_id, gauge, observed_at, edge_id, seq',
          rows: gauges.map((g) => [tenantId, g.gauge, g.observedAt, g.edgeId, g.seq]),
          opts: { ...ignoreDuplicates, rowsPerStatement: 300 },
        },
        {
          table: 'record_positions',
          columns: 'tenant_id, edge_id, seq, position, kind, equipment, observed_at',
          rows: positions.map((p) => [
            tenantId,
            p.edgeId,
            p.seq,
            p.position,
            p.kind,
            p.equipment,
            p.observedAt,
          ]),
          opts: ignoreDuplicates,
        },
      ] satisfies Rows[]
    ).filter((t) => t.rows.length > 0);
    type Stored = {
      edge_id: string;
      seq: number;
      kind: string;
      part_serial: string | null;
      observed_at: string;
    };
    const returning = 'edge_id, seq, kind, part_serial, observed_at';
    // A batch's rows of each table in one INSERT (not chunked) when all of them fit one statement.
    const params = [traceable, ...others].reduce(
      (n, t) => n + t.rows.length * t.columns.split(',').length,
      0,
    );
    let stored: Stored[];
    if (this.db.dialect === 'postgres' && rows.length > 0 && params <= MAX_STATEMENT_PARAMS) {
      // One statement on PostgreSQL: the gauges and positions as data-modifying CTEs of the
      // traceability INSERT.
      const whole = (t: Rows, ret?: string) =>
        insertStatement(t.table, t.columns, t.rows, { ...t.opts, rowsPerStatement: t.rows.length }, ret);
      const parts = others.map((t) => whole(t));
      const main = whole(traceable, returning);
      const ctes = parts.map((q, i) => `c${i} AS (${q.sql})`);
      stored = await this.db.all<Stored>(`${ctes.length > 0 ? `WITH ${ctes.join(', ')} ` : ''}${main.sql}`, [
        ...parts.flatMap((q) => q.params),
        ...main.params,
      ]);
    } else {
      stored = await insertChunkedReturning<Stored>(
        this.db,
        traceable.table,
        traceable.columns,
        traceable.rows,
        returning,
        traceable.opts,
      );
      for (const t of others) await insertChunked(this.db, t.table, t.columns, t.rows, t.opts);
    }
    // Only the rows this call stored (a duplicate returns nothing).
    return stored.flatMap((r) =>
      r.kind === 'inspection' && r.part_serial !== null
        ? [{ edge: r.edge_id, seq: Number(r.seq), part: r.part_serial, at: r.observed_at }]
        : [],
    );
  }

  /**
   * The positions the given records name, each resolved to the device installed in that position
   * of the record's equipment at its observedAt (installed_at inclusive, removed_at exclusive);
   * device null: nothing was installed there then (or no such position), or the reader may not
   * see the device (site scope, export control). Each key carries its record's (normalised)
   * observedAt, so that PostgreSQL reads only those months of record_positions.
   */
  async namedPositions(
    v: Pick<Viewer, 'tenantId' | 'sites' | 'cleared'>,
    keys: readonly { edge: string; seq: number; observedAt: string }[],
  ): Promise<NamedPositionRow[]> {
    if (keys.length === 0) return [];
    const seen = visibleSql(v, { site: 'd.site_id', tag: 'd.tag' });
    return this.db.withTenant(v.tenantId, () =>
      inChunks(keys, 200, async (chunk) => {
        const rows = await this.db.all<NamedPositionRow>(
          `SELECT rp.edge_id, rp.seq, rp.position, rp.equipment, rp.observed_at, d.tag AS device
           FROM record_positions rp
           LEFT JOIN installations i ON i.tenant_id = rp.tenant_id AND i.equipment = rp.equipment
             AND i.position = rp.position AND i.installed_at <= rp.observed_at
             AND (i.removed_at IS NULL OR rp.observed_at < i.removed_at)
           LEFT JOIN equipment d ON d.tenant_id = i.tenant_id AND d.tag = i.device AND ${seen.sql}
           WHERE rp.tenant_id = ? AND (${chunk.map(() => '(rp.edge_id = ? AND rp.seq = ? AND rp.observed_at = ?)').join(' OR ')})
           ORDER BY rp.edge_id, rp.seq, rp.position`,
          [...seen.params, v.tenantId, ...chunk.flatMap((k) => [k.edge, k.seq, k.observedAt])],
        );
        return rows.map((r) => ({ ...r, seq: Number(r.seq) }));
      }),
    );
  }

  /**
   * The usage or inspection records `v` may see (`recordVisible`: its sites, and unless cleared
   * nothing made by or naming export-controlled equipment), one page.
   */
  async query(v: Viewer, q: TraceableQuery): Promise<TraceableResultRow[]> {
    const tenantId = v.tenantId;
    const seen = recordVisible(v);
    const where = ['t.tenant_id = ?', 't.kind = ?', seen.sql];
    const params: SqlParam[] = [tenantId, q.kind, ...seen.params];
    const filter = (sql: string, v: string | undefined) => {
      if (v === undefined) return;
      where.push(sql);
      params.push(v);
    };
    filter('t.site_id = ?', q.siteId);
    filter('t.equipment = ?', q.equipment);
    filter('t.part_serial = ?', q.partSerial);
    filter('t.work_order = ?', q.workOrder);
    filter('t.result = ?', q.result);
    filter('t.observed_at >= ?', q.from);
    filter('t.observed_at < ?', q.to);
    if (q.after) {
      where.push('(t.observed_at, t.edge_id, t.seq) > (?, ?, ?)');
      params.push(q.after.observedAt, q.after.edge, q.after.seq);
    }
    params.push(q.limit);
    return this.db.withTenant(tenantId, () =>
      this.db.all<TraceableResultRow>(
        `SELECT ${COLS} FROM traceable_records t ${JOIN_RECORD} WHERE ${where.join(' AND ')}
         ORDER BY t.observed_at, t.edge_id, t.seq LIMIT ?`,
        params,
      ),
    );
  }

  /**
   * The traceable_records row `t` of each record_gauges row `g`, for a page read in g's order. On
   * PostgreSQL a LATERAL read per row (`OFFSET 0` keeps the planner from flattening it), so that it
   * walks record_gauges' index in page order and stops at the page's end: as a plain join it
   * misjudges how many rows match (1 where a failed gauge's window holds 50,000) and hashes the
   * whole window first (588 ms against 48 ms for a page of 1,000 at 1 M records). SQLite reads
   * the join in order already, and has no LATERAL.
   */
  private recordOfGauge(): string {
    return this.db.dialect === 'postgres'
      ? `CROSS JOIN LATERAL (SELECT x.* FROM traceable_records x WHERE x.tenant_id = g.tenant_id
           AND x.edge_id = g.edge_id AND x.seq = g.seq AND x.observed_at = g.observed_at OFFSET 0) t`
      : `JOIN traceable_records t ON t.tenant_id = g.tenant_id AND t.edge_id = g.edge_id AND t.seq = g.seq
           AND t.observed_at = g.observed_at`;
  }

  /**
   * Usage and inspection records made with `tag` (as the record's equipment, among an
   * inspection's gauges, or by a rig while `tag` was installed in one of its positions) observed
   * in (start, end]; start null = from the beginning, end null = now and later. Each record once
   * (as 'equipment' before 'gauge' before 'position'), in (observed_at, edge, seq) order. As `v`
   * may see them (`recordVisible`): only records sent by edges of its sites, and records made by
   * or naming export-controlled equipment (the rig the instrument sat on, another gauge) only for
   * a cleared viewer (`wholeTenant`: every record, a case's own bookkeeping, never shown as such).
   */
  async suspect(
    v: Reader,
    tag: string,
    start: string | null,
    end: string | null,
    after: { observedAt: string; edge: string; seq: number } | undefined,
    limit: number,
  ): Promise<SuspectRow[]> {
    const tenantId = v.tenantId;
    const a = suspectWindow(v, 't', start, end, after);
    const b = suspectWindow(v, 'g', start, end, after, 't');
    const c = suspectWindow(v, 't', start, end, after);
    return this.db.withTenant(tenantId, () =>
      this.db.all<SuspectRow>(
        // Each side ordered and cut to the page on its own (by its index, stopping at the page's
        // end), then the pages merged: neither database pushes the outer LIMIT into a UNION.
        `SELECT * FROM (
           SELECT * FROM (
             SELECT ${COLS}, 'equipment' AS via, CAST(NULL AS TEXT) AS position
             FROM traceable_records t ${JOIN_RECORD}
             WHERE t.tenant_id = ? AND t.equipment = ?${a.sql}
             ORDER BY t.observed_at, t.edge_id, t.seq LIMIT ?) a
           UNION ALL
           SELECT * FROM (
             SELECT ${GAUGE_COLS}, 'gauge' AS via, CAST(NULL AS TEXT) AS position FROM record_gauges g
             ${this.recordOfGauge()}
             ${JOIN_RECORD}
             WHERE g.tenant_id = ? AND g.gauge = ? AND t.equipment <> ?${b.sql}
             ORDER BY g.observed_at, g.edge_id, g.seq LIMIT ?) b
           UNION ALL
           SELECT * FROM (
             SELECT ${COLS}, 'position' AS via, i.equipment || ' / ' || i.position AS position
             FROM ${INSTALLED_IN} ${JOIN_RECORD}
             WHERE i.tenant_id = ? AND i.device = ? AND t.equipment <> ? AND ${NOT_AS_GAUGE}${c.sql}
             ORDER BY t.observed_at, t.edge_id, t.seq LIMIT ?) c
         ) s ORDER BY observed_at, edge_id, seq LIMIT ?`,
        [
          tenantId,
          tag,
          ...a.params,
          limit,
          tenantId,
          tag,
          tag,
          ...b.params,
          limit,
          tenantId,
          tag,
          tag,
          ...c.params,
          limit,
          limit,
        ],
      ),
    );
  }

  /**
   * How many records suspect() lists for this tag and window as `v` may see them (each record
   * once; the same scope, so that a count never exceeds what the viewer can list).
   */
  async countSuspect(v: Reader, tag: string, start: string | null, end: string | null): Promise<number> {
    const tenantId = v.tenantId;
    const a = suspectWindow(v, 't', start, end);
    const b = suspectWindow(v, 'g', start, end, undefined, 't');
    const c = suspectWindow(v, 't', start, end);
    const r = await this.db.withTenant(tenantId, () =>
      this.db.get<{ a: number | string; b: number | string; c: number | string }>(
        `SELECT (SELECT COUNT(*) FROM traceable_records t WHERE t.tenant_id = ? AND t.equipment = ?${a.sql}) AS a,
                (SELECT COUNT(*) FROM record_gauges g
                   JOIN traceable_records t ON t.tenant_id = g.tenant_id AND t.edge_id = g.edge_id AND t.seq = g.seq
                     AND t.observed_at = g.observed_at
                   WHERE g.tenant_id = ? AND g.gauge = ? AND t.equipment <> ?${b.sql}) AS b,
                (SELECT COUNT(*) FROM ${INSTALLED_IN}
                   WHERE i.tenant_id = ? AND i.device = ? AND t.equipment <> ? AND ${NOT_AS_GAUGE}${c.sql}) AS c`,
        [tenantId, tag, ...a.params, tenantId, tag, tag, ...b.params, tenantId, tag, tag, ...c.params],
      ),
    );
    return Number(r?.a ?? 0) + Number(r?.b ?? 0) + Number(r?.c ?? 0);
  }

  /** Usage cycles counted for `tag` after `since` (null: ever), of the records `v` may see. */
  async cyclesSince(v: Reader, tag: string, since: string | null): Promise<number> {
    const seen = visibleSql(v, { site: 'site_id', tag: 'equipment' });
    const row = await this.db.withTenant(v.tenantId, () =>
      this.db.get<{ n: number | string | null }>(
        `SELECT SUM(cycles) AS n FROM traceable_records
         WHERE tenant_id = ? AND equipment = ? AND kind = 'usage' AND ${seen.sql}${since ? ' AND observed_at > ?' : ''}`,
        [v.tenantId, tag, ...seen.params, ...(since ? [since] : [])],
      ),
    );
    return Number(row?.n ?? 0);
  }

  /**
   * First inspections per rig, site and UTC quarter hour ("2026-12-06T21:45"): among parts whose
   * first inspection (ever, for this tenant) falls in [from, to), how many there were and how many
   * passed it. Fine
   * enough to place them in any site's shifts (every time zone's offset is a multiple of 15
   * minutes), coarse enough that the rows follow the rigs and days, not the parts. Whole quarter
   * hours of the range are read from the rollup (yield_quarters, kept by insert()); a range end
   * inside a quarter hour has that part of its quarter counted from the inspections. In
   * (equipment, site, quarter) order. For a reader not cleared for export-controlled data, a rig
   * with an inspection in the range that names a flagged gauge has no rows
   * (rigsNamingFlaggedGaugesSql), as a flagged rig has none (`visibleSql`).
   */
  async firstPassYieldByQuarter(v: Viewer, q: YieldQuery): Promise<YieldQuarter[]> {
    const rows = await this.yieldQuarters(v, q);
    if (v.cleared || rows.length === 0) return rows;
    const named = rigsNamingFlaggedGaugesSql(v.tenantId, q.from, q.to);
    const rigs = await this.db.withTenant(v.tenantId, () =>
      this.db.all<{ equipment: string }>(named.sql, named.params),
    );
    if (rigs.length === 0) return rows;
    const withheld = new Set(rigs.map((r) => r.equipment));
    return rows.filter((r) => !withheld.has(r.equipment));
  }

  private async yieldQuarters(v: Viewer, q: YieldQuery): Promise<YieldQuarter[]> {
    const tenantId = v.tenantId;
    const from = quarterBounds(q.from);
    const to = quarterBounds(q.to);
    // A time not in the normalised form, or a range within one quarter hour: from the inspections.
    if (!from || !to || from.ceil >= to.floor) return this.firstPassYieldFromInspections(v, q);
    const rows: YieldQuarter[] = [];
    if (q.from < from.ceil)
      rows.push(...(await this.firstPassYieldFromInspections(v, { ...q, to: from.ceil })));
    if (to.floor < q.to)
      rows.push(...(await this.firstPassYieldFromInspections(v, { ...q, from: to.floor })));
    const seen = visibleSql(v, { site: 'y.site_id', tag: 'y.equipment' });
    const where = ['y.tenant_id = ?', 'y.quarter >= ?', 'y.quarter < ?', 'y.tested > 0', seen.sql];
    const params: SqlParam[] = [tenantId, from.ceil.slice(0, 16), to.floor.slice(0, 16), ...seen.params];
    if (q.siteId) {
      where.push('y.site_id = ?');
      params.push(q.siteId);
    }
    if (q.equipment) {
      where.push('y.equipment = ?');
      params.push(q.equipment);
    }
    const rollup = `FROM yield_quarters y WHERE ${where.join(' AND ')}`;
    const read = () =>
      this.db.dialect === 'sqlite'
        ? // node-sqlite3 builds each row's object a string at a time: a tenant's 30 days (~41,000
          // rows at 10 M records) come ~2× quicker as one JSON array (BENCHMARKS.md).
          this.db
            .get<{ quarters: string | null }>(
              `SELECT json_group_array(json_array(y.equipment, y.site_id, y.quarter, y.tested, y.passed)) AS quarters ${rollup}`,
              params,
            )
            .then((r) =>
              (JSON.parse(r?.quarters ?? '[]') as [string, string, string, number, number][]).map(
                ([equipment, siteId, quarter, tested, passed]) => ({
                  equipment,
                  siteId,
                  quarter,
                  tested,
                  passed,
                }),
              ),
            )
        : this.db
            .all<QuarterRow>(`SELECT y.equipment, y.site_id, y.quarter, y.tested, y.passed ${rollup}`, params)
            .then(toQuarters);
    // Not push(...): a year of a large tenant is more rows than a call takes arguments.
    return inOrder(rows.concat(await this.db.withTenant(tenantId, read)));
  }

  /**
   * firstPassYieldByQuarter counted from the inspections themselves (each inspection of the range
   * checked against its part's first): the definition the rollup keeps, and what reads the ends
   * of a range that fall inside a quarter hour. In (equipment, site, quarter) order.
   */
  async firstPassYieldFromInspections(v: Viewer, q: YieldQuery): Promise<YieldQuarter[]> {
    const tenantId = v.tenantId;
    const seen = visibleSql(v, { site: 't.site_id', tag: 't.equipment' });
    const where = ['t.tenant_id = ?', 't.observed_at >= ?', 't.observed_at < ?', seen.sql];
    const params: SqlParam[] = [tenantId, q.from, q.to, ...seen.params];
    if (q.siteId) {
      where.push('t.site_id = ?');
      params.push(q.siteId);
    }
    if (q.equipment) {
      where.push('t.equipment = ?');
      params.push(q.equipment);
    }
    const rows = await this.db.withTenant(tenantId, () =>
      // A part's first inspection time is read from part_firsts per inspection of the range, so
      // the cost follows the range, not the tenant's whole history (nor its months).
      this.db.all<QuarterRow>(firstInspectionsSql(where.join(' AND ')), params),
    );
    return inOrder(toQuarters(rows));
  }
}

interface QuarterRow {
  equipment: string;
  site_id: string;
  quarter: string;
  tested: number | string;
  passed: number | string;
}

function toQuarters(rows: readonly QuarterRow[]): YieldQuarter[] {
  return rows.map((r) => ({
    equipment: r.equipment,
    siteId: r.site_id,
    quarter: r.quarter,
    tested: Number(r.tested),
    passed: Number(r.passed),
  }));
}

/** Quarters in (equipment, site, quarter) order. */
function inOrder(rows: YieldQuarter[]): YieldQuarter[] {
  return rows.sort(
    (a, b) =>
      compareText(a.equipment, b.equipment) ||
      compareText(a.siteId, b.siteId) ||
      compareText(a.quarter, b.quarter),
  );
}

const NORMALISED = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/**
 * The quarter-hour boundaries around a normalised ISO time ("…T21:52:10.000Z": floor "…T21:45:00.000Z",
 * ceil "…T22:00:00.000Z"), as normalised times; undefined for any other text.
 */
function quarterBounds(at: string): { floor: string; ceil: string } | undefined {
  if (!NORMALISED.test(at)) return undefined;
  const ms = Date.parse(at);
  if (!Number.isFinite(ms)) return undefined;
  const floor = ms - (((ms % 900_000) + 900_000) % 900_000);
  const iso = (t: number) => new Date(t).toISOString();
  const out = { floor: iso(floor), ceil: iso(floor === ms ? ms : floor + 900_000) };
  return NORMALISED.test(out.floor) && NORMALISED.test(out.ceil) ? out : undefined;
}
