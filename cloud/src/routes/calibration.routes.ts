import { Router, type Request, type RequestHandler } from 'express';
import { assetTagSchema, dateSchema, timestampSchema } from '@rigtrace/protocols';
import { z } from 'zod';
import type { Db } from '../db/db.js';
import { ProblemError } from '../errors.js';
import { hashToken, type TenancyRepository } from '../repositories/tenancy.repository.js';
import type { CalibrationService } from '../services/calibration.service.js';
import {
  decodeCursor,
  itemView,
  suspectCsv,
  type TraceabilityService,
} from '../services/traceability.service.js';
import type { Accounts } from '../auth/accounts.js';
import type { Role } from '../auth/policy.js';
import { tenantOf } from './auth.js';

// ---------------------------------------------------------------------------------------------
// Authorization, in one place. Every calibration route is either `read` or `write`; `authorize`
// authenticates through the accounts layer (session cookie with CSRF on writes, or API token)
// and checks the caller against CALIBRATION_ACCESS. Nothing else in this file knows about roles.

export type Access = 'read' | 'write';

/**
 * Who may do what: signed-in users by role, and API tokens. API tokens keep writing for now
 * (integrations and the engine's own tests register equipment and enter calibrations with them);
 * dropping `'api-token'` from `write` makes them read-only like the rest of the API.
 */
export const CALIBRATION_ACCESS: Record<Access, readonly (Role | 'api-token')[]> = {
  read: ['admin', 'manager', 'technician', 'auditor', 'api-token'],
  write: ['admin', 'technician', 'api-token'],
};

/**
 * Who is acting, as stored with manual entries: `user:<id>` for a signed-in user, or the API
 * token by its hash prefix (`api-token:<16 hex>`, matching `api_tokens.token_hash`; never the token).
 */
export function principalOf(req: Request): string {
  if (req.principal?.kind === 'user') return `user:${req.principal.id}`;
  const m = /^Bearer (\S+)$/.exec(req.get('authorization') ?? '');
  return m ? `api-token:${hashToken(m[1]!).slice(0, 16)}` : 'unknown';
}

// ---------------------------------------------------------------------------------------------

function parse<T extends z.ZodType>(schema: T, value: unknown, what: string): z.output<T> {
  const r = schema.safeParse(value);
  if (!r.success) {
    throw new ProblemError('CLOUD_VALIDATION', `${what} are not valid`, {
      errors: r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    });
  }
  return r.data;
}

const limit = (dflt: number, max: number) => z.coerce.number().int().min(1).max(max).default(dflt);
const cursor = z
  .string()
  .transform((c, ctx) => {
    const d = decodeCursor(c);
    if (!d) ctx.addIssue({ code: 'custom', message: 'a cursor from a previous page (next)' });
    return d;
  })
  .optional();
const site = z.string().min(1).max(128).optional();

const equipmentListQuery = z.strictObject({
  site,
  type: z.string().min(1).max(64).optional(),
  includeRetired: z.enum(['true', 'false']).optional(),
  after: assetTagSchema.optional(),
  limit: limit(100, 1000),
});
const asOfQuery = z.strictObject({ asOf: dateSchema.optional() });
const suspectQuery = z.strictObject({
  calibration: z.string().min(1).max(200).optional(),
  format: z.enum(['json', 'csv']).default('json'),
  after: cursor,
  limit: limit(10_000, 100_000),
});
const dueListQuery = z.strictObject({
  days: z.coerce.number().int().min(0).max(3650).default(30),
  site,
  asOf: dateSchema.optional(),
  limit: limit(1000, 10_000),
});
const recordQuery = {
  site,
  equipment: assetTagSchema.optional(),
  partSerial: z.string().min(1).max(64).optional(),
  workOrder: z.string().min(1).max(64).optional(),
  from: timestampSchema.optional(),
  to: timestampSchema.optional(),
  after: cursor,
  limit: limit(100, 1000),
};
const inspectionsQuery = z.strictObject({ ...recordQuery, result: z.enum(['pass', 'fail']).optional() });
const usageQuery = z.strictObject(recordQuery);
const yieldQuery = z.strictObject({
  from: timestampSchema.optional(),
  to: timestampSchema.optional(),
  site,
  equipment: assetTagSchema.optional(),
});

export interface CalibrationRouteDeps {
  db: Db;
  tenancy: TenancyRepository;
  calibration: CalibrationService;
  traceability: TraceabilityService;
  accounts: Accounts;
}

/** The calibration engine's API: equipment register, calibrations, due-list, traceability, queries. */
export function calibrationRoutes(deps: CalibrationRouteDeps): Router {
  const r = Router();
  const authenticate = deps.accounts.authenticate();
  const authorize =
    (access: Access): RequestHandler =>
    async (req, res, next) => {
      await authenticate(req, res, (err?: unknown) => {
        if (err) return next(err);
        const p = req.principal;
        if (!p) return next(new ProblemError('CLOUD_UNAUTHENTICATED'));
        const caller = p.kind === 'api-token' ? 'api-token' : p.role;
        if (!CALIBRATION_ACCESS[access].includes(caller))
          return next(new ProblemError('CLOUD_FORBIDDEN', `the ${p.role} role may not do this`));
        next();
      });
    };
  const read = authorize('read');
  const write = authorize('write');
  const tag = (req: Request) => String(req.params.tag);

  // ---- read ----------------------------------------------------------------------------------

  r.get('/equipment', read, async (req, res) => {
    const q = parse(equipmentListQuery, req.query, 'query parameters');
    res.json(
      await deps.calibration.list(tenantOf(req), {
        siteId: q.site,
        type: q.type,
        includeRetired: q.includeRetired === 'true',
        after: q.after,
        limit: q.limit,
      }),
    );
  });

  r.get('/equipment/:tag', read, async (req, res) => {
    const q = parse(asOfQuery, req.query, 'query parameters');
    res.json(await deps.calibration.describe(tenantOf(req), tag(req), q.asOf));
  });

  r.get('/equipment/:tag/calibrations', read, async (req, res) => {
    res.json({ items: await deps.calibration.calibrationsOf(tenantOf(req), tag(req)) });
  });

  r.get('/equipment/:tag/suspect-records', read, async (req, res) => {
    const q = parse(suspectQuery, req.query, 'query parameters');
    const out = await deps.traceability.suspectRecords(tenantOf(req), tag(req), q);
    if (out.next) res.setHeader('x-next-cursor', out.next);
    if (q.format === 'csv') {
      res
        .type('text/csv; charset=utf-8')
        .setHeader(
          'content-disposition',
          `attachment; filename="suspect-${tag(req).replace(/[^A-Za-z0-9._-]/g, '_')}.csv"`,
        )
        .send(suspectCsv(out.rows));
      return;
    }
    res.json({ equipment: tag(req), window: out.window, items: out.rows.map(itemView), next: out.next });
  });

  r.get('/due-list', read, async (req, res) => {
    const q = parse(dueListQuery, req.query, 'query parameters');
    res.json(await deps.calibration.dueList(tenantOf(req), { ...q, siteId: q.site }));
  });

  r.get('/inspections', read, async (req, res) => {
    const q = parse(inspectionsQuery, req.query, 'query parameters');
    res.json(await deps.traceability.records(tenantOf(req), { ...q, kind: 'inspection', siteId: q.site }));
  });

  r.get('/usage', read, async (req, res) => {
    const q = parse(usageQuery, req.query, 'query parameters');
    res.json(await deps.traceability.records(tenantOf(req), { ...q, kind: 'usage', siteId: q.site }));
  });

  r.get('/yield', read, async (req, res) => {
    const q = parse(yieldQuery, req.query, 'query parameters');
    const to = q.to ?? new Date().toISOString();
    const from = q.from ?? new Date(Date.parse(to) - 30 * 86_400_000).toISOString();
    res.json(
      await deps.traceability.firstPassYield(tenantOf(req), {
        from,
        to,
        siteId: q.site,
        equipment: q.equipment,
      }),
    );
  });

  r.get('/calibration-settings', read, async (req, res) => {
    res.json({ dueSoonDays: await deps.calibration.dueSoonDefault(tenantOf(req)) });
  });

  // ---- write ---------------------------------------------------------------------------------

  r.post('/equipment', write, async (req, res) => {
    const out = await deps.calibration.create(tenantOf(req), req.body);
    res
      .status(201)
      .location(`equipment/${encodeURIComponent(out.tag)}`)
      .json(out);
  });

  r.put('/equipment/:tag', write, async (req, res) => {
    res.json(await deps.calibration.replace(tenantOf(req), tag(req), req.body));
  });

  r.delete('/equipment/:tag', write, async (req, res) => {
    await deps.calibration.retire(tenantOf(req), tag(req));
    res.status(204).end();
  });

  r.post('/calibrations', write, async (req, res) => {
    res.status(201).json(await deps.calibration.enterManual(tenantOf(req), req.body, principalOf(req)));
  });

  r.put('/calibration-settings', write, async (req, res) => {
    res.json(await deps.calibration.setSettings(tenantOf(req), req.body));
  });

  return r;
}

// ---------------------------------------------------------------------------------------------
// OpenAPI paths of these routes (spread into openapi.ts's `paths`).

const problem = {
  description: 'RFC 7807 problem',
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
};
const security = [{ apiToken: [] }, { sessionCookie: [] }];
const q = (name: string, schema: Record<string, unknown>, description?: string) => ({
  name,
  in: 'query',
  schema,
  ...(description ? { description } : {}),
});
const tagParam = {
  name: 'tag',
  in: 'path',
  required: true,
  schema: { type: 'string' },
  description: 'asset tag (URL-encoded)',
};
const json = (description: string) => ({
  description,
  content: { 'application/json': { schema: { type: 'object' } } },
});
const body = (description: string) => ({
  required: true,
  description,
  content: { 'application/json': { schema: { type: 'object' } } },
});
const recordFilters = [
  q('site', { type: 'string' }),
  q('equipment', { type: 'string' }),
  q('partSerial', { type: 'string' }),
  q('workOrder', { type: 'string' }),
  q('from', { type: 'string', format: 'date-time' }, 'observedAt ≥ from'),
  q('to', { type: 'string', format: 'date-time' }, 'observedAt < to'),
  q('after', { type: 'string' }, 'cursor: the `next` of the previous page'),
  q('limit', { type: 'integer', minimum: 1, maximum: 1000, default: 100 }),
];

export const calibrationOpenApiPaths = {
  '/equipment': {
    get: {
      summary: 'The equipment register, with each entry’s calendar calibration status',
      security,
      parameters: [
        q('site', { type: 'string' }),
        q('type', { type: 'string' }),
        q('includeRetired', { enum: ['true', 'false'] }),
        q('after', { type: 'string' }, 'cursor: the `next` (a tag) of the previous page'),
        q('limit', { type: 'integer', minimum: 1, maximum: 1000, default: 100 }),
      ],
      responses: { '200': json('{ items, next }'), '400': problem, '401': problem },
    },
    post: {
      summary: 'Register equipment (technician, admin)',
      security,
      requestBody: body('{ tag, siteId, type, intervalDays, … } — see CALIBRATION.md'),
      responses: {
        '201': json('the equipment with its status'),
        '400': problem,
        '401': problem,
        '409': problem,
      },
    },
  },
  '/equipment/{tag}': {
    get: {
      summary: 'One piece of equipment and its calibration status (calendar and usage interval)',
      security,
      parameters: [
        tagParam,
        q('asOf', { type: 'string', format: 'date' }, 'status as of this date (default today, UTC)'),
      ],
      responses: { '200': json('equipment'), '400': problem, '401': problem, '404': problem },
    },
    put: {
      summary: 'Replace a register entry (technician, admin)',
      security,
      parameters: [tagParam],
      requestBody: body('as POST /equipment, without tag'),
      responses: { '200': json('equipment'), '400': problem, '401': problem, '404': problem, '409': problem },
    },
    delete: {
      summary: 'Retire equipment: out of service, history kept (technician, admin)',
      security,
      parameters: [tagParam],
      responses: { '204': { description: 'retired' }, '401': problem, '404': problem, '409': problem },
    },
  },
  '/equipment/{tag}/calibrations': {
    get: {
      summary: 'Calibration events of the equipment, oldest first, with as-found/as-left and traceability',
      security,
      parameters: [tagParam],
      responses: { '200': json('{ items }'), '401': problem, '404': problem },
    },
  },
  '/equipment/{tag}/suspect-records': {
    get: {
      summary:
        'Usage and inspection records made with the equipment in the suspect window of a failed calibration',
      security,
      parameters: [
        tagParam,
        q('calibration', { type: 'string' }, 'the failed calibration (default: the latest failure)'),
        q('format', { enum: ['json', 'csv'], default: 'json' }),
        q('after', { type: 'string' }, 'cursor (also in the x-next-cursor header)'),
        q('limit', { type: 'integer', minimum: 1, maximum: 100000, default: 10000 }),
      ],
      responses: {
        '200': {
          description: '{ equipment, window, items, next } or text/csv',
          content: {
            'application/json': { schema: { type: 'object' } },
            'text/csv': { schema: { type: 'string' } },
          },
        },
        '400': problem,
        '401': problem,
        '404': problem,
      },
    },
  },
  '/calibrations': {
    post: {
      summary:
        'Enter a calibration by hand (technician, admin); the body follows the record library’s calibration body',
      security,
      requestBody: body('{ equipment, enteredBy, body: CalibrationBody }'),
      responses: {
        '201': json('{ calibration, equipment }'),
        '400': problem,
        '401': problem,
        '404': problem,
      },
    },
  },
  '/due-list': {
    get: {
      summary: 'Equipment out of tolerance, overdue, or due within N days, per site',
      security,
      parameters: [
        q('days', { type: 'integer', minimum: 0, maximum: 3650, default: 30 }),
        q('site', { type: 'string' }),
        q('asOf', { type: 'string', format: 'date' }),
        q('limit', { type: 'integer', minimum: 1, maximum: 10000, default: 1000 }),
      ],
      responses: {
        '200': json('{ asOf, days, horizon, truncated, sites: [{ siteId, items }] }'),
        '400': problem,
        '401': problem,
      },
    },
  },
  '/inspections': {
    get: {
      summary: 'Inspection records by site, equipment, part serial, work order, result and time',
      security,
      parameters: [...recordFilters, q('result', { enum: ['pass', 'fail'] })],
      responses: { '200': json('{ items, next }'), '400': problem, '401': problem },
    },
  },
  '/usage': {
    get: {
      summary: 'Usage records by site, equipment, part serial, work order and time',
      security,
      parameters: recordFilters,
      responses: { '200': json('{ items, next }'), '400': problem, '401': problem },
    },
  },
  '/yield': {
    get: {
      summary: 'First-pass yield per rig and per UTC day (default: the last 30 days)',
      security,
      parameters: [
        q('from', { type: 'string', format: 'date-time' }),
        q('to', { type: 'string', format: 'date-time' }),
        q('site', { type: 'string' }),
        q('equipment', { type: 'string' }),
      ],
      responses: { '200': json('{ from, to, perRigDay, perRig }'), '400': problem, '401': problem },
    },
  },
  '/calibration-settings': {
    get: {
      summary: 'The tenant’s calibration defaults (due-soon window)',
      security,
      responses: { '200': json('{ dueSoonDays }'), '401': problem },
    },
    put: {
      summary: 'Set the tenant’s default due-soon window (technician, admin)',
      security,
      requestBody: body('{ dueSoonDays }'),
      responses: { '200': json('{ dueSoonDays }'), '400': problem, '401': problem },
    },
  },
} as const;
