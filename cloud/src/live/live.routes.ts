import { Router } from 'express';
import { type Accounts, tenantOf, viewerOf, viewerSees } from '../access/index.js';
import { ProblemError } from '../platform/errors.js';
import type { TenancyRepository } from '../tenancy/index.js';
import { problem, tokenOrSession } from '../platform/http/openapi-parts.js';
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
  r.get('/sites/:siteId/live', deps.accounts.require('records:read'), async (req, res) => {
    const siteId = String(req.params.siteId);
    const viewer = viewerOf(req);
    if (!viewerSees(viewer, siteId) || !(await deps.tenancy.siteExists(tenantOf(req), siteId)))
      throw new ProblemError('CLOUD_NOT_FOUND', 'no such site');
    res.json(await deps.live.snapshot(viewer, siteId));
  });
  return r;
}

const value = { type: ['number', 'boolean', 'string', 'null'] };

export const liveOpenApiPaths = {
  '/sites/{siteId}/live': {
    get: {
      summary:
        'A site’s live snapshot: rigs with state and latest values, today’s inspections and first-pass yield, open alerts',
      description:
        'What a live page shows before the first socket.io push and after a reconnect (API.md, "Live updates"). Every role and API tokens; site-scoped users only for their sites.',
      security: tokenOrSession,
      parameters: [{ name: 'siteId', in: 'path', required: true, schema: { type: 'string' } }],
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
                      required: ['equipment', 'edgeId', 'state', 'stateSince', 'lastSeenAt', 'values'],
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
                        },
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
        '401': problem,
        '403': problem,
        '404': problem,
      },
    },
  },
};
