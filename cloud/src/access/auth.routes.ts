import { Router } from 'express';
import { z } from 'zod';
import { userView } from './auth.service.js';
import type { Accounts } from './accounts.js';
import { clearSessionCookies, requestInfo, sessionOf, setSessionCookies } from './auth.middleware.js';
import { ProblemError } from '../platform/errors.js';
import { OPERATOR_ROLE, PERMISSIONS, ROLES, ROLE_PERMISSIONS, permissionsOf } from './policy.js';
import type { SessionState } from './sessions.repository.js';
import { sessionOnly as session } from '../platform/http/openapi-parts.js';
import { dateTime, mount, operation } from '../platform/http/contract.js';
import { parseBody } from '../platform/http/validation.js';

const login = z.strictObject({
  tenant: z.string().min(1).max(64),
  email: z.string().min(1).max(254),
  password: z.string().min(1).max(1024),
});
const code = z.strictObject({ code: z.string().min(6).max(32) });
const passwordChange = z.strictObject({
  currentPassword: z.string().min(1).max(1024),
  newPassword: z.string().min(1).max(1024),
});
const enroll = z.strictObject({ password: z.string().max(1024).optional() });
const reauth = z.strictObject({ password: z.string().min(1).max(1024), code: z.string().min(6).max(32) });

const ALL_STATES: SessionState[] = ['active', 'mfa', 'enroll_mfa', 'change_password'];

/**
 * The caller's own account: sign-in (two steps when MFA is on), the session, sign-out here or
 * everywhere, password change, TOTP enrolment and backup codes.
 */
export function authRoutes(accounts: Accounts): Router {
  const r = Router();
  const { auth } = accounts;
  const session = (...states: SessionState[]) => accounts.authenticate({ sessionOnly: true, states });

  mount(r, authApi.login, async (req, res) => {
    const info = requestInfo(req);
    const wait = await accounts.throttle.rate(
      'login',
      info.address,
      accounts.throttle.policy.loginRatePerMinute,
    );
    if (wait > 0) {
      res.setHeader('retry-after', String(wait));
      throw new ProblemError('CLOUD_RATE_LIMITED', 'too many sign-in requests from this address', {
        retryAfter: wait,
      });
    }
    const body = parseBody(authApi.login, req);
    try {
      const { issued, user } = await auth.login(body, info);
      setSessionCookies(req, res, issued);
      res.json({
        state: issued.state,
        csrfToken: issued.csrfToken,
        expiresAt: issued.expiresAt,
        user: issued.state === 'active' ? userView(user) : null,
      });
    } catch (err) {
      if (err instanceof ProblemError && err.code === 'CLOUD_RATE_LIMITED') {
        res.setHeader('retry-after', String(Number(err.extensions.retryAfter ?? 60)));
      }
      throw err;
    }
  });

  mount(r, authApi.loginMfa, session('mfa'), async (req, res) => {
    const issued = await auth.completeMfa(
      sessionOf(req),
      parseBody(authApi.loginMfa, req).code,
      requestInfo(req),
    );
    setSessionCookies(req, res, issued);
    res.json({ state: issued.state, csrfToken: issued.csrfToken, expiresAt: issued.expiresAt });
  });

  mount(r, authApi.session, session(...ALL_STATES), async (req, res) => {
    const ctx = sessionOf(req);
    res.json({
      state: ctx.session.state,
      csrfToken: ctx.session.csrf_token,
      expiresAt: ctx.session.expires_at,
      user: userView(ctx.user),
      backupCodesLeft: ctx.user.totp_enabled_at ? await auth.unusedBackupCodes(ctx.user) : null,
      // What the signed-in user may do, from the access policy (the portal's menu follows it).
      permissions: ctx.session.state === 'active' ? permissionsOf(ctx.principal) : [],
      // The sites the user sees, and the time zone each one's pages show times in.
      sites: ctx.session.state === 'active' ? await accounts.sitesOf(ctx.principal) : [],
      // The tenant's idle timeout, so the portal warns before the cloud ends the session.
      idleTimeoutSeconds: (await accounts.users.policy(ctx.user.tenant_id)).idleTimeoutSeconds,
    });
  });

  mount(r, authApi.policy, session('active'), (_req, res) => {
    res.json({
      roles: ROLES.map((role) => ({
        role,
        permissions: PERMISSIONS.filter((p) => ROLE_PERMISSIONS[role].has(p)),
      })),
    });
  });

  mount(r, authApi.logout, session(...ALL_STATES), async (req, res) => {
    await auth.logout(sessionOf(req), false, requestInfo(req));
    clearSessionCookies(req, res);
    res.status(204).end();
  });

  mount(r, authApi.logoutAll, session('active'), async (req, res) => {
    const revoked = await auth.logout(sessionOf(req), true, requestInfo(req));
    clearSessionCookies(req, res);
    res.json({ revoked });
  });

  mount(r, authApi.password, session('active', 'change_password'), async (req, res) => {
    const body = parseBody(authApi.password, req);
    const issued = await auth.changePassword(
      sessionOf(req),
      body.currentPassword,
      body.newPassword,
      requestInfo(req),
    );
    setSessionCookies(req, res, issued);
    res.json({ state: issued.state, csrfToken: issued.csrfToken, expiresAt: issued.expiresAt });
  });

  mount(r, authApi.totpEnroll, session('active', 'enroll_mfa'), async (req, res) => {
    const body = parseBody(authApi.totpEnroll, req);
    res.json(await auth.startTotp(sessionOf(req), body.password, requestInfo(req)));
  });

  mount(r, authApi.totpConfirm, session('active', 'enroll_mfa'), async (req, res) => {
    const out = await auth.confirmTotp(
      sessionOf(req),
      parseBody(authApi.totpConfirm, req).code,
      requestInfo(req),
    );
    if (out.issued) setSessionCookies(req, res, out.issued);
    res.json({
      backupCodes: out.backupCodes,
      ...(out.issued ? { state: out.issued.state, csrfToken: out.issued.csrfToken } : {}),
    });
  });

  mount(r, authApi.totpDisable, session('active'), async (req, res) => {
    const body = parseBody(authApi.totpDisable, req);
    await auth.disableTotp(sessionOf(req), body.password, body.code, requestInfo(req));
    res.status(204).end();
  });

  mount(r, authApi.backupCodes, session('active'), async (req, res) => {
    const body = parseBody(authApi.backupCodes, req);
    res.json({
      backupCodes: await auth.regenerateBackupCodes(
        sessionOf(req),
        body.password,
        body.code,
        requestInfo(req),
      ),
    });
  });

  return r;
}

// ---------------------------------------------------------------------------------------------
// The routes' contracts: the API document is written from these schemas (openapi.ts).

const csrf = 'Cookie sessions must send X-CSRF-Token (the csrfToken from sign-in or GET /auth/session).';
const str = z.string();
const sessionState = z.enum(['active', 'mfa', 'enroll_mfa', 'change_password']);
/** A user as the API shows one (auth.service's userView). */
export const userSchema = z.object({
  id: str,
  email: str,
  name: str,
  role: z.enum([...ROLES, OPERATOR_ROLE]).describe('a role of the tenant; `operator`: a cloud operator'),
  sites: z.array(str).nullable().describe('site ids; null: every site'),
  mfa: z.boolean(),
  mustChangePassword: z.boolean(),
  disabled: z.boolean(),
  usPerson: z.boolean().describe('cleared for export-controlled (ITAR/EAR) data'),
  createdAt: dateTime,
});
const issuedSchema = z.object({ state: sessionState, csrfToken: str, expiresAt: dateTime });

/** The account routes' contracts (served by authRoutes, documented by openapi.ts). */
export const authApi = {
  login: operation({
    method: 'post',
    path: '/auth/login',
    summary: 'Sign in (step one): tenant, email and password',
    description:
      'Sets the HttpOnly session cookie and the CSRF cookie. `state` says what is still needed: `mfa` (POST /auth/login/mfa), `change_password`, `enroll_mfa`, or `active`. Failures are one generic 401; repeated failures lock the account and the address for a growing time (429 with Retry-After).',
    security: [],
    body: login,
    responses: {
      '200': issuedSchema
        .extend({ user: userSchema.nullable().describe('when the session is active') })
        .describe('{ state, csrfToken, expiresAt, user }'),
    },
    errors: [400, 401, 429],
  }),
  loginMfa: operation({
    method: 'post',
    path: '/auth/login/mfa',
    summary: 'Sign in (step two): a TOTP code or an unused backup code',
    security: session,
    description: csrf,
    body: code,
    responses: { '200': issuedSchema.describe('{ state, csrfToken, expiresAt }') },
    errors: [400, 401, 403, 429],
  }),
  session: operation({
    method: 'get',
    path: '/auth/session',
    summary: 'The current session, its CSRF token and the signed-in user',
    security: session,
    responses: {
      '200': issuedSchema
        .extend({
          user: userSchema,
          backupCodesLeft: z.int().nullable().describe('null: no TOTP'),
          permissions: z.array(z.enum(PERMISSIONS)).describe('what the user may do (none until active)'),
          sites: z
            .array(z.object({ id: str, name: str, timeZone: str }))
            .describe('the sites the user sees, each with the time zone its pages show times in'),
          idleTimeoutSeconds: z
            .int()
            .describe("the tenant's idle timeout: a session unused this long is ended by the cloud"),
        })
        .describe('the session'),
    },
    errors: [401],
  }),
  policy: operation({
    method: 'get',
    path: '/auth/policy',
    summary: 'The access policy: each role and the permissions it holds (who may approve, decide, manage)',
    security: session,
    responses: {
      '200': z
        .object({
          roles: z.array(z.object({ role: z.enum(ROLES), permissions: z.array(z.enum(PERMISSIONS)) })),
        })
        .describe('{ roles: [{ role, permissions }] }'),
    },
    errors: [401],
  }),
  logout: operation({
    method: 'post',
    path: '/auth/logout',
    summary: 'End this session',
    security: session,
    description: csrf,
    responses: { '204': { description: 'ended' } },
    errors: [401, 403],
  }),
  logoutAll: operation({
    method: 'post',
    path: '/auth/logout-all',
    summary: 'End every session of the signed-in user',
    security: session,
    description: csrf,
    responses: { '200': z.object({ revoked: z.int() }).describe('{ revoked }') },
    errors: [401, 403],
  }),
  password: operation({
    method: 'post',
    path: '/auth/password',
    summary: 'Change the password (ends every other session)',
    security: session,
    description: csrf,
    body: passwordChange,
    responses: { '200': issuedSchema.describe('{ state, csrfToken, expiresAt }') },
    errors: [400, 401, 403],
  }),
  totpEnroll: operation({
    method: 'post',
    path: '/auth/mfa/totp/enroll',
    summary:
      'Start TOTP enrolment: a new secret, its otpauth:// URI and a QR code (SVG) of it (password required from a complete session)',
    security: session,
    description: csrf,
    body: enroll,
    responses: {
      '200': z
        .object({
          secret: str.describe('base32'),
          otpauthUri: str,
          qrSvg: str.describe('an <svg> document of the otpauth:// URI'),
        })
        .describe('the new secret, its otpauth:// URI and that URI as a QR code (SVG) to scan'),
    },
    errors: [400, 401, 403, 409],
  }),
  totpConfirm: operation({
    method: 'post',
    path: '/auth/mfa/totp/confirm',
    summary: 'Confirm TOTP enrolment with a code; returns ten one-time backup codes, once',
    security: session,
    description: csrf,
    body: code,
    responses: {
      '200': z
        .object({ backupCodes: z.array(str), state: sessionState.optional(), csrfToken: str.optional() })
        .describe('{ backupCodes, state?, csrfToken? }'),
    },
    errors: [400, 401, 403],
  }),
  totpDisable: operation({
    method: 'post',
    path: '/auth/mfa/totp/disable',
    summary: 'Disable TOTP (password and a current code required)',
    security: session,
    description: csrf,
    body: reauth,
    responses: { '204': { description: 'disabled' } },
    errors: [400, 401, 403, 409],
  }),
  backupCodes: operation({
    method: 'post',
    path: '/auth/mfa/backup-codes',
    summary: 'Replace the backup codes (password and a current code required)',
    security: session,
    description: csrf,
    body: reauth,
    responses: { '200': z.object({ backupCodes: z.array(str) }).describe('{ backupCodes }') },
    errors: [400, 401, 403, 409],
  }),
} as const;
