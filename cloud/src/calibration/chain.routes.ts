import { Router } from 'express';
import { z } from 'zod';
import type { Db } from '../platform/db/db.js';
import { ProblemError } from '../platform/errors.js';
import { type Accounts, viewerOf as accessViewerOf } from '../access/index.js';
import { ExportControlService, viewerOf as exportViewerOf } from '../export-control/index.js';
import { problem, tokenOrSession as security } from '../platform/http/openapi-parts.js';
import { parseQuery } from '../platform/http/validation.js';
import type { TraceabilityService } from './traceability.service.js';
import type { TraceReviewRepository } from './trace-review.repository.js';

export interface ChainRouteDeps {
  db: Db;
  accounts: Accounts;
  traceability: TraceabilityService;
  traceReviews: TraceReviewRepository;
}

const chainQuery = z.strictObject({ calibration: z.string().min(1).max(200).optional() });

/** The suspect chain of a failed reference standard: standard → instruments calibrated with it → their records. */
export function chainRoutes(deps: ChainRouteDeps): Router {
  const r = Router();
  const exportControl = new ExportControlService(deps.db, deps.accounts.audit);
  r.get('/equipment/:tag/suspect-chain', deps.accounts.require('records:read'), async (req, res) => {
    const q = parseQuery(chainQuery, req);
    const tag = String(req.params.tag);
    const v = accessViewerOf(req);
    const ev = exportViewerOf(req, 'GET /equipment/{tag}/suspect-chain');
    if (!(await deps.traceReviews.visibleTags(v, [tag])).has(tag))
      throw new ProblemError('CLOUD_NOT_FOUND', 'no such equipment');
    const out = await deps.traceability.suspectChain(v, tag, q.calibration);
    const flags = await exportControl.flags(v.tenantId);
    await exportControl.logAccess(
      ev,
      [tag, ...out.links.map((l) => l.equipment)].flatMap((t) => {
        const flag = flags.get(t);
        return flag ? [{ type: 'equipment' as const, id: t, flag }] : [];
      }),
    );
    res.json(out);
  });
  return r;
}

export const chainOpenApiPaths = {
  '/equipment/{tag}/suspect-chain': {
    get: {
      summary:
        'The suspect chain of a failed reference standard: calibrations made with it in its suspect window, and how many records each instrument made until its next valid calibration',
      security,
      parameters: [
        { name: 'tag', in: 'path', required: true, schema: { type: 'string' } },
        {
          name: 'calibration',
          in: 'query',
          required: false,
          schema: { type: 'string' },
          description: 'the failed calibration (default: the latest failure)',
        },
      ],
      responses: {
        '200': {
          description:
            '{ window, links: [{ equipment, calibrationId, calibratedAt, until, suspectRecords }] }',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                properties: {
                  window: { type: 'object', nullable: true },
                  links: {
                    type: 'array',
                    items: {
                      type: 'object',
                      properties: {
                        equipment: { type: 'string' },
                        calibrationId: { type: 'string' },
                        calibratedAt: { type: 'string' },
                        until: { type: 'string', nullable: true },
                        suspectRecords: { type: 'integer' },
                      },
                      required: ['equipment', 'calibrationId', 'calibratedAt', 'until', 'suspectRecords'],
                    },
                  },
                },
                required: ['window', 'links'],
              },
            },
          },
        },
        '400': problem,
        '401': problem,
        '404': problem,
      },
    },
  },
} as const;
