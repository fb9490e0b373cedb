import type { Logger } from 'pino';
import { SignalDictionary, withSignals } from '../mapping/signals.js';
import {
  ModbusPoller,
  type ModbusPointSpec,
  type ModbusSample,
  type PointReading,
} from '@rigtrace/protocols/modbus';
import type { RecordDraft } from '../buffer/edge-log.js';
import type { ModbusSourceConfig } from '../config/config.schema.js';
import type { RecordSink } from '../records/record-sink.js';
import { UsageTracker } from '../records/usage-tracker.js';
import { TelemetryPace } from '../records/telemetry-pace.js';
import { ModbusRecords } from '../mapping/modbus-records.js';
import { eventDraft, type Collector, type CollectorContext, type CollectorStatus } from './collector.js';
import type { EdgeEventCode } from '../errors.js';

/** A poll's reading of the named point, taken by its index in the sample (no by-name object per poll). */
type ReadingOf = (name: string) => PointReading | undefined;

function num(r: ReadingOf, ref: string | number | undefined): number | undefined {
  if (ref === undefined) return undefined;
  if (typeof ref === 'number') return ref;
  const v = r(ref);
  return v?.quality === 'good' && typeof v.value === 'number' ? v.value : undefined;
}

function str(r: ReadingOf, ref: string | undefined): string | undefined {
  if (ref === undefined) return undefined;
  const v = r(ref);
  if (v?.quality !== 'good' || v.value === undefined) return undefined;
  const s = String(v.value).trim();
  return s === '' ? undefined : s;
}

/**
 * Polls one Modbus TCP device. Each poll can yield a telemetry record (one per `telemetry.everyMs`,
 * records/telemetry-pace.ts); the source's record mappings (mapping/modbus-records.ts) turn each result
 * of a trigger into one record. Connection loss and recovery are logged as events.
 */
export class ModbusCollector implements Collector {
  readonly id: string;
  private poller: ModbusPoller | null = null;
  private readonly telemetryPace: TelemetryPace;
  private recordsIn = 0;
  private up = false;
  private lastError: string | null = null;
  /** The last poll gave at least one good reading. */
  private reading = false;
  /** A SOURCE_NO_GOOD_READINGS event went out and no SOURCE_READING since. */
  private reportedNoReadings = false;
  private pollsWithoutReading = 0;
  private readonly endpoint: string;
  private readonly telemetryPoints: string[];
  /** Each telemetry point's index in a sample's readings (-1: no such point) and unit. */
  private telemetryIndex: { name: string; index: number; unit: string | undefined }[] = [];
  private readonly unitOf: Map<string, string | undefined>;
  /** The source's signal dictionary, sent with the first telemetry record and from time to time. */
  private readonly signals: SignalDictionary;
  private readonly usage: UsageTracker | null;
  private readonly records: ModbusRecords;
  private readonly sink: RecordSink;
  private readonly logger: Logger;

  constructor(
    private readonly cfg: ModbusSourceConfig,
    private readonly ctx: CollectorContext,
  ) {
    this.id = cfg.id;
    this.sink = ctx.sink;
    this.logger = ctx.logger;
    this.endpoint = `modbus-tcp://${cfg.host}:${cfg.port}`;
    this.usage = cfg.usage
      ? new UsageTracker({
          equipment: cfg.equipment,
          source: this.source(),
          stopAfterIdleS: cfg.usage.stopAfterIdleS,
        })
      : null;
    this.records = new ModbusRecords(cfg, {
      sink: this.sink,
      logger: this.logger,
      source: (a) => this.source(a),
    });
    this.telemetryPoints =
      cfg.telemetry?.points ?? cfg.points.filter((p) => p.type !== 'string').map((p) => p.name);
    this.unitOf = new Map(cfg.points.map((p) => [p.name, p.unit]));
    this.signals = new SignalDictionary(cfg.signals);
    this.telemetryPace = new TelemetryPace(cfg.telemetry?.everyMs ?? 1000, cfg.intervalMs);
  }

  async start(): Promise<void> {
    const points: ModbusPointSpec[] = this.cfg.points.map((p) => ({
      ...p,
      unitId: p.unitId ?? this.cfg.unitId,
    }));
    this.poller = new ModbusPoller({
      host: this.cfg.host,
      port: this.cfg.port,
      points,
      intervalMs: this.cfg.intervalMs,
      timeoutMs: this.cfg.timeoutMs,
      logger: this.logger,
    });
    const poller = this.poller;
    this.telemetryIndex = this.telemetryPoints.map((name) => ({
      name,
      index: poller.pointIndex(name),
      unit: this.unitOf.get(name),
    }));
    await this.records.start(this.poller, (k) => this.ctx.getState(k));
    this.poller.on('sample', (s: ModbusSample) => this.onSample(s));
    this.poller.on('connected', () => {
      const wasDown = !this.up;
      this.up = true;
      if (wasDown) this.event('info', 'SOURCE_CONNECTED', `connected to ${this.endpoint}`);
      this.records.connectionRestored();
    });
    this.poller.on('disconnected', (reason: string) => {
      const wasUp = this.up;
      this.up = false;
      this.lastError = reason;
      if (wasUp) this.event('warning', 'SOURCE_DISCONNECTED', `lost ${this.endpoint}: ${reason}`);
      this.records.connectionLost();
    });
    await this.poller.start();
  }

  async stop(): Promise<void> {
    this.records.stop();
    await this.poller?.stop();
    this.poller = null;
    const open = this.usage?.flush() ?? [];
    if (open.length > 0) await this.write(open).catch(() => undefined);
  }

  status(): CollectorStatus {
    const st = this.poller?.stats();
    const connected = this.up && (st?.connected ?? false);
    return {
      id: this.id,
      protocol: 'modbus',
      equipment: this.cfg.equipment,
      up: connected && this.reading,
      // Connected: what the last poll said (null when every point read). Not: why not.
      lastError: connected
        ? (st?.lastCycle?.firstError ?? (this.reading ? null : (st?.lastError ?? this.lastError)))
        : (st?.lastError ?? this.lastError ?? 'not connected yet'),
      recordsIn: this.recordsIn,
      counters: {
        timeouts: st?.timeouts ?? 0,
        exceptions: st?.exceptions ?? 0,
        malformed: st?.malformed ?? 0,
        reconnects: st?.reconnects ?? 0,
      },
      details: st ? { ...st, ...(this.records.enabled ? { results: this.records.counters() } : {}) } : {},
    };
  }

  private source(address?: string) {
    // Keys in canonical order (address, endpoint, protocol).
    return { ...(address ? { address } : {}), endpoint: this.endpoint, protocol: 'modbus' as const };
  }

  private write(drafts: RecordDraft[], state?: Record<string, string>): Promise<unknown> {
    this.recordsIn += drafts.length;
    return this.sink.write(this.id, drafts, state).catch((err: unknown) => {
      this.lastError = `buffer write failed: ${(err as Error).message}`;
      this.logger.error({ err }, 'could not write records to the buffer');
      throw err;
    });
  }

  private event(severity: 'info' | 'warning' | 'error', code: EdgeEventCode, message: string) {
    const draft = eventDraft(
      { equipment: this.cfg.equipment, source: this.source(), sourceId: this.id },
      severity,
      code,
      message,
    );
    this.write([draft]).catch(() => undefined);
  }

  /**
   * Up only while readings are good: a device that answers every request with a reply that cannot
   * be used (exception, wrong transaction id, unit or function code, short frame) is not up. Three
   * polls in a row without one good reading give a SOURCE_NO_GOOD_READINGS event; the first good
   * reading after it a SOURCE_READING event.
   */
  private trackHealth(s: ModbusSample): void {
    // Runs on every poll: looks for one good reading, by index (no lookup by name, no copy).
    let good = false;
    const list = s.list;
    for (let i = 0; i < list.length; i++) {
      if (list[i]!.quality === 'good') {
        good = true;
        break;
      }
    }
    this.reading = good;
    if (good) {
      this.pollsWithoutReading = 0;
      if (this.reportedNoReadings) {
        this.reportedNoReadings = false;
        this.event('info', 'SOURCE_READING', `good readings again from ${this.endpoint}`);
      }
      return;
    }
    if (++this.pollsWithoutReading === 3 && !this.reportedNoReadings) {
      this.reportedNoReadings = true;
      const reason = s.list.find((r) => r.error)?.error ?? 'no reading';
      this.event('warning', 'SOURCE_NO_GOOD_READINGS', `no good reading from ${this.endpoint}: ${reason}`);
    }
  }

  private onSample(s: ModbusSample): void {
    this.trackHealth(s);
    const at = s.at.toISOString();
    const now = s.at.getTime();
    if (this.telemetryPoints.length > 0 && this.telemetryPace.take(now)) {
      const list = s.list;
      const points = this.telemetryIndex.map(({ name, index, unit }) => {
        const r = index >= 0 ? list[index] : undefined;
        const good = r?.quality === 'good' && r.value !== undefined;
        // As decoded: a float32 is already the decimal the plant wrote (protocols' shortestFloat32), and
        // integers of every width and float64 values keep all their digits.
        const value = good ? r.value! : null;
        // Keys in canonical order (name, quality, unit, value): the log serializes without a copy.
        return {
          name,
          quality: good ? ('good' as const) : ('bad' as const),
          ...(unit ? { unit } : {}),
          value,
        };
      });
      this.write([
        {
          kind: 'telemetry',
          equipment: this.cfg.equipment,
          observedAt: at,
          receivedAt: at,
          source: this.source(),
          body: withSignals(points, this.signals.due(Date.parse(at))),
        },
      ]).catch(() => undefined);
    }
    if (this.records.enabled) this.records.onSample(s);
    this.trackUsage(s);
  }

  private trackUsage(s: ModbusSample): void {
    const m = this.cfg.usage;
    if (!m || !this.usage) return;
    const poller = this.poller;
    if (!poller) return;
    const r: ReadingOf = (name) => {
      const index = poller.pointIndex(name);
      return index >= 0 ? s.list[index] : undefined;
    };
    const state = num(r, m.state);
    if (state === undefined) return;
    const cycles = num(r, m.cycles);
    const operator = str(r, m.operator);
    const workOrder = str(r, m.workOrder);
    const partSerial = str(r, m.partSerial);
    const drafts = this.usage.observe({
      at: s.at,
      running: m.runningValues.includes(state),
      ...(cycles !== undefined ? { cycles } : {}),
      ...(operator ? { operator } : {}),
      ...(workOrder ? { workOrder } : {}),
      ...(partSerial ? { partSerial } : {}),
    });
    if (drafts.length > 0) this.write(drafts).catch(() => undefined);
  }
}
