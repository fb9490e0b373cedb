import { Router, type Request } from 'express';
import { z } from 'zod';
import { type Accounts, actorOfRequest, type Permission, principalOf, viewerOf } from '../access/index.js';
import { settingsInput, type ReminderService } from './reminders.service.js';
import { dateTime, mount, operation } from '../platform/http/contract.js';
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
    res.json(await svc.deliveries(viewerOf(req), q));
  });

  return r;
}

// ---------------------------------------------------------------------------------------------
// The routes' contracts: the API document is written from these schemas (openapi.ts).

const webhook = z.object({
  id: z.string().describe('wh_…'),
  url: z.string().optional().describe('admins only'),
  host: z.string(),
  enabled: z.boolean(),
  createdAt: dateTime,
  secretCreatedAt: dateTime,
  secret: z
    .string()
    .optional()
    .describe('whsec_…: only in the PUT answer that created or rotated it, never again'),
});
const settings = z.object({
  siteId: z.string(),
  enabled: z.boolean(),
  sendAllClear: z.boolean(),
  email: z.object({ enabled: z.boolean(), recipients: z.array(z.string()) }),
  webhooks: z.array(webhook),
  dailyAt: z.string().describe('HH:MM in the site’s time zone (cloud setting RIGTRACE_REMINDERS_DAILY_AT)'),
  updatedAt: z.string().nullable(),
  updatedBy: z.string().nullable(),
});
const delivery = z.object({
  id: z.string(),
  siteId: z.string(),
  digestDate: z.string().meta({ format: 'date' }),
  channel: z.enum(['email', 'webhook']),
  target: z.string().describe('the email addresses, or the webhook host'),
  origin: z.enum(['schedule', 'manual']),
  counts: z
    .object({ outOfTolerance: z.int(), overdue: z.int(), dueSoon: z.int() })
    .nullable()
    .describe(
      'what the digest counted; null for a reader not cleared for export-controlled data when the delivery went to the cleared recipients (target id email:cleared): their digest counts the site’s ITAR/EAR-flagged equipment. The delivery itself (to whom, when, its outcome) is listed for every reader of the site',
    ),
  state: z.enum(['sending', 'retry', 'sent', 'failed', 'skipped']),
  attempts: z.int(),
  nextAttemptAt: dateTime.nullable(),
  responseStatus: z.int().nullable().describe('HTTP status or SMTP reply code'),
  error: z.string().nullable(),
  createdAt: dateTime,
  at: dateTime.describe('last change'),
  sentAt: dateTime.nullable(),
});

/** The reminder routes' contracts (served by remindersRoutes, documented by openapi.ts). */
export const remindersApi = {
  settings: operation({
    method: 'get',
    path: '/sites/{siteId}/reminders',
    summary:
      'The site’s calibration reminder settings (admin, manager; managers see webhook hosts, not URLs)',
    responses: { '200': settings.describe('settings') },
    errors: [401, 403, 404],
  }),
  putSettings: operation({
    method: 'put',
    path: '/sites/{siteId}/reminders',
    summary:
      'Replace the site’s reminder settings (admin). A webhook without id is new and gets a secret, shown once in this answer',
    body: settingsInput,
    responses: { '200': settings.describe('settings (with new secrets)') },
    errors: [400, 401, 403, 404],
  }),
  send: operation({
    method: 'post',
    path: '/sites/{siteId}/reminders/send',
    summary: 'Send today’s digest of the site now to every enabled channel (admin)',
    responses: {
      '200': z
        .object({
          date: z.string().meta({ format: 'date' }),
          counts: z.looseObject({}).nullable(),
          deliveries: z.array(delivery),
        })
        .describe('{ date, counts, deliveries }'),
    },
    errors: [401, 403, 404, 409],
  }),
  deliveries: operation({
    method: 'get',
    path: '/reminders/deliveries',
    summary: 'The reminder delivery log, newest first (admin, manager, auditor)',
    query: deliveriesQuery,
    responses: {
      '200': z.object({ items: z.array(delivery), next: z.string().nullable() }).describe('{ items, next }'),
    },
    errors: [400, 401, 403, 404],
  }),
} as const;
