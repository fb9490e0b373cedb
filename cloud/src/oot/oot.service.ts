import { createHash, randomUUID } from 'node:crypto';
import { canonicalJson, label, text, timestampSchema, type RigRecord } from '@rigtrace/protocols';
import { z } from 'zod';
import { wholeTenant, type Viewer } from '../access/index.js';
import type { Db } from '../platform/db/db.js';
import { ProblemError, parseOrProblem } from '../platform/errors.js';
import { committed, emitAfterCommit } from '../platform/after-commit.js';
import type { DomainEventBus } from '../platform/events.js';
import { localDay, localMoment } from '../platform/time-zone.js';
import type { TenancyRepository } from '../tenancy/index.js';
import type { AuditActor, AuditService } from '../audit/index.js';
import {
  calibrationView,
  csvField,
  decodeCursor,
  instrumentError,
  itemView,
  signatureInputSchema,
  namesPosition,
  suspectCharacteristics,
  suspectLines,
  SUSPECT_CSV_COLUMNS,
  type CalibrationRepository,
  type InstrumentError,
  type Signer,
  type SuspectCharacteristic,
  type SuspectWindow,
  type TraceabilityService,
} from '../calibration/index.js';
import type { InspectionRepository, SuspectRow } from '../production/index.js';
import type { AlertsRepository } from '../spc/index.js';
import type {
  CaseListRow,
  CaseRow,
  DecisionRow,
  DecisionScope,
  NotificationRow,
  OotRepository,
  ShipmentRow,
  ShipmentState,
} from './oot.repository.js';
import { settled } from '../platform/settled.js';

/** How far the failed instrument's readings may have moved a part's verdict (IATF 16949 7.1.5.2.1). */
export const IMPACTS = ['no-impact', 'possible-impact', 'nonconforming'] as const;
/** What happens to the part or lot. */
export const DISPOSITIONS = ['use-as-is', 're-test', 'recall', 'scrap'] as const;
export const SHIPMENT_STATES: readonly ShipmentState[] = ['in-house', 'shipped', 'at-customer', 'scrapped'];
/** Shipment states that put a part in a customer's hands: its customer must be told. */
const AT_CUSTOMER: ReadonlySet<ShipmentState> = new Set(['shipped', 'at-customer']);
/** Suspect records read per page when a whole case is evaluated. */
const PAGE = 5000;

export const decisionSchema = z.strictObject({
  scope: z
    .enum(['part', 'lot', 'record'])
    .describe(
      'part: items are part serials; lot: work orders; record: "<edge>:<seq>" of records without a part',
    ),
  items: z
    .array(label(160))
    .min(1, 'name at least one part, lot or record')
    .max(10_000)
    .describe('The parts, lots or records decided on; each must belong to the case.'),
  impact: z.enum(IMPACTS).describe('What the failure means for these items.'),
  assessment: text(4000).describe(
    "The impact assessment: why, in words (what the instrument's error means for these parts).",
  ),
  disposition: z.enum(DISPOSITIONS).describe('What is done with these items.'),
  signature: signatureInputSchema.describe("The signer's password again and the meaning of the signature."),
});

export const notificationSchema = z.strictObject({
  customer: label(160).describe('The customer holding suspect parts.'),
  contact: label(160).describe('Who at the customer was told.'),
  notifiedAt: timestampSchema.describe('When they were told; not in the future.'),
  method: z
    .enum(['email', 'phone', 'letter', 'portal', 'meeting'])
    .optional()
    .describe('How they were told.'),
  reference: label(160).describe(
    "The customer's or our reference (an 8D, a concession request, a letter number).",
  ),
  signature: signatureInputSchema.describe("The signer's password again and the meaning of the signature."),
});

export const shipmentsSchema = z.strictObject({
  items: z
    .array(
      z.strictObject({
        partSerial: label(64).describe('The part, by serial number.'),
        state: z.enum(['in-house', 'shipped', 'at-customer', 'scrapped']).describe('Where the part is.'),
        customer: label(160).optional().describe('Who it was shipped to.'),
        shippedAt: timestampSchema.optional().describe('When it was shipped.'),
        reference: label(160).optional().describe('A delivery note or ERP reference.'),
      }),
    )
    .min(1)
    .max(10_000)
    .describe('Parts and where they are now; a later state of a part replaces the earlier one.'),
});

/** The caller as the cases see it: the request's reader (tenant, site scope, export clearance). */
export type CaseViewer = Pick<Viewer, 'tenantId' | 'sites' | 'cleared'>;

export interface DecisionView {
  id: string;
  scope: DecisionScope;
  item: string;
  impact: string;
  assessment: string;
  disposition: string;
  decidedAt: string;
  by: { id: string; email: string; name: string; role: string };
  meaning: string;
  signatureSha256: string;
}

export interface NotificationView {
  id: string;
  customer: string;
  contact: string;
  notifiedAt: string;
  method: string | null;
  reference: string;
  recordedAt: string;
  by: { id: string; email: string; name: string; role: string };
  meaning: string;
  signatureSha256: string;
}

export interface SuspectView {
  key: string;
  edge: string;
  seq: number;
  kind: 'usage' | 'inspection';
  observedAt: string;
  siteId: string;
  equipment: string;
  via: 'equipment' | 'gauge' | 'position';
  /** With via 'position': where the failed instrument sat ("RIG-01 / rail pressure"). */
  position: string | null;
  /** With via 'position': the record names that position (its value came from the instrument there). */
  named: boolean;
  partSerial: string | null;
  workOrder: string | null;
  operator: string | null;
  result: 'pass' | 'fail' | null;
  characteristics: SuspectCharacteristic[];
  shipment: {
    state: ShipmentState;
    customer: string | null;
    shippedAt: string | null;
    reference: string | null;
  } | null;
  decision: DecisionView | null;
}

/** Where a case stands: what is still needed before it closes. */
export interface CaseProgress {
  suspect: number;
  decided: number;
  undecided: number;
  /** Records with a characteristic whose margin is smaller than the instrument's error. */
  atRisk: number;
  /** No passing calibration since the failure: the instrument must not be used. */
  taggedOut: boolean;
  /** Customers holding suspect parts (shipped or at the customer), and which of them were told. */
  customers: { name: string; notified: boolean }[];
  /** What keeps it open, in words; empty once it can close. */
  waitingFor: string[];
}

export interface CaseSummary {
  id: string;
  equipment: string;
  equipmentType: string | null;
  siteId: string | null;
  calibrationId: string;
  openedAt: string;
  state: 'open' | 'closed';
  closedAt: string | null;
  closedReason: string | null;
  alertId: string | null;
  progress: CaseProgress;
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

function signedBy(signer: Signer, meaning: string, signature: string) {
  return {
    user_id: signer.user.id,
    user_email: signer.user.email,
    user_name: signer.user.name,
    user_role: signer.user.role,
    meaning,
    signature_sha256: signature,
  };
}

const byView = (r: { user_id: string; user_email: string; user_name: string; user_role: string }) => ({
  id: r.user_id,
  email: r.user_email,
  name: r.user_name,
  role: r.user_role,
});

export function decisionView(d: DecisionRow): DecisionView {
  return {
    id: d.id,
    scope: d.scope,
    item: d.item,
    impact: d.impact,
    assessment: d.assessment,
    disposition: d.disposition,
    decidedAt: d.decided_at,
    by: byView(d),
    meaning: d.meaning,
    signatureSha256: d.signature_sha256,
  };
}

function notificationView(n: NotificationRow): NotificationView {
  return {
    id: n.id,
    customer: n.customer,
    contact: n.contact,
    notifiedAt: n.notified_at,
    method: n.method,
    reference: n.reference,
    recordedAt: n.recorded_at,
    by: byView(n),
    meaning: n.meaning,
    signatureSha256: n.signature_sha256,
  };
}

/** The columns of a case's suspects CSV (GET /oot-cases/{id}/suspects.csv). */
export const CASE_CSV_COLUMNS = [
  'case',
  'failedEquipment',
  ...SUSPECT_CSV_COLUMNS,
  'shipmentState',
  'customer',
  'shippedAt',
  'decisionScope',
  'impact',
  'disposition',
  'assessment',
  'decidedBy',
  'decidedAt',
] as const;

/**
 * The decision that applies to a suspect record: the newest of those naming the record itself,
 * its part serial or its lot (work order). Built once per case from its decisions.
 */
export class Coverage {
  private readonly latest = new Map<string, DecisionRow>();

  constructor(decisions: readonly DecisionRow[]) {
    // Oldest first: a later decision on the same item replaces the earlier one.
    for (const d of decisions) this.latest.set(`${d.scope}\u0000${d.item}`, d);
  }

  of(r: {
    edge_id: string;
    seq: number;
    part_serial: string | null;
    work_order: string | null;
  }): DecisionRow | null {
    const found = [
      this.latest.get(`record\u0000${r.edge_id}:${r.seq}`),
      r.part_serial !== null ? this.latest.get(`part\u0000${r.part_serial}`) : undefined,
      r.work_order !== null ? this.latest.get(`lot\u0000${r.work_order}`) : undefined,
    ].filter((d): d is DecisionRow => d !== undefined);
    if (found.length === 0) return null;
    return found.reduce((a, b) =>
      b.decided_at > a.decided_at || (b.decided_at === a.decided_at && b.id > a.id) ? b : a,
    );
  }
}

export interface OotDeps {
  db: Db;
  repo: OotRepository;
  calibrations: CalibrationRepository;
  traceability: TraceabilityService;
  inspections: InspectionRepository;
  alerts: AlertsRepository;
  audit: AuditService;
  events?: DomainEventBus | undefined;
  /**
   * Equipment that may not be used for another reason (out of service, or waiting for a
   * calibration after a repair: the maintenance feature): tagged out as well, from `since`.
   */
  outOfService?: TagOutSource | undefined;
  /**
   * The sites' time zones: alert texts give the site's local dates and times, the zone named
   * (without it, or for a site not found: UTC).
   */
  tenancy?: Pick<TenancyRepository, 'sites'> | undefined;
}

/**
 * Another reason equipment is tagged out, by tag: since when, why, and its site. Asked only about
 * the tags `OotRepository.tagOutCandidates` finds rows for in maintenance's tables
 * (`equipment_service`, `maintenance_events`): a source reading other tables is added there too.
 */
export interface TagOutSource {
  blocked(
    tenantId: string,
    tags: readonly string[],
  ): Promise<Map<string, { since: string; reason: string; siteId: string | null }>>;
}

const SYSTEM: AuditActor = { type: 'system', id: 'out-of-tolerance' };

/**
 * Out-of-tolerance cases (ISO 9001 7.1.5.2, IATF 16949 7.1.5.2.1, AS9100D 7.1.5.2): a calibration
 * that finds an instrument out of tolerance (from a bench's record or entered by hand) opens a case
 * with an alert; the case lists every usage and inspection record made with the instrument in the
 * suspect window, with the characteristics it may have affected, their margins and the parts'
 * shipment state; the quality manager records signed impact assessments and dispositions per
 * part, lot or record, and signed customer notifications; the case closes once every suspect
 * record has a decision, every customer holding suspect parts was told, and the instrument passed
 * a calibration again. Until then the instrument is tagged out: a usage record from it raises an alert.
 */
export class OotService {
  constructor(private readonly deps: OotDeps) {}

  // -- hooks: inside the transactions that store calibrations and records ----------------------

  /** A calibration was stored: a failure opens a case; a pass may let a case close. */
  async onCalibrationStored(
    tenantId: string,
    c: { id: string; equipment: string; siteId: string | null; passed: boolean },
  ): Promise<void> {
    if (!c.passed) await this.open(tenantId, c);
    for (const open of await this.deps.repo.openFor(wholeTenant(tenantId), [c.equipment]))
      await this.evaluate(tenantId, open);
  }

  /** The manual entry that opened a case was rejected or returned: the case closes with it. */
  async onCalibrationVoided(
    tenantId: string,
    c: { id: string; equipment: string; reason: string },
  ): Promise<void> {
    const kase = await this.deps.repo.byCalibration(wholeTenant(tenantId), c.id);
    if (kase && kase.state === 'open') await this.closeCase(tenantId, kase, 'voided', c.reason);
    for (const open of await this.deps.repo.openFor(wholeTenant(tenantId), [c.equipment]))
      await this.evaluate(tenantId, open);
  }

  /**
   * Usage and inspection records just stored: one made with an instrument that is tagged out
   * (an open case without a passing calibration since) raises an alert, at most one per case and
   * hour.
   */
  async onRecordsStored(
    tenantId: string,
    edge: { id: string; siteId: string },
    records: readonly RigRecord[],
  ): Promise<void> {
    const uses: { tag: string; record: RigRecord }[] = [];
    for (const r of records) {
      if (r.kind !== 'usage' && r.kind !== 'inspection') continue;
      uses.push({ tag: r.equipment, record: r });
      if (r.kind === 'inspection') {
        const gauges = new Set(r.body.gauges ?? []);
        for (const ch of r.body.characteristics) if (ch.gauge) gauges.add(ch.gauge);
        for (const g of gauges) if (g !== r.equipment) uses.push({ tag: g, record: r });
      }
    }
    if (uses.length === 0) return;
    const tags = [...new Set(uses.map((u) => u.tag))];
    const { tagged, outOfService } = await this.tagOutsOf(tenantId, tags);
    if (tagged.size === 0 && outOfService.size === 0) return;
    for (const u of uses) {
      const t = tagged.get(u.tag);
      const at = new Date(u.record.observedAt).toISOString();
      const when = async (siteId: string | null) =>
        localMoment(at, await this.zoneAt(tenantId, siteId ?? edge.siteId));
      const by = u.record.equipment === u.tag ? u.tag : `${u.record.equipment} (with ${u.tag})`;
      const part = u.record.kind === 'inspection' ? ` on part ${u.record.body.partSerial}` : '';
      // Tagged out from the failed calibration on: a record from before it was measured in good faith.
      if (!t || at <= t.since) {
        // Or tagged out by maintenance (out of service, or a calibration required before use).
        const o = outOfService.get(u.tag);
        if (!o || at <= o.since) continue;
        await this.raise(tenantId, {
          dedupeKey: `tag-out:service:${u.tag}:${o.since}:${at.slice(0, 13)}`,
          siteId: o.siteId ?? edge.siteId,
          kind: 'tag-out',
          message: `${by} was used${part} at ${await when(o.siteId)} while ${u.tag} may not be used (${o.reason}): do not use it`,
          tag: u.tag,
          pointAt: at,
          detail: {
            outOfServiceSince: o.since,
            edge: edge.id,
            seq: u.record.seq,
            equipment: u.record.equipment,
          },
        });
        continue;
      }
      const k = t.k;
      await this.raise(tenantId, {
        dedupeKey: `tag-out:${k.id}:${at.slice(0, 13)}`,
        siteId: k.site_id ?? edge.siteId,
        kind: 'tag-out',
        message: `${by} was used${part} at ${await when(k.site_id)} while ${u.tag} is tagged out (out of tolerance, no passing calibration since): do not use it`,
        tag: u.tag,
        pointAt: at,
        detail: { caseId: k.id, edge: edge.id, seq: u.record.seq, equipment: u.record.equipment },
      });
    }
  }

  /**
   * The one tag-out rule: equipment with an open case and no passing calibration since (from the
   * failed calibration on), or out of service by maintenance (from `since`).
   */
  private async tagOutsOf(tenantId: string, tags: readonly string[]) {
    // One statement says which tags have anything to read (after a batch, almost always none);
    // the rule's reads are made for those tags only, both at once (one round trip less).
    const candidates = await this.deps.repo.tagOutCandidates(wholeTenant(tenantId), tags);
    const withCase = [...new Set(candidates.filter((c) => c.source === 'case').map((c) => c.equipment))];
    const withService = [...new Set(candidates.filter((c) => c.source !== 'case').map((c) => c.equipment))];
    const [cases, blocked] = await settled([
      withCase.length > 0 ? this.deps.repo.openFor(wholeTenant(tenantId), withCase) : Promise.resolve([]),
      withService.length > 0 ? this.deps.outOfService?.blocked(tenantId, withService) : undefined,
    ]);
    const tagged = new Map<string, { k: CaseRow; since: string }>();
    for (const k of cases) {
      const w = await this.windowOf(tenantId, k.equipment, k.calibration_id);
      if (w && w.end === null) tagged.set(k.equipment, { k, since: w.failedCalibration.calibratedAt });
    }
    const outOfService =
      blocked ?? new Map<string, { since: string; reason: string; siteId: string | null }>();
    return { tagged, outOfService };
  }

  // -- reads ---------------------------------------------------------------------------------

  /**
   * Which of `tags` may not be used now, and why: tagged out by an open out-of-tolerance case
   * (its id) or out of service by maintenance (the live floor's "Do not use").
   */
  async tagOuts(
    tenantId: string,
    tags: readonly string[],
  ): Promise<Map<string, { reason: string; caseId: string | null }>> {
    const out = new Map<string, { reason: string; caseId: string | null }>();
    if (tags.length === 0) return out;
    const { tagged, outOfService } = await this.tagOutsOf(tenantId, tags);
    for (const [tag, o] of outOfService) out.set(tag, { reason: o.reason, caseId: null });
    for (const [tag, t] of tagged)
      out.set(tag, { reason: 'out of tolerance, no passing calibration since', caseId: t.k.id });
    return out;
  }

  /**
   * Opens the cases of failed calibrations stored before cases existed (or whose case could not
   * be opened then): a failure is never left without one.
   */
  async ensureCases(tenantId: string): Promise<void> {
    const missing = await this.deps.repo.failuresWithoutCase(wholeTenant(tenantId));
    if (missing.length === 0) return;
    await committed(this.deps.db, async () => {
      for (const m of missing)
        await this.open(tenantId, { id: m.id, equipment: m.equipment, siteId: m.site_id });
    });
  }

  /** Cases the viewer may see, newest first, each with where it stands. */
  async list(
    v: CaseViewer,
    q: {
      state?: 'open' | 'closed' | undefined;
      equipment?: string | undefined;
      site?: string | undefined;
      limit: number;
    },
  ): Promise<{ items: CaseSummary[] }> {
    await this.ensureCases(v.tenantId);
    const rows = await this.deps.repo.list(v, {
      state: q.state,
      equipment: q.equipment,
      siteId: q.site,
      limit: q.limit,
    });
    const items: CaseSummary[] = [];
    for (const r of rows) items.push(await this.summary(v.tenantId, r));
    return { items };
  }

  /**
   * The cases of these calibrations, each with where it stands and its decisions (the
   * out-of-tolerance report, the clause map), by calibration id.
   */
  async casesOf(
    tenantId: string,
    calibrationIds: readonly string[],
  ): Promise<Map<string, CaseSummary & { coverage: Coverage; notifications: number }>> {
    await this.ensureCases(tenantId);
    const rows = await this.deps.repo.byCalibrations(wholeTenant(tenantId), calibrationIds);
    const tallies = await this.deps.repo.tallies(
      wholeTenant(tenantId),
      [...rows.values()].map((r) => r.id),
    );
    const out = new Map<string, CaseSummary & { coverage: Coverage; notifications: number }>();
    for (const [calId, k] of rows) {
      const t = tallies.get(k.id)!;
      out.set(calId, {
        ...(await this.summary(tenantId, k)),
        coverage: new Coverage(t.decisions),
        notifications: t.notifications,
      });
    }
    return out;
  }

  /** Tags of equipment tagged out now (an open case without a passing calibration since). */
  async taggedOut(tenantId: string): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const k of await this.deps.repo.allOpen(wholeTenant(tenantId))) {
      const w = await this.windowOf(tenantId, k.equipment, k.calibration_id);
      if (w && w.end === null) out.set(k.equipment, k.id);
    }
    return out;
  }

  /** A case in full: the failed calibration, the window, one page of suspect records, decisions, notifications. */
  async get(v: CaseViewer, id: string, page: { after?: string | undefined; limit: number }) {
    const k = await this.visible(v, id);
    const cal = await this.deps.calibrations.get(v, k.calibration_id);
    if (!cal) throw new Error(`the calibration of case ${id} is missing`);
    const sigs = await this.deps.calibrations.signaturesOf(v, [cal.id]);
    const window = await this.windowOf(v.tenantId, k.equipment, k.calibration_id);
    const error = instrumentError(JSON.parse(cal.body) as { points: [] });
    const decisions = await this.deps.repo.decisions(v, k.id);
    const coverage = new Coverage(decisions);
    const after = page.after ? decodeCursor(page.after) : undefined;
    const rows = window
      ? await this.deps.inspections.suspect(v, k.equipment, window.start, window.end, after, page.limit)
      : [];
    const shipments = await this.deps.repo.shipments(
      v,
      rows.flatMap((r) => (r.part_serial ? [r.part_serial] : [])),
    );
    const last = rows.at(-1);
    return {
      ...(await this.summary(v.tenantId, k)),
      calibration: calibrationView(cal, sigs),
      window,
      instrumentError: error,
      suspects: rows.map((r) => this.suspectView(r, k.equipment, error, coverage, shipments)),
      next: rows.length === page.limit && last ? `${last.observed_at}~${last.edge_id}~${last.seq}` : null,
      decisions: decisions.map(decisionView).reverse(),
      notifications: (await this.deps.repo.notifications(v, k.id)).map(notificationView),
    };
  }

  /** Every suspect record and characteristic of a case, with its shipment state and decision, as CSV. */
  async csv(v: CaseViewer, id: string): Promise<{ filename: string; text: string }> {
    const k = await this.visible(v, id);
    const cal = await this.deps.calibrations.get(v, k.calibration_id);
    const error = cal ? instrumentError(JSON.parse(cal.body) as { points: [] }) : null;
    const coverage = new Coverage(await this.deps.repo.decisions(v, k.id));
    const columns = CASE_CSV_COLUMNS;
    const lines = [columns.join(',')];
    for await (const rows of this.pages(v.tenantId, k, v)) {
      const shipments = await this.deps.repo.shipments(
        v,
        rows.flatMap((r) => (r.part_serial ? [r.part_serial] : [])),
      );
      for (const r of rows) {
        const d = coverage.of(r);
        const s = r.part_serial ? shipments.get(r.part_serial) : undefined;
        for (const line of suspectLines(r, k.equipment, error)) {
          const all: Record<(typeof columns)[number], string | number | boolean | null | undefined> = {
            case: k.id,
            failedEquipment: k.equipment,
            ...line,
            shipmentState: s?.state ?? null,
            customer: s?.customer ?? null,
            shippedAt: s?.shipped_at ?? null,
            decisionScope: d?.scope ?? null,
            impact: d?.impact ?? null,
            disposition: d?.disposition ?? null,
            assessment: d?.assessment ?? null,
            decidedBy: d?.user_email ?? null,
            decidedAt: d?.decided_at ?? null,
          };
          lines.push(columns.map((c) => csvField(all[c])).join(','));
        }
      }
    }
    return {
      filename: `oot-case-${k.equipment.replace(/[^A-Za-z0-9._-]/g, '_')}-${k.id.slice(0, 8)}.csv`,
      text: `${lines.join('\r\n')}\r\n`,
    };
  }

  // -- writes --------------------------------------------------------------------------------

  /**
   * Signed impact assessment and disposition of parts, lots or records of a case. Every item
   * must be one of the case's (a part serial, a work order, or a record key); one signature covers
   * the set. The case closes if this was the last thing it waited for.
   */
  async decide(v: CaseViewer, id: string, raw: unknown, signer: Signer) {
    const body = parseOrProblem(decisionSchema, raw, 'the request body is not valid');
    const k = await this.visible(v, id);
    if (k.state === 'closed') throw new ProblemError('CLOUD_CONFLICT', `case ${id} is closed`);
    const items = [...new Set(body.items)];
    const known = await this.itemsOf(v.tenantId, k, body.scope);
    const unknown = items.filter((i) => !known.has(i));
    if (unknown.length > 0)
      throw new ProblemError('CLOUD_VALIDATION', 'the request body is not valid', {
        errors: [
          {
            path: 'items',
            message: `not ${body.scope === 'part' ? 'a part' : body.scope === 'lot' ? 'a lot (work order)' : 'a record'} of this case: ${unknown.slice(0, 20).join(', ')}${unknown.length > 20 ? ` and ${unknown.length - 20} more` : ''}`,
          },
        ],
      });
    await signer.reauthenticate(body.signature.password, {
      action: 'oot.decide',
      target: { type: 'oot-case', id: k.id },
      meaning: body.signature.meaning,
    });
    return committed(this.deps.db, async () => {
      const at = new Date().toISOString();
      const manifest = canonicalJson({
        v: 1,
        tenant: v.tenantId,
        purpose: 'oot.decision',
        case: k.id,
        calibration: k.calibration_id,
        scope: body.scope,
        items: [...items].sort(),
        impact: body.impact,
        assessment: body.assessment,
        disposition: body.disposition,
        signer: signer.user,
        meaning: body.signature.meaning,
        signedAt: at,
      });
      const signature = sha256(manifest);
      const rows: DecisionRow[] = items.map((item) => ({
        tenant_id: v.tenantId,
        case_id: k.id,
        id: randomUUID(),
        scope: body.scope,
        item,
        impact: body.impact,
        assessment: body.assessment,
        disposition: body.disposition,
        decided_at: at,
        ...signedBy(signer, body.signature.meaning, signature),
      }));
      await this.deps.repo.insertDecisions(v.tenantId, rows);
      await this.deps.audit.record({
        tenantId: v.tenantId,
        action: 'oot.decide',
        outcome: 'success',
        actor: { type: 'user', ...signer.user },
        address: signer.address,
        target: { type: 'oot-case', id: k.id },
        after: {
          equipment: k.equipment,
          scope: body.scope,
          items: items.slice(0, 50),
          itemCount: items.length,
          impact: body.impact,
          disposition: body.disposition,
          assessment: body.assessment,
          meaning: body.signature.meaning,
          signatureSha256: signature,
        },
      });
      await this.evaluate(v.tenantId, k);
      return {
        decisions: rows.map(decisionView),
        case: await this.summary(v.tenantId, (await this.deps.repo.find(v, k.id))!),
      };
    });
  }

  /** A signed record that a customer was told about suspect product (who, when, reference). */
  async notify(v: CaseViewer, id: string, raw: unknown, signer: Signer) {
    const body = parseOrProblem(notificationSchema, raw, 'the request body is not valid');
    const k = await this.visible(v, id);
    if (body.notifiedAt > new Date(Date.now() + 5 * 60_000).toISOString())
      throw new ProblemError('CLOUD_VALIDATION', 'the request body is not valid', {
        errors: [{ path: 'notifiedAt', message: 'must not be in the future' }],
      });
    await signer.reauthenticate(body.signature.password, {
      action: 'oot.notify',
      target: { type: 'oot-case', id: k.id },
      meaning: body.signature.meaning,
    });
    return committed(this.deps.db, async () => {
      const at = new Date().toISOString();
      const notifiedAt = new Date(body.notifiedAt).toISOString();
      const manifest = canonicalJson({
        v: 1,
        tenant: v.tenantId,
        purpose: 'oot.notification',
        case: k.id,
        customer: body.customer,
        contact: body.contact,
        notifiedAt,
        method: body.method ?? null,
        reference: body.reference,
        signer: signer.user,
        meaning: body.signature.meaning,
        signedAt: at,
      });
      const row: NotificationRow = {
        tenant_id: v.tenantId,
        case_id: k.id,
        id: randomUUID(),
        customer: body.customer,
        contact: body.contact,
        notified_at: notifiedAt,
        method: body.method ?? null,
        reference: body.reference,
        recorded_at: at,
        ...signedBy(signer, body.signature.meaning, sha256(manifest)),
      };
      await this.deps.repo.insertNotification(v.tenantId, row);
      await this.deps.audit.record({
        tenantId: v.tenantId,
        action: 'oot.notify',
        outcome: 'success',
        actor: { type: 'user', ...signer.user },
        address: signer.address,
        target: { type: 'oot-case', id: k.id },
        after: { ...notificationView(row), by: undefined },
      });
      await this.evaluate(v.tenantId, k);
      return {
        notification: notificationView(row),
        case: await this.summary(v.tenantId, (await this.deps.repo.find(v, k.id))!),
      };
    });
  }

  /** Where parts are (from the ERP or a person): in house, shipped, at the customer, scrapped. */
  async setShipments(v: CaseViewer, raw: unknown, actor: AuditActor, address: string | null) {
    const body = parseOrProblem(shipmentsSchema, raw, 'the request body is not valid');
    const at = new Date().toISOString();
    const rows: ShipmentRow[] = body.items.map((i) => ({
      part_serial: i.partSerial,
      state: i.state,
      customer: i.customer ?? null,
      shipped_at: i.shippedAt ? new Date(i.shippedAt).toISOString() : null,
      reference: i.reference ?? null,
      updated_at: at,
      updated_by: actor.email ?? `${actor.type}:${actor.id}`,
    }));
    await committed(this.deps.db, async () => {
      await this.deps.repo.upsertShipments(v.tenantId, rows);
      await this.deps.audit.record({
        tenantId: v.tenantId,
        action: 'parts.shipments',
        outcome: 'success',
        actor,
        address,
        target: { type: 'parts', id: `${rows.length}` },
        after: { count: rows.length, parts: rows.slice(0, 50).map((r) => `${r.part_serial}=${r.state}`) },
      });
      // A shipment may make a case wait for a customer notification, or (scrapped) no longer.
      // Every open case is re-evaluated (the product's own bookkeeping), not only those the caller sees.
      for (const k of await this.deps.repo.allOpen(wholeTenant(v.tenantId)))
        await this.evaluate(v.tenantId, k);
    });
    return { updated: rows.length };
  }

  // -- internals -----------------------------------------------------------------------------

  /** The case if the viewer may see it; else 404 exactly as an absent one. */
  private async visible(v: CaseViewer, id: string): Promise<CaseListRow> {
    const k = /^[0-9a-f-]{36}$/.test(id) ? await this.deps.repo.find(v, id) : undefined;
    if (!k) throw new ProblemError('CLOUD_NOT_FOUND', 'no such out-of-tolerance case');
    return k;
  }

  private async open(
    tenantId: string,
    c: { id: string; equipment: string; siteId: string | null },
  ): Promise<void> {
    const cal = await this.deps.calibrations.get(wholeTenant(tenantId), c.id);
    if (!cal) return;
    const id = randomUUID();
    const now = new Date().toISOString();
    if (
      !(await this.deps.repo.insertCase(tenantId, {
        id,
        equipment: c.equipment,
        site_id: c.siteId,
        calibration_id: c.id,
        opened_at: now,
        state: 'open',
        closed_at: null,
        closed_reason: null,
        alert_id: null,
      }))
    )
      return;
    const w = await this.windowOf(tenantId, c.equipment, c.id);
    const suspect = w ? await this.deps.traceability.countSuspect(tenantId, c.equipment, w.start, w.end) : 0;
    const found = cal.as_found === 'fail' ? 'failed as found' : 'was left out of tolerance';
    // The window's dates are the site's local days, the zone named (a UTC date is a day off in
    // the evening west of UTC, in the morning east of it).
    const zone = await this.zoneAt(tenantId, c.siteId);
    const day = (iso: string) => localDay(Date.parse(iso), zone);
    const since = w?.start ? `since ${day(w.start)}` : 'since its first record';
    const alertId = await this.raise(tenantId, {
      dedupeKey: `oot:${c.id}`,
      siteId: c.siteId,
      kind: 'out-of-tolerance',
      message: `${c.equipment} ${found} on ${day(cal.calibrated_at)}: ${suspect} usage and inspection records made with it ${since} are suspect (dates in ${zone}). An out-of-tolerance case is open; do not use it until it passes calibration.`,
      tag: c.equipment,
      pointAt: cal.calibrated_at,
      detail: { caseId: id, calibrationId: c.id, suspectRecords: suspect },
    });
    if (alertId) await this.deps.repo.setAlert(tenantId, id, alertId);
    await this.deps.audit.record({
      tenantId,
      action: 'oot.open',
      outcome: 'success',
      actor: SYSTEM,
      target: { type: 'oot-case', id },
      after: {
        equipment: c.equipment,
        calibrationId: c.id,
        suspectRecords: suspect,
        windowStart: w?.start ?? null,
      },
    });
  }

  /** The IANA time zone of a site (UTC without one, or without the sites' zones). */
  private async zoneAt(tenantId: string, siteId: string | null): Promise<string> {
    if (siteId === null || !this.deps.tenancy) return 'UTC';
    return (await this.deps.tenancy.sites(wholeTenant(tenantId), [siteId]))[0]?.time_zone ?? 'UTC';
  }

  /** The suspect window of a case; null when its calibration no longer counts (rejected or returned). */
  private async windowOf(
    tenantId: string,
    tag: string,
    calibrationId: string,
  ): Promise<SuspectWindow | null> {
    try {
      return await this.deps.traceability.window(tenantId, tag, calibrationId);
    } catch (err) {
      if (err instanceof ProblemError && err.code === 'CLOUD_NOT_FOUND') return null;
      throw err;
    }
  }

  /** Stores an alert once per dedupe key and announces it after the commit; returns its id when new. */
  private async raise(
    tenantId: string,
    a: {
      dedupeKey: string;
      siteId: string | null;
      kind: 'out-of-tolerance' | 'tag-out';
      message: string;
      tag: string;
      pointAt: string;
      detail: Record<string, unknown>;
    },
  ): Promise<string | null> {
    const id = randomUUID();
    const at = new Date().toISOString();
    const stored = await this.deps.alerts.insert(tenantId, {
      id,
      dedupeKey: a.dedupeKey,
      site_id: a.siteId,
      kind: a.kind,
      severity: 'critical',
      message: a.message,
      at,
      tag: a.tag,
      characteristic: null,
      rule: null,
      chart: null,
      point_at: a.pointAt,
      detail: JSON.stringify(a.detail),
    });
    if (!stored) return null;
    emitAfterCommit(this.deps.events, 'alert', {
      tenantId,
      siteId: a.siteId,
      id,
      kind: a.kind,
      severity: 'critical',
      message: a.message,
      at,
      tag: a.tag,
      ...(typeof a.detail.caseId === 'string' ? { caseId: a.detail.caseId } : {}),
    });
    return id;
  }

  /** Every suspect record of a case, page by page (only those the viewer may see, when given). */
  private async *pages(tenantId: string, k: CaseRow, viewer: CaseViewer | null = null) {
    const w = await this.windowOf(tenantId, k.equipment, k.calibration_id);
    if (!w) return;
    yield* this.deps.traceability.suspectPages(tenantId, k.equipment, w.start, w.end, {
      pageSize: PAGE,
      viewer,
    });
  }

  /** The case's part serials, lots or record keys. */
  private async itemsOf(tenantId: string, k: CaseRow, scope: DecisionScope): Promise<Set<string>> {
    const out = new Set<string>();
    for await (const rows of this.pages(tenantId, k))
      for (const r of rows) {
        if (scope === 'record') out.add(`${r.edge_id}:${r.seq}`);
        else if (scope === 'part' && r.part_serial !== null) out.add(r.part_serial);
        else if (scope === 'lot' && r.work_order !== null) out.add(r.work_order);
      }
    return out;
  }

  /** Where the case stands, from every suspect record (all sites: a case is decided as a whole). */
  private async progress(
    tenantId: string,
    k: CaseRow,
  ): Promise<CaseProgress & { window: SuspectWindow | null }> {
    const window = await this.windowOf(tenantId, k.equipment, k.calibration_id);
    const cal = await this.deps.calibrations.get(wholeTenant(tenantId), k.calibration_id);
    const error = cal ? instrumentError(JSON.parse(cal.body) as { points: [] }) : null;
    const coverage = new Coverage(await this.deps.repo.decisions(wholeTenant(tenantId), k.id));
    let suspect = 0;
    let decided = 0;
    let atRisk = 0;
    const customers = new Map<string, string>();
    for await (const rows of this.pages(tenantId, k)) {
      const shipments = await this.deps.repo.shipments(
        wholeTenant(tenantId),
        rows.flatMap((r) => (r.part_serial ? [r.part_serial] : [])),
      );
      for (const r of rows) {
        suspect += 1;
        if (coverage.of(r)) decided += 1;
        if (suspectCharacteristics(r, k.equipment, error).some((c) => c.atRisk)) atRisk += 1;
        const s = r.part_serial ? shipments.get(r.part_serial) : undefined;
        if (s && AT_CUSTOMER.has(s.state)) {
          const name = s.customer ?? 'customer not recorded';
          customers.set(name.toLowerCase(), name);
        }
      }
    }
    const told = new Set(
      (await this.deps.repo.notifications(wholeTenant(tenantId), k.id)).map((n) => n.customer.toLowerCase()),
    );
    const customerList = [...customers.entries()].map(([key, name]) => ({ name, notified: told.has(key) }));
    const taggedOut = window !== null && window.end === null;
    const waitingFor: string[] = [];
    if (k.state === 'open') {
      if (taggedOut)
        waitingFor.push(`a passing calibration of ${k.equipment} (it must not be used until then)`);
      if (suspect - decided > 0)
        waitingFor.push(`a decision on ${suspect - decided} of ${suspect} suspect records`);
      const missing = customerList.filter((c) => !c.notified).map((c) => c.name);
      if (missing.length > 0) waitingFor.push(`notifying ${missing.join(', ')} (suspect parts were shipped)`);
    }
    return {
      window,
      suspect,
      decided,
      undecided: suspect - decided,
      atRisk,
      taggedOut: k.state === 'open' && taggedOut,
      customers: customerList,
      waitingFor,
    };
  }

  private async summary(tenantId: string, k: CaseRow & { type?: string | null }): Promise<CaseSummary> {
    const { window: _w, ...progress } = await this.progress(tenantId, k);
    return {
      id: k.id,
      equipment: k.equipment,
      equipmentType: k.type ?? null,
      siteId: k.site_id,
      calibrationId: k.calibration_id,
      openedAt: k.opened_at,
      state: k.state,
      closedAt: k.closed_at,
      closedReason: k.closed_reason,
      alertId: k.alert_id,
      progress,
    };
  }

  /** Closes the case when nothing is left to wait for (inside the caller's transaction). */
  private async evaluate(tenantId: string, k: CaseRow): Promise<void> {
    const fresh = await this.deps.repo.find(wholeTenant(tenantId), k.id);
    if (!fresh || fresh.state !== 'open') return;
    const p = await this.progress(tenantId, fresh);
    if (p.waitingFor.length > 0) return;
    await this.closeCase(
      tenantId,
      fresh,
      'decided',
      `every one of ${p.suspect} suspect records has a decision${p.customers.length ? `, ${p.customers.length} customers notified` : ''}, and ${fresh.equipment} passed calibration again`,
    );
  }

  private async closeCase(tenantId: string, k: CaseRow, reason: 'decided' | 'voided', detail: string) {
    const at = new Date().toISOString();
    if (!(await this.deps.repo.close(tenantId, k.id, at, reason))) return;
    if (k.alert_id)
      await this.deps.alerts.acknowledge(
        tenantId,
        k.alert_id,
        `case ${reason === 'decided' ? 'closed' : 'voided'}`,
        at,
      );
    await this.deps.audit.record({
      tenantId,
      action: 'oot.close',
      outcome: 'success',
      actor: SYSTEM,
      target: { type: 'oot-case', id: k.id },
      after: { equipment: k.equipment, reason, closedAt: at },
      detail,
    });
  }

  private suspectView(
    r: SuspectRow,
    tag: string,
    error: InstrumentError | null,
    coverage: Coverage,
    shipments: Map<string, ShipmentRow>,
  ): SuspectView {
    const item = itemView(r);
    const rec = item.record as { body?: { operator?: string } };
    const s = r.part_serial ? shipments.get(r.part_serial) : undefined;
    const d = coverage.of(r);
    return {
      key: `${r.edge_id}:${r.seq}`,
      edge: r.edge_id,
      seq: r.seq,
      kind: r.kind,
      observedAt: r.observed_at,
      siteId: r.site_id,
      equipment: r.equipment,
      via: r.via,
      position: r.position,
      named: namesPosition(r),
      partSerial: r.part_serial,
      workOrder: r.work_order,
      operator: rec.body?.operator ?? null,
      result: r.result,
      characteristics: suspectCharacteristics(r, tag, error),
      shipment: s
        ? { state: s.state, customer: s.customer, shippedAt: s.shipped_at, reference: s.reference }
        : null,
      decision: d ? decisionView(d) : null,
    };
  }
}
