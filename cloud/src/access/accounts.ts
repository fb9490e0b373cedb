import type { RequestHandler } from 'express';
import type { Db } from '../platform/db/db.js';
import { AuditRepository, type SecurityEventsRepository, AuditService } from '../audit/index.js';
import { SessionsRepository } from './sessions.repository.js';
import type { TenancyRepository } from '../tenancy/index.js';
import { UsersRepository } from './users.repository.js';
import type { Witness } from '../platform/witness.js';
import { AuthService, principalOf } from './auth.service.js';
import { authenticator, authorize, authorizeOrHide, type AuthenticateOptions } from './auth.middleware.js';
import type { SecretBox } from './secret-box.js';
import { isAccountRole, type Permission, type Principal } from './policy.js';
import { viewerOfPrincipal, wholeTenant, type Viewer } from './viewer.js';
import { DEFAULT_THROTTLE, Throttle, type ThrottlePolicy } from './throttle.js';
import { UsersService } from './users.service.js';

/** Accounts, sessions and the audit trail, wired once per process (server.ts, the CLI). */
export interface Accounts {
  audit: AuditService;
  auth: AuthService;
  users: UsersService;
  throttle: Throttle;
  /** Authentication only (API token or session cookie). */
  authenticate(opts?: AuthenticateOptions): RequestHandler;
  /** Authentication, then the permission: the guard every protected route uses. */
  require(permission: Permission): RequestHandler;
  /**
   * The operator routes' guard: a signed-in session (no API token) not bound to a tenant, holding
   * `permission`; anyone else signed in is answered 404, as for a path that does not exist.
   */
  requireHidden(permission: Permission): RequestHandler;
  /** The sites a principal sees, with their names and time zones (the session answer). */
  sitesOf(p: Principal): Promise<{ id: string; name: string; timeZone: string }[]>;
  /**
   * The readers behind e-mail addresses: each address (lower-cased) that is an active user of the
   * tenant, as that user's `Viewer` (site scope and export clearance as when signed in). Addresses
   * of no active user are absent: outside addresses, read as `uncleared`.
   */
  viewersByEmail(tenantId: string, emails: readonly string[]): Promise<Map<string, Viewer>>;
}

export function createAccounts(deps: {
  db: Db;
  tenancy: TenancyRepository;
  security: SecurityEventsRepository;
  witness: Witness;
  throttle?: ThrottlePolicy;
  /** Encrypts TOTP secrets at rest (server.ts loads it); TOTP enrolment needs it. */
  secrets?: SecretBox;
}): Accounts {
  const usersRepo = new UsersRepository(deps.db);
  const sessions = new SessionsRepository(deps.db);
  const audit = new AuditService(deps.db, new AuditRepository(deps.db), deps.witness);
  const throttle = new Throttle(sessions, deps.throttle ?? DEFAULT_THROTTLE);
  const auth = new AuthService(
    deps.db,
    usersRepo,
    sessions,
    deps.tenancy,
    audit,
    deps.security,
    throttle,
    'RigTrace',
    deps.secrets,
  );
  const users = new UsersService(deps.db, usersRepo, sessions, deps.tenancy, audit);
  const authenticate = authenticator(auth, deps.tenancy, deps.db);
  return {
    audit,
    auth,
    users,
    throttle,
    authenticate,
    sitesOf: async (p) =>
      (await deps.tenancy.sites(viewerOfPrincipal(p))).map((s) => ({
        id: s.id,
        name: s.name,
        timeZone: s.time_zone,
      })),
    viewersByEmail: async (tenantId, emails) => {
      const out = new Map<string, Viewer>();
      // One look-up per address (a site lists at most 50): users by e-mail, the existing read.
      for (const email of new Set(emails.map((e) => e.toLowerCase()))) {
        const u = await usersRepo.byEmail(wholeTenant(tenantId), email);
        if (u && u.disabled_at === null && isAccountRole(u.tenant_id, u.role))
          out.set(email, viewerOfPrincipal(principalOf(u)));
      }
      return out;
    },
    require: (permission) => chain(authenticate(), authorize(permission)),
    requireHidden: (permission) => chain(authenticate({ bind: false }), authorizeOrHide(permission)),
  };
}

/** Authentication then authorization as one handler (express's typings infer route parameters poorly from arrays). */
function chain(authn: RequestHandler, authz: RequestHandler): RequestHandler {
  return async (req, res, next) => {
    await authn(req, res, (err?: unknown) => {
      if (err) return next(err);
      try {
        void authz(req, res, next);
      } catch (e) {
        next(e);
      }
    });
  };
}
