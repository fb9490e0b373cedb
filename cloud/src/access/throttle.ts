import { createHash } from 'node:crypto';
import type { SessionsRepository } from './sessions.repository.js';

/**
 * Sign-in throttling, in the database so every cloud process counts together:
 *
 * - failures per account (tenant + email, whether or not the account exists, so the lock tells
 *   nothing about existence) and per client address: after `freeFailures` failures within the
 *   window the key is locked for base·2^(n − free), capped; a success clears the account's count;
 * - a plain request rate per address (every attempt, failed or not) per minute: sign-in requests
 *   in the database (`rate`), shared by every process. (Ingest has its own limit, per edge:
 *   records/ingest-limit.ts.)
 */
export interface ThrottlePolicy {
  windowMs: number;
  account: { freeFailures: number; baseLockMs: number; maxLockMs: number };
  address: { freeFailures: number; baseLockMs: number; maxLockMs: number };
  /** Sign-in requests per address per minute. */
  loginRatePerMinute: number;
}

export const DEFAULT_THROTTLE: ThrottlePolicy = {
  windowMs: 15 * 60_000,
  account: { freeFailures: 5, baseLockMs: 30_000, maxLockMs: 15 * 60_000 },
  address: { freeFailures: 50, baseLockMs: 30_000, maxLockMs: 15 * 60_000 },
  loginRatePerMinute: 30,
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
}
