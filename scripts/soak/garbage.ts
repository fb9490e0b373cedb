import { randomBytes, randomInt } from 'node:crypto';
import type net from 'node:net';
import { connect, type MqttClient } from 'mqtt';
import { RawModbusServer } from '@rigtrace/protocols/testing';

/**
 * A Modbus TCP "device" that answers every request with garbage: random bytes, a header with the
 * right transaction id and a body of noise, a frame for another transaction, a lying length, or a
 * hang-up. The edge polls it like a rig; nothing it says may become a record but error events.
 */
export class JunkModbusDevice {
  readonly counts = { requests: 0, closes: 0 };
  private server!: RawModbusServer;

  static async start(): Promise<JunkModbusDevice> {
    const d = new JunkModbusDevice();
    d.server = await RawModbusServer.start((sock, q) => d.answer(sock, q.tid, q.unit));
    return d;
  }

  get port(): number {
    return this.server.port;
  }

  stop(): Promise<void> {
    return this.server.close();
  }

  private answer(sock: net.Socket, tid: number, unit: number): void {
    this.counts.requests++;
    const header = (len: number, t = tid) => {
      const h = Buffer.alloc(8);
      h.writeUInt16BE(t, 0);
      h.writeUInt16BE(0, 2);
      h.writeUInt16BE(len, 4);
      h.writeUInt8(unit, 6);
      h.writeUInt8(3, 7);
      return h;
    };
    switch (randomInt(6)) {
      case 0:
        sock.write(randomBytes(randomInt(1, 64)));
        break;
      case 1:
        sock.write(Buffer.concat([header(2 + randomInt(40)), randomBytes(randomInt(0, 40))]));
        break;
      case 2:
        sock.write(Buffer.concat([header(5, (tid + 1 + randomInt(100)) & 0xffff), randomBytes(3)]));
        break;
      case 3:
        sock.write(Buffer.concat([header(250), Buffer.from([0x04]), randomBytes(8)]));
        break;
      case 4: {
        const exc = Buffer.concat([header(3), Buffer.from([randomInt(256)])]);
        exc.writeUInt8(0x83, 7);
        sock.write(exc);
        break;
      }
      default:
        this.counts.closes++;
        sock.destroy();
        return;
    }
  }
}

/**
 * An MQTT device that publishes malformed payloads (broken JSON, wrong types, unknown fields,
 * random bytes, not UTF-8) as fast as the edge acknowledges them. `acked` counts PUBACKs: each one
 * means the edge handled the message (an invalid one becomes a STATION_MESSAGE_INVALID event).
 */
export class GarbagePublisher {
  readonly counts = { sent: 0, acked: 0, failed: 0 };
  private client: MqttClient | null = null;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly opts: {
      url: string;
      username: string;
      password: string;
      topicBase: string;
      perSecond: number;
    },
  ) {}

  start(): void {
    this.client = connect(this.opts.url, {
      clientId: `${this.opts.username}-soak`,
      username: this.opts.username,
      password: this.opts.password,
      protocolVersion: 4,
      reconnectPeriod: 1000,
      connectTimeout: 5000,
      clean: true,
    });
    this.client.on('error', () => undefined);
    const every = Math.max(5, Math.round(1000 / this.opts.perSecond));
    this.timer = setInterval(() => this.publishOne(), every);
  }

  private publishOne(): void {
    const c = this.client;
    if (!c?.connected || this.stopped) return;
    // Keep a bounded number in flight so an edge outage does not queue without limit here.
    if (this.counts.sent - this.counts.acked - this.counts.failed > 50) return;
    const kind = randomInt(10) < 7 ? 'inspection' : 'usage';
    this.counts.sent++;
    c.publish(`${this.opts.topicBase}/${kind}`, garbagePayload(), { qos: 1 }, (err) => {
      if (err) this.counts.failed++;
      else this.counts.acked++;
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.client?.endAsync(true).catch(() => undefined);
  }
}

function garbagePayload(): Buffer {
  const part = {
    partSerial: `JUNK-${randomInt(1e6)}`,
    characteristics: [{ name: 'bore', measured: 4.001, lsl: 3.99, usl: 4.01, unit: 'mm' }],
  };
  switch (randomInt(8)) {
    case 0:
      return randomBytes(randomInt(0, 200));
    case 1:
      return Buffer.from(JSON.stringify(part).slice(0, randomInt(1, 40)));
    case 2:
      return Buffer.from(JSON.stringify({ ...part, partSerial: randomInt(1e6) }));
    case 3:
      return Buffer.from(JSON.stringify({ ...part, characteristics: 'none' }));
    case 4:
      return Buffer.from(JSON.stringify({ ...part, temperatureF: 99.1 }));
    case 5:
      return Buffer.from([0xff, 0xfe, 0x7b, 0x7d]);
    case 6:
      return Buffer.from(JSON.stringify(part).replace('4.001', 'NaN'));
    default:
      return Buffer.from(JSON.stringify([part, part]));
  }
}
