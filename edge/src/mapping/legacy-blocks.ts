import type { z } from 'zod';
import { inspectionMapping, legacyCalibration } from '../config/config.schema.js';
import { PROFILES } from './profiles.js';

/**
 * The older result blocks — an OPC UA source's `calibration:` and a Modbus source's
 * `inspection:` — are accepted and become one ordinary `records` entry each, before the config is
 * checked (as profiles do). Results are then captured by the one record-mapping path (exactly-once
 * state, RESULTS_MISSED gaps, RESULT_NOT_MAPPED events); nothing else captures results.
 */

const isObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x);

/** Formats zod issues as problem lines (the config's own formatter). */
type IssueLines = (issues: readonly z.core.$ZodIssue[]) => string[];

/** A point or item name as an expression (quoted: names may hold `.` and `-`). */
const ref = (name: string) => `='${name}'`;

/** A fixed text as a mapped value (a text starting with `=` would read as an expression). */
const constant = (text: string) => (text.startsWith('=') ? `=${JSON.stringify(text)}` : text);

/** `calibration.nodes` keys and the inputs of the `rigtrace-bench` profile they are. */
const NODE_INPUT: Record<string, string> = {
  equipment: 'EquipmentId',
  pointNames: 'PointNames',
  nominals: 'Nominals',
  asFound: 'AsFound',
  asLeft: 'AsLeft',
  lowerTolerance: 'LowerTolerance',
  upperTolerance: 'UpperTolerance',
  unit: 'Unit',
  adjusted: 'Adjusted',
  completedAt: 'CompletedAt',
  procedure: 'Procedure',
  technician: 'Technician',
  certificate: 'CertificateId',
  standardId: 'StandardId',
  standardCertificate: 'StandardCertificate',
  standardDueDate: 'StandardDueDate',
  standardUncertainty: 'StandardUncertainty',
  nextDue: 'NextDue',
  temperatureC: 'TemperatureC',
  humidityPct: 'HumidityPct',
};

/** The profile's fields that use only the given inputs (a field of a node not configured is left out). */
function fieldsUsing(
  fields: Record<string, unknown>,
  has: (input: string) => boolean,
): Record<string, unknown> {
  const uses = (v: unknown) =>
    typeof v !== 'string' ||
    !v.startsWith('=') ||
    [...v.matchAll(/\b([A-Z][A-Za-z]*)\b/g)].every((m) => has(m[1]!));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (isObject(v)) out[k] = fieldsUsing(v, has);
    else if (uses(v)) out[k] = v;
  }
  return out;
}

/** The `records` entry of a `calibration: { trigger, nodes }` block. */
export function calibrationRecords(block: z.output<typeof legacyCalibration>): Record<string, unknown> {
  const read: Record<string, string> = {};
  for (const [k, node] of Object.entries(block.nodes)) if (node) read[NODE_INPUT[k]!] = node;
  return {
    kind: 'calibration',
    trigger: { counter: block.trigger },
    read,
    fields: fieldsUsing(PROFILES['rigtrace-bench']!.fields, (input) => input in read),
  };
}

/** The `records` entry of an `inspection:` block (the values are the poll's points). */
export function inspectionRecords(m: z.output<typeof inspectionMapping>): Record<string, unknown> {
  const value = (v: string | number) => (typeof v === 'number' ? v : ref(v));
  const pass = m.result?.pass;
  const deviceResult =
    m.result === undefined
      ? undefined
      : typeof pass === 'boolean'
        ? pass
          ? ref(m.result.point)
          : `=not '${m.result.point}'`
        : typeof pass === 'number'
          ? `='${m.result.point}' == ${pass}`
          : `=trim(text('${m.result.point}')) == ${JSON.stringify(pass)}`;
  const opt = (k: string, v: string | undefined) => (v === undefined ? {} : { [k]: ref(v) });
  return {
    kind: 'inspection',
    trigger: { counter: m.trigger },
    fields: {
      partSerial: ref(m.partSerial),
      ...opt('workOrder', m.workOrder),
      ...opt('operator', m.operator),
      ...opt('trimCode', m.trimCode),
      ...(m.testPlan !== undefined ? { testPlan: constant(m.testPlan) } : {}),
      ...(m.gauges ? { gauges: m.gauges.map(constant) } : {}),
      ...(deviceResult !== undefined ? { deviceResult } : {}),
      characteristics: m.characteristics.map((c) => ({
        name: constant(c.name),
        measured: ref(c.measured),
        unit: constant(c.unit),
        ...(c.nominal !== undefined ? { nominal: value(c.nominal) } : {}),
        ...(c.lsl !== undefined ? { lsl: value(c.lsl) } : {}),
        ...(c.usl !== undefined ? { usl: value(c.usl) } : {}),
      })),
    },
  };
}

/** Point names an `inspection:` block refers to, with where. */
function inspectionRefs(m: z.output<typeof inspectionMapping>): [string, string][] {
  const out: [string, string][] = [];
  const add = (where: string, v: string | number | undefined) => {
    if (typeof v === 'string') out.push([where, v]);
  };
  add('trigger', m.trigger);
  add('partSerial', m.partSerial);
  add('workOrder', m.workOrder);
  add('operator', m.operator);
  add('trimCode', m.trimCode);
  add('result.point', m.result?.point);
  m.characteristics.forEach((c, ci) => {
    for (const k of ['measured', 'nominal', 'lsl', 'usl'] as const) add(`characteristics[${ci}].${k}`, c[k]);
  });
  return out;
}

/**
 * Translates each source's `calibration:` (OPC UA) and `inspection:` (Modbus) block into a
 * `records` entry, in place on the raw config, before it is checked. Problems of a block (its
 * fields, a name that is no item or point of the source) are returned with the block's own paths.
 * A Modbus source without `telemetry.points` keeps sending only the points its block does not use,
 * as it did.
 */
export function translateLegacyBlocks(raw: unknown, issueLines: IssueLines): string[] {
  const problems: string[] = [];
  if (!isObject(raw) || !Array.isArray(raw.sources)) return problems;
  raw.sources.forEach((s: unknown, si) => {
    if (!isObject(s)) return;
    const names = (list: unknown) =>
      new Set(
        (Array.isArray(list) ? (list as unknown[]) : [])
          .map((p) => (isObject(p) ? p.name : undefined))
          .filter((n): n is string => typeof n === 'string'),
      );
    const at = (key: string, issues: readonly z.core.$ZodIssue[]) =>
      issueLines(issues.map((i) => ({ ...i, path: ['sources', si, key, ...i.path] })));
    const add = (entry: Record<string, unknown>) => {
      s.records = [...(Array.isArray(s.records) ? (s.records as unknown[]) : []), entry];
    };
    if (s.protocol === 'opcua' && s.calibration !== undefined) {
      const parsed = legacyCalibration.safeParse(s.calibration);
      delete s.calibration;
      if (!parsed.success) return void problems.push(...at('calibration', parsed.error.issues));
      if (!names(s.items).has(parsed.data.trigger))
        return void problems.push(
          `sources[${si}].calibration.trigger: no item named "${parsed.data.trigger}"`,
        );
      add(calibrationRecords(parsed.data));
    }
    if (s.protocol === 'modbus' && s.inspection !== undefined) {
      const parsed = inspectionMapping.safeParse(s.inspection);
      delete s.inspection;
      if (!parsed.success) return void problems.push(...at('inspection', parsed.error.issues));
      const points = names(s.points);
      const refs = inspectionRefs(parsed.data);
      const missing = refs.filter(([, n]) => !points.has(n));
      if (missing.length > 0)
        return void problems.push(
          ...missing.map(
            ([where, n]) => `sources[${si}].inspection.${where}: no point named "${n}" in this source`,
          ),
        );
      add(inspectionRecords(parsed.data));
      const telemetry = isObject(s.telemetry) ? s.telemetry : undefined;
      if (telemetry?.points === undefined && Array.isArray(s.points)) {
        const used = new Set(refs.map(([, n]) => n));
        const rest = (s.points as unknown[])
          .filter((p): p is Record<string, unknown> => isObject(p) && p.type !== 'string')
          .map((p) => p.name)
          .filter((n): n is string => typeof n === 'string' && !used.has(n));
        if (rest.length > 0) s.telemetry = { ...telemetry, points: rest };
      }
    }
  });
  return problems;
}
