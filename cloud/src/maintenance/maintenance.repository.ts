import type { Db, SqlParam } from '../platform/db/db.js';
import { inChunks } from '../platform/db/in-chunks.js';
import { visibleSql, type Viewer } from '../access/index.js';
import { EFFECTIVE_CALIBRATION } from '../calibration/index.js';

export const EVENT_KINDS = ['damage', 'malfunction', 'repair', 'modification', 'preventive'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/** Who did it: the signed-in user, as they were when they did it. */
export interface ByRow {
  user_id: string;
  user_email: string;
  user_name: string;
  user_role: string;
}

/** A maintenance event (migration 55): append-only. */
export interface EventRow extends ByRow {
  tenant_id: string;
  id: string;
  equipment: string;
  kind: EventKind;
  occurred_at: string;
  description: string;
  /** JSON array of { name, partNumber?, quantity? }. */
  parts: string;
  /** 1: the equipment must pass a calibration (after occurred_at) before it is used again. */
  calibration_required: number;
  /** The preventive-maintenance plan whose task this was. */
  plan_id: string | null;
  recorded_at: string;
}

/** A preventive-maintenance plan: a task every `interval_days`, first due on `starts_on`. */
export interface PlanRow {
  tenant_id: string;
  id: string;
  equipment: string;
  task: string;
  interval_days: number;
  starts_on: string;
  created_at: string;
  created_by: string;
  retired_at: string | null;
}

/** A change of the out-of-service state (append-only; the newest one is the state). */
export interface ServiceRow extends ByRow {
  tenant_id: string;
  id: string;
  equipment: string;
  state: 'out' | 'in';
  reason: string;
  at: string;
  /** Joined: the equipment's site (reads only). */
  site_id?: string;
}

/** The newest event of a tag that asks for a calibration, with the calibrations at or after it. */
export interface RequiredRow {
  equipment: string;
  site_id: string;
  event_id: string;
  occurred_at: string;
  kind: EventKind;
  description: string;
  cal_id: string | null;
  calibrated_at: string | null;
  as_found: 'pass' | 'fail' | null;
  as_left: 'pass' | 'fail' | null;
  traceability: 'ok' | 'flagged' | null;
}

const CHUNK = 500;
const JOIN = 'JOIN equipment e ON e.tenant_id = x.tenant_id AND e.tag = x.equipment';

/** The only code with SQL over maintenance_events, maintenance_plans and equipment_service. */
export class MaintenanceRepository {
  constructor(private readonly db: Db) {}

  async insertEvent(r: EventRow): Promise<void> {
    await this.db.withTenant(r.tenant_id, () =>
      this.db.run(
        `INSERT INTO maintenance_events (tenant_id, id, equipment, kind, occurred_at, description, parts,
           calibration_required, plan_id, recorded_at, user_id, user_email, user_name, user_role)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          r.tenant_id,
          r.id,
          r.equipment,
          r.kind,
          r.occurred_at,
          r.description,
          r.parts,
          r.calibration_required,
          r.plan_id,
          r.recorded_at,
          r.user_id,
          r.user_email,
          r.user_name,
          r.user_role,
        ],
      ),
    );
  }

  async insertPlan(r: PlanRow): Promise<void> {
    await this.db.withTenant(r.tenant_id, () =>
      this.db.run(
        `INSERT INTO maintenance_plans (tenant_id, id, equipment, task, interval_days, starts_on, created_at,
           created_by, retired_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          r.tenant_id,
          r.id,
          r.equipment,
          r.task,
          r.interval_days,
          r.starts_on,
          r.created_at,
          r.created_by,
          r.retired_at,
        ],
      ),
    );
  }

  async updatePlan(
    tenantId: string,
    id: string,
    p: { task: string; interval_days: number; starts_on: string; retired_at: string | null },
  ): Promise<void> {
    await this.db.withTenant(tenantId, () =>
      this.db.run(
        'UPDATE maintenance_plans SET task = ?, interval_days = ?, starts_on = ?, retired_at = ? WHERE tenant_id = ? AND id = ?',
        [p.task, p.interval_days, p.starts_on, p.retired_at, tenantId, id],
      ),
    );
  }

  async insertService(r: ServiceRow): Promise<void> {
    await this.db.withTenant(r.tenant_id, () =>
      this.db.run(
        `INSERT INTO equipment_service (tenant_id, id, equipment, state, reason, at, user_id, user_email,
           user_name, user_role) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          r.tenant_id,
          r.id,
          r.equipment,
          r.state,
          r.reason,
          r.at,
          r.user_id,
          r.user_email,
          r.user_name,
          r.user_role,
        ],
      ),
    );
  }

  /** One plan, if `v` may see its equipment (site scope and export control). */
  async plan(v: Pick<Viewer, 'tenantId' | 'sites' | 'cleared'>, id: string): Promise<PlanRow | undefined> {
    const vis = visibleSql(v, { site: 'e.site_id', tag: 'x.equipment' });
    return this.db.withTenant(v.tenantId, () =>
      this.db.get<PlanRow>(
        `SELECT x.* FROM maintenance_plans x ${JOIN} WHERE x.tenant_id = ? AND x.id = ? AND ${vis.sql}`,
        [v.tenantId, id, ...vis.params],
      ),
    );
  }

  /** The viewer's rows of one table for one tag (site scope and export control of its equipment). */
  private async visibleOf<T>(v: Viewer, table: string, tag: string, order: string, extra = ''): Promise<T[]> {
    const vis = visibleSql(v, { site: 'e.site_id', tag: 'x.equipment' });
    return this.db.withTenant(v.tenantId, () =>
      this.db.all<T>(
        `SELECT x.* FROM ${table} x ${JOIN} WHERE x.tenant_id = ? AND x.equipment = ?${extra} AND ${vis.sql} ORDER BY ${order}`,
        [v.tenantId, tag, ...vis.params],
      ),
    );
  }

  /** Events of one piece of equipment, newest first. */
  async events(v: Viewer, tag: string, limit: number): Promise<EventRow[]> {
    return this.visibleOf<EventRow>(
      v,
      'maintenance_events',
      tag,
      `x.occurred_at DESC, x.id DESC LIMIT ${Math.trunc(limit)}`,
    );
  }

  /** Plans of one piece of equipment (retired ones too when asked), oldest first. */
  async plans(v: Viewer, tag: string): Promise<PlanRow[]> {
    return this.visibleOf<PlanRow>(v, 'maintenance_plans', tag, 'x.created_at, x.id');
  }

  /** Out-of-service changes of one piece of equipment, newest first. */
  async serviceHistory(v: Viewer, tag: string): Promise<ServiceRow[]> {
    return this.visibleOf<ServiceRow>(v, 'equipment_service', tag, 'x.at DESC, x.id DESC');
  }

  /**
   * When each plan's task was last done (the newest preventive event naming it), by plan id; with
   * `before` (an instant), only tasks done before it. Of equipment `v` may see.
   */
  async lastDone(
    v: Pick<Viewer, 'tenantId' | 'sites' | 'cleared'>,
    planIds: readonly string[],
    before: string | null = null,
  ): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const vis = visibleSql(v, { site: 'e.site_id', tag: 'x.equipment' });
    const rows = await inChunks(planIds, CHUNK, (chunk, marks) =>
      this.db.withTenant(v.tenantId, () =>
        this.db.all<{ plan_id: string; last: string }>(
          `SELECT x.plan_id, MAX(x.occurred_at) AS last FROM maintenance_events x ${JOIN}
           WHERE x.tenant_id = ? AND x.kind = 'preventive' AND x.plan_id IN (${marks})
             ${before !== null ? 'AND x.occurred_at < ?' : ''} AND ${vis.sql}
           GROUP BY x.plan_id`,
          [v.tenantId, ...chunk, ...(before !== null ? [before] : []), ...vis.params],
        ),
      ),
    );
    for (const r of rows) out.set(r.plan_id, new Date(r.last).toISOString());
    return out;
  }

  /**
   * The newest out-of-service change of each tag (all tags of the viewer when `tags` is null),
   * with the equipment's site. A tag without a change was never taken out of service.
   */
  async latestService(
    v: Pick<Viewer, 'tenantId' | 'sites' | 'cleared'>,
    tags: readonly string[] | null,
  ): Promise<Map<string, ServiceRow>> {
    const out = new Map<string, ServiceRow>();
    const vis = visibleSql(v, { site: 'e.site_id', tag: 'x.equipment' });
    const run = async (filter: string, params: SqlParam[]) => {
      const rows = await this.db.withTenant(v.tenantId, () =>
        this.db.all<ServiceRow>(
          `SELECT x.*, e.site_id AS site_id FROM equipment_service x ${JOIN}
           WHERE x.tenant_id = ?${filter} AND ${vis.sql}
             AND NOT EXISTS (SELECT 1 FROM equipment_service y WHERE y.tenant_id = x.tenant_id
               AND y.equipment = x.equipment AND (y.at > x.at OR (y.at = x.at AND y.id > x.id)))`,
          [v.tenantId, ...params, ...vis.params],
        ),
      );
      for (const r of rows) out.set(r.equipment, r);
    };
    if (tags === null) await run('', []);
    else await inChunks(tags, CHUNK, (chunk, marks) => run(` AND x.equipment IN (${marks})`, chunk));
    return out;
  }

  /**
   * The newest event asking for a calibration before use, per tag (all the viewer's tags when
   * `tags` is null), each with the effective calibrations made at or after it (none: still waiting).
   */
  async calibrationRequired(
    v: Pick<Viewer, 'tenantId' | 'sites' | 'cleared'>,
    tags: readonly string[] | null,
  ): Promise<RequiredRow[]> {
    const out: RequiredRow[] = [];
    const vis = visibleSql(v, { site: 'e.site_id', tag: 'x.equipment' });
    const run = async (filter: string, params: SqlParam[]) => {
      out.push(
        ...(await this.db.withTenant(v.tenantId, () =>
          this.db.all<RequiredRow>(
            `SELECT x.equipment AS equipment, e.site_id AS site_id, x.id AS event_id, x.occurred_at AS occurred_at,
               x.kind AS kind, x.description AS description, c.id AS cal_id, c.calibrated_at AS calibrated_at,
               c.as_found AS as_found, c.as_left AS as_left, c.traceability AS traceability
             FROM maintenance_events x ${JOIN}
             LEFT JOIN calibrations c ON c.tenant_id = x.tenant_id AND c.equipment = x.equipment
               AND c.calibrated_at >= x.occurred_at AND ${EFFECTIVE_CALIBRATION}
             WHERE x.tenant_id = ? AND x.calibration_required = 1${filter} AND ${vis.sql}
               AND NOT EXISTS (SELECT 1 FROM maintenance_events y WHERE y.tenant_id = x.tenant_id
                 AND y.equipment = x.equipment AND y.calibration_required = 1
                 AND (y.occurred_at > x.occurred_at OR (y.occurred_at = x.occurred_at AND y.id > x.id)))
             ORDER BY x.equipment, c.calibrated_at, c.id`,
            [v.tenantId, ...params, ...vis.params],
          ),
        )),
      );
    };
    if (tags === null) await run('', []);
    else await inChunks(tags, CHUNK, (chunk, marks) => run(` AND x.equipment IN (${marks})`, chunk));
    return out;
  }

  /**
   * Plans of the viewer's equipment active at the instant `at` (the board's and the due-list's
   * next preventive task): neither the plan nor its equipment retired before then. Each row
   * carries its equipment's site.
   */
  async activePlans(
    v: Pick<Viewer, 'tenantId' | 'sites' | 'cleared'>,
    at: string,
  ): Promise<(PlanRow & { site_id: string })[]> {
    const vis = visibleSql(v, { site: 'e.site_id', tag: 'x.equipment' });
    return this.db.withTenant(v.tenantId, () =>
      this.db.all<PlanRow & { site_id: string }>(
        `SELECT x.*, e.site_id AS site_id FROM maintenance_plans x ${JOIN}
         WHERE x.tenant_id = ? AND (x.retired_at IS NULL OR x.retired_at >= ?)
           AND (e.retired_at IS NULL OR e.retired_at >= ?) AND ${vis.sql}
         ORDER BY x.equipment, x.id`,
        [v.tenantId, at, at, ...vis.params],
      ),
    );
  }
}
