import { Router, type Request } from 'express';
import { z } from 'zod';
import { type Accounts, principalOf, viewerOf as viewerOfRequest } from '../access/index.js';
import { exportCallerOf } from '../export-control/index.js';
import { problem, sessionOnly, tokenOrSession } from '../platform/http/openapi-parts.js';
import { parseQuery } from '../platform/http/validation.js';
import { EVENT_KINDS } from './maintenance.repository.js';
import {
  eventSchema,
  outOfServiceSchema,
  planPatchSchema,
  planSchema,
  returnToServiceSchema,
  type MaintenanceCaller,
  type MaintenanceService,
} from './maintenance.service.js';
import { dateTime, mount, operation } from '../platform/http/contract.js';

const boardQuery = z.strictObject({ site: z.string().min(1).max(128).optional() });

/**
 * Maintenance: everyone who reads records reads the log, plans and service state of the
 * equipment they may see (`records:read`: their sites, export control as for the equipment);
 * logging events, plans and taking equipment out of or back into service need `maintenance:write`.
 */
export function maintenanceRoutes(deps: { accounts: Accounts; maintenance: MaintenanceService }): Router {
  const r = Router();
  const read = deps.accounts.require('records:read');
  const write = deps.accounts.require('maintenance:write');
  const tag = (req: Request) => String(req.params.tag);

  /** The caller, with the route export control logs its access to flagged equipment under. */
  const caller = (req: Request, route: string): MaintenanceCaller => {
    const p = principalOf(req);
    const ctx = req.sessionCtx;
    return {
      ...exportCallerOf(req, route),
      ...(ctx && p.kind === 'user'
        ? { person: { id: ctx.user.id, email: ctx.user.email, name: ctx.user.name, role: ctx.user.role } }
        : {}),
    };
  };

  mount(r, maintenanceApi.board, read, async (req, res) => {
    const q = parseQuery(maintenanceApi.board, req);
    res.json(await deps.maintenance.board(viewerOfRequest(req), q));
  });

  mount(r, maintenanceApi.log, read, async (req, res) => {
    res.json(await deps.maintenance.get(exportCallerOf(req, 'GET /equipment/{tag}/maintenance'), tag(req)));
  });

  mount(r, maintenanceApi.logEvent, write, async (req, res) => {
    const c = caller(req, 'POST /equipment/{tag}/maintenance/events');
    res.status(201).json(await deps.maintenance.logEvent(c, tag(req), req.body));
  });

  mount(r, maintenanceApi.createPlan, write, async (req, res) => {
    const c = caller(req, 'POST /equipment/{tag}/maintenance/plans');
    res.status(201).json(await deps.maintenance.createPlan(c, tag(req), req.body));
  });

  mount(r, maintenanceApi.updatePlan, write, async (req, res) => {
    res.json(
      await deps.maintenance.updatePlan(
        caller(req, 'PATCH /maintenance/plans/{id}'),
        String(req.params.id),
        req.body,
      ),
    );
  });

  mount(r, maintenanceApi.retirePlan, write, async (req, res) => {
    await deps.maintenance.retirePlan(caller(req, 'DELETE /maintenance/plans/{id}'), String(req.params.id));
    res.status(204).end();
  });

  mount(r, maintenanceApi.outOfService, write, async (req, res) => {
    const c = caller(req, 'POST /equipment/{tag}/out-of-service');
    res.json(await deps.maintenance.takeOutOfService(c, tag(req), req.body));
  });

  mount(r, maintenanceApi.returnToService, write, async (req, res) => {
    const c = caller(req, 'POST /equipment/{tag}/return-to-service');
    res.json(await deps.maintenance.returnToService(c, tag(req), req.body));
  });

  return r;
}

// ---------------------------------------------------------------------------------------------
// The routes' contracts: the API document is written from these (openapi.ts); the request schemas
// are the ones the service validates with, the answers are what the service returns.

const date = z.string().meta({ format: 'date' });
const person = z.object({ id: z.string(), email: z.string(), name: z.string(), role: z.string() });
const part = z.object({ name: z.string(), partNumber: z.string().optional(), quantity: z.int().optional() });
const kind = z.enum(EVENT_KINDS);
const pmStatus = z.enum(['current', 'due-soon', 'overdue', 'retired']);

const event = z.object({
  id: z.string(),
  equipment: z.string(),
  kind,
  occurredAt: dateTime,
  description: z.string(),
  parts: z.array(part),
  calibrationRequired: z
    .boolean()
    .describe('the equipment may not be used until a valid calibration after this event'),
  planId: z.string().nullable(),
  recordedAt: dateTime,
  by: person,
});
const plan = z.object({
  id: z.string(),
  equipment: z.string(),
  task: z.string(),
  intervalDays: z.int(),
  firstDue: date,
  lastDoneAt: dateTime.nullable(),
  nextDue: date
    .nullable()
    .describe('last done plus the interval; the first due date until then; null when retired'),
  daysUntilDue: z.int().nullable(),
  status: pmStatus,
  createdAt: dateTime,
  createdBy: z.string(),
  retiredAt: dateTime.nullable(),
});
const service = z.object({
  outOfService: z
    .boolean()
    .describe('may not be used now: taken out of service, or waiting for a calibration'),
  manual: z
    .object({ since: dateTime, reason: z.string(), by: person })
    .nullable()
    .describe('taken out of service by a person and not back yet'),
  calibrationRequired: z
    .object({
      eventId: z.string(),
      kind,
      since: dateTime,
      description: z.string(),
      metBy: z.object({ id: z.string(), calibratedAt: dateTime }).nullable(),
    })
    .nullable()
    .describe(
      'the newest event asking for a calibration before use; metBy: the first valid calibration since',
    ),
});
const nextPm = z
  .object({ planId: z.string(), task: z.string(), nextDue: date, daysUntilDue: z.int(), status: pmStatus })
  .nullable();
const log = z.object({
  tag: z.string(),
  siteId: z.string(),
  service,
  nextPm,
  plans: z.array(plan),
  events: z.array(event).describe('newest first (the newest 500)'),
  serviceHistory: z.array(
    z.object({
      id: z.string(),
      state: z.enum(['out-of-service', 'in-service']),
      reason: z.string(),
      at: dateTime,
      by: person,
    }),
  ),
});
const writeErrors = { '400': problem, '401': problem, '403': problem, '404': problem };

/** The maintenance routes' contracts (served by maintenanceRoutes, documented by openapi.ts). */
export const maintenanceApi = {
  board: operation({
    method: 'get',
    path: '/maintenance',
    summary:
      'Equipment with preventive-maintenance plans or not in service: its next preventive task and service state (records:read)',
    security: tokenOrSession,
    query: boardQuery,
    responses: {
      '200': z.object({ items: z.array(z.object({ tag: z.string(), siteId: z.string(), service, nextPm })) }),
    },
    errors: [400, 401],
  }),
  log: operation({
    method: 'get',
    path: '/equipment/{tag}/maintenance',
    summary:
      'The maintenance log of one piece of equipment: service state, plans, events, service changes (records:read)',
    security: tokenOrSession,
    responses: { '200': log },
    errors: [401, 404],
  }),
  logEvent: operation({
    method: 'post',
    path: '/equipment/{tag}/maintenance/events',
    summary:
      'Log a maintenance event: damage, malfunction, repair, modification or a preventive task done (maintenance:write)',
    description:
      'Logged as the signed-in person, on the audit trail. occurredAt defaults to now and may not be in the future. calibrationRequired: the equipment may not be used (a usage or inspection record raises a tag-out alert) until a valid calibration made at or after occurredAt.',
    security: sessionOnly,
    body: eventSchema,
    responses: { '201': event.describe('Logged'), ...writeErrors, '409': problem },
  }),
  createPlan: operation({
    method: 'post',
    path: '/equipment/{tag}/maintenance/plans',
    summary: 'Add a preventive-maintenance plan: a task every intervalDays (maintenance:write)',
    security: sessionOnly,
    body: planSchema,
    responses: { '201': plan.describe('Added'), ...writeErrors },
  }),
  updatePlan: operation({
    method: 'patch',
    path: '/maintenance/plans/{id}',
    summary: "Change a plan's task, interval or first due date (maintenance:write)",
    security: sessionOnly,
    body: planPatchSchema,
    responses: { '200': plan, ...writeErrors, '409': problem },
  }),
  retirePlan: operation({
    method: 'delete',
    path: '/maintenance/plans/{id}',
    summary: 'Retire a plan (kept, with the events that name it) (maintenance:write)',
    security: sessionOnly,
    responses: { '204': { description: 'Retired' } },
    errors: [401, 403, 404],
  }),
  outOfService: operation({
    method: 'post',
    path: '/equipment/{tag}/out-of-service',
    summary: 'Take equipment out of service, with the reason (maintenance:write)',
    description:
      'Until it is back, a usage or inspection record made with it raises a tag-out alert. 409 when it already is.',
    security: sessionOnly,
    body: outOfServiceSchema,
    responses: { '200': log, ...writeErrors, '409': problem },
  }),
  returnToService: operation({
    method: 'post',
    path: '/equipment/{tag}/return-to-service',
    summary: 'Put equipment back in service (maintenance:write)',
    description:
      'Refused (409) while an event asks for a calibration before use and no valid calibration has been made since, and when it is not out of service.',
    security: sessionOnly,
    body: returnToServiceSchema,
    bodyOptional: true,
    responses: { '200': log, ...writeErrors, '409': problem },
  }),
} as const;
