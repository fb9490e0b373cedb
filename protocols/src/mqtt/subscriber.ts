import { EventEmitter } from 'node:events';
import { connect, type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { MqttConfigError } from './errors.js';
import type { InboundMessage, MqttClientOptions, MqttLogger, MqttSubscriberStats } from './types.js';
import { SUBSCRIBER_DEFAULTS, subscriberOptionProblems } from './validate.js';

export interface MqttSubscriberEvents {
  connected: [];
  disconnected: [reason: string];
}

const NOOP_LOGGER: MqttLogger = { info() {}, warn() {}, error() {}, debug() {} };

/** A message whose onMessage failed on the current connection stops the others until it is redelivered. */
class SkippedError extends Error {}

/**
 * Client for an external broker (Mosquitto, a plant's broker): MQTT 3.1.1, QoS 1, persistent
 * session (clean: false under a stable client id), reconnect with exponential backoff and jitter.
 *
 * - A QoS 1 message is PUBACKed only after onMessage resolved (mqtt.js handleMessage), so if the edge
 *   dies mid-message the broker still has it and redelivers it: nothing is lost. Messages are handed
 *   over one at a time, in arrival order.
 * - If onMessage throws, the message is not acknowledged; the later messages of that connection are
 *   not handed over either, and the connection is dropped and re-opened at once, so the broker
 *   redelivers them all (MQTT 3.1.1 redelivers only on a new connection). Delivery is at least once:
 *   a message may arrive again after a crash between onMessage and the PUBACK.
 * - Subscriptions are made at start and again whenever the broker has lost our session (a broker
 *   restart without persistence: CONNACK with sessionPresent 0), so they never go silent.
 * - start() never rejects because the broker is down: it resolves after the first attempt and keeps
 *   trying. A refused subscription (SUBACK 0x80) is logged as an error and kept in stats().lastError.
 * - Events: 'connected', 'disconnected' (reason).
 */
export class MqttSubscriber extends EventEmitter<MqttSubscriberEvents> {
  private readonly opts: MqttClientOptions;
  private readonly log: MqttLogger;
  private readonly reconnect: { initialMs: number; maxMs: number };
  private client: MqttClient | undefined;
  private started = false;
  private stopped = false;
  private connected = false;
  private attempt = 0;
  private connectionNo = 0;
  private failedConnection = -1;
  private inFlight: Promise<void> = Promise.resolve();
  private lastError: string | undefined;
  private disconnectReason = 'connection closed';
  private readonly counters = { connects: 0, messages: 0, handlerFailures: 0 };

  /** Throws MqttConfigError (every problem listed) when the options are invalid. */
  constructor(opts: MqttClientOptions) {
    super();
    const problems = subscriberOptionProblems(opts);
    if (problems.length > 0) throw new MqttConfigError(problems);
    this.opts = opts;
    this.log = opts.logger ?? NOOP_LOGGER;
    this.reconnect = opts.reconnect ?? SUBSCRIBER_DEFAULTS.reconnect;
    const url = new URL(opts.url);
    const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
    if (url.protocol === 'mqtt:' && !loopback)
      this.log.warn({ url: this.safeUrl() }, 'mqtt subscriber: plain MQTT to a non-loopback broker (no TLS)');
  }

  /** Connects and subscribes; resolves after the first connection attempt, whatever its outcome. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const o = this.opts;
    const options: IClientOptions = {
      protocolVersion: 4,
      clientId: o.clientId,
      clean: false,
      keepalive: o.keepaliveSeconds ?? SUBSCRIBER_DEFAULTS.keepaliveSeconds,
      reconnectPeriod: this.nextDelay(),
      connectTimeout: 10_000,
      resubscribe: true,
      queueQoSZero: false,
      rejectUnauthorized: true,
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
      ...(o.ca !== undefined ? { ca: o.ca } : {}),
      ...(o.cert !== undefined ? { cert: o.cert } : {}),
      ...(o.key !== undefined ? { key: o.key } : {}),
    };
    const client = connect(o.url, options);
    this.client = client;
    client.handleMessage = (packet, callback) => this.handle(packet, callback);
    // mqtt.js reads reconnectPeriod when a connection closes; set the next backoff before it does.
    client.prependListener('close', () => {
      client.options.reconnectPeriod = this.nextDelay();
    });
    client.on('connect', (connack) => {
      this.connectionNo++;
      this.attempt = 0;
      this.connected = true;
      this.counters.connects++;
      this.log.info(
        { url: this.safeUrl(), clientId: o.clientId, sessionPresent: connack.sessionPresent },
        'mqtt subscriber: connected',
      );
      this.safeEmit('connected');
      if (this.counters.connects === 1) void this.subscribe(client);
    });
    client.on('close', () => {
      if (!this.connected) return;
      this.connected = false;
      const reason = this.disconnectReason;
      this.disconnectReason = 'connection closed';
      if (!this.stopped) this.log.warn({ url: this.safeUrl(), reason }, 'mqtt subscriber: disconnected');
      this.safeEmit('disconnected', reason);
    });
    client.on('error', (err) => {
      this.lastError = err.message;
      this.disconnectReason = err.message;
      this.log.warn({ url: this.safeUrl(), err: err.message }, 'mqtt subscriber: error');
    });
    await new Promise<void>((resolve) => {
      const done = (): void => {
        client.off('connect', done);
        client.off('close', done);
        resolve();
      };
      client.on('connect', done);
      client.on('close', done);
    });
  }

  /**
   * Waits (up to 5 s) for the message being handled, then disconnects cleanly; the broker keeps our
   * session and redelivers whatever was not acknowledged.
   */
  async stop(): Promise<void> {
    if (!this.started || this.stopped) return;
    this.stopped = true;
    const client = this.client;
    if (!client) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.inFlight, new Promise((r) => (timer = setTimeout(r, 5000)))]);
    clearTimeout(timer);
    await client.endAsync(!this.connected);
  }

  stats(): MqttSubscriberStats {
    const out: MqttSubscriberStats = { connected: this.connected, ...this.counters };
    if (this.lastError !== undefined) out.lastError = this.lastError;
    return out;
  }

  private async subscribe(client: MqttClient): Promise<void> {
    const topics = Object.fromEntries(this.opts.topics.map((t) => [t.filter, { qos: t.qos }]));
    try {
      const granted = await client.subscribeAsync(topics);
      for (const g of granted) {
        if (g.qos === 128) {
          this.lastError = `subscription refused: ${g.topic}`;
          this.log.error(
            { filter: g.topic },
            'mqtt subscriber: subscription refused by the broker (SUBACK 0x80)',
          );
        }
      }
    } catch (err) {
      // Not connected any more: mqtt.js subscribes again when the session turns out to be gone.
      this.lastError = (err as Error).message;
      this.log.warn({ err: (err as Error).message }, 'mqtt subscriber: subscribe failed');
    }
  }

  private handle(packet: IPublishPacket, callback: (error?: Error) => void): void {
    const connection = this.connectionNo;
    if (this.failedConnection === connection) {
      callback(new SkippedError('an earlier message of this connection failed'));
      return;
    }
    const msg: InboundMessage = {
      clientId: this.opts.clientId,
      username: this.opts.username ?? null,
      topic: packet.topic,
      payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload) : Buffer.from(packet.payload),
      qos: packet.qos,
      retain: packet.retain,
      receivedAt: new Date(),
    };
    const run = (async () => {
      try {
        await this.opts.onMessage(msg);
        this.counters.messages++;
        callback();
      } catch (err) {
        this.counters.handlerFailures++;
        this.lastError = `onMessage: ${(err as Error)?.message ?? String(err)}`;
        this.failedConnection = connection;
        this.log.error(
          { topic: msg.topic, err: this.lastError },
          'mqtt subscriber: onMessage failed; not acknowledged, reconnecting for redelivery',
        );
        callback(err instanceof Error ? err : new Error(String(err)));
        if (!this.stopped) {
          this.disconnectReason = 'onMessage failed';
          this.attempt = 0;
          this.client?.stream.destroy();
        }
      }
    })();
    this.inFlight = run;
  }

  /** Exponential backoff with "equal jitter": half fixed, half random. */
  private nextDelay(): number {
    const { initialMs, maxMs } = this.reconnect;
    const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.max(1, Math.round(ceiling / 2 + Math.random() * (ceiling / 2)));
  }

  private safeUrl(): string {
    const url = new URL(this.opts.url);
    url.username = '';
    url.password = '';
    return url.toString();
  }

  /** Like emit(), but a listener that throws is logged and the other listeners still run. */
  private safeEmit<K extends keyof MqttSubscriberEvents>(event: K, ...args: MqttSubscriberEvents[K]): void {
    for (const listener of this.rawListeners(event) as ((...a: unknown[]) => unknown)[]) {
      try {
        listener.apply(this, args);
      } catch (err) {
        this.log.error({ event, err: String(err) }, 'mqtt subscriber: a listener threw');
      }
    }
  }
}
