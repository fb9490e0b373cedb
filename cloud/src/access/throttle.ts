import { createHash } from 'node:crypto';
import type { SessionsRepository } from './sessions.repository.js';

/**
 * Sign-in throttling, in the database so every cloud process counts together:
 *
 * - failures per account (tenant + email, whether or not the account exists, so the lock tells
 *   nothing about existence) and per client address: after `freeFailures` failures within the
 *   window the key is locked for base·2^(n − free), capped; a success clears the account's count;
 * - a plain request rate per address (every attempt, failed or not) per minute: sign-in requests
 *   in the database (`rate`), shared by every process; ingest batches in this process's memory
 *   (`rateInProcess`), see there.
 */
export interface ThrottlePolicy {
  windowMs: number;
  account: { freeFailures: number; baseLockMs: number; maxLockMs: number };
  address: { freeFailures: number; baseLockMs: number; maxLockMs: number };
  /** Sign-in requests per address per minute. */
  loginRatePerMinute: number;
  /**
   * Ingest batches per address per minute, counted per cloud process (in memory, not in the
   * database): with N processes behind a balancer an address may send up to N times this.
   */
  ingestRatePerMinute: number;
}

export const DEFAULT_THROTTLE: ThrottlePolicy = {
  windowMs: 15 * 60_000,
  account: { freeFailures: 5, baseLockMs: 30_000, maxLockMs: 15 * 60_000 },
  address: { freeFailures: 50, baseLockMs: 30_000, maxLockMs: 15 * 60_000 },
  loginRatePerMinute: 30,
  ingestRatePerMinute: 1200,
};

const key = (kind: string, parts: string[]) =>
  `${kind}:${createHash('sha256').update(parts.join('\n')).digest('hex')}`;

export const accountKey = (tenant: string, email: string) => key('acct', [tenant, email.toLowerCase()]);
export const addressKey = (address: string) => key('addr', [address]);

export class Throttle {
  constructor(
    private readonly repo: SessionsRepository,
    readonly policy: ThrottlePolicy = DEFAULT_THROTTLE,
  ) {}

  /** Milliseconds until the first of `keys` unlocks; 0 if none is locked. */
  async lockedFor(keys: string[], now = Date.now()): Promise<number> {
    let wait = 0;
    for (const k of keys) {
      const row = await this.repo.getThrottle(k);
      if (row?.locked_until) wait = Math.max(wait, Date.parse(row.locked_until) - now);
    }
    return Math.max(0, wait);
  }

  async failure(k: string, limits: ThrottlePolicy['account'], now = Date.now()): Promise<void> {
    const row = await this.repo.bump(
      k,
      new Date(now).toISOString(),
      new Date(now - this.policy.windowMs).toISOString(),
    );
    if (row.count >= limits.freeFailures) {
      const ms = Math.min(limits.baseLockMs * 2 ** (row.count - limits.freeFailures), limits.maxLockMs);
      await this.repo.lock(k, new Date(now + ms).toISOString());
    }
  }

  clear(k: string): Promise<void> {
    return this.repo.clear(k);
  }

  /**
   * Counts one request for `name` from `address` in the current minute; returns the seconds to
   * wait if over `perMinute`, else 0.
   */
  async rate(name: string, address: string, perMinute: number, now = Date.now()): Promise<number> {
    const minute = Math.floor(now / 60_000) * 60_000;
    const row = await this.repo.bump(
      key(`rate-${name}`, [address]),
      new Date(minute).toISOString(),
      new Date(minute).toISOString(),
    );
    return row.count > perMinute ? Math.ceil((minute + 60_000 - now) / 1000) : 0;
  }

  /** Per-minute counts of `rateInProcess`: key → count in `localMinute`. */
  private readonly local = new Map<string, number>();
  private localMinute = 0;

  /**
   * As `rate`, but counted in this process's memory, without touching the database: for ingest,
   * where a database write per batch would be a second commit (and on SQLite a second turn on the
   * single writer) for every batch. The limit is therefore per process: N cloud processes let an
   * address through up to N × `perMinute` (ACCOUNTS.md). It is a flood guard only: every batch is
   * still verified against the edge's key and log. Memory is bounded: counts are dropped when the
   * minute turns, and at most `LOCAL_RATE_KEYS` addresses are counted per minute (further ones
   * pass uncounted until the next minute; those already counted stay limited).
   */
  rateInProcess(name: string, address: string, perMinute: number, now = Date.now()): number {
    const minute = Math.floor(now / 60_000) * 60_000;
    if (minute !== this.localMinute) {
      this.local.clear();
      this.localMinute = minute;
    }
    const k = `${name}\n${address}`;
    const count = (this.local.get(k) ?? 0) + 1;
    if (count > 1 || this.local.size < LOCAL_RATE_KEYS) this.local.set(k, count);
    return count > perMinute ? Math.ceil((minute + 60_000 - now) / 1000) : 0;
  }
}

/** Addresses `rateInProcess` counts per minute at most (a few MB). */
export const LOCAL_RATE_KEYS = 100_000;
