/**
 * What the calibration bench knows: the flow rigs' own sensors it calibrates (the units under
 * test) and the reference standards it calibrates them against. Fixed, so a plant config can name
 * them and a test can check a record against them.
 */

export type InstrumentKind = 'rail-pressure' | 'flow' | 'oil-temperature';

export interface ReferenceStandard {
  standardId: string;
  description: string;
  /** Calibration certificate of the standard itself. */
  certificate: string;
  /** The standard's own calibration falls due this many days after the bench starts. */
  dueInDays: number;
  /** Expanded uncertainty (k = 2) of the standard, in the unit of the instruments it calibrates. */
  uncertainty: number;
}

export interface CalibrationPoint {
  name: string;
  nominal: number;
}

export interface Instrument {
  equipmentId: string;
  rig: string;
  kind: InstrumentKind;
  description: string;
  unit: string;
  /** Decimals the instrument displays (its resolution). */
  decimals: number;
  points: readonly CalibrationPoint[];
  /** Symmetric absolute error limit at a point (the acceptance criterion of the procedure). */
  tolerance(nominal: number): number;
  /** Human-readable acceptance criterion. */
  toleranceText: string;
  /** The calibration procedure's id and revision (stated apart, as a calibration record names them). */
  procedure: string;
  procedureRevision: string;
  standardId: string;
  intervalDays: number;
}

export const STANDARDS: readonly ReferenceStandard[] = [
  {
    standardId: 'STD-PRS-0007',
    description: 'deadweight tester 0-2500 bar',
    certificate: 'CERT-PRS-0007-2025-0412',
    dueInDays: 212,
    uncertainty: 0.4,
  },
  {
    standardId: 'STD-FLW-0002',
    description: 'gravimetric flow standard (master injector set and precision balance)',
    certificate: 'CERT-FLW-0002-2025-0093',
    dueInDays: 97,
    uncertainty: 0.012,
  },
  {
    standardId: 'STD-TMP-0003',
    description: 'reference PRT with dry-block calibrator',
    certificate: 'CERT-TMP-0003-2025-0218',
    dueInDays: 151,
    uncertainty: 0.05,
  },
];

const RAIL_FULL_SCALE_BAR = 2000;

function railPressure(rig: string, n: string): Instrument {
  return {
    equipmentId: `PT-RIG${n}-RAIL`,
    rig,
    kind: 'rail-pressure',
    description: 'rail-pressure transducer 0-2000 bar',
    unit: 'bar',
    decimals: 2,
    points: [0, 500, 1000, 1500, 2000].map((nominal) => ({ name: `${nominal} bar`, nominal })),
    tolerance: () => 0.0025 * RAIL_FULL_SCALE_BAR,
    toleranceText: '±0.25 % FS (±5 bar)',
    procedure: 'CP-PT-004',
    procedureRevision: 'C',
    standardId: 'STD-PRS-0007',
    intervalDays: 180,
  };
}

function flowCell(rig: string, n: string): Instrument {
  return {
    equipmentId: `FC-RIG${n}`,
    rig,
    kind: 'flow',
    description: 'flow cell (injected quantity per stroke)',
    unit: 'mm3/stroke',
    decimals: 3,
    points: [
      { name: 'pilot', nominal: 1.5 },
      { name: 'idle', nominal: 5 },
      { name: 'emission', nominal: 20 },
      { name: 'full load', nominal: 60 },
    ],
    tolerance: (nominal) => 0.005 * nominal + 0.03,
    toleranceText: '±(0.5 % of reading + 0.03 mm3/stroke)',
    procedure: 'CP-FC-011',
    procedureRevision: 'B',
    standardId: 'STD-FLW-0002',
    intervalDays: 90,
  };
}

function oilTemperature(rig: string, n: string): Instrument {
  return {
    equipmentId: `TT-RIG${n}-OIL`,
    rig,
    kind: 'oil-temperature',
    description: 'test-oil temperature probe (Pt100)',
    unit: 'degC',
    decimals: 2,
    points: [20, 40, 60].map((nominal) => ({ name: `${nominal} degC`, nominal })),
    tolerance: () => 0.3,
    toleranceText: '±0.3 degC',
    procedure: 'CP-TT-002',
    procedureRevision: 'A',
    standardId: 'STD-TMP-0003',
    intervalDays: 365,
  };
}

/** The calibration loop visits them in this order. */
export const INSTRUMENTS: readonly Instrument[] = [
  railPressure('RIG-01', '01'),
  flowCell('RIG-01', '01'),
  oilTemperature('RIG-01', '01'),
  railPressure('RIG-02', '02'),
  flowCell('RIG-02', '02'),
  oilTemperature('RIG-02', '02'),
];

/**
 * The ± tolerance at a point as the bench states it in its records (to 4 decimals): the limit a
 * procedure for the instrument gives, so hand-entered calibrations and the bench's agree exactly.
 */
export function toleranceAt(instrument: Instrument, nominal: number): number {
  return Number(instrument.tolerance(nominal).toFixed(4));
}

/**
 * The calibration lab's conditions the bench works in (it reports 23 ± 0.4 °C, 45 ± 3 %RH): the
 * environment limits of the procedures it follows.
 */
export const LAB_ENVIRONMENT = {
  temperatureC: { min: 20, max: 26 },
  humidityPct: { min: 30, max: 70 },
} as const;

export function findInstrument(equipmentId: string): Instrument | undefined {
  return INSTRUMENTS.find((i) => i.equipmentId === equipmentId);
}

export function findStandard(standardId: string): ReferenceStandard {
  const s = STANDARDS.find((x) => x.standardId === standardId);
  if (!s) throw new Error(`unknown reference standard ${standardId}`);
  return s;
}

export const TECHNICIANS = ['T-0117 M. Keller', 'T-0124 A. Novak', 'T-0131 R. Osei'] as const;
