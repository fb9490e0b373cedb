import { Router, type Request } from 'express';
import { timestampSchema } from '@rigtrace/protocols';
import { z } from 'zod';
import { type Accounts, callerOf, viewerOf } from '../access/index.js';
import { sessionOnly } from '../platform/http/openapi-parts.js';
import { dateTime, mount, operation } from '../platform/http/contract.js';
import { cursor, limit, parseQuery } from '../platform/http/validation.js';
import {
  accessView,
  decodeAccessCursor,
  type ExportCaller,
  type ExportControlService,
} from './export-control.service.js';

/** The request's caller as export control records it (after authentication). */
export function exportCallerOf(req: Request, route: string): ExportCaller {
  return { ...callerOf(req), route };
}

const query = z.strictObject({
  from: timestampSchema.optional().describe('at ≥ from'),
  to: timestampSchema.optional().describe('at < to'),
  limit: limit(100, 1000),
  cursor: cursor(decodeAccessCursor).describe('the `next` of the previous page'),
});

export function exportControlRoutes(deps: {
  accounts: Accounts;
  exportControl: ExportControlService;
}): Router {
  const r = Router();
  // Admins and auditors; never API tokens (export-access:read is withheld from them).
  const readers = deps.accounts.require('export-access:read');

  mount(r, exportControlApi.log, readers, async (req, res) => {
    const q = parseQuery(exportControlApi.log, req);
    const iso = (t: string | undefined) => (t === undefined ? undefined : new Date(t).toISOString());
    const out = await deps.exportControl.list(viewerOf(req), {
      from: iso(q.from),
      to: iso(q.to),
      after: q.cursor,
      limit: q.limit,
    });
    res.json({ items: out.items.map(accessView), next: out.next });
  });

  return r;
}

// ---------------------------------------------------------------------------------------------
// The route's contract: the API document is written from these schemas (openapi.ts).

const accessEntry = z.object({
  id: z.string(),
  at: dateTime,
  userId: z.string().nullable(),
  principal: z.string().describe('user:<id> or api-token'),
  objectType: z.enum([
    'equipment',
    'calibration',
    'usage',
    'inspection',
    'suspect-records',
    'yield',
    'record',
  ]),
  objectId: z.string(),
  regime: z.enum(['ITAR', 'EAR']),
  eccn: z.string().nullable(),
  address: z.string().nullable(),
  route: z.string().describe('e.g. GET /equipment/{tag}'),
});

/** The export-access log's contract (served by exportControlRoutes, documented by openapi.ts). */
export const exportControlApi = {
  log: operation({
    method: 'get',
    path: '/export-access',
    summary:
      'Every access to export-controlled (ITAR/EAR) data, oldest first (admin, auditor cleared for export-controlled data; not API tokens)',
    security: sessionOnly,
    query,
    responses: {
      '200': z
        .object({ items: z.array(accessEntry), next: z.string().nullable() })
        .describe(
          'one item per flagged object served; a reader limited to sites gets the items of those sites: of the site of the equipment named (a calibration: its equipment; a record: the site of the edge that sent it), and none whose object is no longer there',
        ),
    },
    errors: [400, 401, 403],
  }),
} as const;
