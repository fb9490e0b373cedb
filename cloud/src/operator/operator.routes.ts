import { Router, type Request } from 'express';
import { z } from 'zod';
import { actorOfRequest, userSchema, userView, type Accounts, type Actor } from '../access/index.js';
import { sessionOnly } from '../platform/http/openapi-parts.js';
import { dateTime, mount, operation } from '../platform/http/contract.js';
import { parseBody, parseQuery } from '../platform/http/validation.js';
import { AuditService, auditItem, auditPageQuery } from '../audit/index.js';
import { TENANT_ID, type OperatorService } from './operator.service.js';

const by = (req: Request): Actor => ({ actor: actorOfRequest(req), address: req.ip ?? null });

/**
 * The cloud operators' routes (permission tenants:operate, which no role of a tenant holds): the
 * tenants and creating one with its first admin. Anyone else signed in, and every API token, is
 * answered 404 as for a path that does not exist. The requests are not bound to the operator's
 * realm: the service names each tenant it touches.
 */
export function operatorRoutes(deps: { accounts: Accounts; operator: OperatorService }): Router {
  const r = Router();
  const operator = deps.accounts.requireHidden('tenants:operate');

  mount(r, operatorApi.list, operator, async (_req, res) => {
    res.json({ items: await deps.operator.listTenants() });
  });

  mount(r, operatorApi.create, operator, async (req, res) => {
    const body = parseBody(operatorApi.create, req);
    const out = await deps.operator.createTenant(by(req), body);
    res.status(201).json({
      tenant: out.tenant,
      admin: { user: userView(out.admin!.user), initialPassword: out.admin!.initialPassword },
    });
  });

  mount(r, operatorApi.audit, operator, async (req, res) => {
    const q = parseQuery(operatorApi.audit, req);
    const items = (await deps.operator.auditPage(q.afterSeq, q.limit)).map((row) => AuditService.view(row));
    res.json({ items, next: items.length === q.limit ? items.at(-1)!.seq : null });
  });

  return r;
}

// ---------------------------------------------------------------------------------------------
// The routes' contracts: the API document is written from these schemas (openapi.ts).

const tenantSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    createdAt: dateTime,
    sites: z.int().describe('how many sites it has'),
    users: z.int().describe('how many user accounts it has (disabled ones included)'),
    edges: z.int().describe('how many edges have enrolled in it (retired ones included)'),
  })
  .describe('a tenant as the cloud operators see it: its size, nothing of its data');

const createTenant = z.strictObject({
  id: z
    .string()
    .regex(TENANT_ID, 'lowercase letters, digits and -, at most 63, starting with a letter or digit')
    .describe('the tenant id users type when they sign in'),
  name: z.string().trim().min(1).max(200),
  admin: z
    .strictObject({
      email: z.email().max(254),
      name: z.string().trim().min(1).max(200).optional(),
    })
    .describe('the first admin: every site, a one-time password to change at first sign-in'),
});

const csrf = 'Cookie sessions must send X-CSRF-Token (the csrfToken from sign-in or GET /auth/session).';
const onlyOperators =
  'Cloud operators only (permission tenants:operate, held by no role of a tenant): anyone else is answered 404.';

/** The operator routes' contracts (served by operatorRoutes, documented by openapi.ts). */
export const operatorApi = {
  list: operation({
    method: 'get',
    path: '/operator/tenants',
    summary: "The cloud's tenants, each with its counts of sites, users and edges (cloud operators)",
    description: onlyOperators,
    security: sessionOnly,
    responses: { '200': z.object({ items: z.array(tenantSchema) }).describe('{ items }, oldest first') },
    errors: [401, 403, 404],
  }),
  create: operation({
    method: 'post',
    path: '/operator/tenants',
    summary: 'Create a tenant with its first admin, who gets a one-time password (cloud operators)',
    description: `${onlyOperators} ${csrf} The same as \`rigtrace-cloud tenant create --admin-email\`; audited as tenant.create in the new tenant's log and the operators' own.`,
    security: sessionOnly,
    body: createTenant,
    responses: {
      '201': z
        .object({
          tenant: tenantSchema,
          admin: z.object({
            user: userSchema,
            initialPassword: z.string().describe('shown once; the admin chooses a new one at first sign-in'),
          }),
        })
        .describe('{ tenant, admin: { user, initialPassword } }'),
    },
    errors: [400, 401, 403, 404, 409],
  }),
  audit: operation({
    method: 'get',
    path: '/operator/audit',
    summary:
      "The cloud operators' own audit trail, oldest first: their sign-ins, the tenants they created, operator accounts made, disabled, enabled or whose two-step verification was reset (cloud operators)",
    description: `${onlyOperators} Page with afterSeq = the last page's next. Nothing of any tenant's own log.`,
    security: sessionOnly,
    query: auditPageQuery,
    responses: {
      '200': z.object({ items: z.array(auditItem), next: z.int().nullable() }).describe('{ items, next }'),
    },
    errors: [400, 401, 403, 404],
  }),
} as const;
