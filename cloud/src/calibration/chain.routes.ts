import { Router } from 'express';
import { z } from 'zod';
import type { Accounts } from '../access/index.js';
import { exportCallerOf, type ExportControlService } from '../export-control/index.js';
import { tokenOrSession as security } from '../platform/http/openapi-parts.js';
import { mount, operation } from '../platform/http/contract.js';
import { cursor, limit, parseQuery } from '../platform/http/validation.js';
import { sendCsv } from '../platform/http/download.js';
import {
  CHAIN_CSV_COLUMNS,
  chainCsv,
  decodeChainCursor,
  itemView,
  suspectCharacteristics,
  type TraceabilityService,
} from './traceability.service.js';
import { suspectItem, suspectWindowSchema } from './calibration.routes.js';

export interface ChainRouteDeps {
  accounts: Accounts;
  exportControl: ExportControlService;
  traceability: TraceabilityService;
}

const chainQuery = z.strictObject({
  calibration: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe('the failed calibration (default: the latest failure)'),
});

const chainRecordsQuery = chainQuery.extend({
  format: z.enum(['json', 'csv']).default('json'),
  after: cursor(decodeChainCursor),
  limit: limit(100, 10_000),
});

const chainInstrument = z.object({
  equipment: z.string(),
  calibrationId: z.string(),
  calibratedAt: z.string(),
  until: z.string().nullable(),
});

/** The suspect chain of a failed reference standard: standard → instruments calibrated with it → their records. */
export function chainRoutes(deps: ChainRouteDeps): Router {
  const r = Router();
  const exportControl = deps.exportControl;
  mount(r, chainApi.suspectChain, deps.accounts.require('records:read'), async (req, res) => {
    const q = parseQuery(chainApi.suspectChain, req);
    const tag = String(req.params.tag);
    const v = exportCallerOf(req, 'GET /equipment/{tag}/suspect-chain');
    // The service checks (and logs) the standard; the flagged instruments served are logged here.
    const out = await deps.traceability.suspectChain(v, tag, q.calibration);
    const flags = await exportControl.flags(v.tenantId);
    await exportControl.logAccess(
      v,
      out.links.flatMap(({ equipment: t }) => {
        const flag = flags.get(t);
        return flag ? [{ type: 'equipment' as const, id: t, flag }] : [];
      }),
    );
    res.json(out);
  });

  mount(r, chainApi.suspectChainRecords, deps.accounts.require('records:read'), async (req, res) => {
    const q = parseQuery(chainApi.suspectChainRecords, req);
    const tag = String(req.params.tag);
    const v = exportCallerOf(req, 'GET /equipment/{tag}/suspect-chain/records');
    // The service checks (and logs) the standard; the flagged instruments served are logged here.
    const out = await deps.traceability.chainRecords(v, tag, q);
    const flags = await exportControl.flags(v.tenantId);
    const instruments = [...new Set(out.rows.map((x) => x.instrument.equipment))].flatMap((t) => {
      const flag = flags.get(t);
      return flag ? [{ type: 'equipment' as const, id: t, flag }] : [];
    });
    // Records made with an instrument may also involve other, flagged equipment (the rig).
    const views = await exportControl.screenRecords(
      v,
      out.rows.map((x) => ({ ...itemView(x.row), ...x })),
      instruments,
    );
    if (out.next) res.setHeader('x-next-cursor', out.next);
    if (q.format === 'csv') {
      sendCsv(res, `suspect-chain-${tag}.csv`, chainCsv(views));
      return;
    }
    res.json({
      standard: tag,
      window: out.window,
      items: views.map(({ row, instrument, ...view }) => ({
        instrument,
        ...view,
        characteristics: suspectCharacteristics(row, instrument.equipment, null, view.record),
      })),
      next: out.next,
    });
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
          links: z.array(chainInstrument.extend({ suspectRecords: z.int() })),
        })
        .describe('{ window, links: [{ equipment, calibrationId, calibratedAt, until, suspectRecords }] }'),
    },
    errors: [400, 401, 404],
  }),
  suspectChainRecords: operation({
    method: 'get',
    path: '/equipment/{tag}/suspect-chain/records',
    summary:
      'The records of a failed reference standard’s suspect chain by name: each usage and inspection record an instrument calibrated with it made until its next valid calibration (part, rig, when, what was measured), paged, as the caller may see them (its sites; export-controlled equipment only when cleared)',
    security,
    query: chainRecordsQuery,
    responses: {
      '200': {
        description:
          '{ standard, window, items: [{ instrument, edge, seq, partSerial, equipment, observedAt, … }], next } or (format=csv) text/csv',
        schema: z.object({
          standard: z.string(),
          window: suspectWindowSchema,
          items: z.array(
            suspectItem.extend({
              instrument: chainInstrument.describe(
                'the instrument calibrated with the standard that made or measured the record',
              ),
            }),
          ),
          next: z.string().nullable().describe('the cursor of the next page (after=); null: the last page'),
        }),
        csv: {
          columns: CHAIN_CSV_COLUMNS,
          description:
            'one line per record and characteristic, with the instrument (and its calibration made with the standard) first',
        },
      },
    },
    errors: [400, 401, 404],
  }),
} as const;
