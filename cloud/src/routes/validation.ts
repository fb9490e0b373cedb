import type { Request, RequestHandler } from 'express';
import { z } from 'zod';
import type { Accounts } from '../auth/accounts.js';
import type { Principal, Role } from '../auth/policy.js';
import { parseOrProblem, ProblemError, validationProblem } from '../errors.js';

export { validationProblem };
/** `value` parsed by `schema`, or a CLOUD_VALIDATION problem with `message`. */
export const parse = parseOrProblem;

/** The request's query string parsed by `schema` (a strict object: unknown parameters are refused). */
export const parseQuery = <T extends z.ZodType>(schema: T, req: Request): z.output<T> =>
  parse(schema, req.query, 'query parameters are not valid');

/** A page size: an integer 1..max from the query string, `dflt` when absent. */
export const limit = (dflt: number, max: number) => z.coerce.number().int().min(1).max(max).default(dflt);

/** An optional page cursor (a previous page's `next`), decoded by `decode`; undecodable is a 400. */
export const cursor = <T>(decode: (c: string) => T | undefined) =>
  z
    .string()
    .transform((c, ctx) => {
      const d = decode(c);
      if (!d) ctx.addIssue({ code: 'custom', message: 'a cursor from a previous page (next)' });
      return d;
    })
    .optional();

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
