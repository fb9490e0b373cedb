import type { Db } from '../platform/db/db.js';
import { insertChunkedReturning, insertStatement } from '../platform/db/insert-chunked.js';
import { visibleSql, type Viewer } from '../access/index.js';
import { recordVisibleSql } from '../export-control/index.js';

/** The latest value of one telemetry point of one piece of equipment, as last reported by an edge. */
export interface LivePointRow {
  edge_id: string;
  equipment: string;
  point: string;
  site_id: string;
  /** JSON text of the value (number, boolean, string or null). */
  value: string;
  unit: string | null;
  quality: 'good' | 'uncertain' | 'bad';
  observed_at: string;
}

/** What a rig is doing, from its latest usage record, and when anything was last heard from it. */
export interface LiveRigRow {
  edge_id: string;
  equipment: string;
  site_id: string;
  /** From the latest usage record: null until one arrives. */
  state: 'running' | 'stopped' | null;
  state_since: string | null;
  /** observedAt of the usage record that set `state`. */
  state_at: string | null;
  last_seen_at: string;
  operator: string | null;
  work_order: string | null;
  part_serial: string | null;
  /** JSON of the latest signal dictionary its telemetry carried (migration 65), and when. */
  signals: string | null;
  signals_at: string | null;
  /** JSON of its latest completed test (inspection), and when. */
  last_test: string | null;
  last_test_at: string | null;
}

/** Rows per multi-row statement: well inside SQLite's 32766 and PostgreSQL's 65535 parameters. */
const CHUNK = 500;

/** What a batch says of one rig: its state, signals and last test null when the batch has none. */
export type LiveRigMerge = Omit<LiveRigRow, 'state_since'>;

/** A rig as stored after a merge, with whether its equipment had telemetry stored before it. */
export interface LiveRigMerged {
  equipment: string;
  state_at: string | null;
  signals: string | null;
  last_test: string | null;
  telemetry: boolean;
}

const POINT_COLUMNS = 'tenant_id, edge_id, equipment, point, site_id, value, unit, quality, observed_at';

/** A point's value: newer wins (an older value arriving late, from a replayed buffer, is not written). */
const POINT_MERGE = `ON CONFLICT (tenant_id, edge_id, equipment, point) DO UPDATE SET
  value = excluded.value, unit = excluded.unit, quality = excluded.quality, observed_at = excluded.observed_at
  WHERE excluded.observed_at >= live_points.observed_at`;

const RIG_COLUMNS =
  'tenant_id, edge_id, equipment, site_id, state, state_since, state_at, last_seen_at, operator, work_order, part_serial, signals, signals_at, last_test, last_test_at';

/** The batch's usage state is at least as new as the stored one. */
const NEWER_STATE = `(excluded.state_at IS NOT NULL AND (live_rigs.state_at IS NULL OR live_rigs.state_at <= excluded.state_at))`;
const NEWER_SIGNALS = `(excluded.signals_at IS NOT NULL AND (live_rigs.signals_at IS NULL OR live_rigs.signals_at <= excluded.signals_at))`;
const NEWER_TEST = `(excluded.last_test_at IS NOT NULL AND (live_rigs.last_test_at IS NULL OR live_rigs.last_test_at <= excluded.last_test_at))`;
const pick = (newer: string, column: string) =>
  `${column} = CASE WHEN ${newer} THEN excluded.${column} ELSE live_rigs.${column} END`;

/**
 * A rig's row, merged: last seen is the later of the two; its state (with who, what work order,
 * what part), signal dictionary and last test each newer-wins; the state keeps its start while it
 * stays the same. Not written when nothing is newer.
 */
const RIG_MERGE = `ON CONFLICT (tenant_id, edge_id, equipment) DO UPDATE SET
  last_seen_at = CASE WHEN excluded.last_seen_at > live_rigs.last_seen_at THEN excluded.last_seen_at ELSE live_rigs.last_seen_at END,
  state_since = CASE WHEN ${NEWER_STATE} THEN
      CASE WHEN live_rigs.state = excluded.state AND live_rigs.state_since IS NOT NULL THEN live_rigs.state_since ELSE excluded.state_at END
    ELSE live_rigs.state_since END,
  ${['state', 'state_at', 'operator', 'work_order', 'part_serial'].map((c) => pick(NEWER_STATE, c)).join(',\n  ')},
  ${['signals', 'signals_at'].map((c) => pick(NEWER_SIGNALS, c)).join(',\n  ')},
  ${['last_test', 'last_test_at'].map((c) => pick(NEWER_TEST, c)).join(',\n  ')}
  WHERE excluded.last_seen_at > live_rigs.last_seen_at OR ${NEWER_STATE} OR ${NEWER_SIGNALS} OR ${NEWER_TEST}`;

/** What RIG_RETURNING gives back: `telemetry` as 0 | 1 (the Db's booleans). */
type RigReturned = Omit<LiveRigMerged, 'telemetry'> & { telemetry: 0 | 1 };

/** Subqueries of a RETURNING clause see the rows as they were before the statement (PostgreSQL). */
const RIG_RETURNING = `equipment, state_at, signals, last_test,
  EXISTS (SELECT 1 FROM live_points p WHERE p.tenant_id = live_rigs.tenant_id AND p.edge_id = live_rigs.edge_id
    AND p.equipment = live_rigs.equipment) AS telemetry`;

/**
 * The live tables (migration 10): the latest value per (edge, equipment, point) and the state per
 * (edge, equipment). Written only inside an edge's ingest transaction, which holds that edge's row
 * lock, so a read-modify-write of an edge's rows cannot race another process.
 */
export class LiveRepository {
  constructor(private readonly db: Db) {}

  /**
   * Writes what a batch says of an edge's points and rigs, merged with the stored rows by the
   * newer-wins rules below, and returns what changed: the points written (a value older than the
   * stored one is not) and the rigs written, as stored after the merge, each with whether its
   * equipment had telemetry stored before. Inside the caller's ingest transaction (which holds
   * the edge's row lock). On PostgreSQL one statement per chunk of CHUNK rows of each table (both
   * upserts as CTEs of it: one statement for a usual batch); on SQLite one statement per table.
   */
  async merge(
    tenantId: string,
    points: readonly LivePointRow[],
    rigs: readonly LiveRigMerge[],
  ): Promise<{ points: { equipment: string; point: string }[]; rigs: LiveRigMerged[] }> {
    if (points.length === 0 && rigs.length === 0) return { points: [], rigs: [] };
    const pointRows = points.map((r) => [
      tenantId,
      r.edge_id,
      r.equipment,
      r.point,
      r.site_id,
      r.value,
      r.unit,
      r.quality,
      r.observed_at,
    ]);
    const rigRows = rigs.map((r) => [
      tenantId,
      r.edge_id,
      r.equipment,
      r.site_id,
      r.state,
      r.state_at,
      r.state_at,
      r.last_seen_at,
      r.operator,
      r.work_order,
      r.part_serial,
      r.signals,
      r.signals_at,
      r.last_test,
      r.last_test_at,
    ]);
    const parse = (rows: readonly RigReturned[]): LiveRigMerged[] =>
      rows.map((r) => ({
        equipment: r.equipment,
        state_at: r.state_at,
        signals: r.signals,
        last_test: r.last_test,
        telemetry: r.telemetry === 1,
      }));
    const pointOpts = { onConflict: POINT_MERGE, rowsPerStatement: CHUNK };
    const rigOpts = { onConflict: RIG_MERGE, rowsPerStatement: CHUNK };
    if (this.db.dialect === 'postgres') {
      // One statement per chunk of each table, both upserts as CTEs of it: one statement for a
      // batch of at most CHUNK points and CHUNK rigs, the fewest statements for a larger one.
      const statements = Math.max(Math.ceil(points.length / CHUNK), Math.ceil(rigs.length / CHUNK));
      const run = async () => {
        const out: { points: { equipment: string; point: string }[]; rigs: LiveRigMerged[] } = {
          points: [],
          rigs: [],
        };
        for (let i = 0; i < statements; i += 1) {
          const ps = pointRows.slice(i * CHUNK, (i + 1) * CHUNK);
          const rs = rigRows.slice(i * CHUNK, (i + 1) * CHUNK);
          const p =
            ps.length > 0
              ? insertStatement('live_points', POINT_COLUMNS, ps, pointOpts, 'equipment, point')
              : undefined;
          const r =
            rs.length > 0 ? insertStatement('live_rigs', RIG_COLUMNS, rs, rigOpts, RIG_RETURNING) : undefined;
          const rows = await this.db.all<{ point: string | null } & RigReturned>(
            `WITH ${[p ? `p AS (${p.sql})` : '', r ? `r AS (${r.sql})` : ''].filter(Boolean).join(', ')}
            ${[
              p
                ? `SELECT point, equipment, NULL::text AS state_at, NULL::text AS signals, NULL::text AS last_test,
                     NULL::boolean AS telemetry FROM p`
                : '',
              r
                ? `SELECT NULL::text AS point, equipment, state_at, signals, last_test, telemetry FROM r`
                : '',
            ]
              .filter(Boolean)
              .join(' UNION ALL ')}`,
            [...(p?.params ?? []), ...(r?.params ?? [])],
          );
          out.points.push(
            ...rows.filter((x) => x.point !== null).map((x) => ({ equipment: x.equipment, point: x.point! })),
          );
          out.rigs.push(...parse(rows.filter((x) => x.point === null)));
        }
        return out;
      };
      // Outside a transaction, several statements get one of their own.
      return statements === 1
        ? this.db.withTenantStatement(tenantId, run)
        : this.db.withTenant(tenantId, run);
    }
    return this.db.withTenant(tenantId, async () => {
      const written = await insertChunkedReturning<{ equipment: string; point: string }>(
        this.db,
        'live_points',
        POINT_COLUMNS,
        pointRows,
        'equipment, point',
        pointOpts,
      );
      const merged = await insertChunkedReturning<RigReturned>(
        this.db,
        'live_rigs',
        RIG_COLUMNS,
        rigRows,
        RIG_RETURNING,
        rigOpts,
      );
      return { points: written, rigs: parse(merged) };
    });
  }

  /** A site's rigs and their latest values, for the live snapshot. */
  async site(v: Viewer, siteId: string): Promise<{ rigs: LiveRigRow[]; points: LivePointRow[] }> {
    const tenantId = v.tenantId;
    const seen = visibleSql(v, { site: 'site_id', tag: 'equipment' });
    return this.db.withTenant(tenantId, async () => ({
      rigs: await this.db.all<LiveRigRow>(
        `SELECT edge_id, equipment, site_id, state, state_since, state_at, last_seen_at, operator, work_order, part_serial,
                signals, signals_at, last_test, last_test_at
         FROM live_rigs WHERE tenant_id = ? AND site_id = ? AND ${seen.sql} ORDER BY equipment, edge_id LIMIT 10000`,
        [tenantId, siteId, ...seen.params],
      ),
      points: await this.db.all<LivePointRow>(
        `SELECT edge_id, equipment, point, site_id, value, unit, quality, observed_at FROM live_points
         WHERE tenant_id = ? AND site_id = ? AND ${seen.sql} ORDER BY equipment, edge_id, point LIMIT 100000`,
        [tenantId, siteId, ...seen.params],
      ),
    }));
  }

  /** Inspections at a site per UTC quarter hour in [from, to): how many, how many passed. */
  async inspectionsByQuarter(
    v: Viewer,
    siteId: string,
    from: string,
    to: string,
  ): Promise<{ quarter: string; count: number; passed: number }[]> {
    const tenantId = v.tenantId;
    // The inspections the reader may see, by the records' one rule (not those naming a flagged
    // gauge, for a reader not cleared).
    const seen = recordVisibleSql(v, 't', 't.site_id', 't.observed_at');
    // Per UTC quarter hour ("2026-12-06T21:45"): the caller folds them into the site's local
    // hours (every time zone's offset is a multiple of 15 minutes).
    const minute = 'substr(t.observed_at, 15, 2)';
    const quarter = `substr(t.observed_at, 1, 14) || CASE WHEN ${minute} < '15' THEN '00' WHEN ${minute} < '30' THEN '15' WHEN ${minute} < '45' THEN '30' ELSE '45' END`;
    const rows = await this.db.withTenant(tenantId, () =>
      this.db.all<{ quarter: string; n: number | string; passed: number | string | null }>(
        `SELECT ${quarter} AS quarter, COUNT(*) AS n,
                SUM(CASE WHEN t.result = 'pass' THEN 1 ELSE 0 END) AS passed
         FROM traceable_records t
         WHERE t.tenant_id = ? AND t.site_id = ? AND t.kind = 'inspection' AND t.observed_at >= ? AND t.observed_at < ?
           AND ${seen.sql}
         GROUP BY ${quarter}`,
        [tenantId, siteId, from, to, ...seen.params],
      ),
    );
    return rows.map((r) => ({ quarter: r.quarter, count: Number(r.n), passed: Number(r.passed ?? 0) }));
  }

  /** Database reachable: one round trip. */
  async ping(): Promise<void> {
    await this.db.get('SELECT 1 AS ok');
  }
}
