/**
 * The mapping layer's expressions on 10,000 points (issue 13's benchmark): the fleet's points —
 * 50 Modbus sources × 200 uint16 registers — taken the way a Modbus source takes them each poll
 * (decoded from the register words, made into one telemetry record per source, appended to the
 * durable, signed buffer: EdgeLog), once as they are and once with each of the 10,000 values
 * passing through its own mapping expression (a unit conversion, `=r17 * 0.1`, compiled by
 * mapping/expressions.ts and evaluated over the source's values, as a record mapping's fields
 * are). Both variants run in the same process, in alternating rounds, and are compared by the
 * CPU they take (process.cpuUsage: every thread, SQLite's too), which a shared, loaded machine
 * disturbs far less than the clock; the clock's figures are in the notes. Target: with
 * expressions at least 0.8 of the points per CPU-second without.
 *
 * Telemetry points do not pass through expressions in the edge today (only record mappings' fields
 * do; a Modbus point has `scale` and `offset`): this measures what an expression per point costs
 * on that path. A second, informational figure leaves the buffer out (decode and build only), so
 * the expressions' own share is visible.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateKeyPair } from '@rigtrace/protocols';
import { decodePoint, type ModbusPointSpec } from '@rigtrace/protocols/modbus';
import { report } from '../../protocols/bench/report.js';
import { EdgeLog, type RecordDraft } from '../src/buffer/edge-log.js';
import { compileValue, type CompiledValue, type Scope } from '../src/mapping/expressions.js';

const SOURCES = 50;
const POINTS = 200;
const POLLS_PER_ROUND = Number(process.env.BENCH_POLLS ?? 40);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const keys = generateKeyPair();

const specs: ModbusPointSpec[] = Array.from({ length: POINTS }, (_, p) => ({
  name: `r${p}`,
  address: p,
  type: 'uint16',
  area: 'holding',
  unitId: 1,
}));
const exprs: CompiledValue[] = specs.map((s) => compileValue(`=${s.name} * 0.1`));

/**
 * Each source's named values, kept from poll to poll with this poll's values put in (as a source
 * evaluating expressions every poll would keep them: a fresh object of 200 names per poll costs
 * more than the expressions themselves).
 */
const scopes: Scope[] = Array.from({ length: SOURCES }, () => ({}));

/** Rounds float32 noise as the Modbus collector does (modbus.collector.ts). */
const f32 = (n: number) => Number(n.toPrecision(7));

/** The register words a poll of source `s` returns (changing every poll). */
function words(poll: number, s: number): number[] {
  return Array.from({ length: POINTS }, (_, p) => (poll * 31 + s * 7 + p * 13) & 0xffff);
}

/** One source's poll: decode, (expressions), one telemetry draft, keys in canonical order. */
function telemetry(poll: number, s: number, withExpressions: boolean): RecordDraft {
  const regs = words(poll, s);
  const values = specs.map((spec, p) => decodePoint(spec, regs, p) as number);
  let out = values;
  if (withExpressions) {
    const scope = scopes[s]!;
    for (let p = 0; p < POINTS; p++) scope[specs[p]!.name] = values[p];
    out = exprs.map((e) => e.evaluate(scope) as number);
  }
  const at = new Date(1_795_000_000_000 + poll * 100).toISOString();
  return {
    kind: 'telemetry',
    equipment: `RIG-${s}`,
    observedAt: at,
    receivedAt: at,
    source: { endpoint: `modbus-tcp://127.0.0.1:${15000 + s}`, protocol: 'modbus' },
    body: {
      points: out.map((v, p) => ({ name: specs[p]!.name, quality: 'good' as const, value: f32(v) })),
    },
  };
}

/**
 * CPU seconds (this process, every thread: SQLite's too) and wall seconds for one round of
 * POLLS_PER_ROUND polls of every source, into `log` (or nowhere).
 */
async function round(
  log: EdgeLog | null,
  first: number,
  withExpressions: boolean,
): Promise<{ cpu: number; wall: number }> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const pending: Promise<unknown>[] = [];
  for (let poll = first; poll < first + POLLS_PER_ROUND; poll++) {
    for (let s = 0; s < SOURCES; s++) {
      const d = telemetry(poll, s, withExpressions);
      if (log) pending.push(log.append([d]));
    }
    // As many appends in flight as a few polls give, as in the edge (each source appends its own).
    if (pending.length >= SOURCES * 4) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  const c = process.cpuUsage(c0);
  return { cpu: (c.user + c.system) / 1e6, wall: (performance.now() - t0) / 1000 };
}

interface Totals {
  plain: number;
  expr: number;
  plainWall: number;
  exprWall: number;
}

/** Alternating rounds (AB, BA, …) of both variants; the total CPU and wall seconds of each. */
async function compare(log: EdgeLog | null): Promise<Totals> {
  let poll = 0;
  // Warm-up: both paths compiled and the log's statements prepared before anything counts.
  await round(log, poll, false);
  poll += POLLS_PER_ROUND;
  await round(log, poll, true);
  poll += POLLS_PER_ROUND;
  const t: Totals = { plain: 0, expr: 0, plainWall: 0, exprWall: 0 };
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? [false, true] : [true, false];
    for (const withExpressions of order) {
      const s = await round(log, poll, withExpressions);
      poll += POLLS_PER_ROUND;
      if (withExpressions) {
        t.expr += s.cpu;
        t.exprWall += s.wall;
      } else {
        t.plain += s.cpu;
        t.plainWall += s.wall;
      }
    }
  }
  return t;
}

// A quick check that the expressions are what they say: r17 = 170 becomes 17.
const probe = exprs[17]!.evaluate({ r17: 170 });
if (probe !== 17) throw new Error(`=r17 * 0.1 gave ${String(probe)}`);

const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-bench-mapping-'));
const log = await EdgeLog.open(dir, { edgeId: 'bench-edge', privateKeyPem: keys.privateKeyPem });
const withLog = await compare(log);
await log.close();
rmSync(dir, { recursive: true, force: true });
const cpuOnly = await compare(null);

const points = SOURCES * POINTS * POLLS_PER_ROUND * ROUNDS;
const rate = (s: number) => points / s;
const wallNote = (t: Totals) =>
  `by the clock ${Math.round(rate(t.exprWall))} against ${Math.round(rate(t.plainWall))} points/s (${(t.plainWall / t.exprWall).toFixed(2)})`;
report({
  bench: 'mapping expressions (10k points)',
  metric: 'points per CPU-second with an expression per point, decode → record → durable buffer',
  value: rate(withLog.expr),
  unit: 'points/CPU-s',
  baseline: rate(withLog.plain),
  baselineName: 'the same points without expressions',
  ratio: withLog.plain / withLog.expr,
  target: '>= 0.8 of the same without expressions',
  pass: withLog.plain / withLog.expr >= 0.8,
  note: `${SOURCES} sources × ${POINTS} points, ${POLLS_PER_ROUND} polls × ${ROUNDS} rounds each, alternating; one EdgeLog; ${wallNote(withLog)}`,
});
report({
  bench: 'mapping expressions (10k points)',
  metric: 'points per CPU-second with an expression per point, decode → record only (no buffer)',
  value: rate(cpuOnly.expr),
  unit: 'points/CPU-s',
  baseline: rate(cpuOnly.plain),
  baselineName: 'the same points without expressions',
  ratio: cpuOnly.plain / cpuOnly.expr,
  note: `expressions add ${(((cpuOnly.expr - cpuOnly.plain) / points) * 1e9).toFixed(0)} ns of CPU per point (the scope and the evaluation); ${wallNote(cpuOnly)}`,
});
