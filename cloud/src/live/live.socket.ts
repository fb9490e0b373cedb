import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import type { Logger } from 'pino';
import { createClient } from 'redis';
import { Server, type Socket } from 'socket.io';
import {
  type Accounts,
  type SessionContext,
  seesSite,
  type Principal,
  viewerOfPrincipal,
  isLocalHostname,
  sessionCookieName,
} from '../access/index.js';
import type { Metrics } from '../platform/metrics.js';
import type { TenancyRepository } from '../tenancy/index.js';
import { siteRoom, tenantRoom, type LiveService } from './live.service.js';
import { checkMessage, liveSubscribeSchema } from './live.messages.js';

export const LIVE_PATH = '/socket.io';
/** Sites one socket may follow at once. */
export const MAX_SUBSCRIPTIONS = 100;

export interface LiveServerOptions {
  accounts: Accounts;
  tenancy: TenancyRepository;
  live: LiveService;
  logger: Logger;
  metrics?: Metrics | undefined;
  /** redis://… : the socket.io Redis adapter, so that every process reaches every socket. */
  redisUrl?: string | undefined;
  /** Prefix of the adapter's Redis channels (one per deployment sharing a Redis). */
  redisKeyPrefix: string;
  /** How often every socket's session is checked again. */
  recheckMs: number;
}

export interface LiveServer {
  io: Server;
  /** Local sockets of this process. */
  sockets(): number;
  /** Redis answers (when configured); throws otherwise. */
  checkRedis(): Promise<void>;
  redisConfigured: boolean;
  close(): Promise<void>;
}

interface SocketAuth {
  cookie: string;
  principal: Principal;
  tenantId: string;
  sites: Set<string>;
}

/**
 * The session cookie as the HTTP API reads it: `__Host-rt_session` over HTTPS (TLS here or at a
 * proxy) or from any host but this machine, `rt_session` only for a local browser over HTTP.
 */
function sessionCookie(req: IncomingMessage): string | undefined {
  const header = req.headers.cookie;
  // Forwarded headers can only make this stricter: any name of a host but this machine means Secure cookies.
  const hosts = [req.headers.host, req.headers['x-forwarded-host']]
    .flat()
    .filter((h): h is string => typeof h === 'string')
    .map((h) => h.split(',')[0]!.trim().replace(/:\d+$/, ''));
  const secure =
    (req.socket as { encrypted?: boolean }).encrypted === true ||
    req.headers['x-forwarded-proto'] === 'https' ||
    hosts.some((h) => !isLocalHostname(h));
  const found = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) {
      try {
        found.set(part.slice(0, i).trim(), decodeURIComponent(part.slice(i + 1).trim()));
      } catch {
        // a malformed cookie is no cookie
      }
    }
  }
  return found.get(sessionCookieName(secure));
}

function sameOrigin(origin: string | undefined, host: string | undefined): boolean {
  if (origin === undefined) return true; // not a browser (browsers always send Origin on WebSocket and CORS)
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

class LiveError extends Error {
  readonly data: { code: string };
  constructor(code: string, message: string) {
    super(message);
    this.data = { code };
  }
}

/**
 * socket.io on the cloud's HTTP server, at /socket.io. A socket connects with the same session
 * cookie as the API (a complete, signed-in session; not an API token) from the same origin; it
 * is joined to its tenant's room if its user sees every site, and to a site's room when it asks
 * (`subscribe`) for a site it may see. The session is checked again on every subscribe and every
 * `recheckMs`; a socket whose session ended is disconnected, and one whose sites shrank leaves
 * the rooms it may no longer see.
 */
export function attachLiveServer(server: HttpServer, opts: LiveServerOptions): LiveServer {
  const io = new Server(server, {
    path: LIVE_PATH,
    serveClient: false,
    // Session cookies are SameSite=Strict and the origin is checked below; no CORS.
    allowRequest: (req, cb) => cb(null, sameOrigin(req.headers.origin, req.headers.host)),
    maxHttpBufferSize: 16 * 1024,
  });
  const auth = new WeakMap<Socket, SocketAuth>();
  const log = opts.logger;

  let closing = false;
  let pub: ReturnType<typeof createClient> | undefined;
  let sub: ReturnType<typeof createClient> | undefined;
  if (opts.redisUrl) {
    let lastWarn = 0;
    const onError = (err: unknown) => {
      if (closing) return;
      // A Redis outage retries every few hundred ms: one line per 10 s is enough.
      if (Date.now() - lastWarn > 10_000) {
        lastWarn = Date.now();
        log.warn({ err }, 'Redis connection failed (live updates reach only this process)');
      }
    };
    pub = createClient({
      url: opts.redisUrl,
      socket: { connectTimeout: 5000, reconnectStrategy: (n) => Math.min(100 * 2 ** n, 5000) },
    });
    sub = pub.duplicate();
    pub.on('error', onError);
    sub.on('error', onError);
    // Not awaited: a cloud starts while Redis is down, and is not ready (/readyz) until it is up.
    // Until then the adapter's commands wait in the clients' offline queues.
    for (const c of [pub, sub]) c.connect().catch(onError);
    io.adapter(createAdapter(handled(pub, onError), handled(sub, onError), { key: opts.redisKeyPrefix }));
    log.info({ redis: describeRedisUrl(opts.redisUrl), prefix: opts.redisKeyPrefix }, 'live: Redis adapter');
  }

  opts.live.setPublisher((room, event, payload) => {
    checkMessage(event, payload);
    io.to(room).emit(event, payload);
  });

  async function check(cookie: string, touch: boolean): Promise<SessionContext | undefined> {
    const ctx = await opts.accounts.auth.resolve(cookie, { touch });
    return ctx && ctx.session.state === 'active' ? ctx : undefined;
  }

  /**
   * Applies a fresh look at the session: new role, sites or export clearance; the socket leaves
   * the rooms it may no longer be in and is in the rooms of its clearance (cleared or not).
   */
  function apply(socket: Socket, a: SocketAuth, ctx: SessionContext) {
    a.principal = ctx.principal;
    const cleared = viewerOfPrincipal(ctx.principal).cleared;
    for (const c of [true, false]) {
      if (ctx.principal.sites === null && c === cleared) void socket.join(tenantRoom(a.tenantId, c));
      else void socket.leave(tenantRoom(a.tenantId, c));
    }
    for (const s of [...a.sites]) {
      const keep = seesSite(ctx.principal, s);
      if (!keep) a.sites.delete(s);
      for (const c of [true, false]) {
        if (keep && c === cleared) void socket.join(siteRoom(a.tenantId, s, c));
        else void socket.leave(siteRoom(a.tenantId, s, c));
      }
    }
  }

  io.use((socket, next) => {
    const cookie = sessionCookie(socket.request);
    if (!cookie) return next(new LiveError('CLOUD_UNAUTHENTICATED', 'sign in first'));
    check(cookie, true).then(
      (ctx) => {
        if (!ctx) return next(new LiveError('CLOUD_UNAUTHENTICATED', 'the session has ended; sign in again'));
        const a: SocketAuth = {
          cookie,
          principal: ctx.principal,
          tenantId: ctx.user.tenant_id,
          sites: new Set(),
        };
        auth.set(socket, a);
        apply(socket, a, ctx);
        next();
      },
      (err: unknown) => {
        log.error({ err }, 'live: session check failed');
        next(new LiveError('CLOUD_INTERNAL', 'an internal error occurred; it has been logged'));
      },
    );
  });

  type Ack = (r: { ok: true } | { ok: false; error: string }) => void;
  const ackOf = (ack: unknown): Ack => (typeof ack === 'function' ? (ack as Ack) : () => undefined);
  const siteOf = (payload: unknown): string | undefined =>
    liveSubscribeSchema.safeParse(payload).data?.siteId;

  io.on('connection', (socket) => {
    socket.on('subscribe', async (payload: unknown, ackArg: unknown) => {
      const ack = ackOf(ackArg);
      const a = auth.get(socket);
      if (!a) return ack({ ok: false, error: 'CLOUD_UNAUTHENTICATED' });
      const siteId = siteOf(payload);
      if (!siteId) return ack({ ok: false, error: 'CLOUD_VALIDATION' });
      try {
        const ctx = await check(a.cookie, true);
        if (!ctx) {
          ack({ ok: false, error: 'CLOUD_UNAUTHENTICATED' });
          socket.disconnect(true);
          return;
        }
        apply(socket, a, ctx);
        // A site of another tenant, an unknown one and one this user may not see all look the same.
        if (!(await opts.tenancy.siteExists(viewerOfPrincipal(a.principal), siteId)))
          return ack({ ok: false, error: 'CLOUD_NOT_FOUND' });
        if (!a.sites.has(siteId) && a.sites.size >= MAX_SUBSCRIPTIONS)
          return ack({ ok: false, error: 'CLOUD_RATE_LIMITED' });
        a.sites.add(siteId);
        // The rooms of the sites followed, by clearance: one rule (apply) for every join.
        apply(socket, a, ctx);
        ack({ ok: true });
      } catch (err) {
        log.error({ err }, 'live: subscribe failed');
        ack({ ok: false, error: 'CLOUD_INTERNAL' });
      }
    });
    socket.on('unsubscribe', async (payload: unknown, ackArg: unknown) => {
      const ack = ackOf(ackArg);
      const a = auth.get(socket);
      const siteId = siteOf(payload);
      if (!a || !siteId) return ack({ ok: false, error: 'CLOUD_VALIDATION' });
      a.sites.delete(siteId);
      for (const c of [true, false]) await socket.leave(siteRoom(a.tenantId, siteId, c));
      ack({ ok: true });
    });
  });

  let rechecking = false;
  const recheck = async () => {
    if (rechecking) return;
    rechecking = true;
    try {
      const byCookie = new Map<string, Socket[]>();
      for (const s of io.of('/').sockets.values()) {
        const a = auth.get(s);
        if (!a) continue;
        const list = byCookie.get(a.cookie) ?? [];
        list.push(s);
        byCookie.set(a.cookie, list);
      }
      for (const [cookie, sockets] of byCookie) {
        let ctx: SessionContext | undefined;
        try {
          ctx = await check(cookie, false);
        } catch (err) {
          log.warn({ err }, 'live: session re-check failed; trying again later');
          continue;
        }
        for (const s of sockets) {
          if (!ctx) s.disconnect(true);
          else apply(s, auth.get(s)!, ctx);
        }
      }
    } finally {
      rechecking = false;
    }
  };
  const timer = setInterval(() => void recheck(), opts.recheckMs);
  timer.unref();

  return {
    io,
    sockets: () => io.of('/').sockets.size,
    redisConfigured: pub !== undefined,
    async checkRedis() {
      if (!pub || !sub) return;
      if (!pub.isReady || !sub.isReady) throw new Error('Redis is not connected');
      let t: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          pub.ping(),
          new Promise((_, reject) => {
            t = setTimeout(() => reject(new Error('Redis did not answer PING within 2 s')), 2000);
          }),
        ]);
      } finally {
        clearTimeout(t);
      }
    },
    async close() {
      closing = true;
      clearInterval(timer);
      opts.live.setPublisher(undefined);
      // Not io.close(): that would also close the HTTP server, which its owner closes.
      io.local.disconnectSockets(true);
      await io.of('/').adapter.close();
      io.engine.close();
      // A client that never connected would wait for ever on its offline queue: dropped instead.
      for (const c of [pub, sub]) if (c && !c.isReady) c.destroy();
      await Promise.allSettled([pub, sub].filter((c) => c?.isReady).map((c) => c!.close()));
    },
  };
}

/**
 * The Redis client as the adapter sees it: every promise its methods return gets a rejection
 * handler (`onError`) while still rejecting for a caller that awaits it. The adapter fires
 * publish and subscribe commands without awaiting them, so a command failing while Redis
 * restarts (or dropped when the cloud stops during an outage) would otherwise be an unhandled
 * rejection, which ends a Node process.
 */
function handled<T extends object>(client: T, onError: (err: unknown) => void): T {
  return new Proxy(client, {
    get(target, key) {
      const v: unknown = Reflect.get(target, key, target);
      if (typeof v !== 'function' || key === 'constructor') return v;
      return (...args: unknown[]) => {
        const r: unknown = (v as (...a: unknown[]) => unknown).apply(target, args);
        if (r instanceof Promise) r.catch(onError);
        return r;
      };
    },
  });
}

/** Host and port of a Redis URL, never its password. */
export function describeRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname.length > 1 ? u.pathname : ''}`;
  } catch {
    return 'redis://(unparseable)';
  }
}
