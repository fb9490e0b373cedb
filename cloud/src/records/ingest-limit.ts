import { createClient } from 'redis';
import type { Logger } from 'pino';

/**
 * The ingest rate limit: a budget of batches per enrolled edge (its enrolled id, not the address
 * it sends from: many edges of a plant share one address behind NAT), and per client address only
 * for batches that name no enrolled edge. Shared by every cloud process through Redis when
 * `REDIS_URL` is set, otherwise counted in this process's memory.
 *
 * The budget is a generic cell rate (GCRA): `perSecond` batches a second on average, `burst` at
 * once. A batch that arrives a little early (within `maxDelayMs` of its turn) is held for that
 * long and then taken in, so an edge sending back to back while it catches up is paced, not
 * refused; one arriving later than that is answered 429 with Retry-After.
 *
 * It is a flood guard, not an authentication: every batch is still verified against the edge's
 * key and log.
 */
export interface IngestLimitPolicy {
  /** Batches per second per edge, on average. */
  perSecond: number;
  /** Batches taken at once after a quiet spell. */
  burst: number;
  /** A batch within this long of its turn waits for it instead of being refused. */
  maxDelayMs: number;
}

/**
 * An edge keeps one batch in flight, so its batches a second are at most one over the round trip:
 * 200 a second lets a live edge next to the cloud (a 5 ms round trip) send each batch as soon as
 * the one before is acknowledged; at 50, an edge with 50 rigs at 10 Hz had each batch held up to
 * 20 ms, a quarter of its records' time to the portal.
 */
export const DEFAULT_INGEST_LIMIT: IngestLimitPolicy = { perSecond: 200, burst: 100, maxDelayMs: 1000 };

/** Taken in after `delayMs` (0: at once), or refused: try again after `retryAfterMs`. */
export type IngestTurn = { ok: true; delayMs: number } | { ok: false; retryAfterMs: number };

export interface IngestLimiter {
  readonly policy: IngestLimitPolicy;
  take(key: string): Promise<IngestTurn>;
  close(): Promise<void>;
}

/** The key of an enrolled edge's budget. */
export const edgeLimitKey = (edgeId: string) => `edge:${edgeId}`;
/** The key of an address's budget, for batches naming no enrolled edge. */
export const addressLimitKey = (address: string) => `addr:${address}`;

/**
 * One GCRA step: `tat` is the stored theoretical arrival time (ms, 0 when none). Returns the
 * turn and the new stored time (unchanged when refused). The Redis script below is the same
 * arithmetic; keep them together.
 */
export function gcra(policy: IngestLimitPolicy, tat: number, now: number): { turn: IngestTurn; tat: number } {
  const interval = 1000 / policy.perSecond;
  const tolerance = interval * (Math.max(1, policy.burst) - 1);
  const start = Math.max(tat, now);
  const wait = start - tolerance - now;
  if (wait > policy.maxDelayMs) return { turn: { ok: false, retryAfterMs: Math.ceil(wait) }, tat };
  return { turn: { ok: true, delayMs: Math.max(0, Math.ceil(wait)) }, tat: start + interval };
}

/** Keys counted in memory at most; a key not seen for its whole burst is dropped first. */
const MAX_LOCAL_KEYS = 100_000;

/** In this process's memory: without Redis, and while Redis does not answer. */
export class LocalIngestLimiter implements IngestLimiter {
  private readonly tats = new Map<string, number>();

  constructor(
    readonly policy: IngestLimitPolicy = DEFAULT_INGEST_LIMIT,
    private readonly clock: () => number = Date.now,
  ) {}

  take(key: string): Promise<IngestTurn> {
    return Promise.resolve(this.takeNow(key));
  }

  takeNow(key: string): IngestTurn {
    const now = this.clock();
    const step = gcra(this.policy, this.tats.get(key) ?? 0, now);
    if (step.turn.ok) {
      if (!this.tats.has(key) && this.tats.size >= MAX_LOCAL_KEYS) this.prune(now);
      // Full and nothing to prune: this key passes uncounted until room is made.
      if (this.tats.has(key) || this.tats.size < MAX_LOCAL_KEYS) this.tats.set(key, step.tat);
    }
    return step.turn;
  }

  /** Drops the keys whose budget is full again (their stored time has passed). */
  private prune(now: number): void {
    for (const [k, tat] of this.tats) if (tat <= now) this.tats.delete(k);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * The GCRA step in Redis, atomically, on Redis's own clock (processes' clocks may differ).
 * KEYS[1]: the budget; ARGV: interval ms, tolerance ms, max delay ms. Returns {ok, ms}.
 */
const GCRA_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local maxDelay = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local start = math.max(tat, now)
local wait = start - tolerance - now
if wait > maxDelay then return {0, math.ceil(wait)} end
local nextTat = start + interval
redis.call('SET', KEYS[1], tostring(nextTat), 'PX', math.ceil(nextTat - now) + 1000)
if wait < 0 then wait = 0 end
return {1, math.ceil(wait)}
`;

/**
 * Shared through Redis: every process counts against the same budget of an edge. While Redis
 * does not answer, each process falls back to its own memory (the limit is then per process,
 * as without Redis) and says so in the log once per 10 s.
 */
export class RedisIngestLimiter implements IngestLimiter {
  private readonly client: ReturnType<typeof createClient>;
  private readonly local: LocalIngestLimiter;
  private lastWarn = 0;
  private closing = false;
  /** Until the first connection attempt settles (at most 2 s), batches wait for it. */
  private starting: Promise<void> | undefined;

  constructor(
    url: string,
    private readonly prefix: string,
    readonly policy: IngestLimitPolicy,
    private readonly logger: Logger,
  ) {
    this.local = new LocalIngestLimiter(policy);
    this.client = createClient({
      url,
      // No offline queue: while Redis is away a batch is counted locally instead of waiting.
      disableOfflineQueue: true,
      socket: { connectTimeout: 5000, reconnectStrategy: (n) => Math.min(100 * 2 ** n, 5000) },
    });
    this.client.on('error', (err: unknown) => this.warn(err));
    const connecting = this.client.connect().then(
      () => undefined,
      (err: unknown) => this.warn(err),
    );
    let timer: NodeJS.Timeout | undefined;
    const giveUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, 2000)));
    this.starting = Promise.race([connecting, giveUp]).then(() => {
      clearTimeout(timer);
      this.starting = undefined;
    });
  }

  private warn(err: unknown): void {
    if (this.closing || Date.now() - this.lastWarn < 10_000) return;
    this.lastWarn = Date.now();
    this.logger.warn({ err }, 'Redis did not answer: the ingest limit is counted in this process only');
  }

  async take(key: string): Promise<IngestTurn> {
    if (this.starting) await this.starting;
    if (!this.client.isReady) return this.local.takeNow(key);
    const interval = 1000 / this.policy.perSecond;
    const tolerance = interval * (Math.max(1, this.policy.burst) - 1);
    try {
      const [ok, ms] = (await this.client.eval(GCRA_SCRIPT, {
        keys: [`${this.prefix}:ingest-limit:${key}`],
        arguments: [String(interval), String(tolerance), String(this.policy.maxDelayMs)],
      })) as [number, number];
      return ok === 1 ? { ok: true, delayMs: ms } : { ok: false, retryAfterMs: ms };
    } catch (err) {
      this.warn(err);
      return this.local.takeNow(key);
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.client.isReady) await this.client.close().catch(() => undefined);
    else this.client.destroy();
  }
}

export function createIngestLimiter(opts: {
  redisUrl?: string | undefined;
  redisKeyPrefix: string;
  policy: IngestLimitPolicy;
  logger: Logger;
}): IngestLimiter {
  return opts.redisUrl
    ? new RedisIngestLimiter(opts.redisUrl, opts.redisKeyPrefix, opts.policy, opts.logger)
    : new LocalIngestLimiter(opts.policy);
}
