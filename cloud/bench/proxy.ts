/**
 * The round-robin HTTP proxy of processes.bench.ts: each request to the next cloud process, over
 * kept-alive connections (node:http).
 */
import http from 'node:http';

/** How long a cloud process keeps an idle kept-alive connection open (and announces). */
export { KEEP_ALIVE_MS as CLOUD_KEEP_ALIVE_MS } from '../src/platform/http/keep-alive.js';
/**
 * The proxy closes a connection to a process once idle this long: well before the process would
 * (`CLOUD_KEEP_ALIVE_MS`). A request sent on a connection the process is closing fails
 * (ECONNRESET) and would be answered 502 and retried, a cost of the proxy counted against the
 * cloud. Node 20's agent keeps an idle socket until the server closes it unless the agent has a
 * `timeout` of its own.
 */
export const UPSTREAM_IDLE_MS = 4_000;

/** Hop-by-hop headers, not forwarded (RFC 9110 §7.6.1). */
const HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
]);
const endToEnd = (h: http.IncomingHttpHeaders) =>
  Object.fromEntries(Object.entries(h).filter(([k]) => !HOP.has(k.toLowerCase())));

export interface Proxy {
  url: string;
  /** Requests answered 502 because the process could not be reached or cut the answer. */
  errors: number;
  /** Requests sent to each process. */
  perUpstream: number[];
  close(): Promise<void>;
}

/** Starts the proxy on a free loopback port, in front of `upstreams` (the processes' base URLs). */
export async function startProxy(upstreams: string[]): Promise<Proxy> {
  const agents = upstreams.map(
    () => new http.Agent({ keepAlive: true, maxSockets: 64, timeout: UPSTREAM_IDLE_MS }),
  );
  const targets = upstreams.map((u) => new URL(u));
  let next = 0;
  const state = { errors: 0, perUpstream: upstreams.map(() => 0) };
  const server = http.createServer((req, res) => {
    const i = next++ % targets.length;
    state.perUpstream[i]! += 1;
    const t = targets[i]!;
    const up = http.request(
      {
        host: t.hostname,
        port: t.port,
        method: req.method,
        path: req.url,
        agent: agents[i],
        headers: { ...endToEnd(req.headers), 'x-forwarded-for': req.socket.remoteAddress ?? '' },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, endToEnd(answer.headers));
        answer.pipe(res);
        answer.once('error', (err) => res.destroy(err));
      },
    );
    up.once('error', (err) => {
      state.errors += 1;
      if (res.headersSent) return void res.destroy(err);
      // The rest of the request body is read and dropped, and the connection closed after the
      // answer: a body left unread would hold the connection, and the edge's next request on it
      // would never be read (the edge would wait for its timeout).
      req.unpipe(up);
      req.resume();
      const body = JSON.stringify({ title: 'Bad gateway', detail: `process ${i + 1}: ${err.message}` });
      res.writeHead(502, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        connection: 'close',
      });
      res.end(body);
    });
    req.pipe(up);
    req.once('error', (err) => up.destroy(err));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    get errors() {
      return state.errors;
    },
    perUpstream: state.perUpstream,
    async close() {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await closed;
      for (const a of agents) a.destroy();
    },
  };
}
