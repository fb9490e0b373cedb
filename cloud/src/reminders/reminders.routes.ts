import { Router, type Request } from 'express';
import { z } from 'zod';
import { type Accounts, actorOfRequest, type Permission, principalOf } from '../access/index.js';
import type { ReminderService } from './reminders.service.js';
import { problem, tokenOrSession as security } from '../platform/http/openapi-parts.js';
import { limit, parseQuery } from '../platform/http/validation.js';

const deliveriesQuery = z.strictObject({
  siteId: z.string().min(1).max(128).optional(),
  limit: limit(50, 500),
  cursor: z.string().min(1).max(400).optional(),
});

/** Reminder settings per site, send-now, and the delivery log. */
export function remindersRoutes(deps: { accounts: Accounts; reminders: ReminderService }): Router {
  const r = Router();
  const allow = (permission: Permission) => deps.accounts.require(permission);
  const site = (req: Request) => String(req.params.siteId);
  const svc = deps.reminders;

  r.get('/sites/:siteId/reminders', allow('reminders:read'), async (req, res) => {
    res.json(await svc.getSettings(principalOf(req), site(req)));
  });

  r.put('/sites/:siteId/reminders', allow('reminders:manage'), async (req, res) => {
    res.json(
      await svc.putSettings(principalOf(req), actorOfRequest(req), req.ip ?? null, site(req), req.body ?? {}),
    );
  });

  r.post('/sites/:siteId/reminders/send', allow('reminders:manage'), async (req, res) => {
    res.json(await svc.sendNow(principalOf(req), actorOfRequest(req), req.ip ?? null, site(req)));
  });

  r.get('/reminders/deliveries', allow('reminders:deliveries'), async (req, res) => {
    const q = parseQuery(deliveriesQuery, req);
    res.json(await svc.deliveries(principalOf(req), q));
  });

  return r;
}

// ---------------------------------------------------------------------------------------------
// OpenAPI paths (spread into openapi.ts's `paths`).

const siteParam = { name: 'siteId', in: 'path', required: true, schema: { type: 'string' } };
const webhook = {
  type: 'object',
  properties: {
    id: { type: 'string', description: 'wh_…' },
    url: { type: 'string', description: 'admins only' },
    host: { type: 'string' },
    enabled: { type: 'boolean' },
    createdAt: { type: 'string', format: 'date-time' },
    secretCreatedAt: { type: 'string', format: 'date-time' },
    secret: {
      type: 'string',
      description: 'whsec_…: only in the PUT answer that created or rotated it, never again',
    },
  },
};
const settings = {
  type: 'object',
  properties: {
    siteId: { type: 'string' },
    enabled: { type: 'boolean' },
    sendAllClear: { type: 'boolean' },
    email: {
      type: 'object',
      properties: {
        enabled: { type: 'boolean' },
        recipients: { type: 'array', items: { type: 'string', format: 'email' } },
      },
    },
    webhooks: { type: 'array', items: webhook },
    dailyAt: { type: 'string', description: 'HH:MM UTC (cloud setting RIGTRACE_REMINDERS_DAILY_AT)' },
    updatedAt: { type: ['string', 'null'] },
    updatedBy: { type: ['string', 'null'] },
  },
};
const delivery = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' },
    siteId: { type: 'string' },
    digestDate: { type: 'string', format: 'date' },
    channel: { enum: ['email', 'webhook'] },
    target: { type: 'string', description: 'the email addresses, or the webhook host' },
    origin: { enum: ['schedule', 'manual'] },
    counts: {
      type: 'object',
      properties: {
        outOfTolerance: { type: 'integer' },
        overdue: { type: 'integer' },
        dueSoon: { type: 'integer' },
      },
    },
    state: { enum: ['sending', 'retry', 'sent', 'failed', 'skipped'] },
    attempts: { type: 'integer' },
    nextAttemptAt: { type: ['string', 'null'], format: 'date-time' },
    responseStatus: { type: ['integer', 'null'], description: 'HTTP status or SMTP reply code' },
    error: { type: ['string', 'null'] },
    createdAt: { type: 'string', format: 'date-time' },
    at: { type: 'string', format: 'date-time', description: 'last change' },
    sentAt: { type: ['string', 'null'], format: 'date-time' },
  },
};

export const remindersOpenApiPaths = {
  '/sites/{siteId}/reminders': {
    get: {
      summary:
        'The site’s calibration reminder settings (admin, manager; managers see webhook hosts, not URLs)',
      security,
      parameters: [siteParam],
      responses: {
        '200': { description: 'settings', content: { 'application/json': { schema: settings } } },
        '401': problem,
        '403': problem,
        '404': problem,
      },
    },
    put: {
      summary:
        'Replace the site’s reminder settings (admin). A webhook without id is new and gets a secret, shown once in this answer',
      security,
      parameters: [siteParam],
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: {
              type: 'object',
              required: ['enabled'],
              additionalProperties: false,
              properties: {
                enabled: { type: 'boolean' },
                sendAllClear: { type: 'boolean', default: false },
                email: {
                  type: 'object',
                  properties: {
                    enabled: { type: 'boolean' },
                    recipients: { type: 'array', maxItems: 50, items: { type: 'string', format: 'email' } },
                  },
                },
                webhooks: {
                  type: 'array',
                  maxItems: 5,
                  items: {
                    type: 'object',
                    required: ['url'],
                    properties: {
                      id: { type: 'string' },
                      url: { type: 'string', format: 'uri' },
                      enabled: { type: 'boolean', default: true },
                      rotateSecret: { type: 'boolean', default: false },
                    },
                  },
                },
              },
            },
          },
        },
      },
      responses: {
        '200': {
          description: 'settings (with new secrets)',
          content: { 'application/json': { schema: settings } },
        },
        '400': problem,
        '401': problem,
        '403': problem,
        '404': problem,
      },
    },
  },
  '/sites/{siteId}/reminders/send': {
    post: {
      summary: 'Send today’s digest of the site now to every enabled channel (admin)',
      security,
      parameters: [siteParam],
      responses: {
        '200': {
          description: '{ date, counts, deliveries }',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                properties: {
                  date: { type: 'string', format: 'date' },
                  counts: { type: ['object', 'null'] },
                  deliveries: { type: 'array', items: delivery },
                },
              },
            },
          },
        },
        '401': problem,
        '403': problem,
        '404': problem,
        '409': problem,
      },
    },
  },
  '/reminders/deliveries': {
    get: {
      summary: 'The reminder delivery log, newest first (admin, manager, auditor)',
      security,
      parameters: [
        { name: 'siteId', in: 'query', schema: { type: 'string' } },
        { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 } },
        {
          name: 'cursor',
          in: 'query',
          schema: { type: 'string' },
          description: 'the `next` of the previous page',
        },
      ],
      responses: {
        '200': {
          description: '{ items, next }',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                properties: { items: { type: 'array', items: delivery }, next: { type: ['string', 'null'] } },
              },
            },
          },
        },
        '400': problem,
        '401': problem,
        '403': problem,
        '404': problem,
      },
    },
  },
} as const;
