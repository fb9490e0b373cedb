import type { Db } from '../platform/db/db.js';
import type { Viewer } from './viewer.js';

export type SessionState = 'active' | 'mfa' | 'enroll_mfa' | 'change_password';

export interface SessionRow {
  tenant_id: string;
  id_hash: string;
  user_id: string;
  state: SessionState;
  csrf_token: string;
  created_at: string;
  last_seen_at: string;
  expires_at: string;
  revoked_at: string | null;
  address: string | null;
  user_agent: string | null;
}

export interface ThrottleRow {
  key: string;
  count: number;
  window_start: string;
  locked_until: string | null;
}

/**
 * Server-side sessions (only the SHA-256 of the cookie's token is stored) and the sign-in
 * throttle counters, which live in the database so that every cloud process sees the same
 * counts behind a load balancer.
 */
export class SessionsRepository {
  constructor(private readonly db: Db) {}

  async create(s: Omit<SessionRow, 'revoked_at' | 'created_at' | 'last_seen_at'>): Promise<void> {
    const now = new Date().toISOString();
    await this.db.withTenant(s.tenant_id, () =>
      this.db.run(
        `INSERT INTO sessions (tenant_id, id_hash, user_id, state, csrf_token, created_at, last_seen_at, expires_at,
           address, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          s.tenant_id,
          s.id_hash,
          s.user_id,
          s.state,
          s.csrf_token,
          now,
          now,
          s.expires_at,
          s.address,
          s.user_agent,
        ],
      ),
    );
  }

  /** The session by its token's hash: read by sign-in's own work, as `wholeTenant(…)`. */
  get(v: Pick<Viewer, 'tenantId'>, idHash: string): Promise<SessionRow | undefined> {
    return this.db.withTenant(v.tenantId, () =>
      this.db.get<SessionRow>('SELECT * FROM sessions WHERE tenant_id = ? AND id_hash = ?', [
        v.tenantId,
        idHash,
      ]),
    );
  }

  async touch(tenantId: string, idHash: string, at: string): Promise<void> {
    await this.db.withTenant(tenantId, () =>
      this.db.run('UPDATE sessions SET last_seen_at = ? WHERE tenant_id = ? AND id_hash = ?', [
        at,
        tenantId,
        idHash,
      ]),
    );
  }

  async revoke(tenantId: string, idHash: string): Promise<void> {
    await this.db.withTenant(tenantId, () =>
      this.db.run(
        'UPDATE sessions SET revoked_at = ? WHERE tenant_id = ? AND id_hash = ? AND revoked_at IS NULL',
        [new Date().toISOString(), tenantId, idHash],
      ),
    );
  }

  /** Revokes every live session of the user (except `keep`); returns how many. */
  async revokeAllForUser(tenantId: string, userId: string, keep?: string): Promise<number> {
    const r = await this.db.withTenant(tenantId, () =>
      this.db.run(
        'UPDATE sessions SET revoked_at = ? WHERE tenant_id = ? AND user_id = ? AND revoked_at IS NULL AND id_hash <> ?',
        [new Date().toISOString(), tenantId, userId, keep ?? ''],
      ),
    );
    return r.changes;
  }

  /** Deletes sessions that ended (revoked or expired) more than a day ago. */
  async purgeEnded(tenantId: string, before: string): Promise<number> {
    const r = await this.db.withTenant(tenantId, () =>
      this.db.run('DELETE FROM sessions WHERE tenant_id = ? AND (expires_at < ? OR revoked_at < ?)', [
        tenantId,
        before,
        before,
      ]),
    );
    return r.changes;
  }

  /**
   * The cleanup job, across every tenant: deletes sessions that ended before `before` (expired
   * or revoked) and sessions last seen before `idleBefore` (idle past any tenant's timeout). On
   * PostgreSQL through rt_purge_ended_sessions, the app role's only cross-tenant delete.
   */
  async purgeAllEnded(before: string, idleBefore: string): Promise<number> {
    if (this.db.dialect === 'postgres') {
      const row = await this.db.get<{ n: number | string }>('SELECT rt_purge_ended_sessions(?, ?) AS n', [
        before,
        idleBefore,
      ]);
      return Number(row?.n ?? 0);
    }
    const r = await this.db.run(
      'DELETE FROM sessions WHERE expires_at < ? OR revoked_at < ? OR last_seen_at < ?',
      [before, before, idleBefore],
    );
    return r.changes;
  }

  /** Throttle counters whose window ended before `windowBefore` and that hold no running lock. */
  async purgeStaleThrottle(windowBefore: string, now: string): Promise<number> {
    const r = await this.db.run(
      'DELETE FROM auth_throttle WHERE window_start < ? AND (locked_until IS NULL OR locked_until < ?)',
      [windowBefore, now],
    );
    return r.changes;
  }

  getThrottle(key: string): Promise<ThrottleRow | undefined> {
    return this.db.get<ThrottleRow>('SELECT * FROM auth_throttle WHERE key = ?', [key]);
  }

  /**
   * Counts one event for `key` in a window starting at `windowStart` if the stored window is
   * older than `resetBefore`, in one statement (atomic across processes). Returns the count.
   */
  async bump(key: string, now: string, resetBefore: string): Promise<ThrottleRow> {
    const row = await this.db.get<ThrottleRow>(
      `INSERT INTO auth_throttle (key, count, window_start) VALUES (?, 1, ?)
       ON CONFLICT (key) DO UPDATE SET
         count = CASE WHEN auth_throttle.window_start < ? THEN 1 ELSE auth_throttle.count + 1 END,
         window_start = CASE WHEN auth_throttle.window_start < ? THEN excluded.window_start ELSE auth_throttle.window_start END
       RETURNING key, count, window_start, locked_until`,
      [key, now, resetBefore, resetBefore],
    );
    return row!;
  }

  async lock(key: string, until: string): Promise<void> {
    await this.db.run('UPDATE auth_throttle SET locked_until = ? WHERE key = ?', [until, key]);
  }

  async clear(key: string): Promise<void> {
    await this.db.run('DELETE FROM auth_throttle WHERE key = ?', [key]);
  }
}
