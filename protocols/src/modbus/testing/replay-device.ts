import net from 'node:net';

/**
 * A hostile Modbus TCP device for the late-reply test. It answers FC3 with register a = a, except
 * reads of `holdAddress`: those replies are held back and sent just before the reply to the next
 * request on the same connection that carries the same MBAP transaction id, which is exactly when
 * a client that reuses ids would take the stale reply as the answer.
 */
export class ReplayDevice {
  held = 0;
  replayed = 0;
  requests = 0;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    readonly holdAddress: number,
  ) {}

  get port(): number {
    const a = this.server.address();
    return a && typeof a === 'object' ? a.port : 0;
  }

  static async start(holdAddress: number): Promise<ReplayDevice> {
    const server = net.createServer();
    const device = new ReplayDevice(server, holdAddress);
    server.on('connection', (sock) => device.serve(sock));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return device;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private serve(sock: net.Socket): void {
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => undefined);
    const held = new Map<number, Buffer>();
    let rx = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      rx = Buffer.concat([rx, chunk]);
      while (rx.length >= 6 && rx.length >= 6 + rx.readUInt16BE(4)) {
        const frame = rx.subarray(0, 6 + rx.readUInt16BE(4));
        rx = rx.subarray(frame.length);
        this.requests++;
        const tid = frame.readUInt16BE(0);
        const unit = frame.readUInt8(6);
        const fc = frame.readUInt8(7);
        const address = frame.readUInt16BE(8);
        const count = frame.readUInt16BE(10);
        if (fc !== 3) continue;
        const reply = Buffer.alloc(9 + count * 2);
        reply.writeUInt16BE(tid, 0);
        reply.writeUInt16BE(0, 2);
        reply.writeUInt16BE(3 + count * 2, 4);
        reply.writeUInt8(unit, 6);
        reply.writeUInt8(3, 7);
        reply.writeUInt8(count * 2, 8);
        for (let i = 0; i < count; i++) reply.writeUInt16BE((address + i) & 0xffff, 9 + i * 2);
        if (address === this.holdAddress) {
          held.set(tid, reply);
          this.held++;
          continue;
        }
        const stale = held.get(tid);
        held.delete(tid);
        if (stale) this.replayed++;
        sock.write(stale ? Buffer.concat([stale, reply]) : reply);
      }
    });
  }
}
