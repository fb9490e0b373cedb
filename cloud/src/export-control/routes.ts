import { Router, type RequestHandler } from 'express';
import { timestampSchema } from '@rigtrace/protocols';
import { z } from 'zod';
import type { Accounts } from '../auth/accounts.js';
import { ProblemError } from '../errors.js';
import { tenantOf } from '../routes/auth.js';
import { accessView, decodeAccessCursor, type ExportControlService } from './export-control.js';

/**
 * Who may read the export-access log: signed-in admins and auditors. Not API tokens: the log
 * names export-controlled objects, and API tokens are never cleared for those.
 */
export const EXPORT_ACCESS_READERS = ['admin', 'auditor'] as const;

const query = z.strictObject({
  from: timestampSchema.optional(),
  to: timestampSchema.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z
    .string()
    .transform((c, ctx) => {
      const d = decodeAccessCursor(c);
      if (!d) ctx.addIssue({ code: 'custom', message: 'a cursor from a previous page (next)' });
      return d;
    })
    .optional(),
});

export function exportControlRoutes(deps: {
  accounts: Accounts;
  exportControl: ExportControlService;
}): Router {
  const r = Router();
  const authenticate = deps.accounts.authenticate();
  const readers: RequestHandler = async (req, res, next) => {
    await authenticate(req, res, (err?: unknown) => {
      if (err) return next(err);
      const p = req.principal;
      if (!p) return next(new ProblemError('CLOUD_UNAUTHENTICATED'));
      if (p.kind !== 'user' || !(EXPORT_ACCESS_READERS as readonly string[]).includes(p.role))
        return next(
          new ProblemError(
            'CLOUD_FORBIDDEN',
            `the ${p.kind === 'user' ? p.role : 'API token'} may not read the export-access log`,
          ),
        );
      next();
    });
  };

  r.get('/export-access', readers, async (req, res) => {
    const q = query.safeParse(req.query);
    if (!q.success) {
      throw new ProblemError('CLOUD_VALIDATION', 'query parameters are not valid', {
        errors: q.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
      });
    }
    const iso = (t: string | undefined) => (t === undefined ? undefined : new Date(t).toISOString());
    const out = await deps.exportControl.list(tenantOf(req), {
      from: iso(q.data.from),
      to: iso(q.data.to),
      after: q.data.cursor,
      limit: q.data.limit,
    });
    res.json({ items: out.items.map(accessView), next: out.next });
  });

  return r;
}

const problem = {
  description: 'RFC 7807 problem',
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
};

export const exportControlOpenApiPaths = {
  '/export-access': {
    get: {
      summary:
        'Every access to export-controlled (ITAR/EAR) data, oldest first (admin, auditor; not API tokens)',
      security: [{ sessionCookie: [] }],
      parameters: [
        {
          name: 'from',
          in: 'query',
          schema: { type: 'string', format: 'date-time' },
          description: 'at ≥ from',
        },
        { name: 'to', in: 'query', schema: { type: 'string', format: 'date-time' }, description: 'at < to' },
        { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
        {
          name: 'cursor',
          in: 'query',
          schema: { type: 'string' },
          description: 'the `next` of the previous page',
        },
      ],
      responses: {
        '200': {
          description: 'one item per flagged object served',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['items', 'next'],
                properties: {
                  items: {
                    type: 'array',
                    items: {
                      type: 'object',
                      required: [
                        'id',
                        'at',
                        'userId',
                        'principal',
                        'objectType',
                        'objectId',
                        'regime',
                        'eccn',
                        'address',
                        'route',
                      ],
                      properties: {
                        id: { type: 'string' },
                        at: { type: 'string', format: 'date-time' },
                        userId: { type: ['string', 'null'] },
                        principal: { type: 'string', description: 'user:<id> or api-token' },
                        objectType: {
                          enum: [
                            'equipment',
                            'calibration',
                            'usage',
                            'inspection',
                            'suspect-records',
                            'yield',
                            'record',
                          ],
                        },
                        objectId: { type: 'string' },
                        regime: { enum: ['ITAR', 'EAR'] },
                        eccn: { type: ['string', 'null'] },
                        address: { type: ['string', 'null'] },
                        route: { type: 'string', description: 'e.g. GET /equipment/{tag}' },
                      },
                    },
                  },
                  next: { type: ['string', 'null'] },
                },
              },
            },
          },
        },
        '400': problem,
        '401': problem,
        '403': problem,
      },
    },
  },
} as const;
