import { Router, type Request } from 'express';
import { z } from 'zod';
import { type Accounts, actorOfRequest, principalOf, requestInfo, sessionOf } from '../access/index.js';
import type { Signer } from '../calibration/index.js';
import { sessionOnly, tokenOrSession } from '../platform/http/openapi-parts.js';
import { limit, parseQuery } from '../platform/http/validation.js';
import {
  decisionSchema,
  DISPOSITIONS,
  IMPACTS,
  notificationSchema,
  SHIPMENT_STATES,
  shipmentsSchema,
  type CaseViewer,
  type OotService,
} from './oot.service.js';
import { mount, operation } from '../platform/http/contract.js';

const listQuery = z.strictObject({
  state: z.enum(['open', 'closed']).optional(),
  equipment: z.string().min(1).max(64).optional(),
  site: z.string().min(1).max(128).optional(),
  limit: limit(100, 1000),
});
const caseQuery = z.strictObject({
  after: z.string().min(1).max(300).optional().describe('cursor (`next` of the previous page)'),
  limit: limit(500, 5000),
});

/**
 * Out-of-tolerance cases: everyone who reads records sees them (`records:read`, their sites,
 * export control as for equipment); the quality manager's signed decisions, customer
 * notifications and parts' shipment states need `calibrations:disposition`.
 */
export function ootRoutes(deps: { accounts: Accounts; oot: OotService }): Router {
  const r = Router();
  const read = deps.accounts.require('records:read');
  const decide = deps.accounts.require('calibrations:disposition');
  const viewer = (req: Request): CaseViewer => {
    const p = principalOf(req);
    return { tenantId: p.tenantId, sites: p.sites, cleared: p.kind === 'user' && p.usPerson === true };
  };
  const signerOf = (req: Request): Signer => {
    const ctx = sessionOf(req);
    return {
      user: { id: ctx.user.id, email: ctx.user.email, name: ctx.user.name, role: ctx.user.role },
      address: req.ip ?? null,
      reauthenticate: (password, what) =>
        deps.accounts.auth.reauthenticateSigner(ctx.user, password, requestInfo(req), what),
    };
  };

  mount(r, ootApi.list, read, async (req, res) => {
    const q = parseQuery(ootApi.list, req);
    res.json(await deps.oot.list(viewer(req), q));
  });

  mount(r, ootApi.get, read, async (req, res) => {
    const q = parseQuery(ootApi.get, req);
    res.json(await deps.oot.get(viewer(req), String(req.params.id), q));
  });

  mount(r, ootApi.suspectsCsv, read, async (req, res) => {
    const out = await deps.oot.csv(viewer(req), String(req.params.id));
    res
      .type('text/csv; charset=utf-8')
      .setHeader('content-disposition', `attachment; filename="${out.filename}"`)
      .send(out.text);
  });

  mount(r, ootApi.decide, decide, async (req, res) => {
    res.status(201).json(await deps.oot.decide(viewer(req), String(req.params.id), req.body, signerOf(req)));
  });

  mount(r, ootApi.notify, decide, async (req, res) => {
    res.status(201).json(await deps.oot.notify(viewer(req), String(req.params.id), req.body, signerOf(req)));
  });

  mount(r, ootApi.shipments, decide, async (req, res) => {
    res.json(await deps.oot.setShipments(viewer(req), req.body, actorOfRequest(req), req.ip ?? null));
  });

  return r;
}

// ---------------------------------------------------------------------------------------------
// OpenAPI (merged into openapi.ts).

const str = { type: 'string' } as const;
const nstr = { type: ['string', 'null'] } as const;
const time = { type: 'string', format: 'date-time' } as const;
const ntime = { type: ['string', 'null'], format: 'date-time' } as const;
const int = { type: 'integer' } as const;
const num = { type: 'number' } as const;
const nnum = { type: ['number', 'null'] } as const;
const obj = (properties: Record<string, unknown>, required: string[] = Object.keys(properties)) => ({
  type: 'object',
  required,
  properties,
});
const json = (schema: Record<string, unknown>, description = 'OK') => ({
  description,
  content: { 'application/json': { schema } },
});
const signer = obj({ id: str, email: str, name: str, role: str });
const decision = obj({
  id: str,
  scope: { enum: ['record', 'part', 'lot'] },
  item: { type: 'string', description: 'a part serial, a work order (lot), or "<edge>:<seq>" of a record' },
  impact: { enum: [...IMPACTS] },
  assessment: str,
  disposition: { enum: [...DISPOSITIONS] },
  decidedAt: time,
  by: signer,
  meaning: str,
  signatureSha256: { type: 'string', description: 'SHA-256 of the signed manifest (on the audit trail too)' },
});
const notification = obj({
  id: str,
  customer: str,
  contact: str,
  notifiedAt: time,
  method: nstr,
  reference: str,
  recordedAt: time,
  by: signer,
  meaning: str,
  signatureSha256: str,
});
const progress = obj({
  suspect: int,
  decided: int,
  undecided: int,
  atRisk: {
    type: 'integer',
    description: 'records with a characteristic whose margin is below the instrument’s error',
  },
  taggedOut: { type: 'boolean', description: 'no passing calibration since the failure: do not use' },
  customers: { type: 'array', items: obj({ name: str, notified: { type: 'boolean' } }) },
  waitingFor: { type: 'array', items: str, description: 'what keeps the case open, in words' },
});
const summary = obj({
  id: str,
  equipment: str,
  equipmentType: nstr,
  siteId: nstr,
  calibrationId: str,
  openedAt: time,
  state: { enum: ['open', 'closed'] },
  closedAt: ntime,
  closedReason: { type: ['string', 'null'], enum: ['decided', 'voided', null] },
  alertId: nstr,
  progress,
});
const characteristic = obj({
  name: str,
  measured: num,
  unit: str,
  nominal: nnum,
  lsl: nnum,
  usl: nnum,
  result: { enum: ['pass', 'fail'] },
  margin: { ...nnum, description: 'distance to the nearest limit (negative: outside)' },
  atRisk: { type: ['boolean', 'null'], description: 'the margin is below the failed instrument’s error' },
});
const suspect = obj({
  key: str,
  edge: str,
  seq: int,
  kind: { enum: ['usage', 'inspection'] },
  observedAt: time,
  siteId: str,
  equipment: str,
  via: { enum: ['equipment', 'gauge', 'position'] },
  position: {
    type: ['string', 'null'],
    description: 'with via position: where the instrument sat ("RIG-01 / rail pressure")',
  },
  partSerial: nstr,
  workOrder: nstr,
  operator: nstr,
  result: { type: ['string', 'null'], enum: ['pass', 'fail', null] },
  characteristics: { type: 'array', items: characteristic },
  shipment: {
    oneOf: [
      obj({ state: { enum: [...SHIPMENT_STATES] }, customer: nstr, shippedAt: ntime, reference: nstr }),
      { type: 'null' },
    ],
  },
  decision: { oneOf: [decision, { type: 'null' }] },
});
const full = {
  allOf: [
    summary,
    obj({
      calibration: {
        type: 'object',
        description: 'the failed calibration (as GET /equipment/{tag}/calibrations)',
      },
      window: {
        oneOf: [
          obj({
            failedCalibration: { type: 'object' },
            lastGoodCalibration: { type: ['object', 'null'] },
            start: ntime,
            end: ntime,
            closedBy: { type: ['object', 'null'] },
          }),
          { type: 'null' },
        ],
      },
      instrumentError: {
        oneOf: [obj({ magnitude: num, unit: str, point: str }), { type: 'null' }],
        description: 'the failed instrument’s largest as-found error',
      },
      suspects: { type: 'array', items: suspect },
      next: { ...nstr, description: 'cursor of the next page of suspect records' },
      decisions: { type: 'array', items: decision, description: 'newest first' },
      notifications: { type: 'array', items: notification },
    }),
  ],
};

/** The out-of-tolerance routes' contracts (served by ootRoutes, documented by openapi.ts). */
export const ootApi = {
  list: operation({
    method: 'get',
    path: '/oot-cases',
    summary: 'Out-of-tolerance cases, newest first, with what each still waits for (records:read)',
    security: tokenOrSession,
    query: listQuery,
    responses: { '200': json(obj({ items: { type: 'array', items: summary } })) },
    errors: [400, 401],
  }),
  get: operation({
    method: 'get',
    path: '/oot-cases/{id}',
    summary:
      'One case: the failed calibration, the suspect window, suspect records with characteristics, margins, shipment state and decision, decisions and notifications',
    security: tokenOrSession,
    query: caseQuery,
    responses: { '200': json(full) },
    errors: [400, 401, 404],
  }),
  suspectsCsv: operation({
    method: 'get',
    path: '/oot-cases/{id}/suspects.csv',
    summary:
      'Every suspect record and characteristic of a case with its margin, shipment state and decision (CSV)',
    security: tokenOrSession,
    responses: { '200': { description: 'text/csv', content: { 'text/csv': { schema: str } } } },
    errors: [401, 404],
  }),
  decide: operation({
    method: 'post',
    path: '/oot-cases/{id}/decisions',
    summary:
      'Record a signed impact assessment and disposition for parts, lots or records of a case (calibrations:disposition)',
    description:
      'The signer’s password again (a wrong one is 403 CLOUD_REAUTH_FAILED and counts toward the lockout); every item must belong to the case (400 otherwise); a closed case is 409. A later decision on the same item supersedes an earlier one; the case closes once nothing is left to wait for.',
    security: sessionOnly,
    body: decisionSchema,
    responses: { '201': json(obj({ decisions: { type: 'array', items: decision }, case: summary })) },
    errors: [400, 401, 403, 404, 409, 429],
  }),
  notify: operation({
    method: 'post',
    path: '/oot-cases/{id}/notifications',
    summary:
      'Record a signed customer notification: who was told, when, the reference (calibrations:disposition)',
    security: sessionOnly,
    body: notificationSchema,
    responses: { '201': json(obj({ notification, case: summary })) },
    errors: [400, 401, 403, 404, 429],
  }),
  shipments: operation({
    method: 'put',
    path: '/parts/shipments',
    summary:
      'Where parts are (in house, shipped, at the customer, scrapped), e.g. from the ERP (calibrations:disposition)',
    security: sessionOnly,
    body: shipmentsSchema,
    responses: { '200': json(obj({ updated: int })) },
    errors: [400, 401, 403],
  }),
} as const;
