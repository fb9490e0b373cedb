import { parseSignedCheckpoint, toBase64 } from '@rigtrace/protocols';
import type { Db } from '../platform/db/db.js';
import { wholeTenant } from '../access/index.js';
import {
  type CalibrationRow,
  type EquipmentRow,
  calendarState,
  calLite,
  daysBetween,
  DEFAULT_DUE_SOON_DAYS,
  dateOf,
  namesPosition,
  statusOn,
  type TraceabilityService,
} from '../calibration/index.js';
import { type RecordsRepository, verifyEdgeLog } from '../records/index.js';
import type { TenancyRepository } from '../tenancy/index.js';
import type { AuditService } from '../audit/index.js';
import type { Coverage, OotService } from '../oot/index.js';
import { mustReadAccessLog, type ExportCaller, type ExportControlService } from '../export-control/index.js';
import type { SuspectRow } from '../production/index.js';
import { addDays, isLocalDate, localDay, periodInstants, startOfLocalDay } from '../platform/time-zone.js';

/**
 * A suspect record as the reports show it: the record's index row, its operator, and whether it
 * names the position the device sat in (`named`, with via position).
 */
type SuspectPageRow = Omit<SuspectRow, 'json'> & { operator: string | null; named: boolean };
import { MaintenanceRepository, nextPreventive } from '../maintenance/index.js';
import type { Witness } from '../platform/witness.js';
import { fmtInt } from './pdf.js';
import type { PeriodBounds, ReportsRepository } from './reports.repository.js';
import {
  keysetSource,
  memorySource,
  REPORT_TITLES,
  type Block,
  type BuiltReport,
  type EdgeSource,
  type PdfColumn,
  type ReportContext,
  type ReportPeriod,
  type ReportType,
  type Row,
  type RowSource,
  type Section,
} from './types.js';

export interface ReportDeps {
  db: Db;
  repo: ReportsRepository;
  tenancy: TenancyRepository;
  records: RecordsRepository;
  traceability: TraceabilityService;
  audit: AuditService;
  witness: Witness;
  /** Out-of-tolerance cases: their decisions and notifications (the out-of-tolerance report). */
  oot: Pick<OotService, 'casesOf'>;
  /** Export control: the flagged equipment, and the log of flagged records a cleared requester is served. */
  exportControl: Pick<ExportControlService, 'flags' | 'logRecordsServed'>;
}

const PAGE = 1000;
const RED = '#b42318';
const AMBER = '#b54708';
const GREEN = '#067647';
const GREY = '#7b8794';

const s = (v: unknown): string =>
  v === null || v === undefined
    ? ''
    : typeof v === 'string'
      ? v
      : typeof v === 'number' || typeof v === 'boolean'
        ? String(v)
        : JSON.stringify(v);
const lines = (...parts: unknown[]): string =>
  parts
    .map(s)
    .filter((p) => p.trim() !== '')
    .join('\n');
const pct = (a: number, b: number): string => (b === 0 ? '-' : `${((a / b) * 100).toFixed(1)} %`);
const minStr = (a: string, b: string) => (a < b ? a : b);
const maxStr = (a: string, b: string) => (a > b ? a : b);

function col(
  header: string,
  width: number,
  key: string | ((r: Row) => string),
  extra: Partial<PdfColumn> = {},
): PdfColumn {
  return { header, width, value: typeof key === 'string' ? (r) => s(r[key]) : key, ...extra };
}

const STATUS_COLOR: Record<string, string> = {
  current: GREEN,
  'due-soon': AMBER,
  overdue: RED,
  'out-of-tolerance': RED,
  retired: GREY,
};

// ---------------------------------------------------------------------------------------------
// Period and context.

/**
 * Dates are whole local days of `zone` (`to` inclusive: from the first day's midnight to the
 * midnight after the last day, 23 or 25 hours on a daylight-saving change); timestamps are
 * instants (`to` exclusive). With `siteZones` naming sites in more than one zone (a tenant-wide
 * report), each site is cut on its own local days (`sites`); `zone` (UTC) and its instants are
 * then those of rows that belong to no site (accounts, sign-ins, the audit log).
 */
export function periodOf(
  from: string,
  to: string,
  zone = 'UTC',
  siteZones: ReadonlyMap<string, string> = new Map(),
): ReportPeriod {
  const { start, end } = periodInstants(from, to, zone);
  const fromIso = new Date(start).toISOString();
  const toExclusiveIso = new Date(end).toISOString();
  const firstDay = isLocalDate(from) ? from : localDay(start, zone);
  const lastDay = isLocalDate(to) ? to : localDay(end - 1, zone);
  const perSite = new Set(siteZones.values()).size > 1;
  const sites = new Map(
    perSite ? [...siteZones].map(([site, z]) => [site, periodOf(from, to, z)] as const) : [],
  );
  const label = !(isLocalDate(from) && isLocalDate(to))
    ? `${fromIso} to ${toExclusiveIso} (exclusive)`
    : perSite
      ? `${from} to ${to} (each site’s local days)`
      : `${from} to ${to}${zone === 'UTC' ? '' : ` (${zone})`}`;
  return { from, to, fromIso, toExclusiveIso, firstDay, lastDay, zone, label, sites };
}

/**
 * A report's period: dates read in the site's time zone for a site's report; tenant-wide, in the
 * zone all the tenant's sites share, or else each site in its own zone (`sites`).
 */
export async function reportPeriod(
  tenancy: Pick<TenancyRepository, 'sites'>,
  tenantId: string,
  siteId: string | null,
  from: string,
  to: string,
): Promise<ReportPeriod> {
  const sites = await tenancy.sites(wholeTenant(tenantId), siteId ? [siteId] : undefined);
  const zones = new Set(sites.map((s) => s.time_zone));
  return zones.size === 1
    ? periodOf(from, to, [...zones][0])
    : periodOf(from, to, 'UTC', new Map(sites.map((s) => [s.id, s.time_zone])));
}

/** The period as a site's rows are cut: its own local days in a report over several zones. */
export const periodAt = (period: ReportPeriod, siteId: string | null): ReportPeriod =>
  (siteId !== null ? period.sites.get(siteId) : undefined) ?? period;

/** A period cut per site for SQL: [fromIso, toIso), and per zone its sites' own bounds. */
function sqlPeriod(period: ReportPeriod): PeriodBounds {
  const byZone = new Map<string, { sites: string[]; fromIso: string; toIso: string }>();
  for (const [site, p] of period.sites) {
    const z = byZone.get(p.zone) ?? { sites: [], fromIso: p.fromIso, toIso: p.toExclusiveIso };
    z.sites.push(site);
    byZone.set(p.zone, z);
  }
  return { fromIso: period.fromIso, toIso: period.toExclusiveIso, bySite: [...byZone.values()] };
}

/** The context of one generation: who, where, when, and the checkpoints read now. */
export async function contextOf(
  deps: ReportDeps,
  tenantId: string,
  siteId: string | null,
  period: ReportPeriod,
  generatedAt: string,
  reader: ExportCaller,
): Promise<ReportContext> {
  const name = await deps.repo.tenantName(reader);
  if (name === undefined) throw new Error(`no tenant ${tenantId}`);
  // A site the reader no longer sees (a requester's scope changed while the job waited) is none.
  const site = siteId ? ((await deps.repo.site(reader, siteId)) ?? null) : null;
  if (siteId && !site) throw new Error(`no site ${siteId} the reader sees in tenant ${tenantId}`);
  const head = await deps.repo.auditHead(reader);
  let root: string | null = null;
  if (head) {
    try {
      root = toBase64(parseSignedCheckpoint(head.checkpoint).checkpoint.root);
    } catch {
      root = null;
    }
  }
  // The edges of the sites the reader sees, with their checkpoints now.
  const edges: EdgeSource[] = (await deps.repo.edgeSources(reader, siteId)).map((e) => ({
    edge: e.id,
    name: e.name,
    siteId: e.site_id,
    size: e.size === null ? 0 : Number(e.size),
    root: e.root ? toBase64(new Uint8Array(e.root)) : null,
    acceptedAt: e.accepted_at,
    checkpoint: e.cosigned_note,
  }));
  const flagged = new Set((await deps.exportControl.flags(tenantId)).keys());
  return {
    tenant: { id: tenantId, name },
    site,
    period,
    generatedAt,
    reader,
    exportScope: { cleared: reader.cleared, flagged, excluding: !reader.cleared && flagged.size > 0 },
    sources: {
      auditLog: {
        origin: deps.audit.origin(tenantId),
        size: head?.seq ?? 0,
        root,
        checkpoint: head?.checkpoint ?? null,
      },
      edges,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Equipment state as of a date, by the calibration engine's own rules.

interface EquipmentState {
  e: EquipmentRow;
  spec: Record<string, unknown>;
  cals: CalibrationRow[];
  /** The day the state is as of: today at the equipment's site, clamped into its period. */
  asOf: string;
  status: string;
  lastValid: CalibrationRow | null;
  last: CalibrationRow | null;
  nextDue: string | null;
  dueSoonDays: number;
  inPeriod: number;
}

/**
 * Today in the period's zone, clamped into the period: the day of `now`, the report's generation
 * time (`ctx.generatedAt`, read from the report service's clock).
 */
const asOfFor = (period: ReportPeriod, now: string) =>
  minStr(period.lastDay, maxStr(localDay(Date.parse(now), period.zone), period.firstDay));

/** Calibrations count up to the end of the as-of day (the period's zone), within the period. */
const cutoffOf = (period: ReportPeriod, now: string) =>
  minStr(
    new Date(startOfLocalDay(addDays(asOfFor(period, now), 1), period.zone)).toISOString(),
    period.toExclusiveIso,
  );

/** The state of `e` from its calibrations, read in `period` (its site's). */
function stateOf(
  e: EquipmentRow,
  all: CalibrationRow[],
  dflt: number,
  period: ReportPeriod,
  now: string,
): EquipmentState {
  const asOf = asOfFor(period, now);
  const cutoff = cutoffOf(period, now);
  const cals = all.filter((c) => c.calibrated_at < cutoff);
  // Due dates count from the calibration's day at the equipment's site: the period's zone is
  // that site's (its own in a report over several zones).
  const state = calendarState(cals.map(calLite), e.interval_days, period.zone);
  const dueSoonDays = e.due_soon_days ?? dflt;
  const retired = e.retired_at !== null && localDay(Date.parse(e.retired_at), period.zone) <= asOf;
  const lastValid = state.lastValid ? (cals.find((c) => c.id === state.lastValid!.id) ?? null) : null;
  return {
    e,
    spec: JSON.parse(e.spec) as Record<string, unknown>,
    cals,
    asOf,
    status: retired ? 'retired' : statusOn(state, asOf, dueSoonDays),
    lastValid,
    last: cals.at(-1) ?? null,
    nextDue: state.nextDue,
    dueSoonDays,
    inPeriod: cals.filter((c) => c.calibrated_at >= period.fromIso).length,
  };
}

/** The register in tag order, each entry's state as of its site's day, a page at a time. */
async function* registerStates(deps: ReportDeps, ctx: ReportContext): AsyncGenerator<EquipmentState[]> {
  const dflt = (await deps.repo.dueSoonDefault(ctx.reader)) ?? DEFAULT_DUE_SOON_DAYS;
  // One read up to the latest cutoff of any site; each entry keeps its own site's.
  const cutoff = [ctx.period, ...ctx.period.sites.values()]
    .map((p) => cutoffOf(p, ctx.generatedAt))
    .reduce(maxStr);
  let after: string | null = null;
  for (;;) {
    const rows: EquipmentRow[] = await deps.repo.registerPage(ctx.reader, {
      siteId: ctx.site?.id ?? null,
      period: sqlPeriod(ctx.period),
      afterTag: after,
      limit: 500,
    });
    if (rows.length === 0) return;
    const cals = await deps.repo.calibrationsOf(
      ctx.reader,
      rows.map((r) => r.tag),
      cutoff,
    );
    const byTag = new Map<string, CalibrationRow[]>();
    for (const c of cals) {
      const l = byTag.get(c.equipment) ?? [];
      l.push(c);
      byTag.set(c.equipment, l);
    }
    yield rows.map((e) =>
      stateOf(e, byTag.get(e.tag) ?? [], dflt, periodAt(ctx.period, e.site_id), ctx.generatedAt),
    );
    if (rows.length < 500) return;
    after = rows.at(-1)!.tag;
  }
}

/**
 * The day a report's figures are as of: today clamped into the period, in the report's zone; over
 * sites in different zones, the latest of the sites' days (each entry keeps its own).
 */
const reportAsOf = (ctx: ReportContext) =>
  ctx.period.sites.size === 0
    ? asOfFor(ctx.period, ctx.generatedAt)
    : [...ctx.period.sites.values()].map((p) => asOfFor(p, ctx.generatedAt)).reduce(maxStr);

/** What the report says when export-controlled equipment is left out for this requester. */
function exportNote(ctx: ReportContext): Block[] {
  if (!ctx.exportScope.excluding) return [];
  return [
    {
      kind: 'paragraph',
      tone: 'alert',
      text: `${fmtInt(ctx.exportScope.flagged.size)} export-controlled (ITAR/EAR) instruments, and the records made with them, are left out: the person who requested this report is not cleared for export-controlled data.`,
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Calibration register (AS9100D 7.1.5.2, ISO/IEC 17025 6.4.13).

function registerRow(st: EquipmentState): Row {
  const sp = st.spec as {
    make?: string;
    model?: string;
    serial?: string;
    firmware?: string;
    location?: string;
    owner?: { kind?: string; name?: string };
    range?: { min: number; max: number; unit: string };
    resolution?: number;
    procedure?: { id: string; revision?: string };
    acceptanceCriteria?: string;
    environment?: string;
    referenceStandard?: {
      certificate?: string;
      dueDate?: string;
      uncertainty?: number;
      uncertaintyUnit?: string;
    };
    exportControl?: { regime?: string; eccn?: string };
  };
  const e = st.e as EquipmentRow & { export_regime?: string | null; export_eccn?: string | null };
  const body = st.lastValid
    ? (JSON.parse(st.lastValid.body) as { certificate?: { number?: string }; technician?: string })
    : null;
  return {
    tag: e.tag,
    siteId: e.site_id,
    type: e.type,
    make: sp.make ?? null,
    model: sp.model ?? null,
    serial: sp.serial ?? null,
    firmware: sp.firmware ?? null,
    location: sp.location ?? null,
    ownerKind: sp.owner?.kind ?? 'company',
    ownerName: sp.owner?.name ?? null,
    rangeMin: sp.range?.min ?? null,
    rangeMax: sp.range?.max ?? null,
    rangeUnit: sp.range?.unit ?? null,
    resolution: sp.resolution ?? null,
    procedureId: sp.procedure?.id ?? null,
    procedureRevision: sp.procedure?.revision ?? null,
    intervalDays: e.interval_days,
    intervalCycles: e.interval_cycles,
    dueSoonDays: st.dueSoonDays,
    acceptanceCriteria: sp.acceptanceCriteria ?? null,
    environment: sp.environment ?? null,
    referenceStandard: e.is_reference_standard === 1 || (e.is_reference_standard as unknown) === true,
    standardCertificate: sp.referenceStandard?.certificate ?? null,
    standardDueDate: sp.referenceStandard?.dueDate ?? null,
    standardUncertainty: sp.referenceStandard?.uncertainty ?? null,
    exportRegime: e.export_regime ?? sp.exportControl?.regime ?? null,
    exportEccn: e.export_eccn ?? sp.exportControl?.eccn ?? null,
    lastCalibrationId: st.last?.id ?? null,
    lastCalibratedAt: st.last?.calibrated_at ?? null,
    lastValidCalibrationId: st.lastValid?.id ?? null,
    lastValidCalibratedAt: st.lastValid?.calibrated_at ?? null,
    lastCertificate: body?.certificate?.number ?? null,
    lastTechnician: body?.technician ?? st.lastValid?.entered_by ?? null,
    nextDue: st.nextDue,
    status: st.status,
    calibrationsInPeriod: st.inPeriod,
    retiredAt: e.retired_at,
  };
}

const REGISTER_FIELDS = Object.keys(
  registerRow({
    e: {
      tag: '',
      site_id: '',
      type: '',
      interval_days: 1,
      interval_cycles: null,
      retired_at: null,
      spec: '{}',
    } as unknown as EquipmentRow,
    spec: {},
    cals: [],
    asOf: '',
    status: '',
    lastValid: null,
    last: null,
    nextDue: null,
    dueSoonDays: 0,
    inPeriod: 0,
  }),
);

const REGISTER_COLUMNS: PdfColumn[] = [
  col('Tag', 11, (r) =>
    lines(
      r.tag,
      r.referenceStandard ? 'reference standard' : '',
      r.exportRegime ? `${s(r.exportRegime)} ${s(r.exportEccn)}` : '',
    ),
  ),
  col('Type, make, model', 10, (r) => lines(r.type, `${s(r.make)} ${s(r.model)}`)),
  col('Serial, firmware', 10, (r) => lines(r.serial, r.firmware ? `FW ${s(r.firmware)}` : '')),
  col('Site, location', 6.5, (r) => lines(r.siteId, r.location)),
  col('Owner', 5.5, (r) => lines(r.ownerKind, r.ownerName)),
  col('Range, resolution', 8, (r) =>
    lines(
      r.rangeMin !== null ? `${s(r.rangeMin)} to ${s(r.rangeMax)} ${s(r.rangeUnit)}` : '',
      r.resolution !== null ? `res. ${s(r.resolution)}` : '',
    ),
  ),
  col('Procedure', 6, (r) =>
    lines(r.procedureId, r.procedureRevision ? `rev. ${s(r.procedureRevision)}` : ''),
  ),
  col('Interval, lead', 6, (r) =>
    lines(
      `${s(r.intervalDays)} d`,
      r.intervalCycles ? `${s(r.intervalCycles)} cycles` : '',
      `lead ${s(r.dueSoonDays)} d`,
    ),
  ),
  col('Acceptance, environment', 12, (r) =>
    lines(r.acceptanceCriteria, r.environment ? `Env.: ${s(r.environment)}` : ''),
  ),
  col('Last valid calibration', 9.5, (r) =>
    lines(
      r.lastValidCalibratedAt ? dateOf(s(r.lastValidCalibratedAt)) : 'none',
      r.lastCertificate ? `cert. ${s(r.lastCertificate)}` : '',
      r.lastTechnician,
    ),
  ),
  col('Next due', 6, (r) => s(r.nextDue) || 'none'),
  col('Status', 8.5, 'status', { color: (r) => STATUS_COLOR[s(r.status)] }),
];

async function calibrationRegister(deps: ReportDeps, ctx: ReportContext): Promise<BuiltReport> {
  const asOf = reportAsOf(ctx);
  const q = {
    siteId: ctx.site?.id ?? null,
    period: sqlPeriod(ctx.period),
  };
  const count = await deps.repo.countRegister(ctx.reader, q);
  const tally: Record<string, number> = {
    current: 0,
    'due-soon': 0,
    overdue: 0,
    'out-of-tolerance': 0,
    retired: 0,
  };
  let standards = 0;
  let calsInPeriod = 0;
  let never = 0;
  for await (const page of registerStates(deps, ctx))
    for (const st of page) {
      tally[st.status] = (tally[st.status] ?? 0) + 1;
      if (st.e.is_reference_standard === 1 || (st.e.is_reference_standard as unknown) === true)
        standards += 1;
      if (!st.lastValid && st.status === 'overdue') never += 1;
      calsInPeriod += st.inPeriod;
    }
  const inService = count - tally.retired!;
  const inCal = tally.current! + tally['due-soon']!;
  const source: RowSource = {
    count,
    async *pages() {
      for await (const page of registerStates(deps, ctx)) yield page.map(registerRow);
    },
  };
  const section: Section = {
    name: 'equipment',
    title: 'Equipment register',
    fields: REGISTER_FIELDS,
    columns: REGISTER_COLUMNS,
    lines: 3,
    empty: 'No equipment is registered for this scope and period.',
    source,
  };
  const summary = {
    asOf,
    instruments: count,
    inService,
    inCalibration: inCal,
    byStatus: tally,
    neverCalibrated: never,
    referenceStandards: standards,
    calibrationsInPeriod: calsInPeriod,
  };
  const blocks: Block[] = [
    ...exportNote(ctx),
    {
      kind: 'paragraph',
      bold: true,
      text: `${fmtInt(inCal)} of ${fmtInt(inService)} instruments in service are in calibration as of ${asOf} (${pct(inCal, inService)}); ${fmtInt(tally.overdue!)} overdue, ${fmtInt(tally['out-of-tolerance']!)} out of tolerance, ${fmtInt(tally['due-soon']!)} due soon.`,
      tone: tally.overdue! + tally['out-of-tolerance']! > 0 ? 'alert' : 'ok',
    },
    {
      kind: 'pairs',
      rows: [
        [
          'Instruments in the register',
          `${fmtInt(count)} (${fmtInt(inService)} in service, ${fmtInt(tally.retired!)} retired during or after the period)`,
        ],
        ['Status as of', `${asOf} (the period's last day, or today if earlier)`],
        [
          'Current / due soon / overdue / out of tolerance',
          `${fmtInt(tally.current!)} / ${fmtInt(tally['due-soon']!)} / ${fmtInt(tally.overdue!)} / ${fmtInt(tally['out-of-tolerance']!)}`,
        ],
        ['Never validly calibrated (counted as overdue)', fmtInt(never)],
        ['Reference standards', fmtInt(standards)],
        ['Calibrations recorded in the period', fmtInt(calsInPeriod)],
      ],
    },
    {
      kind: 'paragraph',
      tone: 'muted',
      text: 'Status follows the calibration engine’s rules (CALIBRATION.md): next due = the last valid calibration (left in tolerance, reference standards fit for use) plus the calendar interval; out of tolerance while a failure has no valid calibration after it; due soon within the recall lead time. Usage-based intervals are not applied here (see GET /equipment/{tag}). Long cell text is cut with “…”: the CSV and JSON formats carry every field in full.',
    },
    { kind: 'table', section },
  ];
  return {
    type: 'calibration-register',
    title: REPORT_TITLES['calibration-register'],
    clauses: 'AS9100D 7.1.5.2 / ISO/IEC 17025 6.4.13 / ISO 9001 7.1.5',
    blocks,
    sections: [section],
    csv: section,
    summary,
  };
}

// ---------------------------------------------------------------------------------------------
// Due and overdue list.

const DUE_FIELDS = [
  'tag',
  'type',
  'siteId',
  'status',
  'lastValidCalibratedAt',
  'nextDue',
  'daysUntilDue',
  'leadTimeDays',
  'recallFrom',
  'intervalDays',
  'pmTask',
  'pmNextDue',
  'pmDaysUntilDue',
  'pmStatus',
  'action',
] as const;

async function dueList(deps: ReportDeps, ctx: ReportContext): Promise<BuiltReport> {
  const asOf = reportAsOf(ctx);
  const horizon = ctx.period.lastDay;
  const rows: Row[] = [];
  // The preventive task due first of each piece of equipment, as of its calibration's date (plans
  // active then, tasks done by then), on its site's local days like its calibration. Scope and
  // export control come from the register rows.
  const pms = await nextPreventive(
    new MaintenanceRepository(deps.db),
    ctx.reader,
    (siteId) => asOfFor(periodAt(ctx.period, siteId), ctx.generatedAt),
    await deps.repo.siteZones(wholeTenant(ctx.tenant.id)),
  );
  for await (const page of registerStates(deps, ctx))
    for (const st of page) {
      if (st.status === 'retired') continue;
      // Each entry on its own site's days (the same dates everywhere for a period of dates).
      const lastDay = periodAt(ctx.period, st.e.site_id).lastDay;
      const attention = st.status === 'overdue' || st.status === 'out-of-tolerance';
      const pm = pms.get(st.e.tag) ?? null;
      const pmDue = pm !== null && (pm.status === 'overdue' || pm.nextDue <= lastDay);
      const calDue = attention || (st.nextDue !== null && st.nextDue <= lastDay);
      if (!calDue && !pmDue) continue;
      const recallFrom = st.nextDue ? addDays(st.nextDue, -st.dueSoonDays) : null;
      const days = st.nextDue ? daysBetween(st.asOf, st.nextDue) : null;
      const calAction =
        st.status === 'out-of-tolerance'
          ? 'out of tolerance: withdraw, assess suspect product'
          : st.nextDue === null
            ? 'never validly calibrated: withdraw until calibrated'
            : st.status === 'overdue'
              ? `overdue by ${-days!} d: withdraw and calibrate`
              : recallFrom !== null && recallFrom <= st.asOf
                ? 'in recall window: schedule now'
                : `recall from ${recallFrom}`;
      const pmAction =
        pm === null || !pmDue
          ? null
          : pm.status === 'overdue'
            ? `maintenance overdue by ${-pm.daysUntilDue} d: ${pm.task}`
            : `maintenance due ${pm.nextDue}: ${pm.task}`;
      rows.push({
        tag: st.e.tag,
        type: st.e.type,
        siteId: st.e.site_id,
        status: st.status,
        lastValidCalibratedAt: st.lastValid?.calibrated_at ?? null,
        nextDue: st.nextDue,
        daysUntilDue: days,
        leadTimeDays: st.dueSoonDays,
        recallFrom,
        intervalDays: st.e.interval_days,
        pmTask: pm?.task ?? null,
        pmNextDue: pm?.nextDue ?? null,
        pmDaysUntilDue: pm?.daysUntilDue ?? null,
        pmStatus: pm?.status ?? null,
        action: [...(calDue ? [calAction] : []), ...(pmAction ? [pmAction] : [])].join('; '),
      });
    }
  const rank = (r: Row) => (r.status === 'out-of-tolerance' ? 0 : r.nextDue === null ? 1 : 2);
  rows.sort(
    (a, b) =>
      rank(a) - rank(b) || s(a.nextDue).localeCompare(s(b.nextDue)) || s(a.tag).localeCompare(s(b.tag)),
  );
  const count = (st: string) => rows.filter((r) => r.status === st).length;
  const summary = {
    asOf,
    horizon,
    items: rows.length,
    outOfTolerance: count('out-of-tolerance'),
    overdue: count('overdue'),
    neverCalibrated: rows.filter((r) => r.nextDue === null && r.status === 'overdue').length,
    dueSoon: count('due-soon'),
    dueLater: rows.filter((r) => r.status === 'current' && r.nextDue !== null && s(r.nextDue) <= horizon)
      .length,
    maintenanceOverdue: rows.filter((r) => r.pmStatus === 'overdue').length,
  };
  const section: Section = {
    name: 'items',
    title: 'Due and overdue equipment',
    fields: DUE_FIELDS,
    lines: 1,
    empty: 'Nothing is due, overdue or out of tolerance in this period.',
    columns: [
      col('Tag', 10, 'tag'),
      col('Type', 10, 'type'),
      col('Site', 7, 'siteId'),
      col('Status', 8, 'status', { color: (r) => STATUS_COLOR[s(r.status)] }),
      col('Last valid calibration', 9, (r) =>
        r.lastValidCalibratedAt ? dateOf(s(r.lastValidCalibratedAt)) : 'none',
      ),
      col('Next due', 7, (r) => s(r.nextDue) || 'none'),
      col('Days to due', 5.5, (r) => s(r.daysUntilDue), {
        align: 'right',
        color: (r) => (typeof r.daysUntilDue === 'number' && r.daysUntilDue < 0 ? RED : undefined),
      }),
      col('Lead time (d)', 5.5, 'leadTimeDays', { align: 'right' }),
      col('Recall from', 7, 'recallFrom'),
      col('Interval (d)', 5.5, 'intervalDays', { align: 'right' }),
      col('Next maintenance', 9, (r) => (r.pmNextDue ? `${s(r.pmNextDue)}\n${s(r.pmTask)}` : '—'), {
        color: (r) => (r.pmStatus === 'overdue' ? RED : r.pmStatus === 'due-soon' ? AMBER : undefined),
      }),
      col('Action', 16, 'action'),
    ],
    source: memorySource(rows),
  };
  const blocks: Block[] = [
    ...exportNote(ctx),
    {
      kind: 'paragraph',
      bold: true,
      tone: summary.outOfTolerance + summary.overdue > 0 ? 'alert' : 'ok',
      text: `As of ${asOf}: ${fmtInt(summary.outOfTolerance)} out of tolerance, ${fmtInt(summary.overdue)} overdue (${fmtInt(summary.neverCalibrated)} never validly calibrated), ${fmtInt(summary.dueSoon)} in their recall lead time, ${fmtInt(summary.dueLater)} more due by ${horizon}; ${fmtInt(summary.maintenanceOverdue)} with preventive maintenance overdue.`,
    },
    {
      kind: 'paragraph',
      tone: 'muted',
      text: `Listed: equipment in service that is out of tolerance or overdue as of ${asOf}, or whose next due date falls on or before ${horizon} (the period’s last day). Lead time = the recall lead time (due-soon days) of the equipment, or the tenant default; “recall from” = next due minus lead time. Days to due is negative when overdue. Calendar intervals only. Next maintenance = the preventive-maintenance task due first as of ${asOf} (plans active then, the last task done by then); equipment whose maintenance is overdue or due in the period is listed too.`,
    },
    { kind: 'table', section },
  ];
  return {
    type: 'due-list',
    title: REPORT_TITLES['due-list'],
    clauses: 'ISO 9001 7.1.5.2 / AS9100D 7.1.5.2 (recall)',
    blocks,
    sections: [section],
    csv: section,
    summary,
  };
}

// ---------------------------------------------------------------------------------------------
// Out-of-tolerance events (IATF 16949 7.1.5.2.1).

interface OotEvent {
  row: Row;
  cal: CalibrationRow;
  start: string | null;
  end: string;
  count: number;
  /** The decisions of its case (none without a case). */
  coverage: Coverage | undefined;
  decided: number;
}

const EVENT_FIELDS = [
  'calibrationId',
  'equipment',
  'siteId',
  'calibratedAt',
  'source',
  'technician',
  'asFoundResult',
  'asLeftResult',
  'adjusted',
  'traceability',
  'lastGoodCalibrationId',
  'windowStart',
  'windowEnd',
  'windowOpen',
  'closedByCalibrationId',
  'suspectRecords',
  'caseId',
  'caseState',
  'decidedRecords',
  'undecidedRecords',
  'dispositions',
  'customerNotifications',
  'caseClosedAt',
  'earlierDisposition',
] as const;

const READING_FIELDS = [
  'calibrationId',
  'equipment',
  'point',
  'nominal',
  'unit',
  'asFound',
  'error',
  'lowerTolerance',
  'upperTolerance',
  'uncertainty',
  'asFoundResult',
  'asLeft',
  'asLeftResult',
] as const;

const SUSPECT_FIELDS = [
  'calibrationId',
  'failedEquipment',
  'edge',
  'seq',
  'kind',
  'observedAt',
  'siteId',
  'equipment',
  'via',
  'position',
  'named',
  'partSerial',
  'workOrder',
  'operator',
  'result',
  'impact',
  'disposition',
  'decidedBy',
  'decidedAt',
] as const;

/** The out-of-tolerance report's CSV: one row per (event, suspect record). */
const OOT_CSV_FIELDS = [
  ...EVENT_FIELDS,
  'edge',
  'seq',
  'kind',
  'observedAt',
  'recordSiteId',
  'recordEquipment',
  'via',
  'position',
  'named',
  'partSerial',
  'workOrder',
  'operator',
  'result',
  'impact',
  'disposition',
  'decidedBy',
  'decidedAt',
] as const;

/** The operator a record names (its body's `operator`), for the report's column. */
function operatorOf(record: unknown): string | null {
  const op = (record as { body?: { operator?: unknown } } | null)?.body?.operator;
  return typeof op === 'string' ? op : null;
}

/**
 * Suspect records in (start, end], in (observedAt, edge, seq) order, as pages (each record once):
 * the calibration feature's one suspect query (what `GET /equipment/{tag}/suspect-records` and an
 * out-of-tolerance case list), read as the requester (its sites: a record made on another site
 * with an instrument of the requester's site is left out; records made by or naming
 * export-controlled equipment only for a cleared requester), with each record's operator.
 * `served`: the pass that serves them, which logs the flagged ones a cleared requester gets.
 */
async function* suspectPages(
  deps: ReportDeps,
  reader: ExportCaller,
  tag: string,
  start: string | null,
  end: string,
  served: boolean,
): AsyncGenerator<SuspectPageRow[]> {
  for await (const rows of deps.traceability.suspectPages(reader.tenantId, tag, start, end, {
    viewer: reader,
  })) {
    const items = rows.map((row) => ({
      edge: row.edge_id,
      seq: Number(row.seq),
      kind: row.kind,
      equipment: row.equipment,
      record: JSON.parse(row.json) as unknown,
      row,
    }));
    if (served) await deps.exportControl.logRecordsServed(reader, items);
    yield items.map(({ row: { json, ...r }, record }) => ({
      ...r,
      seq: Number(r.seq),
      operator: operatorOf(record),
      named: namesPosition({ ...r, json }),
    }));
  }
}

/** The decision that covers a suspect record, as report columns. */
function decisionCells(coverage: Coverage | undefined, r: SuspectPageRow): Row {
  const d = coverage?.of({
    edge_id: r.edge_id,
    seq: Number(r.seq),
    part_serial: r.part_serial,
    work_order: r.work_order,
  });
  return {
    impact: d?.impact ?? null,
    disposition: d?.disposition ?? null,
    decidedBy: d?.user_email ?? null,
    decidedAt: d?.decided_at ?? null,
  };
}

function suspectRow(ev: OotEvent, r: SuspectPageRow): Row {
  return {
    ...decisionCells(ev.coverage, r),
    calibrationId: ev.cal.id,
    failedEquipment: ev.cal.equipment,
    edge: r.edge_id,
    seq: Number(r.seq),
    kind: r.kind,
    observedAt: r.observed_at,
    siteId: r.site_id,
    equipment: r.equipment,
    via: r.via,
    position: r.position,
    named: r.named,
    partSerial: r.part_serial,
    workOrder: r.work_order,
    operator: r.operator,
    result: r.result,
  };
}

async function outOfTolerance(deps: ReportDeps, ctx: ReportContext): Promise<BuiltReport> {
  const tenantId = ctx.tenant.id;
  const scope = ctx.exportScope;
  const failed = await deps.repo.failedCalibrations(ctx.reader, {
    siteId: ctx.site?.id ?? null,
    period: sqlPeriod(ctx.period),
  });
  // The suspect records as the requester may be served them (its sites, and export control, in
  // the query): those are counted and tallied; the suspect section's pass serves them
  // (`served`), so for a cleared requester the flagged ones are logged there, once. The
  // tenant-wide count stands for them only when the requester reads every site and nothing is
  // left out for export control.
  const pagesOf = (tag: string, start: string | null, end: string, served = false) =>
    suspectPages(deps, ctx.reader, tag, start, end, served);
  const countOf = async (tag: string, start: string | null, end: string) => {
    if (!scope.excluding && ctx.reader.sites === null)
      return deps.traceability.countSuspect(tenantId, tag, start, end);
    let n = 0;
    for await (const page of pagesOf(tag, start, end)) n += page.length;
    return n;
  };
  const cases = await deps.oot.casesOf(
    tenantId,
    failed.map((c) => c.id),
  );
  // Dispositions recorded per calibration before out-of-tolerance cases existed: still shown.
  const earlier = await deps.repo.dispositions(
    ctx.reader,
    failed.map((c) => c.id),
  );
  const events: OotEvent[] = [];
  for (const c of failed) {
    const w = await deps.traceability.window(tenantId, c.equipment, c.id);
    // An open window is read up to the moment generation started: records observed later are not in it.
    const end = w?.end ?? ctx.generatedAt;
    const start = w?.start ?? null;
    const count = await countOf(c.equipment, start, end);
    const body = JSON.parse(c.body) as { technician?: string; adjusted?: boolean };
    const k = cases.get(c.id);
    // Decided records and their dispositions, as this requester sees them (the suspect section's pages).
    let decided = 0;
    const tally = new Map<string, number>();
    if (k && count > 0)
      for await (const page of pagesOf(c.equipment, start, end))
        for (const r of page) {
          const d = decisionCells(k.coverage, r).disposition as string | null;
          if (d === null) continue;
          decided += 1;
          tally.set(d, (tally.get(d) ?? 0) + 1);
        }
    events.push({
      cal: c,
      start,
      end,
      count,
      coverage: k?.coverage,
      decided,
      row: {
        calibrationId: c.id,
        equipment: c.equipment,
        siteId: c.site_id,
        calibratedAt: c.calibrated_at,
        source: c.source,
        technician: body.technician ?? c.entered_by,
        asFoundResult: c.as_found,
        asLeftResult: c.as_left,
        adjusted: body.adjusted ?? null,
        traceability: c.traceability,
        lastGoodCalibrationId: w?.lastGoodCalibration?.id ?? null,
        windowStart: start,
        windowEnd: w?.end ?? null,
        windowOpen: w?.end === null || w === null,
        closedByCalibrationId: w?.closedBy?.id ?? null,
        suspectRecords: count,
        caseId: k?.id ?? null,
        caseState: k?.state ?? null,
        decidedRecords: decided,
        undecidedRecords: count - decided,
        dispositions: [...tally.entries()].map(([d, n]) => `${d} ${n}`).join(', ') || null,
        customerNotifications: k?.notifications ?? 0,
        caseClosedAt: k?.closedAt ?? null,
        earlierDisposition: earlier.has(c.id)
          ? `${earlier.get(c.id)!.disposition}${earlier.get(c.id)!.customer_notified === 1 ? ', customer notified' : ''} (${earlier.get(c.id)!.decided_by}, ${earlier.get(c.id)!.decided_at})`
          : null,
      },
    });
  }
  const readings = (ev: OotEvent): Row[] => {
    const body = JSON.parse(ev.cal.body) as {
      points: {
        name: string;
        nominal: number;
        unit: string;
        asFound: number;
        asLeft?: number;
        lowerTolerance: number;
        upperTolerance: number;
        uncertainty?: number;
        asFoundResult: string;
        asLeftResult?: string;
      }[];
    };
    return body.points.map((p) => ({
      calibrationId: ev.cal.id,
      equipment: ev.cal.equipment,
      point: p.name,
      nominal: p.nominal,
      unit: p.unit,
      asFound: p.asFound,
      error: Number((p.asFound - p.nominal).toPrecision(12)),
      lowerTolerance: p.lowerTolerance,
      upperTolerance: p.upperTolerance,
      uncertainty: p.uncertainty ?? null,
      asFoundResult: p.asFoundResult,
      asLeft: p.asLeft ?? null,
      asLeftResult: p.asLeftResult ?? null,
    }));
  };
  const suspectSource = (ev: OotEvent): RowSource => ({
    count: ev.count,
    async *pages() {
      for await (const page of pagesOf(ev.cal.equipment, ev.start, ev.end, true))
        yield page.map((r) => suspectRow(ev, r));
    },
  });
  const chained = (parts: RowSource[]): RowSource => ({
    count: parts.reduce((n, p) => n + p.count, 0),
    async *pages() {
      for (const p of parts) yield* p.pages();
    },
  });

  const eventColumns: PdfColumn[] = [
    col('Equipment', 9, (r) => lines(r.equipment, r.siteId)),
    col('Calibration', 13, (r) => lines(r.calibrationId, s(r.calibratedAt))),
    col(
      'As found / as left',
      8,
      (r) => lines(`found ${s(r.asFoundResult)}`, `left ${s(r.asLeftResult) || '-'}`),
      {
        color: () => RED,
      },
    ),
    col('Suspect window', 15, (r) =>
      lines(
        `from ${s(r.windowStart) || 'first record'}`,
        r.windowOpen ? 'to now (open)' : `to ${s(r.windowEnd)}`,
      ),
    ),
    col('Suspect records', 6, (r) => fmtInt(Number(r.suspectRecords)), { align: 'right' }),
    col(
      'Decided',
      9,
      (r) =>
        lines(
          `${fmtInt(Number(r.decidedRecords))} of ${fmtInt(Number(r.suspectRecords))}`,
          s(r.dispositions),
        ),
      { color: (r) => (Number(r.undecidedRecords) > 0 ? RED : undefined) },
    ),
    col('Customer notifications', 7, (r) => fmtInt(Number(r.customerNotifications)), { align: 'right' }),
    col('Case', 16, (r) =>
      r.caseId === null
        ? 'no case'
        : lines(`${s(r.caseState)} ${s(r.caseId).slice(0, 8)}`, s(r.caseClosedAt)),
    ),
  ];
  const eventsSection: Section = {
    name: 'events',
    title: 'Out-of-tolerance calibrations',
    fields: EVENT_FIELDS,
    columns: eventColumns,
    lines: 2,
    empty: 'No calibration in this period found an instrument out of tolerance.',
    source: memorySource(events.map((e) => e.row)),
  };
  const readingColumns: PdfColumn[] = [
    col('Test point', 14, 'point'),
    col('Nominal', 7, 'nominal', { align: 'right' }),
    col('Unit', 5, 'unit'),
    col('As found', 7, 'asFound', { align: 'right' }),
    col('Error', 7, 'error', { align: 'right' }),
    col('Tolerance', 10, (r) => `${s(r.lowerTolerance)} to ${s(r.upperTolerance)}`),
    col('Uncertainty', 6, 'uncertainty', { align: 'right' }),
    col('As found', 6, 'asFoundResult', { color: (r) => (r.asFoundResult === 'fail' ? RED : undefined) }),
    col('As left', 7, 'asLeft', { align: 'right' }),
    col('As left result', 6, 'asLeftResult', { color: (r) => (r.asLeftResult === 'fail' ? RED : undefined) }),
  ];
  const suspectColumns: PdfColumn[] = [
    col('Observed at', 12, 'observedAt'),
    col('Kind', 5, 'kind'),
    col(
      'Equipment (via)',
      10,
      (r) =>
        `${s(r.equipment)} (${r.via === 'position' ? `${r.named ? 'named' : 'in'} ${s(r.position)}` : s(r.via)})`,
    ),
    col('Site', 5, 'siteId'),
    col('Part serial', 10, 'partSerial'),
    col('Work order', 7, 'workOrder'),
    col('Operator', 6, 'operator'),
    col('Result', 5, 'result', { color: (r) => (r.result === 'fail' ? RED : undefined) }),
    col('Decision', 8, (r) => (r.disposition ? lines(s(r.disposition), s(r.impact)) : 'none yet'), {
      color: (r) => (r.disposition ? undefined : RED),
    }),
    col('Record (edge:seq)', 16, (r) => `${s(r.edge)}:${s(r.seq)}`),
  ];
  const readingSections = events.map((ev): Section => ({
    name: 'readings',
    title: 'As-found readings',
    fields: READING_FIELDS,
    columns: readingColumns,
    source: memorySource(readings(ev)),
  }));
  const suspectSections = events.map((ev): Section => ({
    name: 'suspectRecords',
    title: `Suspect records made with ${ev.cal.equipment}`,
    fields: SUSPECT_FIELDS,
    columns: suspectColumns,
    empty: 'No usage or inspection record was made with this instrument in the window.',
    source: suspectSource(ev),
  }));
  const open = events.filter((e) => e.row.windowOpen).length;
  const totalSuspect = events.reduce((n, e) => n + e.count, 0);
  const decided = events.reduce((n, e) => n + e.decided, 0);
  const notified = events.reduce((n, e) => n + Number(e.row.customerNotifications), 0);
  const closed = events.filter((e) => e.row.caseState === 'closed').length;
  const summary = {
    events: events.length,
    openWindows: open,
    suspectRecords: totalSuspect,
    decidedRecords: decided,
    undecidedRecords: totalSuspect - decided,
    customerNotifications: notified,
    casesClosed: closed,
  };
  const blocks: Block[] = [
    ...exportNote(ctx),
    {
      kind: 'paragraph',
      bold: true,
      tone: events.length === 0 ? 'ok' : decided < totalSuspect ? 'alert' : 'normal',
      text:
        events.length === 0
          ? 'No instrument was found out of tolerance in this period.'
          : `${fmtInt(events.length)} out-of-tolerance calibrations; ${fmtInt(totalSuspect)} suspect usage and inspection records, ${fmtInt(decided)} with a signed decision (${fmtInt(totalSuspect - decided)} without); ${fmtInt(notified)} customer notifications; ${fmtInt(closed)} of ${fmtInt(events.length)} cases closed; ${fmtInt(open)} windows still open.`,
    },
    {
      kind: 'paragraph',
      tone: 'muted',
      text: 'The suspect window runs from the last valid calibration before the failure (exclusive; from the first record if none) to the first valid calibration at or after it (inclusive), or up to the time this report was generated while none exists. Suspect records are every usage and inspection record of the instrument, and every inspection that lists it among its gauges, observed in the window (each once). The as-found readings are kept as received.',
    },
    { kind: 'table', section: eventsSection },
  ];
  events.forEach((ev, i) => {
    blocks.push({
      kind: 'heading',
      text: `${ev.cal.equipment}: calibration ${ev.cal.id} on ${ev.cal.calibrated_at}`,
    });
    blocks.push({
      kind: 'pairs',
      rows: [
        [
          'Suspect window',
          `${ev.start ?? 'from the first record'} (exclusive) to ${ev.row.windowEnd ?? `${ev.end}, still open`} (inclusive)`,
        ],
        [
          'Last good / closing calibration',
          `${s(ev.row.lastGoodCalibrationId) || 'none'} / ${s(ev.row.closedByCalibrationId) || 'none yet'}`,
        ],
        [
          'Case',
          ev.row.caseId === null
            ? 'no case'
            : `${s(ev.row.caseId)} (${s(ev.row.caseState)}${ev.row.caseClosedAt ? `, closed ${s(ev.row.caseClosedAt)}` : ''})`,
        ],
        [
          'Decisions',
          `${fmtInt(Number(ev.row.decidedRecords))} of ${fmtInt(Number(ev.row.suspectRecords))} suspect records${ev.row.dispositions ? ` (${s(ev.row.dispositions)})` : ''}`,
        ],
        ['Customer notifications', fmtInt(Number(ev.row.customerNotifications))],
        ...(ev.row.earlierDisposition
          ? [['Disposition recorded before cases', s(ev.row.earlierDisposition)] as [string, string]]
          : []),
      ],
    });
    blocks.push({ kind: 'table', section: readingSections[i]! });
    blocks.push({ kind: 'table', section: suspectSections[i]! });
  });
  // CSV: one row per (event, suspect record); an event without suspect records is one row.
  const csvRow = (ev: OotEvent, r: SuspectPageRow): Row => ({
    ...ev.row,
    ...decisionCells(ev.coverage, r),
    edge: r.edge_id,
    seq: Number(r.seq),
    kind: r.kind,
    observedAt: r.observed_at,
    recordSiteId: r.site_id,
    recordEquipment: r.equipment,
    via: r.via,
    position: r.position,
    named: r.named,
    partSerial: r.part_serial,
    workOrder: r.work_order,
    operator: r.operator,
    result: r.result,
  });
  const csv: Section = {
    name: 'outOfTolerance',
    title: 'Out-of-tolerance events and suspect records',
    fields: OOT_CSV_FIELDS,
    columns: [],
    source: {
      count: events.reduce((n, e) => n + Math.max(1, e.count), 0),
      async *pages() {
        for (const ev of events) {
          if (ev.count === 0) {
            yield [{ ...ev.row }];
            continue;
          }
          for await (const page of pagesOf(ev.cal.equipment, ev.start, ev.end))
            yield page.map((r) => csvRow(ev, r));
        }
      },
    },
  };
  return {
    type: 'out-of-tolerance',
    title: REPORT_TITLES['out-of-tolerance'],
    clauses: 'IATF 16949 7.1.5.2.1 / ISO 9001 7.1.5.2 / AS9100D 7.1.5.2',
    blocks,
    sections: [
      eventsSection,
      {
        ...eventsSection,
        name: 'readings',
        fields: READING_FIELDS,
        source: chained(readingSections.map((x) => x.source)),
      },
      {
        ...eventsSection,
        name: 'suspectRecords',
        fields: SUSPECT_FIELDS,
        source: chained(suspectSections.map((x) => x.source)),
      },
    ],
    csv,
    summary,
  };
}

// ---------------------------------------------------------------------------------------------
// Access review (NIST 800-171 3.1, 3.5; SOC 2 CC6.2-6.3).

const USER_FIELDS = [
  'email',
  'name',
  'role',
  'sites',
  'status',
  'mfa',
  'mfaEnabledAt',
  'mfaRequired',
  'usPerson',
  'lastSignInAt',
  'signInsInPeriod',
  'passwordChangedAt',
  'mustChangePassword',
  'createdAt',
  'disabledAt',
  'id',
] as const;

async function accessReview(deps: ReportDeps, ctx: ReportContext): Promise<BuiltReport> {
  const policy = await deps.repo.securityPolicy(ctx.reader);
  const required = new Set<string>(policy ? (JSON.parse(policy.mfa_required_roles) as string[]) : []);
  const signIns = await deps.repo.signIns(ctx.reader, ctx.period.fromIso, ctx.period.toExclusiveIso);
  const siteId = ctx.site?.id ?? null;
  const users: Row[] = [];
  for (const u of await deps.repo.users(ctx.reader)) {
    const sites = typeof u.sites === 'string' ? (JSON.parse(u.sites) as string[]) : null;
    if (siteId && sites !== null && !sites.includes(siteId)) continue;
    const si = signIns.get(`user:${String(u.id)}`);
    const mfaOn = u.totp_enabled_at !== null && u.totp_enabled_at !== undefined;
    const must = u.must_change_password === 1 || u.must_change_password === true;
    users.push({
      email: s(u.email),
      name: s(u.name),
      role: s(u.role),
      sites: sites === null ? 'all' : sites.join(' '),
      status: u.disabled_at ? 'disabled' : 'active',
      mfa: mfaOn ? 'totp' : u.totp_pending ? 'enrolling' : 'none',
      mfaEnabledAt: (u.totp_enabled_at as string | null) ?? null,
      mfaRequired: required.has(String(u.role)),
      usPerson: u.us_person === undefined ? null : u.us_person === 1 || u.us_person === true,
      lastSignInAt: si?.last ?? null,
      signInsInPeriod: si?.inPeriod ?? 0,
      passwordChangedAt: (u.password_changed_at as string) ?? null,
      mustChangePassword: must,
      createdAt: (u.created_at as string) ?? null,
      disabledAt: (u.disabled_at as string | null) ?? null,
      id: s(u.id),
    });
  }
  const active = users.filter((u) => u.status === 'active');
  const withMfa = active.filter((u) => u.mfa === 'totp').length;
  const requiredWithout = active.filter((u) => u.mfaRequired && u.mfa !== 'totp').length;
  const staleBefore = new Date(Date.parse(ctx.generatedAt) - 90 * 86_400_000).toISOString();
  // Dormant: no sign-in for 90 days; an account that never signed in counts from its creation
  // (a new account is not dormant on its first day).
  const stale = active.filter((u) => s(u.lastSignInAt ?? u.createdAt) < staleBefore).length;
  const byRole: Record<string, number> = {};
  for (const u of active) byRole[s(u.role)] = (byRole[s(u.role)] ?? 0) + 1;
  const tokens = (await deps.repo.apiTokens(ctx.reader)).map((t): Row => ({
    name: t.name,
    tokenId: t.token_hash.slice(0, 16),
    role: 'auditor (read-only service account)',
    createdAt: t.created_at,
    revokedAt: t.revoked_at,
    status: t.revoked_at ? 'revoked' : 'active',
  }));
  const changeCount = await deps.repo.countAccountChanges(
    ctx.reader,
    ctx.period.fromIso,
    ctx.period.toExclusiveIso,
  );
  const changes = keysetSource(
    changeCount,
    (after: number | null, size) =>
      deps.repo.accountChanges(ctx.reader, ctx.period.fromIso, ctx.period.toExclusiveIso, after ?? 0, size),
    (r) => Number(r.seq),
    (r): Row => {
      const e = JSON.parse(r.entry) as {
        actor?: { type?: string; id?: string; email?: string };
        target?: { type?: string; id?: string };
        detail?: string;
        after?: unknown;
      };
      return {
        seq: Number(r.seq),
        at: r.at,
        action: r.action,
        outcome: r.outcome,
        actor: e.actor?.email ?? `${s(e.actor?.type)}:${s(e.actor?.id)}`,
        target: e.target ? `${s(e.target.type)}:${s(e.target.id)}` : null,
        detail: e.detail ?? (e.after !== undefined ? JSON.stringify(e.after) : null),
      };
    },
    PAGE,
  );
  const usersSection: Section = {
    name: 'users',
    title: 'User accounts',
    fields: USER_FIELDS,
    lines: 2,
    empty: 'No user accounts in this scope.',
    columns: [
      col('User', 17, (r) => lines(r.email, r.name !== r.email ? r.name : '')),
      col('Role', 7, 'role'),
      col('Sites', 8, 'sites'),
      col('Status', 6, 'status', { color: (r) => (r.status === 'disabled' ? GREY : undefined) }),
      col('MFA', 9, (r) => lines(r.mfa, r.mfaRequired ? 'required by policy' : ''), {
        color: (r) => (r.mfa !== 'totp' && r.mfaRequired && r.status === 'active' ? RED : undefined),
      }),
      col('US person', 5, (r) => (r.usPerson === null ? '-' : r.usPerson ? 'yes' : 'no')),
      col('Last sign-in', 11, (r) => s(r.lastSignInAt) || 'never'),
      col('Sign-ins in period', 6, 'signInsInPeriod', { align: 'right' }),
      col('Password changed', 11, (r) =>
        lines(r.passwordChangedAt, r.mustChangePassword ? 'must change' : ''),
      ),
      col('Created / disabled', 11, (r) =>
        lines(r.createdAt, r.disabledAt ? `disabled ${s(r.disabledAt)}` : ''),
      ),
    ],
    source: memorySource(users),
  };
  const tokensSection: Section = {
    name: 'apiTokens',
    title: 'API tokens (service accounts)',
    fields: ['name', 'tokenId', 'role', 'status', 'createdAt', 'revokedAt'],
    columns: [
      col('Name', 14, 'name'),
      col('Token id (SHA-256 prefix)', 12, 'tokenId'),
      col('Rights', 16, 'role'),
      col('Status', 6, 'status'),
      col('Created', 12, 'createdAt'),
      col('Revoked', 12, 'revokedAt'),
    ],
    empty: 'No API tokens.',
    source: memorySource(tokens),
  };
  const changesSection: Section = {
    name: 'accountChanges',
    title: 'Account and access changes in the period (audit trail)',
    fields: ['seq', 'at', 'action', 'outcome', 'actor', 'target', 'detail'],
    columns: [
      col('Seq', 4, 'seq', { align: 'right' }),
      col('At', 12, 'at'),
      col('Action', 11, 'action'),
      col('Outcome', 5, 'outcome'),
      col('By', 13, 'actor'),
      col('Target', 14, 'target'),
      col('Detail', 25, 'detail'),
    ],
    empty: 'No account changes in the period.',
    source: changes,
  };
  const summary = {
    users: users.length,
    active: active.length,
    disabled: users.length - active.length,
    byRole,
    mfaEnabled: withMfa,
    mfaRequiredRoles: [...required],
    mfaRequiredButMissing: requiredWithout,
    noSignInFor90Days: stale,
    apiTokensActive: tokens.filter((t) => t.status === 'active').length,
    accountChangesInPeriod: changeCount,
  };
  const blocks: Block[] = [
    {
      kind: 'paragraph',
      bold: true,
      tone: requiredWithout > 0 ? 'alert' : 'normal',
      text: `${fmtInt(active.length)} active and ${fmtInt(users.length - active.length)} disabled accounts; MFA on ${fmtInt(withMfa)} of ${fmtInt(active.length)} active accounts (${pct(withMfa, active.length)}); ${fmtInt(requiredWithout)} accounts whose role requires MFA are without it; ${fmtInt(stale)} active accounts have not signed in for 90 days.`,
    },
    {
      kind: 'pairs',
      rows: [
        [
          'Active accounts by role',
          Object.entries(byRole)
            .map(([r, n]) => `${r} ${n}`)
            .join(', ') || 'none',
        ],
        ['MFA required for roles (tenant policy)', [...required].join(', ') || 'none'],
        [
          'Site scope',
          ctx.site
            ? `users with access to ${ctx.site.id} (scoped to it, or to every site)`
            : 'every user of the tenant',
        ],
        [
          'API tokens',
          `${fmtInt(summary.apiTokensActive)} active, read-only (auditor rights; they cannot generate reports or change anything)`,
        ],
      ],
    },
    {
      kind: 'paragraph',
      tone: 'muted',
      text: 'Last sign-in = the latest successful password step on the audit trail. Users are never deleted (disabled instead), so the trail always names them. Reviewers: confirm each active account still needs its role and sites; disable the rest.',
    },
    { kind: 'table', section: usersSection },
    { kind: 'table', section: tokensSection },
    { kind: 'table', section: changesSection },
  ];
  return {
    type: 'access-review',
    title: REPORT_TITLES['access-review'],
    clauses: 'NIST 800-171 3.1, 3.5 / SOC 2 CC6.2-CC6.3',
    blocks,
    sections: [usersSection, tokensSection, changesSection],
    csv: usersSection,
    summary,
  };
}

// ---------------------------------------------------------------------------------------------
// Export-controlled data access (ITAR / EAR).

const EXPORT_FIELDS = [
  'at',
  'userEmail',
  'userRole',
  'principal',
  'objectType',
  'objectId',
  'regime',
  'eccn',
  'address',
  'route',
  'id',
] as const;

async function exportAccess(deps: ReportDeps, ctx: ReportContext): Promise<BuiltReport> {
  // Read as the requester when it runs: one whose clearance was withdrawn meanwhile gets none.
  mustReadAccessLog(ctx.reader);
  const present = await deps.repo.tableExists('export_access_log');
  const count = present
    ? await deps.repo.countExportAccess(ctx.reader, ctx.period.fromIso, ctx.period.toExclusiveIso)
    : 0;
  const byRegime: Record<string, number> = {};
  const byUser = new Map<string, number>();
  // Before the export-access log existed (an older database): no rows.
  const source = !present
    ? memorySource([])
    : keysetSource(
        count,
        (after: { at: string; id: string } | null, size) =>
          deps.repo.exportAccessPage(ctx.reader, ctx.period.fromIso, ctx.period.toExclusiveIso, after, size),
        (r) => ({ at: s(r.at), id: s(r.id) }),
        (r): Row => ({
          at: s(r.at),
          userEmail: (r.user_email as string | null) ?? null,
          userRole: (r.user_role as string | null) ?? null,
          principal: s(r.principal),
          objectType: s(r.object_type),
          objectId: s(r.object_id),
          regime: s(r.regime),
          eccn: (r.eccn as string | null) ?? null,
          address: (r.address as string | null) ?? null,
          route: s(r.route),
          id: s(r.id),
        }),
        PAGE,
      );
  for await (const page of source.pages())
    for (const r of page) {
      byRegime[s(r.regime)] = (byRegime[s(r.regime)] ?? 0) + 1;
      const who = s(r.userEmail) || s(r.principal);
      byUser.set(who, (byUser.get(who) ?? 0) + 1);
    }
  const section: Section = {
    name: 'accesses',
    title: 'Accesses to export-controlled items',
    fields: EXPORT_FIELDS,
    lines: 1,
    empty: present
      ? 'Nobody opened an export-controlled item in this period.'
      : 'Export-access logging is not available in this deployment.',
    columns: [
      col('At', 12, 'at'),
      col('User', 15, (r) => s(r.userEmail) || s(r.principal)),
      col('Role', 6, 'userRole'),
      col('Object', 17, (r) => `${s(r.objectType)} ${s(r.objectId)}`),
      col('Regime', 5, 'regime'),
      col('ECCN', 7, 'eccn'),
      col('From address', 10, 'address'),
      col('Route', 16, 'route'),
    ],
    source,
  };
  const summary = { present, accesses: count, byRegime, users: byUser.size };
  const blocks: Block[] = [
    {
      kind: 'paragraph',
      bold: true,
      text: present
        ? `${fmtInt(count)} accesses to ITAR/EAR-flagged items by ${fmtInt(byUser.size)} users in the period (${
            Object.entries(byRegime)
              .map(([k, v]) => `${k} ${v}`)
              .join(', ') || 'none'
          }).`
        : 'This cloud does not keep an export-access log (table export_access_log is missing): the report cannot show who opened export-controlled items.',
      tone: present ? 'normal' : 'alert',
    },
    {
      kind: 'paragraph',
      tone: 'muted',
      text: `Every export-controlled object served to a user is logged with who, when, from which address and through which route. Only users marked as US persons are served flagged items; others get 404 and nothing is logged for them. ${ctx.reader.sites === null ? '' : ' Listed: the accesses to what the sites of this report hold (the equipment, a calibration’s equipment, the edge that sent a record).'}`,
    },
    { kind: 'table', section },
    {
      kind: 'pairs',
      rows: [...byUser.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 50)
        .map(([u, n]) => [u, `${fmtInt(n)} accesses`] as const),
    },
  ];
  if (byUser.size === 0) blocks.pop();
  return {
    type: 'export-access',
    title: REPORT_TITLES['export-access'],
    clauses: 'ITAR 22 CFR 120-130 / EAR 15 CFR 730-774 / NIST 800-171 3.1.3',
    blocks,
    sections: [section],
    csv: section,
    summary,
  };
}

// ---------------------------------------------------------------------------------------------
// Integrity statement.

/** The integrity report's logs (its CSV). */
const INTEGRITY_FIELDS = [
  'log',
  'id',
  'name',
  'siteId',
  'size',
  'verifiedRecords',
  'verifiedCheckpoints',
  'root',
  'checkpointSize',
  'checkpointRoot',
  'result',
  'problemCode',
  'problemSeq',
  'problemMessage',
] as const;

async function integrity(deps: ReportDeps, ctx: ReportContext): Promise<BuiltReport> {
  const tenantId = ctx.tenant.id;
  const audit = await deps.audit.verify(tenantId);
  const edgeResults: Row[] = [];
  const findings: string[] = [];
  if (!audit.ok) findings.push(`audit log entry seq ${audit.firstBad.seq}: ${audit.firstBad.reason}`);
  let records = 0;
  for (const src of ctx.sources.edges) {
    // The edges the report's reader sees, listed in its context.
    const edge = await deps.tenancy.edgeForTenant(wholeTenant(tenantId), src.edge);
    if (!edge) continue;
    const v = await verifyEdgeLog(edge, deps.records, deps.witness);
    records += v.verifiedRecords;
    if (!v.ok)
      findings.push(
        `edge ${edge.name} (${edge.id}) ${v.problem.seq !== undefined ? `record seq ${v.problem.seq}` : `checkpoint ${v.problem.checkpointSize ?? ''}`}: ${v.problem.message}`,
      );
    edgeResults.push({
      log: 'edge',
      id: edge.id,
      name: edge.name,
      siteId: edge.site_id,
      size: v.size,
      verifiedRecords: v.verifiedRecords,
      verifiedCheckpoints: v.verifiedCheckpoints,
      root: v.ok ? v.root : null,
      checkpointSize: src.size,
      checkpointRoot: src.root,
      result: v.ok ? 'verified' : 'TAMPERED',
      problemCode: v.ok ? null : v.problem.code,
      problemSeq: v.ok ? null : (v.problem.seq ?? null),
      problemMessage: v.ok ? null : v.problem.message,
    });
  }
  const auditRow: Row = {
    log: 'audit',
    id: deps.audit.origin(tenantId),
    name: 'tenant audit log',
    siteId: null,
    size: audit.size,
    verifiedRecords: audit.ok ? audit.size : audit.verified,
    verifiedCheckpoints: audit.ok ? audit.size : audit.verified,
    root: audit.ok ? audit.root : null,
    checkpointSize: ctx.sources.auditLog.size,
    checkpointRoot: ctx.sources.auditLog.root,
    result: audit.ok ? 'verified' : 'TAMPERED',
    problemCode: audit.ok ? null : 'AUDIT_ENTRY',
    problemSeq: audit.ok ? null : audit.firstBad.seq,
    problemMessage: audit.ok ? null : audit.firstBad.reason,
  };
  const logRows = [auditRow, ...edgeResults];
  const ok = findings.length === 0;
  const verifiedAt = new Date().toISOString();
  const secCount = await deps.repo.countSecurityEvents(
    ctx.reader,
    ctx.period.fromIso,
    ctx.period.toExclusiveIso,
  );
  const secSource = keysetSource(
    secCount,
    (after: number | null, size) =>
      deps.repo.securityEventsPage(
        ctx.reader,
        ctx.period.fromIso,
        ctx.period.toExclusiveIso,
        after ?? 0,
        size,
      ),
    (r) => Number(r.id),
    (r): Row => ({
      id: Number(r.id),
      at: r.at,
      code: r.code,
      edge: r.edge_id,
      address: r.address,
      detail: r.detail,
    }),
    PAGE,
  );
  const logsSection: Section = {
    name: 'logs',
    title: 'Logs verified',
    fields: INTEGRITY_FIELDS,
    lines: 2,
    columns: [
      col('Log', 16, (r) => lines(r.name, r.id)),
      col('Site', 6, 'siteId'),
      col('Entries', 5, 'size', { align: 'right' }),
      col('Verified', 9, (r) =>
        lines(
          `${fmtInt(Number(r.verifiedRecords))} entries`,
          `${fmtInt(Number(r.verifiedCheckpoints))} checkpoints`,
        ),
      ),
      col('Root recomputed', 18, (r) => s(r.root) || '-'),
      col('Result', 6, 'result', { color: (r) => (r.result === 'verified' ? GREEN : RED) }),
      col('First problem', 30, (r) =>
        r.problemMessage
          ? `${r.problemSeq !== null ? `seq ${s(r.problemSeq)}: ` : ''}${s(r.problemMessage)}`
          : '',
      ),
    ],
    source: memorySource(logRows),
  };
  const secSection: Section = {
    name: 'securityEvents',
    title: 'Refused batches, forks and enrollment refusals in the period',
    fields: ['id', 'at', 'code', 'edge', 'address', 'detail'],
    columns: [
      col('At', 12, 'at'),
      col('Code', 10, 'code'),
      col('Edge', 14, 'edge'),
      col('Address', 8, 'address'),
      col('Detail', 40, 'detail'),
    ],
    empty: 'None in the period.',
    source: secSource,
  };
  const summary = {
    ok,
    verifiedAt,
    findings,
    auditLog: {
      ok: audit.ok,
      size: audit.size,
      ...(audit.ok ? { root: audit.root } : { firstBad: audit.firstBad }),
    },
    edges: edgeResults.map((r) => ({
      edge: r.id,
      ok: r.result === 'verified',
      size: r.size,
      problemSeq: r.problemSeq,
      problemCode: r.problemCode,
    })),
    records,
    securityEventsInPeriod: secCount,
  };
  const blocks: Block[] = [
    ok
      ? {
          kind: 'paragraph',
          bold: true,
          tone: 'ok',
          text: `No tampering detected. At ${verifiedAt} the tenant audit log (${fmtInt(audit.size)} entries) and the record logs of ${fmtInt(edgeResults.length)} edges (${fmtInt(records)} records) were recomputed from the stored data: every entry hashes to its stored leaf hash and every root matches its signed checkpoint.`,
        }
      : {
          kind: 'paragraph',
          bold: true,
          tone: 'alert',
          text: `TAMPERING DETECTED. At ${verifiedAt} the stored data no longer matches the signed checkpoints: ${findings.join('; ')}.`,
        },
    {
      kind: 'paragraph',
      tone: 'muted',
      text: 'How: the audit log is an RFC 6962 Merkle log whose checkpoints are signed by this cloud’s witness key; each edge’s record log is a Merkle log whose checkpoints are signed by the edge’s enrolled key and countersigned by the witness. Verification recomputes every leaf hash from the stored record or entry and every root from those leaves, and checks each signature. A changed record is named by its seq; a record rewritten together with its leaf hash is caught at the next checkpoint. Deleting the tail of a log together with its head is only caught against a copy kept elsewhere (the SIEM export, an earlier report).',
    },
    { kind: 'table', section: logsSection },
    { kind: 'table', section: secSection },
  ];
  return {
    type: 'integrity',
    title: REPORT_TITLES.integrity,
    clauses: 'NIST 800-171 3.3.8 / SOC 2 CC7.2 / 21 CFR 11.10(c)',
    blocks,
    sections: [logsSection, secSection],
    csv: logsSection,
    summary,
  };
}

// ---------------------------------------------------------------------------------------------

export async function buildReport(
  deps: ReportDeps,
  ctx: ReportContext,
  type: ReportType,
): Promise<BuiltReport> {
  switch (type) {
    case 'calibration-register':
      return calibrationRegister(deps, ctx);
    case 'due-list':
      return dueList(deps, ctx);
    case 'out-of-tolerance':
      return outOfTolerance(deps, ctx);
    case 'access-review':
      return accessReview(deps, ctx);
    case 'export-access':
      return exportAccess(deps, ctx);
    case 'integrity':
      return integrity(deps, ctx);
  }
}

/**
 * The last column of every report CSV: the IANA time zone whose local days the row's dates
 * (YYYY-MM-DD) are, its site's (rows of no site: the report period's zone). Timestamps are RFC 3339
 * in UTC (`Z`) whatever it says.
 */
export const CSV_TIME_ZONE_COLUMN = 'timeZone';

/** A report type's CSV columns: its fields, then the time zone. */
export const csvColumns = (fields: readonly string[]): string[] => [...fields, CSV_TIME_ZONE_COLUMN];

/** The columns of each report type's CSV, in order (its header line; documented in the API). */
export const REPORT_CSV_COLUMNS: Readonly<Record<ReportType, readonly string[]>> = {
  'calibration-register': csvColumns(REGISTER_FIELDS),
  'due-list': csvColumns(DUE_FIELDS),
  'out-of-tolerance': csvColumns(OOT_CSV_FIELDS),
  'access-review': csvColumns(USER_FIELDS),
  'export-access': csvColumns(EXPORT_FIELDS),
  integrity: csvColumns(INTEGRITY_FIELDS),
};
