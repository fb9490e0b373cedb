import type { NextFunction, Request, Response } from 'express';
import type { Db } from '../platform/db/db.js';
import { ProblemError } from '../platform/errors.js';
import type { TenancyRepository } from '../tenancy/index.js';

declare module 'express-serve-static-core' {
  interface Request {
    /** The caller's tenant, set by authentication; every query is scoped by it. */
    tenantId?: string;
  }
}

/**
 * Bearer API tokens (`rt_api_…`), each bound to one tenant. The rest of the request runs bound
 * to that tenant (`Db.bindTenant`): a repository asked for another tenant throws, and on
 * PostgreSQL row-level security is set to it.
 */
export function requireApiToken(tenancy: TenancyRepository, db: Db) {
  return async (req: Request, _res: Response, next: NextFunction) => {
    const h = req.get('authorization') ?? '';
    const m = /^Bearer (rt_api_[A-Za-z0-9_-]{43})$/.exec(h);
    if (!m) throw new ProblemError('CLOUD_UNAUTHENTICATED', 'send Authorization: Bearer <API token>');
    const tenantId = await tenancy.tenantForApiToken(m[1]!);
    if (!tenantId) throw new ProblemError('CLOUD_UNAUTHENTICATED', 'the API token is unknown or revoked');
    req.tenantId = tenantId;
    db.bindTenant(tenantId, () => next());
  };
}

export function tenantOf(req: Request): string {
  if (!req.tenantId) throw new ProblemError('CLOUD_UNAUTHENTICATED');
  return req.tenantId;
}
