import { visibleSql, type Viewer } from '../access/index.js';
import type { Db, SqlParam } from '../platform/db/db.js';
import { inChunks } from '../platform/db/in-chunks.js';
import {
  CALIBRATION_SITE,
  EFFECTIVE_CALIBRATION,
  calibrationsSeenBy,
  type CalibrationRow,
  type EquipmentRow,
} from '../calibration/index.js';
import { accessLogVisible, mayReadAccessLog } from '../export-control/index.js';
import { keysetPage } from '../platform/db/keyset.js';

/** A report job and, once done, its file's description (the bytes are in report_chunks). */
export interface ReportRow {
  tenant_id: string;
  id: string;
  type: string;
  site_id: string | null;
  period_from: string;
  period_to: string;
  format: string;
  state: 'queued' | 'running' | 'done' | 'failed';
  done: number;
  total: number;
  /** JSON: the audit actor who asked. */
  requested_by: string;
  requested_at: string;
  started_at: string | null;
  heartbeat_at: string;
  finished_at: string | null;
  error: string | null;
  filename: string | null;
  content_type: string | null;
  size: number | null;
  sha256: string | null;
  /** JSON: the checkpoints it was built from. */
  sources: string | null;
  /** JSON: key figures. */
  summary: string | null;
  /** 1: the requester was cleared for export-controlled data. */
  cleared: number;
  /** 1: the file holds export-controlled data (only cleared users may download it). */
  export_controlled: number;
}

export interface DispositionRow {
  tenant_id: string;
  calibration_id: string;
  disposition: string;
  customer_notified: number;
  notes: string | null;
  decided_by: string;
  decided_at: string;
}

/** Stored files are cut into chunks of this size (a row each), written as generation goes. */
export const CHUNK_BYTES = 1024 * 1024;

/**
 * A period's instants [fromIso, toIso); `bySite`: the sites cut on other bounds (a tenant-wide
 * report over sites in different time zones: each zone's sites on their own local days).
 */
export interface PeriodBounds {
  fromIso: string;
  toIso: string;
  bySite?: readonly { sites: readonly string[]; fromIso: string; toIso: string }[];
}

/**
 * SQL for "the row is in the period at its site": `cond` with `at('fromIso')` and `at('toIso')`
 * standing for the period's bounds, written once per set of bounds (`site`: an SQL expression of
 * the row's site; a site named in no `bySite` entry takes `fromIso`/`toIso`).
 */
function inPeriodAt(
  site: string,
  p: PeriodBounds,
  cond: (at: (bound: 'fromIso' | 'toIso') => string) => string,
): { sql: string; params: SqlParam[] } {
  const params: SqlParam[] = [];
  const within = (b: { fromIso: string; toIso: string }) =>
    cond((bound) => {
      params.push(b[bound]);
      return '?';
    });
  const sitesIn = (sites: readonly string[]) => {
    params.push(...sites);
    return `${site} IN (${sites.map(() => '?').join(', ')})`;
  };
  const groups = p.bySite ?? [];
  if (groups.length === 0) return { sql: `(${within(p)})`, params };
  const parts = groups.map((g) => `(${sitesIn(g.sites)} AND ${within(g)})`);
  parts.push(`((${site} IS NULL OR NOT ${sitesIn(groups.flatMap((g) => g.sites))}) AND ${within(p)})`);
  return { sql: `(${parts.join(' OR ')})`, params };
}

/**
 * The reports `v` may see (alias `r`): of its sites (a tenant-wide report, only a reader of every
 * site), and unless cleared none whose file holds export-controlled data, nor the export-access
 * report (it names controlled objects: only for readers of the log, `mayReadAccessLog`).
 */
function reportsVisible(v: Viewer): { sql: string; params: SqlParam[] } {
  const scope = visibleSql(v, { site: 'r.site_id' });
  const parts = [scope.sql];
  const params = [...scope.params];
  if (!v.cleared) {
    parts.push('r.export_controlled = ?');
    params.push(false);
  }
  if (!mayReadAccessLog(v)) parts.push("r.type <> 'export-access'");
  return { sql: parts.join(' AND '), params };
}

const bool = (v: unknown): number => (v === true || v === 1 || v === '1' || v === 't' ? 1 : 0);

/**
 * Reports (migration 8): jobs, their files in chunks, calibration dispositions, and the
 * read-only queries the report builders need. Every statement names its tenant and runs in
 * `withTenant` (row-level security on PostgreSQL).
 */
export class ReportsRepository {
  constructor(private readonly db: Db) {}

  private t<T>(tenantId: string, fn: () => Promise<T>): Promise<T> {
    return this.db.withTenant(tenantId, fn);
  }

  // -- jobs ------------------------------------------------------------------------------------

  async insert(
    r: Pick<
      ReportRow,
      | 'tenant_id'
      | 'id'
      | 'type'
      | 'site_id'
      | 'period_from'
      | 'period_to'
      | 'format'
      | 'state'
      | 'requested_by'
      | 'requested_at'
      | 'heartbeat_at'
      | 'cleared'
    >,
  ): Promise<void> {
    await this.t(r.tenant_id, () =>
      this.db.run(
        `INSERT INTO reports (tenant_id, id, type, site_id, period_from, period_to, format, state, done, total,
           requested_by, requested_at, heartbeat_at, cleared) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?)`,
        [
          r.tenant_id,
          r.id,
          r.type,
          r.site_id,
          r.period_from,
          r.period_to,
          r.format,
          r.state,
          r.requested_by,
          r.requested_at,
          r.heartbeat_at,
          r.cleared === 1,
        ],
      ),
    );
  }

  private static norm(r: ReportRow): ReportRow {
    return { ...r, cleared: bool(r.cleared), export_controlled: bool(r.export_controlled) };
  }

  /** The report, if `v` may see it (`reportsVisible`). */
  async get(v: Viewer, id: string): Promise<ReportRow | undefined> {
    const vis = reportsVisible(v);
    const r = await this.t(v.tenantId, () =>
      this.db.get<ReportRow>(`SELECT r.* FROM reports r WHERE r.tenant_id = ? AND r.id = ? AND ${vis.sql}`, [
        v.tenantId,
        id,
        ...vis.params,
      ]),
    );
    return r ? ReportsRepository.norm(r) : undefined;
  }

  /**
   * The reports `v` may see (`reportsVisible`), newest first; `before` is the (requested_at, id)
   * of the last row of the previous page.
   */
  async list(
    v: Viewer,
    q: { before?: { at: string; id: string } | undefined; limit: number },
  ): Promise<ReportRow[]> {
    const vis = reportsVisible(v);
    const where = ['r.tenant_id = ?', vis.sql];
    const params: SqlParam[] = [v.tenantId, ...vis.params];
    if (q.before) {
      const page = keysetPage('r.requested_at', 'r.id', 'before', q.before);
      where.push(page.sql);
      params.push(...page.params);
    }
    params.push(q.limit);
    const rows = await this.t(v.tenantId, () =>
      this.db.all<ReportRow>(
        `SELECT r.* FROM reports r WHERE ${where.join(' AND ')} ORDER BY r.requested_at DESC, r.id DESC LIMIT ?`,
        params,
      ),
    );
    return rows.map((r) => ReportsRepository.norm(r));
  }

  async start(tenantId: string, id: string, now: string): Promise<boolean> {
    const r = await this.t(tenantId, () =>
      this.db.run(
        "UPDATE reports SET state = 'running', started_at = ?, heartbeat_at = ? WHERE tenant_id = ? AND id = ? AND state = 'queued'",
        [now, now, tenantId, id],
      ),
    );
    return r.changes === 1;
  }

  async progress(tenantId: string, id: string, done: number, total: number, now: string): Promise<void> {
    await this.t(tenantId, () =>
      this.db.run(
        "UPDATE reports SET done = ?, total = ?, heartbeat_at = ? WHERE tenant_id = ? AND id = ? AND state = 'running'",
        [done, total, now, tenantId, id],
      ),
    );
  }

  async heartbeat(tenantId: string, ids: readonly string[], now: string): Promise<void> {
    if (ids.length === 0) return;
    await this.t(tenantId, () =>
      this.db.run(
        `UPDATE reports SET heartbeat_at = ? WHERE tenant_id = ? AND state IN ('queued', 'running')
           AND id IN (${ids.map(() => '?').join(',')})`,
        [now, tenantId, ...ids],
      ),
    );
  }

  async finish(
    tenantId: string,
    id: string,
    f: {
      filename: string;
      contentType: string;
      size: number;
      sha256: string;
      sources: string;
      summary: string;
      total: number;
      exportControlled: boolean;
      now: string;
    },
  ): Promise<boolean> {
    const r = await this.t(tenantId, () =>
      this.db.run(
        `UPDATE reports SET state = 'done', done = ?, total = ?, finished_at = ?, heartbeat_at = ?, filename = ?,
           content_type = ?, size = ?, sha256 = ?, sources = ?, summary = ?, export_controlled = ?
         WHERE tenant_id = ? AND id = ? AND state = 'running'`,
        [
          f.total,
          f.total,
          f.now,
          f.now,
          f.filename,
          f.contentType,
          f.size,
          f.sha256,
          f.sources,
          f.summary,
          f.exportControlled,
          tenantId,
          id,
        ],
      ),
    );
    return r.changes === 1;
  }

  async fail(tenantId: string, id: string, error: string, now: string): Promise<void> {
    await this.t(tenantId, async () => {
      await this.db.run('DELETE FROM report_chunks WHERE tenant_id = ? AND report_id = ?', [tenantId, id]);
      await this.db.run(
        "UPDATE reports SET state = 'failed', error = ?, finished_at = ?, heartbeat_at = ? WHERE tenant_id = ? AND id = ? AND state IN ('queued', 'running')",
        [error, now, now, tenantId, id],
      );
    });
  }

  /**
   * Jobs whose process stopped (no heartbeat since `before`) are failed, so that nobody waits
   * on them forever. Returns their ids. The product's own upkeep: read as `wholeTenant`.
   */
  async failStale(v: Viewer, before: string, now: string): Promise<string[]> {
    const vis = reportsVisible(v);
    const stale = await this.t(v.tenantId, () =>
      this.db.all<{ id: string }>(
        `SELECT r.id FROM reports r WHERE r.tenant_id = ? AND r.state IN ('queued', 'running') AND r.heartbeat_at < ?
           AND ${vis.sql}`,
        [v.tenantId, before, ...vis.params],
      ),
    );
    for (const s of stale)
      await this.fail(
        v.tenantId,
        s.id,
        'generation was interrupted (the cloud process stopped); request it again',
        now,
      );
    return stale.map((s) => s.id);
  }

  async addChunk(tenantId: string, id: string, n: number, data: Buffer): Promise<void> {
    await this.t(tenantId, () =>
      this.db.run('INSERT INTO report_chunks (tenant_id, report_id, n, data) VALUES (?, ?, ?, ?)', [
        tenantId,
        id,
        n,
        data,
      ]),
    );
  }

  /** Chunk `n` of the report's file, if `v` may see the report (`reportsVisible`). */
  async chunk(v: Viewer, id: string, n: number): Promise<Buffer | undefined> {
    const vis = reportsVisible(v);
    const row = await this.t(v.tenantId, () =>
      this.db.get<{ data: Buffer }>(
        `SELECT k.data FROM report_chunks k JOIN reports r ON r.tenant_id = k.tenant_id AND r.id = k.report_id
         WHERE k.tenant_id = ? AND k.report_id = ? AND k.n = ? AND ${vis.sql}`,
        [v.tenantId, id, n, ...vis.params],
      ),
    );
    return row?.data;
  }

  // -- dispositions recorded before out-of-tolerance cases (read-only now) ----------------------

  /** The dispositions of these calibrations, of the equipment `v` sees (as `failedCalibrations`). */
  async dispositions(v: Viewer, ids: readonly string[]): Promise<Map<string, DispositionRow>> {
    const out = new Map<string, DispositionRow>();
    const scope = calibrationsSeenBy(v);
    const rows = await inChunks(ids, 500, (chunk, marks) =>
      this.t(v.tenantId, () =>
        this.db.all<DispositionRow>(
          `SELECT x.* FROM calibration_dispositions x
             JOIN calibrations c ON c.tenant_id = x.tenant_id AND c.id = x.calibration_id ${scope.join}
           WHERE x.tenant_id = ? AND x.calibration_id IN (${marks}) AND ${scope.sql}`,
          [v.tenantId, ...chunk, ...scope.params],
        ),
      ),
    );
    for (const r of rows) out.set(r.calibration_id, { ...r, customer_notified: bool(r.customer_notified) });
    return out;
  }

  // -- what reports read -----------------------------------------------------------------------
  // Tenant-wide rows (the tenant's name and settings, its users, tokens, audit log and security
  // events) belong to no site and no equipment: no scope applies; who may read them is the
  // role's permission. They still take the reader, whose tenant they read.

  async tenantName(v: Viewer): Promise<string | undefined> {
    const r = await this.t(v.tenantId, () =>
      this.db.get<{ name: string }>('SELECT name FROM tenants WHERE id = ?', [v.tenantId]),
    );
    return r?.name;
  }

  /**
   * Each site's IANA time zone, by site id, of the sites `v` sees. Where days fall (a period's
   * bounds, "today" at a site) is the product's calendar, the same whoever reads: read as
   * `wholeTenant`.
   */
  async siteZones(v: Viewer): Promise<Map<string, string>> {
    const scope = visibleSql(v, { site: 'id' });
    const rows = await this.t(v.tenantId, () =>
      this.db.all<{ id: string; time_zone: string }>(
        `SELECT id, time_zone FROM sites WHERE tenant_id = ? AND ${scope.sql}`,
        [v.tenantId, ...scope.params],
      ),
    );
    return new Map(rows.map((r) => [r.id, r.time_zone]));
  }

  /** The site, if `v` sees it. */
  async site(v: Viewer, siteId: string): Promise<{ id: string; name: string } | undefined> {
    const scope = visibleSql(v, { site: 'id' });
    return this.t(v.tenantId, () =>
      this.db.get<{ id: string; name: string }>(
        `SELECT id, name FROM sites WHERE tenant_id = ? AND id = ? AND ${scope.sql}`,
        [v.tenantId, siteId, ...scope.params],
      ),
    );
  }

  /** The last audit entry's seq and witness-signed checkpoint (the log's head). */
  async auditHead(v: Viewer): Promise<{ seq: number; checkpoint: string } | undefined> {
    return this.t(v.tenantId, () =>
      this.db.get<{ seq: number; checkpoint: string }>(
        'SELECT seq, checkpoint FROM audit_log WHERE tenant_id = ? ORDER BY seq DESC LIMIT 1',
        [v.tenantId],
      ),
    );
  }

  /**
   * The edges of the sites `v` sees (of one site with `siteId`), in enrolment order, each with
   * its latest checkpoint (the log's size and root when the report is generated; none yet: null).
   */
  async edgeSources(
    v: Viewer,
    siteId: string | null,
  ): Promise<
    {
      id: string;
      name: string;
      site_id: string;
      size: number | null;
      root: Buffer | null;
      cosigned_note: string | null;
      accepted_at: string | null;
    }[]
  > {
    const scope = visibleSql(v, { site: 'd.site_id' });
    const params: SqlParam[] = [v.tenantId, ...scope.params];
    let site = '';
    if (siteId !== null) {
      site = ' AND d.site_id = ?';
      params.push(siteId);
    }
    return this.t(v.tenantId, () =>
      this.db.all(
        `SELECT d.id, d.name, d.site_id, c.size, c.root, c.cosigned_note, c.accepted_at FROM edges d
           LEFT JOIN checkpoints c ON c.tenant_id = d.tenant_id AND c.edge_id = d.id
             AND c.size = (SELECT MAX(y.size) FROM checkpoints y WHERE y.tenant_id = d.tenant_id AND y.edge_id = d.id)
         WHERE d.tenant_id = ? AND ${scope.sql}${site} ORDER BY d.enrolled_at, d.id`,
        params,
      ),
    );
  }

  private registerWhere(
    v: Viewer,
    q: { siteId: string | null; period: PeriodBounds },
  ): { sql: string; params: SqlParam[] } {
    const inPeriod = inPeriodAt(
      'site_id',
      q.period,
      (at) => `created_at < ${at('toIso')} AND (retired_at IS NULL OR retired_at >= ${at('fromIso')})`,
    );
    const scope = visibleSql(v, { site: 'site_id', regime: 'export_regime' });
    const where = ['tenant_id = ?', inPeriod.sql, scope.sql];
    const params: SqlParam[] = [v.tenantId, ...inPeriod.params, ...scope.params];
    if (q.siteId) {
      where.push('site_id = ?');
      params.push(q.siteId);
    }
    return { sql: where.join(' AND '), params };
  }

  /**
   * Equipment registered before the period ended and not retired before it began (at its site),
   * of a site (null: all) as `v` sees it.
   */
  async countRegister(v: Viewer, q: { siteId: string | null; period: PeriodBounds }): Promise<number> {
    const w = this.registerWhere(v, q);
    const r = await this.t(v.tenantId, () =>
      this.db.get<{ n: number | string }>(`SELECT COUNT(*) AS n FROM equipment WHERE ${w.sql}`, w.params),
    );
    return Number(r?.n ?? 0);
  }

  async registerPage(
    v: Viewer,
    q: {
      siteId: string | null;
      period: PeriodBounds;
      afterTag: string | null;
      limit: number;
    },
  ): Promise<EquipmentRow[]> {
    const w = this.registerWhere(v, q);
    const params = [...w.params];
    let sql = w.sql;
    if (q.afterTag !== null) {
      sql += ' AND tag > ?';
      params.push(q.afterTag);
    }
    params.push(q.limit);
    return this.t(v.tenantId, () =>
      this.db.all<EquipmentRow>(`SELECT * FROM equipment WHERE ${sql} ORDER BY tag LIMIT ?`, params),
    );
  }

  /** Calibrations of these tags before `beforeIso`, by tag then time; of the equipment `v` sees. */
  async calibrationsOf(v: Viewer, tags: readonly string[], beforeIso: string): Promise<CalibrationRow[]> {
    if (tags.length === 0) return [];
    const scope = calibrationsSeenBy(v);
    return this.t(v.tenantId, () =>
      this.db.all<CalibrationRow>(
        `SELECT c.* FROM calibrations c ${scope.join}
         WHERE c.tenant_id = ? AND c.calibrated_at < ? AND ${EFFECTIVE_CALIBRATION}
           AND c.equipment IN (${tags.map(() => '?').join(',')}) AND ${scope.sql}
         ORDER BY c.equipment, c.calibrated_at, c.id`,
        [v.tenantId, beforeIso, ...tags, ...scope.params],
      ),
    );
  }

  async dueSoonDefault(v: Viewer): Promise<number | undefined> {
    const r = await this.t(v.tenantId, () =>
      this.db.get<{ due_soon_days: number }>(
        'SELECT due_soon_days FROM calibration_settings WHERE tenant_id = ?',
        [v.tenantId],
      ),
    );
    return r?.due_soon_days;
  }

  /**
   * Calibrations in the period (at their site) that show the instrument out of tolerance (failed
   * as found, or left failing), with the site of the equipment (or of the edge that sent it).
   */
  /** Calibrations failed in the period, of a site (null: all), of the equipment `v` sees. */
  async failedCalibrations(
    v: Viewer,
    q: { siteId: string | null; period: PeriodBounds },
  ): Promise<(CalibrationRow & { site_id: string | null })[]> {
    const tenantId = v.tenantId;
    const scope = calibrationsSeenBy(v);
    const inPeriod = inPeriodAt(
      CALIBRATION_SITE,
      q.period,
      (at) => `c.calibrated_at >= ${at('fromIso')} AND c.calibrated_at < ${at('toIso')}`,
    );
    const params: SqlParam[] = [tenantId, ...inPeriod.params, ...scope.params];
    let site = '';
    if (q.siteId) {
      site = ` AND ${CALIBRATION_SITE} = ?`;
      params.push(q.siteId);
    }
    return this.t(tenantId, () =>
      this.db.all<CalibrationRow & { site_id: string | null }>(
        `SELECT c.*, ${CALIBRATION_SITE} AS site_id FROM calibrations c ${scope.join}
         WHERE c.tenant_id = ? AND ${inPeriod.sql} AND ${scope.sql}
           AND (c.as_found = 'fail' OR COALESCE(c.as_left, c.as_found) = 'fail') AND ${EFFECTIVE_CALIBRATION}${site}
         ORDER BY c.calibrated_at, c.id`,
        params,
      ),
    );
  }

  async users(v: Viewer): Promise<Record<string, unknown>[]> {
    return this.t(v.tenantId, () =>
      this.db.all<Record<string, unknown>>('SELECT * FROM users WHERE tenant_id = ? ORDER BY email', [
        v.tenantId,
      ]),
    );
  }

  async securityPolicy(v: Viewer): Promise<{ mfa_required_roles: string } | undefined> {
    return this.t(v.tenantId, () =>
      this.db.get<{ mfa_required_roles: string }>(
        'SELECT mfa_required_roles FROM tenant_security WHERE tenant_id = ?',
        [v.tenantId],
      ),
    );
  }

  async apiTokens(
    v: Viewer,
  ): Promise<{ name: string; created_at: string; revoked_at: string | null; token_hash: string }[]> {
    return this.t(v.tenantId, () =>
      this.db.all<{ name: string; created_at: string; revoked_at: string | null; token_hash: string }>(
        'SELECT name, created_at, revoked_at, token_hash FROM api_tokens WHERE tenant_id = ? ORDER BY created_at',
        [v.tenantId],
      ),
    );
  }

  /** Successful sign-ins per actor ("user:<id>"): the last ever, and how many in [fromIso, toIso). */
  async signIns(
    v: Viewer,
    fromIso: string,
    toIso: string,
  ): Promise<Map<string, { last: string | null; inPeriod: number }>> {
    const rows = await this.t(v.tenantId, () =>
      this.db.all<{ actor: string; last: string | null; n: number | string }>(
        `SELECT actor, MAX(at) AS last, SUM(CASE WHEN at >= ? AND at < ? THEN 1 ELSE 0 END) AS n
         FROM audit_log WHERE tenant_id = ? AND action = 'auth.login' AND outcome = 'success' GROUP BY actor`,
        [fromIso, toIso, v.tenantId],
      ),
    );
    return new Map(rows.map((r) => [r.actor, { last: r.last, inPeriod: Number(r.n) }]));
  }

  private static ACCOUNT_ACTIONS =
    "(action LIKE 'user.%' OR action LIKE 'mfa.%' OR action LIKE 'security.policy%' OR action LIKE 'auth.password%' OR action LIKE 'apitoken.%' OR action LIKE 'api_token.%')";

  async countAccountChanges(v: Viewer, fromIso: string, toIso: string): Promise<number> {
    const r = await this.t(v.tenantId, () =>
      this.db.get<{ n: number | string }>(
        `SELECT COUNT(*) AS n FROM audit_log WHERE tenant_id = ? AND at >= ? AND at < ? AND ${ReportsRepository.ACCOUNT_ACTIONS}`,
        [v.tenantId, fromIso, toIso],
      ),
    );
    return Number(r?.n ?? 0);
  }

  async accountChanges(
    v: Viewer,
    fromIso: string,
    toIso: string,
    afterSeq: number,
    limit: number,
  ): Promise<{ seq: number; at: string; action: string; outcome: string; entry: string }[]> {
    return this.t(v.tenantId, () =>
      this.db.all<{ seq: number; at: string; action: string; outcome: string; entry: string }>(
        `SELECT seq, at, action, outcome, entry FROM audit_log WHERE tenant_id = ? AND at >= ? AND at < ?
           AND ${ReportsRepository.ACCOUNT_ACTIONS} AND seq > ? ORDER BY seq LIMIT ?`,
        [v.tenantId, fromIso, toIso, afterSeq, limit],
      ),
    );
  }

  async tableExists(name: string): Promise<boolean> {
    const r =
      this.db.dialect === 'postgres'
        ? await this.db.get<{ x: string | null }>('SELECT to_regclass(?)::text AS x', [name])
        : await this.db.get<{ x: string | null }>(
            "SELECT name AS x FROM sqlite_master WHERE type = 'table' AND name = ?",
            [name],
          );
    return !!r?.x;
  }

  /**
   * Maintenance (ISO/IEC 17025 6.4.13 g, h): events since `sinceIso`, active preventive plans,
   * equipment a person has taken out of service and not put back; of a site (null: all), of the
   * equipment `v` sees.
   */
  async maintenanceFigures(
    v: Viewer,
    siteId: string | null,
    sinceIso: string,
  ): Promise<{ events: number; plans: number; outOfService: number }> {
    const tenantId = v.tenantId;
    const scope = visibleSql(v, { site: 'e.site_id', regime: 'e.export_regime' });
    const where = (alias: string) => {
      const parts = [`${alias}.tenant_id = ?`, scope.sql];
      const params: SqlParam[] = [tenantId, ...scope.params];
      if (siteId) {
        parts.push('e.site_id = ?');
        params.push(siteId);
      }
      return { sql: parts.join(' AND '), params };
    };
    const join = (alias: string) =>
      `JOIN equipment e ON e.tenant_id = ${alias}.tenant_id AND e.tag = ${alias}.equipment`;
    const count = async (sql: string, params: SqlParam[]) =>
      Number((await this.t(tenantId, () => this.db.get<{ n: number | string }>(sql, params)))?.n ?? 0);
    const ev = where('m');
    const pl = where('p');
    const sv = where('s');
    return {
      events: await count(
        `SELECT COUNT(*) AS n FROM maintenance_events m ${join('m')} WHERE ${ev.sql} AND m.occurred_at >= ?`,
        [...ev.params, sinceIso],
      ),
      plans: await count(
        `SELECT COUNT(*) AS n FROM maintenance_plans p ${join('p')} WHERE ${pl.sql} AND p.retired_at IS NULL`,
        pl.params,
      ),
      outOfService: await count(
        `SELECT COUNT(*) AS n FROM equipment_service s ${join('s')} WHERE ${sv.sql} AND s.state = 'out'
           AND NOT EXISTS (SELECT 1 FROM equipment_service y WHERE y.tenant_id = s.tenant_id
             AND y.equipment = s.equipment AND (y.at > s.at OR (y.at = s.at AND y.id > s.id)))`,
        sv.params,
      ),
    };
  }

  /** Export-access log rows in [fromIso, toIso) as `v` may see them (export control's scope of the log). */
  async countExportAccess(v: Viewer, fromIso: string, toIso: string): Promise<number> {
    const scope = accessLogVisible(v, 'x');
    const r = await this.t(v.tenantId, () =>
      this.db.get<{ n: number | string }>(
        `SELECT COUNT(*) AS n FROM export_access_log x WHERE x.tenant_id = ? AND x.at >= ? AND x.at < ? AND ${scope.sql}`,
        [v.tenantId, fromIso, toIso, ...scope.params],
      ),
    );
    return Number(r?.n ?? 0);
  }

  async exportAccessPage(
    v: Viewer,
    fromIso: string,
    toIso: string,
    after: { at: string; id: string } | null,
    limit: number,
  ): Promise<Record<string, unknown>[]> {
    const tenantId = v.tenantId;
    const scope = accessLogVisible(v, 'x');
    const params: SqlParam[] = [tenantId, fromIso, toIso, ...scope.params];
    let more = '';
    if (after) {
      const page = keysetPage('x.at', 'x.id', 'after', after);
      more = ` AND ${page.sql}`;
      params.push(...page.params);
    }
    params.push(limit);
    return this.t(tenantId, () =>
      this.db.all<Record<string, unknown>>(
        `SELECT x.*, u.email AS user_email, u.role AS user_role FROM export_access_log x
           LEFT JOIN users u ON u.tenant_id = x.tenant_id AND u.id = x.user_id
         WHERE x.tenant_id = ? AND x.at >= ? AND x.at < ? AND ${scope.sql}${more} ORDER BY x.at, x.id LIMIT ?`,
        params,
      ),
    );
  }

  async countSecurityEvents(v: Viewer, fromIso: string, toIso: string): Promise<number> {
    const r = await this.t(v.tenantId, () =>
      this.db.get<{ n: number | string }>(
        'SELECT COUNT(*) AS n FROM security_events WHERE tenant_id = ? AND at >= ? AND at < ?',
        [v.tenantId, fromIso, toIso],
      ),
    );
    return Number(r?.n ?? 0);
  }

  async securityEventsPage(
    v: Viewer,
    fromIso: string,
    toIso: string,
    afterId: number,
    limit: number,
  ): Promise<
    { id: number; at: string; code: string; edge_id: string | null; address: string | null; detail: string }[]
  > {
    return this.t(v.tenantId, () =>
      this.db.all<{
        id: number;
        at: string;
        code: string;
        edge_id: string | null;
        address: string | null;
        detail: string;
      }>(
        'SELECT id, at, code, edge_id, address, detail FROM security_events WHERE tenant_id = ? AND at >= ? AND at < ? AND id > ? ORDER BY id LIMIT ?',
        [v.tenantId, fromIso, toIso, afterId, limit],
      ),
    );
  }

  /** The clause map's figures: in-service equipment `v` sees, with its cached calendar state. */
  async equipmentStates(
    v: Viewer,
    siteId: string | null,
  ): Promise<
    {
      site_id: string;
      next_due: string | null;
      out_of_tolerance: number;
      due_soon_days: number | null;
      is_reference_standard: number;
    }[]
  > {
    const scope = visibleSql(v, { site: 'site_id', regime: 'export_regime' });
    const params: SqlParam[] = [v.tenantId, ...scope.params];
    let site = '';
    if (siteId) {
      site = ' AND site_id = ?';
      params.push(siteId);
    }
    const rows = await this.t(v.tenantId, () =>
      this.db.all<{
        site_id: string;
        next_due: string | null;
        out_of_tolerance: unknown;
        due_soon_days: number | null;
        is_reference_standard: unknown;
      }>(
        `SELECT site_id, next_due, out_of_tolerance, due_soon_days, is_reference_standard FROM equipment
         WHERE tenant_id = ? AND ${scope.sql} AND retired_at IS NULL${site}`,
        params,
      ),
    );
    return rows.map((r) => ({
      site_id: r.site_id,
      next_due: r.next_due,
      out_of_tolerance: bool(r.out_of_tolerance),
      due_soon_days: r.due_soon_days,
      is_reference_standard: bool(r.is_reference_standard),
    }));
  }

  /** Calibrations since `sinceIso` whose traceability is flagged, of the equipment `v` sees. */
  async flaggedCalibrationsSince(v: Viewer, sinceIso: string, siteId: string | null): Promise<number> {
    const scope = calibrationsSeenBy(v);
    const params: SqlParam[] = [v.tenantId, sinceIso, ...scope.params];
    let site = '';
    if (siteId) {
      site = ` AND ${CALIBRATION_SITE} = ?`;
      params.push(siteId);
    }
    const r = await this.t(v.tenantId, () =>
      this.db.get<{ n: number | string }>(
        `SELECT COUNT(*) AS n FROM calibrations c ${scope.join}
         WHERE c.tenant_id = ? AND c.calibrated_at >= ? AND c.traceability = 'flagged' AND ${scope.sql}${site}`,
        params,
      ),
    );
    return Number(r?.n ?? 0);
  }

  async auditSize(v: Viewer): Promise<number> {
    const r = await this.t(v.tenantId, () =>
      this.db.get<{ size: number }>('SELECT size FROM audit_heads WHERE tenant_id = ?', [v.tenantId]),
    );
    return r?.size ?? 0;
  }

  /** The newest finished integrity report `v` may see (for the clause map). */
  async lastIntegrityReport(v: Viewer): Promise<ReportRow | undefined> {
    const vis = reportsVisible(v);
    return this.t(v.tenantId, () =>
      this.db.get<ReportRow>(
        `SELECT r.* FROM reports r WHERE r.tenant_id = ? AND r.type = 'integrity' AND r.state = 'done' AND ${vis.sql}
         ORDER BY r.finished_at DESC, r.id DESC LIMIT 1`,
        [v.tenantId, ...vis.params],
      ),
    );
  }
}
