import { Router, type Request } from 'express';
import { z } from 'zod';
import { type Accounts, callerOf } from '../access/index.js';
import { isTimeZone, type SiteRow } from './tenancy.repository.js';
import { TENANCY_ID as ID, type TenancyService, type TokenState } from './tenancy.service.js';
import { parseBody, parseQuery } from '../platform/http/validation.js';
import { dateTime, mount, operation } from '../platform/http/contract.js';
import { enrollCommand } from './enroll-command.js';
import { shiftsSchema, siteShifts, withEnds } from './shifts.js';
import { sessionOnly as security, tokenOrSession } from '../platform/http/openapi-parts.js';

const timeZone = z
  .string()
  .max(64)
  .refine(isTimeZone, 'must be an IANA time zone, e.g. Europe/Berlin, America/Chicago or UTC');
const siteBody = z.strictObject({
  id: z.string().regex(ID, 'lowercase letters, digits and -, at most 63, starting with a letter or digit'),
  name: z.string().trim().min(1).max(200),
  timeZone: timeZone.default('UTC'),
});
const siteUpdate = z.strictObject({
  name: z.string().trim().min(1).max(200).optional(),
  timeZone: timeZone.optional(),
  /** The site's shifts; null: back to the default ones. */
  shifts: shiftsSchema.nullable().optional(),
});
const tokenBody = z.strictObject({
  expiresInHours: z
    .number()
    .int()
    .min(1)
    .max(24 * 30)
    .default(24),
});
const apiTokenBody = z.strictObject({ name: z.string().trim().min(1).max(100) });
const edgesQuery = z.strictObject({ site: z.string().regex(ID).optional() });

export interface TenancyRouteDeps {
  tenancyAdmin: TenancyService;
  accounts: Accounts;
  /** RIGTRACE_PUBLIC_URL: the address in the enrollment command; none: the request's own. */
  publicUrl?: string | undefined;
}

const siteView = (s: SiteRow & { edges?: number | string }) => ({
  id: s.id,
  name: s.name,
  timeZone: s.time_zone,
  shifts: withEnds(siteShifts(s.shifts)),
  createdAt: s.created_at,
  edges: Number(s.edges ?? 0),
});

/**
 * The tenant's administration for the portal (the rules are TenancyService's): sites, one-time
 * edge enrollment tokens, the edges' health (last contact, acknowledged seq, records in the last
 * hour, backlog), verifying an edge's stored log, and API tokens. Admins only: sites:manage for
 * what concerns the caller's sites (an admin limited to sites sees only those, and 404 for the
 * others), tenant:manage for what concerns the whole tenant (new sites, API tokens: never a
 * site-scoped admin); log verification auditors may run too (audit:read). Tokens are shown once,
 * at creation; lists name them by the first 16 hex digits of their hash.
 */
export function tenancyRoutes(deps: TenancyRouteDeps): Router {
  const r = Router();
  const admin = deps.accounts.require('sites:manage');
  const tenantAdmin = deps.accounts.require('tenant:manage');
  const verifier = deps.accounts.require('audit:read');
  const svc = deps.tenancyAdmin;
  const siteId = (req: Request) => String(req.params.siteId);
  const edgeId = (req: Request) => String(req.params.edgeId);

  // ---- sites ---------------------------------------------------------------------------------

  mount(r, tenancyApi.listSites, admin, async (req, res) => {
    res.json({ items: (await svc.listSites(callerOf(req))).map(siteView) });
  });

  mount(r, tenancyApi.createSite, tenantAdmin, async (req, res) => {
    const body = parseBody(tenancyApi.createSite, req);
    res.status(201).json(siteView(await svc.createSite(callerOf(req), body)));
  });

  mount(r, tenancyApi.updateSite, admin, async (req, res) => {
    const by = callerOf(req);
    // An unknown site is 404 before its body is looked at.
    const site = await svc.site(by, siteId(req));
    const body = parseBody(tenancyApi.updateSite, req);
    res.json(siteView(await svc.updateSite(by, site, body)));
  });

  // ---- enrollment tokens ---------------------------------------------------------------------

  mount(r, tenancyApi.listEnrollmentTokens, admin, async (req, res) => {
    res.json({ items: await svc.listEnrollmentTokens(callerOf(req), siteId(req)) });
  });

  mount(r, tenancyApi.revokeEnrollmentToken, admin, async (req, res) => {
    await svc.revokeEnrollmentToken(callerOf(req), siteId(req), String(req.params.tokenId));
    res.status(204).end();
  });

  mount(r, tenancyApi.createEnrollmentToken, admin, async (req, res) => {
    const by = callerOf(req);
    // An unknown site is 404 before its body is looked at.
    const site = await svc.site(by, siteId(req));
    const body = parseBody(tenancyApi.createEnrollmentToken, req);
    const created = await svc.createEnrollmentToken(by, site, body.expiresInHours);
    res.status(201).json({
      id: created.id,
      siteId: site,
      token: created.token,
      expiresAt: created.expiresAt,
      command: enrollCommand(
        deps.publicUrl ?? `${req.protocol}://${req.get('host') ?? 'localhost'}`,
        created.token,
      ),
      state: 'unused' satisfies TokenState,
    });
  });

  // ---- edges ---------------------------------------------------------------------------------

  mount(r, tenancyApi.edges, admin, async (req, res) => {
    const q = parseQuery(tenancyApi.edges, req);
    const edges = await svc.listEdges(callerOf(req), q.site);
    res.json({
      items: edges.map(({ edge: e, recordsLastHour }) => ({
        id: e.id,
        siteId: e.site_id,
        name: e.name,
        enrolledAt: e.enrolled_at,
        lastContactAt: e.last_contact_at,
        lastAckedSeq: e.log_size,
        recordsLastHour,
        backlog: e.backlog ?? null,
        backlogReportedAt: e.backlog_at ?? null,
        retiredAt: e.retired_at ?? null,
      })),
    });
  });

  mount(r, tenancyApi.retireEdge, admin, async (req, res) => {
    const { edge: e, retiredAt } = await svc.retireEdge(callerOf(req), edgeId(req));
    res.json({ id: e.id, siteId: e.site_id, name: e.name, retiredAt });
  });

  mount(r, tenancyApi.verifyEdge, verifier, async (req, res) => {
    res.json(await svc.verifyEdge(callerOf(req), edgeId(req)));
  });

  // ---- API tokens ----------------------------------------------------------------------------

  mount(r, tenancyApi.listApiTokens, tenantAdmin, async (req, res) => {
    res.json({ items: await svc.listApiTokens(callerOf(req)) });
  });

  mount(r, tenancyApi.createApiToken, tenantAdmin, async (req, res) => {
    const body = parseBody(tenancyApi.createApiToken, req);
    res.status(201).json(await svc.createApiToken(callerOf(req), body.name));
  });

  mount(r, tenancyApi.revokeApiToken, tenantAdmin, async (req, res) => {
    await svc.revokeApiToken(callerOf(req), String(req.params.tokenId));
    res.status(204).end();
  });

  return r;
}

// ---------------------------------------------------------------------------------------------
// The routes' contracts: the API document is written from these schemas (openapi.ts), and the
// portal's typed client from the document.

const str = z.string();
const int = z.int();
const nullableTime = dateTime.nullable();
const list = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item) });

const site = z.object({
  id: str,
  name: str,
  timeZone: str.describe('IANA time zone the site’s pages show times in'),
  shifts: z
    .array(z.object({ name: str, start: str, end: str }))
    .describe('the site’s shifts by start (local "HH:MM"), each ending where the next starts'),
  createdAt: dateTime,
  edges: int,
});
const tokenState = z.enum(['unused', 'used', 'expired', 'revoked']);
const enrollmentToken = z.object({
  id: str,
  siteId: str,
  createdAt: dateTime,
  expiresAt: dateTime,
  usedAt: nullableTime,
  usedByEdge: str.nullable(),
  revokedAt: nullableTime,
  state: tokenState,
});
const edgeHealth = z.object({
  id: str,
  siteId: str,
  name: str,
  enrolledAt: dateTime,
  lastContactAt: nullableTime,
  lastAckedSeq: int.describe('the last seq the cloud has accepted (the log size)'),
  recordsLastHour: int.describe('records accepted in the last hour'),
  backlog: int
    .nullable()
    .describe('records the edge still held unsent when its last batch was accepted (null: never reported)'),
  backlogReportedAt: nullableTime,
  retiredAt: nullableTime.describe('retired: its key is refused from then on; its records stay'),
});
const verification = z.object({
  ok: z.boolean(),
  edgeId: str,
  checkedAt: dateTime,
  size: int,
  verifiedRecords: int,
  verifiedCheckpoints: int,
  root: str.nullable().optional().describe('base64 Merkle root of the whole log (when ok)'),
  problem: z
    .object({
      code: z.enum([
        'RECORD_MISSING',
        'RECORD_NOT_CANONICAL',
        'RECORD_MISMATCH',
        'LEAF_HASH_MISMATCH',
        'CHECKPOINT_SIGNATURE',
        'CHECKPOINT_MISMATCH',
        'ROOT_MISMATCH',
        'COSIGNATURE',
        'CHECKPOINT_ORDER',
        'RECORDS_BEYOND_CHECKPOINT',
        'EDGE_STATE_MISMATCH',
      ]),
      message: str,
      seq: int.optional(),
      checkpointSize: int.optional(),
    })
    .optional(),
});
const apiToken = z.object({ id: str, name: str, createdAt: dateTime, revokedAt: nullableTime });
const revoked = { description: 'revoked' };

/** The administration routes' contracts (served by tenancyRoutes, documented by openapi.ts). */
export const tenancyApi = {
  listSites: operation({
    method: 'get',
    path: '/sites',
    summary: "The tenant's sites, with how many edges each has (admin)",
    security,
    responses: { '200': list(site) },
    errors: [401, 403],
  }),
  createSite: operation({
    method: 'post',
    path: '/sites',
    summary: 'Create a site (admin)',
    security,
    body: siteBody,
    responses: { '201': site.describe('the site') },
    errors: [400, 401, 403, 409],
  }),
  updateSite: operation({
    method: 'put',
    path: '/sites/{siteId}',
    summary: 'Rename a site or set its time zone or shifts (admin)',
    description:
      'shifts: 1–6 of { name, start: "HH:MM" } in the site’s time zone, on quarter hours; each runs until the next starts, and belongs to the day it starts on. null: back to the default (Early 06:00, Late 14:00, Night 22:00). First-pass yield per shift (GET /yield) uses them. A new timeZone recounts the next due date of the site’s equipment from the local day of its last valid calibration.',
    security,
    body: siteUpdate,
    responses: { '200': site.describe('the site') },
    errors: [400, 401, 403, 404],
  }),
  revokeEnrollmentToken: operation({
    method: 'delete',
    path: '/sites/{siteId}/enrollment-tokens/{tokenId}',
    summary: 'Revoke an unused enrollment token (admin): it no longer enrolls an edge',
    security,
    responses: { '204': revoked },
    errors: [401, 403, 404, 409],
  }),
  listEnrollmentTokens: operation({
    method: 'get',
    path: '/sites/{siteId}/enrollment-tokens',
    summary: "A site's edge enrollment tokens and their state, never the tokens themselves (admin)",
    security,
    responses: { '200': list(enrollmentToken) },
    errors: [401, 403, 404],
  }),
  createEnrollmentToken: operation({
    method: 'post',
    path: '/sites/{siteId}/enrollment-tokens',
    summary: 'A one-time edge enrollment token for the site, shown once (admin)',
    description:
      'Give it to the line PC before it expires: `command` is what to run there (`sudo -u rigtrace rigtrace-edge enroll --config /etc/rigtrace/edge.yaml --cloud <RIGTRACE_PUBLIC_URL> --token <token>`).',
    security,
    body: tokenBody,
    responses: {
      '201': z
        .object({ id: str, siteId: str, token: str, expiresAt: dateTime, state: tokenState, command: str })
        .describe('the token, and the command that enrolls an edge with it'),
    },
    errors: [400, 401, 403, 404],
  }),
  edges: operation({
    method: 'get',
    path: '/admin/edges',
    summary:
      "Every edge's health: last contact, last acknowledged seq, records in the last hour, backlog (admin)",
    security,
    query: edgesQuery,
    responses: { '200': list(edgeHealth) },
    errors: [400, 401, 403],
  }),
  retireEdge: operation({
    method: 'post',
    path: '/admin/edges/{edgeId}/retire',
    summary:
      'Retire an edge (admin): its key is refused from then on (403 CLOUD_EDGE_RETIRED, a security event); its records and checkpoints stay',
    security,
    responses: {
      '200': z.object({ id: str, siteId: str, name: str, retiredAt: dateTime }).describe('the retired edge'),
    },
    errors: [401, 403, 404, 409],
  }),
  verifyEdge: operation({
    method: 'post',
    path: '/edges/{edgeId}/verify',
    summary: "Recompute the edge's stored log and check it against its signed checkpoints (admin, auditor)",
    description:
      'Leaf hashes from the stored records, the Merkle root at each accepted checkpoint (so each checkpoint is consistent with the earlier ones), the edge’s signature and the witness’s cosignature on each, and the edge’s log state. The answer names the first problem found.',
    security: tokenOrSession,
    responses: { '200': verification },
    errors: [401, 403, 404],
  }),
  listApiTokens: operation({
    method: 'get',
    path: '/api-tokens',
    summary:
      "The tenant's API tokens (read-only service accounts with the auditor role), never the tokens (admin)",
    security,
    responses: { '200': list(apiToken) },
    errors: [401, 403],
  }),
  createApiToken: operation({
    method: 'post',
    path: '/api-tokens',
    summary: 'Create an API token, shown once (admin)',
    security,
    body: apiTokenBody,
    responses: {
      '201': z.object({ id: str, name: str, token: str, createdAt: dateTime }).describe('the token'),
    },
    errors: [400, 401, 403],
  }),
  revokeApiToken: operation({
    method: 'delete',
    path: '/api-tokens/{tokenId}',
    summary: 'Revoke an API token at once (admin)',
    security,
    responses: { '204': revoked },
    errors: [401, 403, 404],
  }),
} as const;
