import { EventEmitter } from 'node:events';
import net from 'node:net';
import { Aedes, type AuthenticateError, type Client, type PublishPacket, type Subscription } from 'aedes';
import { MqttConfigError } from './errors.js';
import { checkPacket, FrameFilter, type ConnectionGuardState, type WirePacket } from './guard.js';
import { argon2idParams, DEVICE_PASSWORD_HASH_OPTIONS, PasswordChecker } from './password.js';
import { filterCovers, topicMatches, topicNameProblem } from './topics.js';
import type {
  BrokerStats,
  DeviceCredential,
  EmbeddedBrokerOptions,
  InboundMessage,
  MqttLogger,
  RefusedMessage,
} from './types.js';
import { BROKER_DEFAULTS, brokerOptionProblems } from './validate.js';

export interface DeviceEvent {
  clientId: string;
  username: string;
}

export interface EmbeddedBrokerEvents {
  'client-connected': [DeviceEvent];
  'client-disconnected': [DeviceEvent];
  'auth-failure': [{ clientId: string; username: string | null; remote: string }];
  'acl-denied': [
    {
      clientId: string;
      username: string | null;
      action: 'publish' | 'subscribe' | 'will' | 'forward' | 'session';
      topic: string;
    },
  ];
  'protocol-error': [{ clientId: string | null; remote: string; reason: string; oversized: boolean }];
  /** A PUBLISH acknowledged and dropped: outside the device's publish ACL, or over maxPayloadBytes. */
  'message-refused': [
    { clientId: string; username: string; topic: string; reason: 'acl' | 'size'; bytes: number },
  ];
  'handler-failure': [{ clientId: string; topic: string; error: string }];
}

const NOOP_LOGGER: MqttLogger = { info() {}, warn() {}, error() {}, debug() {} };

/** Largest PUBLISH overhead besides the payload: topic length field, topic, packet identifier. */
const PUBLISH_OVERHEAD = 2 + 65_535 + 2;
/**
 * Where a refused PUBLISH goes once acknowledged (its payload emptied): aedes publishes every
 * authorized message, and no device can receive a $-topic (authorizeForward drops this one too).
 */
const REFUSED_TOPIC = '$rigtrace/refused';
/** CONNACK with return code 1, unacceptable protocol level. */
const CONNACK_UNACCEPTABLE_LEVEL = Buffer.from([0x20, 0x02, 0x00, 0x01]);
/** Bytes of a CONNECT up to its protocol level: fixed header (≤ 5), protocol name (2 + 6), level. */
const CONNECT_HEAD = 14;
/** TCP connections beyond maxConnections that may still be in the middle of their CONNECT. */
const SOCKET_SLACK = 64;

/** The parts of an aedes Client this module reads or wraps (not in aedes' types). */
interface ClientInternals {
  _parser?: EventEmitter & { parse?: (buf: Buffer) => unknown };
  subscriptions?: Record<string, { qos: number } | undefined>;
}

interface PersistenceInternals {
  incomingGetPacket(client: Client, packet: { messageId?: number }): Promise<unknown>;
  addSubscriptions(client: Client, subs: Subscription[]): Promise<void>;
}

interface Conn {
  socket: net.Socket;
  remote: string;
  guard: ConnectionGuardState;
  clientId: string | null;
  identifierRejected: boolean;
  will?: { topic: string; qos: number; retain: boolean };
  device?: DeviceCredential;
  /** onMessage calls of this connection run one after the other, in arrival order. */
  chain: Promise<void>;
  /** An onMessage failed: the connection is being closed, later messages are not handed over. */
  failed: boolean;
  refused: boolean;
  /** Size of the oversized PUBLISH whose empty replacement is being parsed right now. */
  oversizedNext: number | null;
  /** The first bytes of the connection, to read a CONNECT's protocol level when the parser cannot. */
  head: Buffer;
}

function authError(returnCode: 2 | 3 | 5, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode });
}

/**
 * aedes broker with per-device credentials and topic ACLs, hardened to MQTT 3.1.1 where aedes 1.2
 * is lax. Every packet passes checkPacket() (guard.ts) before aedes sees it. Gaps closed (each has a
 * test in broker-conformance.test.ts; details in README.md):
 *
 *  1. Zero-length client id with CleanSession 0 is accepted with a generated id → CONNACK 2 [MQTT-3.1.3-8].
 *  2. Invalid SUBSCRIBE/UNSUBSCRIBE filters ("a#", "a/+b", "+a", "a+") are accepted → connection closed [MQTT-4.7.1-2/3].
 *  3. Topics with U+0000 or ill-formed UTF-8 are accepted → closed [MQTT-1.5.3-1/2, MQTT-4.7.3-2].
 *  4. PUBLISH QoS 0 with DUP, and packet identifier 0, are accepted → closed [MQTT-3.3.1-2, MQTT-2.3.1-1].
 *  5. CONNECT with a password but no user name is accepted → closed [MQTT-3.1.2-22].
 *  6. Will topic is never validated (a will on "a/#" is published to "a/#") → closed; will QoS 3 → closed
 *     [MQTT-3.1.2-14]; the will topic must pass the device's publish ACL at CONNECT → CONNACK 5.
 *  7. QoS downgrade only looks at a subscription with the exact topic string: a QoS 2 message reaches a
 *     QoS 1 wildcard subscription at QoS 2, a retained QoS 1 message a QoS 0 subscription at QoS 1 →
 *     delivered at the highest QoS granted to a matching subscription [MQTT-3.8.4-6, MQTT-3.3.5-1].
 *  8. ACL bypass: a SUBSCRIBE with an allowed and a refused filter stores both in the persistent session,
 *     and messages for the refused one are queued and delivered at the next reconnect → refused filters
 *     are never stored, and every message is checked against the receiver's subscribe ACL on its way out.
 *  9. No packet size limit: mqtt-packet buffers up to 256 MB of one packet → refused from its fixed header.
 * 10. Subscriptions starting with a wildcard and ACL filters "#"/"+" never match $-topics here either
 *     [MQTT-4.7.2-1]; devices never publish to $-topics.
 * 11. PUBACK/PUBREC is written before the message is handled → only after onMessage resolved.
 * Checked and found conformant (pinned by tests): second CONNECT and packets before CONNECT close the
 * connection; no will on a refused CONNECT; keep-alive closes after 1.5 × the keep alive.
 */
export class EmbeddedBroker extends EventEmitter<EmbeddedBrokerEvents> {
  private readonly opts: EmbeddedBrokerOptions;
  private readonly log: MqttLogger;
  private readonly maxPayloadBytes: number;
  private readonly maxConnections: number;
  private readonly devices = new Map<string, DeviceCredential>();
  private readonly passwords: PasswordChecker;
  private readonly conns = new WeakMap<Client, Conn>();
  private readonly receivedAt = new WeakMap<object, Date>();
  /** PUBLISH packets admitted to aedes only to be acknowledged and dropped (size: the payload was cut). */
  private readonly oversizedPackets = new WeakMap<object, number>();
  /** Which device a session (client id) belongs to: another device may not take it over. */
  private readonly sessionOwners = new Map<string, string>();
  /** QoS 2 packet identifiers handed to onMessage and not yet released (PUBREL), per client id. */
  private readonly qos2InFlight = new Map<string, Set<number>>();
  private readonly sockets = new Set<net.Socket>();
  private aedes: Aedes | undefined;
  private server: net.Server | undefined;
  private started = false;
  private stopping = false;
  private readonly counters = {
    connects: 0,
    authFailures: 0,
    aclDenied: 0,
    messagesIn: 0,
    messagesAcked: 0,
    handlerFailures: 0,
    oversized: 0,
    messagesRefused: 0,
    unsupportedProtocol: 0,
    protocolErrors: 0,
    connectionsRefused: 0,
  };

  /** Throws MqttConfigError (every problem listed) when the options are invalid. */
  constructor(opts: EmbeddedBrokerOptions) {
    super();
    const problems = brokerOptionProblems(opts);
    if (problems.length > 0) throw new MqttConfigError(problems);
    this.opts = opts;
    this.log = opts.logger ?? NOOP_LOGGER;
    this.maxPayloadBytes = opts.maxPayloadBytes ?? BROKER_DEFAULTS.maxPayloadBytes;
    this.maxConnections = opts.maxConnections ?? BROKER_DEFAULTS.maxConnections;
    for (const d of opts.devices)
      this.devices.set(d.username, { ...d, publish: [...d.publish], subscribe: [...d.subscribe] });
    // The dummy hash of unknown users takes the parameters of the devices' hashes, so both answers
    // cost the same time.
    const first = opts.devices[0];
    const params = (first && argon2idParams(first.passwordHash)) ?? DEVICE_PASSWORD_HASH_OPTIONS;
    this.passwords = new PasswordChecker({
      memoryCost: params.memoryCost,
      timeCost: params.timeCost,
      parallelism: params.parallelism,
    });
  }

  /** Listens; resolves with the address actually bound (port 0 = any free port). */
  async start(): Promise<{ host: string; port: number }> {
    if (this.started) throw new Error('EmbeddedBroker: already started');
    this.started = true;
    await this.passwords.init();
    const aedes = await Aedes.createBroker({
      connectTimeout: 10_000,
      authenticate: (client, username, password, done) => {
        void this.authenticate(client, username, password).then((err) => done(err, err === null));
      },
      authorizePublish: (client, packet, done) => this.authorizePublish(client, packet, done),
      authorizeSubscribe: (client, sub, done) => this.authorizeSubscribe(client, sub, done),
      authorizeForward: (client, packet) => this.authorizeForward(client, packet),
    });
    this.aedes = aedes;
    this.patchPersistence(aedes);
    aedes.on('clientReady', (client) => {
      const device = this.conns.get(client)?.device;
      this.counters.connects++;
      const e = { clientId: client.id, username: device?.username ?? '' };
      this.log.info(e, 'mqtt broker: client connected');
      this.safeEmit('client-connected', e);
    });
    aedes.on('clientDisconnect', (client) => {
      const conn = this.conns.get(client);
      const e = { clientId: client.id, username: conn?.device?.username ?? '' };
      if (client.clean) {
        this.sessionOwners.delete(client.id);
        this.qos2InFlight.delete(client.id);
      }
      this.log.info(e, 'mqtt broker: client disconnected');
      this.safeEmit('client-disconnected', e);
    });
    aedes.on('clientError', (client, err) =>
      this.log.debug?.({ clientId: client.id, err: err.message }, 'mqtt broker: client error'),
    );
    aedes.on('keepaliveTimeout', (client) =>
      this.log.info({ clientId: client.id }, 'mqtt broker: keep alive timeout, connection closed'),
    );
    (aedes as EventEmitter).on('error', (err: Error) =>
      this.log.error({ err: err.message }, 'mqtt broker: aedes error'),
    );

    // Fail at start, not at the first device, if aedes' internals this module wraps have changed.
    if (!this.canGuard(aedes)) {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      throw new Error('EmbeddedBroker: this aedes version cannot be guarded (Client._parser changed)');
    }

    const server = net.createServer((socket) => this.onSocket(socket));
    this.server = server;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.opts.port, this.opts.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      throw err;
    }
    server.on('error', (err) => this.log.error({ err: err.message }, 'mqtt broker: server error'));
    const address = server.address() as net.AddressInfo;
    this.log.info({ host: address.address, port: address.port }, 'mqtt broker: listening');
    return { host: address.address, port: address.port };
  }

  /** Closes the listener and every connection (no will messages are published on the way down). */
  async stop(): Promise<void> {
    if (!this.started || this.stopping) return;
    this.stopping = true;
    const server = this.server;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    if (this.aedes) {
      const aedes = this.aedes;
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    }
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  /**
   * Publishes as the broker itself (for instance an error reply to a device). QoS 1 messages to a
   * device with a persistent session are queued while it is offline.
   */
  async publish(topic: string, payload: Buffer | string, qos: 0 | 1 = 0): Promise<void> {
    const aedes = this.aedes;
    if (!aedes || this.stopping) throw new Error('EmbeddedBroker: not running');
    const problem = topicNameProblem(topic);
    if (problem) throw new TypeError(`topic ${problem}`);
    if (topic.startsWith('$')) throw new TypeError('topic must not start with $');
    if (qos !== 0 && qos !== 1) throw new TypeError('qos must be 0 or 1');
    const packet: PublishPacket = {
      cmd: 'publish',
      topic,
      payload: typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload,
      qos,
      retain: false,
      dup: false,
    };
    await new Promise<void>((resolve, reject) =>
      aedes.publish(packet, (err) => (err ? reject(err) : resolve())),
    );
  }

  stats(): BrokerStats {
    return { clients: this.aedes?.connectedClients ?? 0, ...this.counters };
  }

  // ---- connections and the packet guard ---------------------------------------------------------------

  private canGuard(aedes: Aedes): boolean {
    const probe = new net.Socket();
    const client = aedes.handle(probe) as unknown as ClientInternals & Client;
    const parser = client._parser;
    const ok = typeof parser?.parse === 'function' && parser.listeners('packet').length === 1;
    client.close();
    probe.destroy();
    return ok;
  }

  private onSocket(socket: net.Socket): void {
    socket.on('error', () => {}); // aedes reports socket errors through the client
    if (this.stopping || !this.aedes) {
      socket.destroy();
      return;
    }
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    if (this.sockets.size >= this.maxConnections + SOCKET_SLACK) {
      this.counters.connectionsRefused++;
      this.log.warn({ remote, sockets: this.sockets.size }, 'mqtt broker: too many connections, refused');
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.setNoDelay(true);
    // Half-open connections of clients with keep alive 0 are found by TCP keep-alive.
    socket.setKeepAlive(true, 30_000);
    const client = this.aedes.handle(socket);
    const conn: Conn = {
      socket,
      remote,
      guard: { connectSeen: false },
      clientId: null,
      identifierRejected: false,
      chain: Promise.resolve(),
      failed: false,
      refused: false,
      oversizedNext: null,
      head: Buffer.alloc(0),
    };
    this.conns.set(client, conn);
    this.installGuard(client, conn);
  }

  /** Wraps the client's parser: frame scanner in front of parse(), checkPacket() in front of aedes. */
  private installGuard(client: Client, conn: Conn): void {
    const parser = (client as unknown as ClientInternals)._parser;
    const parse = parser?.parse?.bind(parser);
    const aedesListeners = parser?.listeners('packet') ?? [];
    const enqueue = aedesListeners[0] as ((this: unknown, packet: unknown) => void) | undefined;
    if (!parser || !parse || aedesListeners.length !== 1 || !enqueue) {
      // canGuard() passed at start, so this cannot happen; fail closed anyway.
      this.log.error({ remote: conn.remote }, 'mqtt broker: cannot guard this connection, closed');
      conn.socket.destroy();
      return;
    }
    parser.removeAllListeners('packet');
    parser.on('packet', (packet: WirePacket) => {
      if (this.admit(conn, packet)) enqueue.call(parser, packet);
    });
    // aedes closes the connection on a parser error; a CONNECT with an unknown protocol level must
    // get its CONNACK 1 first, so aedes' listeners run only for the other errors.
    const aedesOnError = parser.listeners('error') as ((err: Error) => void)[];
    parser.removeAllListeners('error');
    parser.on('error', (err: Error) => {
      if (conn.refused) return;
      const level = conn.guard.connectSeen ? null : connectLevel(conn.head);
      if (level !== null && level !== 3 && level !== 4) {
        this.unsupportedLevel(conn, `CONNECT protocol level ${level} not supported [MQTT-3.1.2-2]`);
        return;
      }
      conn.refused = true;
      this.noteRefusal(conn, false, `malformed packet: ${err.message}`);
      for (const listener of aedesOnError) listener.call(parser, err);
    });
    const filter = new FrameFilter(this.maxPayloadBytes + PUBLISH_OVERHEAD);
    parser.parse = (buf: Buffer) => {
      if (!conn.guard.connectSeen && conn.head.length < CONNECT_HEAD)
        conn.head = Buffer.concat([conn.head, buf.subarray(0, CONNECT_HEAD)]);
      for (const segment of filter.feed(buf)) {
        if (conn.refused) return 0;
        if (segment.kind === 'bytes') parse(segment.bytes);
        else if (segment.kind === 'refuse') this.refuse(conn, segment.oversized, segment.reason);
        else {
          // The PUBLISH without its payload goes through the usual checks and is then refused for its size.
          conn.oversizedNext = segment.bytes;
          try {
            parse(segment.replacement);
          } finally {
            conn.oversizedNext = null;
          }
        }
      }
      return 0;
    };
  }

  /** CONNACK 1 and close: the client may retry with a level the broker speaks [MQTT-3.1.2-2]. */
  private unsupportedLevel(conn: Conn, reason: string): void {
    if (conn.refused) return;
    conn.refused = true;
    this.counters.unsupportedProtocol++;
    this.log.warn({ remote: conn.remote, reason }, 'mqtt broker: unsupported protocol level, CONNACK 1');
    conn.socket.end(CONNACK_UNACCEPTABLE_LEVEL);
    setTimeout(() => conn.socket.destroy(), 1000).unref();
  }

  /** Runs checkPacket(); false = the connection is being closed and aedes must not see the packet. */
  private admit(conn: Conn, packet: WirePacket): boolean {
    if (conn.refused) return false;
    const verdict = checkPacket(packet, conn.guard, this.maxPayloadBytes);
    if (!verdict.ok && verdict.kind === 'level') {
      this.unsupportedLevel(conn, verdict.reason);
      return false;
    }
    if (!verdict.ok && verdict.kind === 'oversized' && packet.cmd === 'publish') {
      // Acknowledged and dropped in authorizePublish; the payload is not kept meanwhile.
      this.oversizedPackets.set(packet, payloadBytes(packet));
      packet.payload = Buffer.alloc(0);
    } else if (!verdict.ok) {
      this.refuse(conn, verdict.kind === 'oversized', verdict.reason);
      return false;
    }
    if (packet.cmd === 'publish' && conn.oversizedNext !== null)
      this.oversizedPackets.set(packet, conn.oversizedNext);
    if (packet.cmd === 'connect') {
      conn.clientId = packet.clientId ?? '';
      conn.identifierRejected = verdict.ok && verdict.identifierRejected === true;
      if (packet.will)
        conn.will = { topic: packet.will.topic, qos: packet.will.qos, retain: packet.will.retain };
    } else if (packet.cmd === 'publish') {
      this.receivedAt.set(packet, new Date());
    } else if (packet.cmd === 'pubrel' && conn.clientId !== null && packet.messageId !== undefined) {
      this.qos2InFlight.get(this.sessionId(conn))?.delete(packet.messageId);
    }
    return true;
  }

  private refuse(conn: Conn, oversized: boolean, reason: string): void {
    if (conn.refused) return;
    conn.refused = true;
    this.noteRefusal(conn, oversized, reason);
    conn.socket.destroy();
  }

  private noteRefusal(conn: Conn, oversized: boolean, reason: string): void {
    if (oversized) this.counters.oversized++;
    else this.counters.protocolErrors++;
    const e = { clientId: conn.clientId, remote: conn.remote, reason, oversized };
    this.log.warn(
      e,
      oversized
        ? 'mqtt broker: packet too large, connection closed'
        : 'mqtt broker: protocol error, connection closed',
    );
    this.safeEmit('protocol-error', e);
  }

  private sessionId(conn: Conn): string {
    return conn.clientId ?? '';
  }

  // ---- aedes hooks ------------------------------------------------------------------------------------

  private async authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
  ): Promise<AuthenticateError | null> {
    const conn = this.conns.get(client);
    if (!conn) return authError(3, 'unknown connection');
    if (conn.identifierRejected) {
      this.noteRefusal(conn, false, 'zero-length client id with CleanSession 0 [MQTT-3.1.3-8]');
      return authError(2, 'identifier rejected');
    }
    const aedes = this.aedes;
    const takeover =
      aedes !== undefined && (aedes as unknown as { clients: Record<string, unknown> }).clients[client.id];
    if (aedes && aedes.connectedClients >= this.maxConnections && !takeover) {
      this.counters.connectionsRefused++;
      this.log.warn({ clientId: client.id, max: this.maxConnections }, 'mqtt broker: full, CONNACK 3');
      return authError(3, 'server unavailable');
    }
    const device = username === undefined ? undefined : this.devices.get(username);
    const ok = await this.passwords.check(device?.passwordHash, password);
    if (ok === 'busy') {
      this.counters.connectionsRefused++;
      this.log.warn({ clientId: client.id }, 'mqtt broker: too many password checks queued, CONNACK 3');
      return authError(3, 'server unavailable');
    }
    if (!ok || !device) {
      this.counters.authFailures++;
      const e = { clientId: client.id, username: username ?? null, remote: conn.remote };
      this.log.warn(e, 'mqtt broker: authentication failed, CONNACK 5');
      this.safeEmit('auth-failure', e);
      return authError(5, 'not authorized');
    }
    if (conn.will && !this.mayPublish(device, conn.will.topic)) {
      this.denied(client.id, device.username, 'will', conn.will.topic);
      return authError(5, 'not authorized');
    }
    const owner = this.sessionOwners.get(client.id);
    if (owner !== undefined && owner !== device.username) {
      this.denied(client.id, device.username, 'session', client.id);
      return authError(2, 'identifier rejected');
    }
    this.sessionOwners.set(client.id, device.username);
    conn.device = device;
    return null;
  }

  private authorizePublish(
    client: Client | null,
    packet: PublishPacket,
    done: (err?: Error | null) => void,
  ): void {
    const conn = client ? this.conns.get(client) : undefined;
    const device = conn?.device;
    if (!client || !conn || !device || this.stopping) {
      done(new Error('not authorized'));
      return;
    }
    const isWill = (packet as { cmd?: string }).cmd !== 'publish';
    const allowed = this.mayPublish(device, packet.topic);
    if (!allowed && isWill) {
      this.denied(client.id, device.username, 'will', packet.topic);
      done(new Error('publish not authorized'));
      return;
    }
    const oversized = this.oversizedPackets.get(packet);
    const refusal: { reason: 'acl' | 'size'; bytes: number } | null = !allowed
      ? { reason: 'acl', bytes: payloadBytes(packet) }
      : oversized !== undefined
        ? { reason: 'size', bytes: oversized }
        : null;
    if (refusal?.reason === 'acl') this.denied(client.id, device.username, 'publish', packet.topic);
    if (refusal?.reason === 'size') {
      this.counters.oversized++;
      this.log.warn(
        { clientId: client.id, topic: packet.topic, bytes: refusal.bytes, max: this.maxPayloadBytes },
        'mqtt broker: payload too large, acknowledged and dropped',
      );
    }
    const receivedAt = this.receivedAt.get(packet) ?? new Date();
    const qos = packet.qos;
    const messageId = packet.messageId;
    const sessionId = client.id;
    const topic = packet.topic;
    const run = async (): Promise<'handled' | 'duplicate'> => {
      if (
        !isWill &&
        qos === 2 &&
        messageId !== undefined &&
        (await this.isQos2Duplicate(client, sessionId, messageId))
      )
        return 'duplicate';
      if (conn.failed && !isWill)
        throw Object.assign(new Error('an earlier message of this connection failed'), { skipped: true });
      const msg: InboundMessage = {
        clientId: client.id,
        username: device.username,
        topic,
        payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload,
        qos,
        retain: packet.retain,
        receivedAt,
      };
      if (refusal) {
        // Acknowledged and dropped: a device disconnected for it would re-send it for ever.
        this.counters.messagesRefused++;
        this.safeEmit('message-refused', {
          clientId: client.id,
          username: device.username,
          topic,
          reason: refusal.reason,
          bytes: refusal.bytes,
        });
        const refused: RefusedMessage = { ...msg, ...refusal };
        await this.opts.onRefused?.(refused);
        packet.topic = REFUSED_TOPIC;
        packet.payload = Buffer.alloc(0);
        packet.retain = false;
      } else {
        this.counters.messagesIn++;
        await this.opts.onMessage(msg);
      }
      if (!isWill && qos === 2 && messageId !== undefined) {
        let ids = this.qos2InFlight.get(sessionId);
        if (!ids) this.qos2InFlight.set(sessionId, (ids = new Set()));
        ids.add(messageId);
      }
      if (!isWill && qos > 0) this.counters.messagesAcked++;
      return 'handled';
    };
    const next = conn.chain.then(run);
    conn.chain = next.then(
      () => undefined,
      () => undefined,
    );
    next.then(
      () => done(null),
      (err: unknown) => {
        conn.failed = true;
        if (!(err as { skipped?: boolean }).skipped) {
          this.counters.handlerFailures++;
          const e = {
            clientId: client.id,
            topic: packet.topic,
            error: String((err as Error)?.message ?? err),
          };
          this.log.error(e, 'mqtt broker: onMessage failed; not acknowledged, client disconnected');
          this.safeEmit('handler-failure', e);
        }
        done(err instanceof Error ? err : new Error(String(err)));
      },
    );
  }

  /** A QoS 2 PUBLISH retransmitted before PUBREL must not be handed over twice [MQTT-4.3.3-2]. */
  private async isQos2Duplicate(client: Client, sessionId: string, messageId: number): Promise<boolean> {
    if (this.qos2InFlight.get(sessionId)?.has(messageId)) return true;
    const persistence = (this.aedes as unknown as { persistence?: PersistenceInternals }).persistence;
    if (!persistence) return false;
    try {
      await persistence.incomingGetPacket(client, { messageId });
      return true;
    } catch {
      return false;
    }
  }

  private authorizeSubscribe(
    client: Client,
    sub: Subscription,
    done: (err: Error | null, sub?: Subscription | null) => void,
  ): void {
    const device = this.conns.get(client)?.device;
    if (!device || !this.maySubscribe(device, sub.topic)) {
      this.denied(client.id, device?.username ?? null, 'subscribe', sub.topic);
      done(null, null); // SUBACK 0x80
      return;
    }
    done(null, sub);
  }

  /**
   * Last check on every message on its way to a client (live, retained, queued for a persistent
   * session): the receiver's subscribe ACL must allow the topic, and the QoS is lowered to the highest
   * QoS granted to one of its subscriptions that match the topic.
   */
  private authorizeForward<P extends { topic: string; qos: number }>(client: Client, packet: P): P | null {
    const device = this.conns.get(client)?.device;
    if (!device || packet.topic === REFUSED_TOPIC) return null;
    if (!device.subscribe.some((f) => topicMatches(f, packet.topic))) {
      this.denied(client.id, device.username, 'forward', packet.topic);
      return null;
    }
    let granted = -1;
    const subs = (client as unknown as ClientInternals).subscriptions ?? {};
    for (const [filter, s] of Object.entries(subs)) {
      if (s && topicMatches(filter, packet.topic)) granted = Math.max(granted, s.qos);
    }
    if (granted < 0) return null;
    // aedes hands every receiver its own copy of the packet, so lowering it here is safe.
    if (packet.qos > granted) packet.qos = granted;
    return packet;
  }

  /** aedes stores all filters of a SUBSCRIBE in a persistent session, the refused ones too (gap 8). */
  private patchPersistence(aedes: Aedes): void {
    const persistence = (aedes as unknown as { persistence: PersistenceInternals }).persistence;
    const add = persistence.addSubscriptions.bind(persistence);
    persistence.addSubscriptions = (client, subs) => {
      const device = this.conns.get(client)?.device;
      return add(
        client,
        subs.filter((s) => device !== undefined && this.maySubscribe(device, s.topic)),
      );
    };
  }

  private mayPublish(device: DeviceCredential, topic: string): boolean {
    return !topic.startsWith('$') && device.publish.some((f) => topicMatches(f, topic));
  }

  private maySubscribe(device: DeviceCredential, filter: string): boolean {
    return device.subscribe.some((allowed) => filterCovers(allowed, filter));
  }

  private denied(
    clientId: string,
    username: string | null,
    action: 'publish' | 'subscribe' | 'will' | 'forward' | 'session',
    topic: string,
  ): void {
    this.counters.aclDenied++;
    const e = { clientId, username, action, topic };
    if (action === 'forward') this.log.debug?.(e, 'mqtt broker: message not forwarded (subscribe ACL)');
    else this.log.warn(e, `mqtt broker: ${action} not authorized`);
    this.safeEmit('acl-denied', e);
  }

  /** Like emit(), but a listener that throws is logged and the other listeners still run. */
  private safeEmit<K extends keyof EmbeddedBrokerEvents>(event: K, ...args: EmbeddedBrokerEvents[K]): void {
    for (const listener of this.rawListeners(event) as ((...a: unknown[]) => unknown)[]) {
      try {
        listener.apply(this, args);
      } catch (err) {
        this.log.error({ event, err: String(err) }, 'mqtt broker: a listener threw');
      }
    }
  }
}

function payloadBytes(packet: { payload?: Buffer | string }): number {
  const p = packet.payload;
  return typeof p === 'string' ? Buffer.byteLength(p) : (p?.length ?? 0);
}

/** The protocol level of the CONNECT at the start of `head`, or null when it is not one. */
function connectLevel(head: Buffer): number | null {
  if (head.length < 2 || head[0] !== 0x10) return null;
  let i = 1;
  while (i < head.length && i < 5 && ((head[i] ?? 0) & 0x80) !== 0) i++;
  i++; // last remaining-length byte
  if (i + 2 > head.length) return null;
  const nameLength = head.readUInt16BE(i);
  const at = i + 2 + nameLength;
  return nameLength <= 6 && at < head.length ? (head[at] ?? null) : null;
}
