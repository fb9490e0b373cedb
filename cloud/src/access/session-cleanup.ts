import type { Logger } from 'pino';
import type { SessionsRepository } from './sessions.repository.js';
import type { ThrottlePolicy } from './throttle.js';

export interface SessionCleanupPolicy {
  /** How long an ended (expired or revoked) session row is kept; default one day. */
  retentionMs: number;
  /** The longest inactivity timeout a tenant may set (users.routes.ts: 24 h). */
  maxIdleMs: number;
}

export const DEFAULT_SESSION_CLEANUP: SessionCleanupPolicy = {
  retentionMs: 24 * 3600_000,
  maxIdleMs: 24 * 3600_000,
};

/**
 * Deletes what sign-in leaves behind: sessions that ended more than `retentionMs` ago (expired,
 * revoked, or idle past the longest possible inactivity timeout) and throttle counters whose
 * window is over and which hold no running lock. Every sign-in event stays on the audit trail.
 */
export async function purgeSessions(
  sessions: SessionsRepository,
  throttle: ThrottlePolicy,
  now = Date.now(),
  policy: SessionCleanupPolicy = DEFAULT_SESSION_CLEANUP,
): Promise<{ sessions: number; throttle: number }> {
  const iso = (ms: number) => new Date(ms).toISOString();
  const ended = await sessions.purgeAllEnded(
    iso(now - policy.retentionMs),
    iso(now - policy.retentionMs - policy.maxIdleMs),
  );
  const stale = await sessions.purgeStaleThrottle(iso(now - throttle.windowMs), iso(now));
  return { sessions: ended, throttle: stale };
}

/** Runs purgeSessions every `intervalMs` (first run after one interval) until stopped. */
export function startSessionCleanup(opts: {
  sessions: SessionsRepository;
  throttle: ThrottlePolicy;
  intervalMs: number;
  logger?: Logger;
  policy?: SessionCleanupPolicy;
}): { stop(): Promise<void>; runNow(): Promise<{ sessions: number; throttle: number }> } {
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const run = async () => {
    const out = await purgeSessions(opts.sessions, opts.throttle, Date.now(), opts.policy);
    if (out.sessions > 0 || out.throttle > 0)
      opts.logger?.info(
        { event: 'session-cleanup', ...out },
        'purged ended sessions and stale throttle rows',
      );
    return out;
  };
  const timer = setInterval(() => {
    if (stopped) return;
    running = run().catch((err: unknown) => opts.logger?.warn({ err }, 'session cleanup failed'));
  }, opts.intervalMs);
  timer.unref();
  return {
    runNow: run,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running; // never close the database under a running purge
    },
  };
}
