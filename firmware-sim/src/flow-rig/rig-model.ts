import { EventEmitter } from 'node:events';
import { createRng, mixSeed, type Rng } from './prng.js';

/**
 * A common-rail injector flow rig, as a pure model driven by a clock the caller owns
 * (advanceTo), so it can be tested with a fake clock and served by any protocol.
 *
 * One injector test runs the four test points in order; each point ramps the rail to its
 * pressure, fires at its energizing time and measures delivered quantity and back-leak. After the
 * last point the result block is written and the cycle counter goes up; then the rig idles while
 * the next injector is clamped. Everything that defines a test (part serial, injector spread,
 * measurements) comes from a PRNG seeded with (seed, test number), so a seed replays the same
 * results whatever the tick rate; only the live noise depends on when the rig is looked at.
 */

export interface TestPointSpec {
  testPoint: 1 | 2 | 3 | 4;
  name: string;
  railPressureBar: number;
  energizingTimeUs: number;
  nominalQtyMm3: number;
  tolerancePct: number;
}

export const TEST_POINTS: readonly TestPointSpec[] = [
  {
    testPoint: 1,
    name: 'full load',
    railPressureBar: 1800,
    energizingTimeUs: 1200,
    nominalQtyMm3: 60,
    tolerancePct: 3,
  },
  {
    testPoint: 2,
    name: 'emission',
    railPressureBar: 1000,
    energizingTimeUs: 700,
    nominalQtyMm3: 20,
    tolerancePct: 4,
  },
  {
    testPoint: 3,
    name: 'idle',
    railPressureBar: 350,
    energizingTimeUs: 500,
    nominalQtyMm3: 5,
    tolerancePct: 5,
  },
  {
    testPoint: 4,
    name: 'pilot',
    railPressureBar: 800,
    energizingTimeUs: 250,
    nominalQtyMm3: 1.5,
    tolerancePct: 8,
  },
];

export const BACK_LEAK_MAX_ML_MIN = 30;
export const OIL_TEMP_NOMINAL_C = 40;

/** Bits of the faultMode register. */
export const FAULT = {
  /** Delivered quantity drifts further out each test (a flow cell going out of calibration). */
  drift: 1,
  /** Replies are delayed by 2 × slowDelayMs. */
  slow: 2,
  /** A share of requests is answered with exception 4 (server device failure). */
  garbage: 4,
  /** Client sockets are dropped and connections refused for a few seconds, repeatedly. */
  disconnect: 8,
  /** The rig stops in fault state (state 2): a running test is aborted, none starts until cleared. */
  halt: 16,
} as const;
export type FaultName = keyof typeof FAULT;
export const FAULT_MASK = 31;

export function faultNames(mask: number): FaultName[] {
  return (Object.keys(FAULT) as FaultName[]).filter((k) => (mask & FAULT[k]) !== 0);
}

export const RIG_STATE = { idle: 0, running: 1, fault: 2 } as const;

export interface PointResult {
  testPoint: number;
  name: string;
  railPressureBar: number;
  energizingTimeUs: number;
  nominalQty: number;
  lslQty: number;
  uslQty: number;
  measuredQty: number;
  backLeak: number;
  backLeakMax: number;
  pass: boolean;
}

export interface TestResult {
  /** = cycleCount after this test; the resultSeq register. */
  seq: number;
  overall: 'pass' | 'fail';
  partSerial: string;
  workOrder: string;
  operator: string;
  trimCode: string;
  coilResistanceOhm: number;
  oilTempC: number;
  startedAt: string;
  completedAt: string;
  points: PointResult[];
}

export interface LiveState {
  state: 0 | 1 | 2;
  testPoint: 0 | 1 | 2 | 3 | 4;
  cycleCount: number;
  railPressureBar: number;
  energizingTimeUs: number;
  deliveredQtyMm3: number;
  backLeakMlMin: number;
  oilTempC: number;
  coilResistanceOhm: number;
  partSerial: string;
  workOrder: string;
  operator: string;
}

export interface TestStarted {
  test: number;
  partSerial: string;
  workOrder: string;
  operator: string;
  at: string;
}

export interface FaultModeChange {
  faultMode: number;
  previous: number;
  faults: FaultName[];
  source: string;
  at: string;
}

export interface FlowRigModelEvents {
  'test-started': [TestStarted];
  'test-completed': [TestResult];
  'test-aborted': [{ test: number; partSerial: string; at: string }];
  'fault-mode': [FaultModeChange];
}

export interface FlowRigModelOptions {
  seed: number;
  /** Duration of one injector test (all four points). */
  testSeconds: number;
  /** Idle time between tests. */
  idleSeconds: number;
  /** Extra delivered quantity per test while the drift fault is on, in percent. */
  driftPerTestPct: number;
  /** Clock reading at construction, in ms. */
  startMs: number;
  faultMode?: number;
}

interface Injector {
  partSerial: string;
  workOrder: string;
  operator: string;
  coilResistanceOhm: number;
  /** Delivered quantity at each point, before rounding to the reported resolution. */
  trueQty: number[];
  measuredQty: number[];
  backLeak: number[];
  leakCoefficient: number;
}

type Phase =
  | { kind: 'idle'; startMs: number; endMs: number }
  | { kind: 'point'; index: number; startMs: number; endMs: number; fromBar: number }
  | { kind: 'fault'; startMs: number; endMs: number };

const OPERATORS = ['OP-1042', 'OP-2217', 'OP-3088', 'OP-4410', 'OP-5123'];
const PARTS_PER_WORK_ORDER = 20;
const TESTS_PER_SHIFT = 50;
/** Share of a point spent ramping the rail to pressure. */
const RAMP_SHARE = 0.3;
const BLEED_DOWN_MS = 300;

const round = (x: number, decimals: number): number => Number(x.toFixed(decimals));
const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x));

/** CRC-16/CCITT-FALSE, the check bytes at the end of the trim code. */
function crc16(bytes: number[]): number {
  let crc = 0xffff;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/**
 * An 18-hex-digit correction code, as written to the injector so the engine ECU can trim it:
 * version, the deviation from nominal at each point (int8, 0.1 % steps), back-leak class, coil
 * resistance class, CRC-16.
 */
export function trimCode(
  points: { nominalQty: number; measuredQty: number }[],
  leak: number,
  coil: number,
): string {
  const bytes = [0x01];
  for (const p of points) {
    const dev = clamp(Math.round(((p.measuredQty - p.nominalQty) / p.nominalQty) * 1000), -127, 127);
    bytes.push(dev & 0xff);
  }
  bytes.push(clamp(Math.round(leak * 4), 0, 255));
  bytes.push(clamp(Math.round((coil - 0.3) * 2000), 0, 255));
  const crc = crc16(bytes);
  bytes.push(crc >> 8, crc & 0xff);
  return bytes
    .map((b) => b.toString(16).padStart(2, '0'))
    .join('')
    .toUpperCase();
}

export class FlowRigModel extends EventEmitter<FlowRigModelEvents> {
  private readonly seed: number;
  private readonly pointMs: number;
  private readonly idleMs: number;
  private readonly driftPerTestPct: number;
  private readonly noise: Rng;
  private readonly serialBase: number;
  private readonly workOrderBase: number;
  private readonly operatorBase: number;
  private phase: Phase;
  private nowMs: number;
  private testsStarted = 0;
  private cycleCount = 0;
  private driftPct = 0;
  private fault = 0;
  private injector: Injector | undefined;
  private testStartedAt = '';
  private result: TestResult | undefined;
  private readonly startMs: number;
  private readonly oilPhase: [number, number];
  private lastBar = 0;
  private readonly liveState: LiveState;

  constructor(opts: FlowRigModelOptions) {
    super();
    this.seed = opts.seed >>> 0;
    this.pointMs = (opts.testSeconds * 1000) / TEST_POINTS.length;
    this.idleMs = opts.idleSeconds * 1000;
    this.driftPerTestPct = opts.driftPerTestPct;
    this.noise = createRng(mixSeed(this.seed, 0x6e6f6973));
    const plant = createRng(mixSeed(this.seed, 0x706c616e));
    this.serialBase = plant.int(10_000_000, 89_000_000);
    this.workOrderBase = plant.int(100_000, 800_000);
    this.operatorBase = plant.int(0, OPERATORS.length - 1);
    this.oilPhase = [plant.next() * 2 * Math.PI, plant.next() * 2 * Math.PI];
    this.startMs = opts.startMs;
    this.nowMs = opts.startMs;
    this.phase = { kind: 'idle', startMs: opts.startMs, endMs: opts.startMs + this.idleMs };
    this.liveState = {
      state: RIG_STATE.idle,
      testPoint: 0,
      cycleCount: 0,
      railPressureBar: 0,
      energizingTimeUs: 0,
      deliveredQtyMm3: 0,
      backLeakMlMin: 0,
      oilTempC: OIL_TEMP_NOMINAL_C,
      coilResistanceOhm: 0,
      partSerial: '',
      workOrder: '',
      operator: '',
    };
    if (opts.faultMode) this.setFaultMode(opts.faultMode, 'config');
  }

  get live(): Readonly<LiveState> {
    return this.liveState;
  }

  /** The result block of the last completed test. */
  get lastResult(): TestResult | undefined {
    return this.result;
  }

  get faultMode(): number {
    return this.fault;
  }

  /** Percent the flow measurement currently reads high because of the drift fault. */
  get currentDriftPct(): number {
    return this.driftPct;
  }

  setFaultMode(mask: number, source: string): void {
    if (!Number.isInteger(mask) || mask < 0 || mask > FAULT_MASK) throw new RangeError(`fault mode ${mask}`);
    const previous = this.fault;
    if (mask === previous) return;
    this.fault = mask;
    const at = new Date(this.nowMs).toISOString();
    // Switching the drift off stands for recalibrating the flow cell.
    if ((mask & FAULT.drift) === 0) this.driftPct = 0;
    if (mask & FAULT.halt && this.phase.kind !== 'fault') {
      if (this.phase.kind === 'point' && this.injector) {
        this.emit('test-aborted', { test: this.testsStarted, partSerial: this.injector.partSerial, at });
      }
      this.lastBar = this.liveState.railPressureBar;
      this.phase = { kind: 'fault', startMs: this.nowMs, endMs: Infinity };
    } else if ((mask & FAULT.halt) === 0 && this.phase.kind === 'fault') {
      this.phase = { kind: 'idle', startMs: this.nowMs, endMs: this.nowMs + this.idleMs };
    }
    this.emit('fault-mode', { faultMode: mask, previous, faults: faultNames(mask), source, at });
    this.updateLive();
  }

  /** Moves the rig to `nowMs`, running every phase change on the way at its own time. */
  advanceTo(nowMs: number): void {
    if (nowMs < this.nowMs) return;
    while (this.phase.endMs <= nowMs) {
      const at = this.phase.endMs;
      this.nowMs = at;
      this.endPhase(at);
    }
    this.nowMs = nowMs;
    this.updateLive();
  }

  private endPhase(at: number): void {
    const phase = this.phase;
    if (phase.kind === 'idle') {
      this.startTest(at);
      return;
    }
    if (phase.kind === 'point') {
      const spec = TEST_POINTS[phase.index];
      if (phase.index + 1 < TEST_POINTS.length && spec) {
        this.lastBar = spec.railPressureBar;
        this.phase = {
          kind: 'point',
          index: phase.index + 1,
          startMs: at,
          endMs: at + this.pointMs,
          fromBar: spec.railPressureBar,
        };
      } else {
        this.completeTest(at);
      }
    }
  }

  private startTest(at: number): void {
    this.testsStarted++;
    const n = this.testsStarted;
    const rng = createRng(mixSeed(this.seed, n));
    if (this.fault & FAULT.drift) this.driftPct += this.driftPerTestPct;
    const leakCoefficient = Math.max(2, rng.normal(11, 2.2));
    const trueQty: number[] = [];
    const measuredQty: number[] = [];
    const backLeak: number[] = [];
    for (const tp of TEST_POINTS) {
      // Injector-to-injector spread: 2.5 σ inside the tolerance, so a few percent of parts fail.
      const bias = rng.normal(0, tp.tolerancePct / 100 / 2.5);
      const qty = tp.nominalQtyMm3 * (1 + bias);
      trueQty.push(qty);
      const reading = qty * (1 + this.driftPct / 100) * (1 + rng.normal(0, 0.0015));
      measuredQty.push(round(reading, 3));
      backLeak.push(round(leakCoefficient * (tp.railPressureBar / 1000) * (1 + rng.normal(0, 0.03)), 2));
    }
    const workOrderIndex = Math.floor((n - 1) / PARTS_PER_WORK_ORDER);
    const shift = Math.floor((n - 1) / TESTS_PER_SHIFT);
    this.injector = {
      partSerial: `INJ${String(this.serialBase + n).padStart(8, '0')}`,
      workOrder: `WO-${this.workOrderBase + workOrderIndex}`,
      operator: OPERATORS[(this.operatorBase + shift) % OPERATORS.length] ?? 'OP-0000',
      coilResistanceOhm: round(rng.normal(0.35, 0.012), 4),
      trueQty,
      measuredQty,
      backLeak,
      leakCoefficient,
    };
    this.testStartedAt = new Date(at).toISOString();
    this.phase = { kind: 'point', index: 0, startMs: at, endMs: at + this.pointMs, fromBar: this.lastBar };
    this.emit('test-started', {
      test: n,
      partSerial: this.injector.partSerial,
      workOrder: this.injector.workOrder,
      operator: this.injector.operator,
      at: this.testStartedAt,
    });
  }

  private completeTest(at: number): void {
    const inj = this.injector;
    if (!inj) throw new Error('test completed without an injector');
    const points: PointResult[] = TEST_POINTS.map((tp, i) => {
      const measuredQty = inj.measuredQty[i] ?? 0;
      const backLeak = inj.backLeak[i] ?? 0;
      const lslQty = round(tp.nominalQtyMm3 * (1 - tp.tolerancePct / 100), 4);
      const uslQty = round(tp.nominalQtyMm3 * (1 + tp.tolerancePct / 100), 4);
      return {
        testPoint: tp.testPoint,
        name: tp.name,
        railPressureBar: tp.railPressureBar,
        energizingTimeUs: tp.energizingTimeUs,
        nominalQty: tp.nominalQtyMm3,
        lslQty,
        uslQty,
        measuredQty,
        backLeak,
        backLeakMax: BACK_LEAK_MAX_ML_MIN,
        pass: measuredQty >= lslQty && measuredQty <= uslQty && backLeak <= BACK_LEAK_MAX_ML_MIN,
      };
    });
    this.cycleCount++;
    this.result = {
      seq: this.cycleCount,
      overall: points.every((p) => p.pass) ? 'pass' : 'fail',
      partSerial: inj.partSerial,
      workOrder: inj.workOrder,
      operator: inj.operator,
      trimCode: trimCode(points, inj.leakCoefficient, inj.coilResistanceOhm),
      coilResistanceOhm: inj.coilResistanceOhm,
      oilTempC: round(this.oilTempAt(at), 2),
      startedAt: this.testStartedAt,
      completedAt: new Date(at).toISOString(),
      points,
    };
    const last = TEST_POINTS[TEST_POINTS.length - 1];
    this.lastBar = last?.railPressureBar ?? 0;
    this.phase = { kind: 'idle', startMs: at, endMs: at + this.idleMs };
    this.emit('test-completed', this.result);
  }

  /**
   * The oil conditioning unit holds the test oil near 40 °C; what is left is a slow swing of its
   * control loop and the room. A function of time (not of ticks), so results replay exactly.
   */
  private oilTempAt(ms: number): number {
    const t = (ms - this.startMs) / 1000;
    const [a, b] = this.oilPhase;
    return (
      OIL_TEMP_NOMINAL_C +
      0.3 * Math.sin((2 * Math.PI * t) / 420 + a) +
      0.12 * Math.sin((2 * Math.PI * t) / 53 + b)
    );
  }

  private updateLive(): void {
    const live = this.liveState;
    const phase = this.phase;
    const inj = this.injector;
    live.cycleCount = this.cycleCount;
    live.oilTempC = round(this.oilTempAt(this.nowMs) + this.noise.normal(0, 0.02), 2);
    live.partSerial = inj?.partSerial ?? '';
    live.workOrder = inj?.workOrder ?? '';
    live.operator = inj?.operator ?? '';
    const spec = phase.kind === 'point' ? TEST_POINTS[phase.index] : undefined;
    if (phase.kind === 'point' && spec && inj) {
      const u = clamp((this.nowMs - phase.startMs) / this.pointMs, 0, 1);
      const ramp = clamp(u / RAMP_SHARE, 0, 1);
      const bar = phase.fromBar + (spec.railPressureBar - phase.fromBar) * ramp;
      const share = bar / spec.railPressureBar;
      live.state = RIG_STATE.running;
      live.testPoint = spec.testPoint;
      live.railPressureBar = round(Math.max(0, bar * (1 + this.noise.normal(0, 0.002))), 1);
      live.energizingTimeUs = spec.energizingTimeUs;
      const qty = (inj.measuredQty[phase.index] ?? 0) * Math.min(1, share);
      live.deliveredQtyMm3 = round(Math.max(0, qty * (1 + this.noise.normal(0, 0.004))), 3);
      const leak = (inj.backLeak[phase.index] ?? 0) * Math.min(1, share);
      live.backLeakMlMin = round(Math.max(0, leak * (1 + this.noise.normal(0, 0.02))), 2);
      live.coilResistanceOhm = round(inj.coilResistanceOhm * (1 + this.noise.normal(0, 0.002)), 4);
      return;
    }
    // Idle or halted: the rail bleeds down, nothing is injected.
    live.state = phase.kind === 'fault' ? RIG_STATE.fault : RIG_STATE.idle;
    live.testPoint = 0;
    const bar = this.lastBar * Math.exp(-(this.nowMs - phase.startMs) / BLEED_DOWN_MS);
    live.railPressureBar = round(bar < 1 ? 0 : bar, 1);
    live.energizingTimeUs = 0;
    live.deliveredQtyMm3 = 0;
    live.backLeakMlMin = 0;
    live.coilResistanceOhm = inj?.coilResistanceOhm ?? 0;
  }
}
