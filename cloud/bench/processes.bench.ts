/**
 * Many cloud processes, one PostgreSQL: 1, 2 and 4 `rigtrace-cloud serve` processes (the built
 * cloud, as the service is started) on one fresh PostgreSQL database each time, behind a
 * round-robin HTTP proxy (proxy.ts: node:http, kept-alive connections), fed signed batches by
 * BENCH_EDGES (12) edges in parallel, each sending its BENCH_BATCHES (10) batches of BENCH_BATCH
 * (500) records in order (seq is contiguous per edge), one at a time, as the edge's forwarder
 * does. Reported for each process count: ingest records/s, p50/p99 batch latency (first send →
 * acknowledged, waits included), the CPU used (cloud processes, this database's PostgreSQL
 * backends and PostgreSQL's background processes, from /proc) against the cores available
 * (os.availableParallelism, load average), and the ratio of 2 and 4 processes to 1 (target for 2:
 * ≥ 1.6 × one, CPU allowing).
 *
 * The processes share the ingest limit through Redis (BENCH_REDIS_URL, default
 * redis://127.0.0.1:6379, a key prefix of this run's own) and one data folder (the witness key:
 * processes sharing a database must countersign with one key). An edge answered 429 waits its
 * Retry-After and sends the same batch again; a network error or a 5xx is retried with a backoff
 * (ingest is idempotent: a re-sent batch is acknowledged, not stored twice). Nothing transient
 * aborts the bench: a batch still not acknowledged after BENCH_GIVE_UP_S (120) s, a refusal, or
 * a process count that could not run, is reported as a failure (met: NO), and the stored record
 * count is checked against what was sent.
 *
 * BENCH_PROCS ("1,2,4"): the process counts, in order (e.g. "1,2,4,1" to see the drift of the
 * machine's load). PostgreSQL: RIGTRACE_TEST_PG_ADMIN_URL (ingest-work.ts).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { generateKeyPair, toBase64 } from '@rigtrace/protocols';
import type { Proc } from '@rigtrace/protocols/testing';
import { cpuSeconds, percentile, report } from '../../protocols/bench/report.js';
import {
  buildBatches,
  createBenchDatabase,
  PG_ADMIN_URL,
  perK,
  seedTenant,
  startCloudProcess,
  type EdgeWork,
} from './ingest-work.js';
import { startProxy, type Proxy } from './proxy.js';

const PROCS = (process.env.BENCH_PROCS ?? '1,2,4')
  .split(',')
  .map(Number)
  .filter((n) => Number.isInteger(n) && n >= 1);
const EDGES = Number(process.env.BENCH_EDGES ?? 12);
const BATCHES = Number(process.env.BENCH_BATCHES ?? 10);
const BATCH = Number(process.env.BENCH_BATCH ?? 500);
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** BENCH_SHARED_RIGS=1: every edge reports the same 20 rigs (as ingest.bench.ts); else each edge its own. */
const SHARED_RIGS = process.env.BENCH_SHARED_RIGS === '1';
const GIVE_UP_MS = Number(process.env.BENCH_GIVE_UP_S ?? 120) * 1000;
const CORES = os.availableParallelism();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' / ');
/** A field of an answer, as text. */
const say = (v: unknown) => (typeof v === 'string' ? v : v === undefined ? '' : JSON.stringify(v));
const errText = (err: unknown) =>
  (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 200);

// ---------------------------------------------------------------------------------------------
// An edge: POSTs as the forwarder does (node:http, one kept-alive connection, one batch at a time).

interface Answer {
  status: number;
  json: Record<string, unknown>;
  retryAfter: string | null;
}

function postJson(agent: http.Agent, url: string, body: string, timeoutMs = 60_000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'POST',
      agent,
      headers: {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body, 'utf8')),
      },
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer after ${timeoutMs} ms`)));
    req.once('error', reject);
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('error', reject);
      res.once('end', () => {
        let json: Record<string, unknown> = {};
        try {
          const v: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          if (v && typeof v === 'object' && !Array.isArray(v)) json = v as Record<string, unknown>;
        } catch {
          /* not JSON: the status says what happened */
        }
        const ra = res.headers['retry-after'];
        resolve({ status: res.statusCode ?? 0, json, retryAfter: typeof ra === 'string' ? ra : null });
      });
    });
    req.end(body);
  });
}

interface Tally {
  /** Batch latencies, first send → acknowledged, ms. */
  latencies: number[];
  /** 429 answers waited out. */
  limited: number;
  /** Network errors and 5xx answers retried. */
  transient: number;
  /** A sample of the transient errors. */
  transientSample: string[];
  /** Batches that could not be delivered (the edge stops there: its log cannot continue). */
  failed: string[];
  /** Batches acknowledged. */
  acked: number;
}

const newTally = (): Tally => ({
  latencies: [],
  limited: 0,
  transient: 0,
  transientSample: [],
  failed: [],
  acked: 0,
});

/**
 * Delivers `body` (its last record `lastSeq`): waits Retry-After on 429 (at least 1 s, as the
 * edge reads whole seconds), backs off on network errors and 5xx, and gives up after GIVE_UP_MS.
 * True when acknowledged.
 */
async function deliver(
  agent: http.Agent,
  url: string,
  body: string,
  lastSeq: number,
  tally: Tally,
  timed: boolean,
): Promise<boolean> {
  const t0 = performance.now();
  for (let attempt = 0; ; attempt += 1) {
    if (performance.now() - t0 > GIVE_UP_MS) {
      tally.failed.push(`seq ≤ ${lastSeq}: not acknowledged after ${GIVE_UP_MS / 1000} s`);
      return false;
    }
    let a: Answer;
    try {
      a = await postJson(agent, url, body);
    } catch (err) {
      tally.transient += 1;
      if (tally.transientSample.length < 5) tally.transientSample.push(errText(err));
      await sleep(Math.min(100 * 2 ** attempt, 5000));
      continue;
    }
    const ackedSeq = a.json.ackedSeq;
    const expected = a.json.expectedSeq;
    if (
      (a.status >= 200 && a.status < 300 && typeof ackedSeq === 'number' && ackedSeq >= lastSeq) ||
      // Stored by an attempt whose answer was lost: the cloud is already past this batch.
      (a.status === 409 && typeof expected === 'number' && expected > lastSeq)
    ) {
      if (timed) tally.latencies.push(performance.now() - t0);
      tally.acked += 1;
      return true;
    }
    if (a.status === 429) {
      tally.limited += 1;
      const s = Number(a.retryAfter);
      await sleep(Number.isFinite(s) && s > 0 ? Math.min(s, 60) * 1000 : 1000);
      continue;
    }
    if (a.status >= 500 || a.status === 0) {
      tally.transient += 1;
      if (tally.transientSample.length < 5)
        tally.transientSample.push(`${a.status} ${say(a.json.detail ?? a.json.title)}`.slice(0, 200));
      await sleep(Math.min(100 * 2 ** attempt, 5000));
      continue;
    }
    tally.failed.push(
      `seq ≤ ${lastSeq}: ${a.status} ${say(a.json.code)} ${say(a.json.detail ?? a.json.title)}`.slice(0, 300),
    );
    return false;
  }
}

/** Enrolls an edge through the proxy, retrying what is transient. */
async function enroll(url: string, token: string, i: number): Promise<{ id: string; pem: string }> {
  const keys = generateKeyPair();
  const agent = new http.Agent({ keepAlive: false });
  const body = JSON.stringify({ token, publicKey: toBase64(keys.publicKey), name: `bench-${i}` });
  for (let attempt = 0; attempt < 8; attempt += 1) {
    try {
      const a = await postJson(agent, `${url}/api/v1/edges/enroll`, body);
      if (a.status >= 200 && a.status < 300 && typeof a.json.edgeId === 'string')
        return { id: a.json.edgeId, pem: keys.privateKeyPem };
      if (a.status < 500 && a.status !== 429)
        throw new Error(`enroll: ${a.status} ${JSON.stringify(a.json)}`);
    } catch (err) {
      if (attempt === 7 || String(err).includes('enroll:')) throw err;
    }
    await sleep(Math.min(200 * 2 ** attempt, 5000));
  }
  throw new Error('enroll: gave up');
}

// ---------------------------------------------------------------------------------------------
// CPU: cloud processes, this database's PostgreSQL backends, PostgreSQL's background processes.

/** The machine's CPU seconds busy and in all, from /proc/stat (every core). */
function machineCpu(): { busy: number; all: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const all = f.slice(0, 8).reduce((k, x) => k + x, 0);
  const idle = f[3]! + f[4]!; // idle, iowait
  const hz = 100;
  return { busy: (all - idle) / hz, all: all / hz };
}

function cpuOf(pid: number): number | undefined {
  try {
    return cpuSeconds(pid);
  } catch {
    return undefined; // exited
  }
}

class PgCpu {
  /** pid → [CPU s when first seen (0 when it started inside the window), last seen]. */
  private readonly backends = new Map<number, [number, number]>();
  private readonly background = new Map<number, [number, number]>();
  /** What this database's backends were doing, counted over the samples: state or wait event → count. */
  readonly doing = new Map<string, number>();
  /** Lock waits longer than 5 s, with their holders. */
  readonly longWaits = new Map<number, string>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> = Promise.resolve();

  private constructor(
    private readonly admin: pg.Client,
    private readonly dbName: string,
  ) {}

  static async start(dbName: string): Promise<PgCpu> {
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    const s = new PgCpu(admin, dbName);
    await s.poll(true);
    s.timer = setInterval(() => {
      s.polling = s.polling.then(() => s.poll(false));
    }, 500);
    return s;
  }

  private async poll(first: boolean): Promise<void> {
    try {
      const { rows } = await this.admin.query<{
        pid: number;
        datname: string | null;
        backend_type: string;
        state: string | null;
        wait: string | null;
        for_s: number | null;
        query: string | null;
        blockers: number[] | null;
      }>(
        `SELECT pid, datname, backend_type, state, wait_event_type || ':' || wait_event AS wait,
                extract(epoch FROM now() - state_change)::float8 AS for_s, left(query, 160) AS query,
                CASE WHEN wait_event_type = 'Lock' THEN pg_blocking_pids(pid) END AS blockers
           FROM pg_stat_activity WHERE pid <> pg_backend_pid()`,
      );
      const byPid = new Map(rows.map((r) => [r.pid, r]));
      for (const r of rows) {
        // A lock wait of more than 5 s: who holds it, doing what (at most 5 kept, one per waiter).
        if (r.datname !== this.dbName || !r.wait?.startsWith('Lock') || (r.for_s ?? 0) < 5) continue;
        if (this.longWaits.size >= 5 || this.longWaits.has(r.pid)) continue;
        const holders = (r.blockers ?? []).map((b) => {
          const h = byPid.get(b);
          return h
            ? `${b} ${h.state ?? '?'} ${(h.for_s ?? 0).toFixed(1)} s after: ${oneLine(h.query)}`
            : `${b} ?`;
        });
        this.longWaits.set(
          r.pid,
          `${r.pid} waited ${(r.for_s ?? 0).toFixed(1)} s on ${r.wait} in: ${oneLine(r.query)}; held by ${holders.join(' / ') || 'none listed'}`,
        );
      }
      for (const r of rows) {
        const mine = r.datname === this.dbName && r.backend_type === 'client backend';
        if (mine && !first) {
          // active without a wait event: on a CPU (or waiting for one); idle in transaction: waiting for the cloud.
          const what = r.state === 'active' ? (r.wait ?? 'active, running') : (r.state ?? 'unknown');
          this.doing.set(what, (this.doing.get(what) ?? 0) + 1);
        }
        const shared = r.datname === null && r.backend_type !== 'client backend';
        const into = mine ? this.backends : shared ? this.background : undefined;
        const now = into && cpuOf(r.pid);
        if (!into || now === undefined) continue;
        const seen = into.get(r.pid);
        if (seen) seen[1] = now;
        else into.set(r.pid, [first ? now : 0, now]);
      }
    } catch {
      /* a missed sample: the next one counts */
    }
  }

  /** Takes the last sample and returns the CPU seconds used since start. */
  async stop(): Promise<{ backends: number; background: number; backendCount: number }> {
    clearInterval(this.timer);
    await this.polling;
    await this.poll(false);
    await this.admin.end().catch(() => undefined);
    const sum = (m: Map<number, [number, number]>) => [...m.values()].reduce((k, [a, b]) => k + (b - a), 0);
    return {
      backends: sum(this.backends),
      background: sum(this.background),
      backendCount: this.backends.size,
    };
  }
}

// ---------------------------------------------------------------------------------------------

interface Outcome {
  procs: number;
  rate: number;
  p50: number;
  p99: number;
  seconds: number;
  /** Cores used on average over the timed window. */
  cores: { cloud: number; pgBackends: number; pgBackground: number; bench: number; total: number };
  cpuPerK: { cloud: number; pg: number };
  /** The whole machine's busy cores over the window (everyone's work). */
  machineBusy: number;
  /** This database's backends over the samples: what they were doing, share of samples. */
  pgDoing: string;
  longWaits: string[];
  /** Lines the processes logged at warn or above while timed. */
  logged: string[];
  tally: Tally;
  stored: number | undefined;
  expected: number;
  loadBefore: string;
  loadAfter: string;
  proxyErrors: number;
  perUpstream: number[];
  exited: string[];
  how: string;
}

const oneLine = (q: string | null) => (q ?? '').replace(/\s+/g, ' ').slice(0, 160);

function describeDoing(m: Map<string, number>): string {
  const total = [...m.values()].reduce((k, x) => k + x, 0);
  if (total === 0) return 'no samples';
  return [...m.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 6)
    .map(([k, v]) => `${k} ${Math.round((100 * v) / total)} %`)
    .join(', ');
}

async function stopProc(p: Proc): Promise<void> {
  const killer = setTimeout(() => p.child.kill('SIGKILL'), 15_000);
  try {
    await p.stop();
  } finally {
    clearTimeout(killer);
  }
}

async function runCount(n: number): Promise<Outcome> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `rt-bench-procs-${n}-`));
  const db = await createBenchDatabase();
  const procs: Proc[] = [];
  let proxy: Proxy | undefined;
  let stopping = false;
  try {
    const tokens = await seedTenant({ dataDir, databaseUrl: db.url, dbAppRole: db.appRole }, EDGES);
    const env: Record<string, string> = {
      RIGTRACE_DATA_DIR: dataDir,
      RIGTRACE_PORT: '0',
      RIGTRACE_LOG_LEVEL: 'warn',
      RIGTRACE_REMINDERS_SCHEDULER: 'off',
      DATABASE_URL: db.url,
      RIGTRACE_DB_APP_ROLE: db.appRole,
      REDIS_URL,
      RIGTRACE_REDIS_PREFIX: `rt-bench-${randomBytes(4).toString('hex')}`,
    };
    // Started side by side, as a deployment starts its replicas (migrations wait on an advisory lock).
    const started = await Promise.allSettled(Array.from({ length: n }, () => startCloudProcess(env)));
    for (const s of started) if (s.status === 'fulfilled') procs.push(s.value.proc);
    const refused = started.find((s) => s.status === 'rejected');
    if (refused) throw new Error(`a cloud process did not start: ${errText(refused.reason)}`);
    const clouds = started.map(
      (s) => (s as PromiseFulfilledResult<Awaited<ReturnType<typeof startCloudProcess>>>).value,
    );
    const exited: string[] = [];
    clouds.forEach((c, i) =>
      c.proc.child.once('exit', (code, signal) => {
        if (!stopping)
          exited.push(
            `process ${i + 1} exited (${code ?? signal}): ${c.proc.lines.slice(-3).join(' | ').slice(0, 300)}`,
          );
      }),
    );
    proxy = await startProxy(clouds.map((c) => c.url));
    const ingestUrl = `${proxy.url}/api/v1/ingest`;

    const edges = await Promise.all(tokens.map((t, i) => enroll(proxy!.url, t, i)));
    // Warm-up, not timed: each edge's first batch, spread over the processes by the proxy (every
    // process starts its verify workers and fills its pool), then the timed batches continue the logs.
    const tally = newTally();
    const warmTally = newTally();
    const agents = edges.map(() => new http.Agent({ keepAlive: true, maxSockets: 1 }));
    const work: EdgeWork[] = [];
    await Promise.all(
      edges.map(async (e, i) => {
        const line = SHARED_RIGS ? '' : `L${String(i + 1).padStart(2, '0')}-`;
        const warm = buildBatches(e, { from: 1, count: 1, size: BATCH, wire: true, line });
        await deliver(agents[i]!, ingestUrl, warm.batches[0] as string, BATCH, warmTally, false);
        work[i] = buildBatches(e, {
          from: BATCH + 1,
          count: BATCHES,
          size: BATCH,
          before: warm.state,
          wire: true,
          line,
        });
      }),
    );
    if (warmTally.failed.length > 0) throw new Error(`warm-up refused: ${warmTally.failed[0]}`);
    const expected = EDGES * (BATCHES + 1) * BATCH;

    const pids = clouds.map((c) => c.proc.child.pid!);
    const pgCpu = await PgCpu.start(db.name);
    const loadBefore = load();
    const cpu0 = { cloud: pids.map((p) => cpuOf(p) ?? 0), bench: cpuSeconds(), machine: machineCpu() };
    const linesBefore = clouds.map((c) => c.proc.lines.length);
    const t0 = performance.now();
    await Promise.all(
      work.map(async (w, i) => {
        for (const [b, body] of w.batches.entries())
          if (!(await deliver(agents[i]!, ingestUrl, body as string, w.lastSeqs[b]!, tally, true))) return;
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const cloudCpu = pids.reduce((k, p, i) => k + ((cpuOf(p) ?? cpu0.cloud[i]!) - cpu0.cloud[i]!), 0);
    const benchCpu = cpuSeconds() - cpu0.bench;
    const machine1 = machineCpu();
    const machineBusy = (machine1.busy - cpu0.machine.busy) / seconds;
    const pgUsed = await pgCpu.stop();
    // What the processes logged at warn (40) or above while timed.
    const logged = clouds.flatMap((c, i) =>
      c.proc.lines
        .slice(linesBefore[i])
        .filter((l) => /"level":(4|5|6)0/.test(l))
        .map((l) => `process ${i + 1}: ${l.slice(0, 300)}`),
    );
    const loadAfter = load();
    for (const a of agents) a.destroy();

    const timedRecords = tally.acked * BATCH;
    let stored: number | undefined;
    try {
      // As the administrator (row-level security does not apply to it): every tenant's rows.
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      stored = Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM records')).rows[0]!.n);
      await c.end();
    } catch {
      stored = undefined;
    }
    stopping = true;
    return {
      procs: n,
      rate: timedRecords / seconds,
      p50: percentile(tally.latencies, 50),
      p99: percentile(tally.latencies, 99),
      seconds,
      cores: {
        cloud: cloudCpu / seconds,
        pgBackends: pgUsed.backends / seconds,
        pgBackground: pgUsed.background / seconds,
        bench: benchCpu / seconds,
        total: (cloudCpu + pgUsed.backends + pgUsed.background + benchCpu) / seconds,
      },
      cpuPerK: {
        cloud: perK(cloudCpu, timedRecords),
        pg: perK(pgUsed.backends + pgUsed.background, timedRecords),
      },
      machineBusy,
      pgDoing: describeDoing(pgCpu.doing),
      longWaits: [...pgCpu.longWaits.values()],
      logged,
      tally: { ...tally, failed: [...warmTally.failed, ...tally.failed] },
      stored,
      expected,
      loadBefore,
      loadAfter,
      proxyErrors: proxy.errors,
      perUpstream: [...proxy.perUpstream],
      exited,
      how: clouds[0]!.how,
    };
  } finally {
    stopping = true;
    await proxy?.close().catch(() => undefined);
    await Promise.all(procs.map((p) => stopProc(p).catch(() => undefined)));
    await db.drop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------

const B = 'cloud processes (PostgreSQL)';
const loadAtStart = load();
const outcomes: Outcome[] = [];
process.stderr.write(
  `processes: ${PROCS.join(', ')}; ${EDGES} edges × ${BATCHES} batches × ${BATCH} records; ` +
    `${CORES} cores; load average ${loadAtStart}\n`,
);

for (const n of PROCS) {
  let o: Outcome;
  try {
    o = await runCount(n);
  } catch (err) {
    report({
      bench: B,
      metric: `${n} process${n > 1 ? 'es' : ''}: the run`,
      value: 0,
      unit: 'records/s',
      target: 'completes',
      pass: false,
      note: `did not complete: ${errText(err)}; load average ${load()}`,
    });
    continue;
  }
  outcomes.push(o);
  const one = outcomes.find((x) => x.procs === 1 && x.tally.failed.length === 0);
  const label = `${n} process${n > 1 ? 'es' : ''}`;
  const ratio = one && o !== one ? o.rate / one.rate : undefined;
  const failures = o.tally.failed.length + o.exited.length + (o.stored === o.expected ? 0 : 1);
  report({
    bench: B,
    metric: `ingest records/s, ${label}`,
    value: Math.round(o.rate),
    unit: 'records/s',
    ...(ratio !== undefined
      ? {
          baseline: Math.round(one!.rate),
          baselineName: '1 process, same run',
          ratio,
          ...(n === 2 ? { target: '>= 1.6 × 1 process', pass: ratio >= 1.6 } : {}),
        }
      : {}),
    note:
      `${EDGES} edges × ${BATCHES} batches × ${BATCH} records in ${o.seconds.toFixed(1)} s; cloud from ${o.how}; ` +
      `requests per process ${o.perUpstream.join('/')}; load average ${o.loadBefore} → ${o.loadAfter}`,
  });
  report({
    bench: B,
    metric: `batch latency p99 (p50 ${Math.round(o.p50)} ms), ${label}`,
    value: Math.round(o.p99),
    unit: 'ms',
    ...(one && o !== one
      ? { baseline: Math.round(one.p99), baselineName: '1 process, same run', ratio: o.p99 / one.p99 }
      : {}),
    note: 'first send → acknowledged through the proxy, Retry-After waits and retries included',
  });
  report({
    bench: B,
    metric: `CPU used, cores, ${label}`,
    value: Math.round(o.cores.total * 100) / 100,
    unit: 'cores',
    baseline: CORES,
    baselineName: 'cores available (os.availableParallelism)',
    ratio: o.cores.total / CORES,
    note:
      `cloud processes ${o.cores.cloud.toFixed(2)}, PostgreSQL backends ${o.cores.pgBackends.toFixed(2)}, ` +
      `PostgreSQL background ${o.cores.pgBackground.toFixed(2)}, bench (edges + proxy) ${o.cores.bench.toFixed(2)}; ` +
      `CPU ms per 1,000 records: cloud ${o.cpuPerK.cloud}, PostgreSQL ${o.cpuPerK.pg}; ` +
      `the whole machine was busy ${o.machineBusy.toFixed(2)} of ${CORES} cores (everyone's work); ` +
      `this database's backends, share of samples: ${o.pgDoing}; load average ${o.loadBefore} → ${o.loadAfter}`,
  });
  report({
    bench: B,
    metric: `batches not delivered, ${label}`,
    value: failures,
    unit: 'failures',
    target: '0',
    pass: failures === 0,
    note:
      `records stored ${o.stored ?? 'unknown'} of ${o.expected}; 429 waited out ${o.tally.limited}; ` +
      `transient errors retried ${o.tally.transient}${o.tally.transientSample.length ? ` (${o.tally.transientSample.join('; ')})` : ''}; ` +
      `proxy 502s ${o.proxyErrors}` +
      (o.tally.failed.length ? `; failed: ${o.tally.failed.slice(0, 3).join('; ')}` : '') +
      (o.exited.length ? `; ${o.exited.join('; ')}` : '') +
      `; lines logged at warn or above ${o.logged.length}${o.logged.length ? `, e.g. ${o.logged.slice(0, 2).join(' || ')}` : ''}` +
      `; lock waits over 5 s ${o.longWaits.length}${o.longWaits.length ? `: ${o.longWaits.slice(0, 3).join(' || ')}` : ''}`,
  });
}

// What the cores allow: at 1 process the run used C cores for R records/s; with nothing else on
// the machine, no number of processes can exceed R × CORES / C.
const one = outcomes.find((x) => x.procs === 1);
if (one)
  report({
    bench: B,
    metric: 'records/s the cores allow at most, × 1 process',
    value: Math.round((CORES / one.cores.total) * 100) / 100,
    unit: '×',
    baseline: CORES,
    baselineName: 'cores available',
    note:
      `1 process used ${one.cores.total.toFixed(2)} cores (cloud, PostgreSQL, edges and proxy) for ${Math.round(one.rate)} records/s: ` +
      `${CORES} idle cores would allow at most ${(CORES / one.cores.total).toFixed(2)} × that; the machine's other work ` +
      `took ${Math.max(0, one.machineBusy - one.cores.total).toFixed(2)} cores meanwhile ` +
      `(load average at start ${loadAtStart}, at end ${load()})`,
  });
report({
  bench: B,
  metric: 'cores available',
  value: CORES,
  unit: 'cores',
  note: `os.availableParallelism(); load average (1/5/15 min) at start ${loadAtStart}, at end ${load()}; ${readFileSync('/proc/loadavg', 'utf8').trim()}`,
});
