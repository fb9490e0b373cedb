import { readFileSync } from 'node:fs';
import { EmbeddedBroker, errorReplyTopic, MqttSubscriber, topicMatches } from '@rigtrace/protocols/mqtt';
import type { MqttBrokerSourceConfig, MqttClientSourceConfig } from '../config/config.schema.js';
import type { Collector, CollectorContext, CollectorStatus } from './collector.js';
import { StationMessageHandler } from './station-messages.js';
import { MqttRecords } from '../mapping/mqtt-records.js';
import { SignalDictionary } from '../mapping/signals.js';

/**
 * A source's signal dictionary and record mappings, handed the station handler's message ids (one
 * duplicate window per device).
 */
function withMappings(
  cfg: MqttBrokerSourceConfig | MqttClientSourceConfig,
  endpoint: string,
  ctx: CollectorContext,
  handler: StationMessageHandler,
  reply: ((topic: string, payload: Buffer) => Promise<void>) | null,
): StationMessageHandler {
  handler.signals = new SignalDictionary(cfg.signals);
  if (cfg.records && cfg.records.length > 0)
    handler.mapped = new MqttRecords(
      cfg.id,
      endpoint,
      cfg.records,
      ctx,
      ctx.logger,
      handler,
      reply,
      handler.signals,
    );
  return handler;
}

/** The mapping counters of a source, for its status. */
const mappedCounters = (h: StationMessageHandler | null) => (h?.mapped ? { results: h.mapped.counters } : {});

/**
 * The edge's own MQTT broker for inspection stations and hand gauges. A device's QoS 1 message is
 * acknowledged only after its record is durable in the buffer.
 */
export class MqttBrokerCollector implements Collector {
  readonly id: string;
  private broker: EmbeddedBroker | null = null;
  private handler: StationMessageHandler | null = null;
  private address = '';

  constructor(
    private readonly cfg: MqttBrokerSourceConfig,
    private readonly ctx: CollectorContext,
  ) {
    this.id = cfg.id;
  }

  async start(): Promise<void> {
    const broker = new EmbeddedBroker({
      host: this.cfg.host,
      port: this.cfg.port,
      devices: this.cfg.devices.map((d) => ({ ...d, publish: [...d.publish], subscribe: [...d.subscribe] })),
      maxPayloadBytes: this.cfg.maxPayloadBytes,
      maxConnections: this.cfg.maxConnections,
      onMessage: (msg) => this.handler!.handle(msg),
      onRefused: (msg) => this.handler!.refused(msg),
      logger: this.ctx.logger,
    });
    const where = await broker.start();
    this.address = `mqtt://${where.host}:${where.port}`;
    const reply = (topic: string, payload: Buffer) => broker.publish(topic, payload, 1);
    this.handler = withMappings(
      this.cfg,
      this.address,
      this.ctx,
      new StationMessageHandler(this.id, this.address, this.ctx, this.ctx.logger, reply, (device, topic) =>
        this.replyTopicFor(device, topic),
      ),
      reply,
    );
    this.broker = broker;
    this.ctx.logger.info({ listen: this.address, devices: this.cfg.devices.length }, 'MQTT broker listening');
  }

  async stop(): Promise<void> {
    await this.broker?.stop();
    this.broker = null;
  }

  /**
   * The error topic of the message's equipment when the device may receive it; otherwise the first
   * `.../error` topic in the device's subscribe ACL (a message refused for its topic is about
   * equipment the device may not speak for, whose error topic it cannot read either).
   */
  private replyTopicFor(username: string, topic: string): string | null {
    const device = this.cfg.devices.find((d) => d.username === username);
    if (!device) return null;
    const own = device.subscribe.filter((f) => f.endsWith('/error') && !/[+#]/u.test(f));
    const candidates = [errorReplyTopic(topic), ...own].filter((t): t is string => t !== null);
    return candidates.find((t) => device.subscribe.some((f) => topicMatches(f, t))) ?? null;
  }

  /** Where the broker listens (after start). */
  get listenUrl(): string {
    return this.address;
  }

  status(): CollectorStatus {
    const st = this.broker?.stats();
    return {
      id: this.id,
      protocol: 'mqtt-broker',
      equipment: '',
      up: this.broker !== null,
      lastError: null,
      recordsIn: (this.handler?.counters.records ?? 0) + (this.handler?.mapped?.counters.results ?? 0),
      counters: {
        aclRefusals: this.handler?.counters.refusedAcl ?? 0,
        sizeRefusals: this.handler?.counters.refusedSize ?? 0,
      },
      details: {
        listen: this.address,
        ...(st ?? {}),
        ...(this.handler?.counters ?? {}),
        ...mappedCounters(this.handler),
      },
    };
  }
}

/** Subscribes to an external (plant) broker with a persistent session; acknowledges after durable. */
export class MqttClientCollector implements Collector {
  readonly id: string;
  private client: MqttSubscriber | null = null;
  private handler: StationMessageHandler | null = null;

  constructor(
    private readonly cfg: MqttClientSourceConfig,
    private readonly ctx: CollectorContext,
  ) {
    this.id = cfg.id;
  }

  async start(): Promise<void> {
    const read = (f?: string) => (f ? readFileSync(f, 'utf8') : undefined);
    const password = this.cfg.passwordEnv ? process.env[this.cfg.passwordEnv] : undefined;
    this.handler = withMappings(
      this.cfg,
      this.cfg.url,
      this.ctx,
      new StationMessageHandler(this.id, this.cfg.url, this.ctx, this.ctx.logger, null),
      null,
    );
    const ca = read(this.cfg.caFile);
    const cert = read(this.cfg.certFile);
    const key = read(this.cfg.keyFile);
    this.client = new MqttSubscriber({
      url: this.cfg.url,
      clientId: this.cfg.clientId,
      ...(this.cfg.username ? { username: this.cfg.username } : {}),
      ...(password ? { password } : {}),
      ...(ca ? { ca } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
      topics: this.cfg.topics.map((t) => ({ filter: t.filter, qos: t.qos })),
      onMessage: (msg) => this.handler!.handle(msg),
      logger: this.ctx.logger,
    });
    await this.client.start();
  }

  async stop(): Promise<void> {
    await this.client?.stop();
    this.client = null;
  }

  status(): CollectorStatus {
    const st = this.client?.stats();
    return {
      id: this.id,
      protocol: 'mqtt',
      equipment: '',
      up: st?.connected ?? false,
      lastError: st?.connected ? null : (st?.lastError ?? null),
      recordsIn: (this.handler?.counters.records ?? 0) + (this.handler?.mapped?.counters.results ?? 0),
      counters: { reconnects: Math.max(0, (st?.connects ?? 0) - 1) },
      details: { ...(st ?? {}), ...(this.handler?.counters ?? {}), ...mappedCounters(this.handler) },
    };
  }
}
