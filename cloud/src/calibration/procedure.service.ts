import { assetTagSchema, label, type CalibrationBody } from '@rigtrace/protocols';
import { limitsFromTolerance, toleranceFromLimits } from '@rigtrace/protocols/verdict';
import { z } from 'zod';
import { ProblemError } from '../platform/errors.js';
import { wholeTenant, type Viewer } from '../access/index.js';
import type { ProcedureRepository, ProcedureRow } from './procedure.repository.js';

/**
 * Calibration procedures: the test points (nominal, unit, limits), the reference standards and the
 * environment a calibration of the equipment that names the procedure follows. A revision is
 * written once; a change is a new revision. A calibration that names a stored revision must use
 * its points exactly (names, nominals, units, limits: a trend stays one series) and its required
 * standards; an environment outside the procedure's limits flags the calibration.
 */

const finite = () => z.number().refine(Number.isFinite, 'must be a finite number');
const range = z
  .strictObject({ min: finite(), max: finite() })
  .refine((r) => r.min <= r.max, { message: 'min must not be greater than max', path: ['min'] });

const pointInput = z
  .strictObject({
    name: label(64),
    unit: label(16),
    nominal: finite(),
    /** ± tolerance around the nominal… */
    tolerance: z.number().positive().optional(),
    /** …or absolute limits (either may be asymmetric about the nominal). */
    lowerLimit: finite().optional(),
    upperLimit: finite().optional(),
  })
  .superRefine((p, ctx) => {
    const limits = p.lowerLimit !== undefined || p.upperLimit !== undefined;
    if (p.tolerance !== undefined && limits)
      ctx.addIssue({ code: 'custom', message: 'give a tolerance or limits, not both', path: ['tolerance'] });
    else if (p.tolerance === undefined && !(p.lowerLimit !== undefined && p.upperLimit !== undefined))
      ctx.addIssue({
        code: 'custom',
        message: 'give a ± tolerance, or both lowerLimit and upperLimit',
        path: ['tolerance'],
      });
    else if (limits && !(p.lowerLimit! <= p.nominal && p.nominal <= p.upperLimit!))
      ctx.addIssue({ code: 'custom', message: 'the limits must enclose the nominal', path: ['lowerLimit'] });
  });

export const procedureSchema = z
  .strictObject({
    id: label(64),
    revision: label(32),
    title: label(200),
    points: z.array(pointInput).min(1, 'must have at least 1 point').max(200),
    /** Reference standards (asset tags) a calibration by this procedure must use. */
    standards: z.array(assetTagSchema).max(50).default([]),
    environment: z.strictObject({ temperatureC: range.optional(), humidityPct: range.optional() }).optional(),
  })
  .refine((p) => new Set(p.points.map((x) => x.name)).size === p.points.length, {
    message: 'point names must be unique',
    path: ['points'],
  });

export interface ProcedurePoint {
  name: string;
  unit: string;
  nominal: number;
  /** Limits on the error (reading − nominal), as calibration points carry them. */
  lowerTolerance: number;
  upperTolerance: number;
  /** The same as absolute limits on the reading. */
  lowerLimit: number;
  upperLimit: number;
}

export interface ProcedureView {
  id: string;
  revision: string;
  title: string;
  points: ProcedurePoint[];
  standards: string[];
  environment: {
    temperatureC?: { min: number; max: number };
    humidityPct?: { min: number; max: number };
  } | null;
  createdAt: string;
  createdBy: string;
}

interface Spec {
  points: ProcedurePoint[];
  standards: string[];
  environment: ProcedureView['environment'];
}

export function procedureView(r: ProcedureRow): ProcedureView {
  const spec = JSON.parse(r.spec) as Spec;
  return {
    id: r.id,
    revision: r.revision,
    title: r.title,
    ...spec,
    createdAt: r.created_at,
    createdBy: r.created_by,
  };
}

function validation(err: z.ZodError): ProblemError {
  return new ProblemError('CLOUD_VALIDATION', 'the request body is not valid', {
    errors: err.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
  });
}

export class ProcedureService {
  constructor(private readonly procedures: ProcedureRepository) {}

  /** Stores a new revision (409 when that revision exists: a revision never changes). */
  async create(tenantId: string, raw: unknown, by: string): Promise<ProcedureView> {
    const r = procedureSchema.safeParse(raw);
    if (!r.success) throw validation(r.error);
    const p = r.data;
    const points: ProcedurePoint[] = p.points.map((x) => {
      if (x.tolerance !== undefined) {
        const { lsl, usl } = limitsFromTolerance(x.nominal, -x.tolerance, x.tolerance);
        return {
          name: x.name,
          unit: x.unit,
          nominal: x.nominal,
          lowerTolerance: -x.tolerance,
          upperTolerance: x.tolerance,
          lowerLimit: lsl,
          upperLimit: usl,
        };
      }
      const t = toleranceFromLimits(x.nominal, x.lowerLimit!, x.upperLimit!);
      return {
        name: x.name,
        unit: x.unit,
        nominal: x.nominal,
        ...t,
        lowerLimit: x.lowerLimit!,
        upperLimit: x.upperLimit!,
      };
    });
    const row: ProcedureRow = {
      tenant_id: tenantId,
      id: p.id,
      revision: p.revision,
      title: p.title,
      spec: JSON.stringify({ points, standards: p.standards, environment: p.environment ?? null }),
      created_at: new Date().toISOString(),
      created_by: by,
    };
    if (!(await this.procedures.insert(row)))
      throw new ProblemError(
        'CLOUD_CONFLICT',
        `procedure ${p.id} revision ${p.revision} exists; a change is a new revision`,
      );
    return procedureView(row);
  }

  /** A revision, or the current one; with every revision's name and date. */
  async get(v: Viewer, id: string, revision?: string) {
    const all = await this.procedures.revisions(v, id);
    const row = revision === undefined ? all.at(-1) : all.find((r) => r.revision === revision);
    if (!row) throw new ProblemError('CLOUD_NOT_FOUND', 'no such procedure');
    return {
      ...procedureView(row),
      revisions: all.map((r) => ({ revision: r.revision, createdAt: r.created_at })),
    };
  }

  async list(v: Viewer, limit: number): Promise<ProcedureView[]> {
    return (await this.procedures.current(v, limit)).map(procedureView);
  }

  /** The stored revision a calibration names (undefined: it names none, or one not stored here). */
  async of(tenantId: string, body: Pick<CalibrationBody, 'procedure'>): Promise<ProcedureView | undefined> {
    const p = body.procedure;
    if (!p?.revision) return undefined;
    // A calibration being stored or shown names it: read whatever the reader.
    const row = await this.procedures.get(wholeTenant(tenantId), p.id, p.revision);
    return row ? procedureView(row) : undefined;
  }

  /**
   * Where a hand-entered calibration departs from the procedure revision it names: a revision
   * not stored (for a procedure that is), points that are not the procedure's or differ from it
   * in nominal, unit or limits, required standards not used. Empty: it follows the procedure.
   */
  async departures(tenantId: string, body: CalibrationBody): Promise<{ path: string; message: string }[]> {
    const named = body.procedure;
    if (!named) return [];
    const all = await this.procedures.revisions(wholeTenant(tenantId), named.id);
    if (all.length === 0) return [];
    if (!named.revision)
      return [
        { path: 'body.procedure.revision', message: `name the revision of ${named.id} that was followed` },
      ];
    const row = all.find((r) => r.revision === named.revision);
    if (!row)
      return [
        {
          path: 'body.procedure.revision',
          message: `${named.id} has no revision ${named.revision} (revisions: ${all.map((r) => r.revision).join(', ')})`,
        },
      ];
    const proc = procedureView(row);
    const out: { path: string; message: string }[] = [];
    const byName = new Map(proc.points.map((p) => [p.name, p]));
    body.points.forEach((p, i) => {
      const d = byName.get(p.name);
      if (!d) {
        out.push({
          path: `body.points[${i}].name`,
          message: `"${p.name}" is not a point of ${proc.id} rev ${proc.revision} (${proc.points.map((x) => x.name).join(', ')})`,
        });
        return;
      }
      for (const k of ['nominal', 'unit', 'lowerTolerance', 'upperTolerance'] as const)
        if (p[k] !== d[k])
          out.push({
            path: `body.points[${i}].${k}`,
            message: `must be ${d[k]} as in ${proc.id} rev ${proc.revision}`,
          });
    });
    const used = new Set(body.standards.map((s) => s.id));
    for (const s of proc.standards)
      if (!used.has(s))
        out.push({
          path: 'body.standards',
          message: `${proc.id} rev ${proc.revision} requires the standard ${s}`,
        });
    return out;
  }
}

/** Why the environment a calibration states is outside its procedure's limits (traceability issues). */
export function environmentIssues(proc: ProcedureView, body: CalibrationBody): string[] {
  const out: string[] = [];
  const env = body.environment;
  const lim = proc.environment;
  if (!lim) return out;
  const check = (what: string, unit: string, v: number | undefined, r?: { min: number; max: number }) => {
    if (!r || v === undefined) return;
    if (v < r.min || v > r.max)
      out.push(
        `${what} ${v} ${unit} is outside ${r.min}–${r.max} ${unit} of ${proc.id} rev ${proc.revision}`,
      );
  };
  check('temperature', '°C', env?.temperatureC, lim.temperatureC);
  check('humidity', '%', env?.humidityPct, lim.humidityPct);
  return out;
}
