import { Router, type Response } from 'express';
import { z } from 'zod';
import { type Accounts, actorOfRequest, principalOf, seesSite } from '../access/index.js';
import { ProblemError } from '../platform/errors.js';
import { clauseMap } from './clauses.js';
import { DISPOSITIONS } from './disposition.service.js';
import type { ReportsModule } from './index.js';
import { isCleared } from './reports.service.js';
import { REPORT_FORMATS, REPORT_TYPES } from './types.js';
import { problem, tokenOrSession as security } from '../platform/http/openapi-parts.js';
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
 * Compliance reports (audit packs): generate in the background, follow progress, download; the
 * clause map; and the disposition of an out-of-tolerance calibration. Reports: admins and
 * auditors (API tokens read and download, never generate); dispositions: admins and managers.
 */
export function reportsRoutes(deps: ReportsRouteDeps): Router {
  const r = Router();
  const read = deps.accounts.require('reports:read');
  const generate = deps.accounts.require('reports:generate');
  const dispose = deps.accounts.require('calibrations:disposition');

  r.post('/reports', generate, async (req, res) => {
    const view = await deps.reports.service.request(
      principalOf(req),
      actorOfRequest(req),
      req.ip ?? null,
      req.body,
    );
    res.status(202).location(`reports/${view.id}`).json(view);
  });

  r.get('/reports', read, async (req, res) => {
    const q = parseQuery(listQuery, req);
    res.json(await deps.reports.service.list(principalOf(req), q));
  });

  r.get('/reports/:id', read, async (req, res) => {
    res.json(await deps.reports.service.get(principalOf(req), String(req.params.id)));
  });

  r.get('/reports/:id/file', read, async (req, res) => {
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

  r.get('/compliance/clauses', read, async (req, res) => {
    const q = parseQuery(clausesQuery, req);
    const p = principalOf(req);
    const siteId = q.siteId ?? null;
    if (p.sites !== null && (siteId === null || !seesSite(p, siteId)))
      throw new ProblemError(
        'CLOUD_FORBIDDEN',
        `a caller limited to sites (${p.sites.join(', ')}) must name one of them in siteId`,
      );
    if (siteId !== null && !(await deps.reports.repo.site(p.tenantId, siteId)))
      throw new ProblemError('CLOUD_NOT_FOUND', 'no such site');
    res.json({
      siteId,
      generatedAt: new Date().toISOString(),
      items: await clauseMap(deps.reports.repo, p.tenantId, siteId, { excludeFlagged: !isCleared(p) }),
    });
  });

  r.put('/calibrations/:id/disposition', dispose, async (req, res) => {
    const p = principalOf(req);
    res.json(
      await deps.reports.dispositions.set(p.tenantId, String(req.params.id), req.body, {
        actor: actorOfRequest(req),
        address: req.ip ?? null,
        label: p.email ?? `${p.kind}:${p.id}`,
      }),
    );
  });

  return r;
}

// ---------------------------------------------------------------------------------------------
// OpenAPI paths of these routes (spread into openapi.ts's `paths`).

const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
const reportSchema = {
  type: 'object',
  required: ['id', 'type', 'state', 'progress', 'format', 'from', 'to'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    type: { enum: [...REPORT_TYPES] },
    title: { type: 'string' },
    siteId: { type: ['string', 'null'] },
    from: { type: 'string' },
    to: { type: 'string' },
    format: { enum: [...REPORT_FORMATS] },
    state: { enum: ['queued', 'running', 'done', 'failed'] },
    progress: {
      type: 'object',
      properties: { done: { type: 'integer' }, total: { type: 'integer' } },
      required: ['done', 'total'],
    },
    requestedBy: { type: 'object' },
    requestedAt: { type: 'string', format: 'date-time' },
    startedAt: { type: ['string', 'null'] },
    finishedAt: { type: ['string', 'null'] },
    error: { type: ['string', 'null'] },
    file: {
      type: ['object', 'null'],
      properties: {
        name: { type: 'string' },
        contentType: { type: 'string' },
        size: { type: 'integer' },
        sha256: { type: 'string' },
        url: { type: 'string' },
      },
    },
    sources: { description: 'the checkpoints the report was built from' },
    summary: { description: 'key figures' },
  },
};
const json = (description: string, schema: Record<string, unknown> = { type: 'object' }) => ({
  description,
  content: { 'application/json': { schema } },
});

export const reportsOpenApiPaths = {
  '/reports': {
    post: {
      summary: 'Generate a compliance report in the background (admin, auditor; not API tokens)',
      security,
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: {
              type: 'object',
              required: ['type', 'from', 'to', 'format'],
              additionalProperties: false,
              properties: {
                type: { enum: [...REPORT_TYPES] },
                siteId: { type: ['string', 'null'] },
                from: { type: 'string', description: 'YYYY-MM-DD (inclusive, UTC) or RFC 3339' },
                to: { type: 'string', description: 'YYYY-MM-DD (inclusive, UTC) or RFC 3339 (exclusive)' },
                format: { enum: [...REPORT_FORMATS] },
              },
            },
          },
        },
      },
      responses: {
        '202': json('the queued report; follow GET /reports/{id}', reportSchema),
        '400': problem,
        '401': problem,
        '403': problem,
        '429': problem,
      },
    },
    get: {
      summary: 'Reports of the tenant, newest first (admin, auditor, API tokens)',
      security,
      parameters: [
        { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 } },
        {
          name: 'before',
          in: 'query',
          schema: { type: 'string' },
          description: 'cursor: `next` of the previous page',
        },
      ],
      responses: {
        '200': json('{ items, next }', {
          type: 'object',
          properties: { items: { type: 'array', items: reportSchema }, next: { type: ['string', 'null'] } },
        }),
        '400': problem,
        '401': problem,
        '403': problem,
      },
    },
  },
  '/reports/{id}': {
    get: {
      summary: 'A report: state and progress, and its file once done',
      security,
      parameters: [idParam],
      responses: { '200': json('the report', reportSchema), '401': problem, '403': problem, '404': problem },
    },
  },
  '/reports/{id}/file': {
    get: {
      summary:
        'The report’s file (PDF, CSV or JSON) with a Content-Disposition filename; the download is audited',
      security,
      parameters: [idParam],
      responses: {
        '200': {
          description: 'the file; Repr-Digest carries its SHA-256',
          content: {
            'application/pdf': { schema: { type: 'string', format: 'binary' } },
            'text/csv': { schema: { type: 'string' } },
            'application/json': { schema: { type: 'object' } },
          },
        },
        '401': problem,
        '403': problem,
        '404': problem,
        '409': problem,
      },
    },
  },
  '/compliance/clauses': {
    get: {
      summary: 'The clause map: each supported clause with live evidence and the report that proves it',
      security,
      parameters: [{ name: 'siteId', in: 'query', schema: { type: 'string' } }],
      responses: {
        '200': json(
          '{ siteId, generatedAt, items: [{ standard, clause, title, coverage, evidence, figures, report, note }] }',
        ),
        '400': problem,
        '401': problem,
        '403': problem,
        '404': problem,
      },
    },
  },
  '/calibrations/{id}/disposition': {
    put: {
      summary:
        'Record the disposition of an out-of-tolerance calibration and whether the customer was notified (admin, manager)',
      security,
      parameters: [
        {
          name: 'id',
          in: 'path',
          required: true,
          schema: { type: 'string' },
          description: 'calibration id (URL-encoded)',
        },
      ],
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: {
              type: 'object',
              required: ['disposition', 'customerNotified'],
              additionalProperties: false,
              properties: {
                disposition: { enum: [...DISPOSITIONS] },
                customerNotified: { type: 'boolean' },
                notes: { type: ['string', 'null'], maxLength: 4000 },
              },
            },
          },
        },
      },
      responses: {
        '200': json('the disposition'),
        '400': problem,
        '401': problem,
        '403': problem,
        '404': problem,
        '409': problem,
      },
    },
  },
};
