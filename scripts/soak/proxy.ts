import net from 'node:net';

/**
 * How the proxy treats traffic: `pass` forwards it; `drop` resets every connection at once (a
 * firewall answering with RST, a crashed load balancer); `blackhole` accepts connections and
 * swallows every byte without answering (a cable pulled mid-path: the client only learns from its
 * own timeout).
 */
export type ProxyMode = 'pass' | 'drop' | 'blackhole';

interface Pair {
  client: net.Socket;
  upstream: net.Socket | null;
}

/** A TCP proxy between the edge and the cloud whose link can be cut on command. */
export class ChaosProxy {
  mode: ProxyMode = 'pass';
  readonly counts = { connections: 0, dropped: 0, blackholed: 0 };
  private readonly pairs = new Set<Pair>();
  private readonly server: net.Server;

  private constructor(private readonly target: { host: string; port: () => number }) {
    this.server = net.createServer((client) => this.accept(client));
  }

  /** Listens on a free loopback port; `targetPort` is read at each connection (the cloud may move). */
  static async start(targetPort: () => number): Promise<ChaosProxy> {
    const p = new ChaosProxy({ host: '127.0.0.1', port: targetPort });
    await new Promise<void>((resolve, reject) => {
      p.server.once('error', reject);
      p.server.listen(0, '127.0.0.1', () => resolve());
    });
    return p;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Switches mode; cutting also cuts the connections already open. */
  setMode(mode: ProxyMode): void {
    this.mode = mode;
    for (const pair of this.pairs) {
      if (mode === 'drop') this.close(pair, true);
      else if (mode === 'blackhole') this.swallow(pair);
      // Back to pass: black-holed connections stay dead; the client's timeout ends them.
    }
  }

  async stop(): Promise<void> {
    for (const pair of this.pairs) this.close(pair, false);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    this.counts.connections++;
    client.on('error', () => undefined);
    const pair: Pair = { client, upstream: null };
    this.pairs.add(pair);
    client.once('close', () => this.close(pair, false));
    if (this.mode === 'drop') {
      this.counts.dropped++;
      this.close(pair, true);
      return;
    }
    if (this.mode === 'blackhole') {
      this.swallow(pair);
      return;
    }
    const upstream = net.connect(this.target.port(), this.target.host);
    pair.upstream = upstream;
    upstream.on('error', () => this.close(pair, true));
    upstream.once('close', () => {
      if (pair.upstream === upstream) this.close(pair, false);
    });
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Stops forwarding both ways and reads whatever the client sends into the void. */
  private swallow(pair: Pair): void {
    this.counts.blackholed++;
    if (pair.upstream) {
      pair.client.unpipe(pair.upstream);
      pair.upstream.unpipe(pair.client);
      const up = pair.upstream;
      pair.upstream = null;
      up.destroy();
    }
    pair.client.removeAllListeners('data');
    pair.client.on('data', () => undefined);
    pair.client.resume();
  }

  private close(pair: Pair, reset: boolean): void {
    if (!this.pairs.delete(pair)) return;
    pair.upstream?.destroy();
    if (reset && !pair.client.destroyed) pair.client.resetAndDestroy();
    else pair.client.destroy();
  }
}
