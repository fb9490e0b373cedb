import { timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Db } from '../platform/db/db.js';
import { ProblemError } from '../platform/errors.js';
import type { SessionState } from './sessions.repository.js';
import type { TenancyRepository } from '../tenancy/index.js';
import type { AuditActor } from '../audit/index.js';
import type { AuthService, IssuedSession, RequestInfo, SessionContext } from './auth.service.js';
import { API_TOKEN_ROLE, can, type Permission, type Principal } from './policy.js';
import { type Caller, viewerOf } from './viewer.js';

declare module 'express-serve-static-core' {
  interface Request {
    /** Who is calling, set by authentication. */
    principal?: Principal;
    /** The session, when the caller signed in with a cookie (not an API token). */
    sessionCtx?: SessionContext;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
export const CSRF_HEADER = 'x-csrf-token';

/** `Secure` cookies everywhere except a browser talking to this machine over plain HTTP. */
export function isLocalRequest(req: Request): boolean {
  return isLocalHostname(req.hostname);
}

/** localhost, *.localhost, 127.x.x.x or ::1 (a host name without its port). */
export function isLocalHostname(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  return h === '::1';
}

/**
 * The session cookie's name: `__Host-rt_session` wherever cookies are Secure, `rt_session`
 * only for a browser on this machine over plain HTTP. Only that one name is read: over HTTPS a
 * plain `rt_session` (which anyone on the network path, or a sibling subdomain, could have
 * planted) is no session.
 */
export const sessionCookieName = (secure: boolean) => (secure ? '__Host-rt_session' : 'rt_session');

/** Cookie names: `__Host-` prefixed (Secure, Path=/, no Domain) wherever cookies are Secure. */
function names(req: Request) {
  const secure = req.secure || !isLocalRequest(req);
  return {
    secure,
    session: sessionCookieName(secure),
    csrf: secure ? '__Host-rt_csrf' : 'rt_csrf',
  };
}

export function readCookie(req: Request, name: string): string | undefined {
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return undefined;
}

/**
 * Sets the session cookie (HttpOnly, SameSite=Strict, Secure outside localhost; no Max-Age:
 * the server enforces the timeouts) and the CSRF cookie the portal's script reads and echoes in
 * the X-CSRF-Token header.
 */
export function setSessionCookies(req: Request, res: Response, s: IssuedSession): void {
  const n = names(req);
  const base = { secure: n.secure, sameSite: 'strict' as const, path: '/' };
  res.cookie(n.session, s.cookie, { ...base, httpOnly: true });
  res.cookie(n.csrf, s.csrfToken, { ...base, httpOnly: false });
}

export function clearSessionCookies(req: Request, res: Response): void {
  const n = names(req);
  const base = { secure: n.secure, sameSite: 'strict' as const, path: '/' };
  res.clearCookie(n.session, { ...base, httpOnly: true });
  res.clearCookie(n.csrf, base);
}

export function requestInfo(req: Request): RequestInfo {
  return { address: req.ip ?? '', userAgent: req.get('user-agent') ?? null };
}

export function actorOfRequest(req: Request): AuditActor {
  const p = req.principal;
  if (!p) return { type: 'anonymous', id: '-' };
  return p.kind === 'user'
    ? { type: 'user', id: p.id, ...(p.email ? { email: p.email } : {}), role: p.role }
    : { type: 'api-token', id: p.id, role: p.role };
}

/** The request's caller (after authentication): its viewer, audit actor and address. */
export function callerOf(req: Request): Caller {
  return { ...viewerOf(req), actor: actorOfRequest(req), address: req.ip ?? null };
}

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export interface AuthenticateOptions {
  /** Session states this route accepts; default only a complete ('active') session. */
  states?: readonly SessionState[];
  /** Only a session cookie, not an API token (the caller's own account routes). */
  sessionOnly?: boolean;
  /**
   * Bind the rest of the request to the caller's tenant (`Db.bindTenant`); default true. Only the
   * operator routes say false: they act on tenants they name, each through its own `withTenant`.
   */
  bind?: boolean;
}

/**
 * Authentication for every protected route: an API token (`Authorization: Bearer rt_api_…`)
 * or a session cookie. A cookie-authenticated request that changes state must carry the
 * session's CSRF token in X-CSRF-Token (synchronizer token, compared in constant time). The
 * rest of the request is bound to the caller's tenant (`Db.bindTenant`).
 */
export function authenticator(auth: AuthService, tenancy: TenancyRepository, db: Db) {
  return (opts: AuthenticateOptions = {}): RequestHandler =>
    async (req: Request, res: Response, next: NextFunction) => {
      const header = req.get('authorization');
      if (header !== undefined && !opts.sessionOnly) {
        const m = /^Bearer (rt_api_[A-Za-z0-9_-]{43})$/.exec(header);
        if (!m) throw new ProblemError('CLOUD_UNAUTHENTICATED', 'send Authorization: Bearer <API token>');
        const tenantId = await tenancy.tenantForApiToken(m[1]!);
        if (!tenantId) throw new ProblemError('CLOUD_UNAUTHENTICATED', 'the API token is unknown or revoked');
        req.tenantId = tenantId;
        req.principal = { kind: 'api-token', tenantId, id: 'api-token', role: API_TOKEN_ROLE, sites: null };
        return opts.bind === false ? next() : db.bindTenant(tenantId, () => next());
      }
      const n = names(req);
      const cookie = readCookie(req, n.session);
      if (!cookie) {
        throw new ProblemError(
          'CLOUD_UNAUTHENTICATED',
          opts.sessionOnly ? 'sign in first' : 'sign in, or send Authorization: Bearer <API token>',
        );
      }
      const ctx = await auth.resolve(cookie);
      if (!ctx) {
        clearSessionCookies(req, res);
        throw new ProblemError('CLOUD_UNAUTHENTICATED', 'the session has ended; sign in again');
      }
      const states = opts.states ?? ['active'];
      if (!states.includes(ctx.session.state)) {
        throw new ProblemError(
          'CLOUD_SESSION_INCOMPLETE',
          `the session is waiting for: ${ctx.session.state}`,
          {
            state: ctx.session.state,
          },
        );
      }
      if (!SAFE_METHODS.has(req.method) && !sameString(req.get(CSRF_HEADER) ?? '', ctx.session.csrf_token)) {
        throw new ProblemError('CLOUD_CSRF', `send the session's CSRF token in the ${CSRF_HEADER} header`);
      }
      req.tenantId = ctx.user.tenant_id;
      req.principal = ctx.principal;
      req.sessionCtx = ctx;
      if (opts.bind === false) next();
      else db.bindTenant(ctx.user.tenant_id, () => next());
    };
}

/** Why a caller is refused a permission its role or kind does not hold. */
function forbidden(p: Principal): string {
  if (p.kind === 'api-token') return 'API tokens only read; changes are made by a signed-in person';
  if (p.sites !== null) return `the ${p.role} role, limited to sites, may not do this`;
  return `the ${p.role} role may not do this`;
}

/** Deny by default: the caller's role must hold `permission`. Put after authentication. */
export function authorize(permission: Permission): RequestHandler {
  return (req, _res, next) => {
    if (!req.principal) throw new ProblemError('CLOUD_UNAUTHENTICATED');
    if (!can(req.principal, permission)) throw new ProblemError('CLOUD_FORBIDDEN', forbidden(req.principal));
    next();
  };
}

/**
 * Like `authorize`, but a caller without the permission is told the route is not there (404,
 * word for word the answer for an unknown path): the operator routes, which a tenant's users
 * have no business knowing about.
 */
export function authorizeOrHide(permission: Permission): RequestHandler {
  return (req, _res, next) => {
    if (!req.principal) throw new ProblemError('CLOUD_UNAUTHENTICATED');
    if (!can(req.principal, permission))
      throw new ProblemError('CLOUD_NOT_FOUND', `no route for ${req.method} ${req.baseUrl}${req.path}`);
    next();
  };
}

export function principalOf(req: Request): Principal {
  if (!req.principal) throw new ProblemError('CLOUD_UNAUTHENTICATED');
  return req.principal;
}

export function sessionOf(req: Request): SessionContext {
  if (!req.sessionCtx) throw new ProblemError('CLOUD_UNAUTHENTICATED', 'sign in first');
  return req.sessionCtx;
}
