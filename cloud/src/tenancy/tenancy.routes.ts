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
import { parseBody } from '../platform/http/validation.js';
import { enrollCommand } from './enroll-command.js';
import { shiftsSchema, siteShifts, withEnds } from './shifts.js';
import { problem, sessionOnly as security, tokenOrSession } from '../platform/http/openapi-parts.js';

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

  r.get('/sites', admin, async (req, res) => {
    const rows = await deps.tenancy.listSites(tenant(req));
    res.json({ items: rows.filter((s) => seesSite(principalOf(req), s.id)).map(siteView) });
  });

  r.post('/sites', tenantAdmin, async (req, res) => {
    const body = parseBody(siteBody, req);
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

  r.put('/sites/:siteId', admin, async (req, res) => {
    const siteId = await siteOr404(req);
    const body = parseBody(siteUpdate, req);
    const t = tenant(req);
    await deps.db.transaction(async () => {
      const before = (await deps.tenancy.sites(t, [siteId]))[0]!;
      const shifts =
        body.shifts === undefined ? (before.shifts ?? null) : body.shifts && JSON.stringify(body.shifts);
      const after = { name: body.name ?? before.name, timeZone: body.timeZone ?? before.time_zone };
      await deps.tenancy.updateSite(t, siteId, { ...after, shifts });
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

  r.get('/sites/:siteId/enrollment-tokens', admin, async (req, res) => {
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

  r.delete('/sites/:siteId/enrollment-tokens/:tokenId', admin, async (req, res) => {
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

  r.post('/sites/:siteId/enrollment-tokens', admin, async (req, res) => {
    const siteId = await siteOr404(req);
    const body = parseBody(tokenBody, req);
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

  r.get('/admin/edges', admin, async (req, res) => {
    const q = edgesQuery.safeParse(req.query);
    if (!q.success) throw new ProblemError('CLOUD_VALIDATION', 'query parameters are not valid');
    const t = tenant(req);
    const hourAgo = new Date(Date.now() - 3600_000).toISOString();
    const [edges, lastHour] = await Promise.all([
      deps.tenancy.listEdges(t),
      deps.records.acceptedSince(t, hourAgo),
    ]);
    res.json({
      items: edges
        .filter((e) => seesSite(principalOf(req), e.site_id))
        .filter((e) => (q.data.site ? e.site_id === q.data.site : true))
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

  r.post('/admin/edges/:edgeId/retire', admin, async (req, res) => {
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

  r.post('/edges/:edgeId/verify', verifier, async (req, res) => {
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

  r.get('/api-tokens', tenantAdmin, async (req, res) => {
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

  r.post('/api-tokens', tenantAdmin, async (req, res) => {
    const body = parseBody(apiTokenBody, req);
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

  r.delete('/api-tokens/:tokenId', tenantAdmin, async (req, res) => {
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
// OpenAPI (merged into openapi.ts). Answers carry full schemas: the portal's typed client is
// generated from them.

const str = { type: 'string' } as const;
const time = { type: 'string', format: 'date-time' } as const;
const nullableTime = { type: ['string', 'null'], format: 'date-time' } as const;
const ok = (schema: Record<string, unknown>, description = 'OK') => ({
  description,
  content: { 'application/json': { schema } },
});
const obj = (properties: Record<string, unknown>, required: string[] = Object.keys(properties)) => ({
  type: 'object',
  required,
  properties,
});
const list = (item: Record<string, unknown>) => obj({ items: { type: 'array', items: item } });
const jsonBody = (schema: Record<string, unknown>) => ({
  required: true,
  content: { 'application/json': { schema } },
});
const path = (name: string) => ({ name, in: 'path', required: true, schema: str });
const guarded = { '401': problem, '403': problem };

const site = obj({
  id: str,
  name: str,
  timeZone: { type: 'string', description: 'IANA time zone the site’s pages show times in' },
  shifts: {
    type: 'array',
    description: 'the site’s shifts by start (local "HH:MM"), each ending where the next starts',
    items: obj({ name: str, start: str, end: str }),
  },
  createdAt: time,
  edges: { type: 'integer' },
});
const tokenState = { enum: ['unused', 'used', 'expired', 'revoked'] };
const enrollmentToken = obj({
  id: str,
  siteId: str,
  createdAt: time,
  expiresAt: time,
  usedAt: nullableTime,
  usedByEdge: { type: ['string', 'null'] },
  revokedAt: nullableTime,
  state: tokenState,
});
const edgeHealth = obj({
  id: str,
  siteId: str,
  name: str,
  enrolledAt: time,
  lastContactAt: nullableTime,
  lastAckedSeq: { type: 'integer', description: 'the last seq the cloud has accepted (the log size)' },
  recordsLastHour: { type: 'integer', description: 'records accepted in the last hour' },
  backlog: {
    type: ['integer', 'null'],
    description: 'records the edge still held unsent when its last batch was accepted (null: never reported)',
  },
  backlogReportedAt: nullableTime,
  retiredAt: { ...nullableTime, description: 'retired: its key is refused from then on; its records stay' },
});
const verification = obj(
  {
    ok: { type: 'boolean' },
    edgeId: str,
    checkedAt: time,
    size: { type: 'integer' },
    verifiedRecords: { type: 'integer' },
    verifiedCheckpoints: { type: 'integer' },
    root: { type: ['string', 'null'], description: 'base64 Merkle root of the whole log (when ok)' },
    problem: obj(
      {
        code: {
          enum: [
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
          ],
        },
        message: str,
        seq: { type: 'integer' },
        checkpointSize: { type: 'integer' },
      },
      ['code', 'message'],
    ),
  },
  ['ok', 'edgeId', 'checkedAt', 'size', 'verifiedRecords', 'verifiedCheckpoints'],
);
const apiToken = obj({ id: str, name: str, createdAt: time, revokedAt: nullableTime });

export const tenancyOpenApiPaths = {
  '/sites': {
    get: {
      summary: "The tenant's sites, with how many edges each has (admin)",
      security,
      responses: { '200': ok(list(site)), ...guarded },
    },
    post: {
      summary: 'Create a site (admin)',
      security,
      requestBody: jsonBody(
        obj(
          {
            id: { type: 'string', pattern: ID.source },
            name: str,
            timeZone: { type: 'string', default: 'UTC' },
          },
          ['id', 'name'],
        ),
      ),
      responses: { '201': ok(site, 'the site'), '400': problem, ...guarded, '409': problem },
    },
  },
  '/sites/{siteId}': {
    put: {
      summary: 'Rename a site or set its time zone or shifts (admin)',
      description:
        'shifts: 1–6 of { name, start: "HH:MM" } in the site’s time zone, on quarter hours; each runs until the next starts, and belongs to the day it starts on. null: back to the default (Early 06:00, Late 14:00, Night 22:00). First-pass yield per shift (GET /yield) uses them.',
      security,
      parameters: [path('siteId')],
      requestBody: jsonBody(
        obj(
          {
            name: str,
            timeZone: str,
            shifts: {
              type: ['array', 'null'],
              minItems: 1,
              maxItems: 6,
              items: obj(
                { name: str, start: { type: 'string', pattern: '^([01]\\d|2[0-3]):(00|15|30|45)$' } },
                ['name', 'start'],
              ),
            },
          },
          [],
        ),
      ),
      responses: { '200': ok(site, 'the site'), '400': problem, ...guarded, '404': problem },
    },
  },
  '/sites/{siteId}/enrollment-tokens/{tokenId}': {
    delete: {
      summary: 'Revoke an unused enrollment token (admin): it no longer enrolls an edge',
      security,
      parameters: [path('siteId'), path('tokenId')],
      responses: { '204': { description: 'revoked' }, ...guarded, '404': problem, '409': problem },
    },
  },
  '/sites/{siteId}/enrollment-tokens': {
    get: {
      summary: "A site's edge enrollment tokens and their state, never the tokens themselves (admin)",
      security,
      parameters: [path('siteId')],
      responses: { '200': ok(list(enrollmentToken)), ...guarded, '404': problem },
    },
    post: {
      summary: 'A one-time edge enrollment token for the site, shown once (admin)',
      description:
        'Give it to the line PC before it expires: `command` is what to run there (`sudo -u rigtrace rigtrace-edge enroll --config /etc/rigtrace/edge.yaml --cloud <RIGTRACE_PUBLIC_URL> --token <token>`).',
      security,
      parameters: [path('siteId')],
      requestBody: jsonBody(
        obj({ expiresInHours: { type: 'integer', minimum: 1, maximum: 720, default: 24 } }, []),
      ),
      responses: {
        '201': ok(
          obj({ id: str, siteId: str, token: str, expiresAt: time, state: tokenState, command: str }),
          'the token, and the command that enrolls an edge with it',
        ),
        '400': problem,
        ...guarded,
        '404': problem,
      },
    },
  },
  '/admin/edges': {
    get: {
      summary:
        "Every edge's health: last contact, last acknowledged seq, records in the last hour, backlog (admin)",
      security,
      parameters: [{ name: 'site', in: 'query', schema: str }],
      responses: { '200': ok(list(edgeHealth)), '400': problem, ...guarded },
    },
  },
  '/admin/edges/{edgeId}/retire': {
    post: {
      summary:
        'Retire an edge (admin): its key is refused from then on (403 CLOUD_EDGE_RETIRED, a security event); its records and checkpoints stay',
      security,
      parameters: [path('edgeId')],
      responses: {
        '200': ok(obj({ id: str, siteId: str, name: str, retiredAt: time }), 'the retired edge'),
        ...guarded,
        '404': problem,
        '409': problem,
      },
    },
  },
  '/edges/{edgeId}/verify': {
    post: {
      summary: "Recompute the edge's stored log and check it against its signed checkpoints (admin, auditor)",
      description:
        'Leaf hashes from the stored records, the Merkle root at each accepted checkpoint (so each checkpoint is consistent with the earlier ones), the edge’s signature and the witness’s cosignature on each, and the edge’s log state. The answer names the first problem found.',
      security: tokenOrSession,
      parameters: [path('edgeId')],
      responses: { '200': ok(verification), ...guarded, '404': problem },
    },
  },
  '/api-tokens': {
    get: {
      summary:
        "The tenant's API tokens (read-only service accounts with the auditor role), never the tokens (admin)",
      security,
      responses: { '200': ok(list(apiToken)), ...guarded },
    },
    post: {
      summary: 'Create an API token, shown once (admin)',
      security,
      requestBody: jsonBody(obj({ name: str })),
      responses: {
        '201': ok(obj({ id: str, name: str, token: str, createdAt: time }), 'the token'),
        '400': problem,
        ...guarded,
      },
    },
  },
  '/api-tokens/{tokenId}': {
    delete: {
      summary: 'Revoke an API token at once (admin)',
      security,
      parameters: [path('tokenId')],
      responses: { '204': { description: 'revoked' }, ...guarded, '404': problem },
    },
  },
} as const;
