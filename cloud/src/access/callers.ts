import type { RequestHandler } from 'express';
import { ProblemError } from '../platform/errors.js';
import type { Accounts } from './accounts.js';
import type { Principal, Role } from './policy.js';

/**
 * Authenticates (session cookie with CSRF on writes, or API token) and admits only the callers in
 * `allowed` (roles, and 'api-token' for API tokens); anyone else gets CLOUD_FORBIDDEN with
 * `forbidden(principal)` as detail.
 */
export function allowCallers(
  accounts: Accounts,
  forbidden: (p: Principal) => string = (p) => `the ${p.role} role may not do this`,
): (allowed: readonly (Role | 'api-token')[]) => RequestHandler {
  const authenticate = accounts.authenticate();
  return (allowed) => async (req, res, next) => {
    await authenticate(req, res, (err?: unknown) => {
      if (err) return next(err);
      const p = req.principal;
      if (!p) return next(new ProblemError('CLOUD_UNAUTHENTICATED'));
      const caller = p.kind === 'api-token' ? 'api-token' : p.role;
      if (!allowed.includes(caller)) return next(new ProblemError('CLOUD_FORBIDDEN', forbidden(p)));
      next();
    });
  };
}
