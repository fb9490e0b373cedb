import { Router, type Request } from 'express';
import { type Accounts, actorOfRequest, viewerOf } from '../access/index.js';
import { z } from 'zod';
import { dateTime, mount, operation } from '../platform/http/contract.js';
import { parseBody } from '../platform/http/validation.js';
import {
  alertsQuerySchema,
  baselineBodySchema,
  characteristicsQuerySchema,
  chartQuerySchema,
  type Scope,
  type SpcService,
} from './spc.service.js';

/** The request's viewer: the repositories apply its site scope and export clearance. */
const scopeOf = (req: Request): Scope => viewerOf(req);

/** Who acted, as stored with baselines and acknowledgements: the user's email, else their id. */
function actorName(req: Request): string {
  const p = req.principal;
  if (!p) return 'unknown';
  if (p.kind === 'api-token') return 'api-token';
  return p.email ?? `user:${p.id}`;
}

export interface SpcRouteDeps {
  spc: SpcService;
  accounts: Accounts;
}

/** SPC charts, capability, frozen baselines and the tenant's alerts. */
export function spcRoutes(deps: SpcRouteDeps): Router {
  const r = Router();
  const read = deps.accounts.require('records:read');

  mount(r, spcApi.characteristics, read, async (req, res) => {
    res.json(await deps.spc.characteristics(scopeOf(req), req.query));
  });

  mount(r, spcApi.chart, read, async (req, res) => {
    res.json(await deps.spc.chart(scopeOf(req), req.query));
  });

  mount(r, spcApi.freezeBaseline, deps.accounts.require('spc:baseline'), async (req, res) => {
    res
      .status(201)
      .json(await deps.spc.freezeBaseline(scopeOf(req), req.body, actorName(req), actorOfRequest(req)));
  });

  mount(r, spcApi.alerts, read, async (req, res) => {
    res.json(await deps.spc.listAlerts(scopeOf(req), req.query));
  });

  mount(r, spcApi.acknowledge, deps.accounts.require('alerts:acknowledge'), async (req, res) => {
    parseBody(spcApi.acknowledge, req);
    res.json(
      await deps.spc.acknowledge(scopeOf(req), String(req.params.id), actorName(req), actorOfRequest(req)),
    );
  });

  return r;
}

// ---------------------------------------------------------------------------------------------
// The routes' contracts: the API document is written from these schemas (openapi.ts).

const str = z.string();
const num = z.number();
const numOrNull = z.number().nullable();
const int = z.int();
const chartKind = z.enum(['xbar-r', 'i-mr']);
const ruleSet = z.enum(['western-electric', 'nelson']);

const baselineSummary = z.object({
  id: str,
  frozenAt: dateTime,
  frozenBy: str,
  from: dateTime,
  to: dateTime,
  chart: chartKind,
  subgroupSize: int,
  rules: ruleSet,
});
const baselineSchema = z.object({
  id: str,
  equipment: str,
  characteristic: str,
  siteId: str,
  chart: chartKind,
  subgroupSize: int,
  rules: ruleSet,
  from: dateTime,
  to: dateTime,
  frozenAt: dateTime,
  frozenBy: str,
  limits: z.object({ center: num, ucl: num, lcl: num, rangeCenter: num, rangeUcl: num, rangeLcl: num }),
  sigmaWithin: num,
  sigmaOverall: numOrNull,
  mean: num,
  points: int,
  measurements: int,
});
const alertSchema = z.object({
  id: str,
  siteId: str.nullable(),
  kind: str,
  severity: z.enum(['info', 'warning', 'critical']),
  message: str,
  at: dateTime,
  tag: str.nullable(),
  characteristic: str.optional(),
  rule: str.optional(),
  chart: z.enum(['x', 'range']).optional(),
  pointAt: dateTime.optional(),
  acknowledgedAt: dateTime.nullable(),
  acknowledgedBy: str.nullable(),
  caseId: str.optional().describe('an out-of-tolerance or tag-out alert: its case'),
});

const characteristicSchema = z.object({
  siteId: str,
  equipment: str,
  characteristic: str,
  unit: str,
  nominal: numOrNull.optional(),
  lsl: numOrNull,
  usl: numOrNull,
  n: int,
  lastAt: dateTime,
  baseline: baselineSummary.nullable(),
  cpk: numOrNull,
  ppk: numOrNull,
  openViolations: int.describe(
    'open (unacknowledged) alerts of run-rule violations against the frozen baseline',
  ),
  view: z
    .object({
      chart: chartKind,
      subgroupSize: int,
      rules: ruleSet,
      points: int.describe('points shown (the limit GET /spc/chart is asked for)'),
    })
    .describe(
      'the chart the characteristic opens on (its baseline’s, else X̄-R of 5 from 50 measurements, else I-MR)',
    ),
  flaggedPoints: int.describe('points of that chart flagged by a run rule: the chart shows the same ones'),
});

const chartSchema = z.object({
  equipment: str,
  characteristic: str,
  siteId: str.optional(),
  unit: str,
  chart: chartKind,
  subgroupSize: int,
  rules: ruleSet.optional(),
  points: z.array(z.object({ at: dateTime, value: num, range: numOrNull, n: int })),
  limits: z.object({
    center: numOrNull,
    ucl: numOrNull,
    lcl: numOrNull,
    rangeCenter: numOrNull,
    rangeUcl: numOrNull,
    rangeLcl: numOrNull,
    source: z.enum(['baseline', 'data']),
  }),
  baseline: baselineSchema.nullable().optional(),
  capability: z.object({
    lsl: numOrNull,
    usl: numOrNull,
    cp: numOrNull,
    cpk: numOrNull,
    pp: numOrNull,
    ppk: numOrNull,
    sigmaWithin: numOrNull,
    sigmaOverall: numOrNull,
    n: int,
  }),
  violations: z.array(
    z.object({
      index: int.describe('index into points'),
      rule: z.enum(['WE1', 'WE2', 'WE3', 'WE4', 'N1', 'N2', 'N3', 'N4', 'N5', 'N6', 'N7', 'N8']),
      chart: z.enum(['x', 'range']),
      description: str,
    }),
  ),
});

/** The SPC routes' contracts (served by spcRoutes, documented by openapi.ts). */
export const spcApi = {
  characteristics: operation({
    method: 'get',
    path: '/spc/characteristics',
    summary:
      'Inspection characteristics with SPC data: spec limits, count, frozen baseline, recent Cpk/Ppk, open violations',
    query: characteristicsQuerySchema,
    responses: { '200': z.object({ items: z.array(characteristicSchema) }).describe('{ items }') },
    errors: [400, 401],
  }),
  chart: operation({
    method: 'get',
    path: '/spc/chart',
    summary: 'An X̄-R or I-MR control chart of one characteristic with limits, capability and rule violations',
    query: chartQuerySchema,
    responses: { '200': chartSchema.describe('the chart') },
    errors: [400, 401, 404],
  }),
  freezeBaseline: operation({
    method: 'post',
    path: '/spc/baselines',
    summary: 'Freeze control limits from a period of a characteristic’s measurements (admin, manager)',
    body: baselineBodySchema,
    responses: { '201': baselineSchema.describe('the frozen baseline') },
    errors: [400, 401, 403, 404],
  }),
  alerts: operation({
    method: 'get',
    path: '/alerts',
    summary: 'The tenant’s alerts (SPC rule violations), newest first',
    query: alertsQuerySchema,
    responses: {
      '200': z.object({ items: z.array(alertSchema), next: str.nullable() }).describe('{ items, next }'),
    },
    errors: [400, 401],
  }),
  acknowledge: operation({
    method: 'post',
    path: '/alerts/{id}/acknowledge',
    summary: 'Acknowledge an alert (admin, manager, technician)',
    body: z.strictObject({}).describe('empty, or no body'),
    bodyOptional: true,
    responses: { '200': alertSchema.describe('the acknowledged alert') },
    errors: [400, 401, 403, 404, 409],
  }),
} as const;
