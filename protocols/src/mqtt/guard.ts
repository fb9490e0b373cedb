import { topicFilterProblem, topicNameProblem, utf8StringProblem } from './topics.js';

/**
 * The MQTT 3.1.1 checks the embedded broker runs on every packet before aedes sees it, for the
 * rules aedes 1.2 does not enforce (see README.md, "Where aedes is lax"), plus a frame scanner that
 * refuses an oversized packet from its fixed header, before its body is buffered.
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
  | { ok: false; kind: 'protocol' | 'oversized'; reason: string };

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

/**
 * Follows the MQTT framing of a byte stream (fixed header, remaining length, body) without
 * buffering bodies, so a packet that announces more than `maxRemainingLength` bytes is refused as
 * soon as its header arrives — mqtt-packet would otherwise buffer up to 256 MB before parsing it.
 */
export class FrameScanner {
  private state: 'header' | 'length' | 'body' = 'header';
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private remaining = 0;

  constructor(private readonly maxRemainingLength: number) {}

  /**
   * null when the bytes are fine so far; -1 for a remaining length of more than 4 bytes (malformed);
   * otherwise the remaining length that was announced, which is too large.
   */
  feed(buf: Buffer): number | null {
    let i = 0;
    while (i < buf.length) {
      if (this.state === 'header') {
        i++;
        this.state = 'length';
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
      } else if (this.state === 'length') {
        const b = buf[i++] ?? 0;
        this.length += (b & 0x7f) * this.multiplier;
        this.multiplier *= 128;
        this.lengthBytes++;
        if ((b & 0x80) !== 0) {
          if (this.lengthBytes < 4) continue;
          return -1;
        }
        if (this.length > this.maxRemainingLength) return this.length;
        this.remaining = this.length;
        this.state = this.remaining > 0 ? 'body' : 'header';
      } else {
        const take = Math.min(this.remaining, buf.length - i);
        i += take;
        this.remaining -= take;
        if (this.remaining === 0) this.state = 'header';
      }
    }
    return null;
  }
}
