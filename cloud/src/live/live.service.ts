import type { InspectionRecord, RecordKind, RigRecord, SignalEntry } from '@rigtrace/protocols';
import { meaningfulValues } from '@rigtrace/protocols/signals';
import type { Logger } from 'pino';
import type { InspectionRepository } from '../production/index.js';
import type { DomainEventBus, DomainEvents } from '../platform/events.js';
import type { Metrics } from '../platform/metrics.js';
import { afterCommit } from '../platform/after-commit.js';
import { localDay, localTime, addDays, startOfLocalDay } from '../platform/time-zone.js';
import type { Viewer } from '../access/index.js';
import type { ExportControlService } from '../export-control/index.js';
import type { LivePointRow, LiveRepository, LiveRigMerge, LiveRigRow } from './live.repository.js';
import { completedTest, type CompletedTest } from './live.floor.js';
import type { z } from 'zod';
import type {
  LiveMessages,
  floorCalibrationSchema,
  liveAlertSchema,
  telemetryItemSchema,
} from './live.messages.js';

/**
 * Room names. Ids are URI-encoded so that no tenant/site pair can spell another's room. Clients
 * never name rooms: the server joins a socket to the rooms its principal may see.
 */
/**
 * Rooms come in two kinds per tenant or site: one for sockets cleared for export-controlled
 * data (`…|cleared`) and one for the rest. What concerns flagged equipment goes only to the first.
 */
const clearance = (cleared: boolean) => (cleared ? '|cleared' : '');
export const tenantRoom = (tenantId: string, cleared: boolean) =>
  `tenant:${encodeURIComponent(tenantId)}${clearance(cleared)}`;
export const siteRoom = (tenantId: string, siteId: string, cleared: boolean) =>
  `site:${encodeURIComponent(tenantId)}:${encodeURIComponent(siteId)}${clearance(cleared)}`;

/** A rig that was running and has not been heard from for this long shows as idle in the snapshot. */
export const IDLE_AFTER_MS = 5 * 60_000;
/** Open alerts in the snapshot. */
export const SNAPSHOT_ALERTS = 20;

export type RigState = 'running' | 'idle' | 'stopped';

/**
 * Rig: it has sent telemetry, a signal dictionary or a test result (a rig, a bench, a station);
 * gauge: none of these (hand gauges: calipers, setting rings, torque wrenches).
 */
export type FloorKind = 'rig' | 'gauge';

/**
 * The one rule: equipment that never sent telemetry, a signal dictionary or a completed test is a
 * gauge, whatever its name; anything that did is a rig.
 */
export const floorKind = (seen: { telemetry: boolean; lastTest: unknown; signals: unknown }): FloorKind =>
  seen.telemetry || seen.lastTest != null || seen.signals != null ? 'rig' : 'gauge';

export type FloorCalibration = z.output<typeof floorCalibrationSchema>;

export type TelemetryItem = z.output<typeof telemetryItemSchema>;

/** The messages the server pushes, by event name (live.messages.ts; the portal is built against these). */
export type { LiveMessages };

export type LiveAlert = z.output<typeof liveAlertSchema>;

/** Sends one message to one room (socket.io, across processes with the Redis adapter). */
/** One message of `LiveMessages`, as published. */
export type LiveMessage = {
  [K in keyof LiveMessages]: { event: K; payload: LiveMessages[K] };
}[keyof LiveMessages];

/** `m` as a socket not cleared for export-controlled data may receive it; undefined: not at all. */
export function withoutFlagged(m: LiveMessage, flagged: ReadonlySet<string>): LiveMessage | undefined {
  if (flagged.size === 0) return m;
  switch (m.event) {
    case 'telemetry': {
      const items = m.payload.items.filter((i) => !flagged.has(i.equipment));
      return items.length ? { event: 'telemetry', payload: { ...m.payload, items } } : undefined;
    }
    case 'rig':
      return flagged.has(m.payload.equipment) ? undefined : m;
    case 'calibration':
    case 'status':
    case 'service':
      return flagged.has(m.payload.tag) ? undefined : m;
    case 'alert':
      return m.payload.tag !== undefined && flagged.has(m.payload.tag) ? undefined : m;
    case 'records':
      return m;
  }
}

export type LivePublisher = <K extends keyof LiveMessages>(
  room: string,
  event: K,
  payload: LiveMessages[K],
) => void;

/** The latest open alerts of a site, newest first (from the SPC/alerts module, when present). */
export type OpenAlertsProvider = (viewer: Viewer, siteId: string, limit: number) => Promise<LiveAlert[]>;

/** The register's calibration status of each of `tags` that it holds (from the calibration module, when present). */
export type CalibrationProvider = (
  tenantId: string,
  tags: readonly string[],
) => Promise<Map<string, FloorCalibration>>;

/** Which of `tags` may not be used now, and why (from the out-of-tolerance module's tag-out rule, when present). */
export type TagOutProvider = (
  tenantId: string,
  tags: readonly string[],
) => Promise<Map<string, { reason: string; caseId: string | null }>>;

export interface LiveSnapshot {
  siteId: string;
  at: string;
  rigs: {
    equipment: string;
    edgeId: string;
    kind: FloorKind;
    state: RigState;
    stateSince: string | null;
    lastSeenAt: string;
    /** Its latest usage record's time; null: none. */
    lastUsedAt: string | null;
    /** A gauge's calibration status (null for a rig, and for equipment the register does not hold). */
    calibration: FloorCalibration | null;
    /** Tagged out (do not use: out of tolerance, out of service), and why; null: it may be used. */
    doNotUse: { reason: string; caseId: string | null } | null;
    /** Latest values that mean something now (not a value its dictionary says is idle now). */
    values: Omit<TelemetryItem, 'equipment'>[];
    /** The signal dictionary its telemetry last carried (empty: none; the portal's built-in labels apply). */
    signals: SignalEntry[];
    /** Its last completed test (inspection), per test point; null before the first. */
    lastTest: CompletedTest | null;
  }[];
  today: {
    inspections: number;
    passed: number;
    firstPassYield: number | null;
    throughputPerHour: { hour: string; count: number }[];
  };
  alerts: LiveAlert[];
}

/** RFC 3339 with any number of fraction digits → ISO 8601 with milliseconds (text order = time order). */
const norm = (t: string) => new Date(t).toISOString();
const HOUR_MS = 3_600_000;

/** Kinds whose records show a rig is there (calibrations are about gauges, events often about the edge). */
const SIGNS_OF_LIFE = new Set<RecordKind>(['telemetry', 'usage', 'inspection']);

/**
 * Live state of the plant floor: the ingest hook keeps the latest value per telemetry point and
 * each rig's state in the database (so a snapshot survives a restart and every process sees the
 * same), and queues the pushes for after the commit; calibration, status and alert events of the
 * domain bus are pushed to the site's room as they come.
 */
export class LiveService {
  private publisher: LivePublisher | undefined;
  private tagOuts: TagOutProvider | undefined;

  constructor(
    private readonly repo: LiveRepository,
    private readonly inspections: InspectionRepository,
    /** The tenant's flagged equipment, as export control reads it for every screen (the whole tenant). */
    private readonly exportControl: Pick<ExportControlService, 'flags'>,
    private readonly logger: Logger,
    private readonly metrics?: Metrics,
    private openAlerts?: OpenAlertsProvider,
    private calibrations?: CalibrationProvider,
  ) {}

  setPublisher(p: LivePublisher | undefined): void {
    this.publisher = p;
  }

  setOpenAlertsProvider(p: OpenAlertsProvider | undefined): void {
    this.openAlerts = p;
  }

  setCalibrationProvider(p: CalibrationProvider | undefined): void {
    this.calibrations = p;
  }

  setTagOutProvider(p: TagOutProvider | undefined): void {
    this.tagOuts = p;
  }

  private send<K extends keyof LiveMessages>(room: string, event: K, payload: LiveMessages[K]): void {
    if (!this.publisher) return;
    try {
      this.publisher(room, event, payload);
      this.metrics?.liveMessages.inc({ event });
    } catch (err) {
      this.logger.warn({ err, event }, 'live update not sent');
    }
  }

  /**
   * Sends each message to the rooms of its site (the tenant's, for a message without a site):
   * whole to the cleared sockets; to the others without what concerns export-controlled
   * equipment (a message about one such item is not sent to them at all).
   */
  private async publish(tenantId: string, siteId: string | null, messages: readonly LiveMessage[]) {
    if (!this.publisher || messages.length === 0) return;
    let flagged: ReadonlySet<string>;
    try {
      flagged = new Set((await this.exportControl.flags(tenantId)).keys());
    } catch (err) {
      this.logger.warn({ err }, 'live updates not sent (export-control flags unreadable)');
      return;
    }
    const room = (cleared: boolean) =>
      siteId ? siteRoom(tenantId, siteId, cleared) : tenantRoom(tenantId, cleared);
    for (const m of messages) {
      this.send(room(true), m.event, m.payload);
      const open = withoutFlagged(m, flagged);
      if (open) this.send(room(false), open.event, open.payload);
    }
  }

  /**
   * Pushes whether `tag` may be used now, by the rule the snapshot's doNotUse follows (the
   * tag-out provider: an open out-of-tolerance case, or out of service).
   */
  private async publishService(tenantId: string, siteId: string | null, tag: string): Promise<void> {
    if (!this.publisher || !this.tagOuts) return;
    let doNotUse: { reason: string; caseId: string | null } | null;
    try {
      doNotUse = (await this.tagOuts(tenantId, [tag])).get(tag) ?? null;
    } catch (err) {
      this.logger.warn({ err, tag }, 'live update not sent (tag-out state unreadable)');
      return;
    }
    await this.publish(tenantId, siteId, [{ event: 'service', payload: { siteId, tag, doNotUse } }]);
  }

  /** Pushes the committed domain events that concern a site (or, without a site, the tenant). */
  listen(bus: DomainEventBus): void {
    bus.on('calibration.recorded', (e: DomainEvents['calibration.recorded'][0]) => {
      void this.publish(e.tenantId, e.siteId, [
        {
          event: 'calibration',
          payload: { siteId: e.siteId, tag: e.tag, calibrationId: e.calibrationId, passed: e.passed },
        },
      ]);
      // A calibration may start a tag-out (a failure opens a case) or end one (a repair's
      // calibration requirement met, a case's instrument passing again).
      void this.publishService(e.tenantId, e.siteId, e.tag);
    });
    bus.on(
      'equipment.service',
      (e: DomainEvents['equipment.service'][0]) => void this.publishService(e.tenantId, e.siteId, e.tag),
    );
    bus.on(
      'equipment.status',
      (e: DomainEvents['equipment.status'][0]) =>
        void this.publish(e.tenantId, e.siteId, [
          { event: 'status', payload: { siteId: e.siteId, tag: e.tag, from: e.from, to: e.to } },
        ]),
    );
    bus.on(
      'alert',
      (e: DomainEvents['alert'][0]) =>
        void this.publish(e.tenantId, e.siteId, [
          {
            event: 'alert',
            payload: {
              siteId: e.siteId,
              id: e.id,
              kind: e.kind,
              severity: e.severity,
              message: e.message,
              at: e.at,
              ...(e.tag !== undefined ? { tag: e.tag } : {}),
              ...(e.caseId !== undefined ? { caseId: e.caseId } : {}),
            },
          },
        ]),
    );
  }

  /**
   * The ingest hook, inside the ingest transaction (which holds the edge's row lock): keeps the
   * latest value of each point and each rig's state, newer-wins (a replayed old buffer does not
   * overwrite them), and queues one `telemetry`, `rig` per rig whose state changed and one
   * `records` message for after the commit.
   */
  async onRecordsStored(
    tenantId: string,
    edge: { id: string; siteId: string },
    records: readonly RigRecord[],
  ): Promise<void> {
    const counts: Record<RecordKind, number> = {
      calibration: 0,
      usage: 0,
      inspection: 0,
      telemetry: 0,
      event: 0,
    };
    let lastSeq = 0;
    const latest = new Map<string, TelemetryItem>();
    const seen = new Map<string, string>();
    const usage = new Map<
      string,
      { at: string; state: 'running' | 'stopped'; record: Extract<RigRecord, { kind: 'usage' }> }
    >();
    const dictionaries = new Map<string, { at: string; signals: SignalEntry[] }>();
    const tests = new Map<string, { at: string; record: InspectionRecord }>();
    for (const r of records) {
      counts[r.kind] += 1;
      if (r.seq > lastSeq) lastSeq = r.seq;
      if (!SIGNS_OF_LIFE.has(r.kind)) continue;
      const at = norm(r.observedAt);
      if ((seen.get(r.equipment) ?? '') < at) seen.set(r.equipment, at);
      if (r.kind === 'telemetry') {
        const d = r.body.signals;
        if (d && (dictionaries.get(r.equipment)?.at ?? '') <= at)
          dictionaries.set(r.equipment, { at, signals: d });
        for (const p of r.body.points) {
          const key = `${r.equipment}\u0000${p.name}`;
          const prev = latest.get(key);
          // Records come in seq order: at equal times the later record wins.
          if (!prev || prev.observedAt <= at)
            latest.set(key, {
              equipment: r.equipment,
              point: p.name,
              value: p.value,
              unit: p.unit ?? null,
              quality: p.quality,
              observedAt: at,
            });
        }
      } else if (r.kind === 'usage') {
        const prev = usage.get(r.equipment);
        if (!prev || prev.at <= at)
          usage.set(r.equipment, { at, state: r.body.event === 'stop' ? 'stopped' : 'running', record: r });
      } else if (r.kind === 'inspection') {
        const prev = tests.get(r.equipment);
        if (!prev || prev.at <= at) tests.set(r.equipment, { at, record: r });
      }
    }

    // One write of what the batch says, merged with the stored rows in SQL (newer wins: a replayed
    // old buffer does not overwrite them; live.repository.ts), returning what changed.
    const pointWrites = [...latest.values()].map((i): LivePointRow => ({
      edge_id: edge.id,
      equipment: i.equipment,
      point: i.point,
      site_id: edge.siteId,
      value: JSON.stringify(i.value),
      unit: i.unit,
      quality: i.quality,
      observed_at: i.observedAt,
    }));
    const rigWrites = [...seen].map(([equipment, lastSeen]): LiveRigMerge => {
      const u = usage.get(equipment);
      const d = dictionaries.get(equipment);
      const t = tests.get(equipment);
      return {
        edge_id: edge.id,
        equipment,
        site_id: edge.siteId,
        state: u?.state ?? null,
        state_at: u?.at ?? null,
        last_seen_at: lastSeen,
        operator: u?.record.body.operator ?? null,
        work_order: u?.record.body.workOrder ?? null,
        part_serial: u?.record.body.partSerial ?? null,
        signals: d ? JSON.stringify(d.signals) : null,
        signals_at: d?.at ?? null,
        last_test: t ? JSON.stringify(completedTest(t.record, t.at)) : null,
        last_test_at: t?.at ?? null,
      };
    });
    const merged = await this.repo.merge(tenantId, pointWrites, rigWrites);
    const written = new Set(merged.points.map((p) => `${p.equipment}\u0000${p.point}`));
    const fresh = [...latest.entries()].filter(([key]) => written.has(key)).map(([, item]) => item);
    // A rig whose state this batch set: its kind by the one rule (telemetry stored before or now,
    // its merged dictionary and last test).
    const withTelemetry = new Set([...latest.values()].map((i) => i.equipment));
    const changes: LiveMessages['rig'][] = [];
    for (const r of merged.rigs) {
      const u = usage.get(r.equipment);
      if (!u || r.state_at !== u.at) continue;
      changes.push({
        siteId: edge.siteId,
        edgeId: edge.id,
        equipment: r.equipment,
        kind: floorKind({
          telemetry: r.telemetry || withTelemetry.has(r.equipment),
          lastTest: r.last_test,
          signals: r.signals,
        }),
        state: u.state,
        observedAt: u.at,
        ...(u.record.body.operator ? { operator: u.record.body.operator } : {}),
        ...(u.record.body.workOrder ? { workOrder: u.record.body.workOrder } : {}),
        ...(u.record.body.partSerial ? { partSerial: u.record.body.partSerial } : {}),
      });
    }

    afterCommit(() => {
      const messages: LiveMessage[] = [];
      if (fresh.length > 0)
        messages.push({
          event: 'telemetry',
          payload: { siteId: edge.siteId, edgeId: edge.id, items: fresh },
        });
      for (const c of changes) messages.push({ event: 'rig', payload: c });
      if (lastSeq > 0)
        messages.push({
          event: 'records',
          payload: { siteId: edge.siteId, edgeId: edge.id, counts, lastSeq },
        });
      void this.publish(tenantId, edge.siteId, messages);
    });
  }

  /** What a page shows before the first push: rigs with their latest values, today's counts, open alerts. */
  /** The snapshot of a site as `viewer` may see it (rigs of export-controlled equipment only when cleared). */
  async snapshot(viewer: Viewer, siteId: string, now = new Date(), timeZone = 'UTC'): Promise<LiveSnapshot> {
    const tenantId = viewer.tenantId;
    const { rigs, points } = await this.repo.site(viewer, siteId);
    const values = new Map<string, LiveSnapshot['rigs'][number]['values']>();
    for (const p of points) {
      const key = `${p.edge_id}\u0000${p.equipment}`;
      const list = values.get(key) ?? [];
      list.push({
        point: p.point,
        value: JSON.parse(p.value) as TelemetryItem['value'],
        unit: p.unit,
        quality: p.quality,
        observedAt: p.observed_at,
      });
      values.set(key, list);
    }
    const nowMs = now.getTime();
    // A gauge's calibration status, from the register (one read for the site's gauges).
    const kindOf = (r: LiveRigRow) =>
      floorKind({
        telemetry: values.has(`${r.edge_id}\u0000${r.equipment}`),
        lastTest: r.last_test,
        signals: r.signals,
      });
    const gauges = [...new Set(rigs.filter((r) => kindOf(r) === 'gauge').map((r) => r.equipment))];
    const calibration =
      this.calibrations && gauges.length > 0
        ? await this.calibrations(tenantId, gauges)
        : new Map<string, FloorCalibration>();
    // Whether each piece of equipment on the floor may be used (rigs, benches and stations as much
    // as gauges): the tag-out rule, the same that the `service` push carries.
    const onFloor = [...new Set(rigs.map((r) => r.equipment))];
    const tagOuts =
      this.tagOuts && onFloor.length > 0
        ? await this.tagOuts(tenantId, onFloor)
        : new Map<string, { reason: string; caseId: string | null }>();
    const rigViews = rigs.map((r) => {
      let state: RigState;
      let since: string | null;
      if (r.state === null) {
        state = 'idle';
        since = null;
      } else if (r.state === 'running' && nowMs - Date.parse(r.last_seen_at) > IDLE_AFTER_MS) {
        state = 'idle';
        since = r.last_seen_at;
      } else {
        state = r.state;
        since = r.state_since;
      }
      const signals = r.signals ? (JSON.parse(r.signals) as SignalEntry[]) : [];
      return {
        equipment: r.equipment,
        edgeId: r.edge_id,
        kind: kindOf(r),
        state,
        stateSince: since,
        lastSeenAt: r.last_seen_at,
        lastUsedAt: r.state_at,
        calibration: kindOf(r) === 'gauge' ? (calibration.get(r.equipment) ?? null) : null,
        doNotUse: tagOuts.get(r.equipment) ?? null,
        values: meaningfulValues(values.get(`${r.edge_id}\u0000${r.equipment}`) ?? [], signals),
        signals,
        lastTest: r.last_test ? (JSON.parse(r.last_test) as CompletedTest) : null,
      };
    });

    // Today: the site's local day (23 or 25 hours on a daylight-saving change), in its local hours.
    const today = localDay(nowMs, timeZone);
    const dayStart = startOfLocalDay(today, timeZone);
    const dayEnd = startOfLocalDay(addDays(today, 1), timeZone);
    const from = new Date(dayStart).toISOString();
    const to = new Date(dayEnd).toISOString();
    const byQuarter = await this.repo.inspectionsByQuarter(viewer, siteId, from, to);
    // The site's first-pass yield today, of the rigs the viewer may see (as the counts beside it):
    // an export-controlled rig's inspections are not counted for a reader who is not cleared.
    const fpy = await this.inspections.firstPassYieldByQuarter(viewer, { from, to, siteId });
    const tested = fpy.reduce((n, r) => n + r.tested, 0);
    const firstPassed = fpy.reduce((n, r) => n + r.passed, 0);
    // Each quarter hour into the local hour it falls in (a zone's offset may be 30 or 45 minutes).
    const counts = new Map<number, number>();
    for (const q of byQuarter) {
      const ms = Date.parse(`${q.quarter}:00.000Z`);
      const hour = ms - (localTime(ms, timeZone).minute % 60) * 60_000;
      counts.set(hour, (counts.get(hour) ?? 0) + q.count);
    }
    const lastHour = Math.max(
      Math.floor((nowMs - dayStart) / HOUR_MS),
      ...[...counts.keys()].map((h) => Math.floor((h - dayStart) / HOUR_MS)),
    );
    const throughputPerHour: { hour: string; count: number }[] = [];
    for (let h = 0; h <= lastHour && dayStart + h * HOUR_MS < dayEnd; h += 1) {
      const hour = dayStart + h * HOUR_MS;
      throughputPerHour.push({ hour: new Date(hour).toISOString(), count: counts.get(hour) ?? 0 });
    }
    return {
      siteId,
      at: now.toISOString(),
      rigs: rigViews,
      today: {
        inspections: byQuarter.reduce((n, h) => n + h.count, 0),
        passed: byQuarter.reduce((n, h) => n + h.passed, 0),
        firstPassYield: tested > 0 ? firstPassed / tested : null,
        throughputPerHour,
      },
      alerts: this.openAlerts ? await this.openAlerts(viewer, siteId, SNAPSHOT_ALERTS) : [],
    };
  }
}
