/**
 * 50 simulated flow rigs carrying 10,000 Modbus points, polled every 100 ms by a real edge
 * process (50 sources × 200 points), forwarding to a real cloud. Measures, over a steady window:
 * the points/s actually read, the edge's CPU as a share of one core (target < 0.25), and the
 * edge's peak RSS (target ≤ 120 MB) against a bare Node process measured in the same run.
 *
 * The mapping layer is in the path: each rig's results become inspection records through the
 * demo's own `records` mapping (deploy/demo/edge.yaml.template: the result block read once the
 * counter moves, 29 values, eight characteristics of expressions), triggered by the low word of
 * the rig's result counter (r101, one of the 200 points). BENCH_FLEET_RECORDS=0 leaves it out
 * (polling and telemetry only, as the bench was before).
 *
 * Where the edge's CPU goes: BENCH_EDGE_PROF_DIR=<dir> runs it under V8's CPU profiler, and
 * `node --import tsx firmware-sim/bench/cpuprofile-summary.ts <dir>/<file>.cpuprofile` sums the
 * profile by area and function. BENCH_COMMIT_INTERVAL_MS sets the buffer's commit linger.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cpuSeconds, peakRssMiB, report } from '../../protocols/bench/report.js';
import { repoRoot, runCli, startNode, startProcess, type Proc } from '@rigtrace/protocols/testing';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { FLOW_RIG_DEFAULTS, startFlowRig, type RunningFlowRig } from '../src/flow-rig/index.js';

const RIGS = 50;
const POINTS_PER_RIG = 200;
const INTERVAL_MS = 100;
const WARMUP_S = 8;
const WINDOW_S = Number(process.env.BENCH_WINDOW_S ?? 20);

const work = mkdtempSync(path.join(os.tmpdir(), 'rt-fleet-'));
const rigs: RunningFlowRig[] = [];
let cloud: Proc | undefined;
let edge: Proc | undefined;
let sampler: NodeJS.Timeout | undefined;
// Whatever happens, the rigs, the cloud and the edge are stopped and the work folder removed.
try {
  for (let i = 0; i < RIGS; i++) {
    rigs.push(
      await startFlowRig(
        { ...FLOW_RIG_DEFAULTS, port: 0, asset: `RIG-${i}`, seed: i + 1, testSeconds: 6 },
        () => undefined,
      ),
    );
  }

  const cloudProc = await startProcess(
    'cloud/src/cli.ts',
    ['serve', '--port', '0', '--data-dir', path.join(work, 'cloud')],
    (l) => l.includes('"event":"listening"'),
  );
  cloud = cloudProc;
  const cloudUrl = (JSON.parse(cloudProc.readyLine) as { url: string }).url;
  const seed = JSON.parse(
    runCli('cloud/src/cli.ts', ['seed-demo', '--data-dir', path.join(work, 'cloud')]).stdout,
  ) as {
    enrollmentToken: string;
  };

  // The demo's inspection mapping of a flow rig, as a technician would copy it (the placeholders
  // are of no concern here: only the rig's `records` are taken).
  const withRecords = process.env.BENCH_FLEET_RECORDS !== '0';
  const demo = parseYaml(
    readFileSync(path.join(repoRoot, 'deploy/demo/edge.yaml.template'), 'utf8').replace(/\$\{\w+\}/g, '0'),
  ) as { sources: { id: string; records?: { trigger: unknown }[] }[] };
  const demoRecords = demo.sources.find((s) => s.id === 'flow-rig-01')?.records;
  if (!demoRecords?.length) throw new Error('the demo template has no records on flow-rig-01');
  // The counter's low word (resultSeq is a big-endian uint32 at 100): one of the 200 polled points.
  const rigRecords = demoRecords.map((m) => ({ ...m, trigger: { counter: 'r101' } }));

  const config = {
    version: 1,
    edge: { name: 'fleet-bench', dataDir: path.join(work, 'edge') },
    cloud: { url: cloudUrl },
    log: { level: 'warn' },
    // BENCH_COMMIT_INTERVAL_MS: buffer.commitIntervalMs (linger so more appends share a commit).
    ...(process.env.BENCH_COMMIT_INTERVAL_MS
      ? { buffer: { commitIntervalMs: Number(process.env.BENCH_COMMIT_INTERVAL_MS) } }
      : {}),
    sources: rigs.map((r, i) => ({
      id: `rig-${i}`,
      protocol: 'modbus',
      equipment: `RIG-${i}`,
      host: '127.0.0.1',
      port: r.port,
      intervalMs: INTERVAL_MS,
      timeoutMs: 1000,
      telemetry: { everyMs: Number(process.env.BENCH_TELEMETRY_EVERY_MS ?? 1000) },
      points: Array.from({ length: POINTS_PER_RIG }, (_, p) => ({
        name: `r${p}`,
        address: p,
        type: 'uint16',
      })),
      ...(withRecords ? { records: rigRecords } : {}),
    })),
  };
  // A generated config is written as JSON (JSON is YAML; the edge reads it with JSON.parse).
  // BENCH_CONFIG_FORMAT=yaml writes the same config as block YAML, as a person would.
  const yamlConfig = process.env.BENCH_CONFIG_FORMAT === 'yaml';
  const configFile = path.join(work, 'edge.yaml');
  writeFileSync(configFile, yamlConfig ? stringifyYaml(config) : JSON.stringify(config));
  const enrolled = runCli('edge/src/cli.ts', [
    'enroll',
    '--config',
    configFile,
    '--cloud',
    cloudUrl,
    '--token',
    seed.enrollmentToken,
  ]);
  if (enrolled.status !== 0) throw new Error(enrolled.stderr);

  // The same runtime doing nothing, for scale: what any Node process costs.
  const bare = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 4000)']);
  await new Promise((r) => setTimeout(r, 3000));
  const bareRss = peakRssMiB(bare.pid);
  bare.kill();

  // The edge as it runs in production: the built JavaScript under plain node (npm run build),
  // with the V8 flags of the systemd unit.
  const unit = readFileSync(path.join(repoRoot, 'deploy/systemd/rigtrace-edge.service'), 'utf8');
  const unitFlags = (/^ExecStart=\/usr\/bin\/node ((?:--\S+ )*)/m.exec(unit)?.[1] ?? '')
    .trim()
    .split(' ')
    .filter(Boolean);
  const edgeEntry = path.join(repoRoot, 'edge/dist/cli.js');
  if (!existsSync(edgeEntry)) throw new Error('run `npm run build` first (the harness does)');
  // EDGE_NODE_FLAGS replaces the unit's flags; BENCH_EDGE_PROF_DIR adds V8's CPU profiler to them
  // (the .cpuprofile is written there when the edge stops; summarise it with
  // firmware-sim/bench/cpuprofile-summary.ts).
  const edgeFlags = [
    ...(process.env.EDGE_NODE_FLAGS !== undefined
      ? process.env.EDGE_NODE_FLAGS.split(' ').filter(Boolean)
      : unitFlags),
    ...(process.env.BENCH_EDGE_PROF_DIR
      ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_EDGE_PROF_DIR}`]
      : []),
  ];
  edge = await startNode(
    edgeEntry,
    ['run', '--config', configFile],
    (l) => l.includes('"event":"running"'),
    20_000,
    edgeFlags,
  );
  const pid = edge.child.pid!;

  const rssNow = () =>
    Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  const curve: number[] = [];
  sampler = setInterval(() => curve.push(Math.round(rssNow())), 1000);
  await new Promise((r) => setTimeout(r, WARMUP_S * 1000));
  if (process.env.BENCH_SNAPSHOTS) {
    process.kill(pid, 'SIGUSR2');
    await new Promise((r) => setTimeout(r, 25_000));
    process.kill(pid, 'SIGUSR2');
    await new Promise((r) => setTimeout(r, 8_000));
  }
  const statusUrl = (
    JSON.parse(readFileSync(path.join(work, 'edge', 'status.json'), 'utf8')) as { url: string }
  ).url;
  interface Status {
    buffer: { unsent: number; size: number };
    sources: {
      details: { cycles?: number; results?: { results: number; notMapped: number; missed: number } };
    }[];
  }
  const getStatus = async () => (await (await fetch(`${statusUrl}/status`)).json()) as Status;
  /** Poll cycles and results of every source, summed. */
  const totals = (s: Status) =>
    s.sources.reduce(
      (t, x) => ({
        cycles: t.cycles + (x.details.cycles ?? 0),
        results: t.results + (x.details.results?.results ?? 0),
        notMapped: t.notMapped + (x.details.results?.notMapped ?? 0),
        missed: t.missed + (x.details.results?.missed ?? 0),
      }),
      { cycles: 0, results: 0, notMapped: 0, missed: 0 },
    );
  const s0 = totals(await getStatus());
  const c0 = cpuSeconds(pid);
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, WINDOW_S * 1000));
  const wall = (Date.now() - t0) / 1000;
  const cpu = (cpuSeconds(pid) - c0) / wall;
  const rss = peakRssMiB(pid);
  clearInterval(sampler);
  if (process.env.BENCH_VERBOSE) console.error(`edge RSS each second (MiB): ${curve.join(' ')}`);
  const status = await getStatus();
  const s1 = totals(status);

  await edge.stop();

  // Every poll cycle reads all 200 points of its rig (the result block reads come on top).
  const pointsPerS = ((s1.cycles - s0.cycles) / wall) * POINTS_PER_RIG;
  const results = s1.results - s0.results;
  const wanted = (RIGS * POINTS_PER_RIG * 1000) / INTERVAL_MS;
  report({
    bench: 'modbus fleet (50 rigs)',
    metric: 'points read per second',
    value: pointsPerS,
    unit: 'points/s',
    baseline: wanted,
    baselineName: 'configured: 10k points every 100 ms',
    ratio: pointsPerS / wanted,
    target: '>= 0.95 of configured',
    pass: pointsPerS / wanted >= 0.95,
  });
  report({
    bench: 'modbus fleet (50 rigs)',
    metric: 'edge CPU, share of one core',
    value: cpu,
    unit: 'cores',
    baseline: 1,
    baselineName: 'one core',
    ratio: cpu,
    target: '< 0.25 of one core',
    pass: cpu < 0.25,
  });
  report({
    bench: 'modbus fleet (50 rigs)',
    metric: 'edge peak RSS',
    value: rss,
    unit: 'MiB',
    baseline: bareRss,
    baselineName: 'bare Node process',
    ratio: rss / bareRss,
    target: '<= 120 MB',
    pass: rss <= 120,
    note: `node ${edgeFlags.join(' ')}; ${process.env.BENCH_COMMIT_INTERVAL_MS ? `buffer.commitIntervalMs ${process.env.BENCH_COMMIT_INTERVAL_MS}; ` : ''}config as ${yamlConfig ? 'YAML' : 'JSON'}; ${withRecords ? 'records mapping on' : 'no records mapping'}; buffer ${status.buffer.size} records, ${status.buffer.unsent} unsent at the end`,
  });
  if (withRecords)
    report({
      bench: 'modbus fleet (50 rigs)',
      metric: 'inspection records mapped in the window',
      value: results,
      unit: 'records',
      note: `${(results / wall).toFixed(1)}/s through the demo's records mapping; ${s1.notMapped} not mapped, ${s1.missed} missed since the start`,
    });
} finally {
  clearInterval(sampler);
  await edge?.stop();
  await cloud?.stop();
  for (const r of rigs) await r.stop();
  rmSync(work, { recursive: true, force: true });
}
