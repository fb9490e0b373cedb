/**
 * Soak and chaos: `npm run soak -- --minutes N`.
 *
 * Real processes at full rate for N minutes: two simulated injector flow rigs (Modbus TCP), an
 * inspection station publishing over MQTT, a Modbus device that answers only garbage, an MQTT
 * device that publishes only garbage, the edge agent, and the cloud (SQLite, or PostgreSQL with
 * --database-url). The edge reaches the cloud through a TCP proxy of this script that can reset
 * or black-hole connections. On a schedule printed at the start, the cloud is restarted (SIGTERM,
 * later SIGKILL), the edge is killed with SIGKILL and started again (twice), and the network to
 * the cloud is cut both ways. At the end the producers stop, the edge drains and stops, and the
 * end state is proven (scripts/soak/verify.ts): every acknowledged record in the cloud exactly
 * once, every checkpoint signed, countersigned and consistent, every acknowledged station message
 * stored once, garbage refused; and memory flat (RSS of the edge and the cloud every 2 s, last
 * third against first third of each process lifetime after its warm-up).
 *
 * Prints progress every 10 s and a summary table; writes a JSON result (--out, default
 * <tmp>/rt-soak-result-<time>.json); exits 1 if any check fails, 2 on bad flags. The work
 * directory (databases, configs) is removed after a pass unless --keep, kept after a failure.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { hashDevicePassword } from '@rigtrace/protocols/mqtt';
import { repoRoot, runCli, startProcess, waitFor, type Proc } from '@rigtrace/protocols/testing';
import { ChaosProxy, type ProxyMode } from './proxy.js';
import { GarbagePublisher, JunkModbusDevice } from './garbage.js';
import { judge, round1, rssMb, type MemoryVerdict, type Series } from './memory.js';
import { verifySoak, type Check, type StationMessage } from './verify.js';

const USAGE = `usage: npm run soak -- [--minutes N] [--out FILE] [--keep] [--database-url postgres://…] [--poll-ms MS]

  --minutes N         how long the load and the chaos run (default 2, the least; fractions allowed)
  --out FILE          where the JSON result goes (default <tmp>/rt-soak-result-<time>.json)
  --keep              keep the work directory (data, logs) even when every check passes
  --database-url URL  run the cloud on this PostgreSQL database (default: SQLite in the work dir)
  --poll-ms MS        Modbus poll cycle and telemetry period of the rigs (default 100)
`;

function flags() {
  try {
    const { values } = parseArgs({
      options: {
        minutes: { type: 'string', default: '2' },
        out: { type: 'string' },
        keep: { type: 'boolean', default: false },
        'database-url': { type: 'string' },
        'poll-ms': { type: 'string', default: '100' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    });
    if (values.help) {
      process.stdout.write(USAGE);
      process.exit(0);
    }
    const minutes = Number(values.minutes);
    const pollMs = Number(values['poll-ms']);
    const problems: string[] = [];
    // Below 2 minutes no process lives long enough after its warm-up to judge its memory.
    if (!Number.isFinite(minutes) || minutes < 2 || minutes > 24 * 60)
      problems.push('--minutes must be a number from 2 to 1440');
    if (!Number.isInteger(pollMs) || pollMs < 20 || pollMs > 10_000)
      problems.push('--poll-ms must be an integer from 20 to 10000');
    if (problems.length > 0) throw new Error(problems.join('\n'));
    return {
      minutes,
      pollMs,
      out: values.out,
      keep: values.keep,
      databaseUrl: values['database-url'],
    };
  } catch (err) {
    process.stderr.write(`soak: ${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}

const opts = flags();
const T0 = Date.now();
const now = () => (Date.now() - T0) / 1000;
const say = (line: string) => process.stdout.write(`[${now().toFixed(0).padStart(4)}s] ${line}\n`);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Runs a TypeScript CLI to completion without blocking this process's event loop. */
function runCliAsync(entry: string, args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--conditions=rigtrace-source', '--import', 'tsx', path.join(repoRoot, entry), ...args],
      { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (status) => resolve({ status, stderr }));
  });
}

const readyJson = (p: Proc & { readyLine: string }) => JSON.parse(p.readyLine) as Record<string, unknown>;

// ---- the processes ---------------------------------------------------------------------------

const work = mkdtempSync(path.join(os.tmpdir(), 'rt-soak-'));
const cloudDir = path.join(work, 'cloud');
const edgeDir = path.join(work, 'edge');
const configFile = path.join(work, 'edge.yaml');
const failures: string[] = [];
/** Processes this script stops on purpose; any other exit is a failure. */
const expectedExit = new Set<Proc>();
/** Every process this script started, to stop them all on an abort. */
const started: Proc[] = [];

function watch(name: string, p: Proc): Proc {
  started.push(p);
  p.child.once('exit', (code, signal) => {
    if (!expectedExit.has(p)) {
      const msg = `${name} exited unexpectedly (code ${code}, signal ${signal})`;
      failures.push(msg);
      say(`FAILURE: ${msg}\n${p.lines.slice(-15).join('\n')}`);
    }
  });
  return p;
}

async function stopProc(p: Proc | null, signal: NodeJS.Signals = 'SIGTERM') {
  if (!p) return;
  expectedExit.add(p);
  await p.stop(signal);
}

let cloudPort = 0;
let cloud: Proc | null = null;
let cloudIncarnation = 0;
let edge: Proc | null = null;
let edgeIncarnation = 0;
const series: Series[] = [];

async function startCloud() {
  const args = ['serve', '--port', String(cloudPort), '--data-dir', cloudDir];
  const p = await startProcess('cloud/src/cli.ts', args, (l) => l.includes('"event":"listening"'), 60_000);
  cloudPort = readyJson(p).port as number;
  cloud = watch(`cloud #${++cloudIncarnation}`, p);
  series.push({ name: 'cloud', incarnation: cloudIncarnation, pid: p.child.pid!, samples: [] });
}

async function startEdge() {
  const p = await startProcess(
    'edge/src/cli.ts',
    ['run', '--config', configFile],
    (l) => l.includes('"event":"running"'),
    60_000,
  );
  edge = watch(`edge #${++edgeIncarnation}`, p);
  series.push({ name: 'edge', incarnation: edgeIncarnation, pid: p.child.pid!, samples: [] });
}

/** The part of the edge's /status this script reads. */
interface EdgeStatus {
  buffer: { size: number; acked: number; unsent: number };
  rates: { inPerS: number; outPerS: number };
  forwarder: { consecutiveFailures: number };
}

async function edgeStatus(): Promise<EdgeStatus> {
  const url = (JSON.parse(readFileSync(path.join(edgeDir, 'status.json'), 'utf8')) as { url: string }).url;
  const res = await fetch(`${url}/status`, { signal: AbortSignal.timeout(3000) });
  return (await res.json()) as EdgeStatus;
}

// ---- main ---------------------------------------------------------------------------------------

interface ChaosEvent {
  at: number;
  what: string;
  run: () => Promise<void>;
  /** Filled in while running. */
  doneAt?: number;
  ackedAtEvent?: number;
  ackResumedAfterS?: number | null;
}

async function main() {
  if (opts.databaseUrl) process.env.DATABASE_URL = opts.databaseUrl;
  const durationS = Math.round(opts.minutes * 60);
  say(`work directory ${work}`);

  await startCloud();
  const proxy = await ChaosProxy.start(() => cloudPort);
  const seeded = runCli('cloud/src/cli.ts', ['seed-demo', '--data-dir', cloudDir]);
  if (seeded.status !== 0) throw new Error(`seed-demo failed: ${seeded.stderr}`);
  const { apiToken, enrollmentToken } = JSON.parse(seeded.stdout) as {
    apiToken: string;
    enrollmentToken: string;
  };

  const rigs: Proc[] = [];
  for (const [i, asset] of ['RIG-01', 'RIG-02'].entries()) {
    const p = await startProcess(
      'firmware-sim/src/cli.ts',
      [
        'flow-rig',
        '--port',
        '0',
        '--asset',
        asset,
        '--test-seconds',
        '1',
        '--idle-seconds',
        '0.2',
        '--seed',
        String(11 + i),
      ],
      (l) => l.includes('"event":"listening"'),
    );
    rigs.push(watch(asset, p));
  }
  const junkModbus = await JunkModbusDevice.start();
  const brokerPort = await freePort();
  const stationPassword = 'soak-station-password-1';
  const junkPassword = 'soak-junk-password-01';

  // The demo's rig sources (the real register map), made fast.
  const template = readFileSync(path.join(repoRoot, 'deploy/demo/edge.yaml.template'), 'utf8');
  const demo = parseYaml(
    template
      .replaceAll('${EDGE_DATA_DIR}', edgeDir)
      .replaceAll('${CLOUD_URL}', 'http://127.0.0.1:1')
      .replaceAll('${EDGE_STATUS_PORT}', '0')
      .replaceAll('${RIG1_PORT}', String(readyJson(rigs[0] as Proc & { readyLine: string }).port))
      .replaceAll('${RIG2_PORT}', String(readyJson(rigs[1] as Proc & { readyLine: string }).port))
      .replaceAll('${BENCH_URL}', 'opc.tcp://127.0.0.1:1')
      .replaceAll('${BROKER_PORT}', '1')
      .replaceAll('${STATION_PASSWORD_HASH}', 'x'),
  ) as { sources: Record<string, unknown>[] };
  const rigSources = demo.sources
    .filter((s) => s.protocol === 'modbus')
    .map((s) => ({ ...s, intervalMs: opts.pollMs, telemetry: { everyMs: Math.max(100, opts.pollMs) } }));
  const config = {
    version: 1,
    edge: { name: 'soak-line-pc', dataDir: edgeDir },
    cloud: {
      url: `http://127.0.0.1:${proxy.port}`,
      batchSize: 200,
      timeoutMs: 3000,
      retry: { initialMs: 200, maxMs: 2000 },
    },
    status: { host: '127.0.0.1', port: 0 },
    log: { level: 'warn' },
    sources: [
      ...rigSources,
      {
        id: 'junk-rig',
        protocol: 'modbus',
        equipment: 'JUNK-RIG',
        host: '127.0.0.1',
        port: junkModbus.port,
        intervalMs: 100,
        timeoutMs: 200,
        telemetry: { everyMs: 500 },
        points: [
          { name: 'state', address: 0, type: 'uint16' },
          { name: 'temp', address: 4, type: 'float32', unit: 'degC' },
        ],
      },
      {
        id: 'stations',
        protocol: 'mqtt-broker',
        host: '127.0.0.1',
        port: brokerPort,
        devices: [
          {
            username: 'stn-01',
            passwordHash: await hashDevicePassword(stationPassword),
            publish: ['rigtrace/plant-1/STN-01/#', 'rigtrace/plant-1/+/usage'],
            subscribe: ['rigtrace/plant-1/STN-01/error', 'rigtrace/plant-1/STN-01/control'],
          },
          {
            username: 'junk-01',
            passwordHash: await hashDevicePassword(junkPassword),
            publish: ['rigtrace/plant-1/JUNK-STN/#'],
            subscribe: ['rigtrace/plant-1/JUNK-STN/error'],
          },
        ],
      },
    ],
  };
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  // Not runCli: a synchronous child would block this process, and with it the proxy.
  const enrolled = await runCliAsync('edge/src/cli.ts', [
    'enroll',
    '--config',
    configFile,
    '--cloud',
    `http://127.0.0.1:${proxy.port}`,
    '--token',
    enrollmentToken,
  ]);
  if (enrolled.status !== 0) throw new Error(`enrollment failed: ${enrolled.stderr}`);
  const edgeId = (JSON.parse(readFileSync(path.join(edgeDir, 'identity.json'), 'utf8')) as { edgeId: string })
    .edgeId;
  await startEdge();

  // The station: every message it reports as acknowledged (PUBACK) must end up in the cloud once.
  const acked: StationMessage[] = [];
  const station = watch(
    'inspection station',
    await startProcess(
      'firmware-sim/src/cli.ts',
      [
        'inspection-station',
        '--url',
        `mqtt://127.0.0.1:${brokerPort}`,
        '--username',
        'stn-01',
        '--password',
        stationPassword,
        '--every-seconds',
        '0.1',
        '--seed',
        '7',
      ],
      (l) => l.includes('"event":"connected"'),
      30_000,
      (line) => {
        if (!line.includes('"event":"published"')) return;
        const e = JSON.parse(line) as {
          topic: string;
          kind: string;
          payload?: { observedAt: string; partSerial?: string; event?: string };
        };
        if (!e.payload) return;
        acked.push({
          kind: e.kind,
          equipment: e.topic.split('/')[2]!,
          observedAt: e.payload.observedAt,
          ...(e.payload.partSerial !== undefined ? { partSerial: e.payload.partSerial } : {}),
          ...(e.payload.event !== undefined ? { event: e.payload.event } : {}),
        });
      },
    ),
  );
  const garbage = new GarbagePublisher({
    url: `mqtt://127.0.0.1:${brokerPort}`,
    username: 'junk-01',
    password: junkPassword,
    topicBase: 'rigtrace/plant-1/JUNK-STN',
    perSecond: 20,
  });
  garbage.start();

  // ---- the schedule ----
  const cutS = Math.min(60, Math.max(6, Math.round(durationS * 0.1)));
  const holeS = Math.min(60, Math.max(6, Math.round(durationS * 0.08)));
  const at = (f: number) => Math.round(durationS * f);
  let mode: ProxyMode = 'pass';
  const setMode = (m: ProxyMode) => {
    mode = m;
    proxy.setMode(m);
  };
  const schedule: ChaosEvent[] = [
    {
      at: at(0.15),
      what: 'restart the cloud (SIGTERM, start again)',
      run: async () => {
        await stopProc(cloud);
        await startCloud();
      },
    },
    {
      at: at(0.25),
      what: 'kill -9 the edge, start it again',
      run: async () => {
        await stopProc(edge, 'SIGKILL');
        await startEdge();
      },
    },
    {
      at: at(0.35),
      what: `cut the network: reset every connection for ${cutS} s`,
      run: () => Promise.resolve(setMode('drop')),
    },
    { at: at(0.35) + cutS, what: 'restore the network', run: () => Promise.resolve(setMode('pass')) },
    {
      at: at(0.55),
      what: `cut the network: black-hole every connection for ${holeS} s`,
      run: () => Promise.resolve(setMode('blackhole')),
    },
    { at: at(0.55) + holeS, what: 'restore the network', run: () => Promise.resolve(setMode('pass')) },
    {
      at: at(0.7),
      what: 'kill -9 the cloud, start it again',
      run: async () => {
        await stopProc(cloud, 'SIGKILL');
        await startCloud();
      },
    },
    {
      at: at(0.8),
      what: 'kill -9 the edge, start it again',
      run: async () => {
        await stopProc(edge, 'SIGKILL');
        await startEdge();
      },
    },
  ];
  // Times in the schedule count from here, once every process runs.
  const loadStart = now();
  for (const e of schedule) e.at += loadStart;
  say(`soak for ${durationS} s; garbage devices (Modbus and MQTT) run throughout. Schedule (since start):`);
  for (const e of schedule)
    process.stdout.write(`         at ${String(Math.round(e.at)).padStart(4)} s  ${e.what}\n`);

  // ---- run ----
  let maxAckedSeen = 0;
  let maxUnsent = 0;
  const acks: { t: number; acked: number }[] = [];
  let lastStatus: EdgeStatus | null = null;
  const sampler = setInterval(() => {
    const t = now();
    for (const [name, p] of [
      ['edge', edge],
      ['cloud', cloud],
    ] as const) {
      const s = series.findLast((x) => x.name === name);
      const mb = rssMb(p?.child.pid);
      if (s && mb !== null && p?.child.pid === s.pid) s.samples.push({ t, mb });
    }
    edgeStatus().then(
      (s) => {
        lastStatus = s;
        maxAckedSeen = Math.max(maxAckedSeen, s.buffer.acked);
        maxUnsent = Math.max(maxUnsent, s.buffer.unsent);
        acks.push({ t, acked: s.buffer.acked });
      },
      () => undefined,
    );
  }, 2000);
  let nextProgress = Math.ceil(loadStart) + 10;
  const progress = () => {
    const s = lastStatus;
    const rss = (n: string) => {
      const mb = series.findLast((x) => x.name === n)?.samples.at(-1)?.mb;
      return mb === undefined ? '—' : round1(mb);
    };
    say(
      `net=${mode.padEnd(9)} edge log ${s?.buffer.size ?? '?'} acked ${s?.buffer.acked ?? '?'} unsent ${s?.buffer.unsent ?? '?'} ` +
        `in ${s?.rates.inPerS ?? '?'}/s out ${s?.rates.outPerS ?? '?'}/s fails ${s?.forwarder.consecutiveFailures ?? '?'} | ` +
        `station acked ${acked.length} | garbage acked ${garbage.counts.acked} | rss edge ${rss('edge')} MB cloud ${rss('cloud')} MB`,
    );
  };
  for (const e of schedule) {
    while (now() < e.at) {
      await new Promise((r) => setTimeout(r, 250));
      if (now() >= nextProgress) {
        progress();
        while (nextProgress <= now()) nextProgress += 10;
      }
    }
    say(`CHAOS: ${e.what}`);
    e.ackedAtEvent = maxAckedSeen;
    await e.run();
    e.doneAt = now();
  }
  while (now() < loadStart + durationS) {
    await new Promise((r) => setTimeout(r, 250));
    if (now() >= nextProgress) {
      progress();
      while (nextProgress <= now()) nextProgress += 10;
    }
  }
  // How long until the cloud acknowledged new records after each fault.
  for (const e of schedule) {
    const after = acks.find((a) => a.t >= (e.doneAt ?? 0) && a.acked > (e.ackedAtEvent ?? 0));
    e.ackResumedAfterS = after ? round1(after.t - (e.doneAt ?? 0)) : null;
  }

  // ---- wind down: producers stop, the edge drains and stops ----
  say('load done: stopping the devices, draining the edge');
  await garbage.stop();
  await stopProc(station);
  for (const r of rigs) await stopProc(r);
  await junkModbus.stop();
  setMode('pass');
  // A Modbus source keeps writing (bad-quality telemetry, events) while its device is gone, so
  // the log would never stop growing: restart the edge with no sources (a config change never
  // touches the buffer) and let it send what it holds.
  await stopProc(edge);
  writeFileSync(configFile, JSON.stringify({ ...config, sources: [] }, null, 2));
  await startEdge();
  let drained = true;
  try {
    let stableSince = 0;
    let lastSize = -1;
    await waitFor(
      async () => {
        const s = await edgeStatus();
        if (s.buffer.unsent !== 0 || s.buffer.size !== lastSize) {
          lastSize = s.buffer.size;
          stableSince = Date.now();
          return false;
        }
        return Date.now() - stableSince > 3000;
      },
      180_000,
      'the edge to drain',
    );
  } catch (err) {
    drained = false;
    failures.push((err as Error).message);
  }
  clearInterval(sampler);
  const finalStatus = await edgeStatus().catch(() => null);
  await stopProc(edge);
  say('edge stopped; verifying');

  const result = await verifySoak({
    edgeDir,
    cloudDir,
    ...(opts.databaseUrl ? { databaseUrl: opts.databaseUrl } : {}),
    cloudUrl: `http://127.0.0.1:${cloudPort}`,
    apiToken,
    maxAckedSeen,
    ackedMessages: acked,
    junkEquipment: ['JUNK-RIG', 'JUNK-STN'],
    junkAcked: garbage.counts.acked,
  });
  await stopProc(cloud);
  await proxy.stop();

  const checks: Check[] = [
    ...result.checks,
    {
      name: 'no process died unexpectedly, the edge drained',
      ok: failures.length === 0 && drained,
      detail: failures.join('; ') || 'ok',
    },
    {
      name: 'the junk Modbus device was polled and refused',
      ok: junkModbus.counts.requests > 0,
      detail: `${junkModbus.counts.requests} requests answered with garbage, ${junkModbus.counts.closes} hang-ups`,
    },
  ];
  const verdicts = series
    .map((s) => judge(s, { warmupS: 20, maxGrowthPct: 20, maxGrowthMb: 12 }))
    .filter((v): v is MemoryVerdict => v !== null);
  // Judge each process on its longest lifetime with at least 30 s of samples after warm-up.
  for (const name of ['edge', 'cloud']) {
    const longest = verdicts.filter((v) => v.name === name).sort((a, b) => b.seconds - a.seconds)[0];
    checks.push({
      name: `memory flat: ${name}`,
      ok:
        longest !== undefined &&
        longest.seconds >= 30 &&
        verdicts.filter((v) => v.name === name && v.seconds >= 30).every((v) => v.flat),
      detail: longest
        ? `longest lifetime #${longest.incarnation}: ${longest.firstThirdMb} → ${longest.lastThirdMb} MB (${longest.growthPct}%), slope ${longest.slopeMbPerMin} MB/min over ${longest.seconds} s`
        : 'no lifetime long enough to judge (run longer)',
    });
  }

  const ok = checks.every((c) => c.ok);
  const figures = {
    ...result.figures,
    durationS,
    recordsPerSecond: round1(result.figures.edgeLogSize! / durationS),
    maxBacklog: maxUnsent,
    stationMessagesAcked: acked.length,
    garbageMqtt: garbage.counts.acked,
    garbageModbusRequests: junkModbus.counts.requests,
    cloudRestarts: cloudIncarnation - 1,
    edgeRestarts: edgeIncarnation - 1,
    proxyConnections: proxy.counts.connections,
    proxyDropped: proxy.counts.dropped,
    proxyBlackholed: proxy.counts.blackholed,
  };

  // ---- summary ----
  const line = '─'.repeat(100);
  process.stdout.write(
    `\n${line}\nSOAK ${ok ? 'PASSED' : 'FAILED'} — ${opts.minutes} min, edge ${edgeId}\n${line}\n`,
  );
  for (const c of checks)
    process.stdout.write(`${c.ok ? ' ok ' : 'FAIL'}  ${c.name.padEnd(78)} ${c.detail}\n`);
  process.stdout.write(`${line}\nchaos                                          ack resumed after\n`);
  for (const e of schedule)
    process.stdout.write(
      `  ${String(Math.round(e.at)).padStart(4)} s  ${e.what.padEnd(60)} ${e.ackResumedAfterS ?? '—'} s\n`,
    );
  process.stdout.write(
    `${line}\nmemory (RSS, after 20 s warm-up)   first⅓ MB  last⅓ MB  peak MB  slope MB/min  seconds\n`,
  );
  for (const v of verdicts)
    process.stdout.write(
      `  ${`${v.name} #${v.incarnation}`.padEnd(32)} ${String(v.firstThirdMb).padStart(9)} ${String(v.lastThirdMb).padStart(9)} ${String(v.peakMb).padStart(8)} ${String(v.slopeMbPerMin).padStart(13)} ${String(v.seconds).padStart(8)}\n`,
    );
  process.stdout.write(`${line}\nfigures\n`);
  for (const [k, v] of Object.entries(figures)) process.stdout.write(`  ${k.padEnd(30)} ${v}\n`);

  const out = opts.out
    ? path.resolve(opts.out)
    : path.join(os.tmpdir(), `rt-soak-result-${new Date(T0).toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        ok,
        minutes: opts.minutes,
        startedAt: new Date(T0).toISOString(),
        storage: opts.databaseUrl ? 'postgres' : 'sqlite',
        checks,
        figures,
        chaos: schedule.map(({ at, what, doneAt, ackResumedAfterS }) => ({
          at,
          what,
          doneAt,
          ackResumedAfterS,
        })),
        memory: verdicts,
        finalStatus,
      },
      null,
      2,
    )}\n`,
  );
  process.stdout.write(`${line}\nresult written to ${out}\n`);
  if (ok && !opts.keep) rmSync(work, { recursive: true, force: true });
  else process.stdout.write(`work directory kept: ${work}\n`);
  process.exit(ok ? 0 : 1);
}

async function abort(reason: string) {
  say(`ABORT: ${reason}`);
  for (const p of started) await stopProc(p, 'SIGKILL').catch(() => undefined);
  process.stdout.write(`work directory kept: ${work}\n`);
  process.exit(1);
}

process.on('SIGINT', () => void abort('interrupted'));
main().catch((err: unknown) => abort((err as Error).stack ?? String(err)));
