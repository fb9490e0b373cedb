import { randomUUID } from 'node:crypto';
import type { Db, SqlParam } from '../platform/db/db.js';
import type { AccountRole, Role } from './policy.js';
import { wholeTenant, type Viewer } from './viewer.js';

/** Who reads: an admin's viewer, or `wholeTenant(…)` for the product's own work (sign-in, sessions). */
type Reader = Pick<Viewer, 'tenantId' | 'sites'>;

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

  /**
   * The users `v` sees, as a WHERE condition on `users u`: every user for a reader of every site;
   * for a reader limited to sites, the users limited to some of those sites (not a user of every
   * site, nor one with a site beyond them).
   */
  private scope(v: Reader): { sql: string; params: SqlParam[] } {
    if (v.sites === null) return { sql: '1 = 1', params: [] };
    const sitesOf =
      this.db.dialect === 'postgres'
        ? 'json_array_elements_text(u.sites::json) j(value)'
        : 'json_each(u.sites) j';
    const beyond = v.sites.length ? `j.value NOT IN (${v.sites.map(() => '?').join(',')})` : '1 = 1';
    return {
      sql: `u.sites IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ${sitesOf} WHERE ${beyond})`,
      params: [...v.sites],
    };
  }

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
    return (await this.byId(wholeTenant(u.tenantId), id))!;
  }

  /** The user, if `v` sees it. */
  byId(v: Reader, id: string): Promise<UserRow | undefined> {
    const scope = this.scope(v);
    return this.db.withTenant(v.tenantId, () =>
      this.db.get<UserRow>(`SELECT * FROM users u WHERE u.tenant_id = ? AND u.id = ? AND ${scope.sql}`, [
        v.tenantId,
        id,
        ...scope.params,
      ]),
    );
  }

  /** The user with this e-mail address, if `v` sees it. */
  byEmail(v: Reader, email: string): Promise<UserRow | undefined> {
    const scope = this.scope(v);
    return this.db.withTenant(v.tenantId, () =>
      this.db.get<UserRow>(`SELECT * FROM users u WHERE u.tenant_id = ? AND u.email = ? AND ${scope.sql}`, [
        v.tenantId,
        email.toLowerCase(),
        ...scope.params,
      ]),
    );
  }

  /** The users `v` sees, by e-mail address. */
  list(v: Reader): Promise<UserRow[]> {
    const scope = this.scope(v);
    return this.db.withTenant(v.tenantId, () =>
      this.db.all<UserRow>(`SELECT * FROM users u WHERE u.tenant_id = ? AND ${scope.sql} ORDER BY u.email`, [
        v.tenantId,
        ...scope.params,
      ]),
    );
  }

  /** The active admins among the users `v` sees (the last-admin guard counts the whole tenant's). */
  async countActiveAdmins(v: Reader): Promise<number> {
    const scope = this.scope(v);
    const row = await this.db.withTenant(v.tenantId, () =>
      this.db.get<{ n: number }>(
        `SELECT COUNT(*) AS n FROM users u WHERE u.tenant_id = ? AND u.role = 'admin' AND u.disabled_at IS NULL AND ${scope.sql}`,
        [v.tenantId, ...scope.params],
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

  /** How many unused backup codes the user has (none when `v` does not see the user). */
  async unusedBackupCodes(v: Reader, userId: string): Promise<number> {
    const scope = this.scope(v);
    const row = await this.db.withTenant(v.tenantId, () =>
      this.db.get<{ n: number }>(
        `SELECT COUNT(*) AS n FROM backup_codes b JOIN users u ON u.tenant_id = b.tenant_id AND u.id = b.user_id
          WHERE b.tenant_id = ? AND b.user_id = ? AND b.used_at IS NULL AND ${scope.sql}`,
        [v.tenantId, userId, ...scope.params],
      ),
    );
    return Number(row?.n ?? 0);
  }

  /** The tenant's security policy: one for the whole tenant, which every reader of it may read. */
  async securityPolicy(v: Pick<Viewer, 'tenantId'>): Promise<SecurityPolicy> {
    const row = await this.db.withTenant(v.tenantId, () =>
      this.db.get<{ mfa_required_roles: string; idle_timeout_s: number; absolute_timeout_s: number }>(
        'SELECT mfa_required_roles, idle_timeout_s, absolute_timeout_s FROM tenant_security WHERE tenant_id = ?',
        [v.tenantId],
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
