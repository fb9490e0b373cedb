/**
 * Modbus TCP on ONE connection: points/s our ModbusPoller reads from one flow-rig simulator
 * (in-process, port 0) when polling as fast as it can (intervalMs 1), against a plain modbus-serial
 * client doing the same two FC3 reads back-to-back in a tight await loop, in the same run and on the
 * same simulator. The map is 240 uint16 registers (0..239), which the planner coalesces into two
 * reads of 120. The two sides alternate (BENCH_ROUNDS rounds of BENCH_WINDOW_S seconds each, after a
 * warm-up) to share the machine's noise. Target: at least 0.8 of the raw client.
 * Also: requests per cycle the planner makes for a map of 200 scattered points, against one request
 * per point.
 */
import { performance } from 'node:perf_hooks';
import modbusSerial from 'modbus-serial';
import { FLOW_RIG_DEFAULTS, startFlowRig } from '../../firmware-sim/src/flow-rig/index.js';
import { ModbusPoller, planReads, type ModbusPointSpec } from '../src/modbus/index.js';
import { report } from './report.js';

// modbus-serial is CommonJS; under NodeNext the default import is the module, the client its `default`.
const ModbusRTU = modbusSerial.default;

const REGISTERS = 240;
const BLOCK = 120;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const WINDOW_S = Number(process.env.BENCH_WINDOW_S ?? 4);
const WARMUP_S = 1;
const BENCH = 'modbus tcp (1 connection)';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const rig = await startFlowRig({ ...FLOW_RIG_DEFAULTS, port: 0, seed: 1 }, () => undefined);

const points: ModbusPointSpec[] = Array.from({ length: REGISTERS }, (_, i) => ({
  name: `r${i}`,
  unitId: 1,
  area: 'holding',
  address: i,
  type: 'uint16',
}));
const plan = planReads(points);
if (plan.length !== REGISTERS / BLOCK) throw new Error(`expected 2 reads per cycle, planned ${plan.length}`);

interface Window {
  points: number;
  seconds: number;
  /** Request pairs (raw) or cycles (poller) in the window. */
  cycles: number;
}

/** The raw client: connectTCP, then the same two reads back-to-back, awaited one after the other. */
async function raw(seconds: number): Promise<Window> {
  const client = new ModbusRTU();
  await client.connectTCP('127.0.0.1', { port: rig.port });
  client.setID(1);
  client.setTimeout(1000);
  const loop = async (ms: number): Promise<number> => {
    const end = performance.now() + ms;
    let pairs = 0;
    while (performance.now() < end) {
      for (const b of plan) {
        const res = await client.readHoldingRegisters(b.address, b.count);
        if (res.data.length !== b.count) throw new Error(`short read: ${res.data.length} of ${b.count}`);
      }
      pairs++;
    }
    return pairs;
  };
  await loop(WARMUP_S * 1000);
  const t0 = performance.now();
  const pairs = await loop(seconds * 1000);
  const s = (performance.now() - t0) / 1000;
  await new Promise<void>((resolve) => client.close(() => resolve()));
  return { points: pairs * REGISTERS, seconds: s, cycles: pairs };
}

/** Our poller at intervalMs 1: points read with good quality, counted from its samples. */
async function poller(seconds: number): Promise<Window & { bad: number; overruns: number }> {
  const p = new ModbusPoller({ host: '127.0.0.1', port: rig.port, points, intervalMs: 1, timeoutMs: 1000 });
  let good = 0;
  let bad = 0;
  let cycles = 0;
  p.on('sample', (sample) => {
    cycles++;
    for (const r of sample.list) {
      if (r.quality === 'good') good++;
      else bad++;
    }
  });
  await p.start();
  await sleep(WARMUP_S * 1000);
  const before = { good, bad, cycles, overruns: p.stats().overruns };
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const after = { good, bad, cycles, overruns: p.stats().overruns };
  const s = (performance.now() - t0) / 1000;
  await p.stop();
  return {
    points: after.good - before.good,
    seconds: s,
    cycles: after.cycles - before.cycles,
    bad: after.bad - before.bad,
    overruns: after.overruns - before.overruns,
  };
}

const sum = <T extends object>(xs: T[], k: keyof T): number => xs.reduce((n, x) => n + Number(x[k]), 0);
const raws: Window[] = [];
const polls: (Window & { bad: number; overruns: number })[] = [];
for (let r = 0; r < ROUNDS; r++) {
  raws.push(await raw(WINDOW_S));
  polls.push(await poller(WINDOW_S));
}
await rig.stop();

const rawRate = sum(raws, 'points') / sum(raws, 'seconds');
const pollRate = sum(polls, 'points') / sum(polls, 'seconds');
const ratio = pollRate / rawRate;
const ms = (w: Window[]) => ((sum(w, 'seconds') * 1000) / sum(w, 'cycles')).toFixed(3);
const bad = sum(polls, 'bad');
report({
  bench: BENCH,
  metric: 'points/s, 240 registers in 2 reads per cycle',
  value: pollRate,
  unit: 'points/s',
  baseline: rawRate,
  baselineName: 'modbus-serial client, same 2 reads back-to-back',
  ratio,
  target: '>= 0.8 of baseline',
  pass: ratio >= 0.8,
  note:
    `${ROUNDS}×${WINDOW_S} s per side, alternating; per cycle: poller ${ms(polls)} ms, raw ${ms(raws)} ms; ` +
    `overruns ${sum(polls, 'overruns')} of ${sum(polls, 'cycles')} cycles; bad readings ${bad}; ` +
    `windows (points/s) poller ${polls.map((w) => Math.round(w.points / w.seconds)).join(', ')}, ` +
    `raw ${raws.map((w) => Math.round(w.points / w.seconds)).join(', ')}`,
});
if (bad > 0) console.log(`WARNING: the poller read ${bad} bad points during the measurement`);

// ---- coalescing: 200 scattered points ----------------------------------------------------------------

/** Deterministic PRNG (mulberry32), so the map is the same in every run. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * 200 points as a device map tends to look: mixed types (uint16, int16, float32, uint32, now and then
 * a 10-register string) laid out with holes of 0..12 registers between neighbours, and a jump of
 * 50..400 registers to the next "page" after every 8..24 points; holding registers, two unit ids.
 */
function scatteredMap(n: number): ModbusPointSpec[] {
  const rnd = mulberry32(0x5ca77e4d);
  const out: ModbusPointSpec[] = [];
  let address = 0;
  let untilJump = 8;
  for (let i = 0; i < n; i++) {
    const unitId = i < n / 2 ? 1 : 2;
    if (i === n / 2) address = 0;
    const pick = rnd();
    const spec: ModbusPointSpec =
      pick < 0.35
        ? { name: `p${i}`, unitId, area: 'holding', address, type: 'uint16' }
        : pick < 0.5
          ? { name: `p${i}`, unitId, area: 'holding', address, type: 'int16' }
          : pick < 0.8
            ? { name: `p${i}`, unitId, area: 'holding', address, type: 'float32' }
            : pick < 0.95
              ? { name: `p${i}`, unitId, area: 'holding', address, type: 'uint32' }
              : { name: `p${i}`, unitId, area: 'holding', address, type: 'string', length: 10 };
    out.push(spec);
    const size = spec.type === 'string' ? 10 : spec.type === 'float32' || spec.type === 'uint32' ? 2 : 1;
    address += size + Math.floor(rnd() * 13);
    if (--untilJump === 0) {
      address += 50 + Math.floor(rnd() * 351);
      untilJump = 8 + Math.floor(rnd() * 17);
    }
  }
  return out;
}

const scattered = scatteredMap(200);
const blocks = planReads(scattered);
const wanted = scattered.reduce(
  (n, p) => n + (p.type === 'string' ? 10 : p.type === 'float32' || p.type === 'uint32' ? 2 : 1),
  0,
);
const onWire = blocks.reduce((n, b) => n + b.count, 0);
report({
  bench: BENCH,
  metric: 'requests per cycle, 200 scattered points',
  value: blocks.length,
  unit: 'requests',
  baseline: scattered.length,
  baselineName: 'one request per point',
  ratio: blocks.length / scattered.length,
  note: `planReads defaults (120 registers, maxGap 8); registers read ${onWire} for ${wanted} wanted (${((onWire / wanted - 1) * 100).toFixed(0)} % holes read through)`,
});
