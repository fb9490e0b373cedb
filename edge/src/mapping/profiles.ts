/**
 * Ready record mappings for common OPC UA layouts. A source names one with
 * `profile: { name, base?, nodes?, fields? }`; it becomes the source's trigger item and one entry
 * of its `records`, exactly as if written by hand, before the config is checked (so check-config
 * and run see the same). Each profile reads named inputs: a node id per input comes from `nodes`,
 * or is `<base>.<Input>` for a server with string node ids. `fields` overrides the profile's
 * fields one by one (a point's fields: `fields.points`, merged into the profile's point).
 */

interface Profile {
  description: string;
  /** The input whose changes are the trigger (a counter). */
  trigger: string;
  /** Inputs read with each result (the trigger is read with them). */
  inputs: string[];
  fields: Record<string, unknown>;
}

export const PROFILES: Record<string, Profile> = {
  /**
   * An asset in the manner of OPC UA Asset Management Basics (OPC 10000-110): the calibration due
   * information its CalibrationDueConditionClassType condition is about, kept as variables of the
   * asset, with one measured point and a calibration counter (AMB Operation Counters).
   */
  'amb-calibration': {
    description: 'AMB-like asset: last/next calibration, one point, a calibration counter',
    trigger: 'CalibrationCount',
    inputs: [
      'LastCalibration',
      'NextCalibration',
      'AsFound',
      'AsLeft',
      'Nominal',
      'Tolerance',
      'EngineeringUnits',
      'CalibrationResult',
      'CertificateId',
    ],
    fields: {
      calibratedAt: '=LastCalibration',
      nextDue: '=date(NextCalibration)',
      deviceResult: '=CalibrationResult',
      certificate: '=CertificateId',
      adjusted: '=AsLeft != AsFound',
      points: [
        {
          name: 'calibration',
          nominal: '=Nominal',
          unit: '=EngineeringUnits',
          asFound: '=AsFound',
          asLeft: '=AsLeft',
          tolerance: '=Tolerance',
        },
      ],
    },
  },
  /**
   * A laboratory device's maintenance task in the manner of LADS (OPC 30500-1): a calibration
   * task with its last and next execution, who performed it, its result, and the readings of
   * each channel as arrays (setpoints, as-found values, ± tolerances).
   */
  'lads-maintenance': {
    description: 'LADS-like maintenance task: executions, performer, result, per-channel arrays',
    trigger: 'ExecutionCount',
    inputs: [
      'TaskName',
      'LastExecution',
      'NextExecution',
      'Performer',
      'Result',
      'Channels',
      'Setpoints',
      'Readings',
      'Tolerances',
      'Unit',
    ],
    fields: {
      procedure: '=TaskName',
      calibratedAt: '=LastExecution',
      nextDue: '=date(NextExecution)',
      technician: '=Performer',
      deviceResult: '=Result',
      points: {
        each: '=len(Readings)',
        name: '=at(Channels, i)',
        nominal: '=at(Setpoints, i)',
        unit: '=Unit',
        asFound: '=at(Readings, i)',
        tolerance: '=at(Tolerances, i)',
      },
    },
  },
  /** Our own calibration bench simulator (firmware-sim), the layout of the `calibration` key. */
  'rigtrace-bench': {
    description: "RigTrace's bench simulator: Bench.LastCalibration.*",
    trigger: 'Sequence',
    inputs: [
      'EquipmentId',
      'PointNames',
      'Nominals',
      'AsFound',
      'AsLeft',
      'LowerTolerance',
      'UpperTolerance',
      'Unit',
      'Adjusted',
      'CompletedAt',
      'Procedure',
      'ProcedureRevision',
      'Technician',
      'CertificateId',
      'StandardId',
      'StandardCertificate',
      'StandardDueDate',
      'StandardUncertainty',
      'NextDue',
      'TemperatureC',
      'HumidityPct',
    ],
    fields: {
      equipment: '=EquipmentId',
      calibratedAt: '=CompletedAt',
      nextDue: '=NextDue',
      procedure: '=Procedure',
      procedureRevision: '=ProcedureRevision',
      technician: '=Technician',
      certificate: '=CertificateId',
      standardId: '=StandardId',
      standardCertificate: '=StandardCertificate',
      standardDueDate: '=StandardDueDate',
      standardUncertainty: '=StandardUncertainty',
      temperatureC: '=TemperatureC',
      humidityPct: '=HumidityPct',
      adjusted: '=Adjusted',
      points: {
        each: '=PointNames',
        name: '=at(PointNames, i)',
        nominal: '=at(Nominals, i)',
        unit: '=Unit',
        asFound: '=at(AsFound, i)',
        asLeft: '=at(AsLeft, i)',
        lowerTolerance: '=at(LowerTolerance, i)',
        upperTolerance: '=at(UpperTolerance, i)',
      },
    },
  },
};

/** The default base of the rigtrace-bench profile (the simulator's node ids). */
const DEFAULT_BASE: Record<string, string> = { 'rigtrace-bench': 'ns=1;s=Bench.LastCalibration' };

const isObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x);

/**
 * Expands each OPC UA source's `profile` into its trigger item and a `records` entry, in place on
 * the raw config, before it is checked. Returns problems (unknown profile, an input with no node)
 * by path; the rest is checked by the schema like any hand-written mapping.
 */
export function expandProfiles(raw: unknown): string[] {
  const problems: string[] = [];
  if (!isObject(raw) || !Array.isArray(raw.sources)) return problems;
  raw.sources.forEach((s: unknown, si) => {
    if (!isObject(s) || s.profile === undefined) return;
    const at = `sources[${si}].profile`;
    const p = s.profile;
    if (s.protocol !== 'opcua') {
      problems.push(`${at}: profiles are for OPC UA sources`);
      return;
    }
    if (!isObject(p) || typeof p.name !== 'string') {
      problems.push(`${at}: expected { name, base?, nodes?, fields? }`);
      return;
    }
    const extra = Object.keys(p).filter((k) => !['name', 'base', 'nodes', 'fields', 'handshake'].includes(k));
    if (extra.length > 0)
      problems.push(`${at}: unknown key${extra.length > 1 ? 's' : ''} ${extra.join(', ')}`);
    const profile = PROFILES[p.name];
    if (!profile) {
      problems.push(`${at}.name: no profile "${p.name}" (one of ${Object.keys(PROFILES).join(', ')})`);
      return;
    }
    const base = typeof p.base === 'string' ? p.base : DEFAULT_BASE[p.name];
    const nodes = isObject(p.nodes) ? p.nodes : {};
    for (const k of Object.keys(nodes))
      if (k !== profile.trigger && !profile.inputs.includes(k))
        problems.push(
          `${at}.nodes.${k}: the profile has no input "${k}" (${[profile.trigger, ...profile.inputs].join(', ')})`,
        );
    const fields = mergeFields(profile.fields, isObject(p.fields) ? p.fields : {});
    const used = JSON.stringify(fields);
    const nodeOf = (input: string): string | undefined => {
      const n = nodes[input];
      if (typeof n === 'string') return n;
      return base ? `${base}.${input}` : undefined;
    };
    const read: Record<string, string> = {};
    for (const input of profile.inputs) {
      if (!new RegExp(`\\b${input}\\b`).test(used)) continue; // overridden away
      const node = nodeOf(input);
      if (node) read[input] = node;
      else problems.push(`${at}.nodes.${input}: needs a node id (or set profile.base for <base>.${input})`);
    }
    const triggerNode = nodeOf(profile.trigger);
    if (!triggerNode) {
      problems.push(`${at}.nodes.${profile.trigger}: needs a node id (or set profile.base)`);
      return;
    }
    const items = Array.isArray(s.items) ? [...(s.items as unknown[])] : [];
    if (!items.some((i) => isObject(i) && i.name === profile.trigger))
      items.push({ name: profile.trigger, nodeId: triggerNode });
    s.items = items;
    const records = Array.isArray(s.records) ? [...(s.records as unknown[])] : [];
    records.push({
      kind: 'calibration',
      trigger: { counter: profile.trigger },
      read,
      ...(p.handshake !== undefined ? { handshake: p.handshake } : {}),
      fields,
    });
    s.records = records;
    delete s.profile;
  });
  return problems;
}

/** The profile's fields with the source's overrides; a point's overrides go into the profile's point. */
function mergeFields(
  profile: Record<string, unknown>,
  over: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...profile, ...over };
  const pp = profile.points;
  const op = over.points;
  if (isObject(op) && !('each' in op) && pp !== undefined) {
    if (Array.isArray(pp)) out.points = (pp as unknown[]).map((x) => (isObject(x) ? { ...x, ...op } : x));
    else if (isObject(pp)) out.points = { ...pp, ...op };
  }
  return out;
}
