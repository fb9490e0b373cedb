import { Router, type Response } from 'express';
import { z } from 'zod';
import { type Accounts, actorOfRequest, principalOf, seesSite, viewerOf } from '../access/index.js';
import { ProblemError } from '../platform/errors.js';
import { REPORT_CSV_COLUMNS } from './builders.js';
import { clauseMap } from './clauses.js';
import type { ReportsModule } from './index.js';
import { reportRequestSchema } from './reports.service.js';
import { REPORT_FORMATS, REPORT_TYPES } from './types.js';
import { dateTime, mount, operation } from '../platform/http/contract.js';
import { cursor, limit, parseQuery } from '../platform/http/validation.js';

export interface ReportsRouteDeps {
  accounts: Accounts;
  reports: ReportsModule;
}

const listQuery = z.strictObject({
  limit: limit(50, 200),
  before: cursor((c) => {
    if (!/^\d{4}-\d{2}-\d{2}T[0-9:.]+Z~[0-9a-f-]{36}$/.test(c)) return undefined;
    const [at, id] = c.split('~') as [string, string];
    return { at, id };
  }),
});
const clausesQuery = z.strictObject({ siteId: z.string().min(1).max(128).optional() });

async function send(res: Response, chunks: AsyncIterable<Buffer>): Promise<void> {
  for await (const c of chunks) {
    if (!res.write(c)) await new Promise<void>((resolve) => res.once('drain', resolve));
  }
  res.end();
}

/**
 * Compliance reports (audit packs): generate in the background, follow progress, download; and
 * the clause map. Reports: admins and auditors (API tokens read and download, never generate).
 */
export function reportsRoutes(deps: ReportsRouteDeps): Router {
  const r = Router();
  const read = deps.accounts.require('reports:read');
  const generate = deps.accounts.require('reports:generate');

  mount(r, reportsApi.request, generate, async (req, res) => {
    const view = await deps.reports.service.request(
      principalOf(req),
      actorOfRequest(req),
      req.ip ?? null,
      req.body,
    );
    res.status(202).location(`reports/${view.id}`).json(view);
  });

  mount(r, reportsApi.list, read, async (req, res) => {
    const q = parseQuery(reportsApi.list, req);
    res.json(await deps.reports.service.list(principalOf(req), q));
  });

  mount(r, reportsApi.get, read, async (req, res) => {
    res.json(await deps.reports.service.get(principalOf(req), String(req.params.id)));
  });

  mount(r, reportsApi.file, read, async (req, res) => {
    const { row, chunks } = await deps.reports.service.file(
      principalOf(req),
      actorOfRequest(req),
      req.ip ?? null,
      String(req.params.id),
    );
    res.status(200);
    res.setHeader('content-type', row.content_type!);
    res.setHeader('content-length', String(row.size));
    res.setHeader('content-disposition', `attachment; filename="${row.filename!}"`);
    res.setHeader('repr-digest', `sha-256=:${Buffer.from(row.sha256!, 'hex').toString('base64')}:`);
    res.setHeader('x-rigtrace-sha256', row.sha256!);
    await send(res, chunks);
  });

  mount(r, reportsApi.clauses, read, async (req, res) => {
    const q = parseQuery(reportsApi.clauses, req);
    const p = principalOf(req);
    const siteId = q.siteId ?? null;
    if (p.sites !== null && (siteId === null || !seesSite(p, siteId)))
      throw new ProblemError(
        'CLOUD_FORBIDDEN',
        `a caller limited to sites (${p.sites.join(', ')}) must name one of them in siteId`,
      );
    if (siteId !== null && !(await deps.reports.repo.site(viewerOf(req), siteId)))
      throw new ProblemError('CLOUD_NOT_FOUND', 'no such site');
    const now = deps.reports.clock();
    res.json({
      siteId,
      generatedAt: now.toISOString(),
      items: await clauseMap(deps.reports.repo, deps.reports.oot, viewerOf(req), siteId, {
        now: now.getTime(),
      }),
    });
  });

  return r;
}

// ---------------------------------------------------------------------------------------------
// OpenAPI paths of these routes (spread into openapi.ts's `paths`).

const reportSchema = z.object({
  id: z.string(),
  type: z.enum(REPORT_TYPES),
  title: z.string(),
  siteId: z.string().nullable(),
  from: z.string().describe('as requested: a date (a local day of the site’s time zone) or a timestamp'),
  to: z
    .string()
    .describe('as requested: a date (inclusive, a local day of the site’s time zone) or a timestamp'),
  format: z.enum(REPORT_FORMATS),
  state: z.enum(['queued', 'running', 'done', 'failed']),
  progress: z.object({ done: z.int(), total: z.int() }),
  requestedBy: z.looseObject({}),
  requestedAt: dateTime,
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  error: z.string().nullable(),
  file: z
    .object({ name: z.string(), contentType: z.string(), size: z.int(), sha256: z.string(), url: z.string() })
    .nullable(),
  sources: z.unknown().describe('the checkpoints the report was built from'),
  summary: z.unknown().describe('key figures'),
});
/** The report routes' contracts (served by reportsRoutes, documented by openapi.ts). */
export const reportsApi = {
  request: operation({
    method: 'post',
    path: '/reports',
    summary: 'Generate a compliance report in the background (admin, auditor; not API tokens)',
    description:
      'The `export-access` report names export-controlled objects: like GET /export-access, only a user cleared for them (a US person) may ask for it, open it or see it listed (403 on asking otherwise).',
    body: reportRequestSchema,
    responses: { '202': reportSchema.describe('the queued report; follow GET /reports/{id}') },
    errors: [400, 401, 403, 429],
  }),
  list: operation({
    method: 'get',
    path: '/reports',
    summary: 'Reports of the tenant, newest first (admin, auditor, API tokens)',
    query: listQuery,
    responses: {
      '200': z
        .object({ items: z.array(reportSchema), next: z.string().nullable() })
        .describe('{ items, next }'),
    },
    errors: [400, 401, 403],
  }),
  get: operation({
    method: 'get',
    path: '/reports/{id}',
    summary: 'A report: state and progress, and its file once done',
    responses: { '200': reportSchema.describe('the report') },
    errors: [401, 403, 404],
  }),
  file: operation({
    method: 'get',
    path: '/reports/{id}/file',
    summary:
      'The report’s file (PDF, CSV or JSON) with a Content-Disposition filename; the download is audited',
    responses: {
      '200': {
        description: 'the file; Repr-Digest carries its SHA-256',
        schema: z.record(z.string(), z.unknown()).describe('a report in format json'),
        csv: {
          columns: REPORT_CSV_COLUMNS,
          description: 'a report in format csv: its columns by report type',
        },
        content: { 'application/pdf': { schema: { type: 'string', format: 'binary' } } },
      },
    },
    errors: [401, 403, 404, 409],
  }),
  clauses: operation({
    method: 'get',
    path: '/compliance/clauses',
    summary: 'The clause map: each supported clause with live evidence and the report that proves it',
    query: clausesQuery,
    responses: {
      '200': z
        .object({
          siteId: z.string().nullable(),
          generatedAt: dateTime,
          items: z.array(
            z.object({
              standard: z.string(),
              clause: z.string(),
              title: z.string(),
              coverage: z.enum(['covered', 'partial', 'not-covered']),
              evidence: z.string().describe('live figures in a sentence'),
              figures: z.record(z.string(), z.unknown()).describe('the live figures, by name'),
              report: z.enum(REPORT_TYPES).nullable().describe('the report that proves it, if any'),
              note: z.string(),
            }),
          ),
        })
        .describe(
          '{ siteId, generatedAt, items: [{ standard, clause, title, coverage, evidence, figures, report, note }] }',
        ),
    },
    errors: [400, 401, 403, 404],
  }),
} as const;
