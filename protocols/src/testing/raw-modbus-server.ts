import net from 'node:net';

/** One Modbus TCP request as it arrived: MBAP header fields and, for FC3-style requests, the range. */
export interface RawModbusRequest {
  tid: number;
  unit: number;
  fc: number;
  /** Start address and count (0 when the frame is too short to carry them). */
  address: number;
  count: number;
}

/**
 * A bare Modbus TCP listener for tests that need a misbehaving device: it splits the byte stream
 * into MBAP frames and hands each request to `onRequest`, which answers (or does not) by writing
 * to the socket itself. Nothing here validates or answers anything.
 */
export class RawModbusServer {
  private readonly sockets = new Set<net.Socket>();
  private constructor(
    private readonly server: net.Server,
    private readonly onRequest: (sock: net.Socket, req: RawModbusRequest) => void,
  ) {}

  static async start(onRequest: (sock: net.Socket, req: RawModbusRequest) => void): Promise<RawModbusServer> {
    const server = net.createServer();
    const s = new RawModbusServer(server, onRequest);
    server.on('connection', (sock) => s.serve(sock));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return s;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private serve(sock: net.Socket): void {
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => undefined);
    let rx = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      rx = Buffer.concat([rx, chunk]);
      while (rx.length >= 8 && rx.length >= 6 + rx.readUInt16BE(4)) {
        const frame = rx.subarray(0, 6 + rx.readUInt16BE(4));
        rx = rx.subarray(frame.length);
        const long = frame.length >= 12;
        this.onRequest(sock, {
          tid: frame.readUInt16BE(0),
          unit: frame.readUInt8(6),
          fc: frame.readUInt8(7),
          address: long ? frame.readUInt16BE(8) : 0,
          count: long ? frame.readUInt16BE(10) : 0,
        });
        if (sock.destroyed) return;
      }
    });
  }
}
