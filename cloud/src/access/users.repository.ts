import { randomUUID } from 'node:crypto';
import type { Db } from '../platform/db/db.js';
import type { AccountRole, Role } from './policy.js';

export interface UserRow {
  tenant_id: string;
  id: string;
  email: string;
  name: string;
  role: AccountRole;
  /** JSON array of site ids, or null for every site */
  sites: string | null;
  password_hash: string;
  must_change_password: number;
  password_changed_at: string;
  disabled_at: string | null;
  totp_secret: string | null;
  totp_pending: string | null;
  totp_enabled_at: string | null;
  totp_last_step: number | null;
  /** 1: cleared for export-controlled (ITAR/EAR) data (an admin marks US persons); migration 5. */
  us_person: number;
  created_at: string;
  updated_at: string;
}

export interface SecurityPolicy {
  mfaRequiredRoles: Role[];
  idleTimeoutSeconds: number;
  absoluteTimeoutSeconds: number;
}

export const DEFAULT_SECURITY_POLICY: SecurityPolicy = {
  mfaRequiredRoles: [],
  idleTimeoutSeconds: 15 * 60,
  absoluteTimeoutSeconds: 12 * 3600,
};

type UserChange = Partial<
  Pick<
    UserRow,
    | 'role'
    | 'sites'
    | 'name'
    | 'password_hash'
    | 'must_change_password'
    | 'password_changed_at'
    | 'disabled_at'
    | 'totp_secret'
    | 'totp_pending'
    | 'totp_enabled_at'
    | 'totp_last_step'
    | 'us_person'
  >
>;

/** Users, their backup codes and the tenant's security policy. Emails are stored lower-cased. */
export class UsersRepository {
  constructor(private readonly db: Db) {}

  async create(u: {
    tenantId: string;
    email: string;
    name: string;
    role: AccountRole;
    sites: readonly string[] | null;
    passwordHash: string;
    mustChangePassword: boolean;
    usPerson?: boolean;
  }): Promise<UserRow> {
    const now = new Date().toISOString();
    const id = randomUUID();
    await this.db.withTenant(u.tenantId, () =>
      this.db.run(
        `INSERT INTO users (tenant_id, id, email, name, role, sites, password_hash, must_change_password,
           password_changed_at, created_at, updated_at, us_person) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          u.tenantId,
          id,
          u.email.toLowerCase(),
          u.name,
          u.role,
          u.sites ? JSON.stringify(u.sites) : null,
          u.passwordHash,
          u.mustChangePassword ? 1 : 0,
          now,
          now,
          now,
          u.usPerson === true,
        ],
      ),
    );
    return (await this.byId(u.tenantId, id))!;
  }

  byId(tenantId: string, id: string): Promise<UserRow | undefined> {
    return this.db.withTenant(tenantId, () =>
      this.db.get<UserRow>('SELECT * FROM users WHERE tenant_id = ? AND id = ?', [tenantId, id]),
    );
  }

  byEmail(tenantId: string, email: string): Promise<UserRow | undefined> {
    return this.db.withTenant(tenantId, () =>
      this.db.get<UserRow>('SELECT * FROM users WHERE tenant_id = ? AND email = ?', [
        tenantId,
        email.toLowerCase(),
      ]),
    );
  }

  list(tenantId: string): Promise<UserRow[]> {
    return this.db.withTenant(tenantId, () =>
      this.db.all<UserRow>('SELECT * FROM users WHERE tenant_id = ? ORDER BY email', [tenantId]),
    );
  }

  async countActiveAdmins(tenantId: string): Promise<number> {
    const row = await this.db.withTenant(tenantId, () =>
      this.db.get<{ n: number }>(
        "SELECT COUNT(*) AS n FROM users WHERE tenant_id = ? AND role = 'admin' AND disabled_at IS NULL",
        [tenantId],
      ),
    );
    return Number(row?.n ?? 0);
  }

  async update(tenantId: string, id: string, change: UserChange): Promise<void> {
    const keys = Object.keys(change) as (keyof UserChange)[];
    if (keys.length === 0) return;
    const sets = keys.map((k) => `${k} = ?`).join(', ');
    await this.db.withTenant(tenantId, () =>
      this.db.run(`UPDATE users SET ${sets}, updated_at = ? WHERE tenant_id = ? AND id = ?`, [
        ...keys.map((k) => change[k] ?? null),
        new Date().toISOString(),
        tenantId,
        id,
      ]),
    );
  }

  /**
   * Records `step` as the last TOTP step used, only if it is newer than the stored one: one
   * statement, so two requests racing with one code cannot both succeed.
   */
  async claimTotpStep(tenantId: string, id: string, step: number): Promise<boolean> {
    const r = await this.db.withTenant(tenantId, () =>
      this.db.run(
        'UPDATE users SET totp_last_step = ? WHERE tenant_id = ? AND id = ? AND (totp_last_step IS NULL OR totp_last_step < ?)',
        [step, tenantId, id, step],
      ),
    );
    return r.changes === 1;
  }

  async replaceBackupCodes(tenantId: string, userId: string, hashes: readonly string[]): Promise<void> {
    const now = new Date().toISOString();
    await this.db.withTenant(tenantId, async () => {
      await this.db.run('DELETE FROM backup_codes WHERE tenant_id = ? AND user_id = ?', [tenantId, userId]);
      for (const h of hashes) {
        await this.db.run(
          'INSERT INTO backup_codes (tenant_id, user_id, code_hash, created_at) VALUES (?, ?, ?, ?)',
          [tenantId, userId, h, now],
        );
      }
    });
  }

  /** Marks an unused backup code used; true if it was there and unused (one statement). */
  async useBackupCode(tenantId: string, userId: string, hash: string): Promise<boolean> {
    const r = await this.db.withTenant(tenantId, () =>
      this.db.run(
        'UPDATE backup_codes SET used_at = ? WHERE tenant_id = ? AND user_id = ? AND code_hash = ? AND used_at IS NULL',
        [new Date().toISOString(), tenantId, userId, hash],
      ),
    );
    return r.changes === 1;
  }

  async unusedBackupCodes(tenantId: string, userId: string): Promise<number> {
    const row = await this.db.withTenant(tenantId, () =>
      this.db.get<{ n: number }>(
        'SELECT COUNT(*) AS n FROM backup_codes WHERE tenant_id = ? AND user_id = ? AND used_at IS NULL',
        [tenantId, userId],
      ),
    );
    return Number(row?.n ?? 0);
  }

  async securityPolicy(tenantId: string): Promise<SecurityPolicy> {
    const row = await this.db.withTenant(tenantId, () =>
      this.db.get<{ mfa_required_roles: string; idle_timeout_s: number; absolute_timeout_s: number }>(
        'SELECT mfa_required_roles, idle_timeout_s, absolute_timeout_s FROM tenant_security WHERE tenant_id = ?',
        [tenantId],
      ),
    );
    if (!row) return { ...DEFAULT_SECURITY_POLICY };
    return {
      mfaRequiredRoles: JSON.parse(row.mfa_required_roles) as Role[],
      idleTimeoutSeconds: row.idle_timeout_s,
      absoluteTimeoutSeconds: row.absolute_timeout_s,
    };
  }

  async setSecurityPolicy(tenantId: string, p: SecurityPolicy): Promise<void> {
    await this.db.withTenant(tenantId, () =>
      this.db.run(
        `INSERT INTO tenant_security (tenant_id, mfa_required_roles, idle_timeout_s, absolute_timeout_s, updated_at)
         VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (tenant_id) DO UPDATE SET mfa_required_roles = excluded.mfa_required_roles,
           idle_timeout_s = excluded.idle_timeout_s, absolute_timeout_s = excluded.absolute_timeout_s,
           updated_at = excluded.updated_at`,
        [
          tenantId,
          JSON.stringify(p.mfaRequiredRoles),
          p.idleTimeoutSeconds,
          p.absoluteTimeoutSeconds,
          new Date().toISOString(),
        ],
      ),
    );
  }
}
