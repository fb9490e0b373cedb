/**
 * Cloud ingest: records/s through the real cloud process (HTTP, JSON, signature and Merkle
 * verification, idempotent storage, calibration/SPC/live hooks, countersigning) on SQLite and on
 * PostgreSQL, against a plain multi-row INSERT of the same rows (canonical JSON and leaf hash
 * precomputed, same batch size, one transaction per batch) into the same database in the same
 * run: the ceiling. Target: at least 0.5 of it. Also the cloud process's peak RSS (VmHWM) under
 * that load, and the live fan-out: a batch ingested → its `records` message received on N
 * sockets (p50/p99 over rounds), against socket.io alone broadcasting to N sockets.
 *
 * Scale: BENCH_EDGES (4) edges in parallel, each BENCH_BATCHES (15) batches of BENCH_BATCH (500)
 * records; BENCH_SOCKETS (500) sockets, BENCH_ROUNDS (30) rounds. PostgreSQL: the machine's
 * (RIGTRACE_TEST_PG_ADMIN_URL, default postgres://postgres@127.0.0.1:5432/test), a database of
 * this run's own, dropped at the end. BENCH_CLOUD_NODE_FLAGS: extra Node flags for the cloud
 * process (a profile: "--cpu-prof --cpu-prof-dir=/tmp/prof").
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { Server } from 'socket.io';
import { io as connectSocket, type Socket } from 'socket.io-client';
import sqlite3 from 'sqlite3';
import { canonicalJson, generateKeyPair, recordLeafHash, toBase64, type LogState } from '@rigtrace/protocols';
import { buildBatch, deterministicUuidV7, repoRoot, startNode, type Proc } from '@rigtrace/protocols/testing';
import { cpuSeconds, percentile, peakRssMiB, report } from '../../protocols/bench/report.js';
import { createAccounts } from '../src/access/accounts.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { openStore } from '../src/server.js';
import { Witness } from '../src/platform/witness.js';

const EDGES = Number(process.env.BENCH_EDGES ?? 4);
const BATCHES = Number(process.env.BENCH_BATCHES ?? 15);
const BATCH = Number(process.env.BENCH_BATCH ?? 500);
const SOCKETS = Number(process.env.BENCH_SOCKETS ?? 500);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const PG_ADMIN_URL = process.env.RIGTRACE_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const PW = 'bench passphrase, not a secret';
const T0 = Date.now() - 3_600_000;
/** Records of each edge's untimed first batch. */
const WARM = BATCH;

// ---------------------------------------------------------------------------------------------
// Records as a line of rigs produces them: mostly telemetry, some usage and inspections.

function record(edge: string, seq: number) {
  const observedAt = new Date(T0 + seq * 10).toISOString();
  const equipment = `RIG-${String(seq % 20).padStart(2, '0')}`;
  const envelope = {
    v: 1,
    id: deterministicUuidV7(T0 + seq * 10, new TextEncoder().encode(`${edge}:${seq}`)),
    edge,
    seq,
    observedAt,
    receivedAt: observedAt,
    equipment,
  };
  if (seq % 20 === 0)
    return {
      ...envelope,
      kind: 'inspection',
      source: { protocol: 'mqtt', endpoint: 'mqtt://edge.local:18830', address: 'line/result' },
      body: {
        partSerial: `P-${seq}`,
        workOrder: 'WO-1',
        result: 'pass',
        characteristics: [
          {
            name: 'q',
            nominal: 62,
            lsl: 60,
            usl: 64,
            measured: 62 + (seq % 7) / 10,
            unit: 'mm3',
            result: 'pass',
          },
        ],
        gauges: ['FLOW-CELL-07'],
      },
    };
  if (seq % 20 === 10)
    return {
      ...envelope,
      kind: 'usage',
      source: { protocol: 'modbus', endpoint: 'modbus://10.0.0.1:502/1' },
      body: { event: 'cycle', cycles: 1, operator: 'op-1', workOrder: 'WO-1', partSerial: `P-${seq}` },
    };
  return {
    ...envelope,
    kind: 'telemetry',
    source: { protocol: 'modbus', endpoint: 'modbus://10.0.0.1:502/1' },
    body: {
      points: Array.from({ length: 8 }, (_, p) => ({
        name: `p${p}`,
        value: 1000 + ((seq * 7 + p) % 997) / 10,
        unit: 'bar',
        quality: 'good',
      })),
    },
  };
}

interface EdgeWork {
  id: string;
  batches: unknown[];
  records: { edge: string; seq: number; record: ReturnType<typeof record> }[];
}

function prepare(edgeId: string, privateKeyPem: string, from: number, count: number, batch: number) {
  const batches: unknown[] = [];
  const records: EdgeWork['records'] = [];
  let state: LogState | undefined;
  for (let i = 0; i < count; i += 1) {
    const recs = Array.from({ length: batch }, (_, j) => record(edgeId, from + i * batch + j));
    const built = buildBatch({
      edge: edgeId,
      privateKeyPem,
      records: recs,
      ...(state ? { before: state } : {}),
    });
    state = built.state;
    batches.push(built.batch);
    for (const r of recs) records.push({ edge: edgeId, seq: r.seq, record: r });
  }
  return { batches, records, state: state! };
}

// ---------------------------------------------------------------------------------------------

/** Starts `rigtrace-cloud serve` with this environment: the built JS when fresh (as production runs), else the sources. */
async function startCloudProcess(
  env: Record<string, string>,
): Promise<{ proc: Proc; url: string; how: string }> {
  const dist = path.join(repoRoot, 'cloud/dist/cli.js');
  const newest = (dir: string): number =>
    Math.max(
      0,
      ...readdirSync(dir, { withFileTypes: true }).map((d) =>
        d.isDirectory() ? newest(path.join(dir, d.name)) : statSync(path.join(dir, d.name)).mtimeMs,
      ),
    );
  const fresh =
    existsSync(dist) && newest(path.join(repoRoot, 'cloud/dist')) >= newest(path.join(repoRoot, 'cloud/src'));
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const ready = (l: string) => l.includes('"event":"listening"');
    // BENCH_CLOUD_NODE_FLAGS: extra Node flags for the cloud, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p".
    const extra = (process.env.BENCH_CLOUD_NODE_FLAGS ?? '').split(' ').filter(Boolean);
    const proc = fresh
      ? await startNode(dist, ['serve'], ready, 60_000, extra)
      : await startNode(path.join(repoRoot, 'cloud/src/cli.ts'), ['serve'], ready, 60_000, [
          '--conditions=rigtrace-source',
          '--import',
          'tsx',
          ...extra,
        ]);
    return {
      proc,
      url: (JSON.parse(proc.readyLine) as { url: string }).url,
      how: fresh ? 'cloud/dist' : 'TS sources (tsx)',
    };
  } finally {
    process.env = saved;
  }
}

/**
 * A batch as the edge sends it (edge/src/forwarder/forwarder.ts): each record as the canonical
 * JSON the edge stored and hashed, spliced into the body.
 */
function onTheWire(batch: unknown): string {
  const b = batch as { edge: string; records: unknown[]; checkpoint: string };
  return `{"v":1,"edge":${JSON.stringify(b.edge)},"records":[${b.records.map((r) => canonicalJson(r)).join(',')}],"checkpoint":${JSON.stringify(b.checkpoint)}}`;
}

/** POSTs `body` as JSON (a string: as it is). */
async function post(url: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${url}: ${res.status} ${JSON.stringify(json).slice(0, 300)}`);
  return json;
}

// ---------------------------------------------------------------------------------------------
// The ceiling: the same rows, multi-row INSERTs of the same size, one transaction each.

const PLAIN_DDL = `CREATE TABLE bench_plain (
  tenant_id TEXT NOT NULL, edge_id TEXT NOT NULL, seq BIGINT NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL,
  equipment TEXT NOT NULL, observed_at TEXT NOT NULL, json TEXT NOT NULL, leaf_hash BYTEA NOT NULL,
  ingested_at TEXT NOT NULL, PRIMARY KEY (tenant_id, edge_id, seq))`;

type Row = [string, string, number, string, string, string, string, string, Buffer, string];

function plainRows(work: EdgeWork[]): Row[][][] {
  const now = new Date().toISOString();
  return work.map((w) => {
    const rows: Row[] = w.records.map(({ edge, seq, record: r }) => [
      'bench',
      edge,
      seq,
      r.id,
      r.kind,
      r.equipment,
      r.observedAt,
      canonicalJson(r),
      Buffer.from(recordLeafHash(r)),
      now,
    ]);
    const chunks: Row[][] = [];
    for (let i = 0; i < rows.length; i += BATCH) chunks.push(rows.slice(i, i + BATCH));
    return chunks;
  });
}

async function plainSqlite(file: string, chunks: Row[][][]): Promise<number> {
  const db = await new Promise<sqlite3.Database>((resolve, reject) => {
    const d = new sqlite3.Database(file, (err) => (err ? reject(err) : resolve(d)));
  });
  const exec = (sql: string) => new Promise<void>((res, rej) => db.exec(sql, (e) => (e ? rej(e) : res())));
  const run = (sql: string, params: unknown[]) =>
    new Promise<void>((res, rej) => db.run(sql, params, (e) => (e ? rej(e) : res())));
  await exec('PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;');
  await exec(`DROP TABLE IF EXISTS bench_plain; ${PLAIN_DDL.replace('BYTEA', 'BLOB')}`);
  const all = chunks.flat();
  const n = all.reduce((k, c) => k + c.length, 0);
  const t0 = performance.now();
  // SQLite has one writer: the batches one after another.
  for (const c of all) {
    await exec('BEGIN IMMEDIATE');
    await run(
      `INSERT INTO bench_plain VALUES ${c.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
      c.flat(),
    );
    await exec('COMMIT');
  }
  const rate = n / ((performance.now() - t0) / 1000);
  await exec('DROP TABLE bench_plain');
  await new Promise<void>((res) => db.close(() => res()));
  return rate;
}

async function plainPostgres(url: string, chunks: Row[][][]): Promise<number> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`DROP TABLE IF EXISTS bench_plain; ${PLAIN_DDL}`);
  // One connection per edge, in parallel, as the cloud serves the edges in parallel.
  const clients = await Promise.all(
    chunks.map(async () => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      return c;
    }),
  );
  const n = chunks.flat().reduce((k, c) => k + c.length, 0);
  const t0 = performance.now();
  await Promise.all(
    chunks.map(async (edgeChunks, i) => {
      const c = clients[i]!;
      for (const rows of edgeChunks) {
        await c.query('BEGIN');
        let p = 0;
        await c.query(
          `INSERT INTO bench_plain VALUES ${rows.map(() => `(${Array.from({ length: 10 }, () => `$${++p}`).join(', ')})`).join(', ')}`,
          rows.flat(),
        );
        await c.query('COMMIT');
      }
    }),
  );
  const rate = n / ((performance.now() - t0) / 1000);
  await Promise.all(clients.map((c) => c.end()));
  await admin.query('DROP TABLE bench_plain');
  await admin.end();
  return rate;
}

// ---------------------------------------------------------------------------------------------
// Fan-out.

function connect(url: string, cookie?: string): Promise<Socket> {
  const s = connectSocket(url, {
    path: '/socket.io',
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    ...(cookie ? { extraHeaders: { cookie } } : {}),
  });
  return new Promise((resolve, reject) => {
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
  });
}

/** socket.io alone: one server in this process broadcasting to a room of N sockets. */
async function plainFanOut(): Promise<number[]> {
  const http = createServer();
  const io = new Server(http, { path: '/socket.io', serveClient: false });
  io.on('connection', (s) => void s.join('site'));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
  const sockets: Socket[] = [];
  for (let i = 0; i < SOCKETS; i += 1) sockets.push(await connect(url));
  await new Promise((r) => setTimeout(r, 200));
  const latencies: number[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    const t0 = performance.now();
    const got = Promise.all(
      sockets.map(
        (s) =>
          new Promise<void>((r) => s.once('records', () => (latencies.push(performance.now() - t0), r()))),
      ),
    );
    io.to('site').emit('records', { siteId: 'site', lastSeq: round });
    await got;
  }
  for (const s of sockets) s.close();
  await io.close();
  return latencies;
}

async function cloudFanOut(
  url: string,
  cookie: string,
  edge: { id: string; pem: string; state: LogState; next: number },
) {
  const sockets: Socket[] = [];
  for (let i = 0; i < SOCKETS; i += 1) {
    const s = await connect(url, cookie);
    const ack = (await s.timeout(10_000).emitWithAck('subscribe', { siteId: 'plant-1' })) as { ok: boolean };
    if (!ack.ok) throw new Error(`subscribe refused: ${JSON.stringify(ack)}`);
    sockets.push(s);
  }
  const latencies: number[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    const recs = Array.from({ length: 10 }, (_, j) => record(edge.id, edge.next + j));
    const built = buildBatch({ edge: edge.id, privateKeyPem: edge.pem, records: recs, before: edge.state });
    const lastSeq = edge.next + 9;
    const t0 = performance.now();
    const got = Promise.all(
      sockets.map(
        (s) =>
          new Promise<void>((resolve) => {
            const on = (p: { lastSeq: number }) => {
              if (p.lastSeq !== lastSeq) return;
              latencies.push(performance.now() - t0);
              s.off('records', on);
              resolve();
            };
            s.on('records', on);
          }),
      ),
    );
    await post(`${url}/api/v1/ingest`, built.batch);
    await got;
    edge.state = built.state;
    edge.next += 10;
  }
  for (const s of sockets) s.close();
  return latencies;
}

// ---------------------------------------------------------------------------------------------

async function benchBackend(backend: 'sqlite' | 'postgres') {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `rt-bench-cloud-${backend}-`));
  let dbUrl: string | undefined;
  let dropDb: (() => Promise<void>) | undefined;
  const env: Record<string, string> = {
    RIGTRACE_DATA_DIR: dataDir,
    RIGTRACE_PORT: '0',
    RIGTRACE_LOG_LEVEL: 'warn',
    RIGTRACE_REMINDERS_SCHEDULER: 'off',
  };
  if (backend === 'postgres') {
    const name = `rt_bench_${randomBytes(5).toString('hex')}`;
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const u = new URL(PG_ADMIN_URL);
    u.pathname = `/${name}`;
    dbUrl = u.toString();
    env.DATABASE_URL = dbUrl;
    env.RIGTRACE_DB_APP_ROLE = `${name}_app`;
    dropDb = async () => {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.query(`DROP ROLE IF EXISTS ${name}_app`);
      await c.end();
    };
  }
  const cfg = loadCloudConfig(
    {},
    {
      dataDir,
      ...(dbUrl ? { databaseUrl: dbUrl, dbAppRole: env.RIGTRACE_DB_APP_ROLE! } : {}),
    },
  );
  const store = await openStore(cfg);
  await store.tenancy.createTenant('bench', 'Bench');
  await store.tenancy.createSite('bench', 'plant-1', 'Plant 1');
  const tokens: string[] = [];
  for (let i = 0; i <= EDGES; i += 1)
    tokens.push((await store.tenancy.createEnrollmentToken('bench', 'plant-1', 3600_000)).token);
  await createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) }).users.create(
    { actor: { type: 'system', id: 'bench' }, address: null },
    'bench',
    { email: 'viewer@bench.example', role: 'technician', password: PW, mustChangePassword: false },
  );
  await store.db.close();

  const cloud = await startCloudProcess(env);
  const pid = cloud.proc.child.pid!;
  try {
    const edges = await Promise.all(
      tokens.map(async (token, i) => {
        const keys = generateKeyPair();
        const r = await post(`${cloud.url}/api/v1/edges/enroll`, {
          token,
          publicKey: toBase64(keys.publicKey),
          name: `bench-${i}`,
        });
        return { id: String(r.edgeId), pem: keys.privateKeyPem };
      }),
    );
    const fanEdge = edges.pop()!;
    // Warm-up (not timed): one batch per edge of the timed size (so that the verify workers are
    // started), then the timed batches continue each log.
    const work: EdgeWork[] = [];
    for (const e of edges) {
      const warm = prepare(e.id, e.pem, 1, 1, WARM);
      await post(`${cloud.url}/api/v1/ingest`, warm.batches[0]);
      const timed = buildTimed(e, warm.state);
      work.push(timed);
    }
    const idleRss = rssMiB(pid);
    const n = work.reduce((k, w) => k + w.records.length, 0);
    // CPU used while timed (the machine is shared: CPU per record does not depend on the others' load).
    const cpu0 = { cloud: cpuSeconds(pid), bench: cpuSeconds() };
    const t0 = performance.now();
    await Promise.all(
      work.map(async (w) => {
        for (const b of w.batches) await post(`${cloud.url}/api/v1/ingest`, b);
      }),
    );
    const ingestRate = n / ((performance.now() - t0) / 1000);
    const cloudCpu = {
      cloud: perK(cpuSeconds(pid) - cpu0.cloud, n),
      bench: perK(cpuSeconds() - cpu0.bench, n),
    };
    const peak = peakRssMiB(pid);

    const rows = plainRows(work);
    const plainCpu0 = cpuSeconds();
    const plain =
      backend === 'sqlite'
        ? await plainSqlite(path.join(dataDir, 'cloud.sqlite'), rows)
        : await plainPostgres(dbUrl!, rows);
    const plainCpu = perK(cpuSeconds() - plainCpu0, n);
    const ratio = ingestRate / plain;
    report({
      bench: 'cloud ingest',
      metric: `verified ingest records/s (${backend})`,
      value: Math.round(ingestRate),
      unit: 'records/s',
      baseline: Math.round(plain),
      baselineName: 'plain multi-row INSERT, same rows',
      ratio,
      target: '>= 0.5 of baseline',
      pass: ratio >= 0.5,
      note:
        `${EDGES} edges × ${BATCHES} batches × ${BATCH} records; cloud from ${cloud.how}; ` +
        `CPU ms per 1,000 records (PostgreSQL's own not counted): cloud process ${cloudCpu.cloud}, ` +
        `sending edges ${cloudCpu.bench}; plain INSERT ${plainCpu}`,
    });
    report({
      bench: 'cloud ingest',
      metric: `cloud peak RSS under ingest (${backend})`,
      value: Math.round(peak),
      unit: 'MiB',
      baseline: Math.round(idleRss),
      baselineName: 'the same process idle after start',
      ratio: peak / idleRss,
      note: `VmHWM of the cloud process; cloud from ${cloud.how}`,
    });

    if (backend === 'sqlite' && SOCKETS > 0) {
      const signIn = await fetch(`${cloud.url}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ tenant: 'bench', email: 'viewer@bench.example', password: PW }),
      });
      const cookie = signIn.headers
        .getSetCookie()
        .map((c) => c.split(';')[0]!)
        .find((c) => c.startsWith('rt_session='))!;
      const warm = prepare(fanEdge.id, fanEdge.pem, 1, 1, 10);
      await post(`${cloud.url}/api/v1/ingest`, warm.batches[0]);
      const lat = await cloudFanOut(cloud.url, cookie, { ...fanEdge, state: warm.state, next: 11 });
      const base = await plainFanOut();
      const p99 = percentile(lat, 99);
      report({
        bench: 'live fan-out',
        metric: `batch ingested → message on ${SOCKETS} sockets, p50`,
        value: percentile(lat, 50),
        unit: 'ms',
        baseline: percentile(base, 50),
        baselineName: 'socket.io alone, same sockets',
        ratio: percentile(lat, 50) / percentile(base, 50),
        note: `${ROUNDS} rounds of a 10-record batch; includes the ingest request`,
      });
      report({
        bench: 'live fan-out',
        metric: `batch ingested → message on ${SOCKETS} sockets, p99`,
        value: p99,
        unit: 'ms',
        baseline: percentile(base, 99),
        baselineName: 'socket.io alone, same sockets',
        ratio: p99 / percentile(base, 99),
        target: '<= 250 ms',
        pass: p99 <= 250,
        note: `${ROUNDS} rounds of a 10-record batch; includes the ingest request`,
      });
    }
  } finally {
    await cloud.proc.stop();
    await dropDb?.();
    rmSync(dataDir, { recursive: true, force: true });
  }

  function buildTimed(e: { id: string; pem: string }, before: LogState): EdgeWork {
    const out: EdgeWork = { id: e.id, batches: [], records: [] };
    let state = before;
    for (let i = 0; i < BATCHES; i += 1) {
      const from = WARM + 1 + i * BATCH;
      const recs = Array.from({ length: BATCH }, (_, j) => record(e.id, from + j));
      const built = buildBatch({ edge: e.id, privateKeyPem: e.pem, records: recs, before: state });
      state = built.state;
      out.batches.push(onTheWire(built.batch));
      for (const r of recs) out.records.push({ edge: e.id, seq: r.seq, record: r });
    }
    return out;
  }
}

/** CPU ms per 1,000 records, from CPU seconds over n records. */
const perK = (s: number, n: number) => Math.round((s * 1e6) / n);

/** Current resident set of a process, MiB. */
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

await benchBackend('sqlite');
await benchBackend('postgres');
