import type { Db } from '../platform/db/db.js';
import { ProblemError } from '../platform/errors.js';
import type { TenancyRepository, TenantSummaryRow } from '../tenancy/index.js';
import {
  OPERATOR_REALM,
  OPERATOR_ROLE,
  wholeTenant,
  type Accounts,
  type Actor,
  type UserRow,
} from '../access/index.js';

/** A tenant id: lowercase letters, digits and -, at most 63 (never the operator realm's `_operators`). */
export const TENANT_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** A tenant as the cloud operators see it: no data of the tenant, only its size. */
export interface TenantView {
  id: string;
  name: string;
  createdAt: string;
  sites: number;
  users: number;
  edges: number;
}

const view = (r: TenantSummaryRow): TenantView => ({
  id: r.id,
  name: r.name,
  createdAt: new Date(r.created_at).toISOString(),
  sites: r.sites,
  users: r.users,
  edges: r.edges,
});

function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e.code === '23505' || /UNIQUE constraint failed/.test(e.message ?? '');
}

/**
 * What the people who run the cloud do: create operator accounts (CLI only), list the tenants,
 * and create a tenant with its first admin. The CLI (`rigtrace-cloud tenant create`) and the
 * portal's operator routes both create tenants through `createTenant`, so both are audited alike:
 * `tenant.create` in the new tenant's log (its first entry) and in the operator realm's log.
 */
export class OperatorService {
  constructor(
    private readonly deps: {
      db: Db;
      tenancy: TenancyRepository;
      accounts: Pick<Accounts, 'users' | 'audit'>;
    },
  ) {}

  /**
   * A cloud operator account, from the CLI on the cloud's host only: the password chosen there
   * (checked against the password policy), a second factor enrolled at the first sign-in.
   */
  async createOperator(by: Actor, o: { email: string; name?: string; password: string }): Promise<UserRow> {
    const out = await this.deps.accounts.users.create(by, OPERATOR_REALM, {
      email: o.email,
      ...(o.name ? { name: o.name } : {}),
      role: OPERATOR_ROLE,
      password: o.password,
      mustChangePassword: false,
    });
    return out.user;
  }

  /** The cloud operator accounts, disabled ones included, by email. */
  async listOperators(): Promise<UserRow[]> {
    return this.deps.accounts.users.list(OPERATOR_REALM);
  }

  private async operatorByEmail(email: string): Promise<UserRow> {
    const u = (await this.listOperators()).find((x) => x.email.toLowerCase() === email.trim().toLowerCase());
    if (!u) throw new ProblemError('CLOUD_NOT_FOUND', `no cloud operator ${email}`);
    return u;
  }

  /**
   * Disables or enables a cloud operator (CLI only). Disabling ends every session of the operator.
   * The last enabled operator is disabled only with `force`: without one, nobody can reach the
   * Tenants page until someone on the cloud's host runs `operator enable` or `operator create`.
   * Audited as user.disable / user.enable in the operators' log.
   */
  async setOperatorDisabled(
    by: Actor,
    email: string,
    disabled: boolean,
    o: { force?: boolean } = {},
  ): Promise<UserRow> {
    const u = await this.operatorByEmail(email);
    if (disabled && u.disabled_at === null && o.force !== true) {
      const enabled = (await this.listOperators()).filter((x) => x.disabled_at === null).length;
      if (enabled <= 1)
        throw new ProblemError(
          'CLOUD_CONFLICT',
          `${u.email} is the last enabled cloud operator (--force disables it all the same)`,
        );
    }
    return this.deps.db.withTenant(OPERATOR_REALM, () =>
      this.deps.accounts.users.setDisabled(by, OPERATOR_REALM, u.id, disabled),
    );
  }

  /**
   * For a lost authenticator (CLI only): clears the operator's TOTP and backup codes and ends its
   * sessions; the next sign-in must set up two-step verification again. Audited as user.mfa.reset.
   */
  async resetOperatorMfa(by: Actor, email: string): Promise<UserRow> {
    const u = await this.operatorByEmail(email);
    return this.deps.db.withTenant(OPERATOR_REALM, () =>
      this.deps.accounts.users.resetMfa(by, OPERATOR_REALM, u.id),
    );
  }

  /** A page of the operators' own audit log (oldest first, after `afterSeq`). */
  auditPage(afterSeq: number, limit: number) {
    return this.deps.db.withTenant(OPERATOR_REALM, () =>
      this.deps.accounts.audit.page(wholeTenant(OPERATOR_REALM), afterSeq, limit),
    );
  }

  /** Every tenant with its counts of sites, users and edges, oldest first. */
  async listTenants(): Promise<TenantView[]> {
    return (await this.deps.tenancy.tenantSummaries()).map(view);
  }

  /**
   * Creates a tenant and, when `admin` is given, its first admin (every site, a one-time password
   * to change at first sign-in, returned once). One transaction: the tenant, its first audit entry
   * and the admin, or nothing. 409 when the id is taken.
   */
  async createTenant(
    by: Actor,
    t: { id: string; name: string; admin?: { email: string; name?: string } },
  ): Promise<{ tenant: TenantView; admin?: { user: UserRow; initialPassword: string } }> {
    if (!TENANT_ID.test(t.id))
      throw new ProblemError(
        'CLOUD_VALIDATION',
        'a tenant id is lowercase letters, digits and -, at most 63',
      );
    const { db, tenancy, accounts } = this.deps;
    const taken = () => new ProblemError('CLOUD_CONFLICT', `a tenant with the id ${t.id} exists`);
    if (await tenancy.tenantExists(t.id)) throw taken();
    let admin: { user: UserRow; initialPassword: string } | undefined;
    try {
      await db.withTenant(t.id, () =>
        db.transaction(async () => {
          await tenancy.createTenant(t.id, t.name);
          await accounts.audit.record({
            tenantId: t.id,
            action: 'tenant.create',
            outcome: 'success',
            actor: by.actor,
            address: by.address,
            target: { type: 'tenant', id: t.id },
            after: { id: t.id, name: t.name, ...(t.admin ? { admin: t.admin.email } : {}) },
          });
          if (t.admin) {
            const out = await accounts.users.create(by, t.id, {
              email: t.admin.email,
              ...(t.admin.name ? { name: t.admin.name } : {}),
              role: 'admin',
              sites: null,
            });
            admin = { user: out.user, initialPassword: out.initialPassword! };
          }
        }),
      );
    } catch (err) {
      if (isUniqueViolation(err)) throw taken();
      throw err;
    }
    // The operators' own log says who made which tenant (its own transaction: another tenant's log).
    await accounts.audit.record({
      tenantId: OPERATOR_REALM,
      action: 'tenant.create',
      outcome: 'success',
      actor: by.actor,
      address: by.address,
      target: { type: 'tenant', id: t.id },
      after: { id: t.id, name: t.name, ...(t.admin ? { admin: t.admin.email } : {}) },
    });
    const row = (await tenancy.tenantSummaries()).find((r) => r.id === t.id);
    if (!row) throw new Error(`tenant ${t.id} was created but is not listed`);
    return { tenant: view(row), ...(admin ? { admin } : {}) };
  }
}
