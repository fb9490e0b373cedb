import { createRequire } from 'node:module';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MbapPort, crc16 } from './mbap-port.js';

// modbus-serial's own CRC-16 (bit by bit), the one its client checks replies with.
const serialCrc16 = createRequire(import.meta.url)('modbus-serial/utils/crc16') as (b: Buffer) => number;

describe('MbapPort', () => {
  const closers: (() => void)[] = [];
  afterEach(() => closers.splice(0).forEach((c) => c()));

  /** A connected socket pair: the port's side and the device's side. */
  async function pair(): Promise<{ client: net.Socket; device: net.Socket }> {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await new Promise((r) => client.once('connect', r));
    const device = await accepted;
    closers.push(() => {
      client.destroy();
      device.destroy();
      server.close();
    });
    return { client, device };
  }

  it('computes the CRC-16 modbus-serial computes, for every length and content tried', () => {
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    for (let n = 0; n < 300; n++) {
      const b = Buffer.from(Array.from({ length: n }, rand));
      expect(crc16(b)).toBe(serialCrc16(b));
    }
    expect(crc16(Buffer.from('123456789'))).toBe(0x4b37); // CRC-16/MODBUS check value
  });

  it('writes each RTU request as one MBAP frame and hands each reply frame over once, with its CRC, however the stream is cut', async () => {
    const { client, device } = await pair();
    const frames: Buffer[] = [];
    const port = new MbapPort(client, (f) => frames.push(Buffer.from(f)));
    const given: { data: Buffer; tid: number }[] = [];
    port.on('data', (d: Buffer) => given.push({ data: Buffer.from(d), tid: port._transactionIdRead }));
    await new Promise<void>((r, j) => port.open((e) => (e ? j(e) : r())));
    expect(port.isOpen).toBe(true);

    // Request: unit 1, FC3, address 0x10, count 2, with the CRC modbus-serial appends.
    const pdu = Buffer.from([1, 3, 0, 0x10, 0, 2]);
    const rtu = Buffer.concat([pdu, Buffer.alloc(2)]);
    rtu.writeUInt16LE(serialCrc16(pdu), 6);
    const received = new Promise<Buffer>((r) => device.once('data', r));
    port._transactionIdWrite = 255;
    port.write(rtu);
    expect(await received).toEqual(Buffer.from([0, 255, 0, 0, 0, 6, ...pdu]));
    expect(port._transactionIdWrite).toBe(0);

    // Replies: two frames in one chunk, then one cut in three.
    const reply = (tid: number, regs: number[]) =>
      Buffer.from([
        tid >> 8,
        tid & 0xff,
        0,
        0,
        0,
        3 + regs.length * 2,
        1,
        3,
        regs.length * 2,
        ...regs.flatMap((v) => [v >> 8, v & 0xff]),
      ]);
    const a = reply(255, [0x1234, 0x5678]);
    const b = reply(256, [1, 2]);
    const c = reply(300, [0xffff, 0, 7]);
    device.write(Buffer.concat([a, b]));
    await new Promise((r) => setTimeout(r, 50));
    device.write(c.subarray(0, 4));
    await new Promise((r) => setTimeout(r, 20));
    device.write(c.subarray(4, 9));
    await new Promise((r) => setTimeout(r, 20));
    device.write(c.subarray(9));
    await new Promise((r) => setTimeout(r, 50));

    expect(frames).toEqual([a, b, c]);
    expect(given.map((g) => g.tid)).toEqual([255, 256, 300]);
    for (const [i, f] of [a, b, c].entries()) {
      const g = given[i]!.data;
      expect(g.subarray(0, -2)).toEqual(f.subarray(6));
      expect(g.readUInt16LE(g.length - 2)).toBe(serialCrc16(f.subarray(6)));
    }

    const closed = new Promise((r) => port.once('close', r));
    device.destroy();
    await closed;
    expect(port.isOpen).toBe(false);
  });
});
