import type { Db } from '../platform/db/db.js';
import { ProblemError } from '../platform/errors.js';
import type { SessionsRepository } from './sessions.repository.js';
import type { TenancyRepository } from '../tenancy/index.js';
import type { SecurityPolicy, UserRow, UsersRepository } from './users.repository.js';
import type { AuditActor, AuditService } from '../audit/index.js';
import { generatePassword, hashPassword, passwordProblems } from './password.js';
import { isAccountRole, type AccountRole, type Role } from './policy.js';
import { userView } from './auth.service.js';
import { wholeTenant } from './viewer.js';

export interface Actor {
  actor: AuditActor;
  address: string | null;
  /**
   * The acting admin's sites when it is limited to some: it sees and changes only users limited
   * to those sites, gives only those sites, and not its own role. Absent or null: every site.
   */
  sites?: readonly string[] | null;
}

/** Who reads users for `by`: its sites (the users it sees are those limited to them), or every site. */
const readerOf = (tenantId: string, by: Actor | undefined) => ({ tenantId, sites: by?.sites ?? null });

/** Whether `sites` (a user's scope, being given) lies within the acting admin's sites. */
function within(by: Actor | undefined, sites: readonly string[] | null): boolean {
  if (!by?.sites) return true;
  return sites !== null && sites.every((s) => by.sites!.includes(s));
}

const notYourSites = () =>
  new ProblemError('CLOUD_FORBIDDEN', 'an admin limited to sites gives only its own sites');

/**
 * Users management (admins, the CLI): create with a role and optional site scope, change role,
 * disable and enable, reset password or MFA, and the tenant's security policy. Each change is
 * one transaction with its audit entry (before and after).
 */
export class UsersService {
  constructor(
    private readonly db: Db,
    private readonly users: UsersRepository,
    private readonly sessions: SessionsRepository,
    private readonly tenancy: TenancyRepository,
    private readonly audit: AuditService,
  ) {}

  private async checkSites(tenantId: string, sites: readonly string[] | null) {
    for (const s of sites ?? []) {
      if (!(await this.tenancy.siteExists(wholeTenant(tenantId), s)))
        throw new ProblemError('CLOUD_VALIDATION', `no site ${s} in this tenant`);
    }
  }

  /** A user; 404 when absent or, for an admin limited to sites, outside them. */
  async get(tenantId: string, id: string, by?: Actor): Promise<UserRow> {
    const u = await this.users.byId(readerOf(tenantId, by), id);
    if (!u) throw new ProblemError('CLOUD_NOT_FOUND', 'no such user');
    return u;
  }

  /** The tenant's users (for an admin limited to sites: the users limited to those sites). */
  async list(tenantId: string, by?: Actor) {
    return this.users.list(readerOf(tenantId, by));
  }

  /**
   * Creates a user. Without `password`, a random one-time password is generated and returned;
   * either way the user must choose a new one at first sign-in unless `mustChangePassword` is false.
   */
  async create(
    by: Actor,
    tenantId: string,
    u: {
      email: string;
      name?: string;
      /** `operator` only in the operator realm, which holds nothing else (policy.ts). */
      role: AccountRole;
      sites?: readonly string[] | null;
      password?: string;
      mustChangePassword?: boolean;
      /** Cleared for export-controlled (ITAR/EAR) data; default false. */
      usPerson?: boolean;
    },
  ): Promise<{ user: UserRow; initialPassword?: string }> {
    const sites = u.sites ?? null;
    if (!isAccountRole(tenantId, u.role))
      throw new ProblemError('CLOUD_VALIDATION', 'this role does not exist in this tenant');
    if (!within(by, sites)) throw notYourSites();
    await this.checkSites(tenantId, sites);
    // Whether the address is taken: by any user of the tenant.
    if (await this.users.byEmail(wholeTenant(tenantId), u.email))
      throw new ProblemError('CLOUD_CONFLICT', 'a user with this email exists');
    const generated = u.password === undefined ? generatePassword() : undefined;
    const password = u.password ?? generated!;
    const problems = passwordProblems(password, { email: u.email });
    if (problems.length > 0)
      throw new ProblemError('CLOUD_PASSWORD_REJECTED', `the password ${problems.join('; ')}`, { problems });
    const passwordHash = await hashPassword(password);
    const user = await this.db.transaction(async () => {
      const user = await this.users.create({
        tenantId,
        email: u.email,
        name: u.name ?? u.email,
        role: u.role,
        sites,
        passwordHash,
        mustChangePassword: u.mustChangePassword ?? true,
        usPerson: u.usPerson ?? false,
      });
      await this.audit.record({
        tenantId,
        action: 'user.create',
        outcome: 'success',
        actor: by.actor,
        address: by.address,
        target: { type: 'user', id: user.id },
        after: userView(user),
      });
      return user;
    });
    return { user, ...(generated ? { initialPassword: generated } : {}) };
  }

  private async guardLastAdmin(tenantId: string, target: UserRow) {
    if (
      target.role === 'admin' &&
      target.disabled_at === null &&
      (await this.users.countActiveAdmins(wholeTenant(tenantId))) <= 1
    )
      throw new ProblemError('CLOUD_CONFLICT', 'this is the last active admin of the tenant');
  }

  private async change(
    by: Actor,
    tenantId: string,
    id: string,
    action: string,
    apply: (before: UserRow) => Promise<void>,
    extra: { detail?: string } = {},
  ): Promise<UserRow> {
    return this.db.transaction(async () => {
      const before = await this.get(tenantId, id, by);
      await apply(before);
      const after = (await this.users.byId(wholeTenant(tenantId), id))!;
      await this.audit.record({
        tenantId,
        action,
        outcome: 'success',
        actor: by.actor,
        address: by.address,
        target: { type: 'user', id },
        before: userView(before),
        after: userView(after),
        ...extra,
      });
      return after;
    });
  }

  setRole(by: Actor, tenantId: string, id: string, role: Role, sites: readonly string[] | null) {
    return this.change(by, tenantId, id, 'user.role.change', async (before) => {
      if (by.sites && by.actor.id === id)
        throw new ProblemError(
          'CLOUD_FORBIDDEN',
          'an admin limited to sites may not change its own role or sites',
        );
      if (!within(by, sites)) throw notYourSites();
      if (role !== 'admin') await this.guardLastAdmin(tenantId, before);
      await this.checkSites(tenantId, sites);
      await this.users.update(tenantId, id, { role, sites: sites ? JSON.stringify(sites) : null });
    });
  }

  /**
   * Marks a user as a US person (cleared for ITAR/EAR-controlled data) or not. Takes effect on
   * the user's next request (the principal is read from the user row each time). Clearance is
   * given by a second admin: nobody changes their own.
   */
  setUsPerson(by: Actor, tenantId: string, id: string, usPerson: boolean) {
    return this.change(by, tenantId, id, 'user.us_person.change', async () => {
      if (by.actor.type === 'user' && by.actor.id === id)
        throw new ProblemError(
          'CLOUD_FORBIDDEN',
          'export clearance is given by another admin, not by oneself',
        );
      await this.users.update(tenantId, id, { us_person: usPerson ? 1 : 0 });
    });
  }

  setDisabled(by: Actor, tenantId: string, id: string, disabled: boolean) {
    return this.change(by, tenantId, id, disabled ? 'user.disable' : 'user.enable', async (before) => {
      if (disabled) {
        await this.guardLastAdmin(tenantId, before);
        await this.sessions.revokeAllForUser(tenantId, id);
      }
      await this.users.update(tenantId, id, { disabled_at: disabled ? new Date().toISOString() : null });
    });
  }

  /** A new one-time password, to be changed at next sign-in; every session of the user ends. */
  async resetPassword(
    by: Actor,
    tenantId: string,
    id: string,
  ): Promise<{ user: UserRow; temporaryPassword: string }> {
    const temporaryPassword = generatePassword();
    const hash = await hashPassword(temporaryPassword);
    const user = await this.change(
      by,
      tenantId,
      id,
      'user.password.reset',
      async () => {
        await this.users.update(tenantId, id, {
          password_hash: hash,
          must_change_password: 1,
          password_changed_at: new Date().toISOString(),
        });
        await this.sessions.revokeAllForUser(tenantId, id);
      },
      { detail: 'forced change at next sign-in; sessions revoked' },
    );
    return { user, temporaryPassword };
  }

  /** The demo only (seed-demo): a reset demo password need not be changed. Not audited as a change of policy. */
  async clearMustChange(tenantId: string, id: string): Promise<void> {
    await this.users.update(tenantId, id, { must_change_password: 0 });
  }

  /** For a lost authenticator: clears TOTP and backup codes; the user enrols again. */
  resetMfa(by: Actor, tenantId: string, id: string) {
    return this.change(by, tenantId, id, 'user.mfa.reset', async () => {
      await this.users.update(tenantId, id, {
        totp_secret: null,
        totp_pending: null,
        totp_enabled_at: null,
        totp_last_step: null,
      });
      await this.users.replaceBackupCodes(tenantId, id, []);
      await this.sessions.revokeAllForUser(tenantId, id);
    });
  }

  policy(tenantId: string) {
    return this.users.securityPolicy(wholeTenant(tenantId));
  }

  async setPolicy(by: Actor, tenantId: string, p: SecurityPolicy): Promise<SecurityPolicy> {
    return this.db.transaction(async () => {
      const before = await this.users.securityPolicy(wholeTenant(tenantId));
      await this.users.setSecurityPolicy(tenantId, p);
      await this.audit.record({
        tenantId,
        action: 'security.policy.change',
        outcome: 'success',
        actor: by.actor,
        address: by.address,
        before,
        after: p,
      });
      return p;
    });
  }
}
