import type { Db } from '../platform/db/db.js';
import { insertChunked } from '../platform/db/insert-chunked.js';
import { visibleSql, type Viewer } from '../access/index.js';

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

/**
 * The live tables (migration 10): the latest value per (edge, equipment, point) and the state per
 * (edge, equipment). Written only inside an edge's ingest transaction, which holds that edge's row
 * lock, so a read-modify-write of an edge's rows cannot race another process.
 */
export class LiveRepository {
  constructor(private readonly db: Db) {}

  async points(tenantId: string, edgeId: string, equipment: readonly string[]): Promise<LivePointRow[]> {
    if (equipment.length === 0) return [];
    return this.db.withTenant(tenantId, () =>
      this.db.all<LivePointRow>(
        `SELECT edge_id, equipment, point, site_id, value, unit, quality, observed_at FROM live_points
         WHERE tenant_id = ? AND edge_id = ? AND equipment IN (${equipment.map(() => '?').join(', ')})`,
        [tenantId, edgeId, ...equipment],
      ),
    );
  }

  async rigs(tenantId: string, edgeId: string, equipment: readonly string[]): Promise<LiveRigRow[]> {
    if (equipment.length === 0) return [];
    return this.db.withTenant(tenantId, () =>
      this.db.all<LiveRigRow>(
        `SELECT edge_id, equipment, site_id, state, state_since, state_at, last_seen_at, operator, work_order, part_serial,
                signals, signals_at, last_test, last_test_at
         FROM live_rigs WHERE tenant_id = ? AND edge_id = ? AND equipment IN (${equipment.map(() => '?').join(', ')})`,
        [tenantId, edgeId, ...equipment],
      ),
    );
  }

  async upsertPoints(tenantId: string, rows: readonly LivePointRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.db.withTenant(tenantId, async () => {
      // The WHERE keeps a newer value if an older one arrives late (a replayed buffer).
      await insertChunked(
        this.db,
        'live_points',
        'tenant_id, edge_id, equipment, point, site_id, value, unit, quality, observed_at',
        rows.map((r) => [
          tenantId,
          r.edge_id,
          r.equipment,
          r.point,
          r.site_id,
          r.value,
          r.unit,
          r.quality,
          r.observed_at,
        ]),
        {
          onConflict: `ON CONFLICT (tenant_id, edge_id, equipment, point) DO UPDATE SET
             value = excluded.value, unit = excluded.unit, quality = excluded.quality,
             observed_at = excluded.observed_at
           WHERE excluded.observed_at >= live_points.observed_at`,
          rowsPerStatement: CHUNK,
        },
      );
    });
  }

  async upsertRigs(tenantId: string, rows: readonly LiveRigRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.db.withTenant(tenantId, async () => {
      await insertChunked(
        this.db,
        'live_rigs',
        'tenant_id, edge_id, equipment, site_id, state, state_since, state_at, last_seen_at, operator, work_order, part_serial, signals, signals_at, last_test, last_test_at',
        rows.map((r) => [
          tenantId,
          r.edge_id,
          r.equipment,
          r.site_id,
          r.state,
          r.state_since,
          r.state_at,
          r.last_seen_at,
          r.operator,
          r.work_order,
          r.part_serial,
          r.signals,
          r.signals_at,
          r.last_test,
          r.last_test_at,
        ]),
        {
          onConflict: `ON CONFLICT (tenant_id, edge_id, equipment) DO UPDATE SET
             state = excluded.state, state_since = excluded.state_since, state_at = excluded.state_at,
             last_seen_at = excluded.last_seen_at, operator = excluded.operator,
             work_order = excluded.work_order, part_serial = excluded.part_serial,
             signals = excluded.signals, signals_at = excluded.signals_at,
             last_test = excluded.last_test, last_test_at = excluded.last_test_at`,
          rowsPerStatement: CHUNK,
        },
      );
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

  /** The tenant's export-controlled equipment tags (what a socket not cleared must not be sent). */
  async flaggedTags(tenantId: string): Promise<Set<string>> {
    const rows = await this.db.withTenantStatement(tenantId, () =>
      this.db.all<{ tag: string }>(
        'SELECT tag FROM equipment WHERE tenant_id = ? AND export_regime IS NOT NULL',
        [tenantId],
      ),
    );
    return new Set(rows.map((r) => r.tag));
  }

  /** Inspections at a site per UTC quarter hour in [from, to): how many, how many passed. */
  async inspectionsByQuarter(
    v: Viewer,
    siteId: string,
    from: string,
    to: string,
  ): Promise<{ quarter: string; count: number; passed: number }[]> {
    const tenantId = v.tenantId;
    const seen = visibleSql(v, { site: 'site_id', tag: 'equipment' });
    // Per UTC quarter hour ("2026-12-06T21:45"): the caller folds them into the site's local
    // hours (every time zone's offset is a multiple of 15 minutes).
    const minute = 'substr(observed_at, 15, 2)';
    const quarter = `substr(observed_at, 1, 14) || CASE WHEN ${minute} < '15' THEN '00' WHEN ${minute} < '30' THEN '15' WHEN ${minute} < '45' THEN '30' ELSE '45' END`;
    const rows = await this.db.withTenant(tenantId, () =>
      this.db.all<{ quarter: string; n: number | string; passed: number | string | null }>(
        `SELECT ${quarter} AS quarter, COUNT(*) AS n,
                SUM(CASE WHEN result = 'pass' THEN 1 ELSE 0 END) AS passed
         FROM traceable_records
         WHERE tenant_id = ? AND site_id = ? AND kind = 'inspection' AND observed_at >= ? AND observed_at < ?
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
