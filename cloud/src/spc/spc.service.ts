import { randomUUID } from 'node:crypto';
import { assetTagSchema, label, timestampSchema, type RigRecord } from '@rigtrace/protocols';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Db } from '../platform/db/db.js';
import { parseOrProblem, ProblemError } from '../platform/errors.js';
import type { AuditEvent } from '../audit/index.js';
import { wholeTenant } from '../access/index.js';
import type { DomainEventBus } from '../platform/events.js';
import type { StoredBatch } from '../records/index.js';
import type { AlertRow, AlertsRepository } from './alerts.repository.js';
import {
  capability,
  chartPoints,
  evaluateRules,
  MAX_SUBGROUP,
  MIN_SUBGROUP,
  phaseOne,
  RULE_DESCRIPTIONS,
  type ChartKind,
  type ControlLimits,
  type RuleSet,
  type Violation,
} from './spc.math.js';
import {
  limitsOf,
  type BaselineRow,
  type Measurement,
  type SpcRepository,
  type SpcViewer,
} from './spc.repository.js';

/** Fewest points (subgroups, or individuals) a baseline may be frozen from (Montgomery advises 20–25). */
export const MIN_BASELINE_POINTS = 10;
/** Most measurements one baseline period may hold (a larger one: freeze a shorter period). */
export const MAX_BASELINE_MEASUREMENTS = 100_000;
/** Capability in the characteristics list: over the latest this many points. */
export const RECENT_POINTS = 25;
/** With this many measurements and no baseline, a characteristic opens on X̄-R in subgroups of 5. */
export const XBAR_R_FROM = 50;
/** Points a chart shows when the page opens (the `limit` it asks GET /spc/chart for). */
export const CHART_POINTS = 50;

/**
 * The chart a characteristic opens on, one rule for the list and the page: its baseline's chart,
 * subgroup size and rules when frozen; else X̄-R of 5 from XBAR_R_FROM measurements, I-MR below.
 */
export function defaultChart(
  b: { chart: ChartKind; subgroup_size: number; rules: RuleSet } | undefined,
  n: number,
): { chart: ChartKind; subgroupSize: number; rules: RuleSet } {
  if (b) return { chart: b.chart, subgroupSize: b.chart === 'i-mr' ? 1 : b.subgroup_size, rules: b.rules };
  return n >= XBAR_R_FROM
    ? { chart: 'xbar-r', subgroupSize: 5, rules: 'western-electric' }
    : { chart: 'i-mr', subgroupSize: 1, rules: 'western-electric' };
}
/** When new data arrives, this many earlier points are read as context for the run rules (N7 spans 15). */
export const RULE_LOOKBACK = 20;
export const ALERT_KIND_SPC = 'spc';

/**
 * Who is asking (access's `Viewer`): the caller's tenant, its sites and its export clearance.
 * The repositories apply both in their queries.
 */
export type Scope = SpcViewer;

function parse<T extends z.ZodType>(schema: T, value: unknown, what: string): z.output<T> {
  return parseOrProblem(schema, value, `${what} are not valid`);
}

const chartKind = z.enum(['xbar-r', 'i-mr']);
const ruleSet = z.enum(['western-electric', 'nelson']);
const subgroupSize = z.coerce.number().int().min(1).max(MAX_SUBGROUP);
const characteristicName = label(64);
const siteId = z.string().min(1).max(128);

/** The subgroup size a chart uses: 1 for I-MR (any size given is ignored), else 2..10. */
function sizeFor(chart: ChartKind, n: number | undefined, ctx: z.RefinementCtx | undefined): number {
  if (chart === 'i-mr') return 1;
  const size = n ?? 5;
  if (size < MIN_SUBGROUP && ctx)
    ctx.addIssue({
      code: 'custom',
      path: ['subgroupSize'],
      message: `must be ${MIN_SUBGROUP}..${MAX_SUBGROUP} for an X̄-R chart`,
    });
  return size;
}

export const chartQuerySchema = z
  .strictObject({
    equipment: assetTagSchema.describe('the rig (asset tag)'),
    characteristic: characteristicName.describe('e.g. full-load.quantity'),
    chart: chartKind.default('xbar-r'),
    subgroupSize: subgroupSize.optional().describe('X̄-R only (ignored for I-MR); default 5'),
    rules: ruleSet.optional().describe('default: the baseline’s rule set, else western-electric'),
    from: timestampSchema.optional().describe('observedAt ≥ from'),
    to: timestampSchema.optional().describe('observedAt < to'),
    limit: z.coerce.number().int().min(1).max(1000).default(100).describe('the latest N points'),
  })
  .refine((q) => q.from === undefined || q.to === undefined || Date.parse(q.from) < Date.parse(q.to), {
    message: 'from must be before to',
    path: ['from'],
  })
  .transform((q, ctx) => ({ ...q, subgroupSize: sizeFor(q.chart, q.subgroupSize, ctx) }));

export const characteristicsQuerySchema = z.strictObject({
  siteId: siteId.optional(),
  equipment: assetTagSchema.optional().describe('the rig (asset tag)'),
});

export const baselineBodySchema = z
  .strictObject({
    equipment: assetTagSchema,
    characteristic: characteristicName,
    chart: chartKind,
    subgroupSize: z.int().min(1).max(MAX_SUBGROUP).optional(),
    rules: ruleSet.default('western-electric'),
    from: timestampSchema,
    to: timestampSchema,
  })
  .refine((b) => Date.parse(b.from) < Date.parse(b.to), { message: 'from must be before to', path: ['from'] })
  .transform((b, ctx) => ({ ...b, subgroupSize: sizeFor(b.chart, b.subgroupSize, ctx) }));

export const alertsQuerySchema = z.strictObject({
  siteId: siteId.optional(),
  state: z.enum(['open', 'acknowledged', 'all']).default('open'),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z
    .string()
    .max(200)
    .transform((c, ctx) => {
      const d = decodeAlertCursor(c);
      if (!d) ctx.addIssue({ code: 'custom', message: 'a cursor from a previous page (next)' });
      return d;
    })
    .optional()
    .describe('the `next` of the previous page'),
});

function encodeAlertCursor(r: { at: string; id: string }): string {
  return Buffer.from(JSON.stringify([r.at, r.id]), 'utf8').toString('base64url');
}

function decodeAlertCursor(c: string): { at: string; id: string } | undefined {
  try {
    const v = JSON.parse(Buffer.from(c, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string')
      return { at: v[0], id: v[1] };
  } catch {
    // not a cursor
  }
  return undefined;
}

const normalizeTime = (t: string): string => new Date(t).toISOString();

// ---------------------------------------------------------------------------------------------
// Views.

export function baselineView(b: BaselineRow, siteId: string | null) {
  return {
    id: b.id,
    equipment: b.equipment,
    characteristic: b.characteristic,
    siteId,
    chart: b.chart,
    subgroupSize: b.subgroup_size,
    rules: b.rules,
    from: b.from_at,
    to: b.to_at,
    frozenAt: b.frozen_at,
    frozenBy: b.frozen_by,
    limits: limitsOf(b),
    sigmaWithin: b.sigma_within,
    sigmaOverall: b.sigma_overall,
    mean: b.mean,
    points: b.points,
    measurements: b.measurements,
  };
}

export function alertView(a: AlertRow) {
  return {
    id: a.id,
    siteId: a.site_id,
    kind: a.kind,
    severity: a.severity,
    message: a.message,
    at: a.at,
    tag: a.tag,
    ...(a.characteristic !== null ? { characteristic: a.characteristic } : {}),
    ...(a.rule !== null ? { rule: a.rule } : {}),
    ...(a.chart !== null ? { chart: a.chart } : {}),
    ...(a.point_at !== null ? { pointAt: a.point_at } : {}),
    acknowledgedAt: a.acknowledged_at,
    acknowledgedBy: a.acknowledged_by,
    ...caseOfAlert(a.detail),
  };
}

/** `{ caseId }` when an alert's detail names its out-of-tolerance case (else nothing). */
export function caseOfAlert(detail: string): { caseId?: string } {
  try {
    const d = JSON.parse(detail) as { caseId?: unknown };
    return typeof d.caseId === 'string' ? { caseId: d.caseId } : {};
  } catch {
    return {};
  }
}
export type AlertView = ReturnType<typeof alertView>;

const nullLimits = { center: null, ucl: null, lcl: null, rangeCenter: null, rangeUcl: null, rangeLcl: null };

export interface SpcServiceOptions {
  logger: Logger;
  /** Where raised alerts are announced (after commit). */
  events?: DomainEventBus;
  /** The tenant audit trail: baseline freezes, raised and acknowledged alerts. */
  audit?: { record(e: AuditEvent): Promise<number> };
}

/**
 * SPC on inspection characteristics: measurements indexed at ingest, X̄-R and I-MR charts with
 * limits from a frozen baseline (else from the data shown), capability, and run-rule alerts
 * raised when new inspection data violates a frozen baseline's rules.
 */
export class SpcService {
  private readonly logger: Logger;
  private readonly events: DomainEventBus | undefined;
  private readonly audit: SpcServiceOptions['audit'];
  private pending = new Set<Promise<unknown>>();

  constructor(
    private readonly db: Db,
    private readonly repo: SpcRepository,
    private readonly alerts: AlertsRepository,
    opts: SpcServiceOptions,
  ) {
    this.logger = opts.logger;
    this.events = opts.events;
    this.audit = opts.audit;
  }

  // -- ingest ----------------------------------------------------------------------------------

  /**
   * The ingest hook: runs inside the ingest transaction after the batch's records are stored and
   * indexes every characteristic of every inspection record as one measurement. Idempotent.
   */
  async onRecordsStored(
    tenantId: string,
    edge: { id: string; siteId: string },
    records: readonly RigRecord[],
  ): Promise<void> {
    const rows: Measurement[] = [];
    for (const r of records) {
      if (r.kind !== 'inspection') continue;
      const observedAt = normalizeTime(r.observedAt);
      r.body.characteristics.forEach((c, idx) =>
        rows.push({
          edgeId: edge.id,
          seq: r.seq,
          idx,
          siteId: edge.siteId,
          equipment: r.equipment,
          characteristic: c.name,
          observedAt,
          measured: c.measured,
          unit: c.unit,
          nominal: c.nominal ?? null,
          lsl: c.lsl ?? null,
          usl: c.usl ?? null,
        }),
      );
    }
    if (rows.length) await this.repo.insertMeasurements(tenantId, rows);
  }

  /**
   * The SPC projection's after-commit step: starts evaluating the run rules on a committed batch
   * (`evaluateBatch`) without waiting for it; `idle` waits for it. Never throws: a failure is logged.
   */
  evaluateAfterCommit(e: StoredBatch): void {
    const p = this.evaluateBatch(e)
      .catch((err: unknown) =>
        this.logger.error({ err, tenant: e.tenantId, edge: e.edgeId }, 'SPC rule evaluation failed'),
      )
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  /** Resolves when every evaluation started so far has finished (shutdown, tests). */
  async idle(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }

  /**
   * Raises one alert per new rule violation on the characteristics of `records` that have a
   * frozen baseline. A point is evaluated once its subgroup is complete; points are counted from
   * the baseline's `to` (monitoring starts where the baseline period ends). Only points holding
   * a measurement of this batch raise alerts, a run rule that already fired at the previous
   * point does not raise again (one alert per run), and a (baseline, rule, chart, point) raises
   * at most once however often it is evaluated. The product's own work on every site's data:
   * the baseline and the measurements are read as the whole tenant.
   */
  async evaluateBatch(e: StoredBatch): Promise<AlertView[]> {
    const touched = new Map<string, { equipment: string; characteristic: string; keys: Set<string> }>();
    for (const r of e.records) {
      if (r.kind !== 'inspection') continue;
      r.body.characteristics.forEach((c, idx) => {
        const k = JSON.stringify([r.equipment, c.name]);
        const t = touched.get(k) ?? {
          equipment: r.equipment,
          characteristic: c.name,
          keys: new Set<string>(),
        };
        t.keys.add(`${e.edgeId}:${r.seq}:${idx}`);
        touched.set(k, t);
      });
    }
    const raised: AlertView[] = [];
    for (const t of touched.values()) {
      const baseline = await this.repo.currentBaseline(
        wholeTenant(e.tenantId),
        t.equipment,
        t.characteristic,
      );
      if (!baseline) continue;
      raised.push(...(await this.evaluateCharacteristic(e.tenantId, e.siteId, baseline, t.keys)));
    }
    return raised;
  }

  private async evaluateCharacteristic(
    tenantId: string,
    siteId: string,
    b: BaselineRow,
    newKeys: ReadonlySet<string>,
  ): Promise<AlertView[]> {
    const n = b.chart === 'i-mr' ? 1 : b.subgroup_size;
    const want = (RULE_LOOKBACK + Math.ceil(newKeys.size / n) + 2) * n;
    const { rows, total } = await this.repo.tailSince(
      wholeTenant(tenantId),
      b.equipment,
      b.characteristic,
      b.to_at,
      want,
    );
    // Align to subgroups counted from the baseline's end: the first fetched row has index
    // total - rows.length in that sequence.
    const first = total - rows.length;
    const start = Math.ceil(first / n) * n - first;
    const end = Math.floor(total / n) * n - first;
    if (end - start < n) return [];
    const used = rows.slice(start, end);
    const keyOf = (r: (typeof rows)[number]) => `${r.edge_id}:${r.seq}:${r.idx}`;
    const groups: (typeof rows)[] = [];
    for (let i = 0; i < used.length; i += n) groups.push(used.slice(i, i + n));
    const points = chartPoints(
      used.map((r) => r.measured),
      b.chart,
      n,
    );
    const violations = evaluateRules(points, limitsOf(b), b.rules);
    const fired = new Set(violations.map((v) => `${v.index}:${v.rule}:${v.chart}`));
    const raised: AlertView[] = [];
    for (const v of violations) {
      const group = groups[v.index]!;
      if (!group.some((r) => newKeys.has(keyOf(r)))) continue;
      const isRuleOne = v.rule === 'WE1' || v.rule === 'N1';
      if (!isRuleOne && fired.has(`${v.index - 1}:${v.rule}:${v.chart}`)) continue;
      const last = group[group.length - 1]!;
      const alert = await this.raise(tenantId, siteId, b, v, points[v.index]!, last.observed_at, keyOf(last));
      if (alert) raised.push(alert);
    }
    return raised;
  }

  private async raise(
    tenantId: string,
    siteId: string,
    b: BaselineRow,
    v: Violation,
    point: { value: number; range: number | null },
    pointAt: string,
    pointKey: string,
  ): Promise<AlertView | undefined> {
    const xbar = b.chart === 'xbar-r';
    const chartName = v.chart === 'x' ? (xbar ? 'X̄' : 'individuals') : xbar ? 'R' : 'moving range';
    const value = v.chart === 'x' ? point.value : point.range;
    const row: AlertRow = {
      id: randomUUID(),
      site_id: siteId,
      kind: ALERT_KIND_SPC,
      severity: v.rule === 'WE1' || v.rule === 'N1' ? 'critical' : 'warning',
      message: `${b.equipment} ${b.characteristic}: ${RULE_DESCRIPTIONS[v.rule]} (${v.rule}, ${chartName} chart, value ${
        value === null ? '-' : Number(value.toPrecision(6))
      } at ${pointAt})`,
      at: new Date().toISOString(),
      tag: b.equipment,
      characteristic: b.characteristic,
      rule: v.rule,
      chart: v.chart,
      point_at: pointAt,
      detail: JSON.stringify({ baseline: b.id, point: pointKey, value, chart: b.chart }),
      acknowledged_at: null,
      acknowledged_by: null,
    };
    const stored = await this.db.transaction(async () => {
      const ok = await this.alerts.insert(tenantId, {
        ...row,
        dedupeKey: `spc:${b.id}:${v.rule}:${v.chart}:${pointKey}`,
      });
      if (ok)
        await this.audit?.record({
          tenantId,
          action: 'spc.alert.raised',
          outcome: 'success',
          actor: { type: 'system', id: 'spc' },
          target: { type: 'alert', id: row.id },
          detail: row.message,
        });
      return ok;
    });
    if (!stored) return undefined;
    this.events?.emit('alert', {
      tenantId,
      siteId,
      id: row.id,
      kind: row.kind,
      severity: row.severity,
      message: row.message,
      at: row.at,
      tag: b.equipment,
    });
    return alertView(row);
  }

  // -- reads -----------------------------------------------------------------------------------

  private async visibleCharacteristic(scope: Scope, equipment: string, characteristic: string) {
    const c = await this.repo.characteristic(scope, equipment, characteristic);
    if (!c) throw new ProblemError('CLOUD_NOT_FOUND', 'no such characteristic');
    return c;
  }

  /** Every characteristic the caller may see, with its baseline, recent capability and open alerts. */
  async characteristics(scope: Scope, raw: unknown) {
    const q = parse(characteristicsQuerySchema, raw, 'query parameters');
    const rows = await this.repo.characteristics(scope, q);
    const baselines = new Map(
      (await this.repo.currentBaselines(scope, q.equipment)).map((b) => [
        JSON.stringify([b.equipment, b.characteristic]),
        b,
      ]),
    );
    const open = await this.alerts.openCounts(scope, ALERT_KIND_SPC);
    const items = [];
    for (const c of rows) {
      const key = JSON.stringify([c.equipment, c.characteristic]);
      const b = baselines.get(key);
      const view = defaultChart(b, Number(c.n));
      const { chart, subgroupSize: n } = view;
      const recent = await this.repo.measurements(scope, c.equipment, c.characteristic, {
        limit: RECENT_POINTS * (chart === 'i-mr' ? 4 : n),
      });
      const values = recent.map((r) => r.measured);
      const p = phaseOne(values, chart, n);
      const cap = capability(values, p?.sigmaWithin ?? null, c.lsl, c.usl);
      // The chart the page opens on, drawn the way the page draws it: the same flagged points there.
      const drawn = await this.draw(scope, c, b, {
        chart,
        n,
        rules: view.rules,
        limit: CHART_POINTS,
      });
      const flaggedPoints = new Set(drawn.violations.map((v) => v.index)).size;
      items.push({
        siteId: c.site_id,
        equipment: c.equipment,
        characteristic: c.characteristic,
        unit: c.unit,
        nominal: c.nominal,
        lsl: c.lsl,
        usl: c.usl,
        n: Number(c.n),
        lastAt: c.last_at,
        baseline: b
          ? {
              id: b.id,
              frozenAt: b.frozen_at,
              frozenBy: b.frozen_by,
              from: b.from_at,
              to: b.to_at,
              chart: b.chart,
              subgroupSize: b.subgroup_size,
              rules: b.rules,
            }
          : null,
        cpk: cap.cpk,
        ppk: cap.ppk,
        openViolations: open.get(key) ?? 0,
        view: { ...view, points: CHART_POINTS },
        flaggedPoints,
      });
    }
    return { items };
  }

  /**
   * One chart: points (X̄ and R of consecutive subgroups, oldest first, a trailing incomplete
   * subgroup left out; or individuals and moving ranges), the limits (the frozen baseline's when
   * it is for this chart and subgroup size, else computed from the points shown), capability of
   * the measurements shown, and the run-rule violations.
   */
  async chart(scope: Scope, raw: unknown) {
    const q = parse(chartQuerySchema, raw, 'query parameters');
    const c = await this.visibleCharacteristic(scope, q.equipment, q.characteristic);
    const n = q.subgroupSize;
    const baseline = await this.repo.currentBaseline(scope, q.equipment, q.characteristic);
    const rules: RuleSet = q.rules ?? baseline?.rules ?? 'western-electric';
    const d = await this.draw(scope, c, baseline ?? undefined, {
      chart: q.chart,
      n,
      rules,
      limit: q.limit,
      from: q.from && normalizeTime(q.from),
      to: q.to && normalizeTime(q.to),
    });
    return {
      equipment: q.equipment,
      characteristic: q.characteristic,
      siteId: c.site_id,
      unit: c.unit,
      chart: q.chart,
      subgroupSize: n,
      rules,
      points: d.points,
      limits: { ...(d.limits ?? nullLimits), source: d.fits ? ('baseline' as const) : ('data' as const) },
      baseline: baseline ? baselineView(baseline, c.site_id) : null,
      capability: d.capability,
      violations: d.violations,
    };
  }

  /**
   * One chart of a characteristic, as GET /spc/chart draws it and the list counts its flagged
   * points: the last `limit` points (a trailing incomplete subgroup left out), the baseline's
   * limits when it is for this chart and subgroup size, else limits computed from those points.
   */
  private async draw(
    scope: Scope,
    c: { equipment: string; characteristic: string; lsl: number | null; usl: number | null },
    baseline: BaselineRow | undefined,
    o: {
      chart: ChartKind;
      n: number;
      rules: RuleSet;
      limit: number;
      from?: string | undefined;
      to?: string | undefined;
    },
  ) {
    const { chart, n } = o;
    const rows = await this.repo.measurements(scope, c.equipment, c.characteristic, {
      from: o.from,
      to: o.to,
      limit: o.limit * n,
    });
    const used = rows.slice(0, Math.floor(rows.length / n) * n);
    const values = used.map((r) => r.measured);
    const pts = chartPoints(values, chart, n);
    const fits = baseline !== undefined && baseline.chart === chart && baseline.subgroup_size === n;
    const fromData = phaseOne(values, chart, n);
    const limits: ControlLimits | null = fits ? limitsOf(baseline) : (fromData?.limits ?? null);
    return {
      points: pts.map((p, i) => ({ at: used[(i + 1) * n - 1]!.observed_at, ...p })),
      limits,
      fits,
      capability: capability(values, fromData?.sigmaWithin ?? null, c.lsl, c.usl),
      violations: limits ? evaluateRules(pts, limits, o.rules) : [],
    };
  }

  // -- baselines -------------------------------------------------------------------------------

  /**
   * Freezes the limits computed from the measurements of [from, to): stored with who froze
   * them and when, never recomputed (data arriving later for that period does not move them).
   */
  async freezeBaseline(scope: Scope, raw: unknown, frozenBy: string, actor: AuditEvent['actor']) {
    const b = parse(baselineBodySchema, raw, 'the request body');
    const c = await this.visibleCharacteristic(scope, b.equipment, b.characteristic);
    const from = normalizeTime(b.from);
    const to = normalizeTime(b.to);
    const rows = await this.repo.measurements(scope, b.equipment, b.characteristic, {
      from,
      to,
      limit: MAX_BASELINE_MEASUREMENTS + 1,
    });
    const refuse = (message: string) =>
      new ProblemError('CLOUD_VALIDATION', 'the request body is not valid', {
        errors: [{ path: 'from', message }],
      });
    if (rows.length > MAX_BASELINE_MEASUREMENTS)
      throw refuse(
        `the period holds more than ${MAX_BASELINE_MEASUREMENTS} measurements; choose a shorter one`,
      );
    const values = rows.map((r) => r.measured);
    const p = phaseOne(values, b.chart, b.subgroupSize);
    const points = p?.points ?? 0;
    if (!p || points < MIN_BASELINE_POINTS)
      throw refuse(
        `the period holds ${points} ${b.chart === 'i-mr' ? 'measurements' : `complete subgroups of ${b.subgroupSize}`}; a baseline needs at least ${MIN_BASELINE_POINTS}`,
      );
    if (!(p.sigmaWithin > 0))
      throw refuse('the measurements of the period do not vary; limits would be empty');
    const row: BaselineRow = {
      id: randomUUID(),
      equipment: b.equipment,
      characteristic: b.characteristic,
      chart: b.chart,
      subgroup_size: b.subgroupSize,
      rules: b.rules,
      from_at: from,
      to_at: to,
      frozen_at: new Date().toISOString(),
      frozen_by: frozenBy,
      center: p.limits.center,
      ucl: p.limits.ucl,
      lcl: p.limits.lcl,
      range_center: p.limits.rangeCenter,
      range_ucl: p.limits.rangeUcl,
      range_lcl: p.limits.rangeLcl,
      sigma_within: p.sigmaWithin,
      sigma_overall: p.sigmaOverall,
      mean: p.mean,
      points: p.points,
      measurements: p.measurements,
    };
    const view = baselineView(row, c.site_id);
    await this.db.transaction(async () => {
      await this.repo.insertBaseline(scope.tenantId, { ...row, limits: p.limits });
      await this.audit?.record({
        tenantId: scope.tenantId,
        action: 'spc.baseline.freeze',
        outcome: 'success',
        actor,
        target: { type: 'spc-characteristic', id: `${b.equipment}/${b.characteristic}` },
        after: view,
      });
    });
    return view;
  }

  // -- alerts ----------------------------------------------------------------------------------

  async listAlerts(scope: Scope, raw: unknown) {
    const q = parse(alertsQuerySchema, raw, 'query parameters');
    const rows = await this.alerts.list(scope, {
      siteId: q.siteId,
      state: q.state,
      before: q.cursor,
      limit: q.limit,
    });
    const last = rows.at(-1);
    return {
      items: rows.map(alertView),
      next: rows.length === q.limit && last ? encodeAlertCursor(last) : null,
    };
  }

  async acknowledge(scope: Scope, id: string, by: string, actor: AuditEvent['actor']): Promise<AlertView> {
    return this.db.transaction(async () => {
      const a = await this.alerts.get(scope, id);
      if (!a) throw new ProblemError('CLOUD_NOT_FOUND', 'no such alert');
      if (a.acknowledged_at !== null)
        throw new ProblemError(
          'CLOUD_CONFLICT',
          `the alert was acknowledged at ${a.acknowledged_at} by ${a.acknowledged_by}`,
        );
      const at = new Date().toISOString();
      if (!(await this.alerts.acknowledge(scope.tenantId, id, by, at)))
        throw new ProblemError('CLOUD_CONFLICT', 'the alert was acknowledged meanwhile');
      await this.audit?.record({
        tenantId: scope.tenantId,
        action: 'alert.acknowledge',
        outcome: 'success',
        actor,
        target: { type: 'alert', id },
      });
      return alertView({ ...a, acknowledged_at: at, acknowledged_by: by });
    });
  }
}
