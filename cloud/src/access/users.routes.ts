import { Router, type Request } from 'express';
import { z } from 'zod';
import { userView } from './auth.service.js';
import type { Accounts } from './accounts.js';
import { actorOfRequest, principalOf } from './auth.middleware.js';
import { ROLES } from './policy.js';
import type { Actor } from './users.service.js';
import { parseBody } from '../platform/http/validation.js';

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

  r.get('/users', admin, async (req, res) => {
    res.json({ items: (await svc.list(tenant(req), by(req))).map(userView) });
  });

  r.post('/users', admin, async (req, res) => {
    const body = parseBody(createUser, req);
    const out = await svc.create(by(req), tenant(req), { ...body, sites: body.sites ?? null });
    res.status(201).json({ user: userView(out.user), initialPassword: out.initialPassword });
  });

  r.get('/users/:userId', admin, async (req, res) => {
    res.json(userView(await svc.get(tenant(req), id(req), by(req))));
  });

  r.put('/users/:userId/role', admin, async (req, res) => {
    const body = parseBody(setRole, req);
    res.json(userView(await svc.setRole(by(req), tenant(req), id(req), body.role, body.sites ?? null)));
  });

  r.put('/users/:userId/us-person', admin, async (req, res) => {
    const body = parseBody(setUsPerson, req);
    res.json(userView(await svc.setUsPerson(by(req), tenant(req), id(req), body.usPerson)));
  });

  r.post('/users/:userId/disable', admin, async (req, res) => {
    res.json(userView(await svc.setDisabled(by(req), tenant(req), id(req), true)));
  });

  r.post('/users/:userId/enable', admin, async (req, res) => {
    res.json(userView(await svc.setDisabled(by(req), tenant(req), id(req), false)));
  });

  r.post('/users/:userId/reset-password', admin, async (req, res) => {
    const out = await svc.resetPassword(by(req), tenant(req), id(req));
    res.json({ user: userView(out.user), temporaryPassword: out.temporaryPassword });
  });

  r.post('/users/:userId/reset-mfa', admin, async (req, res) => {
    res.json(userView(await svc.resetMfa(by(req), tenant(req), id(req))));
  });

  r.get('/security/policy', admin, async (req, res) => {
    res.json(await svc.policy(tenant(req)));
  });

  r.put('/security/policy', accounts.require('tenant:manage'), async (req, res) => {
    res.json(await svc.setPolicy(by(req), tenant(req), parseBody(policy, req)));
  });

  return r;
}
