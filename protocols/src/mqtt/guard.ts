import { topicFilterProblem, topicNameProblem, utf8StringProblem } from './topics.js';

/**
 * The MQTT 3.1.1 checks the embedded broker runs on every packet before aedes sees it, for the
 * rules aedes 1.2 does not enforce (see README.md, "Where aedes is lax"), plus a frame filter that
 * finds an oversized packet from its fixed header, before its body is buffered.
 */

/** The fields of an mqtt-packet packet that the checks read. */
export interface WirePacket {
  cmd: string;
  messageId?: number;
  qos?: number;
  dup?: boolean;
  retain?: boolean;
  topic?: string;
  payload?: Buffer | string;
  subscriptions?: { topic: string; qos: number }[];
  unsubscriptions?: string[];
  clientId?: string;
  clean?: boolean;
  username?: string;
  password?: Buffer;
  will?: { topic: string; payload: Buffer; qos: number; retain: boolean };
  protocolVersion?: number;
  keepalive?: number;
}

export type Verdict =
  | {
      ok: true;
      /** CONNECT with an empty client id and CleanSession 0: answer CONNACK 2 [MQTT-3.1.3-8]. */ identifierRejected?: boolean;
    }
  | {
      ok: false;
      /** level: CONNECT with a protocol level other than 3 or 4, answered CONNACK 1 [MQTT-3.1.2-2]. */
      kind: 'protocol' | 'oversized' | 'level';
      reason: string;
    };

export interface ConnectionGuardState {
  connectSeen: boolean;
}

const CLIENT_TO_SERVER = new Set([
  'connect',
  'publish',
  'puback',
  'pubrec',
  'pubrel',
  'pubcomp',
  'subscribe',
  'unsubscribe',
  'pingreq',
  'disconnect',
]);
const WITH_PACKET_ID = new Set(['puback', 'pubrec', 'pubrel', 'pubcomp', 'subscribe', 'unsubscribe']);

const protocol = (reason: string): Verdict => ({ ok: false, kind: 'protocol', reason });

/** Checks one parsed packet of a connection; updates `state`. */
export function checkPacket(
  packet: WirePacket,
  state: ConnectionGuardState,
  maxPayloadBytes: number,
): Verdict {
  if (!CLIENT_TO_SERVER.has(packet.cmd)) return protocol(`${packet.cmd} is not sent by clients`);
  if (packet.cmd === 'connect') {
    if (state.connectSeen) return protocol('second CONNECT [MQTT-3.1.0-2]');
    state.connectSeen = true;
    return checkConnect(packet);
  }
  if (!state.connectSeen) return protocol(`${packet.cmd} before CONNECT [MQTT-3.1.0-1]`);
  if (WITH_PACKET_ID.has(packet.cmd) && !packet.messageId)
    return protocol(`${packet.cmd} with packet identifier 0 [MQTT-2.3.1-1]`);
  switch (packet.cmd) {
    case 'publish':
      return checkPublish(packet, maxPayloadBytes);
    case 'subscribe': {
      const subs = packet.subscriptions ?? [];
      if (subs.length === 0) return protocol('SUBSCRIBE without a topic filter [MQTT-3.8.3-3]');
      for (const s of subs) {
        const problem = topicFilterProblem(s.topic);
        if (problem) return protocol(`SUBSCRIBE filter ${JSON.stringify(s.topic)}: ${problem}`);
      }
      return { ok: true };
    }
    case 'unsubscribe': {
      const filters = packet.unsubscriptions ?? [];
      if (filters.length === 0) return protocol('UNSUBSCRIBE without a topic filter [MQTT-3.10.3-2]');
      for (const f of filters) {
        const problem = topicFilterProblem(f);
        if (problem) return protocol(`UNSUBSCRIBE filter ${JSON.stringify(f)}: ${problem}`);
      }
      return { ok: true };
    }
    default:
      return { ok: true };
  }
}

function checkConnect(packet: WirePacket): Verdict {
  if (packet.protocolVersion !== 3 && packet.protocolVersion !== 4)
    return {
      ok: false,
      kind: 'level',
      reason: `protocol level ${String(packet.protocolVersion)} not supported [MQTT-3.1.2-2]`,
    };
  if (packet.password !== undefined && packet.username === undefined)
    return protocol('CONNECT with a password but no user name [MQTT-3.1.2-22]');
  const clientId = packet.clientId ?? '';
  const idProblem = utf8StringProblem(clientId);
  if (idProblem) return protocol(`CONNECT client id ${idProblem}`);
  if (packet.username !== undefined) {
    const problem = utf8StringProblem(packet.username);
    if (problem) return protocol(`CONNECT user name ${problem}`);
  }
  if (packet.will) {
    if (packet.will.qos > 2) return protocol('CONNECT will QoS 3 [MQTT-3.1.2-14]');
    const problem = topicNameProblem(packet.will.topic);
    if (problem) return protocol(`CONNECT will topic ${JSON.stringify(packet.will.topic)}: ${problem}`);
  }
  if (clientId === '' && packet.clean === false) return { ok: true, identifierRejected: true };
  return { ok: true };
}

function checkPublish(packet: WirePacket, maxPayloadBytes: number): Verdict {
  const qos = packet.qos ?? 0;
  if (qos === 0 && packet.dup) return protocol('PUBLISH QoS 0 with DUP set [MQTT-3.3.1-2]');
  if (qos > 0 && !packet.messageId) return protocol('PUBLISH with packet identifier 0 [MQTT-2.3.1-1]');
  const topic = packet.topic ?? '';
  const problem = topicNameProblem(topic);
  if (problem) return protocol(`PUBLISH topic ${JSON.stringify(topic)}: ${problem}`);
  const size =
    typeof packet.payload === 'string' ? Buffer.byteLength(packet.payload) : (packet.payload?.length ?? 0);
  if (size > maxPayloadBytes)
    return { ok: false, kind: 'oversized', reason: `payload of ${size} bytes > ${maxPayloadBytes}` };
  return { ok: true };
}

/** What FrameFilter.feed() found in a chunk, in stream order. */
export type FrameSegment =
  /** Bytes of packets within the limit, for the MQTT parser. */
  | { kind: 'bytes'; bytes: Buffer }
  /**
   * A PUBLISH over the limit whose body is being skipped unbuffered: `replacement` is the same
   * PUBLISH (fixed header flags, topic, packet identifier) with an empty payload, for the parser.
   */
  | { kind: 'oversized-publish'; bytes: number; replacement: Buffer }
  /** Stop reading: a remaining length of more than 4 bytes, a packet other than PUBLISH over the limit, or a PUBLISH over discardLimit. */
  | { kind: 'refuse'; oversized: boolean; reason: string };

/** PUBLISH packets larger than this are not skipped: the connection is closed. */
export const DISCARD_LIMIT = 16 * 1024 * 1024;

/**
 * Follows the MQTT framing of a byte stream (fixed header, remaining length, body) without
 * buffering bodies. A packet that announces more than `maxRemainingLength` bytes is found from its
 * fixed header, before its body is buffered (mqtt-packet would otherwise buffer up to 256 MB). An
 * oversized PUBLISH is cut out of the stream: only its topic and packet identifier are kept (so it
 * can be acknowledged and dropped), the payload is skipped as it arrives.
 */
export class FrameFilter {
  private state: 'header' | 'length' | 'body' | 'publish-head' | 'skip' | 'closed' = 'header';
  private first = 0;
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private remaining = 0;
  /** Fixed header bytes of the current packet, held until its length is known. */
  private pending: number[] = [];
  /** Variable header (topic, packet id) of an oversized PUBLISH being collected. */
  private head: Buffer[] = [];
  private headBytes = 0;

  constructor(
    private readonly maxRemainingLength: number,
    private readonly discardLimit = DISCARD_LIMIT,
  ) {}

  feed(buf: Buffer): FrameSegment[] {
    const out: FrameSegment[] = [];
    let passFrom = -1; // start of the run of buf handed to the parser as it is
    let headerAt = -1; // where the current fixed header starts in buf (-1: in an earlier chunk)
    const flush = (end: number): void => {
      if (passFrom >= 0 && end > passFrom) out.push({ kind: 'bytes', bytes: buf.subarray(passFrom, end) });
      passFrom = -1;
    };
    const refuse = (oversized: boolean, reason: string): FrameSegment[] => {
      this.state = 'closed';
      flush(headerAt >= 0 ? headerAt : 0);
      out.push({ kind: 'refuse', oversized, reason });
      return out;
    };
    let i = 0;
    while (i < buf.length && this.state !== 'closed') {
      if (this.state === 'header') {
        headerAt = i;
        if (passFrom < 0) passFrom = i;
        this.first = buf[i++] ?? 0;
        this.pending = [this.first];
        this.state = 'length';
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
      } else if (this.state === 'length') {
        const b = buf[i++] ?? 0;
        this.pending.push(b);
        this.length += (b & 0x7f) * this.multiplier;
        this.multiplier *= 128;
        this.lengthBytes++;
        if ((b & 0x80) !== 0) {
          if (this.lengthBytes < 4) continue;
          return refuse(false, 'remaining length longer than 4 bytes');
        }
        this.remaining = this.length;
        if (this.length <= this.maxRemainingLength) {
          // A fixed header split over chunks: its first bytes were held back, hand them over now.
          if (headerAt < 0) out.push({ kind: 'bytes', bytes: Buffer.from(this.pending) });
          if (passFrom < 0) passFrom = i;
          this.state = this.remaining > 0 ? 'body' : 'header';
        } else if (this.first >> 4 === 3 && this.length <= this.discardLimit) {
          flush(headerAt >= 0 ? headerAt : i);
          this.state = 'publish-head';
          this.head = [];
          this.headBytes = 0;
        } else {
          return refuse(true, `packet of ${this.length} bytes announced`);
        }
        headerAt = -1;
      } else if (this.state === 'body') {
        if (passFrom < 0) passFrom = i;
        const take = Math.min(this.remaining, buf.length - i);
        i += take;
        this.remaining -= take;
        if (this.remaining === 0) this.state = 'header';
      } else if (this.state === 'publish-head') {
        const need = this.publishHeadLength();
        if (need > this.length) return refuse(false, 'PUBLISH topic longer than the packet');
        const take = Math.min(need - this.headBytes, buf.length - i);
        this.head.push(buf.subarray(i, i + take));
        this.headBytes += take;
        i += take;
        this.remaining -= take;
        if (this.headBytes === need && need === this.publishHeadLength()) {
          const head = Buffer.concat(this.head);
          this.head = [];
          out.push({
            kind: 'oversized-publish',
            bytes: this.length - head.length,
            replacement: Buffer.concat([Buffer.from([this.first]), remainingLengthBytes(head.length), head]),
          });
          this.state = this.remaining > 0 ? 'skip' : 'header';
        }
      } else {
        const take = Math.min(this.remaining, buf.length - i);
        i += take;
        this.remaining -= take;
        if (this.remaining === 0) this.state = 'header';
      }
    }
    // A fixed header not complete at the end of the chunk is held back (pending) until its length is known.
    flush(this.state === 'length' && headerAt >= 0 ? headerAt : buf.length);
    return out;
  }

  /** Topic length field, topic, packet identifier (QoS 1/2): known once the first 2 bytes are in. */
  private publishHeadLength(): number {
    if (this.headBytes < 2) return 2;
    const b = Buffer.concat(this.head);
    this.head = [b];
    const qos = (this.first >> 1) & 0x03;
    return 2 + b.readUInt16BE(0) + (qos > 0 ? 2 : 0);
  }
}

function remainingLengthBytes(n: number): Buffer {
  const out: number[] = [];
  do {
    let digit = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) digit |= 0x80;
    out.push(digit);
  } while (n > 0);
  return Buffer.from(out);
}
