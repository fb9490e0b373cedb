import { Router, type Request } from 'express';
import { z } from 'zod';
import { type Accounts, actorOfRequest, type Permission, principalOf } from '../access/index.js';
import { settingsInput, type ReminderService } from './reminders.service.js';
import { mount, operation } from '../platform/http/contract.js';
import { limit, parseQuery } from '../platform/http/validation.js';

const deliveriesQuery = z.strictObject({
  siteId: z.string().min(1).max(128).optional(),
  limit: limit(50, 500),
  cursor: z.string().min(1).max(400).optional().describe('the `next` of the previous page'),
});

/** Reminder settings per site, send-now, and the delivery log. */
export function remindersRoutes(deps: { accounts: Accounts; reminders: ReminderService }): Router {
  const r = Router();
  const allow = (permission: Permission) => deps.accounts.require(permission);
  const site = (req: Request) => String(req.params.siteId);
  const svc = deps.reminders;

  mount(r, remindersApi.settings, allow('reminders:read'), async (req, res) => {
    res.json(await svc.getSettings(principalOf(req), site(req)));
  });

  mount(r, remindersApi.putSettings, allow('reminders:manage'), async (req, res) => {
    res.json(
      await svc.putSettings(principalOf(req), actorOfRequest(req), req.ip ?? null, site(req), req.body ?? {}),
    );
  });

  mount(r, remindersApi.send, allow('reminders:manage'), async (req, res) => {
    res.json(await svc.sendNow(principalOf(req), actorOfRequest(req), req.ip ?? null, site(req)));
  });

  mount(r, remindersApi.deliveries, allow('reminders:deliveries'), async (req, res) => {
    const q = parseQuery(remindersApi.deliveries, req);
    res.json(await svc.deliveries(principalOf(req), q));
  });

  return r;
}

// ---------------------------------------------------------------------------------------------
// The routes' contracts: the API document is written from these (openapi.ts). The answers'
// schemas are still JSON Schema written by hand.

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

const json = (description: string, schema: Record<string, unknown>) => ({
  description,
  content: { 'application/json': { schema } },
});

/** The reminder routes' contracts (served by remindersRoutes, documented by openapi.ts). */
export const remindersApi = {
  settings: operation({
    method: 'get',
    path: '/sites/{siteId}/reminders',
    summary:
      'The site’s calibration reminder settings (admin, manager; managers see webhook hosts, not URLs)',
    responses: { '200': json('settings', settings) },
    errors: [401, 403, 404],
  }),
  putSettings: operation({
    method: 'put',
    path: '/sites/{siteId}/reminders',
    summary:
      'Replace the site’s reminder settings (admin). A webhook without id is new and gets a secret, shown once in this answer',
    body: settingsInput,
    responses: { '200': json('settings (with new secrets)', settings) },
    errors: [400, 401, 403, 404],
  }),
  send: operation({
    method: 'post',
    path: '/sites/{siteId}/reminders/send',
    summary: 'Send today’s digest of the site now to every enabled channel (admin)',
    responses: {
      '200': json('{ date, counts, deliveries }', {
        type: 'object',
        properties: {
          date: { type: 'string', format: 'date' },
          counts: { type: ['object', 'null'] },
          deliveries: { type: 'array', items: delivery },
        },
      }),
    },
    errors: [401, 403, 404, 409],
  }),
  deliveries: operation({
    method: 'get',
    path: '/reminders/deliveries',
    summary: 'The reminder delivery log, newest first (admin, manager, auditor)',
    query: deliveriesQuery,
    responses: {
      '200': json('{ items, next }', {
        type: 'object',
        properties: { items: { type: 'array', items: delivery }, next: { type: ['string', 'null'] } },
      }),
    },
    errors: [400, 401, 403, 404],
  }),
} as const;
