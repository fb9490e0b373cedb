import path from 'node:path';
import { SignalDictionary, withSignals } from '../mapping/signals.js';
import { OpcuaSubscriber, type OpcuaEvent, type OpcuaValue } from '@rigtrace/protocols/opcua';

export { routeOpcuaLibraryLogs } from '@rigtrace/protocols/opcua';
import type { RecordDraft } from '../buffer/edge-log.js';
import type { OpcuaSourceConfig } from '../config/config.schema.js';
import { eventDraft, type Collector, type CollectorContext, type CollectorStatus } from './collector.js';
import { OpcuaRecords } from '../mapping/opcua-records.js';
import { TelemetryPace } from '../records/telemetry-pace.js';
import type { EdgeEventCode } from '../errors.js';

/**
 * Subscribes to an OPC UA server's items. Values feed telemetry records (one per
 * `telemetry.everyMs`, records/telemetry-pace.ts), non-Good status codes become event records, and the source's record
 * mappings (mapping/opcua-records.ts) turn each result of a trigger into one record.
 */
export class OpcuaCollector implements Collector {
  readonly id: string;
  private client: OpcuaSubscriber | null = null;
  private readonly latest = new Map<string, OpcuaValue>();
  private readonly telemetryPace: TelemetryPace;
  private recordsIn = 0;
  /** Connected to the server (a session with its subscription). */
  private connected = false;
  /** Why the connection was lost, until it is back. */
  private lastError: string | null = null;
  /** Each item's latest status since the connection: null while Good, else the status name. */
  private readonly itemStatus = new Map<string, string | null>();
  /** A SOURCE_NO_GOOD_READINGS event went out and no SOURCE_READING since. */
  private reportedNoReadings = false;
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
    this.records = new OpcuaRecords(cfg, this.latest, {
      sink: ctx.sink,
      logger: ctx.logger,
      source: (a) => this.source(a),
    });
    this.telemetryItems =
      cfg.telemetry?.items ?? cfg.items.map((i) => i.name).filter((n) => !this.records.isTrigger(n));
    this.unitOf = new Map(cfg.items.map((i) => [i.name, i.unit]));
    this.signals = new SignalDictionary(cfg.signals);
    this.telemetryPace = new TelemetryPace(cfg.telemetry?.everyMs ?? 1000, cfg.publishingIntervalMs);
  }

  private source(address?: string) {
    return { ...(address ? { address } : {}), endpoint: this.cfg.endpointUrl, protocol: 'opcua' as const };
  }

  async start(): Promise<void> {
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
      ...(this.records.eventSpecs().length > 0 ? { events: this.records.eventSpecs() } : {}),
      publishingIntervalMs: this.cfg.publishingIntervalMs,
      connectTimeoutMs: this.cfg.timeoutMs,
      logger: this.ctx.logger,
    });
    client.on('value', (v: OpcuaValue) => {
      this.itemStatus.set(v.name, v.statusCode.good ? null : v.statusCode.name);
      this.trackHealth();
      this.onValue(v);
    });
    client.on('event', (e: OpcuaEvent) => this.records.onEvent(e));
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
      this.records.connectionRestored();
    });
    client.on('disconnected', (reason: string) => {
      if (this.connected)
        this.event('warning', 'SOURCE_DISCONNECTED', `lost ${this.cfg.endpointUrl}: ${reason}`);
      this.connected = false;
      this.lastError = reason;
      // Values of a lost connection say nothing of the next one (its items report afresh, often
      // before 'connected' is emitted).
      this.itemStatus.clear();
      this.records.connectionLost();
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
      lastError: up ? null : this.connected ? this.noGoodReason() : (this.lastError ?? st?.lastError ?? null),
      recordsIn: this.recordsIn,
      counters: {
        timeouts: st?.timeouts ?? 0,
        exceptions: st?.exceptions ?? 0,
        reconnects: st?.reconnects ?? 0,
      },
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
    const now = Date.now();
    if (!this.telemetryPace.take(now)) return;
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
}
