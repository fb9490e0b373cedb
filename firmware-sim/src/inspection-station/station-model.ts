import { createRng, mixSeed, type Rng } from '../flow-rig/prng.js';

/**
 * An inspection station for injector nozzle parts with hand gauges, as a pure model: the caller owns
 * the clock and asks for the next part (nextPart), so it can be tested without sockets or timers.
 *
 * Each part is measured on the characteristics of INJECTOR_CHARACTERISTICS, each with the hand gauge
 * of its slot (air gauge, lift gauge, optical comparator, height gauge / micrometer; with fewer
 * gauges configured, slots share them). Values are the process centre plus a normal spread (about
 * 0.1 % of readings per characteristic fall outside the limits) plus the reading error of the gauge.
 * Everything that defines a part comes from a PRNG seeded with (seed, part number), so a seed replays
 * the same parts whatever the timing.
 *
 * Shifts: a shift starts with a usage "start" of the station, every CYCLE_REPORT_PARTS parts the
 * station and each gauge report their cycles, and after partsPerShift parts the shift ends with a
 * usage "stop" (cycles since the last report, duration). The next shift has the next operator.
 *
 * Drift fault: the first gauge reads higher and higher, by driftStepPct of the half tolerance of what
 * it measures per part, so its characteristics go out of tolerance after a few parts while the parts
 * themselves are fine; switching the fault off stands for recalibrating the gauge.
 */

export interface CharacteristicSpec {
  name: string;
  nominal: number;
  lsl: number;
  usl: number;
  unit: string;
  /** Resolution of the gauge, in decimals. */
  decimals: number;
  /** Which gauge slot measures it: 0 air gauge, 1 lift gauge, 2 optical comparator, 3 height gauge / micrometer. */
  slot: 0 | 1 | 2 | 3;
}

export const INJECTOR_CHARACTERISTICS: readonly CharacteristicSpec[] = [
  {
    name: 'nozzle-body.guide-bore.diameter',
    nominal: 4,
    lsl: 3.998,
    usl: 4.002,
    unit: 'mm',
    decimals: 4,
    slot: 0,
  },
  { name: 'needle.lift', nominal: 0.25, lsl: 0.24, usl: 0.26, unit: 'mm', decimals: 4, slot: 1 },
  { name: 'nozzle-body.seat-angle', nominal: 60, lsl: 59.75, usl: 60.25, unit: 'deg', decimals: 3, slot: 2 },
  { name: 'spray-hole.diameter', nominal: 0.12, lsl: 0.117, usl: 0.123, unit: 'mm', decimals: 4, slot: 2 },
  {
    name: 'nozzle-body.overall-length',
    nominal: 68,
    lsl: 67.95,
    usl: 68.05,
    unit: 'mm',
    decimals: 3,
    slot: 3,
  },
  { name: 'nozzle-body.shank.diameter', nominal: 17, lsl: 16.992, usl: 17, unit: 'mm', decimals: 4, slot: 3 },
];

export const DEFAULT_GAUGES = ['GA-0101', 'GA-0102', 'GA-0103', 'GA-0104'] as const;
export const CYCLE_REPORT_PARTS = 10;
const PARTS_PER_WORK_ORDER = 25;
const OPERATORS = ['OP-1042', 'OP-2217', 'OP-3088', 'OP-4410', 'OP-5123'];
/** Process spread: the half tolerance is 3.3 standard deviations (Cp ≈ 1.1). */
const SIGMA_PER_HALF_TOL = 1 / 3.3;
/** Gauge reading error: a tenth of the process spread. */
const GAUGE_NOISE_SHARE = 0.1;

export interface StationModelOptions {
  seed: number;
  /** Asset tag of the station. */
  asset: string;
  /** Asset tags of the hand gauges, at least one. */
  gauges: readonly string[];
  partsPerShift: number;
  /** Drift fault: the first gauge reads this % of the half tolerance higher with every part. */
  driftStepPct: number;
}

export interface CharacteristicReading {
  name: string;
  nominal: number;
  lsl: number;
  usl: number;
  measured: number;
  unit: string;
  gauge: string;
}

export interface InspectionOutput {
  kind: 'inspection';
  equipment: string;
  /** Part number since start, 1, 2, ... */
  part: number;
  payload: {
    partSerial: string;
    workOrder: string;
    operator: string;
    testPlan: string;
    characteristics: CharacteristicReading[];
  };
}

export interface UsageOutput {
  kind: 'usage';
  equipment: string;
  payload: {
    event: 'start' | 'stop' | 'cycle';
    cycles?: number;
    operator?: string;
    workOrder?: string;
    partSerial?: string;
    durationS?: number;
  };
}

export type StationOutput = InspectionOutput | UsageOutput;

const round = (x: number, decimals: number): number => Number(x.toFixed(decimals));

export class InspectionStationModel {
  private readonly opts: StationModelOptions;
  private readonly serialBase: number;
  private readonly workOrderBase: number;
  private readonly operatorBase: number;
  /** Fixed reading bias of each gauge (calibration residue). */
  private readonly gaugeBias: number[];
  private parts = 0;
  private shift = 0;
  private shiftOpen = false;
  private shiftStartMs = 0;
  private shiftFirstPart = 1;
  private stationCycles = 0;
  private readonly gaugeCycles = new Map<string, number>();
  private drift = false;
  private driftSteps = 0;
  private lastSerial = '';

  constructor(opts: StationModelOptions) {
    if (opts.gauges.length === 0) throw new RangeError('at least one gauge');
    this.opts = { ...opts, gauges: [...opts.gauges] };
    const plant: Rng = createRng(mixSeed(opts.seed >>> 0, 0x73746e));
    this.serialBase = plant.int(10_000_000, 89_000_000);
    this.workOrderBase = plant.int(100_000, 800_000);
    this.operatorBase = plant.int(0, OPERATORS.length - 1);
    this.gaugeBias = opts.gauges.map(() => plant.normal(0, 0.05));
    for (const g of opts.gauges) this.gaugeCycles.set(g, 0);
  }

  get partsMeasured(): number {
    return this.parts;
  }

  get drifting(): boolean {
    return this.drift;
  }

  /** How far the drifting gauge reads high now, in % of the half tolerance. */
  get driftPct(): number {
    return this.driftSteps * this.opts.driftStepPct;
  }

  /** Switching the drift off stands for recalibrating the gauge: its error goes back to zero. */
  setDrift(on: boolean): void {
    this.drift = on;
    if (!on) this.driftSteps = 0;
  }

  gaugeFor(spec: CharacteristicSpec): string {
    const gauges = this.opts.gauges;
    return gauges[spec.slot % gauges.length] ?? gauges[0] ?? '';
  }

  /** Everything the station publishes for the next part, in order. */
  nextPart(nowMs: number): StationOutput[] {
    const out: StationOutput[] = [];
    if (!this.shiftOpen) out.push(this.startShift(nowMs));
    this.parts++;
    const n = this.parts;
    if (this.drift) this.driftSteps++;
    const rng = createRng(mixSeed(this.opts.seed >>> 0, n));
    const driftingGauge = this.opts.gauges[0];
    const characteristics = INJECTOR_CHARACTERISTICS.map((spec) => {
      const halfTol = (spec.usl - spec.lsl) / 2;
      const centre = (spec.usl + spec.lsl) / 2;
      const gauge = this.gaugeFor(spec);
      const gi = this.opts.gauges.indexOf(gauge);
      const sigma = halfTol * SIGMA_PER_HALF_TOL;
      const trueValue = centre + rng.normal(0, sigma);
      let reading = trueValue + (this.gaugeBias[gi] ?? 0) * sigma + rng.normal(0, sigma * GAUGE_NOISE_SHARE);
      if (gauge === driftingGauge) reading += (this.driftPct / 100) * halfTol;
      this.gaugeCycles.set(gauge, (this.gaugeCycles.get(gauge) ?? 0) + 1);
      return {
        name: spec.name,
        nominal: spec.nominal,
        lsl: spec.lsl,
        usl: spec.usl,
        measured: round(reading, spec.decimals),
        unit: spec.unit,
        gauge,
      };
    });
    this.lastSerial = `NZB-${String(this.serialBase + n).padStart(8, '0')}`;
    out.push({
      kind: 'inspection',
      equipment: this.opts.asset,
      part: n,
      payload: {
        partSerial: this.lastSerial,
        workOrder: this.workOrder(),
        operator: this.operator(),
        testPlan: 'NZB-DIM rev C',
        characteristics,
      },
    });
    this.stationCycles++;
    const partInShift = this.parts - this.shiftFirstPart + 1;
    if (partInShift % CYCLE_REPORT_PARTS === 0 && partInShift < this.opts.partsPerShift)
      out.push(...this.cycleReports());
    if (partInShift >= this.opts.partsPerShift) out.push(...this.endShift(nowMs));
    return out;
  }

  /** The "stop" of an open shift (on shutdown); empty when no shift is open. */
  shutdown(nowMs: number): StationOutput[] {
    return this.shiftOpen ? this.endShift(nowMs) : [];
  }

  private startShift(nowMs: number): UsageOutput {
    this.shiftOpen = true;
    this.shiftStartMs = nowMs;
    this.shiftFirstPart = this.parts + 1;
    return {
      kind: 'usage',
      equipment: this.opts.asset,
      payload: { event: 'start', operator: this.operator(), workOrder: this.workOrder(this.parts + 1) },
    };
  }

  private cycleReports(): UsageOutput[] {
    const out: UsageOutput[] = [
      {
        kind: 'usage',
        equipment: this.opts.asset,
        payload: {
          event: 'cycle',
          cycles: this.stationCycles,
          operator: this.operator(),
          workOrder: this.workOrder(),
          partSerial: this.lastSerial,
        },
      },
    ];
    this.stationCycles = 0;
    for (const [gauge, cycles] of this.gaugeCycles) {
      if (cycles === 0) continue;
      out.push({
        kind: 'usage',
        equipment: gauge,
        payload: { event: 'cycle', cycles, operator: this.operator() },
      });
      this.gaugeCycles.set(gauge, 0);
    }
    return out;
  }

  private endShift(nowMs: number): UsageOutput[] {
    const out = this.stationCycles > 0 ? this.cycleReports() : [];
    out.push({
      kind: 'usage',
      equipment: this.opts.asset,
      payload: {
        event: 'stop',
        operator: this.operator(),
        durationS: Math.max(0, Math.round((nowMs - this.shiftStartMs) / 1000)),
      },
    });
    this.shiftOpen = false;
    this.shift++;
    return out;
  }

  private operator(): string {
    return OPERATORS[(this.operatorBase + this.shift) % OPERATORS.length] ?? 'OP-0000';
  }

  private workOrder(part = this.parts): string {
    return `WO-${this.workOrderBase + Math.floor((Math.max(part, 1) - 1) / PARTS_PER_WORK_ORDER)}`;
  }
}
