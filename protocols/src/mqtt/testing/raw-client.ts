import net from 'node:net';
import mqttPacket from 'mqtt-packet';

/**
 * A raw MQTT 3.1.1 peer for the conformance tests: it writes hand-built bytes (so it can send what
 * no well-behaved client library would) and decodes what the broker answers with mqtt-packet.
 */

export interface ReceivedPacket {
  cmd: string;
  returnCode?: number;
  sessionPresent?: boolean;
  messageId?: number;
  granted?: number[];
  topic?: string;
  payload?: Buffer;
  qos?: number;
  retain?: boolean;
  dup?: boolean;
  at: number;
}

const str = (s: string | Buffer): Buffer => {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
};

export function remainingLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let digit = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) digit |= 0x80;
    out.push(digit);
  } while (n > 0);
  return Buffer.from(out);
}

const frame = (firstByte: number, body: Buffer): Buffer =>
  Buffer.concat([Buffer.from([firstByte]), remainingLength(body.length), body]);

const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};

export interface ConnectOptions {
  clientId?: string | Buffer;
  clean?: boolean;
  keepalive?: number;
  username?: string | Buffer;
  password?: string | Buffer;
  will?: { topic: string | Buffer; payload: string | Buffer; qos?: number; retain?: boolean };
  protocolName?: string;
  protocolLevel?: number;
}

export function connectBytes(o: ConnectOptions = {}): Buffer {
  let flags = o.clean === false ? 0 : 0x02;
  if (o.will) flags |= 0x04 | ((o.will.qos ?? 0) << 3) | (o.will.retain ? 0x20 : 0);
  if (o.username !== undefined) flags |= 0x80;
  if (o.password !== undefined) flags |= 0x40;
  const parts = [
    str(o.protocolName ?? 'MQTT'),
    Buffer.from([o.protocolLevel ?? 4, flags]),
    u16(o.keepalive ?? 0),
    str(o.clientId ?? `raw-${Math.random().toString(36).slice(2, 10)}`),
  ];
  if (o.will) parts.push(str(o.will.topic), str(o.will.payload));
  if (o.username !== undefined) parts.push(str(o.username));
  if (o.password !== undefined) parts.push(str(o.password));
  return frame(0x10, Buffer.concat(parts));
}

export interface PublishOptions {
  topic: string | Buffer;
  payload?: string | Buffer;
  qos?: number;
  messageId?: number;
  dup?: boolean;
  retain?: boolean;
}

export function publishBytes(o: PublishOptions): Buffer {
  const qos = o.qos ?? 0;
  const first = 0x30 | (o.dup ? 0x08 : 0) | (qos << 1) | (o.retain ? 0x01 : 0);
  const parts = [str(o.topic)];
  if (qos > 0) parts.push(u16(o.messageId ?? 1));
  parts.push(typeof o.payload === 'string' ? Buffer.from(o.payload) : (o.payload ?? Buffer.alloc(0)));
  return frame(first, Buffer.concat(parts));
}

export function subscribeBytes(messageId: number, subs: { topic: string | Buffer; qos: number }[]): Buffer {
  return frame(
    0x82,
    Buffer.concat([u16(messageId), ...subs.flatMap((s) => [str(s.topic), Buffer.from([s.qos])])]),
  );
}

export function unsubscribeBytes(messageId: number, filters: (string | Buffer)[]): Buffer {
  return frame(0xa2, Buffer.concat([u16(messageId), ...filters.map((f) => str(f))]));
}

export const pubackBytes = (id: number): Buffer => frame(0x40, u16(id));
export const pubrecBytes = (id: number): Buffer => frame(0x50, u16(id));
export const pubrelBytes = (id: number): Buffer => frame(0x62, u16(id));
export const pubcompBytes = (id: number): Buffer => frame(0x70, u16(id));
export const pingreqBytes = (): Buffer => Buffer.from([0xc0, 0x00]);
export const disconnectBytes = (): Buffer => Buffer.from([0xe0, 0x00]);

export class RawClient {
  readonly packets: ReceivedPacket[] = [];
  readonly closed: Promise<number>;
  private isClosed = false;
  private readonly waiters = new Set<() => void>();

  private constructor(private readonly socket: net.Socket) {
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p: mqttPacket.Packet) => {
      const r = p as unknown as ReceivedPacket;
      this.packets.push({ ...r, at: performance.now() });
      for (const w of [...this.waiters]) w();
    });
    socket.on('data', (d: Buffer) => parser.parse(d));
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.isClosed = true;
        for (const w of [...this.waiters]) w();
        resolve(performance.now());
      }),
    );
  }

  static async open(port: number, host = '127.0.0.1'): Promise<RawClient> {
    const socket = net.connect(port, host);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawClient(socket);
  }

  /** Connects and waits for the CONNACK. */
  static async connected(port: number, o: ConnectOptions = {}): Promise<RawClient> {
    const c = await RawClient.open(port);
    c.write(connectBytes(o));
    const ack = await c.next('connack');
    if (ack.returnCode !== 0) throw new Error(`CONNACK ${ack.returnCode}`);
    return c;
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  write(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** The first packet of `cmd` (already received or coming) that satisfies `pred`. */
  next(
    cmd: string,
    pred: (p: ReceivedPacket) => boolean = () => true,
    timeoutMs = 5000,
  ): Promise<ReceivedPacket> {
    const find = (): ReceivedPacket | undefined => this.packets.find((p) => p.cmd === cmd && pred(p));
    const seen = find();
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(
          new Error(`no ${cmd} within ${timeoutMs} ms (got ${this.packets.map((p) => p.cmd).join(', ')})`),
        );
      }, timeoutMs);
      const check = (): void => {
        const p = find();
        if (p) {
          clearTimeout(timer);
          this.waiters.delete(check);
          resolve(p);
        } else if (this.isClosed) {
          clearTimeout(timer);
          this.waiters.delete(check);
          reject(new Error(`connection closed before ${cmd}`));
        }
      };
      this.waiters.add(check);
    });
  }

  /** Resolves true when the broker closes the connection within timeoutMs, false otherwise. */
  async closesWithin(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const t = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const r = await Promise.race([this.closed.then(() => true as const), t]);
    clearTimeout(timer);
    return r;
  }

  publishes(): ReceivedPacket[] {
    return this.packets.filter((p) => p.cmd === 'publish' && !(p.topic ?? '').startsWith('$'));
  }

  destroy(): void {
    this.socket.destroy();
  }
}
