import { Router, type Request } from 'express';
import { assetTagSchema, calibrationBodySchema, dateSchema, timestampSchema } from '@rigtrace/protocols';
import { z } from 'zod';
import { ProblemError } from '../platform/errors.js';
import { siteShifts, type TenancyRepository } from '../tenancy/index.js';
import { isLocalDate, addDays } from '../platform/time-zone.js';
import {
  equipmentBodySchema,
  manualCalibrationSchema,
  registerImportSchema as registerImportBody,
  reviewWithReasonSchema,
  settingsSchema,
  signatureInputSchema,
  type CalibrationService,
  type Signer,
} from './calibration.service.js';
import { procedureSchema as procedureBodySchema } from './procedure.service.js';
import type { PreventiveTasks } from './preventive.js';
import { dateTime, mount, operation } from '../platform/http/contract.js';
import {
  decodeCursor,
  itemView,
  suspectCharacteristics,
  SUSPECT_CSV_COLUMNS,
  suspectCsv,
  type TraceabilityService,
} from './traceability.service.js';
import { type Accounts, requestInfo, sessionOf, tenantOf, viewerOf } from '../access/index.js';
import {
  exportCallerOf,
  type ExportCaller,
  type ExportControlService,
  type ExportFlag,
} from '../export-control/index.js';
import { REGISTER_CSV_COLUMNS } from './register-csv.js';
import { positionRoutes } from './positions.routes.js';
import { problem, sessionOnly, tokenOrSession as security } from '../platform/http/openapi-parts.js';
import { cursor as cursorOf, limit, parseQuery } from '../platform/http/validation.js';
import { sendCsv } from '../platform/http/download.js';

const cursor = cursorOf(decodeCursor);
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
/** A yield period's end: a calendar day of each rig's own site, or (as before) an instant. */
const dayOrInstant = (which: 'from' | 'to') =>
  z
    .union([dateSchema, timestampSchema], {
      error: 'a date (YYYY-MM-DD, a local day of the site) or an RFC 3339 timestamp',
    })
    .describe(
      which === 'from'
        ? 'a date: from the start of that local day of each rig’s own site (its time zone; tenant-wide, each site its own); or an RFC 3339 timestamp (inclusive)'
        : 'a date: up to the end of that local day of each rig’s own site (inclusive); or an RFC 3339 timestamp (exclusive)',
    )
    .optional();
const yieldQuery = z.strictObject({
  from: dayOrInstant('from'),
  to: dayOrInstant('to'),
  site,
  equipment: assetTagSchema.optional(),
});

const calibrationsQuery = z.strictObject({
  approval: z.enum(['pending', 'approved', 'rejected', 'returned']).optional(),
  site,
  after: cursorOf((c) => {
    const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)~(manual:[0-9a-f-]{36})$/.exec(c);
    return m ? { createdAt: m[1]!, id: m[2]! } : undefined;
  }),
  limit: limit(100, 1000),
});

export interface CalibrationRouteDeps {
  tenancy: TenancyRepository;
  calibration: CalibrationService;
  traceability: TraceabilityService;
  accounts: Accounts;
  exportControl: ExportControlService;
  /** Preventive maintenance (the maintenance feature), listed on the due-list beside the calibration. */
  maintenance?: PreventiveTasks | undefined;
}

/** The calibration engine's API: equipment register, calibrations, due-list, traceability, queries. */
export function calibrationRoutes(deps: CalibrationRouteDeps): Router {
  const r = Router();
  const exportControl = deps.exportControl;
  // Each route names its permission (access/policy.ts): reading is records:read (every role and
  // API tokens), writing calibrations:write, the second person's review calibrations:approve.
  // Export control (ITAR/EAR) and electronic signatures are applied per route below.
  const read = deps.accounts.require('records:read');
  const write = deps.accounts.require('calibrations:write');
  const approve = deps.accounts.require('calibrations:approve');
  const tag = (req: Request) => String(req.params.tag);
  const viewer = (req: Request, route: string) => exportCallerOf(req, route);

  /** The signed-in person who signs; API tokens cannot sign (and cannot write anyway). */
  const signerOf = (req: Request): Signer => {
    const ctx = sessionOf(req);
    return {
      user: { id: ctx.user.id, email: ctx.user.email, name: ctx.user.name, role: ctx.user.role },
      address: req.ip ?? null,
      reauthenticate: (password, what) =>
        deps.accounts.auth.reauthenticateSigner(ctx.user, password, requestInfo(req), what),
    };
  };

  /**
   * Equipment the request names: the service applies export control (a refusal audited before the
   * 404, a cleared caller's access logged) and site scope. Returns its export flag (null: none).
   */
  const named = async (v: ExportCaller, t: string): Promise<ExportFlag | null> => {
    const e = await deps.calibration.mustGet(v, t);
    return e.export_regime ? { regime: e.export_regime, eccn: e.export_eccn } : null;
  };

  const auditRegister = async (req: Request, action: string, t: string, before: unknown, after: unknown) => {
    const p = req.principal!;
    await deps.accounts.audit.record({
      tenantId: tenantOf(req),
      action,
      outcome: 'success',
      actor: { type: 'user', id: p.id, ...(p.email ? { email: p.email } : {}), role: p.role },
      address: req.ip ?? null,
      target: { type: 'equipment', id: t },
      ...(before !== undefined ? { before } : {}),
      ...(after !== undefined ? { after } : {}),
    });
  };
  const exportOf = (e: unknown) => (e as { exportControl?: unknown } | undefined)?.exportControl ?? null;

  // ---- read ----------------------------------------------------------------------------------

  mount(r, calibrationApi.equipmentList, read, async (req, res) => {
    const q = parseQuery(calibrationApi.equipmentList, req);
    const v = viewer(req, 'GET /equipment');
    const out = await deps.calibration.list(v, {
      siteId: q.site,
      type: q.type,
      includeRetired: q.includeRetired === 'true',
      after: q.after,
      limit: q.limit,
    });
    const flags = await exportControl.flags(v.tenantId);
    await exportControl.logAccess(
      v,
      out.items.flatMap((e) => {
        const flag = flags.get(e.tag);
        return flag ? [{ type: 'equipment' as const, id: e.tag, flag }] : [];
      }),
    );
    res.json(out);
  });

  mount(r, calibrationApi.equipment, read, async (req, res) => {
    const q = parseQuery(calibrationApi.equipment, req);
    res.json(await deps.calibration.entry(viewer(req, 'GET /equipment/{tag}'), tag(req), q.asOf));
  });

  mount(r, calibrationApi.equipmentCalibrations, read, async (req, res) => {
    const v = viewer(req, 'GET /equipment/{tag}/calibrations');
    res.json({ items: await deps.calibration.calibrationsOf(v, tag(req)) });
  });

  mount(r, calibrationApi.suspectRecords, read, async (req, res) => {
    const q = parseQuery(calibrationApi.suspectRecords, req);
    const v = viewer(req, 'GET /equipment/{tag}/suspect-records');
    // Export control of the equipment first (in the service); only records of the caller's sites
    // (a gauge may travel), and made by or naming only equipment it may see (in the query).
    const out = await deps.traceability.suspectRecords(v, tag(req), q);
    const rows = out.rows;
    const views = rows.map((row) => ({ ...itemView(row), row }));
    // Records made with this equipment may also involve other, flagged equipment (the rig, a
    // gauge): a cleared caller's access to them is logged.
    await exportControl.logRecordsServed(v, views);
    if (out.next) res.setHeader('x-next-cursor', out.next);
    if (q.format === 'csv') {
      sendCsv(res, `suspect-${tag(req)}.csv`, suspectCsv(rows, tag(req), out.error));
      return;
    }
    res.json({
      equipment: tag(req),
      window: out.window,
      instrumentError: out.error,
      // Each record's view (its JSON parsed once), with what was measured.
      items: views.map(({ row, ...view }) => ({
        ...view,
        characteristics: suspectCharacteristics(row, tag(req), out.error, view.record),
      })),
      next: out.next,
    });
  });

  mount(r, calibrationApi.dueList, read, async (req, res) => {
    const q = parseQuery(calibrationApi.dueList, req);
    const v = viewer(req, 'GET /due-list');
    const out = await deps.calibration.dueList(v, {
      ...q,
      siteId: q.site,
      ...(deps.maintenance ? { preventive: deps.maintenance } : {}),
    });
    const flags = await exportControl.flags(v.tenantId);
    await exportControl.logAccess(
      v,
      out.sites.flatMap((s) =>
        s.items.flatMap((i) => {
          const t = (i as { tag: string }).tag;
          const flag = flags.get(t);
          return flag ? [{ type: 'equipment' as const, id: t, flag }] : [];
        }),
      ),
    );
    res.json(out);
  });

  mount(r, calibrationApi.inspections, read, async (req, res) => {
    const q = parseQuery(calibrationApi.inspections, req);
    const v = viewer(req, 'GET /inspections');
    // The query leaves out what the caller may not see; a cleared caller's flagged records are logged.
    const out = await deps.traceability.records(v, { ...q, kind: 'inspection', siteId: q.site });
    await exportControl.logRecordsServed(v, out.items);
    res.json(out);
  });

  mount(r, calibrationApi.usage, read, async (req, res) => {
    const q = parseQuery(calibrationApi.usage, req);
    const v = viewer(req, 'GET /usage');
    // The query leaves out what the caller may not see; a cleared caller's flagged records are logged.
    const out = await deps.traceability.records(v, { ...q, kind: 'usage', siteId: q.site });
    await exportControl.logRecordsServed(v, out.items);
    res.json(out);
  });

  mount(r, calibrationApi.yield, read, async (req, res) => {
    const q = parseQuery(calibrationApi.yield, req);
    const to = q.to ?? new Date().toISOString();
    // Default: the 30 days before `to` (30 local days up to a date).
    const from =
      q.from ??
      (isLocalDate(to) ? addDays(to, -29) : new Date(Date.parse(to) - 30 * 86_400_000).toISOString());
    const v = viewer(req, 'GET /yield');
    // Shifts are the sites' own, in their time zones (only the sites the caller sees).
    const sites = await deps.tenancy.sites(v);
    const out = await deps.traceability.firstPassYield(
      v,
      { from, to, siteId: q.site, equipment: q.equipment },
      new Map(sites.map((s) => [s.id, { timeZone: s.time_zone, shifts: siteShifts(s.shifts) }])),
    );
    // The query left out what the caller may not see; the flagged rigs served are logged.
    const flags = await exportControl.flags(v.tenantId);
    await exportControl.logAccess(
      v,
      out.perRig.flatMap((p) => {
        const flag = flags.get(p.equipment);
        return flag ? [{ type: 'yield' as const, id: p.equipment, flag }] : [];
      }),
    );
    res.json(out);
  });

  mount(r, calibrationApi.settings, read, async (req, res) => {
    res.json({ dueSoonDays: await deps.calibration.dueSoonDefault(tenantOf(req)) });
  });

  mount(r, calibrationApi.calibrations, read, async (req, res) => {
    const q = parseQuery(calibrationApi.calibrations, req);
    const v = viewer(req, 'GET /calibrations');
    const out = await deps.calibration.manualEntries(v, {
      approval: q.approval,
      siteId: q.site,
      after: q.after,
      limit: q.limit,
    });
    await exportControl.logAccess(
      v,
      out.rows.flatMap((row) =>
        row.export_regime
          ? [
              {
                type: 'calibration' as const,
                id: row.id,
                flag: { regime: row.export_regime as 'ITAR' | 'EAR', eccn: row.export_eccn },
              },
            ]
          : [],
      ),
    );
    res.json({ items: out.items, next: out.next });
  });

  // ---- write ---------------------------------------------------------------------------------

  mount(r, calibrationApi.equipmentCreate, write, async (req, res) => {
    const v = viewer(req, 'POST /equipment');
    const out = await deps.calibration.create(tenantOf(req), req.body, v);
    await auditRegister(req, 'equipment.create', out.tag, undefined, { exportControl: exportOf(out) });
    const flag = await exportControl.flagOf(tenantOf(req), out.tag);
    if (flag) await exportControl.logAccess(v, [{ type: 'equipment', id: out.tag, flag }]);
    res
      .status(201)
      .location(`equipment/${encodeURIComponent(out.tag)}`)
      .json(out);
  });

  mount(r, calibrationApi.equipmentReplace, write, async (req, res) => {
    const v = viewer(req, 'PUT /equipment/{tag}');
    const was = await named(v, tag(req));
    const before = await deps.calibration.describe(v, tag(req)).catch(() => undefined);
    const out = await deps.calibration.replace(tenantOf(req), tag(req), req.body, v);
    await auditRegister(
      req,
      'equipment.update',
      out.tag,
      before ? { exportControl: exportOf(before) } : undefined,
      { exportControl: exportOf(out) },
    );
    // Flagged by this change: the access to it is logged here (a flag it had was, by `named`).
    const flag = was ? null : await exportControl.flagOf(tenantOf(req), out.tag);
    if (flag) await exportControl.logAccess(v, [{ type: 'equipment', id: out.tag, flag }]);
    res.json(out);
  });

  mount(r, calibrationApi.equipmentRetire, write, async (req, res) => {
    await named(viewer(req, 'DELETE /equipment/{tag}'), tag(req));
    await deps.calibration.retire(tenantOf(req), tag(req));
    await auditRegister(req, 'equipment.retire', tag(req), undefined, undefined);
    res.status(204).end();
  });

  mount(r, calibrationApi.equipmentReactivate, write, async (req, res) => {
    const v = viewer(req, 'POST /equipment/{tag}/reactivate');
    await named(v, tag(req));
    const out = await deps.calibration.reactivate(tenantOf(req), tag(req));
    await auditRegister(req, 'equipment.reactivate', tag(req), { retired: true }, { retired: false });
    res.json(out);
  });

  mount(r, calibrationApi.equipmentImport, write, async (req, res) => {
    const v = viewer(req, 'POST /equipment/import');
    const out = await deps.calibration.importRegister(tenantOf(req), req.body, v);
    for (const t of out.created) await auditRegister(req, 'equipment.create', t, undefined, { import: true });
    res.status(out.dryRun ? 200 : 201).json(out);
  });

  mount(r, calibrationApi.procedures, read, async (req, res) => {
    const q = parseQuery(calibrationApi.procedures, req);
    res.json({ items: await deps.calibration.procedures.list(viewerOf(req), q.limit) });
  });

  mount(r, calibrationApi.procedure, read, async (req, res) => {
    const q = parseQuery(calibrationApi.procedure, req);
    res.json(await deps.calibration.procedures.get(viewerOf(req), String(req.params.id), q.revision));
  });

  mount(r, calibrationApi.procedureCreate, write, async (req, res) => {
    const p = req.principal!;
    const out = await deps.calibration.procedures.create(tenantOf(req), req.body, `user:${p.id}`);
    await deps.accounts.audit.record({
      tenantId: tenantOf(req),
      action: 'procedure.create',
      outcome: 'success',
      actor: { type: 'user', id: p.id, ...(p.email ? { email: p.email } : {}), role: p.role },
      address: req.ip ?? null,
      target: { type: 'procedure', id: `${out.id}@${out.revision}` },
      after: { points: out.points, standards: out.standards, environment: out.environment },
    });
    res
      .status(201)
      .location(`procedures/${encodeURIComponent(out.id)}?revision=${encodeURIComponent(out.revision)}`)
      .json(out);
  });

  mount(r, calibrationApi.enterManual, write, async (req, res) => {
    const v = viewer(req, 'POST /calibrations');
    const equipment = (req.body as { equipment?: unknown } | undefined)?.equipment;
    let flag: ExportFlag | null = null;
    if (typeof equipment === 'string' && assetTagSchema.safeParse(equipment).success)
      flag = await named(v, equipment);
    const out = await deps.calibration.enterManual(tenantOf(req), req.body, signerOf(req));
    if (flag) await exportControl.logAccess(v, [{ type: 'calibration', id: out.calibration.id, flag }]);
    res.status(201).json(out);
  });

  for (const decision of ['approve', 'reject', 'return'] as const) {
    mount(r, calibrationApi[decision], approve, async (req, res) => {
      const v = viewer(req, `POST /calibrations/{id}/${decision}`);
      const id = String(req.params.id);
      // The service checks export control and logs the equipment and the calibration served.
      res.json(await deps.calibration.review(v, id, decision, req.body, signerOf(req)));
    });
  }

  mount(r, calibrationApi.setSettings, write, async (req, res) => {
    // A tenant-wide default: it changes the due-soon window of every site's equipment.
    if (req.principal!.sites !== null)
      throw new ProblemError(
        'CLOUD_FORBIDDEN',
        'the default applies to every site: a user limited to sites may not change it',
      );
    res.json(await deps.calibration.setSettings(tenantOf(req), req.body));
  });

  // Positions of a rig and the devices installed in them (positions.routes.ts).
  r.use(
    positionRoutes({
      calibration: deps.calibration,
      read,
      write,
      visible: async (req, route, t) => {
        await named(viewer(req, route), t);
      },
    }),
  );

  return r;
}

// ---------------------------------------------------------------------------------------------
// OpenAPI paths of these routes (spread into openapi.ts's `paths`).

/** An electronic signature on a manual entry, as answered (calibration.service.ts, signatureView). */
const signatureAnswer = z.object({
  by: z.object({ id: z.string(), email: z.string(), name: z.string(), role: z.string() }),
  meaning: z.string(),
  signedAt: dateTime,
  contentSha256: z
    .string()
    .describe("SHA-256 of the entry's canonical JSON (RFC 8785) the signature is bound to"),
  signatureSha256: z.string().describe("SHA-256 of the signature manifest's canonical JSON"),
  valid: z.boolean().describe('the entry and the manifest still hash to these values'),
  reason: z.string().optional().describe('a rejection’s or return’s reason (part of the signed manifest)'),
});
const passFail = z.enum(['pass', 'fail']);
/** A calibration event (calibration.service.ts, calibrationView). */
export const calibrationAnswer = z.object({
  id: z.string(),
  equipment: z.string(),
  source: z.enum(['record', 'manual']),
  record: z.object({ edge: z.string(), seq: z.int() }).nullable(),
  calibratedAt: dateTime,
  asFoundResult: passFail,
  asLeftResult: passFail.nullable(),
  valid: z.boolean(),
  traceability: z.object({ status: z.enum(['ok', 'flagged']), issues: z.array(z.string()) }),
  enteredBy: z.string().nullable(),
  recordedBy: z.string().nullable().describe('user:<id>, edge:<id> (or api-token:<hash> for old entries)'),
  evidenceSha256: z.string().nullable(),
  createdAt: dateTime,
  body: calibrationBodySchema.describe('the record library’s calibration body'),
  signature: signatureAnswer.nullable().describe("the entry's signature (manual entries)"),
  approval: z
    .union([
      z.object({ state: z.literal('pending') }),
      signatureAnswer.extend({ state: z.enum(['approved', 'rejected', 'returned']) }),
    ])
    .nullable()
    .describe(
      'manual entries: pending until a second person reviews it (approved, rejected or returned for correction, the last two with a reason); null for calibrations from edge records (their approval is body.approval)',
    ),
  corrects: z.string().nullable().describe('a corrected entry: the id of the returned entry it replaces'),
});
const cycles = z
  .object({ used: z.int(), interval: z.int() })
  .nullable()
  .describe('with a usage interval: cycles used since the last valid calibration, and the interval');
const calibrationStatus = z.enum(['current', 'due-soon', 'overdue', 'out-of-tolerance']);
/** The calendar (and usage) status of one piece of equipment, as of a date. */
const statusAnswer = z.object({
  status: calibrationStatus,
  asOf: z.string().meta({ format: 'date' }),
  lastValidCalibrationAt: dateTime.nullable(),
  nextDue: z.string().meta({ format: 'date' }).nullable(),
  daysUntilDue: z.int().nullable(),
  dueSoonDays: z.int(),
  cycles,
});
/** The status from the register's cache (the list and the due-list). */
const cachedStatusAnswer = statusAnswer.omit({ asOf: true, dueSoonDays: true });
/** A register entry as stored (the body POST /equipment takes, with its tag and times). */
const registerEntry = z.object({
  ...equipmentBodySchema.shape,
  tag: z.string(),
  createdAt: dateTime,
  updatedAt: dateTime,
  retiredAt: dateTime.nullable(),
});
const equipmentAnswer = registerEntry.extend({ calibration: statusAnswer });
const traceableItem = z.object({
  edge: z.string(),
  seq: z.int(),
  kind: z.enum(['usage', 'inspection']),
  siteId: z.string(),
  equipment: z.string(),
  observedAt: dateTime,
  partSerial: z.string().nullable(),
  workOrder: z.string().nullable(),
  result: passFail.nullable(),
  record: z.unknown().describe('the signed record (protocols/RECORDS.md)'),
});
/** A failed calibration's suspect window (null: no failure). */
export const suspectWindowSchema = z
  .object({
    failedCalibration: z.object({
      id: z.string(),
      calibratedAt: dateTime,
      asFoundResult: z.string(),
      asLeftResult: z.string().nullable(),
    }),
    lastGoodCalibration: z.object({ id: z.string(), calibratedAt: dateTime }).nullable(),
    start: dateTime.nullable().describe('exclusive; null: since the first record'),
    end: dateTime.nullable().describe('inclusive; null: still open (now)'),
    closedBy: z.object({ id: z.string(), calibratedAt: dateTime }).nullable(),
  })
  .nullable()
  .describe('null: the equipment has no failed calibration');
/** A suspect record: what it is, how it involves the instrument, and what was measured. */
export const suspectItem = traceableItem.extend({
  via: z
    .enum(['equipment', 'gauge', 'position'])
    .describe(
      'equipment: the record is about the equipment; gauge: it lists it among its gauges; position: made by a rig while it was installed there',
    ),
  position: z.string().nullable().describe('with via position: "RIG-01 / rail pressure"'),
  named: z
    .boolean()
    .describe(
      'with via position: the record names that position (RECORDS.md, "Positions"), so its value came from the device installed there',
    ),
  characteristics: z
    .array(
      z.object({
        name: z.string(),
        measured: z.number(),
        unit: z.string(),
        nominal: z.number().nullable(),
        lsl: z.number().nullable(),
        usl: z.number().nullable(),
        result: passFail,
        margin: z.number().nullable().describe('distance to the nearer limit'),
        atRisk: z
          .boolean()
          .nullable()
          .describe('the margin is smaller than the instrument error (null: not comparable)'),
      }),
    )
    .describe('the characteristics the failed instrument may have affected'),
});
const suspectAnswer = z.object({
  equipment: z.string(),
  window: suspectWindowSchema,
  instrumentError: z
    .object({ magnitude: z.number(), unit: z.string(), point: z.string() })
    .nullable()
    .describe('how far off the failed instrument read: its largest as-found error'),
  items: z.array(suspectItem),
  next: z.string().nullable(),
});
const yieldCounts = { tested: z.int(), passed: z.int(), firstPassYield: z.number().min(0).max(1).nullable() };
const yieldAnswer = z
  .object({
    from: dateTime,
    to: dateTime,
    perRigDay: z
      .array(
        z.object({
          equipment: z.string(),
          day: z
            .string()
            .meta({ format: 'date' })
            .describe('the local calendar day of the rig’s site (in the site’s time zone)'),
          ...yieldCounts,
        }),
      )
      .describe(
        'per rig and local day: each inspection on the day of its own site’s time zone, so sites in different zones each count in their own days',
      ),
    perRig: z.array(z.object({ equipment: z.string(), ...yieldCounts })),
    perRigShift: z.array(
      z.object({
        equipment: z.string(),
        siteId: z.string(),
        day: z.string().meta({ format: 'date' }).describe('the local day the shift starts on'),
        shift: z.string(),
        ...yieldCounts,
      }),
    ),
    shifts: z
      .array(
        z.object({
          siteId: z.string(),
          timeZone: z.string(),
          shifts: z.array(z.object({ name: z.string(), start: z.string(), end: z.string() })),
        }),
      )
      .describe('the shifts of the sites in the answer'),
  })
  .describe(
    'tested and passed at the first attempt, per rig and local day of its site, per rig and shift, and per rig over the period',
  );
const dueListAnswer = z
  .object({
    asOf: z.string().meta({ format: 'date' }),
    days: z.int(),
    horizon: z.string().meta({ format: 'date' }),
    truncated: z.boolean().describe('the limit cut the list short'),
    sites: z.array(
      z.object({
        siteId: z.string(),
        items: z.array(
          cachedStatusAnswer.extend({
            tag: z.string(),
            type: z.string(),
            nextPm: z
              .object({
                planId: z.string(),
                task: z.string(),
                nextDue: z.string().meta({ format: 'date' }),
                daysUntilDue: z.int().describe('negative when overdue'),
                status: z.enum(['current', 'due-soon', 'overdue']),
              })
              .nullable()
              .optional()
              .describe('the preventive-maintenance task due first as of asOf; null: no active plan'),
          }),
        ),
      }),
    ),
  })
  .describe('{ asOf, days, horizon, truncated, sites: [{ siteId, items }] }');
const page = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), next: z.string().nullable().describe('the cursor of the next page') });
const settingsAnswer = z.object({ dueSoonDays: z.int() }).describe('{ dueSoonDays }');
const reviewAnswer = z.object({ calibration: calibrationAnswer }).describe('{ calibration }');
const range = z.object({ min: z.number(), max: z.number() });
/** A procedure revision, as the procedure service answers it. */
const procedureAnswer = z.object({
  id: z.string(),
  revision: z.string(),
  title: z.string(),
  points: z.array(
    z.object({
      name: z.string(),
      unit: z.string(),
      nominal: z.number(),
      lowerTolerance: z.number().describe('lowest error (reading − nominal) that passes'),
      upperTolerance: z.number(),
      lowerLimit: z.number().describe('lowest reading that passes'),
      upperLimit: z.number(),
    }),
  ),
  standards: z.array(z.string()).describe('reference standards a calibration must use'),
  environment: z
    .object({ temperatureC: range.optional(), humidityPct: range.optional() })
    .nullable()
    .describe('limits on the environment a calibration states (outside them, the calibration is flagged)'),
  createdAt: dateTime,
  createdBy: z.string(),
});
const registerImportAnswer = z.object({
  dryRun: z.boolean(),
  total: z.int().describe('rows under the header'),
  created: z.array(z.string()).describe('tags registered (empty on a dry run)'),
  rows: z.array(
    z.object({
      line: z.int().describe('line of the file the row starts on (1: the header)'),
      tag: z.string().nullable(),
      problems: z.array(z.object({ column: z.string(), message: z.string() })),
    }),
  ),
});
const reviewResponses = { '200': reviewAnswer };
const reviewErrors = [400, 401, 403, 404, 409, 429];
const tagParams = z.strictObject({ tag: z.string().describe('asset tag (URL-encoded)') });
const idParams = z.strictObject({ id: z.string().describe('manual:<uuid> (URL-encoded)') });
const reviewNote =
  'Reviewing one’s own entry is 403 CLOUD_SEPARATION_OF_DUTIES and a security event on the audit trail; an entry already reviewed is 409; a calibration from an edge record is 409 (it carries its own approval).';
const procedureListQuery = z.strictObject({ limit: limit(500, 5000) });
const procedureQuery = z.strictObject({
  revision: z.string().min(1).max(32).optional().describe('default: the current (latest) revision'),
});
/** POST /equipment: the tag, then the register entry as PUT takes it (the service checks both). */
const equipmentCreateSchema = equipmentBodySchema.safeExtend({ tag: assetTagSchema });

/** The calibration routes' contracts (served by calibrationRoutes, documented by openapi.ts). */
export const calibrationApi = {
  equipmentList: operation({
    method: 'get',
    path: '/equipment',
    summary: 'The equipment register, with each entry’s calendar calibration status',
    security,
    query: equipmentListQuery,
    responses: {
      '200': page(
        equipmentAnswer.omit({ calibration: true }).extend({ calibration: cachedStatusAnswer }),
      ).describe('{ items, next }'),
    },
    errors: [400, 401],
  }),
  equipmentCreate: operation({
    method: 'post',
    path: '/equipment',
    summary: 'Register equipment (technician, admin); earlier calibrations and records of the tag count',
    description: '{ tag, siteId, type, intervalDays, exportControl?, … } — see CALIBRATION.md',
    security: sessionOnly,
    body: equipmentCreateSchema,
    responses: {
      '201': equipmentAnswer.describe('the equipment with its status'),
      '403': {
        ...problem,
        description:
          'RFC 7807 problem: a site outside the caller’s sites, or a tag the caller may not see (not 409: ACCOUNTS.md)',
      },
    },
    errors: [400, 401, 409],
  }),
  equipment: operation({
    method: 'get',
    path: '/equipment/{tag}',
    summary: 'One piece of equipment and its calibration status (calendar and usage interval)',
    security,
    params: tagParams,
    query: asOfQuery,
    responses: { '200': equipmentAnswer.describe('equipment') },
    errors: [400, 401, 404],
  }),
  equipmentReplace: operation({
    method: 'put',
    path: '/equipment/{tag}',
    summary: 'Replace a register entry (technician, admin)',
    description: 'as POST /equipment, without tag',
    security: sessionOnly,
    params: tagParams,
    body: equipmentBodySchema,
    responses: { '200': equipmentAnswer.describe('equipment') },
    errors: [400, 401, 403, 404, 409],
  }),
  equipmentRetire: operation({
    method: 'delete',
    path: '/equipment/{tag}',
    summary: 'Retire equipment: out of service, history kept (technician, admin)',
    security: sessionOnly,
    params: tagParams,
    responses: { '204': { description: 'retired' } },
    errors: [401, 404, 409],
  }),
  equipmentReactivate: operation({
    method: 'post',
    path: '/equipment/{tag}/reactivate',
    summary: 'Put retired equipment back in service (technician, admin); its history is unchanged',
    security: sessionOnly,
    params: tagParams,
    responses: {
      '200': equipmentAnswer.describe('the equipment with its status'),
      '409': { ...problem, description: 'RFC 7807 problem: the equipment is not retired' },
    },
    errors: [401, 403, 404],
  }),
  equipmentImport: operation({
    method: 'post',
    path: '/equipment/import',
    summary:
      'Import an existing register from CSV (technician, admin): a dry run lists every row’s problems; an import registers all rows or none',
    description:
      'Columns (header row, any order, case and spaces ignored): ' +
      REGISTER_CSV_COLUMNS.join(', ') +
      '. Each row is checked as POST /equipment checks a body, plus tags already registered or repeated in the file. ' +
      'dryRun (default true) changes nothing. Without it, any row with a problem is 400 with the same rows and nothing is registered.',
    security: sessionOnly,
    body: registerImportBody,
    responses: {
      '200': registerImportAnswer.describe('the dry run: every row and its problems'),
      '201': registerImportAnswer.describe('imported: every row, and the tags registered'),
    },
    errors: [400, 401, 403, 409],
  }),
  procedures: operation({
    method: 'get',
    path: '/procedures',
    summary: 'Calibration procedures, the current revision of each, by id',
    security,
    query: procedureListQuery,
    responses: {
      '200': z.object({ items: z.array(procedureAnswer) }).describe('{ items }'),
    },
    errors: [400, 401],
  }),
  procedureCreate: operation({
    method: 'post',
    path: '/procedures',
    summary:
      'Write a procedure revision (technician, admin): test points with a ± tolerance or limits, required standards, environment limits',
    description:
      'A revision is written once (409 when it exists): a change is a new revision. Each point gives `tolerance` (±) or both `lowerLimit` and `upperLimit`; the answer carries both forms.',
    security: sessionOnly,
    body: procedureBodySchema,
    responses: { '201': procedureAnswer.describe('the procedure revision') },
    errors: [400, 401, 403, 409],
  }),
  procedure: operation({
    method: 'get',
    path: '/procedures/{id}',
    summary: 'A procedure: its current revision (or the one asked for) and the list of its revisions',
    security,
    params: z.strictObject({ id: z.string().describe('procedure id (URL-encoded)') }),
    query: procedureQuery,
    responses: {
      '200': procedureAnswer
        .extend({ revisions: z.array(z.object({ revision: z.string(), createdAt: dateTime })) })
        .describe('the procedure revision, with `revisions`'),
    },
    errors: [400, 401, 404],
  }),
  equipmentCalibrations: operation({
    method: 'get',
    path: '/equipment/{tag}/calibrations',
    summary: 'Calibration events of the equipment, oldest first, with as-found/as-left and traceability',
    security,
    params: tagParams,
    responses: { '200': z.object({ items: z.array(calibrationAnswer) }).describe('{ items }') },
    errors: [401, 404],
  }),
  suspectRecords: operation({
    method: 'get',
    path: '/equipment/{tag}/suspect-records',
    summary:
      'Usage and inspection records made with the equipment in the suspect window of a failed calibration',
    security,
    params: tagParams,
    query: suspectQuery,
    responses: {
      '200': {
        description: '{ equipment, window, items, next } or (format=csv) text/csv',
        schema: suspectAnswer,
        csv: {
          columns: SUSPECT_CSV_COLUMNS,
          description:
            'one line per suspect record and characteristic; named: true when the record names the position the device sat in (via position)',
        },
      },
    },
    errors: [400, 401, 404],
  }),
  calibrations: operation({
    method: 'get',
    path: '/calibrations',
    summary:
      'Manual calibration entries by approval state (the approvals queue), oldest first; limited to the caller’s sites',
    security,
    query: calibrationsQuery,
    responses: {
      '200': page(calibrationAnswer.extend({ siteId: z.string() })).describe('{ items, next }'),
    },
    errors: [400, 401, 403],
  }),
  enterManual: operation({
    method: 'post',
    path: '/calibrations',
    summary:
      'Enter a calibration by hand, signed (technician, admin): takes effect at once, pending approval by a second person',
    description:
      'The signature re-authenticates the signed-in user (a wrong password is 403 CLOUD_REAUTH_FAILED and counts toward the lockout) and is bound to the SHA-256 of the entry’s canonical JSON. `body` follows the record library’s calibration body, without `approval`.',
    security: sessionOnly,
    body: manualCalibrationSchema,
    responses: {
      '201': z
        .object({ calibration: calibrationAnswer, equipment: equipmentAnswer })
        .describe('{ calibration, equipment }'),
    },
    errors: [400, 401, 403, 404, 429],
  }),
  approve: operation({
    method: 'post',
    path: '/calibrations/{id}/approve',
    summary:
      'Approve a manual entry with a signature (calibrations:approve; never the person who entered it)',
    description: reviewNote,
    security: sessionOnly,
    params: idParams,
    body: signatureInputSchema,
    responses: reviewResponses,
    errors: reviewErrors,
  }),
  reject: operation({
    method: 'post',
    path: '/calibrations/{id}/reject',
    summary:
      'Reject a manual entry with a signature and a reason (calibrations:approve): it stops counting toward the status',
    description: reviewNote,
    security: sessionOnly,
    params: idParams,
    body: reviewWithReasonSchema,
    responses: reviewResponses,
    errors: reviewErrors,
  }),
  return: operation({
    method: 'post',
    path: '/calibrations/{id}/return',
    summary:
      'Return a manual entry for correction with a signature and a reason (calibrations:approve): it stops counting; a corrected entry names it in `corrects`',
    description: reviewNote,
    security: sessionOnly,
    params: idParams,
    body: reviewWithReasonSchema,
    responses: reviewResponses,
    errors: reviewErrors,
  }),
  dueList: operation({
    method: 'get',
    path: '/due-list',
    summary:
      'Equipment out of tolerance, overdue, or due within N days (calibration or preventive maintenance), per site',
    description:
      'Each item carries its calibration status and `nextPm` (the preventive-maintenance task due first as of `asOf`: planId, task, nextDue, daysUntilDue, status; null without an active plan). Equipment whose preventive maintenance is overdue or due by the horizon is listed too, after those due by calibration.',
    security,
    query: dueListQuery,
    responses: { '200': dueListAnswer },
    errors: [400, 401],
  }),
  inspections: operation({
    method: 'get',
    path: '/inspections',
    summary: 'Inspection records by site, equipment, part serial, work order, result and time',
    security,
    query: inspectionsQuery,
    responses: { '200': page(traceableItem).describe('{ items, next }') },
    errors: [400, 401],
  }),
  usage: operation({
    method: 'get',
    path: '/usage',
    summary: 'Usage records by site, equipment, part serial, work order and time',
    security,
    query: usageQuery,
    responses: { '200': page(traceableItem).describe('{ items, next }') },
    errors: [400, 401],
  }),
  yield: operation({
    method: 'get',
    path: '/yield',
    summary:
      'First-pass yield per rig, per rig and local day of its site, and per rig and shift of the site (default: the last 30 days)',
    description:
      'from/to: calendar days (YYYY-MM-DD, `to` inclusive), each a local day of the rig’s own site (a tenant-wide answer reads each site in its own days: 2026-11-01 to 2026-11-30 is 1 November 00:00 to 1 December 00:00 in each site’s zone); RFC 3339 timestamps are still taken as instants (`to` exclusive). The answer’s from/to are the instants read (over sites in several zones, the earliest start and the latest end). perRigDay: per rig and calendar day of its site’s time zone (a tenant-wide answer counts each site in its own days). perRigShift: per rig, shift day and shift of its site (the site’s shifts in its time zone, PUT /sites/{siteId}; default Early 06:00, Late 14:00, Night 22:00). A shift belongs to the local day it starts on. A caller not cleared for export-controlled data gets no rows for a flagged rig, nor for a rig with an inspection in the period that names a flagged gauge (the inspections themselves are left out for such a caller).',
    security,
    query: yieldQuery,
    responses: { '200': yieldAnswer },
    errors: [400, 401],
  }),
  settings: operation({
    method: 'get',
    path: '/calibration-settings',
    summary: 'The tenant’s calibration defaults (due-soon window)',
    security,
    responses: { '200': settingsAnswer },
    errors: [401],
  }),
  setSettings: operation({
    method: 'put',
    path: '/calibration-settings',
    summary: 'Set the tenant’s default due-soon window (technician, admin; not a user limited to sites)',
    security: sessionOnly,
    body: settingsSchema,
    responses: { '200': settingsAnswer },
    errors: [400, 401, 403],
  }),
} as const;
