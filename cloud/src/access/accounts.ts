import type { RequestHandler } from 'express';
import type { Db } from '../platform/db/db.js';
import { AuditRepository, type SecurityEventsRepository, AuditService } from '../audit/index.js';
import { SessionsRepository } from './sessions.repository.js';
import type { TenancyRepository } from '../tenancy/index.js';
import { UsersRepository } from './users.repository.js';
import type { Witness } from '../platform/witness.js';
import { AuthService } from './auth.service.js';
import { authenticator, authorize, type AuthenticateOptions } from './auth.middleware.js';
import type { SecretBox } from './secret-box.js';
import type { Permission } from './policy.js';
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
    require: (permission) => {
      const authn = authenticate();
      const authz = authorize(permission);
      // One handler (express's typings infer route parameters poorly from arrays).
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
    },
  };
}
