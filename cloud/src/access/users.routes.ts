import { Router, type Request } from 'express';
import { z } from 'zod';
import { userView } from './auth.service.js';
import type { Accounts } from './accounts.js';
import { actorOfRequest, principalOf } from './auth.middleware.js';
import { ROLES } from './policy.js';
import type { Actor } from './users.service.js';
import { parseBody } from '../platform/http/validation.js';
import { mount, operation } from '../platform/http/contract.js';
import { userSchema } from './auth.routes.js';

const siteId = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a site id');
const sites = z.array(siteId).min(1).max(1000).nullable().optional();
const createUser = z.strictObject({
  email: z.email().max(254),
  name: z.string().min(1).max(200).optional(),
  role: z.enum(ROLES),
  sites,
  /** Cleared for export-controlled (ITAR/EAR) data; default false. */
  usPerson: z.boolean().optional(),
});
const setUsPerson = z.strictObject({ usPerson: z.boolean() });
const setRole = z.strictObject({ role: z.enum(ROLES), sites });
const policy = z.strictObject({
  mfaRequiredRoles: z.array(z.enum(ROLES)).max(ROLES.length),
  idleTimeoutSeconds: z
    .number()
    .int()
    .min(60)
    .max(24 * 3600),
  absoluteTimeoutSeconds: z
    .number()
    .int()
    .min(300)
    .max(30 * 24 * 3600),
});

const by = (req: Request): Actor => ({
  actor: actorOfRequest(req),
  address: req.ip ?? null,
  sites: principalOf(req).sites,
});

/** Users and the tenant's security policy, for admins (permission users:manage). Every change is audited. */
export function usersRoutes(accounts: Accounts): Router {
  const r = Router();
  const admin = accounts.require('users:manage');
  const svc = accounts.users;
  const tenant = (req: Request) => principalOf(req).tenantId;
  const id = (req: Request) => String(req.params.userId);

  mount(r, usersApi.list, admin, async (req, res) => {
    res.json({ items: (await svc.list(tenant(req), by(req))).map(userView) });
  });

  mount(r, usersApi.create, admin, async (req, res) => {
    const body = parseBody(usersApi.create, req);
    const out = await svc.create(by(req), tenant(req), { ...body, sites: body.sites ?? null });
    res.status(201).json({ user: userView(out.user), initialPassword: out.initialPassword });
  });

  mount(r, usersApi.get, admin, async (req, res) => {
    res.json(userView(await svc.get(tenant(req), id(req), by(req))));
  });

  mount(r, usersApi.setRole, admin, async (req, res) => {
    const body = parseBody(usersApi.setRole, req);
    res.json(userView(await svc.setRole(by(req), tenant(req), id(req), body.role, body.sites ?? null)));
  });

  mount(r, usersApi.setUsPerson, admin, async (req, res) => {
    const body = parseBody(usersApi.setUsPerson, req);
    res.json(userView(await svc.setUsPerson(by(req), tenant(req), id(req), body.usPerson)));
  });

  mount(r, usersApi.disable, admin, async (req, res) => {
    res.json(userView(await svc.setDisabled(by(req), tenant(req), id(req), true)));
  });

  mount(r, usersApi.enable, admin, async (req, res) => {
    res.json(userView(await svc.setDisabled(by(req), tenant(req), id(req), false)));
  });

  mount(r, usersApi.resetPassword, admin, async (req, res) => {
    const out = await svc.resetPassword(by(req), tenant(req), id(req));
    res.json({ user: userView(out.user), temporaryPassword: out.temporaryPassword });
  });

  mount(r, usersApi.resetMfa, admin, async (req, res) => {
    res.json(userView(await svc.resetMfa(by(req), tenant(req), id(req))));
  });

  mount(r, usersApi.policy, admin, async (req, res) => {
    res.json(await svc.policy(tenant(req)));
  });

  mount(r, usersApi.setPolicy, accounts.require('tenant:manage'), async (req, res) => {
    res.json(await svc.setPolicy(by(req), tenant(req), parseBody(usersApi.setPolicy, req)));
  });

  return r;
}

// ---------------------------------------------------------------------------------------------
// The routes' contracts: the API document is written from these schemas (openapi.ts).

const csrf = 'Cookie sessions must send X-CSRF-Token (the csrfToken from sign-in or GET /auth/session).';
const userParams = z.strictObject({ userId: z.string() });
const policyAnswer = z.object({
  mfaRequiredRoles: z.array(z.enum(ROLES)),
  idleTimeoutSeconds: z.int(),
  absoluteTimeoutSeconds: z.int(),
});
const user = userSchema.describe('the user');

/** The user administration routes' contracts (served by usersRoutes, documented by openapi.ts). */
export const usersApi = {
  list: operation({
    method: 'get',
    path: '/users',
    summary: "The tenant's users (admin)",
    responses: { '200': z.object({ items: z.array(userSchema) }).describe('{ items }') },
    errors: [401, 403],
  }),
  create: operation({
    method: 'post',
    path: '/users',
    summary: 'Create a user with a role and optional site scope; returns a one-time initial password (admin)',
    description: csrf,
    body: createUser,
    responses: {
      '201': z
        .object({ user: userSchema, initialPassword: z.string() })
        .describe('{ user, initialPassword }'),
    },
    errors: [400, 401, 403, 409],
  }),
  get: operation({
    method: 'get',
    path: '/users/{userId}',
    summary: 'One user (admin)',
    params: userParams,
    responses: { '200': user },
    errors: [401, 403, 404],
  }),
  setRole: operation({
    method: 'put',
    path: '/users/{userId}/role',
    summary: 'Change the role and site scope (admin)',
    params: userParams,
    body: setRole,
    responses: { '200': user },
    errors: [400, 401, 403, 404, 409],
  }),
  setUsPerson: operation({
    method: 'put',
    path: '/users/{userId}/us-person',
    summary:
      'Mark a user as a US person, cleared for export-controlled (ITAR/EAR) data, or not (admin; audited)',
    params: userParams,
    body: setUsPerson,
    responses: { '200': user },
    errors: [400, 401, 403, 404],
  }),
  disable: operation({
    method: 'post',
    path: '/users/{userId}/disable',
    summary: 'Disable a user and end their sessions (admin)',
    params: userParams,
    responses: { '200': user },
    errors: [401, 403, 404, 409],
  }),
  enable: operation({
    method: 'post',
    path: '/users/{userId}/enable',
    summary: 'Enable a user again (admin)',
    params: userParams,
    responses: { '200': user },
    errors: [401, 403, 404],
  }),
  resetPassword: operation({
    method: 'post',
    path: '/users/{userId}/reset-password',
    summary: 'A one-time temporary password, to be changed at next sign-in; ends their sessions (admin)',
    params: userParams,
    responses: {
      '200': z
        .object({ user: userSchema, temporaryPassword: z.string() })
        .describe('{ user, temporaryPassword }'),
    },
    errors: [401, 403, 404],
  }),
  resetMfa: operation({
    method: 'post',
    path: '/users/{userId}/reset-mfa',
    summary: 'Clear TOTP and backup codes (a lost authenticator); ends their sessions (admin)',
    params: userParams,
    responses: { '200': user },
    errors: [401, 403, 404],
  }),
  policy: operation({
    method: 'get',
    path: '/security/policy',
    summary: "The tenant's MFA requirement and session timeouts (admin)",
    responses: { '200': policyAnswer.describe('the policy') },
    errors: [401, 403],
  }),
  setPolicy: operation({
    method: 'put',
    path: '/security/policy',
    summary: 'Set the MFA requirement per role and the session timeouts (admin)',
    body: policy,
    responses: { '200': policyAnswer.describe('the policy') },
    errors: [400, 401, 403],
  }),
} as const;
