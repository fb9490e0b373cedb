import { EventEmitter } from 'node:events';
import { addDays, dueAfter, localDay } from '@rigtrace/protocols/calendar';
import { createRng, mixSeed, type Rng } from '../flow-rig/prng.js';
import {
  findInstrument,
  findStandard,
  INSTRUMENTS,
  TECHNICIANS,
  toleranceAt,
  type Instrument,
  type ReferenceStandard,
} from './catalog.js';

/**
 * A calibration bench that verifies the flow rigs' own sensors one at a time against reference
 * standards, as a pure model driven by a clock the caller owns (advanceTo), so it can be tested
 * with a fake clock and served over OPC UA.
 *
 * The bench loops: idle for a quarter of a cycle, then one calibration of the next instrument
 * (three quarters of a cycle): an as-found run over the instrument's points, an adjustment when the
 * as-found errors call for one, and an as-left run. When it completes, the record becomes
 * `lastCalibration` and 'calibration-completed' is emitted. Everything that defines a calibration
 * comes from a PRNG seeded with (seed, calibration number), so a seed replays the same records
 * whatever the tick rate; only the live noise depends on when the bench is looked at.
 */

export const FAULTS = [
  'drift',
  'overdue-standard',
  'bad-status',
  'uncertain',
  'freeze',
  'disconnect',
  'slow',
] as const;
export type FaultName = (typeof FAULTS)[number];

export function isFaultName(name: string): name is FaultName {
  return (FAULTS as readonly string[]).includes(name);
}

export type BenchState = 'idle' | 'calibrating' | 'fault';
/** NAMUR NE107 status signals. */
export type Ne107 = 'NORMAL' | 'FAILURE' | 'CHECK_FUNCTION' | 'OFF_SPEC' | 'MAINTENANCE_REQUIRED';

export interface CalibrationRecord {
  /** 1, 2, 3… completed calibrations of this bench (aborted ones do not count). */
  sequence: number;
  equipmentId: string;
  rig: string;
  procedure: string;
  procedureRevision: string;
  technician: string;
  certificateId: string;
  standardId: string;
  standardCertificate: string;
  /** YYYY-MM-DD */
  standardDueDate: string;
  standardUncertainty: number;
  /** The standard's due date was before the calibration date: the event is not valid evidence. */
  standardOverdue: boolean;
  unit: string;
  pointNames: string[];
  nominals: number[];
  asFound: number[];
  asLeft: number[];
  /** Absolute error limits: a point passes when lower <= (reading - nominal) <= upper. */
  lowerTolerance: number[];
  upperTolerance: number[];
  asFoundResult: 'pass' | 'fail';
  asLeftResult: 'pass' | 'fail';
  adjusted: boolean;
  startedAt: string;
  completedAt: string;
  /**
   * YYYY-MM-DD: intervalDays after the local day (in the bench's time zone) the calibration
   * completed on, the rule the cloud counts due dates by.
   */
  nextDue: string;
  temperatureC: number;
  humidityPct: number;
}

export interface BenchLive {
  state: BenchState;
  health: Ne107;
  /** Instrument on the bench ('' before the first calibration). */
  equipmentId: string;
  referenceValue: number;
  deviceValue: number;
  unit: string;
  oilTemperature: number;
}

export interface CalibrationStarted {
  calibration: number;
  equipmentId: string;
  procedure: string;
  technician: string;
  standardId: string;
  requested: boolean;
  at: string;
}

export interface FaultChange {
  name: FaultName;
  on: boolean;
  faults: FaultName[];
  source: string;
  at: string;
}

export interface BenchModelEvents {
  'calibration-started': [CalibrationStarted];
  'calibration-completed': [CalibrationRecord];
  'calibration-aborted': [{ equipmentId: string; reason: string; at: string }];
  fault: [FaultChange];
}

export interface BenchModelOptions {
  seed: number;
  /** One calibration every cycleSeconds: a quarter idle, three quarters calibrating. */
  cycleSeconds: number;
  /**
   * Idle time after each completed calibration, when set: a calibration still takes three quarters
   * of cycleSeconds and the first starts a quarter cycle after start, but the next one waits this
   * long (a bench that calibrates every few hours, or on request through StartCalibration).
   */
  idleSeconds?: number;
  /** Clock reading at construction, in ms. */
  startMs: number;
  /** Asset tag of the bench; part of every certificate id (CAL-<asset>-<sequence>). */
  asset: string;
  faults?: FaultName[];
  /**
   * IANA time zone of the site the bench stands in (default UTC): its calendar dates (next due,
   * standard due) are local days of this zone, as the cloud counts them for that site.
   */
  timeZone?: string;
}

/** Share of a cycle spent calibrating (the rest is idle, the next instrument being connected). */
export const CALIBRATING_SHARE = 0.75;
/** Share of a test point spent bringing the standard to the point. */
const RAMP_SHARE = 0.3;
/** An as-found error beyond this share of the tolerance is adjusted even when it passes. */
export const ADJUST_LIMIT = 0.7;
export const OIL_NOMINAL_C = 40;

interface PlannedCalibration {
  calibration: number;
  instrument: Instrument;
  standard: ReferenceStandard;
  technician: string;
  requested: boolean;
  tolerances: number[];
  asFound: number[];
  asLeft: number[];
  adjusted: boolean;
  temperatureC: number;
  humidityPct: number;
  startedAt: string;
}

type Phase =
  | { kind: 'idle'; endMs: number }
  | { kind: 'calibrating'; startMs: number; endMs: number; plan: PlannedCalibration }
  | { kind: 'fault' };

export const round = (x: number, decimals: number): number => Number(x.toFixed(decimals));

/** A reading's error at the instrument's resolution: what a reader compares with the limits. */
export function pointError(reading: number, nominal: number, decimals: number): number {
  return round(reading - nominal, decimals);
}

export function pointPasses(
  reading: number,
  nominal: number,
  decimals: number,
  lower: number,
  upper: number,
): boolean {
  const e = pointError(reading, nominal, decimals);
  return e >= lower && e <= upper;
}

export class BenchModel extends EventEmitter<BenchModelEvents> {
  private readonly seed: number;
  private readonly cycleMs: number;
  private readonly startMs: number;
  private readonly asset: string;
  private readonly zone: string;
  private readonly noise: Rng;
  private readonly faultSet = new Set<FaultName>();
  private phase: Phase;
  /** Model time (the wall clock, as last given to advanceTo). */
  private t: number;
  private lastWall: number;
  private started = 0;
  private completed = 0;
  private rotation = 0;
  private readonly queue: string[] = [];
  private driftTarget: string | undefined;
  private last: CalibrationRecord | undefined;
  private readonly liveState: BenchLive;
  private nextOilAt: number;

  constructor(opts: BenchModelOptions) {
    super();
    this.seed = opts.seed >>> 0;
    this.cycleMs = Math.round(opts.cycleSeconds * 1000);
    this.idleAfterMs = opts.idleSeconds === undefined ? undefined : Math.round(opts.idleSeconds * 1000);
    this.startMs = opts.startMs;
    this.asset = opts.asset;
    this.zone = opts.timeZone ?? 'UTC';
    this.t = opts.startMs;
    this.lastWall = opts.startMs;
    this.noise = createRng(mixSeed(this.seed, 0x0be7c4));
    for (const f of opts.faults ?? []) this.faultSet.add(f);
    this.phase = this.faultSet.has('bad-status')
      ? { kind: 'fault' }
      : { kind: 'idle', endMs: this.t + this.idleMs };
    this.liveState = {
      state: 'idle',
      health: 'NORMAL',
      equipmentId: '',
      referenceValue: 0,
      deviceValue: 0,
      unit: '',
      oilTemperature: OIL_NOMINAL_C,
    };
    this.nextOilAt = this.t;
    this.updateOil();
    this.updateDerived();
  }

  private readonly idleAfterMs: number | undefined;

  private get idleMs(): number {
    return Math.round(this.cycleMs * (1 - CALIBRATING_SHARE));
  }

  private get calibratingMs(): number {
    return Math.round(this.cycleMs * CALIBRATING_SHARE);
  }

  get live(): Readonly<BenchLive> {
    return this.liveState;
  }

  get lastCalibration(): CalibrationRecord | undefined {
    return this.last;
  }

  get faults(): FaultName[] {
    return FAULTS.filter((f) => this.faultSet.has(f));
  }

  hasFault(name: FaultName): boolean {
    return this.faultSet.has(name);
  }

  /** Number of calibrations completed so far (= lastCalibration.sequence). */
  get sequence(): number {
    return this.completed;
  }

  /** Model time, ms. */
  get now(): number {
    return this.t;
  }

  setFault(name: FaultName, on: boolean, source: string): void {
    if (this.faultSet.has(name) === on) return;
    if (on) this.faultSet.add(name);
    else this.faultSet.delete(name);
    const at = new Date(this.lastWall).toISOString();
    if (name === 'drift' && !on) this.driftTarget = undefined;
    if (name === 'bad-status') {
      if (on) {
        if (this.phase.kind === 'calibrating') {
          this.emit('calibration-aborted', {
            equipmentId: this.phase.plan.instrument.equipmentId,
            reason: 'bad-status fault',
            at,
          });
        }
        this.phase = { kind: 'fault' };
      } else {
        this.phase = { kind: 'idle', endMs: this.t + this.idleMs };
      }
    }
    this.updateDerived();
    this.emit('fault', { name, on, faults: this.faults, source, at });
  }

  /**
   * Calibrates `equipmentId` now when the bench is idle; while a calibration runs, it goes next.
   * Refused while the bench is in fault (bad-status) or frozen, or for an unknown instrument.
   */
  requestCalibration(equipmentId: string): { ok: true; startsNow: boolean } | { ok: false; reason: string } {
    if (!findInstrument(equipmentId)) return { ok: false, reason: `unknown equipment ${equipmentId}` };
    if (this.phase.kind === 'fault') return { ok: false, reason: 'bench is in fault' };
    if (this.faultSet.has('freeze')) return { ok: false, reason: 'bench is frozen' };
    if (this.phase.kind === 'idle') {
      this.startCalibration(equipmentId, true);
      this.updateLive();
      return { ok: true, startsNow: true };
    }
    this.queue.push(equipmentId);
    return { ok: true, startsNow: false };
  }

  /** Moves the model to wall-clock time `nowMs` (never backwards). */
  advanceTo(nowMs: number): void {
    if (nowMs <= this.lastWall) return;
    const elapsed = nowMs - this.lastWall;
    this.lastWall = nowMs;
    if (this.faultSet.has('freeze')) {
      // Nothing moves: the phase and the next oil sample are pushed back by the frozen time.
      this.t = nowMs;
      if (this.phase.kind !== 'fault') this.phase.endMs += elapsed;
      if (this.phase.kind === 'calibrating') this.phase.startMs += elapsed;
      this.nextOilAt += elapsed;
      return;
    }
    const target = nowMs;
    for (let guard = 0; guard < 100_000; guard++) {
      if (this.phase.kind === 'fault') break;
      const endMs = this.phase.endMs;
      if (endMs > target) break;
      this.t = endMs;
      if (this.phase.kind === 'idle') {
        const queued = this.queue.shift();
        if (queued !== undefined) this.startCalibration(queued, true);
        else this.startCalibration(this.nextInRotation(), false);
      } else this.complete(this.phase.plan);
    }
    this.t = target;
    this.updateLive();
  }

  private nextInRotation(): string {
    const instrument = INSTRUMENTS[this.rotation % INSTRUMENTS.length]!;
    this.rotation++;
    return instrument.equipmentId;
  }

  private startCalibration(equipmentId: string, requested: boolean): void {
    const instrument = findInstrument(equipmentId)!;
    this.started++;
    if (this.faultSet.has('drift') && this.driftTarget === undefined) this.driftTarget = equipmentId;
    const plan = this.plan(this.started, instrument, requested);
    this.phase = { kind: 'calibrating', startMs: this.t, endMs: this.t + this.calibratingMs, plan };
    this.liveState.equipmentId = equipmentId;
    this.liveState.unit = instrument.unit;
    this.emit('calibration-started', {
      calibration: plan.calibration,
      equipmentId,
      procedure: instrument.procedure,
      technician: plan.technician,
      standardId: plan.standard.standardId,
      requested,
      at: plan.startedAt,
    });
  }

  /** Everything about one calibration, from the PRNG seeded with (seed, calibration number). */
  private plan(calibration: number, instrument: Instrument, requested: boolean): PlannedCalibration {
    const rng = createRng(mixSeed(this.seed, calibration));
    const maxNominal = Math.max(...instrument.points.map((p) => Math.abs(p.nominal)), 1e-9);
    const offsetShare = rng.normal(0, 0.18);
    const gainShare = rng.normal(0, 0.12);
    // A few percent of instruments are found out of tolerance on their own (a real bench sees them).
    const naturalOot = rng.next() < 0.02;
    const ootPoint = rng.int(0, instrument.points.length - 1);
    const sign = rng.next() < 0.5 ? -1 : 1;
    const drifted = this.faultSet.has('drift') && this.driftTarget === instrument.equipmentId;
    const tolerances = instrument.points.map((p) => toleranceAt(instrument, p.nominal));
    const asFound = instrument.points.map((p, i) => {
      const tol = tolerances[i]!;
      const x = Math.abs(p.nominal) / maxNominal;
      let err = tol * (offsetShare + gainShare * x) + rng.normal(0, 0.04 * tol);
      if (drifted) err += sign * tol * (1.4 + 0.9 * x);
      if (naturalOot && i === ootPoint) err += sign * tol * 1.25;
      return round(p.nominal + err, instrument.decimals);
    });
    const worst = Math.max(
      ...asFound.map(
        (v, i) =>
          Math.abs(pointError(v, instrument.points[i]!.nominal, instrument.decimals)) / tolerances[i]!,
      ),
    );
    const adjusted = worst > ADJUST_LIMIT;
    const asLeft = adjusted
      ? instrument.points.map((p, i) => {
          const tol = tolerances[i]!;
          const residual = Math.max(-0.3, Math.min(0.3, rng.normal(0, 0.08))) * tol;
          return round(p.nominal + residual, instrument.decimals);
        })
      : [...asFound];
    return {
      calibration,
      instrument,
      standard: findStandard(instrument.standardId),
      technician: TECHNICIANS[Math.floor((calibration - 1) / 8) % TECHNICIANS.length]!,
      requested,
      tolerances,
      asFound,
      asLeft,
      adjusted,
      temperatureC: round(rng.normal(23, 0.4), 1),
      humidityPct: round(rng.normal(45, 3), 1),
      startedAt: new Date(this.t).toISOString(),
    };
  }

  private complete(plan: PlannedCalibration): void {
    const { instrument, standard } = plan;
    this.completed++;
    const completedMs = this.t;
    const completedAt = new Date(completedMs).toISOString();
    const today = localDay(completedMs, this.zone);
    const standardDueDate = this.faultSet.has('overdue-standard')
      ? addDays(today, -12)
      : addDays(localDay(this.startMs, this.zone), standard.dueInDays);
    const nominals = instrument.points.map((p) => p.nominal);
    const lower = plan.tolerances.map((t) => -t);
    const upper = [...plan.tolerances];
    const result = (values: number[]): 'pass' | 'fail' =>
      values.every((v, i) => pointPasses(v, nominals[i]!, instrument.decimals, lower[i]!, upper[i]!))
        ? 'pass'
        : 'fail';
    const record: CalibrationRecord = {
      sequence: this.completed,
      equipmentId: instrument.equipmentId,
      rig: instrument.rig,
      procedure: instrument.procedure,
      procedureRevision: instrument.procedureRevision,
      technician: plan.technician,
      certificateId: `CAL-${this.asset}-${String(this.completed).padStart(6, '0')}`,
      standardId: standard.standardId,
      standardCertificate: standard.certificate,
      standardDueDate,
      standardUncertainty: standard.uncertainty,
      standardOverdue: standardDueDate < today,
      unit: instrument.unit,
      pointNames: instrument.points.map((p) => p.name),
      nominals,
      asFound: [...plan.asFound],
      asLeft: [...plan.asLeft],
      lowerTolerance: lower,
      upperTolerance: upper,
      asFoundResult: result(plan.asFound),
      asLeftResult: result(plan.asLeft),
      adjusted: plan.adjusted,
      startedAt: plan.startedAt,
      completedAt,
      nextDue: dueAfter(completedAt, instrument.intervalDays, this.zone),
      temperatureC: plan.temperatureC,
      humidityPct: plan.humidityPct,
    };
    this.last = record;
    this.phase = { kind: 'idle', endMs: completedMs + (this.idleAfterMs ?? this.idleMs) };
    this.emit('calibration-completed', record);
  }

  private updateLive(): void {
    this.updateOil();
    if (this.phase.kind === 'calibrating') {
      const { plan, startMs, endMs } = this.phase;
      const points = plan.instrument.points;
      const half = (endMs - startMs) / 2;
      const into = Math.max(0, this.t - startMs);
      const asLeftRun = into >= half;
      const runInto = asLeftRun ? into - half : into;
      const pointMs = half / points.length;
      const index = Math.min(points.length - 1, Math.floor(runInto / pointMs));
      const share = (runInto - index * pointMs) / pointMs;
      const nominal = points[index]!.nominal;
      // The standard starts from rest (ambient for a temperature, 0 otherwise) for the as-found run
      // and comes back down from the top point for the as-left run.
      const rest = plan.instrument.kind === 'oil-temperature' ? 23 : 0;
      const from =
        index > 0 ? points[index - 1]!.nominal : asLeftRun ? points[points.length - 1]!.nominal : rest;
      const ramp = share < RAMP_SHARE ? from + (nominal - from) * (share / RAMP_SHARE) : nominal;
      const tol = plan.tolerances[index]!;
      const found = (asLeftRun ? plan.asLeft : plan.asFound)[index]!;
      const err = found - nominal;
      const d = plan.instrument.decimals;
      this.liveState.referenceValue = round(ramp + this.noise.normal(0, plan.standard.uncertainty / 4), d);
      this.liveState.deviceValue = round(ramp + err + this.noise.normal(0, 0.03 * tol), d);
    }
    this.updateDerived();
  }

  private updateDerived(): void {
    const s = this.liveState;
    s.state =
      this.phase.kind === 'fault' ? 'fault' : this.phase.kind === 'calibrating' ? 'calibrating' : 'idle';
    if (this.phase.kind === 'fault') s.health = 'FAILURE';
    else if (this.phase.kind === 'calibrating') s.health = 'CHECK_FUNCTION';
    else if (this.faultSet.has('uncertain')) s.health = 'OFF_SPEC';
    else if (this.faultSet.has('overdue-standard')) s.health = 'MAINTENANCE_REQUIRED';
    else s.health = 'NORMAL';
  }

  /** Test oil near 40 °C: a new value every 100-500 ms (never the same as the one before). */
  private updateOil(): void {
    let guard = 0;
    while (this.t >= this.nextOilAt && guard++ < 10_000) {
      const at = this.nextOilAt;
      const slow = 0.25 * Math.sin((2 * Math.PI * (at - this.startMs)) / 600_000);
      let v = round(OIL_NOMINAL_C + slow + this.noise.normal(0, 0.05), 2);
      if (v === this.liveState.oilTemperature) v = round(v + 0.01, 2);
      this.liveState.oilTemperature = v;
      this.nextOilAt = at + 100 + this.noise.int(0, 400);
    }
  }
}
