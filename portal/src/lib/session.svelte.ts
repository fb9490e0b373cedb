import { ApiError, call, client, setCsrfToken } from './api';
import { DEFAULT_IDLE_SECONDS } from './idle';
import type { Permission } from './nav';
import { zoneFor } from './time';
import type { SessionState, User } from './types';

/** The signed-in user and where their sign-in stands, shared by every page. */
class Session {
  /** 'unknown' until the first GET /auth/session answers. */
  state = $state<SessionState | 'signed-out' | 'unknown'>('unknown');
  user = $state<User | null>(null);
  /** The tenant's inactivity timeout (from the cloud's session answer; 15 minutes until it answers). */
  idleSeconds = $state(DEFAULT_IDLE_SECONDS);
  backupCodesLeft = $state<number | null>(null);
  /** What the signed-in user may do, from the cloud's access policy. */
  permissions = $state<string[]>([]);
  /** The sites the user sees and the time zone each shows times in. */
  sites = $state<{ id: string; name: string; timeZone: string }[]>([]);
  /** The policy's roles and their permissions (GET /auth/policy), loaded once per sign-in. */
  policy = $state<{ role: string; permissions: string[] }[] | null>(null);

  /** The time zone of a site's pages (UTC on hover); without a site, the user's sites' zone. */
  zone(siteId?: string | null): string {
    return zoneFor(this.sites, siteId);
  }

  can(permission: Permission): boolean {
    return this.permissions.includes(permission);
  }

  /** The roles that hold `permission` ("who may approve"), from the policy itself. */
  async rolesWith(permission: Permission): Promise<string[]> {
    if (!this.policy) this.policy = (await call(client.GET('/auth/policy'))).roles;
    return this.policy.filter((r) => r.permissions.includes(permission)).map((r) => r.role);
  }

  /** Asks the cloud whether the browser's cookie still holds a session (and counts as activity). */
  async refresh(): Promise<void> {
    try {
      const s = await call(client.GET('/auth/session'));
      setCsrfToken(s.csrfToken);
      this.user = s.user;
      this.state = s.state;
      this.backupCodesLeft = s.backupCodesLeft ?? null;
      this.permissions = s.permissions ?? [];
      this.sites = s.sites ?? [];
      this.idleSeconds = s.idleTimeoutSeconds;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return this.forget();
      throw err;
    }
  }

  async login(tenant: string, email: string, password: string): Promise<SessionState> {
    const a = await call(client.POST('/auth/login', { body: { tenant, email, password } }));
    setCsrfToken(a.csrfToken);
    if (a.state === 'active') await this.refresh();
    else this.state = a.state;
    return a.state;
  }

  async completeMfa(code: string): Promise<void> {
    const a = await call(client.POST('/auth/login/mfa', { body: { code } }));
    setCsrfToken(a.csrfToken);
    await this.refresh();
  }

  async logout(): Promise<void> {
    try {
      await call(client.POST('/auth/logout'));
    } finally {
      this.forget();
    }
  }

  forget() {
    setCsrfToken(null);
    this.user = null;
    this.state = 'signed-out';
    this.backupCodesLeft = null;
    this.permissions = [];
    this.sites = [];
    this.policy = null;
  }
}

export const session = new Session();
