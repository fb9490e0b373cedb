/**
 * The demo plant's past year: calibrations of every registered instrument at its real interval,
 * entered from lab and bench certificates, so a new demo looks like a plant that has been running.
 * One sensor and one gauge are due within days, two sensors are overdue, and one flow cell failed
 * as found three weeks ago and went for repair: its out-of-tolerance case stays open, the cell
 * tagged out, until the bench calibrates it again. The register, the bench and
 * these entries take their instruments, intervals, procedures and standard certificates from the
 * bench's own catalog, so they agree with what the bench reports. The procedures are stored too
 * (points, ± tolerances, standards, environment): each entry follows the one its instrument
 * names, so a calibration recorded in the portal starts from it and continues the same series.
 */
import { toleranceVerdict, overallVerdict } from '@rigtrace/protocols/verdict';
import {
  INSTRUMENTS,
  LAB_ENVIRONMENT,
  STANDARDS,
  findStandard,
  toleranceAt,
} from '../../firmware-sim/src/cal-bench/catalog.js';

const DAY_MS = 86_400_000;

/** A register entry as POST /equipment takes it (the site is added by the caller). */
export interface DemoEquipment {
  tag: string;
  type: string;
  make: string;
  model: string;
  serial: string;
  location: string;
  intervalDays: number;
  procedure?: { id: string; revision?: string };
  range?: { min: number; max: number; unit: string };
  resolution?: number;
  acceptanceCriteria?: string;
  referenceStandard?: { certificate: string; dueDate: string; uncertainty: number };
}

export interface DemoPoint {
  name: string;
  nominal: number;
  unit: string;
  asFound: number;
  asLeft?: number;
  lowerTolerance: number;
  upperTolerance: number;
  asFoundResult: 'pass' | 'fail';
  asLeftResult?: 'pass' | 'fail';
}

export interface DemoCalibration {
  equipment: string;
  body: {
    procedure?: { id: string; revision?: string };
    lab: { name: string; accreditation?: string };
    certificate: { number: string };
    standards: { id: string; certificate: string; dueDate: string }[];
    points: DemoPoint[];
    adjusted: boolean;
    asFoundResult: 'pass' | 'fail';
    asLeftResult?: 'pass' | 'fail';
    calibratedAt: string;
  };
}

/** Where each bench instrument's last calibration lies, in days before today. */
const LAST_DAYS_AGO: Record<string, number> = {
  'PT-RIG01-RAIL': 100,
  'FC-RIG01': 97, // 90-day interval: overdue by a week
  'TT-RIG01-OIL': 120,
  'PT-RIG02-RAIL': 174, // 180-day interval: due in 6 days
  'FC-RIG02': 20, // failed as found, not adjusted: the open out-of-tolerance case
  'TT-RIG02-OIL': 371, // 365-day interval: overdue
};

const GAUGES: { tag: string; lastDaysAgo: number }[] = [
  { tag: 'GA-0101', lastDaysAgo: 84 }, // 90-day interval: due in 6 days
  { tag: 'GA-0102', lastDaysAgo: 35 },
  { tag: 'GA-0103', lastDaysAgo: 52 },
];
const GAUGE_INTERVAL_DAYS = 90;

/** The flow rigs: registered as equipment whose positions hold the bench's instruments. */
const RIGS = ['RIG-01', 'RIG-02'] as const;
const RIG_INTERVAL_DAYS = 365;
/** When each rig's yearly verification with the master injector set was, in days before today. */
const RIG_VERIFIED_DAYS_AGO: Record<string, number> = { 'RIG-01': 150, 'RIG-02': 210 };
/** The position in its rig each kind of instrument sits in. */
const POSITION_OF: Record<string, string> = {
  'rail-pressure': 'rail pressure',
  flow: 'flow',
  'oil-temperature': 'oil temperature',
};
/** The instruments have sat in their rigs since before the year of history. */
const INSTALLED_DAYS_AGO = 400;

/** A position of a rig and the instrument installed in it (POST …/positions, …/installations). */
export interface DemoInstallation {
  rig: string;
  position: string;
  description: string;
  device: string;
  from: string;
}

/**
 * Where the bench's instruments sit: each in its position of its rig ("RIG-01 / rail pressure"),
 * so a failed instrument's suspect list names the injectors its rig tested with it.
 */
export function demoInstallations(now: number): DemoInstallation[] {
  return INSTRUMENTS.map((i) => ({
    rig: i.rig,
    position: POSITION_OF[i.kind]!,
    description: i.description,
    device: i.equipmentId,
    from: day(now - INSTALLED_DAYS_AGO * DAY_MS),
  }));
}

const LAB = { name: 'Metrology Lab GmbH', accreditation: 'DAkkS D-K-15071-01-00' };
const IN_HOUSE = { name: 'Plant 1 calibration lab (BENCH-01)' };

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const round = (v: number, decimals: number) => Number(v.toFixed(decimals));

/** The reference standards: due when the bench says they are (its catalog counts from today). */
function standardDue(now: number, standardId: string): string {
  return day(now + findStandard(standardId).dueInDays * DAY_MS);
}

const KIND: Record<string, { type: string; make: string; model: string; range: [number, number] }> = {
  'rail-pressure': { type: 'rail-pressure transducer', make: 'Kistler', model: '4067E', range: [0, 2000] },
  flow: { type: 'flow cell', make: 'AVL', model: 'PLU 131', range: [0, 120] },
  'oil-temperature': {
    type: 'oil temperature probe',
    make: 'Endress+Hauser',
    model: 'TR10',
    range: [0, 150],
  },
};
const STANDARD_MODEL: Record<string, { type: string; make: string; model: string }> = {
  'STD-PRS-0007': { type: 'dead-weight tester', make: 'DH-Budenberg', model: '580HX' },
  'STD-FLW-0002': { type: 'gravimetric flow standard', make: 'AVL', model: 'FMT 740' },
  'STD-TMP-0003': { type: 'reference thermometer', make: 'Fluke', model: '5615 PRT with 9142' },
};

/** The procedure an instrument of the bench is calibrated by, as a calibration names it. */
const procedureOf = (i: (typeof INSTRUMENTS)[number]) => ({ id: i.procedure, revision: i.procedureRevision });

/** A procedure as POST /procedures takes it. */
export interface DemoProcedure {
  id: string;
  revision: string;
  title: string;
  points: { name: string; unit: string; nominal: number; tolerance: number }[];
  standards: string[];
  environment: {
    temperatureC: { min: number; max: number };
    humidityPct: { min: number; max: number };
  };
}

/** The station's air gauges: checked on the 4 mm setting ring by the accredited lab. */
const GAUGE_PROCEDURE = { id: 'CP-AG-001', revision: 'A' };
const GAUGE_POINT = { name: '4 mm setting ring', unit: 'mm', nominal: 4, tolerance: 0.004 };
/** The rigs' yearly verification with the master injector set. */
const RIG_PROCEDURE = { id: 'CP-RIG-001', revision: 'A' };
const RIG_POINT = { name: 'full-load delivery', unit: 'mm3/stroke', nominal: 60, tolerance: 0.3 };
const RIG_STANDARD = 'STD-FLW-0002';

/**
 * The procedures the demo's instruments are calibrated by: the bench's (its points, unit and the
 * tolerance it states at each, its standard, the lab's conditions), the gauges' and the rigs'.
 */
export function demoProcedures(): DemoProcedure[] {
  const bench = new Map<string, DemoProcedure>();
  for (const i of INSTRUMENTS) {
    const named = procedureOf(i);
    if (bench.has(named.id)) continue;
    bench.set(named.id, {
      ...named,
      title: `Calibration of the ${i.description} on BENCH-01, ${i.toleranceText}`,
      points: i.points.map((p) => ({
        name: p.name,
        unit: i.unit,
        nominal: p.nominal,
        tolerance: toleranceAt(i, p.nominal),
      })),
      standards: [i.standardId],
      environment: structuredClone(LAB_ENVIRONMENT),
    });
  }
  return [
    ...bench.values(),
    {
      ...GAUGE_PROCEDURE,
      title: 'Air gauge check on the 4 mm setting ring, ±0.004 mm',
      points: [GAUGE_POINT],
      standards: [],
      // Dimensional: the reference temperature 20 °C.
      environment: { temperatureC: { min: 19, max: 21 }, humidityPct: { min: 30, max: 70 } },
    },
    {
      ...RIG_PROCEDURE,
      title: 'Yearly verification of an injector flow rig with the master injector set',
      points: [RIG_POINT],
      standards: [RIG_STANDARD],
      environment: structuredClone(LAB_ENVIRONMENT),
    },
  ];
}

/**
 * What the demo registers: the rigs' sensors, the bench's standards and the station's gauges,
 * with make, model, serial, location, procedure and acceptance criteria filled in.
 */
export function demoRegister(now: number): DemoEquipment[] {
  return [
    ...INSTRUMENTS.map((i, n) => {
      const k = KIND[i.kind]!;
      return {
        tag: i.equipmentId,
        type: k.type,
        make: k.make,
        model: k.model,
        serial: `${k.make.slice(0, 2).toUpperCase()}${(4_711_203 + n * 7_919).toString()}`,
        location: `${i.rig} test bench`,
        intervalDays: i.intervalDays,
        procedure: procedureOf(i),
        range: { min: k.range[0], max: k.range[1], unit: i.unit },
        resolution: 10 ** -i.decimals,
        acceptanceCriteria: i.toleranceText,
      };
    }),
    ...STANDARDS.map((s, n) => ({
      tag: s.standardId,
      ...STANDARD_MODEL[s.standardId]!,
      serial: `STD-SN-${(20_417 + n * 311).toString()}`,
      location: 'Calibration lab, BENCH-01',
      intervalDays: 365,
      referenceStandard: {
        certificate: s.certificate,
        dueDate: standardDue(now, s.standardId),
        uncertainty: s.uncertainty,
      },
    })),
    ...RIGS.map((r, n) => ({
      tag: r,
      type: 'injector test rig',
      make: 'RigTrace',
      model: 'flow rig (simulated)',
      serial: `RT-FR-${(1 + n).toString().padStart(4, '0')}`,
      location: `${r} test bench`,
      intervalDays: RIG_INTERVAL_DAYS,
      procedure: RIG_PROCEDURE,
      acceptanceCriteria: 'master injector delivery within ±0.5 % at full load',
    })),
    ...GAUGES.map((g, n) => ({
      tag: g.tag,
      type: 'air gauge',
      make: 'Marposs',
      model: 'E9066',
      serial: `MP-${(88_120 + n * 13).toString()}`,
      location: 'STN-01 inspection station',
      intervalDays: GAUGE_INTERVAL_DAYS,
      procedure: GAUGE_PROCEDURE,
      acceptanceCriteria: '±0.004 mm on the 4 mm setting ring',
    })),
  ];
}

/** A small, repeatable as-found error: a share of the tolerance that differs per entry. */
function share(seed: number): number {
  const x = Math.sin(seed * 12.9898) * 43758.5453;
  return (x - Math.floor(x)) * 1.2 - 0.6; // -0.6 .. 0.6 of the tolerance
}

function point(
  name: string,
  nominal: number,
  unit: string,
  tolerance: number,
  decimals: number,
  error: number,
  asLeftError?: number,
): DemoPoint {
  const t = { nominal, lowerTolerance: -tolerance, upperTolerance: tolerance };
  const asFound = round(nominal + error, decimals);
  const p: DemoPoint = {
    name,
    nominal,
    unit,
    asFound,
    lowerTolerance: -tolerance,
    upperTolerance: tolerance,
    asFoundResult: toleranceVerdict(asFound, t),
  };
  if (asLeftError !== undefined) {
    p.asLeft = round(nominal + asLeftError, decimals);
    p.asLeftResult = toleranceVerdict(p.asLeft, t);
  }
  return p;
}

/**
 * Every calibration of the past year, oldest first: for each instrument its last one (at
 * LAST_DAYS_AGO) and the ones before it at its interval, back to a year ago.
 */
export function demoHistory(now: number): DemoCalibration[] {
  const out: DemoCalibration[] = [];
  INSTRUMENTS.forEach((inst, n) => {
    const last = LAST_DAYS_AGO[inst.equipmentId] ?? inst.intervalDays / 2;
    const std = findStandard(inst.standardId);
    for (let ago = last, k = 0; ago <= 365 || k === 0; ago += inst.intervalDays, k++) {
      const at = now - ago * DAY_MS;
      const failed = inst.equipmentId === 'FC-RIG02' && k === 0;
      const points = inst.points.map((p, i) => {
        const tol = toleranceAt(inst, p.nominal);
        // The failed one: the full-load point reads 1.6 tolerances high.
        const error = failed && i === inst.points.length - 1 ? 1.6 * tol : share(n * 101 + k * 7 + i) * tol;
        return point(p.name, p.nominal, inst.unit, tol, inst.decimals, error);
      });
      const asFoundResult = overallVerdict(points.map((p) => p.asFoundResult));
      out.push({
        equipment: inst.equipmentId,
        body: {
          procedure: procedureOf(inst),
          lab: IN_HOUSE,
          certificate: { number: `CAL-BENCH-01-${day(at).replaceAll('-', '')}-${inst.equipmentId}` },
          // The standard with the certificate the register holds for it.
          standards: [
            { id: std.standardId, certificate: std.certificate, dueDate: standardDue(now, std.standardId) },
          ],
          points,
          adjusted: false,
          asFoundResult,
          calibratedAt: new Date(at).toISOString(),
        },
      });
      if (ago + inst.intervalDays > 365) break;
    }
  });
  // The standards themselves: last calibrated by the accredited lab a year before they fall due.
  for (const s of STANDARDS) {
    const at = Date.parse(standardDue(now, s.standardId)) - 365 * DAY_MS;
    out.push({
      equipment: s.standardId,
      body: {
        lab: LAB,
        certificate: { number: s.certificate },
        standards: [],
        points: [point('100 %FS', 100, '%FS', 0.1, 3, 0.02)],
        adjusted: false,
        asFoundResult: 'pass',
        calibratedAt: new Date(at).toISOString(),
      },
    });
  }
  // The rigs' yearly verification with the master injector set.
  for (const [i, rig] of RIGS.entries()) {
    const at = now - RIG_VERIFIED_DAYS_AGO[rig]! * DAY_MS;
    out.push({
      equipment: rig,
      body: {
        procedure: RIG_PROCEDURE,
        lab: IN_HOUSE,
        certificate: { number: `VER-${day(at).replaceAll('-', '')}-${rig}` },
        standards: [
          {
            id: RIG_STANDARD,
            certificate: findStandard(RIG_STANDARD).certificate,
            dueDate: standardDue(now, RIG_STANDARD),
          },
        ],
        points: [
          point(
            RIG_POINT.name,
            RIG_POINT.nominal,
            RIG_POINT.unit,
            RIG_POINT.tolerance,
            3,
            share(700 + i) * RIG_POINT.tolerance,
          ),
        ],
        adjusted: false,
        asFoundResult: 'pass',
        calibratedAt: new Date(at).toISOString(),
      },
    });
  }
  for (const [i, g] of GAUGES.entries()) {
    const at = now - g.lastDaysAgo * DAY_MS;
    out.push({
      equipment: g.tag,
      body: {
        procedure: GAUGE_PROCEDURE,
        lab: LAB,
        certificate: { number: `MLG-${day(at).replaceAll('-', '')}-${g.tag}` },
        standards: [],
        points: [
          point(
            GAUGE_POINT.name,
            GAUGE_POINT.nominal,
            GAUGE_POINT.unit,
            GAUGE_POINT.tolerance,
            4,
            share(900 + i) * GAUGE_POINT.tolerance,
          ),
        ],
        adjusted: false,
        asFoundResult: 'pass',
        calibratedAt: new Date(at).toISOString(),
      },
    });
  }
  return out.sort((a, b) => a.body.calibratedAt.localeCompare(b.body.calibratedAt));
}

export type DemoUser = { email: string; role: string; password: string };

/** Signs a demo user in; API tokens only read, so the demo's writes are made by people. */
export async function signIn(
  cloudUrl: string,
  tenant: string,
  u: DemoUser,
): Promise<{ cookie: string; csrf: string }> {
  const res = await fetch(`${cloudUrl}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ tenant, email: u.email, password: u.password }),
  });
  const body = (await res.json()) as { state?: string; csrfToken?: string };
  if (!res.ok || body.state !== 'active')
    throw new Error(`signing in ${u.email}: ${res.status} ${JSON.stringify(body)}`);
  return { cookie: res.headers.getSetCookie()[0]!.split(';')[0]!, csrf: body.csrfToken! };
}

/**
 * Registers the demo plant's equipment at site plant-1 and enters its past year: the technician
 * writes the calibration procedures, registers each instrument (naming its procedure), installs the bench's instruments in their positions of the rigs, and
 * signs each certificate's entry; the manager approves the entries.
 * Done before the edge starts, so every calibration and usage record that arrives counts.
 */
export async function seedDemoPlant(
  cloudUrl: string,
  tenant: string,
  users: DemoUser[],
  now = Date.now(),
): Promise<void> {
  const technician = users.find((u) => u.role === 'technician');
  const manager = users.find((u) => u.role === 'manager');
  if (!technician || !manager) throw new Error('seed-demo gave no technician or manager');
  const tech = await signIn(cloudUrl, tenant, technician);
  const mgr = await signIn(cloudUrl, tenant, manager);
  const headers = (s: { cookie: string; csrf: string }) => ({
    'content-type': 'application/json',
    cookie: s.cookie,
    'x-csrf-token': s.csrf,
  });
  const site = 'plant-1';
  for (const p of demoProcedures()) {
    const res = await fetch(`${cloudUrl}/api/v1/procedures`, {
      method: 'POST',
      headers: headers(tech),
      body: JSON.stringify(p),
    });
    if (!res.ok) throw new Error(`procedure ${p.id} rev ${p.revision}: ${res.status} ${await res.text()}`);
  }
  for (const e of demoRegister(now)) {
    const res = await fetch(`${cloudUrl}/api/v1/equipment`, {
      method: 'POST',
      headers: headers(tech),
      body: JSON.stringify({ siteId: site, ...e }),
    });
    if (!res.ok) throw new Error(`registering ${e.tag}: ${res.status} ${await res.text()}`);
  }
  for (const i of demoInstallations(now)) {
    const base = `${cloudUrl}/api/v1/equipment/${encodeURIComponent(i.rig)}/positions`;
    const made = await fetch(base, {
      method: 'POST',
      headers: headers(tech),
      body: JSON.stringify({ name: i.position, description: i.description }),
    });
    if (!made.ok) throw new Error(`position ${i.rig} / ${i.position}: ${made.status} ${await made.text()}`);
    const put = await fetch(`${base}/${encodeURIComponent(i.position)}/installations`, {
      method: 'POST',
      headers: headers(tech),
      body: JSON.stringify({ device: i.device, from: i.from }),
    });
    if (!put.ok) throw new Error(`installing ${i.device}: ${put.status} ${await put.text()}`);
  }
  for (const c of demoHistory(now)) {
    const res = await fetch(`${cloudUrl}/api/v1/calibrations`, {
      method: 'POST',
      headers: headers(tech),
      body: JSON.stringify({
        equipment: c.equipment,
        enteredBy: 'demo history (from the certificate)',
        body: c.body,
        signature: { password: technician.password, meaning: 'entered from the certificate' },
      }),
    });
    if (!res.ok) throw new Error(`calibration of ${c.equipment}: ${res.status} ${await res.text()}`);
    const { calibration } = (await res.json()) as { calibration: { id: string } };
    const ok = await fetch(`${cloudUrl}/api/v1/calibrations/${encodeURIComponent(calibration.id)}/approve`, {
      method: 'POST',
      headers: headers(mgr),
      body: JSON.stringify({ password: manager.password, meaning: 'reviewed against the certificate' }),
    });
    if (!ok.ok)
      throw new Error(`approving the calibration of ${c.equipment}: ${ok.status} ${await ok.text()}`);
  }
}
