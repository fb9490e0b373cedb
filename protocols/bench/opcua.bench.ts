/**
 * OPC UA monitored-item updates/s: ITEMS Double variables that change every 100 ms, sampled every
 * 100 ms by a node-opcua server in its own process (opcua-load-server.ts: string NodeIds, port 0,
 * security None), all of them subscribed by
 *  - ours: OpcuaSubscriber (publishing interval 100 ms, samplingIntervalMs 100, its defaults
 *    otherwise: queue 1, timestamps Both), counting its 'value' events;
 *  - the baseline: a plain node-opcua client with the subscription parameters OpcuaSubscriber
 *    uses and the same items created in bulk (ClientMonitoredItemGroup, one CreateMonitoredItems
 *    call), counting the group's 'changed' notifications.
 * Each side runs in its own child process (a fork of this file), so that its CPU time and peak
 * RSS (VmHWM) are its own, one side at a time against the same server: it connects, subscribes,
 * waits until every item has reported once, lets SETTLE_S pass, then counts over its window. The
 * sides alternate (SCHEDULE), WINDOW_S of counting each in total.
 *
 * The expected rate is ITEMS × 1000 / 100 ms = 100,000 updates/s. One node-opcua server process
 * does not produce that on a shared 2-core machine (writing, sampling and publishing 100,000
 * values/s takes more than its one event loop; seen: 30,000–60,000/s with the loop 90–100 % busy),
 * so the server's own changes/s, event-loop utilisation and CPU over each window are reported
 * too, and besides the plain ratio of updates/s a second figure compares each side's updates per
 * value the server changed in the same window, which takes out a server slowed down by the
 * machine in one window and not in another. Target: ours at least 0.8 of the baseline in both.
 * Subscriber CPU is also given per update, the client-side cost that decides how far each side
 * could go with a faster server.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import {
  AttributeIds,
  ClientMonitoredItemGroup,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  TimestampsToReturn,
} from 'node-opcua';
import { OpcuaSubscriber, routeOpcuaLibraryLogs, type OpcuaLogger } from '../src/opcua/index.js';
import { cpuSeconds, peakRssMiB, report } from './report.js';

const ITEMS = Number(process.env.BENCH_OPCUA_ITEMS ?? 10_000);
/** Value change, sampling and publishing interval. */
const INTERVAL_MS = 100;
/** Counting time per side, in total (the baseline's is split in two halves around ours). */
const WINDOW_S = Number(process.env.BENCH_WINDOW_S ?? 14);
const SETTLE_S = 1;
/** Every item must have reported within this long after the subscriber started. */
const ALL_REPORTED_TIMEOUT_MS = 30_000;
const EXPECTED = (ITEMS * 1000) / INTERVAL_MS;
const BENCH = 'opcua subscriber';
const SUBSCRIBER_FLAG = '--opcua-subscriber';

type Side = 'ours' | 'baseline';

/** Rounds of ours; the baseline runs before, between and after them. */
const ALTERNATIONS = Number(process.env.BENCH_OPCUA_ALTERNATIONS ?? 2);
/**
 * Symmetric in time, so that a drift of the shared machine's load weighs on both sides alike: with
 * 2 alternations and WINDOW_S 14, baseline 3.5 s, ours 7 s, baseline 7 s, ours 7 s, baseline 3.5 s
 * (with 10 s in all, the per-update CPU figures were seen to swing by 40 % between runs: a major GC
 * falls in a window or not; with 14 s, the whole bench takes about a minute).
 */
const SCHEDULE: { side: Side; windowS: number }[] = [
  { side: 'baseline', windowS: WINDOW_S / ALTERNATIONS / 2 },
  ...Array.from({ length: ALTERNATIONS }, (_, i) => [
    { side: 'ours' as const, windowS: WINDOW_S / ALTERNATIONS },
    { side: 'baseline' as const, windowS: WINDOW_S / ALTERNATIONS / (i === ALTERNATIONS - 1 ? 2 : 1) },
  ]).flat(),
];

/** The parent's order to the subscriber process. */
interface Job {
  side: Side;
  endpointUrl: string;
  items: number;
  intervalMs: number;
  windowS: number;
  settleS: number;
}

/** From the subscriber process to the parent. */
type Message =
  | { type: 'window-start' }
  | { type: 'window-end' }
  | { type: 'result'; result: SideResult }
  | { type: 'error'; error: string };

interface SideResult {
  side: Side;
  /** Subscriber started → every item reported once, ms (client certificate creation included). */
  setupMs: number;
  /** Items that reported at least once (all of them, unless the timeout hit). */
  reported: number;
  updates: number;
  seconds: number;
  /** Updates in each whole second of the window. */
  perSecond: number[];
  /** CPU seconds (user + system, all threads) of the subscriber process in the window. */
  cpu: number;
  /** Event-loop utilisation of the subscriber process in the window (0..1). */
  elu: number;
  peakRssMiB: number;
  /** Ours only: values with the overflow bit. */
  overflows?: number;
}

const nodeId = (k: number): string => `ns=1;s=Load.${k}`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---- subscriber process (child) ---------------------------------------------------------------------

const stderrLogger: OpcuaLogger = {
  info() {},
  debug() {},
  warn: (o, msg) => void process.stderr.write(`[opcua bench] ${msg ?? ''} ${JSON.stringify(o)}\n`),
  error: (o, msg) => void process.stderr.write(`[opcua bench] error: ${msg ?? ''} ${JSON.stringify(o)}\n`),
};

/** Counts updates and, until every item has reported once, which items have. */
class Counter {
  updates = 0;
  reported = 0;
  private readonly seen: Uint8Array;
  constructor(readonly items: number) {
    this.seen = new Uint8Array(items);
  }
  get complete(): boolean {
    return this.reported === this.items;
  }
  mark(k: number): void {
    if (this.seen[k] === 0) {
      this.seen[k] = 1;
      this.reported++;
    }
  }
}

type Unsubscribe = () => Promise<Partial<SideResult>>;

/** Our adapter with every item; resolves once connected and subscribed, with the way to stop it. */
async function subscribeOurs(job: Job, counter: Counter): Promise<Unsubscribe> {
  const sub = new OpcuaSubscriber({
    endpointUrl: job.endpointUrl,
    securityMode: 'None',
    securityPolicy: 'None',
    publishingIntervalMs: job.intervalMs,
    items: Array.from({ length: job.items }, (_, k) => ({
      name: `i${k}`,
      nodeId: nodeId(k),
      samplingIntervalMs: job.intervalMs,
    })),
    logger: stderrLogger,
  });
  sub.on('value', (v) => {
    counter.updates++;
    if (!counter.complete) counter.mark(Number(v.name.slice(1)));
  });
  await sub.start();
  if (!sub.stats().connected) {
    const why = sub.stats().lastError ?? 'not connected';
    await sub.stop();
    throw new Error(`OpcuaSubscriber did not connect: ${why}`);
  }
  return async () => {
    const { overflows } = sub.stats();
    await sub.stop();
    return { overflows };
  };
}

/** The baseline: plain node-opcua, the subscription parameters OpcuaSubscriber uses, one item group. */
async function subscribeBaseline(job: Job, counter: Counter): Promise<Unsubscribe> {
  const dir = mkdtempSync(join(tmpdir(), 'rigtrace-opcua-bench-pki-'));
  const certificateManager = new OPCUACertificateManager({
    rootFolder: dir,
    automaticallyAcceptUnknownCertificate: false,
    disableFileWatchers: true,
  });
  await certificateManager.initialize();
  const client = OPCUAClient.create({
    applicationName: 'RigTrace-Bench-Baseline',
    clientCertificateManager: certificateManager,
    securityMode: MessageSecurityMode.None,
    securityPolicy: SecurityPolicy.None,
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0 },
    keepSessionAlive: true,
    requestedSessionTimeout: 120_000,
    defaultTransactionTimeout: 10_000,
  });
  await client.connect(job.endpointUrl);
  const session = await client.createSession();
  // What OpcuaSubscriber asks for with its default watchdog (10 s): a keep-alive every 3.3 s, 120-s lifetime.
  const keepAliveCount = Math.max(1, Math.floor(10_000 / (3 * job.intervalMs)));
  const subscription = await session.createSubscription2({
    requestedPublishingInterval: job.intervalMs,
    requestedMaxKeepAliveCount: keepAliveCount,
    requestedLifetimeCount: Math.max(3 * keepAliveCount, Math.ceil(120_000 / job.intervalMs)),
    maxNotificationsPerPublish: 0,
    publishingEnabled: true,
    priority: 10,
  });
  const group = ClientMonitoredItemGroup.create(
    subscription,
    Array.from({ length: job.items }, (_, k) => ({ nodeId: nodeId(k), attributeId: AttributeIds.Value })),
    { samplingInterval: job.intervalMs, queueSize: 1, discardOldest: true },
    TimestampsToReturn.Both,
  );
  group.on('changed', (_item, _dataValue, index) => {
    counter.updates++;
    if (!counter.complete) counter.mark(index);
  });
  await Promise.race([
    once(group, 'initialized'),
    once(group, 'err').then(([message]) => {
      throw new Error(`monitored item group: ${String(message)}`);
    }),
  ]);
  return async () => {
    await subscription.terminate().catch(() => undefined);
    await session.close(true).catch(() => undefined);
    await client.disconnect();
    await certificateManager.dispose();
    rmSync(dir, { recursive: true, force: true });
    return {};
  };
}

async function runSide(job: Job): Promise<SideResult> {
  const counter = new Counter(job.items);
  const t0 = performance.now();
  const unsubscribe = await (job.side === 'ours' ? subscribeOurs : subscribeBaseline)(job, counter);
  while (!counter.complete && performance.now() - t0 < ALL_REPORTED_TIMEOUT_MS) await sleep(20);
  const setupMs = performance.now() - t0;
  if (!counter.complete)
    process.stderr.write(
      `[opcua bench] ${job.side}: only ${counter.reported} of ${job.items} items reported within ${ALL_REPORTED_TIMEOUT_MS} ms\n`,
    );
  await sleep(job.settleS * 1000);

  const perSecond: number[] = [];
  let last = counter.updates;
  const u0 = counter.updates;
  const c0 = process.cpuUsage();
  const e0 = performance.eventLoopUtilization();
  const w0 = performance.now();
  process.send?.({ type: 'window-start' } satisfies Message);
  const tick = setInterval(() => {
    perSecond.push(counter.updates - last);
    last = counter.updates;
  }, 1000);
  await sleep(job.windowS * 1000);
  const seconds = (performance.now() - w0) / 1000;
  const updates = counter.updates - u0;
  const c1 = process.cpuUsage(c0);
  const elu = performance.eventLoopUtilization(e0).utilization;
  process.send?.({ type: 'window-end' } satisfies Message);
  clearInterval(tick);
  const extra = await unsubscribe();
  return {
    side: job.side,
    setupMs,
    reported: counter.reported,
    updates,
    seconds,
    perSecond,
    cpu: (c1.user + c1.system) / 1e6,
    elu,
    peakRssMiB: peakRssMiB(),
    ...extra,
  };
}

if (process.argv.includes(SUBSCRIBER_FLAG)) {
  routeOpcuaLibraryLogs(stderrLogger);
  // The bench went away (killed): so does this process (the server ends with it and drops the session).
  process.once('disconnect', () => process.exit(1));
  process.once('message', (job: Job) => {
    runSide(job).then(
      (result) => process.send?.({ type: 'result', result } satisfies Message, () => process.exit(0)),
      (err: unknown) =>
        process.send?.({ type: 'error', error: (err as Error).stack ?? String(err) } satisfies Message, () =>
          process.exit(1),
        ),
    );
  });
} else {
  await main();
}

// ---- the bench (parent process) ----------------------------------------------------------------------

interface ServerStats {
  at: number;
  /** Values written since the server started. */
  changes: number;
  /** Event-loop utilisation over the second before `at`. */
  elu: number;
  subscriptions: number | null;
  monitoredItems: number | null;
}

interface LoadServer {
  child: ChildProcess;
  endpointUrl: string;
  /** Every stats line so far (one a second). */
  stats: ServerStats[];
  /** Resolves with the first stats line from now on that satisfies the predicate. */
  nextStats(predicate: (s: ServerStats) => boolean, timeoutMs: number): Promise<ServerStats>;
  stop(): Promise<void>;
}

async function startLoadServer(): Promise<LoadServer> {
  const script = fileURLToPath(new URL('./opcua-load-server.ts', import.meta.url));
  const args = ['--items', String(ITEMS), '--change-ms', String(INTERVAL_MS), '--port', '0'];
  // stdin stays a pipe: the server ends when it closes (also when this process is killed).
  const child = spawn(process.execPath, [...process.execArgv, script, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stats: ServerStats[] = [];
  const waiters = new Set<(s: ServerStats) => void>();
  const endpointUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the load server did not start within 60 s')), 60_000);
    void exited.then((code) => reject(new Error(`the load server exited with ${code}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      let e: { event?: string; endpointUrl?: string };
      try {
        e = JSON.parse(line) as typeof e;
      } catch {
        process.stderr.write(`[opcua-load-server] ${line}\n`);
        return;
      }
      if (e.event === 'listening' && typeof e.endpointUrl === 'string') {
        clearTimeout(timer);
        resolve(e.endpointUrl);
      } else if (e.event === 'stats') {
        const s = e as unknown as ServerStats;
        stats.push(s);
        for (const w of waiters) w(s);
      }
    });
  });
  return {
    child,
    endpointUrl,
    stats,
    nextStats(predicate, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(on);
          reject(new Error('the load server did not reach the expected state'));
        }, timeoutMs);
        const on = (s: ServerStats): void => {
          if (!predicate(s)) return;
          clearTimeout(timer);
          waiters.delete(on);
          resolve(s);
        };
        waiters.add(on);
      });
    },
    async stop() {
      child.stdin.end();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

interface Round extends SideResult {
  /** Values the server wrote per second over the window. */
  serverChangesPerS: number;
  /** The server's event-loop utilisation over the window (its per-second figures). */
  serverElu: number;
  /** The server process's CPU over the window, share of one core. */
  serverCpu: number;
  /** Wall time of the round (subscriber process start → exit), s. */
  wallS: number;
}

/** Values the server had written at time t (ms since the epoch), interpolated between its stats lines. */
function changesAt(stats: ServerStats[], t: number): number {
  const after = stats.findIndex((s) => s.at >= t);
  if (after < 0) return stats[stats.length - 1]?.changes ?? NaN;
  const b = stats[after]!;
  const a = stats[after - 1];
  if (!a) return b.changes;
  return a.changes + ((b.changes - a.changes) * (t - a.at)) / (b.at - a.at);
}

/** One side in a fresh subscriber process. */
async function runRound(server: LoadServer, side: Side, windowS: number): Promise<Round> {
  const started = performance.now();
  const child = fork(fileURLToPath(import.meta.url), [SUBSCRIBER_FLAG], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  // node-opcua writes to the child's stdout: never onto our BENCH lines.
  child.stdout!.pipe(process.stderr);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const serverPid = server.child.pid!;
  let w0 = { t: 0, cpu: 0 };
  let w1 = { t: 0, cpu: 0 };
  const mark = () => ({ t: Date.now(), cpu: cpuSeconds(serverPid) });
  const result = await new Promise<SideResult>((resolve, reject) => {
    // (a moment later: its last message may still be on the way when 'exit' comes)
    void exited.then((code) =>
      setTimeout(() => reject(new Error(`${side}: the subscriber process exited with ${code}`)), 500),
    );
    child.on('message', (m: Message) => {
      if (m.type === 'window-start') w0 = mark();
      else if (m.type === 'window-end') w1 = mark();
      else if (m.type === 'result') resolve(m.result);
      else reject(new Error(`${side}: ${m.error}`));
    });
    child.send({
      side,
      endpointUrl: server.endpointUrl,
      items: ITEMS,
      intervalMs: INTERVAL_MS,
      windowS,
      settleS: SETTLE_S,
    } satisfies Job);
  });
  await exited;
  const wallS = (performance.now() - started) / 1000;
  // The server's figures over the window: its stats lines (one a second) interpolated to the window's ends.
  if (!server.stats.some((s) => s.at >= w1.t)) await server.nextStats((s) => s.at >= w1.t, 5000);
  const serverChangesPerS =
    ((changesAt(server.stats, w1.t) - changesAt(server.stats, w0.t)) * 1000) / (w1.t - w0.t);
  const inside = server.stats.filter((s) => s.at > w0.t && s.at <= w1.t + 1000);
  const serverElu = inside.reduce((n, s) => n + s.elu, 0) / inside.length;
  const serverCpu = (w1.cpu - w0.cpu) / ((w1.t - w0.t) / 1000);
  // The next round starts on a server that holds no monitored item (the subscription was deleted).
  if (server.stats[server.stats.length - 1]?.monitoredItems !== 0)
    await server.nextStats((s) => s.monitoredItems === 0, 15_000);
  return { ...result, serverChangesPerS, serverElu, serverCpu, wallS };
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const server = await startLoadServer();
  process.stderr.write(
    `  load server: ${ITEMS} items at ${server.endpointUrl}, up in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
  );
  const rounds: Round[] = [];
  try {
    for (const { side, windowS } of SCHEDULE) {
      const r = await runRound(server, side, windowS);
      rounds.push(r);
      process.stderr.write(
        `  ${side}: ${Math.round(r.updates / r.seconds)} updates/s (per second ${r.perSecond.join(' ')}); ` +
          `${r.reported} items reported after ${Math.round(r.setupMs)} ms; ` +
          `CPU ${(r.cpu / r.seconds).toFixed(2)} core, ELU ${r.elu.toFixed(2)}, peak RSS ${r.peakRssMiB.toFixed(0)} MiB; ` +
          `server ${Math.round(r.serverChangesPerS)} changes/s, ELU ${r.serverElu.toFixed(2)}, CPU ${r.serverCpu.toFixed(2)} core; ` +
          `round ${r.wallS.toFixed(1)} s\n`,
      );
    }
  } finally {
    await server.stop();
  }

  const ours = rounds.filter((r) => r.side === 'ours');
  const base = rounds.filter((r) => r.side === 'baseline');
  const sum = (rs: Round[], f: (r: Round) => number) => rs.reduce((n, r) => n + f(r), 0);
  /** Weighted by window length, as the rates are. */
  const mean = (rs: Round[], f: (r: Round) => number) =>
    sum(rs, (r) => f(r) * r.seconds) / sum(rs, (r) => r.seconds);
  const rate = (rs: Round[]) => sum(rs, (r) => r.updates) / sum(rs, (r) => r.seconds);
  /** Updates received per value the server changed in the same windows. */
  const delivered = (rs: Round[]) => rate(rs) / mean(rs, (r) => r.serverChangesPerS);
  const cpuShare = (rs: Round[]) => sum(rs, (r) => r.cpu) / sum(rs, (r) => r.seconds);
  const cpuPerUpdate = (rs: Round[]) => (sum(rs, (r) => r.cpu) / sum(rs, (r) => r.updates)) * 1e6;
  const peak = (rs: Round[]) => Math.max(...rs.map((r) => r.peakRssMiB));
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  const perSecond = (rs: Round[]) => {
    const all = rs.flatMap((r) => r.perSecond);
    return `${Math.min(...all)}..${Math.max(...all)}`;
  };
  const serverNote = (rs: Round[]) =>
    `server wrote ${Math.round(mean(rs, (r) => r.serverChangesPerS))} changes/s of ${EXPECTED}, ` +
    `event loop ${pct(mean(rs, (r) => r.serverElu))} busy, ${mean(rs, (r) => r.serverCpu).toFixed(2)} core`;
  const missing = rounds.filter((r) => r.reported < ITEMS);

  const ourRate = rate(ours);
  const baseRate = rate(base);
  const ratio = ourRate / baseRate;
  const serverBound = mean(rounds, (r) => r.serverChangesPerS) < 0.95 * EXPECTED;
  report({
    bench: BENCH,
    metric: `monitored-item updates/s, ${ITEMS} items at ${INTERVAL_MS} ms`,
    value: ourRate,
    unit: 'updates/s',
    baseline: baseRate,
    baselineName: 'node-opcua ClientSubscription + ClientMonitoredItemGroup',
    ratio,
    target: '>= 0.8 of baseline',
    pass: ratio >= 0.8,
    note:
      `expected ${EXPECTED}/s (${ITEMS} × ${1000 / INTERVAL_MS}/s): ours ${pct(ourRate / EXPECTED)}, ` +
      `baseline ${pct(baseRate / EXPECTED)}` +
      (serverBound
        ? `; the server is the limit: it wrote ${Math.round(mean(rounds, (r) => r.serverChangesPerS))} changes/s ` +
          `with its event loop ${pct(mean(rounds, (r) => r.serverElu))} busy, so this ratio follows its speed in ` +
          `each window (see the next figure for the comparison without it)`
        : '') +
      `; windows (s): ${SCHEDULE.map((r) => `${r.side} ${r.windowS}`).join(', ')}, each ${SETTLE_S} s ` +
      `after every item reported; per second ours ${perSecond(ours)}, baseline ${perSecond(base)}; ` +
      `subscriber event loop busy: ours ${pct(mean(ours, (r) => r.elu))}, baseline ${pct(mean(base, (r) => r.elu))}` +
      (sum(ours, (r) => r.overflows ?? 0) > 0
        ? `; overflow bits ${sum(ours, (r) => r.overflows ?? 0)}`
        : '') +
      (missing.length > 0
        ? `; WARNING: items that never reported: ${missing.map((r) => `${r.side} ${ITEMS - r.reported}`).join(', ')}`
        : ''),
  });
  const ourShare = delivered(ours);
  const baseShare = delivered(base);
  report({
    bench: BENCH,
    metric: 'updates received per value the server changed, same windows',
    value: ourShare,
    unit: 'updates/change',
    baseline: baseShare,
    baselineName: 'node-opcua baseline',
    ratio: ourShare / baseShare,
    target: '>= 0.8 of baseline',
    pass: ourShare / baseShare >= 0.8,
    note:
      `the updates/s above divided by the changes/s the server wrote in the same window, which takes out a ` +
      `server slowed down by the shared machine in one window and not in another; a client that falls behind ` +
      `gets fewer (queue size 1: the server keeps only the latest value of an item until the next Publish); ` +
      `below 1 also when a 100-ms sample lands in the same change as the previous one`,
  });
  for (const [name, rs] of [
    ['OpcuaSubscriber', ours],
    ['node-opcua baseline', base],
  ] as const) {
    report({
      bench: BENCH,
      metric: `${name}: updates/s against the expected rate`,
      value: rate(rs),
      unit: 'updates/s',
      baseline: EXPECTED,
      baselineName: `expected: ${ITEMS} items × ${1000 / INTERVAL_MS}/s`,
      ratio: rate(rs) / EXPECTED,
      note:
        `${serverNote(rs)}; values change every ${INTERVAL_MS} ms and are sampled every ${INTERVAL_MS} ms, ` +
        `so a sample that falls in the same change as the previous one reports nothing`,
    });
  }
  const ourCpu = cpuShare(ours);
  const baseCpu = cpuShare(base);
  report({
    bench: BENCH,
    metric: 'subscriber process CPU, share of one core',
    value: ourCpu * 100,
    unit: '%',
    baseline: baseCpu * 100,
    baselineName: 'node-opcua baseline process',
    ratio: ourCpu / baseCpu,
    note:
      `user + system of the subscriber process (all threads) over the windows, at the rates above; ` +
      `per update ours ${cpuPerUpdate(ours).toFixed(2)} µs, baseline ${cpuPerUpdate(base).toFixed(2)} µs ` +
      `(ratio ${(cpuPerUpdate(ours) / cpuPerUpdate(base)).toFixed(2)}): one core would absorb about ` +
      `${Math.round(1e6 / cpuPerUpdate(ours))} updates/s with ours, ${Math.round(1e6 / cpuPerUpdate(base))} with the baseline`,
  });
  report({
    bench: BENCH,
    metric: 'subscriber process peak RSS',
    value: peak(ours),
    unit: 'MiB',
    baseline: peak(base),
    baselineName: 'node-opcua baseline process',
    ratio: peak(ours) / peak(base),
    note: 'VmHWM of the subscriber process: one process per side and round, so its own; tsx, node-opcua, start-up and subscription included',
  });
  const ourSetup = sum(ours, (r) => r.setupMs) / ours.length;
  const baseSetup = sum(base, (r) => r.setupMs) / base.length;
  report({
    bench: BENCH,
    metric: `time until all ${ITEMS} items reported once`,
    value: ourSetup,
    unit: 'ms',
    baseline: baseSetup,
    baselineName: 'node-opcua baseline',
    ratio: ourSetup / baseSetup,
    note:
      `client certificate, connect, session, subscription, CreateMonitoredItems, first values; ` +
      `rounds (s): ${rounds.map((r) => `${r.side} ${r.wallS.toFixed(1)}`).join(', ')}; ` +
      `whole bench ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  });
}
