import { Router } from 'express';
import { type Accounts, tenantOf, viewerOf, viewerSees } from '../access/index.js';
import { ProblemError } from '../platform/errors.js';
import type { TenancyRepository } from '../tenancy/index.js';
import { tokenOrSession } from '../platform/http/openapi-parts.js';
import { mount, operation } from '../platform/http/contract.js';
import type { LiveService } from './live.service.js';

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
    if (!viewerSees(viewer, siteId) || !(await deps.tenancy.siteExists(tenantOf(req), siteId)))
      throw new ProblemError('CLOUD_NOT_FOUND', 'no such site');
    res.json(await deps.live.snapshot(viewer, siteId));
  });
  return r;
}

const value = { type: ['number', 'boolean', 'string', 'null'] };
const code = { type: ['number', 'string'] };

/** A signal dictionary entry, as the edge sent it (protocols/RECORDS.md, "Signal dictionary"). */
const signalEntry = {
  type: 'object',
  required: ['name'],
  properties: {
    name: { type: 'string' },
    label: { type: 'string' },
    unit: { type: 'string' },
    codes: {
      type: 'array',
      items: { type: 'object', required: ['code', 'word'], properties: { code, word: { type: 'string' } } },
    },
    when: {
      type: 'object',
      required: ['signal', 'codes'],
      properties: { signal: { type: 'string' }, codes: { type: 'array', items: code } },
    },
  },
};

const lastTest = {
  type: ['object', 'null'],
  description: 'the rig’s last completed test (its latest inspection), per test point',
  required: ['at', 'partSerial', 'result', 'testPoints'],
  properties: {
    at: { type: 'string', format: 'date-time' },
    partSerial: { type: 'string' },
    workOrder: { type: 'string' },
    testPlan: { type: 'string' },
    result: { enum: ['pass', 'fail'] },
    testPoints: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'characteristics'],
        properties: {
          name: {
            type: ['string', 'null'],
            description: 'the test point ("fullLoad" of "fullLoad.deliveredQty"); null: not tied to one',
          },
          characteristics: {
            type: 'array',
            items: {
              type: 'object',
              required: ['name', 'quantity', 'measured', 'unit', 'result'],
              properties: {
                name: { type: 'string' },
                quantity: { type: 'string' },
                measured: { type: 'number' },
                unit: { type: 'string' },
                nominal: { type: 'number' },
                lsl: { type: 'number' },
                usl: { type: 'number' },
                result: { enum: ['pass', 'fail'] },
              },
            },
          },
        },
      },
    },
  },
};

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
    responses: {
      '200': {
        description: 'the snapshot',
        content: {
          'application/json': {
            schema: {
              type: 'object',
              required: ['siteId', 'at', 'rigs', 'today', 'alerts'],
              properties: {
                siteId: { type: 'string' },
                at: { type: 'string', format: 'date-time' },
                rigs: {
                  type: 'array',
                  items: {
                    type: 'object',
                    required: [
                      'equipment',
                      'edgeId',
                      'state',
                      'stateSince',
                      'lastSeenAt',
                      'values',
                      'signals',
                      'lastTest',
                    ],
                    properties: {
                      equipment: { type: 'string' },
                      edgeId: { type: 'string' },
                      state: { enum: ['running', 'idle', 'stopped'] },
                      stateSince: { type: ['string', 'null'], format: 'date-time' },
                      lastSeenAt: { type: 'string', format: 'date-time' },
                      values: {
                        type: 'array',
                        items: {
                          type: 'object',
                          required: ['point', 'value', 'unit', 'quality', 'observedAt'],
                          properties: {
                            point: { type: 'string' },
                            value,
                            unit: { type: ['string', 'null'] },
                            quality: { enum: ['good', 'uncertain', 'bad'] },
                            observedAt: { type: 'string', format: 'date-time' },
                          },
                        },
                        description:
                          'latest values that mean something now: a value whose dictionary entry has `when` is left out while its condition does not hold (an idle zero between tests)',
                      },
                      signals: {
                        type: 'array',
                        items: signalEntry,
                        description: 'the signal dictionary the rig’s telemetry last carried; empty: none',
                      },
                      lastTest,
                    },
                  },
                },
                today: {
                  type: 'object',
                  required: ['inspections', 'passed', 'firstPassYield', 'throughputPerHour'],
                  properties: {
                    inspections: { type: 'integer' },
                    passed: { type: 'integer' },
                    firstPassYield: { type: ['number', 'null'], minimum: 0, maximum: 1 },
                    throughputPerHour: {
                      type: 'array',
                      items: {
                        type: 'object',
                        required: ['hour', 'count'],
                        properties: {
                          hour: {
                            type: 'string',
                            format: 'date-time',
                            description: 'start of the UTC hour',
                          },
                          count: { type: 'integer' },
                        },
                      },
                    },
                  },
                },
                alerts: {
                  type: 'array',
                  maxItems: 20,
                  items: {
                    type: 'object',
                    required: ['siteId', 'id', 'kind', 'severity', 'message', 'at'],
                    properties: {
                      siteId: { type: ['string', 'null'] },
                      id: { type: 'string' },
                      kind: { type: 'string' },
                      severity: { enum: ['info', 'warning', 'critical'] },
                      message: { type: 'string' },
                      at: { type: 'string', format: 'date-time' },
                      tag: { type: 'string' },
                      caseId: {
                        type: 'string',
                        description: 'an out-of-tolerance or tag-out alert: its case',
                      },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
    errors: [401, 403, 404],
  }),
} as const;
