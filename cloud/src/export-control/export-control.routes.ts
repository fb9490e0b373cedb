import { Router } from 'express';
import { timestampSchema } from '@rigtrace/protocols';
import { z } from 'zod';
import { type Accounts, tenantOf } from '../access/index.js';
import { problem, sessionOnly } from '../platform/http/openapi-parts.js';
import { cursor, limit, parseQuery } from '../platform/http/validation.js';
import { ProblemError } from '../platform/errors.js';
import {
  accessView,
  decodeAccessCursor,
  type ExportControlService,
  viewerOf,
} from './export-control.service.js';

const query = z.strictObject({
  from: timestampSchema.optional(),
  to: timestampSchema.optional(),
  limit: limit(100, 1000),
  cursor: cursor(decodeAccessCursor),
});

export function exportControlRoutes(deps: {
  accounts: Accounts;
  exportControl: ExportControlService;
}): Router {
  const r = Router();
  // Admins and auditors; never API tokens (export-access:read is withheld from them).
  const readers = deps.accounts.require('export-access:read');

  r.get('/export-access', readers, async (req, res) => {
    // The log names export-controlled equipment: only readers cleared for it see the log.
    if (!viewerOf(req, 'GET /export-access').cleared)
      throw new ProblemError(
        'CLOUD_FORBIDDEN',
        'the export-access log names export-controlled equipment: only users cleared for it (US persons) may read it',
      );
    const q = parseQuery(query, req);
    const iso = (t: string | undefined) => (t === undefined ? undefined : new Date(t).toISOString());
    const out = await deps.exportControl.list(tenantOf(req), {
      from: iso(q.from),
      to: iso(q.to),
      after: q.cursor,
      limit: q.limit,
    });
    res.json({ items: out.items.map(accessView), next: out.next });
  });

  return r;
}

export const exportControlOpenApiPaths = {
  '/export-access': {
    get: {
      summary:
        'Every access to export-controlled (ITAR/EAR) data, oldest first (admin, auditor cleared for export-controlled data; not API tokens)',
      security: sessionOnly,
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
