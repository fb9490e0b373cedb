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
 * records; BENCH_OWN_RIGS=1: each edge its own rigs, gauge and parts (as a plant's lines; by default
 * all four report the same 20 rigs and part serials, so their batches wait on each other's locks);
 * BENCH_SOCKETS (500) sockets, BENCH_ROUNDS (30) rounds. PostgreSQL: the machine's
 * (RIGTRACE_TEST_PG_ADMIN_URL, default postgres://postgres@127.0.0.1:5432/test), a database of
 * this run's own, dropped at the end. BENCH_BACKENDS: which, "sqlite,postgres" by default. BENCH_CLOUD_NODE_FLAGS: extra Node flags for the cloud
 * process (a profile: "--cpu-prof --cpu-prof-dir=/tmp/prof"; a trace of where ingest time goes:
 * ingest-trace.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { Server } from 'socket.io';
import { io as connectSocket, type Socket } from 'socket.io-client';
import sqlite3 from 'sqlite3';
import { canonicalJson, recordLeafHash, generateKeyPair, toBase64, type LogState } from '@rigtrace/protocols';
import { buildBatch } from '@rigtrace/protocols/testing';
import { cpuSeconds, percentile, peakRssMiB, report } from '../../protocols/bench/report.js';
import {
  buildBatches,
  createBenchDatabase,
  perK,
  post,
  record,
  rssMiB,
  seedTenant,
  startCloudProcess,
  type EdgeWork,
} from './ingest-work.js';

const EDGES = Number(process.env.BENCH_EDGES ?? 4);
const BATCHES = Number(process.env.BENCH_BATCHES ?? 15);
const BATCH = Number(process.env.BENCH_BATCH ?? 500);
const SOCKETS = Number(process.env.BENCH_SOCKETS ?? 500);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const OWN_RIGS = process.env.BENCH_OWN_RIGS === '1';
const PW = 'bench passphrase, not a secret';
/** Records of each edge's untimed first batch. */
const WARM = BATCH;

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
    const db = await createBenchDatabase();
    dbUrl = db.url;
    env.DATABASE_URL = db.url;
    env.RIGTRACE_DB_APP_ROLE = db.appRole;
    dropDb = db.drop;
  }
  const tokens = await seedTenant(
    { dataDir, ...(dbUrl ? { databaseUrl: dbUrl, dbAppRole: env.RIGTRACE_DB_APP_ROLE! } : {}) },
    EDGES + 1,
    { email: 'viewer@bench.example', password: PW },
  );

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
    for (const [i, e] of edges.entries()) {
      const line = OWN_RIGS ? `L${String(i + 1).padStart(2, '0')}-` : '';
      const warm = buildBatches(e, { from: 1, count: 1, size: WARM, line });
      await post(`${cloud.url}/api/v1/ingest`, warm.batches[0]);
      work.push(
        buildBatches(e, {
          from: WARM + 1,
          count: BATCHES,
          size: BATCH,
          before: warm.state,
          wire: true,
          line,
        }),
      );
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
        `${EDGES} edges × ${BATCHES} batches × ${BATCH} records, ${OWN_RIGS ? 'each edge its own rigs and parts' : 'rigs and parts shared by the edges'}; cloud from ${cloud.how}; ` +
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
      const warm = buildBatches(fanEdge, { from: 1, count: 1, size: 10 });
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
        target: '<= 100 ms',
        pass: p99 <= 100,
        note: `${ROUNDS} rounds of a 10-record batch; includes the ingest request`,
      });
    }
  } finally {
    await cloud.proc.stop();
    await dropDb?.();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const BACKENDS = (process.env.BENCH_BACKENDS ?? 'sqlite,postgres').split(',');
if (BACKENDS.includes('sqlite')) await benchBackend('sqlite');
if (BACKENDS.includes('postgres')) await benchBackend('postgres');
