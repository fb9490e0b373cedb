import path from 'node:path';
import { SignalDictionary, withSignals } from '../mapping/signals.js';
import { OpcuaSubscriber, type OpcuaValue } from '@rigtrace/protocols/opcua';
import { toleranceVerdict } from '@rigtrace/protocols/verdict';

export { routeOpcuaLibraryLogs } from '@rigtrace/protocols/opcua';
import type { RecordDraft } from '../buffer/edge-log.js';
import type { OpcuaSourceConfig } from '../config/config.schema.js';
import { eventDraft, type Collector, type CollectorContext, type CollectorStatus } from './collector.js';
import { OpcuaRecords } from '../mapping/opcua-records.js';
import type { EdgeEventCode } from '../errors.js';

type CalibrationBody = Extract<RecordDraft, { kind: 'calibration' }>['body'];
type Nodes = NonNullable<OpcuaSourceConfig['calibration']>['nodes'];

const str = (v: OpcuaValue | undefined) =>
  v?.statusCode.good && typeof v.value === 'string' && v.value !== '' ? v.value : undefined;
const num = (v: OpcuaValue | undefined) =>
  v?.statusCode.good && typeof v.value === 'number' ? v.value : undefined;
const nums = (v: OpcuaValue | undefined) =>
  v?.statusCode.good && Array.isArray(v.value) && v.value.every((x) => typeof x === 'number')
    ? v.value
    : undefined;
const strs = (v: OpcuaValue | undefined) =>
  v?.statusCode.good && Array.isArray(v.value) && v.value.every((x) => typeof x === 'string')
    ? v.value
    : undefined;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * Builds a calibration record body from one consistent Read of a bench's result block. Per-point
 * results are computed from the tolerances (error = reading − nominal), so the record can never
 * claim a pass that its own numbers contradict. Undefined while a required value is unreadable.
 */
export function calibrationFromBlock(
  n: Nodes,
  v: Map<string, OpcuaValue>,
): { equipment: string; body: CalibrationBody } | undefined {
  const get = (k: keyof Nodes) => (n[k] ? v.get(n[k]) : undefined);
  const equipment = str(get('equipment'));
  const names = strs(get('pointNames'));
  const nominals = nums(get('nominals'));
  const asFound = nums(get('asFound'));
  const asLeft = n.asLeft ? nums(get('asLeft')) : undefined;
  const lower = nums(get('lowerTolerance'));
  const upper = nums(get('upperTolerance'));
  const unit = str(get('unit'));
  if (!equipment || !names || !nominals || !asFound || !lower || !upper || !unit) return undefined;
  const k = names.length;
  if (
    k === 0 ||
    [nominals, asFound, lower, upper].some((a) => a.length !== k) ||
    (asLeft && asLeft.length !== k)
  )
    return undefined;
  const within = (reading: number, i: number) =>
    toleranceVerdict(reading, {
      nominal: nominals[i]!,
      lowerTolerance: lower[i]!,
      upperTolerance: upper[i]!,
    });
  const adjustedValue = n.adjusted ? get('adjusted') : undefined;
  const adjusted =
    adjustedValue?.statusCode.good && typeof adjustedValue.value === 'boolean' ? adjustedValue.value : false;
  const points = names.map((name, i) => ({
    name: name.slice(0, 64),
    nominal: nominals[i]!,
    unit,
    asFound: asFound[i]!,
    ...(asLeft ? { asLeft: asLeft[i]!, asLeftResult: within(asLeft[i]!, i) } : {}),
    lowerTolerance: lower[i]!,
    upperTolerance: upper[i]!,
    asFoundResult: within(asFound[i]!, i),
  }));
  const completed = get('completedAt');
  const calibratedAt =
    completed?.statusCode.good &&
    typeof completed.value === 'string' &&
    !Number.isNaN(Date.parse(completed.value))
      ? new Date(completed.value).toISOString()
      : (completed?.sourceTimestamp ?? new Date().toISOString());
  const procedure = str(get('procedure'));
  const technician = str(get('technician'));
  const certificate = str(get('certificate'));
  const standardId = str(get('standardId'));
  const standardDue = str(get('standardDueDate'));
  const standardCert = str(get('standardCertificate'));
  const standardU = num(get('standardUncertainty'));
  const nextDue = str(get('nextDue'));
  const temperatureC = num(get('temperatureC'));
  const humidityPct = num(get('humidityPct'));
  const body: CalibrationBody = {
    ...(procedure ? { procedure: { id: procedure.slice(0, 64) } } : {}),
    ...(technician ? { technician: technician.slice(0, 128) } : {}),
    ...(certificate ? { certificate: { number: certificate.slice(0, 64) } } : {}),
    standards: standardId
      ? [
          {
            id: standardId,
            ...(standardCert ? { certificate: standardCert.slice(0, 64) } : {}),
            ...(standardDue && DATE.test(standardDue) ? { dueDate: standardDue } : {}),
            ...(standardU !== undefined && standardU >= 0 ? { uncertainty: standardU } : {}),
          },
        ]
      : [],
    ...(temperatureC !== undefined || humidityPct !== undefined
      ? {
          environment: {
            ...(temperatureC !== undefined ? { temperatureC } : {}),
            ...(humidityPct !== undefined ? { humidityPct } : {}),
          },
        }
      : {}),
    points,
    adjusted,
    asFoundResult: points.every((p) => p.asFoundResult === 'pass') ? 'pass' : 'fail',
    ...(asLeft
      ? {
          asLeftResult: points.every((p) => p.asLeftResult === 'pass')
            ? ('pass' as const)
            : ('fail' as const),
        }
      : {}),
    calibratedAt,
    ...(nextDue && DATE.test(nextDue) ? { nextDue } : {}),
  };
  return { equipment, body };
}

/**
 * Subscribes to an OPC UA server's items. Values feed telemetry records (at most one per
 * `telemetry.everyMs`), non-Good status codes become event records, and each change of the
 * calibration trigger reads the result block once and becomes one calibration record; the last
 * trigger taken is stored with its record, so restarts neither repeat nor lose one.
 */
export class OpcuaCollector implements Collector {
  readonly id: string;
  private client: OpcuaSubscriber | null = null;
  private readonly latest = new Map<string, OpcuaValue>();
  private lastTelemetryAt = 0;
  private lastTrigger: string | undefined;
  private pending: string | undefined;
  /** The newest trigger value seen while a result block was being read: taken next. */
  private nextTrigger: OpcuaValue | undefined;
  private recordsIn = 0;
  /** Connected to the server (a session with its subscription). */
  private connected = false;
  /** Why the connection was lost, until it is back. */
  private lastError: string | null = null;
  /** Each item's latest status since the connection: null while Good, else the status name. */
  private readonly itemStatus = new Map<string, string | null>();
  /** A SOURCE_NO_GOOD_READINGS event went out and no SOURCE_READING since. */
  private reportedNoReadings = false;
  /** The last calibration block read failed (shown while the source is otherwise up). */
  private readError: string | null = null;
  private readonly stateKey: string;
  private readonly telemetryItems: string[];
  private readonly unitOf: Map<string, string | undefined>;
  /** The source's signal dictionary, sent with the first telemetry record and from time to time. */
  private readonly signals: SignalDictionary;
  private readonly records: OpcuaRecords;

  constructor(
    private readonly cfg: OpcuaSourceConfig,
    private readonly ctx: CollectorContext & { dataDir: string },
  ) {
    this.id = cfg.id;
    this.stateKey = `source:${cfg.id}:lastTrigger`;
    const trigger = cfg.calibration?.trigger;
    this.records = new OpcuaRecords(cfg, this.latest, {
      sink: ctx.sink,
      logger: ctx.logger,
      source: (a) => this.source(a),
    });
    this.telemetryItems =
      cfg.telemetry?.items ??
      cfg.items.map((i) => i.name).filter((n) => n !== trigger && !this.records.isTrigger(n));
    this.unitOf = new Map(cfg.items.map((i) => [i.name, i.unit]));
    this.signals = new SignalDictionary(cfg.signals);
  }

  private source(address?: string) {
    return { ...(address ? { address } : {}), endpoint: this.cfg.endpointUrl, protocol: 'opcua' as const };
  }

  async start(): Promise<void> {
    this.lastTrigger = await this.ctx.getState(this.stateKey);
    const password = this.cfg.passwordEnv ? process.env[this.cfg.passwordEnv] : undefined;
    const client = new OpcuaSubscriber({
      endpointUrl: this.cfg.endpointUrl,
      securityMode: this.cfg.securityMode,
      securityPolicy: this.cfg.securityPolicy,
      ...(this.cfg.username && password ? { user: { username: this.cfg.username, password } } : {}),
      pkiDir: this.cfg.pkiDir ?? path.join(this.ctx.dataDir, 'pki', this.cfg.id),
      trustedServerCertificates: [...this.cfg.trustedServerCertificates],
      items: this.cfg.items.map((i) => ({
        name: i.name,
        nodeId: i.nodeId,
        ...(i.samplingIntervalMs !== undefined ? { samplingIntervalMs: i.samplingIntervalMs } : {}),
        ...(i.deadband ? { deadband: { ...i.deadband } } : {}),
      })),
      publishingIntervalMs: this.cfg.publishingIntervalMs,
      logger: this.ctx.logger,
    });
    client.on('value', (v: OpcuaValue) => {
      this.itemStatus.set(v.name, v.statusCode.good ? null : v.statusCode.name);
      this.trackHealth();
      this.onValue(v);
    });
    client.on('status', (v: OpcuaValue) => {
      // Also for an item the server refused (no value at all).
      this.itemStatus.set(v.name, v.statusCode.name);
      this.trackHealth();
      this.event(
        'warning',
        'SOURCE_STATUS_NOT_GOOD',
        `${v.name} (${v.nodeId}) reports ${v.statusCode.name}`,
        v.nodeId,
      );
    });
    client.on('connected', () => {
      if (!this.connected) this.event('info', 'SOURCE_CONNECTED', `connected to ${this.cfg.endpointUrl}`);
      this.connected = true;
      this.lastError = null;
    });
    client.on('disconnected', (reason: string) => {
      if (this.connected)
        this.event('warning', 'SOURCE_DISCONNECTED', `lost ${this.cfg.endpointUrl}: ${reason}`);
      this.connected = false;
      this.lastError = reason;
      // Values of a lost connection say nothing of the next one (its items report afresh, often
      // before 'connected' is emitted).
      this.itemStatus.clear();
    });
    this.client = client;
    await this.records.start(client, (k) => this.ctx.getState(k));
    await client.start();
  }

  async stop(): Promise<void> {
    this.records.stop();
    await this.client?.stop();
    this.client = null;
  }

  /** Up only while connected and at least one item's latest value is Good. */
  private get delivering(): boolean {
    if (!this.connected) return false;
    for (const s of this.itemStatus.values()) if (s === null) return true;
    return false;
  }

  /** Why no item delivers a Good value (each item's latest status). */
  private noGoodReason(): string {
    const bad = [...this.itemStatus].filter(([, s]) => s !== null).map(([n, s]) => `${n}: ${s}`);
    return bad.length > 0
      ? `no item delivers a Good value (${bad.slice(0, 5).join(', ')}${bad.length > 5 ? ', …' : ''})`
      : 'no value received yet';
  }

  /**
   * Once every item has reported on a connection and none is Good, a SOURCE_NO_GOOD_READINGS
   * event; the first Good value after it, a SOURCE_READING event (the same events as Modbus).
   */
  private trackHealth(): void {
    if (this.delivering) {
      if (this.reportedNoReadings) {
        this.reportedNoReadings = false;
        this.event('info', 'SOURCE_READING', `good values again from ${this.cfg.endpointUrl}`);
      }
      return;
    }
    if (this.connected && !this.reportedNoReadings && this.itemStatus.size >= this.cfg.items.length) {
      this.reportedNoReadings = true;
      this.event(
        'warning',
        'SOURCE_NO_GOOD_READINGS',
        `no good value from ${this.cfg.endpointUrl}: ${this.noGoodReason()}`,
      );
    }
  }

  status(): CollectorStatus {
    const st = this.client?.stats();
    const up = this.delivering;
    return {
      id: this.id,
      protocol: 'opcua',
      equipment: this.cfg.equipment,
      up,
      lastError: up
        ? this.readError
        : this.connected
          ? this.noGoodReason()
          : (this.lastError ?? st?.lastError ?? null),
      recordsIn: this.recordsIn,
      counters: { reconnects: st?.reconnects ?? 0 },
      details: st ? { ...st, ...(this.records.enabled ? { results: this.records.counters() } : {}) } : {},
    };
  }

  private write(drafts: RecordDraft[], state?: Record<string, string>): Promise<void> {
    this.recordsIn += drafts.length;
    return this.ctx.sink.write(this.id, drafts, state);
  }

  private event(severity: 'info' | 'warning', code: EdgeEventCode, message: string, address?: string): void {
    const draft = eventDraft(
      { equipment: this.cfg.equipment, source: this.source(address), sourceId: this.id },
      severity,
      code,
      message,
    );
    this.write([draft]).catch((err: unknown) => this.ctx.logger.error({ err }, 'could not record an event'));
  }

  private onValue(v: OpcuaValue): void {
    this.latest.set(v.name, v);
    if (this.records.enabled) {
      this.records.onValue(v);
      if (this.records.isTrigger(v.name)) return;
    }
    if (v.name === this.cfg.calibration?.trigger) {
      this.maybeCalibration(v);
      return;
    }
    const now = Date.now();
    const everyMs = this.cfg.telemetry?.everyMs ?? 1000;
    if (now - this.lastTelemetryAt < everyMs) return;
    this.lastTelemetryAt = now;
    const points = [];
    for (const name of this.telemetryItems) {
      const x = this.latest.get(name);
      if (!x) continue;
      const usable =
        (typeof x.value === 'number' || typeof x.value === 'boolean' || typeof x.value === 'string') &&
        (x.statusCode.good || x.statusCode.name.startsWith('Uncertain'));
      const unit = this.unitOf.get(name);
      // Keys in canonical order (name, quality, unit, value). Uncertain values keep their value; a
      // value that cannot be used is null with quality bad.
      points.push({
        name,
        quality: !usable ? ('bad' as const) : x.statusCode.good ? ('good' as const) : ('uncertain' as const),
        ...(unit ? { unit } : {}),
        value: usable ? (x.value as number | boolean | string) : null,
      });
    }
    if (points.length === 0) return;
    const at = new Date(now).toISOString();
    this.write([
      {
        kind: 'telemetry',
        equipment: this.cfg.equipment,
        observedAt: at,
        receivedAt: at,
        source: this.source(),
        body: withSignals(points, this.signals.due(Date.parse(at))),
      },
    ]).catch((err: unknown) => this.ctx.logger.error({ err }, 'could not record telemetry'));
  }

  private maybeCalibration(trigger: OpcuaValue): void {
    const m = this.cfg.calibration;
    if (!m || !trigger.statusCode.good || typeof trigger.value !== 'number' || trigger.value === 0) return;
    const key = String(trigger.value);
    if (key === this.lastTrigger || key === this.pending || !this.client) return;
    if (this.pending !== undefined) {
      // One block read at a time: two reads in flight could both return the newer block.
      this.nextTrigger = trigger;
      return;
    }
    this.pending = key;
    // The trigger is read with the block, in the same Read: the block is the result of the
    // trigger value read with it, which is newer than `key` when the device moved on meanwhile.
    const triggerNode = this.cfg.items.find((i) => i.name === m.trigger)?.nodeId;
    const ids = Object.values(m.nodes).filter((x): x is string => typeof x === 'string');
    this.client
      .read(triggerNode ? [...ids, triggerNode] : ids)
      .then(async (values) => {
        const byNode = new Map(values.map((v) => [v.nodeId, v]));
        const seen = triggerNode ? byNode.get(triggerNode) : undefined;
        const taken =
          seen?.statusCode.good && typeof seen.value === 'number' && seen.value !== 0
            ? String(seen.value)
            : key;
        if (taken === this.lastTrigger) return; // the newer result is the one already taken
        if (taken !== key) {
          this.ctx.logger.info(
            { trigger: key, read: taken },
            'the device moved on while its result block was read; taking the newer result',
          );
        }
        const cal = calibrationFromBlock(m.nodes, byNode);
        if (!cal) {
          this.event(
            'warning',
            'CALIBRATION_BLOCK_UNREADABLE',
            `calibration result ${key} could not be read completely`,
          );
          return;
        }
        const received = new Date().toISOString();
        const drafts: RecordDraft[] = [];
        const gap = this.gapEvent(taken, received);
        if (gap) drafts.push(gap);
        drafts.push({
          kind: 'calibration',
          equipment: cal.equipment,
          observedAt: cal.body.calibratedAt,
          receivedAt: received,
          source: this.source(m.nodes.equipment),
          body: cal.body,
        });
        await this.write(drafts, { [this.stateKey]: taken });
        this.lastTrigger = taken;
        this.readError = null;
      })
      .catch((err: unknown) => {
        this.readError = `reading calibration ${key}: ${(err as Error).message}`;
        this.ctx.logger.warn(
          { err, trigger: key },
          'could not read the calibration block; will retry on the next change',
        );
      })
      .finally(() => {
        if (this.pending === key) this.pending = undefined;
        const next = this.nextTrigger;
        this.nextTrigger = undefined;
        if (next) this.maybeCalibration(next);
      });
  }

  /**
   * Results the trigger counter skipped since the last one taken (completed while the edge was
   * stopped, disconnected or reading): a signed RESULTS_MISSED event stored with the next record.
   */
  private gapEvent(taken: string, at: string): RecordDraft | undefined {
    const last = Number(this.lastTrigger);
    const now = Number(taken);
    if (this.lastTrigger === undefined || !Number.isInteger(last) || !Number.isInteger(now)) return undefined;
    if (now <= last + 1) return undefined;
    const missed = now - last - 1;
    const trigger = this.cfg.calibration?.trigger ?? 'trigger';
    const d = eventDraft(
      { equipment: this.cfg.equipment, source: this.source(), sourceId: this.id },
      'warning',
      'RESULTS_MISSED',
      `${missed} calibration result${missed === 1 ? ' was' : 's were'} missed: ${trigger} went from ${last} to ${now} (noticed ${at}); only the latest result block could be read`,
    );
    if (d.kind === 'event') d.body.details = { ...d.body.details, trigger, from: last, to: now, missed };
    return d;
  }
}
