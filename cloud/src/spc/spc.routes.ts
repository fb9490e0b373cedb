import { Router, type Request } from 'express';
import { type Accounts, actorOfRequest, viewerOf } from '../access/index.js';
import { ProblemError } from '../platform/errors.js';
import type { Scope, SpcService } from './spc.service.js';
import { problem, tokenOrSession as security } from '../platform/http/openapi-parts.js';

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

  r.get('/spc/characteristics', read, async (req, res) => {
    res.json(await deps.spc.characteristics(scopeOf(req), req.query));
  });

  r.get('/spc/chart', read, async (req, res) => {
    res.json(await deps.spc.chart(scopeOf(req), req.query));
  });

  r.post('/spc/baselines', deps.accounts.require('spc:baseline'), async (req, res) => {
    res
      .status(201)
      .json(await deps.spc.freezeBaseline(scopeOf(req), req.body, actorName(req), actorOfRequest(req)));
  });

  r.get('/alerts', read, async (req, res) => {
    res.json(await deps.spc.listAlerts(scopeOf(req), req.query));
  });

  r.post('/alerts/:id/acknowledge', deps.accounts.require('alerts:acknowledge'), async (req, res) => {
    if (
      req.body !== undefined &&
      (typeof req.body !== 'object' || Object.keys(req.body as object).length > 0)
    )
      throw new ProblemError('CLOUD_VALIDATION', 'the request body must be empty or {}');
    res.json(
      await deps.spc.acknowledge(scopeOf(req), String(req.params.id), actorName(req), actorOfRequest(req)),
    );
  });

  return r;
}

// ---------------------------------------------------------------------------------------------
// OpenAPI paths of these routes (spread into openapi.ts's `paths`).

const q = (name: string, schema: Record<string, unknown>, description?: string, required = false) => ({
  name,
  in: 'query',
  ...(required ? { required: true } : {}),
  schema,
  ...(description ? { description } : {}),
});
const num = { type: 'number' };
const numOrNull = { type: ['number', 'null'] };
const str = { type: 'string' };
const time = { type: 'string', format: 'date-time' };
const obj = (properties: Record<string, unknown>, required: string[] = Object.keys(properties)) => ({
  type: 'object',
  required,
  properties,
});
const json = (description: string, schema: Record<string, unknown>) => ({
  description,
  content: { 'application/json': { schema } },
});

const baselineSummary = obj({
  id: str,
  frozenAt: time,
  frozenBy: str,
  from: time,
  to: time,
  chart: { enum: ['xbar-r', 'i-mr'] },
  subgroupSize: { type: 'integer' },
  rules: { enum: ['western-electric', 'nelson'] },
});
const limitsSchema = obj({
  center: numOrNull,
  ucl: numOrNull,
  lcl: numOrNull,
  rangeCenter: numOrNull,
  rangeUcl: numOrNull,
  rangeLcl: numOrNull,
  source: { enum: ['baseline', 'data'] },
});
const capabilitySchema = obj({
  lsl: numOrNull,
  usl: numOrNull,
  cp: numOrNull,
  cpk: numOrNull,
  pp: numOrNull,
  ppk: numOrNull,
  sigmaWithin: numOrNull,
  sigmaOverall: numOrNull,
  n: { type: 'integer' },
});
const violationSchema = obj({
  index: { type: 'integer', description: 'index into points' },
  rule: { enum: ['WE1', 'WE2', 'WE3', 'WE4', 'N1', 'N2', 'N3', 'N4', 'N5', 'N6', 'N7', 'N8'] },
  chart: { enum: ['x', 'range'] },
  description: str,
});
const baselineSchema = obj({
  id: str,
  equipment: str,
  characteristic: str,
  siteId: str,
  chart: { enum: ['xbar-r', 'i-mr'] },
  subgroupSize: { type: 'integer' },
  rules: { enum: ['western-electric', 'nelson'] },
  from: time,
  to: time,
  frozenAt: time,
  frozenBy: str,
  limits: obj({ center: num, ucl: num, lcl: num, rangeCenter: num, rangeUcl: num, rangeLcl: num }),
  sigmaWithin: num,
  sigmaOverall: numOrNull,
  mean: num,
  points: { type: 'integer' },
  measurements: { type: 'integer' },
});
const alertSchema = obj(
  {
    id: str,
    siteId: { type: ['string', 'null'] },
    kind: str,
    severity: { enum: ['info', 'warning', 'critical'] },
    message: str,
    at: time,
    tag: { type: ['string', 'null'] },
    characteristic: str,
    rule: str,
    chart: { enum: ['x', 'range'] },
    pointAt: time,
    acknowledgedAt: { type: ['string', 'null'], format: 'date-time' },
    acknowledgedBy: { type: ['string', 'null'] },
    caseId: { type: 'string', description: 'an out-of-tolerance or tag-out alert: its case' },
  },
  ['id', 'siteId', 'kind', 'severity', 'message', 'at', 'tag', 'acknowledgedAt', 'acknowledgedBy'],
);

export const spcOpenApiPaths = {
  '/spc/characteristics': {
    get: {
      summary:
        'Inspection characteristics with SPC data: spec limits, count, frozen baseline, recent Cpk/Ppk, open violations',
      security,
      parameters: [q('siteId', str), q('equipment', str, 'the rig (asset tag)')],
      responses: {
        '200': json(
          '{ items }',
          obj({
            items: {
              type: 'array',
              items: obj(
                {
                  siteId: str,
                  equipment: str,
                  characteristic: str,
                  unit: str,
                  nominal: numOrNull,
                  lsl: numOrNull,
                  usl: numOrNull,
                  n: { type: 'integer' },
                  lastAt: time,
                  baseline: { oneOf: [baselineSummary, { type: 'null' }] },
                  cpk: numOrNull,
                  ppk: numOrNull,
                  openViolations: {
                    type: 'integer',
                    description:
                      'open (unacknowledged) alerts of run-rule violations against the frozen baseline',
                  },
                  view: {
                    type: 'object',
                    description:
                      'the chart the characteristic opens on (its baseline’s, else X̄-R of 5 from 50 measurements, else I-MR)',
                    required: ['chart', 'subgroupSize', 'rules', 'points'],
                    properties: {
                      chart: { enum: ['xbar-r', 'i-mr'] },
                      subgroupSize: { type: 'integer' },
                      rules: { enum: ['western-electric', 'nelson'] },
                      points: {
                        type: 'integer',
                        description: 'points shown (the limit GET /spc/chart is asked for)',
                      },
                    },
                  },
                  flaggedPoints: {
                    type: 'integer',
                    description: 'points of that chart flagged by a run rule: the chart shows the same ones',
                  },
                },
                [
                  'siteId',
                  'equipment',
                  'characteristic',
                  'unit',
                  'lsl',
                  'usl',
                  'n',
                  'lastAt',
                  'baseline',
                  'cpk',
                  'ppk',
                  'openViolations',
                  'view',
                  'flaggedPoints',
                ],
              ),
            },
          }),
        ),
        '400': problem,
        '401': problem,
      },
    },
  },
  '/spc/chart': {
    get: {
      summary:
        'An X̄-R or I-MR control chart of one characteristic with limits, capability and rule violations',
      security,
      parameters: [
        q('equipment', str, 'the rig (asset tag)', true),
        q('characteristic', str, 'e.g. full-load.quantity', true),
        q('chart', { enum: ['xbar-r', 'i-mr'], default: 'xbar-r' }),
        q(
          'subgroupSize',
          { type: 'integer', minimum: 2, maximum: 10, default: 5 },
          'X̄-R only (ignored for I-MR)',
        ),
        q(
          'rules',
          { enum: ['western-electric', 'nelson'] },
          'default: the baseline’s rule set, else western-electric',
        ),
        q('from', time, 'observedAt ≥ from'),
        q('to', time, 'observedAt < to'),
        q('limit', { type: 'integer', minimum: 1, maximum: 1000, default: 100 }, 'the latest N points'),
      ],
      responses: {
        '200': json(
          'the chart',
          obj(
            {
              equipment: str,
              characteristic: str,
              siteId: str,
              unit: str,
              chart: { enum: ['xbar-r', 'i-mr'] },
              subgroupSize: { type: 'integer' },
              rules: { enum: ['western-electric', 'nelson'] },
              points: {
                type: 'array',
                items: obj({ at: time, value: num, range: numOrNull, n: { type: 'integer' } }),
              },
              limits: limitsSchema,
              baseline: { oneOf: [baselineSchema, { type: 'null' }] },
              capability: capabilitySchema,
              violations: { type: 'array', items: violationSchema },
            },
            [
              'equipment',
              'characteristic',
              'unit',
              'chart',
              'subgroupSize',
              'points',
              'limits',
              'capability',
              'violations',
            ],
          ),
        ),
        '400': problem,
        '401': problem,
        '404': problem,
      },
    },
  },
  '/spc/baselines': {
    post: {
      summary: 'Freeze control limits from a period of a characteristic’s measurements (admin, manager)',
      security,
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: obj(
              {
                equipment: str,
                characteristic: str,
                chart: { enum: ['xbar-r', 'i-mr'] },
                subgroupSize: { type: 'integer', minimum: 1, maximum: 10 },
                rules: { enum: ['western-electric', 'nelson'], default: 'western-electric' },
                from: time,
                to: time,
              },
              ['equipment', 'characteristic', 'chart', 'from', 'to'],
            ),
          },
        },
      },
      responses: {
        '201': json('the frozen baseline', baselineSchema),
        '400': problem,
        '401': problem,
        '403': problem,
        '404': problem,
      },
    },
  },
  '/alerts': {
    get: {
      summary: 'The tenant’s alerts (SPC rule violations), newest first',
      security,
      parameters: [
        q('siteId', str),
        q('state', { enum: ['open', 'acknowledged', 'all'], default: 'open' }),
        q('limit', { type: 'integer', minimum: 1, maximum: 1000, default: 100 }),
        q('cursor', str, 'the `next` of the previous page'),
      ],
      responses: {
        '200': json(
          '{ items, next }',
          obj({ items: { type: 'array', items: alertSchema }, next: { type: ['string', 'null'] } }),
        ),
        '400': problem,
        '401': problem,
      },
    },
  },
  '/alerts/{id}/acknowledge': {
    post: {
      summary: 'Acknowledge an alert (admin, manager, technician)',
      security,
      parameters: [{ name: 'id', in: 'path', required: true, schema: str }],
      responses: {
        '200': json('the acknowledged alert', alertSchema),
        '401': problem,
        '403': problem,
        '404': problem,
        '409': problem,
      },
    },
  },
} as const;
