import { randomUUID } from 'node:crypto';
import { dateSchema, label, text, timestampSchema } from '@rigtrace/protocols';
import { z } from 'zod';
import type { Db } from '../platform/db/db.js';
import { addDays, dueAfter, localDay, startOfLocalDay } from '../platform/time-zone.js';
import type { TenancyRepository } from '../tenancy/index.js';
import { ProblemError, parseOrProblem } from '../platform/errors.js';
import type { AuditService } from '../audit/index.js';
import { wholeTenant, type Viewer } from '../access/index.js';
import type { ExportCaller, ExportControlService } from '../export-control/index.js';
import {
  daysBetween,
  isValid,
  type EquipmentRepository,
  type NextPm,
  type PmReader,
  type PreventiveTasks,
} from '../calibration/index.js';
import {
  EVENT_KINDS,
  type EventKind,
  type EventRow,
  type MaintenanceRepository,
  type PlanRow,
  type RequiredRow,
  type ServiceRow,
} from './maintenance.repository.js';
import { settled } from '../platform/settled.js';
import { committed, emitAfterCommit } from '../platform/after-commit.js';
import type { DomainEventBus } from '../platform/events.js';

/** A preventive task is "due soon" this many days before it is due (or the whole interval, if shorter). */
export const PM_DUE_SOON_DAYS = 7;
/** The newest events shown with the equipment. */
const EVENTS_SHOWN = 500;

const partSchema = z.strictObject({
  name: label(160),
  partNumber: label(80).optional(),
  quantity: z.number().int().min(1).max(100_000).optional(),
});

export const eventSchema = z
  .strictObject({
    kind: z
      .enum(EVENT_KINDS)
      .describe('What happened: damage, malfunction, repair, modification or a preventive task done.'),
    occurredAt: timestampSchema.optional().describe('When it happened (default: now); never in the future.'),
    description: text(4000).describe('What was found or done, in words.'),
    parts: z.array(partSchema).max(100).default([]).describe('Parts replaced or fitted.'),
    calibrationRequired: z
      .boolean()
      .default(false)
      .describe('The equipment must pass a calibration before it is used again (ISO/IEC 17025 6.4.13 h).'),
    planId: z
      .uuid()
      .optional()
      .describe('The preventive-maintenance plan whose task this was (kind "preventive" only).'),
  })
  .refine((e) => e.planId === undefined || e.kind === 'preventive', {
    message: 'only a preventive task names a plan',
    path: ['planId'],
  });

export const planSchema = z.strictObject({
  task: label(200).describe('What is to be done, in words.'),
  intervalDays: z.int().min(1).max(3650).describe('Days between two tasks.'),
  firstDue: dateSchema.optional().describe('When the task is first due (default: today plus the interval).'),
});
export const planPatchSchema = z
  .strictObject({
    task: label(200).optional().describe('What is to be done, in words.'),
    intervalDays: z.int().min(1).max(3650).optional().describe('Days between two tasks.'),
    firstDue: dateSchema.optional().describe('When the task is first due, until it is first done.'),
  })
  .refine((p) => Object.keys(p).length > 0, {
    message: 'change at least one of task, intervalDays, firstDue',
  });

export const outOfServiceSchema = z.strictObject({
  reason: text(2000).describe('Why it may not be used, in words (shown with the equipment).'),
});
export const returnToServiceSchema = z.strictObject({
  note: text(2000).optional().describe('What was done to put it back, in words.'),
});

/** The signed-in person who logs or changes something. */
export interface Person {
  id: string;
  email: string;
  name: string;
  role: string;
}

/**
 * The caller: access's `Caller` (what they may see, their audit actor and address), the route
 * export control's log names (an `ExportCaller`) and, for a signed-in user, the person who logs or
 * changes something.
 */
export type MaintenanceCaller = ExportCaller & { person?: Person };

const byView = (r: { user_id: string; user_email: string; user_name: string; user_role: string }) => ({
  id: r.user_id,
  email: r.user_email,
  name: r.user_name,
  role: r.user_role,
});

export interface EventView {
  id: string;
  equipment: string;
  kind: EventKind;
  occurredAt: string;
  description: string;
  parts: { name: string; partNumber?: string; quantity?: number }[];
  calibrationRequired: boolean;
  planId: string | null;
  recordedAt: string;
  by: Person;
}

export interface PlanView {
  id: string;
  equipment: string;
  task: string;
  intervalDays: number;
  firstDue: string;
  lastDoneAt: string | null;
  nextDue: string | null;
  daysUntilDue: number | null;
  status: 'current' | 'due-soon' | 'overdue' | 'retired';
  createdAt: string;
  createdBy: string;
  retiredAt: string | null;
}

/** Why equipment may not be used now: out of service by hand, or waiting for a passing calibration. */
export interface ServiceStatus {
  /** May not be used (either reason below). */
  outOfService: boolean;
  /** Taken out of service by a person, and not back yet. */
  manual: { since: string; reason: string; by: Person } | null;
  /** The newest event that asked for a calibration before use, and the calibration that met it. */
  calibrationRequired: {
    eventId: string;
    kind: EventKind;
    since: string;
    description: string;
    /** The first valid calibration at or after the event: null while the equipment waits for one. */
    metBy: { id: string; calibratedAt: string } | null;
  } | null;
}

/** One row of the maintenance board: equipment with plans, or not in service. */
export interface BoardItem {
  tag: string;
  siteId: string;
  service: ServiceStatus;
  /** The preventive task due first (active plans only). */
  nextPm: NextPm | null;
}

export function eventView(r: EventRow): EventView {
  return {
    id: r.id,
    equipment: r.equipment,
    kind: r.kind,
    occurredAt: r.occurred_at,
    description: r.description,
    parts: JSON.parse(r.parts) as EventView['parts'],
    calibrationRequired: Number(r.calibration_required) === 1,
    planId: r.plan_id,
    recordedAt: r.recorded_at,
    by: byView(r),
  };
}

/**
 * A plan's next due date: the first due date until the task is done, then the last time plus the
 * interval, counted from the date the task was done in `zone` (its equipment's site), as of the
 * day `asOf` in that site's calendar.
 */
export function planView(p: PlanRow, lastDoneAt: string | null, asOf: string, zone = 'UTC'): PlanView {
  const nextDue = p.retired_at
    ? null
    : lastDoneAt
      ? dueAfter(lastDoneAt, p.interval_days, zone)
      : p.starts_on;
  const days = nextDue === null ? null : daysBetween(asOf, nextDue);
  const soon = Math.min(PM_DUE_SOON_DAYS, p.interval_days);
  return {
    id: p.id,
    equipment: p.equipment,
    task: p.task,
    intervalDays: p.interval_days,
    firstDue: p.starts_on,
    lastDoneAt,
    nextDue,
    daysUntilDue: days,
    status: days === null ? 'retired' : days < 0 ? 'overdue' : days <= soon ? 'due-soon' : 'current',
    createdAt: p.created_at,
    createdBy: p.created_by,
    retiredAt: p.retired_at,
  };
}

/**
 * The preventive task due first of each piece of equipment `v` may see, as of the end of its day:
 * `asOf` (a date in every site's calendar, or each site's date), or else the local day at `now` of
 * the equipment's site, in its zone from `zones` (a site not in it reads as UTC). Plans (and equipment) not
 * retired by the end of that day, each task's last time done by then. The board, the due-list,
 * the due-list report and the reminder digests all read it.
 */
export async function nextPreventive(
  repo: MaintenanceRepository,
  v: PmReader,
  asOf: string | ((siteId: string) => string) | undefined,
  zones: ReadonlyMap<string, string> = new Map(),
  now: number = Date.now(),
): Promise<Map<string, NextPm & { siteId: string }>> {
  const zoneOf = (siteId: string) => zones.get(siteId) ?? 'UTC';
  const dayOf = (siteId: string) =>
    typeof asOf === 'function' ? asOf(siteId) : (asOf ?? localDay(now, zoneOf(siteId)));
  const endOf = (siteId: string) =>
    new Date(startOfLocalDay(addDays(dayOf(siteId), 1), zoneOf(siteId))).toISOString();
  // One read per distinct end of day (the sites of one zone share it; '' stands for a site not in
  // `zones`, read as UTC).
  const ends = [...new Set(['', ...zones.keys()].map(endOf))];
  const plans: (PlanRow & { site_id: string })[] = [];
  const done = new Map<string, string>();
  for (const end of ends) {
    const these = (await repo.activePlans(v, end)).filter((p) => endOf(p.site_id) === end);
    plans.push(...these);
    for (const [id, at] of await repo.lastDone(
      v,
      these.map((p) => p.id),
      end,
    ))
      done.set(id, at);
  }
  const out = new Map<string, NextPm & { siteId: string }>();
  for (const p of plans) {
    // Retired after the date: active on it.
    const pv = planView(
      { ...p, retired_at: null },
      done.get(p.id) ?? null,
      dayOf(p.site_id),
      zoneOf(p.site_id),
    );
    const cur = out.get(p.equipment);
    if (pv.nextDue === null || pv.daysUntilDue === null || pv.status === 'retired') continue;
    if (cur && cur.nextDue <= pv.nextDue) continue;
    out.set(p.equipment, {
      planId: pv.id,
      task: pv.task,
      nextDue: pv.nextDue,
      daysUntilDue: pv.daysUntilDue,
      status: pv.status,
      siteId: p.site_id,
    });
  }
  return out;
}

/** Folds the rows of `calibrationRequired` (one per event and calibration) into one state per tag. */
function requiredByTag(
  rows: readonly RequiredRow[],
): Map<string, NonNullable<ServiceStatus['calibrationRequired']> & { siteId: string }> {
  const out = new Map<string, NonNullable<ServiceStatus['calibrationRequired']> & { siteId: string }>();
  for (const r of rows) {
    let s = out.get(r.equipment);
    if (!s) {
      s = {
        eventId: r.event_id,
        kind: r.kind,
        since: r.occurred_at,
        description: r.description,
        metBy: null,
        siteId: r.site_id,
      };
      out.set(r.equipment, s);
    }
    // The one validity rule of the calibration feature: left in tolerance, its standards fit for use.
    if (
      s.metBy === null &&
      r.cal_id !== null &&
      isValid({
        id: r.cal_id,
        calibratedAt: r.calibrated_at!,
        asFound: r.as_found!,
        asLeft: r.as_left,
        traceability: r.traceability!,
      })
    )
      s.metBy = { id: r.cal_id, calibratedAt: r.calibrated_at! };
  }
  return out;
}

function statusOf(
  manual: ServiceRow | undefined,
  required: (NonNullable<ServiceStatus['calibrationRequired']> & { siteId?: string }) | undefined,
): ServiceStatus {
  const m =
    manual && manual.state === 'out' ? { since: manual.at, reason: manual.reason, by: byView(manual) } : null;
  const c = required
    ? {
        eventId: required.eventId,
        kind: required.kind,
        since: required.since,
        description: required.description,
        metBy: required.metBy,
      }
    : null;
  return { outOfService: m !== null || (c !== null && c.metBy === null), manual: m, calibrationRequired: c };
}

/**
 * Maintenance of equipment (ISO/IEC 17025 6.4.13 g, h): events (damage, malfunction, repair,
 * modification, a preventive task done) with who, when, what and the parts; preventive-maintenance
 * plans with their own intervals; and whether the equipment may be used. It may not while a person
 * has taken it out of service, or while an event asked for a calibration before use and no valid
 * calibration has been made since. Using it then is a tag-out, as for an open out-of-tolerance
 * case: the out-of-tolerance feature raises the alert (server.ts passes it `blocked`).
 */
export class MaintenanceService implements PreventiveTasks {
  constructor(
    private readonly db: Db,
    private readonly repo: MaintenanceRepository,
    private readonly equipment: EquipmentRepository,
    private readonly audit: AuditService,
    /** Export control of the equipment a caller names: refusals audited, accesses logged. */
    private readonly exportControl: Pick<ExportControlService, 'equipmentNamed'>,
    /** Each site's time zone: a plan's "today" is its equipment's site's local day. */
    private readonly tenancy?: Pick<TenancyRepository, 'sites'>,
    /** The time "today" is read from (tests); default the system clock. */
    private readonly clock: () => Date = () => new Date(),
    /** Where a change of whether equipment may be used is announced (the live floor), after the commit. */
    private readonly events?: DomainEventBus,
  ) {}

  /** Each site's IANA time zone, by site id (a site not found reads as UTC). */
  private async zones(tenantId: string): Promise<Map<string, string>> {
    if (!this.tenancy) return new Map();
    return new Map((await this.tenancy.sites(wholeTenant(tenantId))).map((s) => [s.id, s.time_zone]));
  }

  /** The time zone of the site `siteId` (UTC when not found). */
  private async zoneAt(tenantId: string, siteId: string): Promise<string> {
    if (!this.tenancy) return 'UTC';
    return (await this.tenancy.sites(wholeTenant(tenantId), [siteId]))[0]?.time_zone ?? 'UTC';
  }

  /**
   * Equipment the caller may see, else 404 as if absent (another site, or export-controlled and
   * the caller not cleared).
   */
  private async visible(v: Viewer, tag: string) {
    const e = await this.equipment.find(v, tag);
    if (!e) throw new ProblemError('CLOUD_NOT_FOUND', 'no such equipment');
    return e;
  }

  private person(c: MaintenanceCaller): Person {
    if (!c.person) throw new ProblemError('CLOUD_FORBIDDEN', 'only a signed-in person logs maintenance');
    return c.person;
  }

  private async record(
    c: MaintenanceCaller,
    action: string,
    target: { type: string; id: string },
    after: unknown,
    before?: unknown,
  ): Promise<void> {
    await this.audit.record({
      tenantId: c.tenantId,
      action,
      outcome: 'success',
      actor: c.actor,
      address: c.address,
      target,
      ...(before !== undefined ? { before } : {}),
      after,
    });
  }

  // -- reads -----------------------------------------------------------------------------------

  /** Whether each of these tags may be used now (server-side checks; every site, flagged or not). */
  async blocked(
    tenantId: string,
    tags: readonly string[],
  ): Promise<Map<string, { since: string; reason: string; siteId: string | null }>> {
    const all = { tenantId, sites: null, cleared: true };
    const [manual, requiredRows] = await settled([
      this.repo.latestService(all, tags),
      this.repo.calibrationRequired(all, tags),
    ]);
    const required = requiredByTag(requiredRows);
    const out = new Map<string, { since: string; reason: string; siteId: string | null }>();
    for (const tag of tags) {
      const m = manual.get(tag);
      const r = required.get(tag);
      const s = statusOf(m, r);
      if (!s.outOfService) continue;
      // The earlier of the two reasons counts from when it began.
      const reasons: { since: string; reason: string }[] = [];
      if (s.manual) reasons.push({ since: s.manual.since, reason: `out of service: ${s.manual.reason}` });
      if (s.calibrationRequired && s.calibrationRequired.metBy === null)
        reasons.push({
          since: s.calibrationRequired.since,
          reason: `a calibration is required after the ${s.calibrationRequired.kind} of ${s.calibrationRequired.since.slice(0, 10)}`,
        });
      reasons.sort((a, b) => (a.since < b.since ? -1 : 1));
      out.set(tag, {
        since: reasons[0]!.since,
        reason: reasons.map((x) => x.reason).join('; '),
        siteId: m?.site_id ?? r?.siteId ?? null,
      });
    }
    return out;
  }

  /** The maintenance log of one piece of equipment: service state, plans, events, service changes. */
  /** One equipment's maintenance as `c` may read it (export control's check and log first). */
  async get(c: ExportCaller, tag: string, asOfDay?: string) {
    await this.exportControl.equipmentNamed(c, tag);
    return this.view(c, tag, asOfDay);
  }

  private async view(v: Viewer, tag: string, asOfDay?: string) {
    const e = await this.visible(v, tag);
    const zone = await this.zoneAt(v.tenantId, e.site_id);
    const asOf = asOfDay ?? localDay(this.clock().getTime(), zone);
    const [events, plans, history, manual, required] = await Promise.all([
      this.repo.events(v, tag, EVENTS_SHOWN),
      this.repo.plans(v, tag),
      this.repo.serviceHistory(v, tag),
      this.repo.latestService(v, [tag]),
      this.repo.calibrationRequired(v, [tag]),
    ]);
    const done = await this.repo.lastDone(
      v,
      plans.map((p) => p.id),
    );
    const planViews = plans.map((p) => planView(p, done.get(p.id) ?? null, asOf, zone));
    return {
      tag,
      siteId: e.site_id,
      service: statusOf(manual.get(tag), requiredByTag(required).get(tag)),
      nextPm: nextPmOf(planViews),
      plans: planViews,
      events: events.map(eventView),
      serviceHistory: history.map((h) => ({
        id: h.id,
        state: h.state === 'out' ? ('out-of-service' as const) : ('in-service' as const),
        reason: h.reason,
        at: h.at,
        by: byView(h),
      })),
    };
  }

  /**
   * The preventive task due first of each piece of equipment the reader may see, as of `asOf`
   * (a date in the sites' calendars), or else of its own site's local day.
   */
  async nextPmByTag(v: PmReader, asOf?: string): Promise<Map<string, NextPm & { siteId: string }>> {
    return nextPreventive(this.repo, v, asOf, await this.zones(v.tenantId), this.clock().getTime());
  }

  /** Equipment with preventive-maintenance plans or not in service, as the viewer may see it. */
  async board(v: Viewer, q: { site?: string | undefined }, asOf?: string): Promise<{ items: BoardItem[] }> {
    const [pms, manual, requiredRows] = await Promise.all([
      this.nextPmByTag(v, asOf),
      this.repo.latestService(v, null),
      this.repo.calibrationRequired(v, null),
    ]);
    const required = requiredByTag(requiredRows);
    const tags = new Set([...pms.keys(), ...manual.keys(), ...required.keys()]);
    const sites = new Map<string, string>();
    for (const [t, p] of pms) sites.set(t, p.siteId);
    for (const [t, m] of manual) if (m.site_id) sites.set(t, m.site_id);
    for (const [t, r] of required) sites.set(t, r.siteId);
    const missing = [...tags].filter((t) => !sites.has(t));
    for (const t of missing) {
      const e = await this.equipment.find(v, t);
      if (e) sites.set(t, e.site_id);
    }
    const items: BoardItem[] = [];
    for (const tag of [...tags].sort()) {
      const siteId = sites.get(tag);
      if (siteId === undefined || (q.site && siteId !== q.site)) continue;
      const service = statusOf(manual.get(tag), required.get(tag));
      const pm = pms.get(tag);
      const nextPm = pm
        ? {
            planId: pm.planId,
            task: pm.task,
            nextDue: pm.nextDue,
            daysUntilDue: pm.daysUntilDue,
            status: pm.status,
          }
        : null;
      // Equipment back in service whose calibration requirement was met and without plans: nothing to say.
      if (!service.outOfService && nextPm === null) continue;
      items.push({ tag, siteId, service, nextPm });
    }
    return { items };
  }

  // -- writes ----------------------------------------------------------------------------------

  async logEvent(c: MaintenanceCaller, tag: string, raw: unknown) {
    const by = this.person(c);
    // Outside the transaction: a refusal stays on the audit trail when the answer is 404.
    await this.exportControl.equipmentNamed(c, tag);
    return committed(this.db, async () => {
      // Hidden or absent equipment answers 404 before anything about the body.
      const e = await this.visible(c, tag);
      const b = parseOrProblem(eventSchema, raw, 'the maintenance event is not valid');
      const now = new Date().toISOString();
      const occurredAt = b.occurredAt ? new Date(b.occurredAt).toISOString() : now;
      if (occurredAt > now)
        throw new ProblemError('CLOUD_VALIDATION', 'occurredAt must not be in the future', {
          errors: [{ path: 'occurredAt', message: 'must not be in the future' }],
        });
      if (b.planId !== undefined) {
        const p = await this.repo.plan(c, b.planId);
        if (!p || p.equipment !== tag)
          throw new ProblemError('CLOUD_VALIDATION', `planId names no plan of ${tag}`, {
            errors: [{ path: 'planId', message: `no plan of ${tag}` }],
          });
        if (p.retired_at !== null) throw new ProblemError('CLOUD_CONFLICT', 'that plan is retired');
      }
      const row: EventRow = {
        tenant_id: c.tenantId,
        id: randomUUID(),
        equipment: tag,
        kind: b.kind,
        occurred_at: occurredAt,
        description: b.description,
        parts: JSON.stringify(b.parts),
        calibration_required: b.calibrationRequired ? 1 : 0,
        plan_id: b.planId ?? null,
        recorded_at: now,
        user_id: by.id,
        user_email: by.email,
        user_name: by.name,
        user_role: by.role,
      };
      await this.repo.insertEvent(row);
      const view = eventView(row);
      const { id: _id, by: _by, recordedAt: _r, ...after } = view;
      await this.record(c, 'maintenance.event', { type: 'maintenance-event', id: row.id }, after);
      if (b.calibrationRequired)
        emitAfterCommit(this.events, 'equipment.service', {
          tenantId: c.tenantId,
          siteId: e.site_id,
          tag,
        });
      return view;
    });
  }

  async createPlan(c: MaintenanceCaller, tag: string, raw: unknown, asOfDay?: string): Promise<PlanView> {
    const by = this.person(c);
    await this.exportControl.equipmentNamed(c, tag);
    return this.db.transaction(async () => {
      const e = await this.visible(c, tag);
      const zone = await this.zoneAt(c.tenantId, e.site_id);
      const asOf = asOfDay ?? localDay(this.clock().getTime(), zone);
      const b = parseOrProblem(planSchema, raw, 'the maintenance plan is not valid');
      const row: PlanRow = {
        tenant_id: c.tenantId,
        id: randomUUID(),
        equipment: tag,
        task: b.task,
        interval_days: b.intervalDays,
        starts_on: b.firstDue ?? addDays(asOf, b.intervalDays),
        created_at: new Date().toISOString(),
        created_by: by.email,
        retired_at: null,
      };
      await this.repo.insertPlan(row);
      await this.record(
        c,
        'maintenance.plan.create',
        { type: 'maintenance-plan', id: row.id },
        { equipment: tag, task: row.task, intervalDays: row.interval_days, firstDue: row.starts_on },
      );
      return planView(row, null, asOf, zone);
    });
  }

  /** A plan the caller may change: it exists and its equipment is visible to them (404 otherwise). */
  private async planOf(c: MaintenanceCaller, id: string): Promise<PlanRow & { site_id: string }> {
    const p = await this.repo.plan(c, id);
    if (!p) throw new ProblemError('CLOUD_NOT_FOUND', 'no such maintenance plan');
    const e = await this.visible(c, p.equipment).catch(() => {
      throw new ProblemError('CLOUD_NOT_FOUND', 'no such maintenance plan');
    });
    return { ...p, site_id: e.site_id };
  }

  async updatePlan(c: MaintenanceCaller, id: string, raw: unknown, asOfDay?: string): Promise<PlanView> {
    this.person(c);
    return this.db.transaction(async () => {
      const { site_id: siteId, ...p } = await this.planOf(c, id);
      const zone = await this.zoneAt(c.tenantId, siteId);
      const asOf = asOfDay ?? localDay(this.clock().getTime(), zone);
      const b = parseOrProblem(planPatchSchema, raw, 'the maintenance plan change is not valid');
      if (p.retired_at !== null) throw new ProblemError('CLOUD_CONFLICT', 'the plan is retired');
      const next = {
        task: b.task ?? p.task,
        interval_days: b.intervalDays ?? p.interval_days,
        starts_on: b.firstDue ?? p.starts_on,
        retired_at: null,
      };
      await this.repo.updatePlan(c.tenantId, id, next);
      await this.record(
        c,
        'maintenance.plan.update',
        { type: 'maintenance-plan', id },
        { task: next.task, intervalDays: next.interval_days, firstDue: next.starts_on },
        { task: p.task, intervalDays: p.interval_days, firstDue: p.starts_on },
      );
      const done = await this.repo.lastDone(c, [id]);
      return planView({ ...p, ...next }, done.get(id) ?? null, asOf, zone);
    });
  }

  async retirePlan(c: MaintenanceCaller, id: string): Promise<void> {
    this.person(c);
    await this.db.transaction(async () => {
      const p = await this.planOf(c, id);
      if (p.retired_at !== null) return;
      const at = new Date().toISOString();
      await this.repo.updatePlan(c.tenantId, id, {
        task: p.task,
        interval_days: p.interval_days,
        starts_on: p.starts_on,
        retired_at: at,
      });
      await this.record(
        c,
        'maintenance.plan.retire',
        { type: 'maintenance-plan', id },
        { equipment: p.equipment, retiredAt: at },
      );
    });
  }

  /** Takes equipment out of service (409 when it already is, by hand). */
  async takeOutOfService(c: MaintenanceCaller, tag: string, raw: unknown) {
    const by = this.person(c);
    await this.exportControl.equipmentNamed(c, tag);
    return committed(this.db, async () => {
      const e = await this.visible(c, tag);
      const b = parseOrProblem(outOfServiceSchema, raw, 'say why the equipment is out of service');
      const current = (await this.repo.latestService(c, [tag])).get(tag);
      if (current?.state === 'out')
        throw new ProblemError('CLOUD_CONFLICT', `${tag} is already out of service`);
      await this.changeService(c, by, e.site_id, tag, 'out', b.reason);
      return this.view(c, tag);
    });
  }

  /**
   * Puts equipment back in service: refused (409) while an event's calibration requirement is not
   * met, since only a valid calibration ends that.
   */
  async returnToService(c: MaintenanceCaller, tag: string, raw: unknown) {
    const by = this.person(c);
    await this.exportControl.equipmentNamed(c, tag);
    return committed(this.db, async () => {
      const e = await this.visible(c, tag);
      const b = parseOrProblem(returnToServiceSchema, raw ?? {}, 'the return to service is not valid');
      const state = statusOf(
        (await this.repo.latestService(c, [tag])).get(tag),
        requiredByTag(await this.repo.calibrationRequired(c, [tag])).get(tag),
      );
      if (state.calibrationRequired && state.calibrationRequired.metBy === null)
        throw new ProblemError(
          'CLOUD_CONFLICT',
          `${tag} must pass a calibration first: the ${state.calibrationRequired.kind} of ${state.calibrationRequired.since.slice(0, 10)} requires one before use`,
        );
      if (!state.manual) throw new ProblemError('CLOUD_CONFLICT', `${tag} is not out of service`);
      await this.changeService(c, by, e.site_id, tag, 'in', b.note ?? 'back in service');
      return this.view(c, tag);
    });
  }

  private async changeService(
    c: MaintenanceCaller,
    by: Person,
    siteId: string,
    tag: string,
    state: 'out' | 'in',
    reason: string,
  ) {
    const row: ServiceRow = {
      tenant_id: c.tenantId,
      id: randomUUID(),
      equipment: tag,
      state,
      reason,
      at: new Date().toISOString(),
      user_id: by.id,
      user_email: by.email,
      user_name: by.name,
      user_role: by.role,
    };
    await this.repo.insertService(row);
    await this.record(
      c,
      state === 'out' ? 'equipment.out-of-service' : 'equipment.return-to-service',
      { type: 'equipment', id: tag },
      { state: state === 'out' ? 'out-of-service' : 'in-service', reason },
    );
    emitAfterCommit(this.events, 'equipment.service', { tenantId: c.tenantId, siteId, tag });
  }
}

/** The plan due first (retired plans have no next due date). */
function nextPmOf(plans: readonly PlanView[]): BoardItem['nextPm'] {
  let best: NextPm | null = null;
  for (const p of plans)
    if (p.nextDue !== null && p.daysUntilDue !== null && p.status !== 'retired')
      if (best === null || p.nextDue < best.nextDue)
        best = {
          planId: p.id,
          task: p.task,
          nextDue: p.nextDue,
          daysUntilDue: p.daysUntilDue,
          status: p.status,
        };
  return best;
}
