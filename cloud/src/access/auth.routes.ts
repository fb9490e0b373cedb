import { Router } from 'express';
import { z } from 'zod';
import { userView } from './auth.service.js';
import type { Accounts } from './accounts.js';
import { clearSessionCookies, requestInfo, sessionOf, setSessionCookies } from './auth.middleware.js';
import { ProblemError } from '../platform/errors.js';
import type { SessionState } from './sessions.repository.js';
import { problem, sessionOnly as session, tokenOrSession as either } from '../platform/http/openapi-parts.js';
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

  r.post('/auth/login', async (req, res) => {
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
    const body = parseBody(login, req);
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

  r.post('/auth/login/mfa', session('mfa'), async (req, res) => {
    const issued = await auth.completeMfa(sessionOf(req), parseBody(code, req).code, requestInfo(req));
    setSessionCookies(req, res, issued);
    res.json({ state: issued.state, csrfToken: issued.csrfToken, expiresAt: issued.expiresAt });
  });

  r.get('/auth/session', session(...ALL_STATES), async (req, res) => {
    const ctx = sessionOf(req);
    res.json({
      state: ctx.session.state,
      csrfToken: ctx.session.csrf_token,
      expiresAt: ctx.session.expires_at,
      user: userView(ctx.user),
      backupCodesLeft: ctx.user.totp_enabled_at ? await auth.unusedBackupCodes(ctx.user) : null,
    });
  });

  r.post('/auth/logout', session(...ALL_STATES), async (req, res) => {
    await auth.logout(sessionOf(req), false, requestInfo(req));
    clearSessionCookies(req, res);
    res.status(204).end();
  });

  r.post('/auth/logout-all', session('active'), async (req, res) => {
    const revoked = await auth.logout(sessionOf(req), true, requestInfo(req));
    clearSessionCookies(req, res);
    res.json({ revoked });
  });

  r.post('/auth/password', session('active', 'change_password'), async (req, res) => {
    const body = parseBody(passwordChange, req);
    const issued = await auth.changePassword(
      sessionOf(req),
      body.currentPassword,
      body.newPassword,
      requestInfo(req),
    );
    setSessionCookies(req, res, issued);
    res.json({ state: issued.state, csrfToken: issued.csrfToken, expiresAt: issued.expiresAt });
  });

  r.post('/auth/mfa/totp/enroll', session('active', 'enroll_mfa'), async (req, res) => {
    const body = parseBody(enroll, req);
    res.json(await auth.startTotp(sessionOf(req), body.password, requestInfo(req)));
  });

  r.post('/auth/mfa/totp/confirm', session('active', 'enroll_mfa'), async (req, res) => {
    const out = await auth.confirmTotp(sessionOf(req), parseBody(code, req).code, requestInfo(req));
    if (out.issued) setSessionCookies(req, res, out.issued);
    res.json({
      backupCodes: out.backupCodes,
      ...(out.issued ? { state: out.issued.state, csrfToken: out.issued.csrfToken } : {}),
    });
  });

  r.post('/auth/mfa/totp/disable', session('active'), async (req, res) => {
    const body = parseBody(reauth, req);
    await auth.disableTotp(sessionOf(req), body.password, body.code, requestInfo(req));
    res.status(204).end();
  });

  r.post('/auth/mfa/backup-codes', session('active'), async (req, res) => {
    const body = parseBody(reauth, req);
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

const json = (properties: Record<string, unknown>, required: string[] = []) => ({
  required: true,
  content: { 'application/json': { schema: { type: 'object', required, properties } } },
});
const str = { type: 'string' };
const userId = [{ name: 'userId', in: 'path', required: true, schema: str }];
const csrf = 'Cookie sessions must send X-CSRF-Token (the csrfToken from sign-in or GET /auth/session).';
const ok = (description: string) => ({ description });
const guarded = { '401': problem, '403': problem };
const roleBody = json(
  {
    role: { enum: ['admin', 'manager', 'technician', 'auditor'] },
    sites: { type: ['array', 'null'], items: str, description: 'site ids; null or absent: every site' },
  },
  ['role'],
);
const policyBody = json(
  {
    mfaRequiredRoles: { type: 'array', items: { enum: ['admin', 'manager', 'technician', 'auditor'] } },
    idleTimeoutSeconds: { type: 'integer', minimum: 60 },
    absoluteTimeoutSeconds: { type: 'integer', minimum: 300 },
  },
  ['mfaRequiredRoles', 'idleTimeoutSeconds', 'absoluteTimeoutSeconds'],
);

/** The OpenAPI paths of the account, users and audit routes (merged into openapi.ts). */
export const accountsOpenApiPaths = {
  '/auth/login': {
    post: {
      summary: 'Sign in (step one): tenant, email and password',
      description:
        'Sets the HttpOnly session cookie and the CSRF cookie. `state` says what is still needed: `mfa` (POST /auth/login/mfa), `change_password`, `enroll_mfa`, or `active`. Failures are one generic 401; repeated failures lock the account and the address for a growing time (429 with Retry-After).',
      requestBody: json({ tenant: str, email: str, password: str }, ['tenant', 'email', 'password']),
      responses: {
        '200': ok('{ state, csrfToken, expiresAt, user }'),
        '400': problem,
        '401': problem,
        '429': problem,
      },
    },
  },
  '/auth/login/mfa': {
    post: {
      summary: 'Sign in (step two): a TOTP code or an unused backup code',
      security: session,
      description: csrf,
      requestBody: json({ code: str }, ['code']),
      responses: { '200': ok('{ state, csrfToken, expiresAt }'), ...guarded, '429': problem },
    },
  },
  '/auth/session': {
    get: {
      summary: 'The current session, its CSRF token and the signed-in user',
      security: session,
      responses: { '200': ok('{ state, csrfToken, expiresAt, user, backupCodesLeft }'), '401': problem },
    },
  },
  '/auth/logout': {
    post: {
      summary: 'End this session',
      security: session,
      description: csrf,
      responses: { '204': ok('ended'), ...guarded },
    },
  },
  '/auth/logout-all': {
    post: {
      summary: 'End every session of the signed-in user',
      security: session,
      description: csrf,
      responses: { '200': ok('{ revoked }'), ...guarded },
    },
  },
  '/auth/password': {
    post: {
      summary: 'Change the password (ends every other session)',
      security: session,
      description: csrf,
      requestBody: json({ currentPassword: str, newPassword: str }, ['currentPassword', 'newPassword']),
      responses: { '200': ok('{ state, csrfToken, expiresAt }'), '400': problem, ...guarded },
    },
  },
  '/auth/mfa/totp/enroll': {
    post: {
      summary:
        'Start TOTP enrolment: a new secret, its otpauth:// URI and a QR code (SVG) of it (password required from a complete session)',
      security: session,
      description: csrf,
      requestBody: json({ password: str }),
      responses: {
        '200': {
          description: 'the new secret, its otpauth:// URI and that URI as a QR code (SVG) to scan',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['secret', 'otpauthUri', 'qrSvg'],
                properties: {
                  secret: { type: 'string', description: 'base32' },
                  otpauthUri: { type: 'string' },
                  qrSvg: { type: 'string', description: 'an <svg> document of the otpauth:// URI' },
                },
              },
            },
          },
        },
        ...guarded,
        '409': problem,
      },
    },
  },
  '/auth/mfa/totp/confirm': {
    post: {
      summary: 'Confirm TOTP enrolment with a code; returns ten one-time backup codes, once',
      security: session,
      description: csrf,
      requestBody: json({ code: str }, ['code']),
      responses: { '200': ok('{ backupCodes, state?, csrfToken? }'), '400': problem, ...guarded },
    },
  },
  '/auth/mfa/totp/disable': {
    post: {
      summary: 'Disable TOTP (password and a current code required)',
      security: session,
      description: csrf,
      requestBody: json({ password: str, code: str }, ['password', 'code']),
      responses: { '204': ok('disabled'), ...guarded, '409': problem },
    },
  },
  '/auth/mfa/backup-codes': {
    post: {
      summary: 'Replace the backup codes (password and a current code required)',
      security: session,
      description: csrf,
      requestBody: json({ password: str, code: str }, ['password', 'code']),
      responses: { '200': ok('{ backupCodes }'), ...guarded, '409': problem },
    },
  },
  '/users': {
    get: {
      summary: "The tenant's users (admin)",
      security: either,
      responses: { '200': ok('{ items }'), ...guarded },
    },
    post: {
      summary:
        'Create a user with a role and optional site scope; returns a one-time initial password (admin)',
      security: either,
      description: csrf,
      requestBody: json(
        {
          email: str,
          name: str,
          role: { enum: ['admin', 'manager', 'technician', 'auditor'] },
          sites: { type: ['array', 'null'], items: str },
          usPerson: { type: 'boolean', description: 'cleared for ITAR/EAR data (default false)' },
        },
        ['email', 'role'],
      ),
      responses: { '201': ok('{ user, initialPassword }'), '400': problem, ...guarded, '409': problem },
    },
  },
  '/users/{userId}': {
    get: {
      summary: 'One user (admin)',
      security: either,
      parameters: userId,
      responses: { '200': ok('User'), ...guarded, '404': problem },
    },
  },
  '/users/{userId}/role': {
    put: {
      summary: 'Change the role and site scope (admin)',
      security: either,
      parameters: userId,
      requestBody: roleBody,
      responses: { '200': ok('User'), '400': problem, ...guarded, '404': problem, '409': problem },
    },
  },
  '/users/{userId}/us-person': {
    put: {
      summary:
        'Mark a user as a US person, cleared for export-controlled (ITAR/EAR) data, or not (admin; audited)',
      security: either,
      parameters: userId,
      requestBody: json({ usPerson: { type: 'boolean' } }, ['usPerson']),
      responses: { '200': ok('User (with usPerson)'), '400': problem, ...guarded, '404': problem },
    },
  },
  '/users/{userId}/disable': {
    post: {
      summary: 'Disable a user and end their sessions (admin)',
      security: either,
      parameters: userId,
      responses: { '200': ok('User'), ...guarded, '404': problem, '409': problem },
    },
  },
  '/users/{userId}/enable': {
    post: {
      summary: 'Enable a user again (admin)',
      security: either,
      parameters: userId,
      responses: { '200': ok('User'), ...guarded, '404': problem },
    },
  },
  '/users/{userId}/reset-password': {
    post: {
      summary: 'A one-time temporary password, to be changed at next sign-in; ends their sessions (admin)',
      security: either,
      parameters: userId,
      responses: { '200': ok('{ user, temporaryPassword }'), ...guarded, '404': problem },
    },
  },
  '/users/{userId}/reset-mfa': {
    post: {
      summary: 'Clear TOTP and backup codes (a lost authenticator); ends their sessions (admin)',
      security: either,
      parameters: userId,
      responses: { '200': ok('User'), ...guarded, '404': problem },
    },
  },
  '/security/policy': {
    get: {
      summary: "The tenant's MFA requirement and session timeouts (admin)",
      security: either,
      responses: {
        '200': ok('{ mfaRequiredRoles, idleTimeoutSeconds, absoluteTimeoutSeconds }'),
        ...guarded,
      },
    },
    put: {
      summary: 'Set the MFA requirement per role and the session timeouts (admin)',
      security: either,
      requestBody: policyBody,
      responses: { '200': ok('the policy'), '400': problem, ...guarded },
    },
  },
  '/audit': {
    get: {
      summary: "The tenant's audit trail, oldest first (admin, auditor, API tokens)",
      security: either,
      parameters: [
        { name: 'afterSeq', in: 'query', schema: { type: 'integer', minimum: 0 } },
        { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
      ],
      responses: {
        '200': ok('{ items: [{ seq, entry, leafHash, checkpoint }], next }'),
        '400': problem,
        ...guarded,
      },
    },
  },
  '/audit/verify': {
    get: {
      summary: 'Recompute the audit log and name the first entry that does not verify',
      security: either,
      responses: {
        '200': ok(
          '{ ok: true, size, root, checkpoint } or { ok: false, size, verified, firstBad: { seq, reason } }',
        ),
        ...guarded,
      },
    },
  },
  '/audit/export': {
    get: {
      summary: 'The audit trail as JSON lines for a SIEM, from afterSeq on (audited)',
      security: either,
      parameters: [{ name: 'afterSeq', in: 'query', schema: { type: 'integer', minimum: 0 } }],
      responses: {
        '200': {
          description: 'one { seq, entry, leafHash, checkpoint } per line',
          content: { 'application/x-ndjson': {} },
        },
        '400': problem,
        ...guarded,
      },
    },
  },
} as const;
