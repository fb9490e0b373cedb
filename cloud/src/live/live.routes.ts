import { Router } from 'express';
import { type Accounts, viewerOf } from '../access/index.js';
import { ProblemError } from '../platform/errors.js';
import type { TenancyRepository } from '../tenancy/index.js';
import { tokenOrSession } from '../platform/http/openapi-parts.js';
import { mount, operation } from '../platform/http/contract.js';
import type { LiveService } from './live.service.js';
import { liveSnapshotSchema } from './live.messages.js';

/**
 * GET /sites/{siteId}/live: the snapshot a live page renders before the first push and after a
 * reconnect. Every role and API tokens; a site of another tenant, an unknown one and one the
 * caller may not see all answer 404.
 */
export function liveRoutes(deps: {
  accounts: Accounts;
  tenancy: TenancyRepository;
  live: LiveService;
}): Router {
  const r = Router();
  mount(r, liveApi.snapshot, deps.accounts.require('records:read'), async (req, res) => {
    const siteId = String(req.params.siteId);
    const viewer = viewerOf(req);
    const site = (await deps.tenancy.sites(viewer, [siteId]))[0];
    if (!site) throw new ProblemError('CLOUD_NOT_FOUND', 'no such site');
    // Today is the site's local day, its hours the site's hours.
    res.json(await deps.live.snapshot(viewer, siteId, new Date(), site.time_zone));
  });
  return r;
}

/** The live snapshot's contract (served by liveRoutes, documented by openapi.ts). */
export const liveApi = {
  snapshot: operation({
    method: 'get',
    path: '/sites/{siteId}/live',
    summary:
      'A site’s live snapshot: rigs with state, latest values, signal dictionary and last completed test, today’s inspections and first-pass yield, open alerts',
    description:
      'What a live page shows before the first socket.io push and after a reconnect (API.md, "Live updates"). Every role and API tokens; site-scoped users only for their sites.',
    security: tokenOrSession,
    responses: { '200': liveSnapshotSchema.describe('the snapshot') },
    errors: [401, 403, 404],
  }),
} as const;
