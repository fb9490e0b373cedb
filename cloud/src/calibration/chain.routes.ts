import { Router } from 'express';
import { z } from 'zod';
import { ProblemError } from '../platform/errors.js';
import { type Accounts, viewerOf as accessViewerOf } from '../access/index.js';
import { exportCallerOf, type ExportControlService } from '../export-control/index.js';
import { tokenOrSession as security } from '../platform/http/openapi-parts.js';
import { mount, operation } from '../platform/http/contract.js';
import { parseQuery } from '../platform/http/validation.js';
import type { TraceabilityService } from './traceability.service.js';
import type { TraceReviewRepository } from './trace-review.repository.js';

export interface ChainRouteDeps {
  accounts: Accounts;
  exportControl: ExportControlService;
  traceability: TraceabilityService;
  traceReviews: TraceReviewRepository;
}

const chainQuery = z.strictObject({
  calibration: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe('the failed calibration (default: the latest failure)'),
});

/** The suspect chain of a failed reference standard: standard → instruments calibrated with it → their records. */
export function chainRoutes(deps: ChainRouteDeps): Router {
  const r = Router();
  const exportControl = deps.exportControl;
  mount(r, chainApi.suspectChain, deps.accounts.require('records:read'), async (req, res) => {
    const q = parseQuery(chainApi.suspectChain, req);
    const tag = String(req.params.tag);
    const v = accessViewerOf(req);
    const ev = exportCallerOf(req, 'GET /equipment/{tag}/suspect-chain');
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

/** The suspect chain's contract (served by chainRoutes, documented by openapi.ts). */
export const chainApi = {
  suspectChain: operation({
    method: 'get',
    path: '/equipment/{tag}/suspect-chain',
    summary:
      'The suspect chain of a failed reference standard: calibrations made with it in its suspect window, and how many records each instrument made until its next valid calibration',
    security,
    query: chainQuery,
    responses: {
      '200': z
        .object({
          window: z.looseObject({}).nullable(),
          links: z.array(
            z.object({
              equipment: z.string(),
              calibrationId: z.string(),
              calibratedAt: z.string(),
              until: z.string().nullable(),
              suspectRecords: z.int(),
            }),
          ),
        })
        .describe('{ window, links: [{ equipment, calibrationId, calibratedAt, until, suspectRecords }] }'),
    },
    errors: [400, 401, 404],
  }),
} as const;
