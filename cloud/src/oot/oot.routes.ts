import { Router, type Request } from 'express';
import { z } from 'zod';
import { type Accounts, actorOfRequest, requestInfo, sessionOf, viewerOf } from '../access/index.js';
import { calibrationAnswer, type Signer } from '../calibration/index.js';
import { sessionOnly, tokenOrSession } from '../platform/http/openapi-parts.js';
import { limit, parseQuery } from '../platform/http/validation.js';
import { sendCsv } from '../platform/http/download.js';
import {
  CASE_CSV_COLUMNS,
  decisionSchema,
  DISPOSITIONS,
  IMPACTS,
  notificationSchema,
  shipmentsSchema,
  type CaseViewer,
  type OotService,
} from './oot.service.js';
import { dateTime, mount, operation } from '../platform/http/contract.js';

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
  const viewer = (req: Request): CaseViewer => viewerOf(req);
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
    sendCsv(res, out.filename, out.text);
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
// The routes' contracts: the API document is written from these (openapi.ts); the request schemas
// are the ones the service validates with, the answers are what the service returns.

const signer = z.object({ id: z.string(), email: z.string(), name: z.string(), role: z.string() });
const decision = z.object({
  id: z.string(),
  scope: z.enum(['record', 'part', 'lot']),
  item: z.string().describe('a part serial, a work order (lot), or "<edge>:<seq>" of a record'),
  impact: z.enum(IMPACTS),
  assessment: z.string(),
  disposition: z.enum(DISPOSITIONS),
  decidedAt: dateTime,
  by: signer,
  meaning: z.string(),
  signatureSha256: z.string().describe('SHA-256 of the signed manifest (on the audit trail too)'),
});
const notification = z.object({
  id: z.string(),
  customer: z.string(),
  contact: z.string(),
  notifiedAt: dateTime,
  method: z.string().nullable(),
  reference: z.string(),
  recordedAt: dateTime,
  by: signer,
  meaning: z.string(),
  signatureSha256: z.string(),
});
const progress = z.object({
  suspect: z.int(),
  decided: z.int(),
  undecided: z.int(),
  atRisk: z.int().describe('records with a characteristic whose margin is below the instrument’s error'),
  taggedOut: z.boolean().describe('no passing calibration since the failure: do not use'),
  customers: z.array(z.object({ name: z.string(), notified: z.boolean() })),
  waitingFor: z.array(z.string()).describe('what keeps the case open, in words'),
});
const summary = z.object({
  id: z.string(),
  equipment: z.string(),
  equipmentType: z.string().nullable(),
  siteId: z.string().nullable(),
  calibrationId: z.string(),
  openedAt: dateTime,
  state: z.enum(['open', 'closed']),
  closedAt: dateTime.nullable(),
  closedReason: z.enum(['decided', 'voided']).nullable(),
  alertId: z.string().nullable(),
  progress,
});
const characteristic = z.object({
  name: z.string(),
  measured: z.number(),
  unit: z.string(),
  nominal: z.number().nullable(),
  lsl: z.number().nullable(),
  usl: z.number().nullable(),
  result: z.enum(['pass', 'fail']),
  margin: z.number().nullable().describe('distance to the nearest limit (negative: outside)'),
  atRisk: z.boolean().nullable().describe('the margin is below the failed instrument’s error'),
});
const suspect = z.object({
  key: z.string(),
  edge: z.string(),
  seq: z.int(),
  kind: z.enum(['usage', 'inspection']),
  observedAt: dateTime,
  siteId: z.string(),
  equipment: z.string(),
  via: z.enum(['equipment', 'gauge', 'position']),
  position: z
    .string()
    .nullable()
    .describe('with via position: where the instrument sat ("RIG-01 / rail pressure")'),
  named: z
    .boolean()
    .describe(
      'with via position: the record names that position, so its value came from the instrument there',
    ),
  partSerial: z.string().nullable(),
  workOrder: z.string().nullable(),
  operator: z.string().nullable(),
  result: z.enum(['pass', 'fail']).nullable(),
  characteristics: z.array(characteristic),
  shipment: z
    .object({
      state: z.enum(['in-house', 'shipped', 'at-customer', 'scrapped']),
      customer: z.string().nullable(),
      shippedAt: dateTime.nullable(),
      reference: z.string().nullable(),
    })
    .nullable(),
  decision: decision.nullable(),
});
const calibrationRef = z.object({ id: z.string(), calibratedAt: dateTime });
const full = summary.extend({
  calibration: calibrationAnswer.describe('the failed calibration (as GET /equipment/{tag}/calibrations)'),
  window: z
    .object({
      failedCalibration: calibrationRef.extend({
        asFoundResult: z.string(),
        asLeftResult: z.string().nullable(),
      }),
      lastGoodCalibration: calibrationRef.nullable(),
      start: dateTime.nullable(),
      end: dateTime.nullable(),
      closedBy: calibrationRef.nullable(),
    })
    .nullable(),
  instrumentError: z
    .object({ magnitude: z.number(), unit: z.string(), point: z.string() })
    .nullable()
    .describe('the failed instrument’s largest as-found error'),
  suspects: z.array(suspect),
  next: z.string().nullable().describe('cursor of the next page of suspect records'),
  decisions: z.array(decision).describe('newest first'),
  notifications: z.array(notification),
});

/** The out-of-tolerance routes' contracts (served by ootRoutes, documented by openapi.ts). */
export const ootApi = {
  list: operation({
    method: 'get',
    path: '/oot-cases',
    summary: 'Out-of-tolerance cases, newest first, with what each still waits for (records:read)',
    security: tokenOrSession,
    query: listQuery,
    responses: { '200': z.object({ items: z.array(summary) }) },
    errors: [400, 401],
  }),
  get: operation({
    method: 'get',
    path: '/oot-cases/{id}',
    summary:
      'One case: the failed calibration, the suspect window, suspect records with characteristics, margins, shipment state and decision, decisions and notifications',
    security: tokenOrSession,
    query: caseQuery,
    responses: { '200': full },
    errors: [400, 401, 404],
  }),
  suspectsCsv: operation({
    method: 'get',
    path: '/oot-cases/{id}/suspects.csv',
    summary:
      'Every suspect record and characteristic of a case with its margin, shipment state and decision (CSV)',
    security: tokenOrSession,
    responses: {
      '200': {
        description: 'text/csv',
        csv: {
          columns: CASE_CSV_COLUMNS,
          description:
            'one line per suspect record and characteristic; named: true when the record names the position the device sat in (via position)',
        },
      },
    },
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
    responses: { '201': z.object({ decisions: z.array(decision), case: summary }) },
    errors: [400, 401, 403, 404, 409, 429],
  }),
  notify: operation({
    method: 'post',
    path: '/oot-cases/{id}/notifications',
    summary:
      'Record a signed customer notification: who was told, when, the reference (calibrations:disposition). A closed case still takes one: the customer is often told after the last decision closed it',
    security: sessionOnly,
    body: notificationSchema,
    responses: { '201': z.object({ notification, case: summary }) },
    errors: [400, 401, 403, 404, 429],
  }),
  shipments: operation({
    method: 'put',
    path: '/parts/shipments',
    summary:
      'Where parts are (in house, shipped, at the customer, scrapped), e.g. from the ERP (calibrations:disposition)',
    security: sessionOnly,
    body: shipmentsSchema,
    responses: { '200': z.object({ updated: z.int() }) },
    errors: [400, 401, 403],
  }),
} as const;
