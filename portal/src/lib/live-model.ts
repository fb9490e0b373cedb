/**
 * The plant-floor dashboard's model, as pure functions (tested in portal/test/live.test.ts):
 * the REST snapshot (GET /sites/{siteId}/live) and the socket.io pushes (`telemetry`, `rig`,
 * `alert`; their types are the API document's `x-socket-events` payloads) folded into one view of a site, and
 * a bounded ring buffer per telemetry point for the small time-series charts.
 */
import { byName, meaningfulValues, wordFor, type SignalEntry } from '@rigtrace/protocols/signals';
import type { components, paths } from './api-types.js';
import { dayIn, formatClock } from './time.js';
import { signalLabel, unitLabel } from './units.js';

export type LiveSnapshot =
  paths['/sites/{siteId}/live']['get']['responses'][200]['content']['application/json'];
export type RigState = 'running' | 'idle' | 'stopped';
/** Rig: it has sent telemetry, a signal dictionary or a test result; gauge: none of these (a caliper, a setting ring, a torque wrench). */
export type FloorKind = 'rig' | 'gauge';
/** A gauge's calibration, as the snapshot gives it. */
export type FloorCalibration = NonNullable<SnapshotRig['calibration']>;
export type SnapshotRig = LiveSnapshot['rigs'][number];
/** A rig's last completed test, per test point (GET /sites/{siteId}/live). */
export type CompletedTest = NonNullable<SnapshotRig['lastTest']>;
export type { SignalEntry };
export type Quality = 'good' | 'uncertain' | 'bad';
export type PointValue = number | boolean | string | null;

export interface LivePoint {
  point: string;
  value: PointValue;
  unit: string | null;
  quality: Quality;
  observedAt: string;
}

export interface LiveRig {
  /** edgeId + equipment: the same asset tag behind two edges is two rigs. */
  key: string;
  equipment: string;
  edgeId: string;
  /** Decided by the cloud from its data (telemetry or none); a telemetry push makes it a rig. */
  kind: FloorKind;
  state: RigState;
  stateSince: string | null;
  lastSeenAt: string;
  /** Its latest usage record's time; null: none. */
  lastUsedAt: string | null;
  /** A gauge's calibration status (null: a rig, or not in the register). */
  calibration: FloorCalibration | null;
  /** Equipment (a rig, a bench, a gauge) the cloud's tag-out rule says may not be used, and why; null: it may be used. */
  doNotUse: { reason: string; caseId: string | null } | null;
  operator?: string | undefined;
  workOrder?: string | undefined;
  partSerial?: string | undefined;
  values: Record<string, LivePoint>;
  /** The signal dictionary its edge sent (empty: the built-in labels apply). */
  signals: SignalEntry[];
  /** Its last completed test; null before the first. */
  lastTest: CompletedTest | null;
}

type Schemas = components['schemas'];

/** An alert, as pushed and as listed in the snapshot. */
export type LiveAlert = Schemas['LiveAlert'];

/** The pushes the page listens to: the payloads of the API document's `x-socket-events`. */
export type TelemetryMessage = Schemas['LiveTelemetry'];
export type RigMessage = Schemas['LiveRig'];
export type RecordsMessage = Schemas['LiveRecords'];
export type StatusMessage = Schemas['LiveStatus'];
export type ServiceMessage = Schemas['LiveService'];

/** What the server pushes, by socket.io event (the document's `x-socket-events`). */
export interface ServerEvents {
  telemetry: (m: TelemetryMessage) => void;
  rig: (m: RigMessage) => void;
  records: (m: RecordsMessage) => void;
  calibration: (m: Schemas['LiveCalibration']) => void;
  status: (m: StatusMessage) => void;
  service: (m: ServiceMessage) => void;
  alert: (m: LiveAlert) => void;
}

/** The server's acknowledgement of `subscribe` and `unsubscribe`. */
export type LiveAck = Schemas['LiveAck'];

/** What the page sends, with the server's acknowledgement (the document's `x-socket-events`). */
export interface ClientEvents {
  subscribe: (m: Schemas['LiveSubscribeInput'], ack: (r: LiveAck) => void) => void;
  unsubscribe: (m: Schemas['LiveSubscribeInput'], ack: (r: LiveAck) => void) => void;
}

/** How many open alerts the page keeps (the snapshot gives at most 20). */
export const MAX_ALERTS = 20;
/** The time-series window of each point. */
export const WINDOW_MS = 10 * 60_000;
/** At most this many samples per point (one a second for 10 minutes, with room to spare). */
export const RING_CAPACITY = 1200;
/** Key values shown (and charted) per rig card; the rest are behind "all values". */
export const KEY_POINTS = 6;

export const rigKey = (edgeId: string, equipment: string) => `${edgeId}\u0000${equipment}`;

/**
 * A fixed-size ring of (time, value) samples of one point. Pushing is O(1); samples older than
 * the newest by more than `windowMs` are left out of `series()`. Out-of-order samples (a buffer
 * replayed after a reconnect) are dropped unless newer than the newest kept.
 */
export class Ring {
  private readonly t: Float64Array;
  private readonly v: Float64Array;
  private start = 0;
  private count = 0;

  constructor(
    readonly capacity = RING_CAPACITY,
    readonly windowMs = WINDOW_MS,
  ) {
    this.t = new Float64Array(capacity);
    this.v = new Float64Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** The newest sample's time (ms), or -Infinity when empty. */
  get last(): number {
    return this.count === 0 ? -Infinity : this.t[(this.start + this.count - 1) % this.capacity]!;
  }

  /** Adds a sample; returns false if it was not newer than the newest one. */
  push(atMs: number, value: number): boolean {
    if (!Number.isFinite(atMs) || !Number.isFinite(value) || atMs <= this.last) return false;
    const i = (this.start + this.count) % this.capacity;
    this.t[i] = atMs;
    this.v[i] = value;
    if (this.count < this.capacity) this.count += 1;
    else this.start = (this.start + 1) % this.capacity;
    return true;
  }

  /** uPlot's columns: x in Unix seconds, oldest first, within the window ending at `nowMs` (default: the newest). */
  series(nowMs = this.last): [number[], number[]] {
    const xs: number[] = [];
    const ys: number[] = [];
    const from = nowMs - this.windowMs;
    for (let k = 0; k < this.count; k += 1) {
      const i = (this.start + k) % this.capacity;
      const t = this.t[i]!;
      if (t < from) continue;
      xs.push(t / 1000);
      ys.push(this.v[i]!);
    }
    return [xs, ys];
  }
}

/** The rings of a site's points, by rig key and point name (kept outside reactive state). */
export class Rings {
  private readonly byKey = new Map<string, Ring>();

  constructor(
    private readonly capacity = RING_CAPACITY,
    private readonly windowMs = WINDOW_MS,
  ) {}

  get(rig: string, point: string): Ring | undefined {
    return this.byKey.get(`${rig}\u0000${point}`);
  }

  /** Records a numeric value (booleans and text are not charted); true if the ring changed. */
  add(rig: string, p: LivePoint): boolean {
    if (typeof p.value !== 'number' || p.quality === 'bad') return false;
    const k = `${rig}\u0000${p.point}`;
    let ring = this.byKey.get(k);
    if (!ring) {
      ring = new Ring(this.capacity, this.windowMs);
      this.byKey.set(k, ring);
    }
    return ring.push(Date.parse(p.observedAt), p.value);
  }

  clear(): void {
    this.byKey.clear();
  }
}

export interface SiteView {
  siteId: string;
  at: string;
  rigs: LiveRig[];
  today: LiveSnapshot['today'];
  alerts: LiveAlert[];
}

const sortRigs = (rigs: LiveRig[]) =>
  rigs.sort((a, b) => a.equipment.localeCompare(b.equipment) || a.edgeId.localeCompare(b.edgeId));

/** A fresh snapshot as the page's view. Values already newer in `previous` (pushed while the snapshot was on its way) are kept. */
export function fromSnapshot(s: LiveSnapshot, previous?: SiteView): SiteView {
  const before = new Map(
    (previous && previous.siteId === s.siteId ? previous.rigs : []).map((r) => [r.key, r]),
  );
  const rigs = s.rigs.map((r): LiveRig => {
    const key = rigKey(r.edgeId, r.equipment);
    const old = before.get(key);
    const values: Record<string, LivePoint> = {};
    for (const v of r.values) values[v.point] = { ...v, value: v.value, unit: v.unit ?? null };
    if (old)
      for (const [name, v] of Object.entries(old.values))
        if (!values[name] || values[name].observedAt < v.observedAt) values[name] = v;
    return {
      key,
      equipment: r.equipment,
      edgeId: r.edgeId,
      // A telemetry push that came while the snapshot was on its way made it a rig.
      kind: old?.kind === 'rig' ? 'rig' : r.kind,
      state: r.state,
      stateSince: r.stateSince ?? null,
      lastSeenAt: old && old.lastSeenAt > r.lastSeenAt ? old.lastSeenAt : r.lastSeenAt,
      lastUsedAt:
        old?.lastUsedAt && (!r.lastUsedAt || old.lastUsedAt > r.lastUsedAt) ? old.lastUsedAt : r.lastUsedAt,
      calibration: r.calibration ?? null,
      doNotUse: r.doNotUse ?? null,
      operator: old?.operator,
      workOrder: old?.workOrder,
      partSerial: old?.partSerial,
      values,
      signals: r.signals ?? [],
      lastTest: r.lastTest ?? null,
    };
  });
  return {
    siteId: s.siteId,
    at: s.at,
    rigs: sortRigs(rigs),
    today: s.today,
    alerts: s.alerts.map((a) => ({ ...a, siteId: a.siteId ?? null })).slice(0, MAX_ALERTS),
  };
}

/** Applies a `telemetry` push in place: newer values replace older ones; a rig not seen before gets a card. Returns the changed points. */
export function applyTelemetry(view: SiteView, msg: TelemetryMessage): { rig: string; point: LivePoint }[] {
  if (msg.siteId !== view.siteId) return [];
  const changed: { rig: string; point: LivePoint }[] = [];
  for (const item of msg.items) {
    const key = rigKey(msg.edgeId, item.equipment);
    let rig = view.rigs.find((r) => r.key === key);
    if (!rig) {
      rig = {
        key,
        equipment: item.equipment,
        edgeId: msg.edgeId,
        kind: 'rig',
        state: 'idle',
        stateSince: null,
        lastSeenAt: item.observedAt,
        lastUsedAt: null,
        calibration: null,
        doNotUse: null,
        values: {},
        signals: [],
        lastTest: null,
      };
      view.rigs.push(rig);
      sortRigs(view.rigs);
      rig = view.rigs.find((r) => r.key === key)!;
    }
    // Telemetry: a rig from now on (the cloud's rule: equipment that sends telemetry is no gauge).
    // Whether it may be used does not depend on that: its tag-out stays.
    if (rig.kind !== 'rig') {
      rig.kind = 'rig';
      rig.calibration = null;
    }
    const old = rig.values[item.point];
    if (old && old.observedAt > item.observedAt) continue;
    const point: LivePoint = {
      point: item.point,
      value: item.value,
      unit: item.unit ?? null,
      quality: item.quality,
      observedAt: item.observedAt,
    };
    rig.values[item.point] = point;
    if (item.observedAt > rig.lastSeenAt) rig.lastSeenAt = item.observedAt;
    changed.push({ rig: key, point });
  }
  // A value its dictionary says means nothing now (an idle zero between tests) is not charted.
  return changed.filter((c) => {
    const rig = view.rigs.find((r) => r.key === c.rig);
    return !rig || !notMeaningfulNow(rig).has(c.point.point);
  });
}

/** Applies a `rig` push (a run started or stopped) in place; true if the view changed. */
export function applyRig(view: SiteView, msg: RigMessage): boolean {
  if (msg.siteId !== view.siteId) return false;
  const key = rigKey(msg.edgeId, msg.equipment);
  let rig = view.rigs.find((r) => r.key === key);
  if (!rig) {
    view.rigs.push({
      key,
      equipment: msg.equipment,
      edgeId: msg.edgeId,
      kind: msg.kind,
      state: msg.state,
      stateSince: msg.observedAt,
      lastSeenAt: msg.observedAt,
      lastUsedAt: msg.observedAt,
      calibration: null,
      doNotUse: null,
      values: {},
      signals: [],
      lastTest: null,
    });
    sortRigs(view.rigs);
    rig = view.rigs.find((r) => r.key === key)!;
  } else if (rig.stateSince && rig.stateSince > msg.observedAt) {
    return false; // an older change than the one shown
  } else {
    if (rig.state !== msg.state || !rig.stateSince) rig.stateSince = msg.observedAt;
    rig.state = msg.state;
    if (msg.observedAt > rig.lastSeenAt) rig.lastSeenAt = msg.observedAt;
    if (!rig.lastUsedAt || msg.observedAt > rig.lastUsedAt) rig.lastUsedAt = msg.observedAt;
    if (msg.kind === 'rig') rig.kind = 'rig';
  }
  rig.operator = msg.operator;
  rig.workOrder = msg.workOrder;
  rig.partSerial = msg.partSerial;
  return true;
}

const CALIBRATION_STATUSES: readonly string[] = ['current', 'due-soon', 'overdue', 'out-of-tolerance'];

/**
 * Applies a `status` push (a calibration status changed) to the gauges of that tag in place; true
 * if the view changed. Its next due date may have moved too: the page reads the snapshot again.
 */
export function applyStatus(view: SiteView, msg: StatusMessage): boolean {
  if (!CALIBRATION_STATUSES.includes(msg.to)) return false;
  const gauges = gaugesOf(view, msg);
  for (const rig of gauges)
    rig.calibration = {
      status: msg.to as FloorCalibration['status'],
      nextDue: rig.calibration?.nextDue ?? null,
    };
  return gauges.length > 0;
}

/**
 * Applies a `service` push (whether the equipment may be used changed: out of service, returned,
 * a repair waiting for its calibration, a tag-out ended) in place to every tile of that tag, rig,
 * bench, station or gauge (one per edge that reports it), as the snapshot shows them; true if
 * the view changed.
 */
export function applyService(view: SiteView, msg: ServiceMessage): boolean {
  const tiles = tilesOf(view, msg);
  for (const rig of tiles) rig.doNotUse = msg.doNotUse;
  return tiles.length > 0;
}

/** Every tile of a push's tag on the view's site (none when the push is about another site). */
function tilesOf(view: SiteView, msg: { siteId: string | null; tag: string }): SiteView['rigs'] {
  if (msg.siteId !== null && msg.siteId !== view.siteId) return [];
  return view.rigs.filter((rig) => rig.equipment === msg.tag);
}

/** The gauges of a push's tag on the view's site (a calibration status is shown on gauges only). */
function gaugesOf(view: SiteView, msg: { siteId: string | null; tag: string }): SiteView['rigs'] {
  return tilesOf(view, msg).filter((rig) => rig.kind === 'gauge');
}

/** Applies an `alert` push: newest first, no duplicates, at most MAX_ALERTS. */
export function applyAlert(view: SiteView, alert: LiveAlert): boolean {
  if (alert.siteId !== null && alert.siteId !== view.siteId) return false;
  if (view.alerts.some((a) => a.id === alert.id)) return false;
  view.alerts.unshift(alert);
  view.alerts.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
  view.alerts.length = Math.min(view.alerts.length, MAX_ALERTS);
  return true;
}

/** A `records` push that holds inspections changes today's counts: the page re-reads the snapshot for them. */
export const changesToday = (msg: RecordsMessage) =>
  (msg.counts.inspection ?? 0) > 0 || (msg.counts.usage ?? 0) > 0;

/** Points that only describe the run (shown as text, not as values). */
const DESCRIPTIVE = new Set(['state', 'partSerial', 'workOrder', 'operator']);

/** The points whose latest value means nothing now by the rig's dictionary (`when`: an idle zero between tests). */
export function notMeaningfulNow(rig: Pick<LiveRig, 'values' | 'signals'>): Set<string> {
  const all = Object.values(rig.values);
  const kept = new Set(meaningfulValues(all, rig.signals).map((v) => v.point));
  return new Set(all.filter((v) => !kept.has(v.point)).map((v) => v.point));
}

/** Points with words for their codes (state, test point): shown as words in the card's "now" line. */
const coded = (rig: Pick<LiveRig, 'signals'>, point: string) =>
  rig.signals.some((s) => s.name === point && s.codes !== undefined);

/**
 * The values a card shows first: numbers with a unit (pressures, quantities, temperatures) in the
 * order they first came, at most `max`. Coded signals (state, test point) are in the card's "now"
 * line instead. The rest stay available in the card's full list.
 */
export function keyPoints(rig: LiveRig, max = KEY_POINTS): string[] {
  const all = Object.values(rig.values).filter((v) => !DESCRIPTIVE.has(v.point) && !coded(rig, v.point));
  const withUnit = all.filter((v) => typeof v.value === 'number' && (v.unit || unitOf(rig, v.point)));
  const others = all.filter((v) => !withUnit.includes(v));
  return [...withUnit, ...others].slice(0, max).map((v) => v.point);
}

/** What a rig is doing now, in words: each coded signal's word for its value (Testing, Idle · 350 bar). */
export function nowWords(rig: LiveRig): { point: string; label: string; word: string }[] {
  const idle = notMeaningfulNow(rig);
  const out: { point: string; label: string; word: string }[] = [];
  for (const s of rig.signals) {
    const v = rig.values[s.name];
    if (!s.codes || !v || idle.has(s.name)) continue;
    const word = wordFor(s, v.value);
    out.push({ point: s.name, label: s.label ?? signalLabel(s.name), word: word ?? formatValue(v.value) });
  }
  return out;
}

/** A signal's (or test point's, or characteristic's) name for people: the dictionary's label, else the built-in one. */
export function nameOf(rig: Pick<LiveRig, 'signals'>, name: string): string {
  return byName(rig.signals).get(name)?.label ?? signalLabel(name);
}

/** A signal's unit as people write it: the dictionary's, else the recorded one read by unitLabel. */
export function unitOf(rig: Pick<LiveRig, 'signals'>, point: string, recorded?: string | null): string {
  return byName(rig.signals).get(point)?.unit ?? unitLabel(recorded);
}

/** A value as text: the word for a coded value where the dictionary has one, else formatValue. */
export function valueText(
  rig: Pick<LiveRig, 'signals'>,
  point: string,
  value: PointValue,
  unit?: string | null,
): string {
  return wordFor(byName(rig.signals).get(point), value) ?? formatValue(value, unit);
}

/** A test point of the last test, named: the dictionary's label, the built-in label, or "Whole part" for none. */
export function testPointName(rig: Pick<LiveRig, 'signals'>, name: string | null): string {
  return name === null ? 'Whole part' : nameOf(rig, name);
}

/** A characteristic's quantity in the last test, named: by its whole name, its quantity, or the built-in label. */
export function quantityName(rig: Pick<LiveRig, 'signals'>, c: { name: string; quantity: string }): string {
  const d = byName(rig.signals);
  return d.get(c.name)?.label ?? d.get(c.quantity)?.label ?? signalLabel(c.quantity);
}

/** The quantities of a test, in the order they first appear (the columns of the card's table). */
export function testQuantities(test: CompletedTest): string[] {
  const out: string[] = [];
  for (const tp of test.testPoints)
    for (const c of tp.characteristics) if (!out.includes(c.quantity)) out.push(c.quantity);
  return out;
}

/** A rig heard from less recently than this shows as stale, whatever its last state said. */
export const STALE_AFTER_MS = 60_000;

/**
 * What a card says: the rig's run state; "reporting" for equipment that sends values but has no
 * run state (no usage tracking: a bench, a sensor), which is not idle; "stale" when nothing came
 * from it for a while, whatever its last state said.
 */
export type ShownState = RigState | 'reporting' | 'stale' | 'gauge' | 'in-use' | 'do-not-use';

/**
 * "Do not use" while the cloud says the equipment is tagged out (out of tolerance, out of service,
 * a repair waiting for its calibration), whatever it is: a rig's run state says nothing then.
 * Otherwise a gauge (it never sent telemetry or a test result) has no run state: "in use" once a
 * usage record names it (with its last use), else just "gauge"; never running, idle or stale.
 */
export function shownState(
  rig: Pick<LiveRig, 'kind' | 'state' | 'stateSince' | 'lastSeenAt' | 'lastUsedAt'> &
    Partial<Pick<LiveRig, 'doNotUse'>>,
  nowMs: number,
): ShownState {
  if (rig.doNotUse) return 'do-not-use';
  if (rig.kind === 'gauge') return rig.lastUsedAt ? 'in-use' : 'gauge';
  if (rig.state !== 'stopped' && nowMs - Date.parse(rig.lastSeenAt) > STALE_AFTER_MS) return 'stale';
  if (rig.state === 'idle' && rig.stateSince === null) return 'reporting';
  return rig.state;
}

/**
 * A value as fixed-width text: numbers get a number of decimals that depends only on the point's
 * unit-scale (so a value ticking from 9.99 to 10.01 keeps its width), booleans yes/no.
 */
export function formatValue(value: PointValue, unit?: string | null): string {
  if (value === null) return '—';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value === 'string') return value.trim() || '—';
  if (!Number.isFinite(value)) return '—';
  const a = Math.abs(value);
  const decimals = Number.isInteger(value) && !unit ? 0 : a >= 1000 ? 0 : a >= 100 ? 1 : a >= 10 ? 2 : 3;
  return value.toLocaleString('en-US', {
    minimumFractionDigits: decimals,
    maximumFractionDigits: decimals,
    useGrouping: a >= 10_000,
  });
}

/** "98.2 %" or "—" when nothing was inspected yet. */
export function formatYield(fpy: number | null): string {
  return fpy === null ? '—' : `${(Math.round(fpy * 1000) / 10).toFixed(1)} %`;
}

/** Connection states the page shows (aria-live, politely). */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'offline';

export const CONNECTION_TEXT: Record<ConnectionState, string> = {
  connecting: 'Connecting…',
  connected: 'Live',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
};

/**
 * After a lost connection: "reconnecting" while the browser is online and the outage is short,
 * "offline" when the browser says it is offline or after `offlineAfterMs` of failed attempts.
 */
export function stateAfterLoss(
  lostSinceMs: number,
  nowMs: number,
  online: boolean,
  offlineAfterMs = 30_000,
): ConnectionState {
  if (!online) return 'offline';
  return nowMs - lostSinceMs >= offlineAfterMs ? 'offline' : 'reconnecting';
}

export type YieldAnswer = paths['/yield']['get']['responses'][200]['content']['application/json'];

export interface RigYield {
  equipment: string;
  /** Today's figures (the site's local day), null yield when nothing was tested yet today. */
  today: { tested: number; passed: number; firstPassYield: number | null };
  /** One entry per local day of the period, oldest first, days without tests included (null yield). */
  days: { day: string; tested: number; firstPassYield: number | null }[];
  /** Over the whole period. */
  period: { tested: number; passed: number; firstPassYield: number | null };
}

/** The calendar days from `days - 1` days before the day of `todayIso` (YYYY-MM-DD…) up to it, oldest first. */
export function lastDays(todayIso: string, days: number): string[] {
  const end = Date.parse(`${todayIso.slice(0, 10)}T00:00:00Z`);
  return Array.from({ length: days }, (_, i) =>
    new Date(end - (days - 1 - i) * 86_400_000).toISOString().slice(0, 10),
  );
}

/**
 * First-pass yield per rig with its daily trend, from GET /yield's `perRigDay` (the cloud's
 * figures per local day of the rig's site): each rig's own figures (an injector rig's tests are
 * never mixed with a station's inspections), sorted worst first so the rig that needs a look
 * comes first. Today and the trend's days are the site's (`zone`) as of `nowIso`.
 */
export function rigYields(answer: YieldAnswer, nowIso: string, days = 14, zone = 'UTC'): RigYield[] {
  const span = lastDays(dayIn(nowIso, zone), days);
  const today = span.at(-1)!;
  const byRig = new Map<string, Map<string, { tested: number; passed: number }>>();
  for (const r of answer.perRigDay) {
    const m = byRig.get(r.equipment) ?? new Map<string, { tested: number; passed: number }>();
    m.set(r.day, { tested: r.tested, passed: r.passed });
    byRig.set(r.equipment, m);
  }
  const rate = (p: number, t: number) => (t === 0 ? null : p / t);
  const rows = [...byRig.entries()].map(([equipment, m]): RigYield => {
    const t = m.get(today) ?? { tested: 0, passed: 0 };
    let tested = 0;
    let passed = 0;
    const trend = span.map((day) => {
      const d = m.get(day) ?? { tested: 0, passed: 0 };
      tested += d.tested;
      passed += d.passed;
      return { day, tested: d.tested, firstPassYield: rate(d.passed, d.tested) };
    });
    return {
      equipment,
      today: { ...t, firstPassYield: rate(t.passed, t.tested) },
      days: trend,
      period: { tested, passed, firstPassYield: rate(passed, tested) },
    };
  });
  return rows.sort(
    (a, b) =>
      (a.today.firstPassYield ?? a.period.firstPassYield ?? 2) -
        (b.today.firstPassYield ?? b.period.firstPassYield ?? 2) || a.equipment.localeCompare(b.equipment),
  );
}

export interface ShiftYield {
  equipment: string;
  shift: string;
  /** "06:00–14:00", local time of the site. */
  hours: string;
  /**
   * The shift of the site's current local day (null yield: nothing tested in it, or not started);
   * for a shift past midnight that is running now (the night shift at 03:00), the one running,
   * which belongs to the day before (a shift belongs to the day it starts on).
   */
  today: { tested: number; passed: number; firstPassYield: number | null };
  /** One entry per local day of the period, oldest first. */
  days: { day: string; tested: number; firstPassYield: number | null }[];
  period: { tested: number; passed: number; firstPassYield: number | null };
}

/**
 * First-pass yield per rig and shift of a site, from GET /yield's `perRigShift`: each rig's own
 * figures per shift of the site (in the site's shifts and time zone), with a trend over the last
 * `days` local days; rigs in name order, shifts in the order of the day.
 */
export function shiftYields(answer: YieldAnswer, siteId: string, nowIso: string, days = 14): ShiftYield[] {
  const site = answer.shifts.find((s) => s.siteId === siteId);
  if (!site) return [];
  const span = lastDays(dayIn(nowIso, site.timeZone), days);
  const today = span.at(-1)!;
  const cells = new Map<string, { tested: number; passed: number }>();
  const rigs = new Set<string>();
  for (const r of answer.perRigShift) {
    if (r.siteId !== siteId) continue;
    rigs.add(r.equipment);
    cells.set(`${r.equipment}\u0000${r.shift}\u0000${r.day}`, { tested: r.tested, passed: r.passed });
  }
  const rate = (p: number, t: number) => (t === 0 ? null : p / t);
  // The site's clock now: a shift that wraps past midnight and has not ended yet today started yesterday.
  const clock = formatClock(nowIso, site.timeZone);
  const yesterday = lastDays(today, 2)[0]!;
  const shiftDay = (sh: { start: string; end: string }) =>
    sh.end <= sh.start && clock < sh.end ? yesterday : today;
  const rows: ShiftYield[] = [];
  for (const equipment of [...rigs].sort()) {
    for (const sh of site.shifts) {
      let tested = 0;
      let passed = 0;
      const trend = span.map((day) => {
        const c = cells.get(`${equipment}\u0000${sh.name}\u0000${day}`) ?? { tested: 0, passed: 0 };
        tested += c.tested;
        passed += c.passed;
        return { day, tested: c.tested, firstPassYield: rate(c.passed, c.tested) };
      });
      const t = cells.get(`${equipment}\u0000${sh.name}\u0000${shiftDay(sh)}`) ?? { tested: 0, passed: 0 };
      rows.push({
        equipment,
        shift: sh.name,
        hours: `${sh.start}–${sh.end}`,
        today: { ...t, firstPassYield: rate(t.passed, t.tested) },
        days: trend,
        period: { tested, passed, firstPassYield: rate(passed, tested) },
      });
    }
  }
  return rows;
}
