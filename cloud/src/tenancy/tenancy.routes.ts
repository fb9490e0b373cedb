import { Router, type Request } from 'express';
import { z } from 'zod';
import { type Accounts, actorOfRequest, principalOf, seesSite } from '../access/index.js';
import type { Db } from '../platform/db/db.js';
import { ProblemError } from '../platform/errors.js';
import { type RecordsRepository, verifyEdgeLog } from '../records/index.js';
import {
  hashToken,
  isTimeZone,
  tokenId,
  type SiteRow,
  type TenancyRepository,
} from './tenancy.repository.js';
import type { AuditEvent } from '../audit/index.js';
import type { Witness } from '../platform/witness.js';
import { parseBody, parseQuery } from '../platform/http/validation.js';
import { dateTime, mount, operation } from '../platform/http/contract.js';
import { enrollCommand } from './enroll-command.js';
import { shiftsSchema, siteShifts, withEnds } from './shifts.js';
import { sessionOnly as security, tokenOrSession } from '../platform/http/openapi-parts.js';

const ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
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
  db: Db;
  tenancy: TenancyRepository;
  records: RecordsRepository;
  witness: Witness;
  accounts: Accounts;
  /** RIGTRACE_PUBLIC_URL: the address in the enrollment command; none: the request's own. */
  publicUrl?: string | undefined;
  /** Recomputes the due dates of a site's equipment when its time zone changes. */
  calibration?: { refreshSite(tenantId: string, siteId: string): Promise<void> };
}

export type TokenState = 'unused' | 'used' | 'expired' | 'revoked';

const siteView = (s: SiteRow & { edges?: number | string }) => ({
  id: s.id,
  name: s.name,
  timeZone: s.time_zone,
  shifts: withEnds(siteShifts(s.shifts)),
  createdAt: s.created_at,
  edges: Number(s.edges ?? 0),
});

/**
 * The tenant's administration for the portal: sites, one-time edge enrollment tokens, the
 * edges' health (last contact, acknowledged seq, records in the last hour, backlog), verifying
 * an edge's stored log, and API tokens. Admins only: sites:manage for what concerns the caller's
 * sites (an admin limited to sites sees only those, and 404 for the others), tenant:manage for
 * what concerns the whole tenant (new sites, API tokens: never a site-scoped admin); log
 * verification auditors may run too (audit:read). Tokens are shown once, at creation;
 * lists name them by the first 16 hex digits of their hash. Every action is on the audit trail,
 * in the same transaction as the change.
 */
export function tenancyRoutes(deps: TenancyRouteDeps): Router {
  const r = Router();
  const admin = deps.accounts.require('sites:manage');
  const tenantAdmin = deps.accounts.require('tenant:manage');
  const verifier = deps.accounts.require('audit:read');
  const tenant = (req: Request) => principalOf(req).tenantId;
  const audit = (req: Request, e: Omit<AuditEvent, 'tenantId' | 'actor' | 'address'>) =>
    deps.accounts.audit.record({
      tenantId: tenant(req),
      actor: actorOfRequest(req),
      address: req.ip ?? null,
      ...e,
    });
  const siteOr404 = async (req: Request) => {
    const siteId = String(req.params.siteId);
    if (
      !ID.test(siteId) ||
      !seesSite(principalOf(req), siteId) ||
      !(await deps.tenancy.siteExists(tenant(req), siteId))
    )
      throw new ProblemError('CLOUD_NOT_FOUND', 'no such site');
    return siteId;
  };

  // ---- sites ---------------------------------------------------------------------------------

  mount(r, tenancyApi.listSites, admin, async (req, res) => {
    const rows = await deps.tenancy.listSites(tenant(req));
    res.json({ items: rows.filter((s) => seesSite(principalOf(req), s.id)).map(siteView) });
  });

  mount(r, tenancyApi.createSite, tenantAdmin, async (req, res) => {
    const body = parseBody(tenancyApi.createSite, req);
    const t = tenant(req);
    await deps.db.transaction(async () => {
      if (await deps.tenancy.siteExists(t, body.id))
        throw new ProblemError('CLOUD_CONFLICT', `a site ${body.id} exists`);
      await deps.tenancy.createSite(t, body.id, body.name, body.timeZone);
      await audit(req, {
        action: 'site.create',
        outcome: 'success',
        target: { type: 'site', id: body.id },
        after: { id: body.id, name: body.name, timeZone: body.timeZone },
      });
    });
    const site = (await deps.tenancy.listSites(t)).find((s) => s.id === body.id)!;
    res.status(201).json(siteView(site));
  });

  mount(r, tenancyApi.updateSite, admin, async (req, res) => {
    const siteId = await siteOr404(req);
    const body = parseBody(tenancyApi.updateSite, req);
    const t = tenant(req);
    await deps.db.transaction(async () => {
      const before = (await deps.tenancy.sites(t, [siteId]))[0]!;
      const shifts =
        body.shifts === undefined ? (before.shifts ?? null) : body.shifts && JSON.stringify(body.shifts);
      const after = { name: body.name ?? before.name, timeZone: body.timeZone ?? before.time_zone };
      await deps.tenancy.updateSite(t, siteId, { ...after, shifts });
      if (after.timeZone !== before.time_zone) await deps.calibration?.refreshSite(t, siteId);
      await audit(req, {
        action: 'site.update',
        outcome: 'success',
        target: { type: 'site', id: siteId },
        before: { name: before.name, timeZone: before.time_zone, shifts: siteShifts(before.shifts) },
        after: { ...after, shifts: siteShifts(shifts) },
      });
    });
    res.json(siteView((await deps.tenancy.listSites(t)).find((s) => s.id === siteId)!));
  });

  // ---- enrollment tokens ---------------------------------------------------------------------

  mount(r, tenancyApi.listEnrollmentTokens, admin, async (req, res) => {
    const siteId = await siteOr404(req);
    const now = new Date().toISOString();
    const rows = await deps.tenancy.listEnrollmentTokens(tenant(req), siteId);
    res.json({
      items: rows.map((t) => ({
        id: tokenId(t.token_hash),
        siteId: t.site_id,
        createdAt: t.created_at,
        expiresAt: t.expires_at,
        usedAt: t.used_at,
        usedByEdge: t.used_by_edge,
        revokedAt: t.revoked_at,
        state: (t.used_at
          ? 'used'
          : t.revoked_at
            ? 'revoked'
            : t.expires_at <= now
              ? 'expired'
              : 'unused') satisfies TokenState,
      })),
    });
  });

  mount(r, tenancyApi.revokeEnrollmentToken, admin, async (req, res) => {
    const siteId = await siteOr404(req);
    const id = String(req.params.tokenId);
    if (!/^[0-9a-f]{16}$/.test(id)) throw new ProblemError('CLOUD_NOT_FOUND', 'no such enrollment token');
    await deps.db.transaction(async () => {
      const out = await deps.tenancy.revokeEnrollmentToken(tenant(req), siteId, id, new Date().toISOString());
      if (out === 'missing') throw new ProblemError('CLOUD_NOT_FOUND', 'no such enrollment token');
      if (out === 'used')
        throw new ProblemError(
          'CLOUD_CONFLICT',
          'the token has enrolled an edge already: retire the edge instead',
        );
      if (out === 'revoked-already') throw new ProblemError('CLOUD_CONFLICT', 'the token is revoked already');
      await audit(req, {
        action: 'enrollment_token.revoke',
        outcome: 'success',
        target: { type: 'enrollment_token', id },
        after: { siteId },
      });
    });
    res.status(204).end();
  });

  mount(r, tenancyApi.createEnrollmentToken, admin, async (req, res) => {
    const siteId = await siteOr404(req);
    const body = parseBody(tenancyApi.createEnrollmentToken, req);
    const created = await deps.db.transaction(async () => {
      const t = await deps.tenancy.createEnrollmentToken(tenant(req), siteId, body.expiresInHours * 3600_000);
      const id = tokenId(hashToken(t.token));
      await audit(req, {
        action: 'enrollment_token.create',
        outcome: 'success',
        target: { type: 'enrollment_token', id },
        after: { siteId, expiresAt: t.expiresAt },
      });
      return { ...t, id };
    });
    res.status(201).json({
      id: created.id,
      siteId,
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
    const t = tenant(req);
    const hourAgo = new Date(Date.now() - 3600_000).toISOString();
    const [edges, lastHour] = await Promise.all([
      deps.tenancy.listEdges(t),
      deps.records.acceptedSince(t, hourAgo),
    ]);
    res.json({
      items: edges
        .filter((e) => seesSite(principalOf(req), e.site_id))
        .filter((e) => (q.site ? e.site_id === q.site : true))
        .map((e) => ({
          id: e.id,
          siteId: e.site_id,
          name: e.name,
          enrolledAt: e.enrolled_at,
          lastContactAt: e.last_contact_at,
          lastAckedSeq: e.log_size,
          recordsLastHour: lastHour.get(e.id) ?? 0,
          backlog: e.backlog ?? null,
          backlogReportedAt: e.backlog_at ?? null,
          retiredAt: e.retired_at ?? null,
        })),
    });
  });

  mount(r, tenancyApi.retireEdge, admin, async (req, res) => {
    const t = tenant(req);
    const e = await deps.tenancy.edgeForTenant(t, String(req.params.edgeId));
    if (!e || !seesSite(principalOf(req), e.site_id))
      throw new ProblemError('CLOUD_NOT_FOUND', 'no such edge');
    const at = new Date().toISOString();
    await deps.db.transaction(async () => {
      if (!(await deps.tenancy.retireEdge(t, e.id, at)))
        throw new ProblemError('CLOUD_CONFLICT', `edge ${e.id} is retired already`);
      await audit(req, {
        action: 'edge.retire',
        outcome: 'success',
        target: { type: 'edge', id: e.id },
        after: { siteId: e.site_id, name: e.name, retiredAt: at, logSize: e.log_size },
      });
    });
    res.json({ id: e.id, siteId: e.site_id, name: e.name, retiredAt: at });
  });

  mount(r, tenancyApi.verifyEdge, verifier, async (req, res) => {
    const e = await deps.tenancy.edgeForTenant(tenant(req), String(req.params.edgeId));
    if (!e || !seesSite(principalOf(req), e.site_id))
      throw new ProblemError('CLOUD_NOT_FOUND', 'no such edge');
    const result = await deps.db.withTenant(e.tenant_id, () => verifyEdgeLog(e, deps.records, deps.witness));
    await audit(req, {
      action: 'edge.verify',
      outcome: result.ok ? 'success' : 'failure',
      target: { type: 'edge', id: e.id },
      detail: result.ok
        ? `${result.verifiedRecords} records and ${result.verifiedCheckpoints} checkpoints verify`
        : `${result.problem.code}: ${result.problem.message}`.slice(0, 2000),
    });
    res.json(result);
  });

  // ---- API tokens ----------------------------------------------------------------------------

  mount(r, tenancyApi.listApiTokens, tenantAdmin, async (req, res) => {
    const rows = await deps.tenancy.listApiTokens(tenant(req));
    res.json({
      items: rows.map((t) => ({
        id: tokenId(t.token_hash),
        name: t.name,
        createdAt: t.created_at,
        revokedAt: t.revoked_at,
      })),
    });
  });

  mount(r, tenancyApi.createApiToken, tenantAdmin, async (req, res) => {
    const body = parseBody(tenancyApi.createApiToken, req);
    const t = tenant(req);
    const out = await deps.db.transaction(async () => {
      const token = await deps.tenancy.createApiToken(t, body.name);
      const id = tokenId(hashToken(token));
      await audit(req, {
        action: 'api_token.create',
        outcome: 'success',
        target: { type: 'api_token', id },
        after: { name: body.name },
      });
      return { id, token };
    });
    const row = (await deps.tenancy.listApiTokens(t)).find((x) => tokenId(x.token_hash) === out.id)!;
    res.status(201).json({ id: out.id, name: row.name, token: out.token, createdAt: row.created_at });
  });

  mount(r, tenancyApi.revokeApiToken, tenantAdmin, async (req, res) => {
    const id = String(req.params.tokenId);
    if (!/^[0-9a-f]{16}$/.test(id)) throw new ProblemError('CLOUD_NOT_FOUND', 'no such API token');
    await deps.db.transaction(async () => {
      if (!(await deps.tenancy.revokeApiToken(tenant(req), id, new Date().toISOString())))
        throw new ProblemError('CLOUD_NOT_FOUND', 'no such API token, or it is already revoked');
      await audit(req, { action: 'api_token.revoke', outcome: 'success', target: { type: 'api_token', id } });
    });
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
