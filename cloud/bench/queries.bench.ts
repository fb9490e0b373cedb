/**
 * Calibration-engine queries at scale: p95 latency of the API's heavy reads over a large data set
 * on SQLite and PostgreSQL, against the p95 of a trivial authenticated read in the same run
 * (GET /calibration-settings: HTTP, token check, one primary-key read). Target: p95 ≤ 200 ms each.
 *
 * The data set is built once with bulk SQL (not through the API) and kept for later runs: a
 * SQLite file under BENCH_QUERIES_DIR (default <tmp>/rt-bench-queries) and a PostgreSQL
 * database rt_bench_q_<equipment>_<records> on the machine's server (RIGTRACE_TEST_PG_ADMIN_URL).
 * BENCH_QUERIES_REBUILD=1 builds again (1 M records a statement, a progress line each, the record
 * tables' secondary indexes built after the load); BENCH_BACKENDS=sqlite or =postgres runs one.
 * Scale: BENCH_EQUIPMENT (100,000) pieces of equipment over 100 sites (one edge each),
 * BENCH_RECORDS (1,000,000; 10,000,000 for issue 16) records over 365 days: 80 % telemetry, 10 % usage, 10 % inspections (each part inspected twice, 1 in 17 failing first), every
 * inspection measured with GAUGE-A or GAUGE-B (half each); one calibration per piece of
 * equipment, and GAUGE-A's last one failed, so its suspect window spans the whole year.
 *
 * Measured through the running cloud's HTTP API with an API token, BENCH_SAMPLES (40) requests
 * per query, one at a time, each with other parameters (site, tag, part) than the one before.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { peakRssMiB, percentile, report } from '../../protocols/bench/report.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { FILL_PART_FIRSTS, FILL_YIELD_QUARTERS } from '../src/platform/db/yield-quarters.js';
import { openStore, startCloud } from '../src/server.js';

const EQUIPMENT = Number(process.env.BENCH_EQUIPMENT ?? 100_000);
const RECORDS = Number(process.env.BENCH_RECORDS ?? 1_000_000);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 40);
const SITES = 100;
const RIGS = 5000;
const PG_ADMIN_URL = process.env.RIGTRACE_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const ROOT = process.env.BENCH_QUERIES_DIR ?? path.join(os.tmpdir(), 'rt-bench-queries');
const REBUILD = process.env.BENCH_QUERIES_REBUILD === '1';
/** Records cover the year before END. */
const END = Date.parse('2026-11-30T00:00:00.000Z');
const START = END - 365 * 86_400_000;
const STEP_MS = Math.floor((END - START) / RECORDS);
const SCALE = `${EQUIPMENT}-${RECORDS}`;

type Dialect = 'sqlite' | 'postgres';

/** The machine's load average (1, 5, 15 min), reported with the figures: the machine is shared. */
const loadAverage = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' / ');

/** SQL fragments per dialect: the numbers 0..n-1, zero-padded text, ISO time of a millisecond epoch. */
function dialectSql(d: Dialect) {
  return {
    /** The numbers from..to-1 (from 0 when only one bound is given). */
    numbers: (to: number, from = 0) =>
      d === 'postgres'
        ? `generate_series(${from}::bigint, ${to - 1}) AS c(n)`
        : `(WITH RECURSIVE c(n) AS (SELECT ${from} UNION ALL SELECT n + 1 FROM c WHERE n < ${to - 1}) SELECT n FROM c) c`,
    pad: (expr: string, width: number) =>
      d === 'postgres' ? `lpad((${expr})::text, ${width}, '0')` : `printf('%0${width}d', ${expr})`,
    iso: (ms: string) =>
      d === 'postgres'
        ? `to_char(to_timestamp((${ms}) / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`
        : `strftime('%Y-%m-%dT%H:%M:%fZ', (${ms}) / 1000.0, 'unixepoch')`,
    date: (ms: string) =>
      d === 'postgres'
        ? `to_char(to_timestamp((${ms}) / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD')`
        : `strftime('%Y-%m-%d', (${ms}) / 1000.0, 'unixepoch')`,
    div: (a: string, b: number) => (d === 'postgres' ? `((${a}) / ${b})` : `((${a}) / ${b})`),
    bool: (b: boolean) => (d === 'postgres' ? String(b) : b ? '1' : '0'),
    blob: d === 'postgres' ? `'\\x00'::bytea` : `x'00'`,
    now: d === 'postgres' ? 'now()' : `'2026-11-30T00:00:00.000Z'`,
  };
}

/** Rows of the records tables per statement: the build reports progress after each. */
const CHUNK = 1_000_000;
/** The record tables whose secondary indexes are dropped for the load and built after it. */
const LOADED_TABLES = ['records', 'traceable_records', 'record_gauges'];

/** `make(from, to)` for each CHUNK of the records, labelled for the progress output. */
function chunked(
  label: string,
  make: (from: number, to: number) => string,
): { label: string; sql: string }[] {
  const out: { label: string; sql: string }[] = [];
  for (let from = 0; from < RECORDS; from += CHUNK) {
    const to = Math.min(RECORDS, from + CHUNK);
    out.push({
      label: `${label} ${from.toLocaleString('en')}–${to.toLocaleString('en')}`,
      sql: make(from, to),
    });
  }
  return out;
}

/** The bulk build: every statement in order (run by the schema owner), each with a label. */
function buildStatements(d: Dialect): { label: string; sql: string }[] {
  const q = dialectSql(d);
  const n = 'c.n';
  const edge = `'bench-edge-' || ${q.pad(`${n} % ${SITES}`, 2)}`;
  const seq = `(${q.div(n, SITES)} + 1)`;
  const at = q.iso(`${START} + ${n} * ${STEP_MS}`);
  const rig = `'RIG-' || ${q.pad(`${q.div(n, 10)} % ${RIGS}`, 5)}`;
  const kind = `CASE WHEN ${n} % 10 = 0 THEN 'inspection' WHEN ${n} % 10 = 5 THEN 'usage' ELSE 'telemetry' END`;
  const part = `'P-' || ${q.div(n, 20)}`;
  // A part's first inspection (n % 20 = 0) fails for 1 part in 17; its second always passes.
  const result = `CASE WHEN ${n} % 20 = 0 AND ${q.div(n, 20)} % 17 = 0 THEN 'fail' ELSE 'pass' END`;
  const gauge = `CASE WHEN ${q.div(n, 10)} % 2 = 0 THEN 'GAUGE-A' ELSE 'GAUGE-B' END`;
  const json = `'{"v":1,"id":"' || ${edge} || ':' || ${seq} || '","edge":"' || ${edge} || '","seq":' || ${seq} ||
    ',"observedAt":"' || ${at} || '","receivedAt":"' || ${at} || '","kind":"' || ${kind} ||
    '","equipment":"' || ${rig} || '","source":{"protocol":"mqtt","endpoint":"mqtt://edge.local:1883"},"body":' ||
    CASE WHEN ${n} % 10 = 0 THEN '{"partSerial":"' || ${part} || '","workOrder":"WO-1","result":"' || ${result} ||
      '","characteristics":[{"name":"q","nominal":62,"lsl":60,"usl":64,"measured":62.1,"unit":"mm3","result":"' ||
      ${result} || '"}],"gauges":["' || ${gauge} || '"]}'
    WHEN ${n} % 10 = 5 THEN '{"event":"cycle","cycles":1,"operator":"op-1","workOrder":"WO-1","partSerial":"' || ${part} || '"}'
    ELSE '{"points":[{"name":"p0","value":1000.5,"unit":"bar","quality":"good"}]}' END || '}'`;
  const site = (expr: string) => `'site-' || ${q.pad(`${expr} % ${SITES}`, 2)}`;
  // Equipment: RIG-00000… (the rigs), GAUGE-A, GAUGE-B, then EQ-… up to EQUIPMENT.
  const tag = `CASE WHEN ${n} < ${RIGS} THEN 'RIG-' || ${q.pad(n, 5)} WHEN ${n} = ${RIGS} THEN 'GAUGE-A'
    WHEN ${n} = ${RIGS + 1} THEN 'GAUGE-B' ELSE 'EQ-' || ${q.pad(n, 6)} END`;
  // Each piece's one calibration: spread over the year; due 365 days later.
  const calMs = `${START} + (${n} % 365) * 86400000`;
  const calSeq = `(100000000 + ${n})`;
  const calEdge = `'bench-edge-' || ${q.pad(`${n} % ${SITES}`, 2)}`;
  const calBody = `'{"standards":[],"points":[{"name":"p@800","nominal":800,"unit":"bar","asFound":800.5,"lowerTolerance":-2,"upperTolerance":2,"asFoundResult":"pass"}],"adjusted":false,"asFoundResult":"pass","calibratedAt":"' || ${q.iso(calMs)} || '"}'`;
  const gaugeA = `${n} = ${RIGS}`;
  /** GAUGE-A: passed a day before the records start, failed at their end. */
  const gaugeCal = (seq: number, at: string, res: 'pass' | 'fail') => [
    leaves(`INSERT INTO records (tenant_id, edge_id, seq, id, kind, equipment, observed_at, json, leaf_hash, ingested_at, replayed)
     VALUES ('bench', 'bench-edge-00', ${seq}, 'bench-edge-00:${seq}', 'calibration', 'GAUGE-A', '${at}', '{}', ${q.blob}, ${q.now}, ${q.bool(false)})`),
    `INSERT INTO calibrations (tenant_id, id, equipment, source, edge_id, seq, calibrated_at, as_found, traceability,
       trace_issues, body, recorded_by, created_at)
     VALUES ('bench', 'bench-edge-00:${seq}', 'GAUGE-A', 'record', 'bench-edge-00', ${seq}, '${at}', '${res}', 'ok', '[]',
       '{"standards":[],"points":[{"name":"p@800","nominal":800,"unit":"bar","asFound":${res === 'pass' ? 800.5 : 806},"lowerTolerance":-2,"upperTolerance":2,"asFoundResult":"${res}"}],"adjusted":false,"asFoundResult":"${res}","calibratedAt":"${at}"}',
       'edge:bench-edge-00', ${q.now})`,
  ];
  const plain = (label: string) => (sql: string) => ({ label, sql });
  /**
   * An INSERT into records that also writes the records' leaves (PostgreSQL: record_log, which
   * the derived tables' foreign keys name; ingest writes both in one statement the same way).
   */
  const leaves = (sql: string) =>
    d === 'postgres'
      ? `WITH r AS (${sql} RETURNING tenant_id, edge_id, seq, observed_at, leaf_hash)
         INSERT INTO record_log (tenant_id, edge_id, seq, observed_at, leaf_hash) SELECT * FROM r`
      : sql;
  return [
    ...Array.from({ length: SITES }, (_, i) =>
      plain('sites')(
        `INSERT INTO sites (tenant_id, id, name, created_at) VALUES ('bench', 'site-${String(i).padStart(2, '0')}', 'Site ${i}', ${q.now})`,
      ),
    ),
    plain('edges')(`INSERT INTO edges (tenant_id, id, site_id, name, public_key, enrolled_at)
     SELECT 'bench', 'bench-edge-' || ${q.pad(n, 2)}, ${site(n)}, 'edge ' || ${n}, ${q.blob}, ${q.now}
     FROM ${q.numbers(SITES)}`),
    ...chunked('records', (from, to) =>
      leaves(`INSERT INTO records (tenant_id, edge_id, seq, id, kind, equipment, observed_at, json, leaf_hash, ingested_at, replayed)
     SELECT 'bench', ${edge}, ${seq}, ${edge} || ':' || ${seq}, ${kind}, ${rig}, ${at}, ${json}, ${q.blob}, ${q.now}, ${q.bool(false)}
     FROM ${q.numbers(to, from)}`),
    ),
    ...chunked(
      'traceable_records',
      (
        from,
        to,
      ) => `INSERT INTO traceable_records (tenant_id, edge_id, seq, kind, site_id, equipment, observed_at, part_serial, work_order, result, cycles)
     SELECT 'bench', ${edge}, ${seq}, ${kind}, ${site(n)}, ${rig}, ${at}, ${part}, 'WO-1',
       CASE WHEN ${n} % 10 = 0 THEN ${result} ELSE NULL END, CASE WHEN ${n} % 10 = 5 THEN 1 ELSE NULL END
     FROM ${q.numbers(to, from)} WHERE ${n} % 5 = 0`,
    ),
    ...chunked(
      'record_gauges',
      (from, to) => `INSERT INTO record_gauges (tenant_id, gauge, observed_at, edge_id, seq)
     SELECT 'bench', ${gauge}, ${at}, ${edge}, ${seq} FROM ${q.numbers(to, from)} WHERE ${n} % 10 = 0`,
    ),
    plain(
      'equipment',
    )(`INSERT INTO equipment (tenant_id, tag, site_id, type, interval_days, is_reference_standard, spec, last_valid_at,
       next_due, out_of_tolerance, due_sort, created_at, updated_at)
     SELECT 'bench', ${tag}, ${site(n)}, CASE WHEN ${n} < ${RIGS} THEN 'rig' ELSE 'gauge' END, 365, ${q.bool(false)},
       '{"description":"bench"}', ${q.iso(calMs)}, ${q.date(`${calMs} + ${365 * 86_400_000}`)},
       CASE WHEN ${gaugeA} THEN ${q.bool(true)} ELSE ${q.bool(false)} END,
       CASE WHEN ${gaugeA} THEN '0000-01-01' ELSE ${q.date(`${calMs} + ${365 * 86_400_000}`)} END, ${q.now}, ${q.now}
     FROM ${q.numbers(EQUIPMENT)}`),
    // The calibration records the calibrations come from (the calibrations table refers to them).
    plain('calibration records')(
      leaves(`INSERT INTO records (tenant_id, edge_id, seq, id, kind, equipment, observed_at, json, leaf_hash, ingested_at, replayed)
     SELECT 'bench', ${calEdge}, ${calSeq}, ${calEdge} || ':' || ${calSeq}, 'calibration', ${tag}, ${q.iso(calMs)}, '{}', ${q.blob}, ${q.now}, ${q.bool(false)}
     FROM ${q.numbers(EQUIPMENT)} WHERE NOT (${gaugeA})`),
    ),
    plain(
      'calibrations',
    )(`INSERT INTO calibrations (tenant_id, id, equipment, source, edge_id, seq, calibrated_at, as_found, traceability,
       trace_issues, body, recorded_by, created_at)
     SELECT 'bench', ${calEdge} || ':' || ${calSeq}, ${tag}, 'record', ${calEdge}, ${calSeq}, ${q.iso(calMs)}, 'pass', 'ok', '[]',
       ${calBody}, 'edge:' || ${calEdge}, ${q.now}
     FROM ${q.numbers(EQUIPMENT)} WHERE NOT (${gaugeA})`),
    ...gaugeCal(200000000, new Date(START - 86_400_000).toISOString(), 'pass').map(plain('GAUGE-A')),
    ...gaugeCal(200000001, new Date(END).toISOString(), 'fail').map(plain('GAUGE-A')),
  ];
}

interface Target {
  overrides: Record<string, string>;
  /** Runs SQL as the schema owner. */
  exec(sql: string): Promise<void>;
  built(): Promise<boolean>;
  /** The secondary (not primary-key or unique) indexes of the tables: name and CREATE statement. */
  indexes(tables: string[]): Promise<{ name: string; sql: string }[]>;
  /** Bytes the data set takes on disk. */
  size(): Promise<number>;
  analyze(): Promise<void>;
  close(): Promise<void>;
  /** Closes and removes the data set. */
  drop(): Promise<void>;
}

async function sqliteTarget(): Promise<Target> {
  const dataDir = path.join(ROOT, `sqlite-${SCALE}`);
  mkdirSync(dataDir, { recursive: true });
  const overrides = { dataDir };
  const store = await openStore(loadCloudConfig({}, overrides));
  await store.db.close();
  const sqlite3 = (await import('sqlite3')).default;
  const db = await new Promise<InstanceType<typeof sqlite3.Database>>((res, rej) => {
    const d = new sqlite3.Database(path.join(dataDir, 'cloud.sqlite'), (e) => (e ? rej(e) : res(d)));
  });
  const exec = (sql: string) => new Promise<void>((res, rej) => db.exec(sql, (e) => (e ? rej(e) : res())));
  const all = <T>(sql: string) =>
    new Promise<T[]>((res, rej) => db.all(sql, (e, rows: T[]) => (e ? rej(e) : res(rows))));
  // Build settings of this connection (the cloud opens its own): no foreign-key checks, no fsync,
  // a 1 GiB page cache and index sorts in memory.
  await exec(
    'PRAGMA journal_mode=WAL; PRAGMA foreign_keys=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-1048576; PRAGMA temp_store=MEMORY',
  );
  return {
    overrides,
    exec,
    indexes: (tables) =>
      all<{ name: string; sql: string }>(
        `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL
         AND tbl_name IN (${tables.map((t) => `'${t}'`).join(', ')}) AND sql NOT LIKE 'CREATE UNIQUE%'`,
      ),
    size: () =>
      Promise.resolve(
        ['cloud.sqlite', 'cloud.sqlite-wal']
          .map((f) => path.join(dataDir, f))
          .filter((f) => existsSync(f))
          .reduce((sum, f) => sum + statSync(f).size, 0),
      ),
    built: () =>
      new Promise((res) =>
        db.get(`SELECT scale FROM bench_built`, (e, row: { scale?: string } | undefined) =>
          res(!e && row?.scale === SCALE),
        ),
      ),
    analyze: () => exec('ANALYZE'),
    close: () => new Promise((res) => db.close(() => res())),
    drop: async () => {
      await new Promise<void>((res) => db.close(() => res()));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function postgresTarget(): Promise<Target> {
  const name = `rt_bench_q_${EQUIPMENT}_${RECORDS}`;
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: PG_ADMIN_URL });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${name}`;
  const url = u.toString();
  const exists = async () => {
    const c = new pg.Client({ connectionString: PG_ADMIN_URL });
    await c.connect();
    try {
      return (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
    } finally {
      await c.end();
    }
  };
  if (!(await exists())) await admin(`CREATE DATABASE ${name}`);
  const overrides = {
    dataDir: path.join(ROOT, `pg-${SCALE}`),
    databaseUrl: url,
    dbAppRole: `${name}_app`,
  };
  mkdirSync(overrides.dataDir, { recursive: true });
  const store = await openStore(loadCloudConfig({}, overrides));
  await store.db.close();
  const owner = new pg.Client({ connectionString: url });
  await owner.connect();
  // Build settings of this session: no commit wait, memory for index builds, and no triggers
  // (the foreign-key checks: the data set is consistent by construction; needs a superuser).
  await owner.query(`SET synchronous_commit = off; SET maintenance_work_mem = '512MB'`);
  await owner.query(`SET session_replication_role = replica`).catch(() => undefined);
  return {
    overrides,
    exec: async (sql) => void (await owner.query(sql)),
    indexes: async (tables) =>
      (
        await owner.query<{ name: string; sql: string }>(
          `SELECT i.relname AS name, pg_get_indexdef(i.oid) AS sql FROM pg_index x
           JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
           WHERE t.relname = ANY($1) AND NOT x.indisprimary AND NOT x.indisunique`,
          [tables],
        )
      ).rows,
    size: async () =>
      Number(
        (await owner.query<{ n: string }>('SELECT pg_database_size(current_database()) AS n')).rows[0]!.n,
      ),
    built: async () => {
      try {
        return (
          (await owner.query<{ scale: string }>('SELECT scale FROM bench_built')).rows[0]?.scale === SCALE
        );
      } catch {
        return false;
      }
    },
    analyze: async () => void (await owner.query('ANALYZE')),
    close: () => owner.end(),
    drop: async () => {
      await owner.end();
      await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

async function benchBackend(backend: Dialect) {
  let buildSeconds: number | undefined;
  let target = backend === 'sqlite' ? await sqliteTarget() : await postgresTarget();
  if (REBUILD || !(await target.built())) {
    // Whatever a rebuild or an interrupted build left: start from an empty database.
    await target.drop();
    target = backend === 'sqlite' ? await sqliteTarget() : await postgresTarget();
    const t0 = performance.now();
    const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(0)} s`;
    const store = await openStore(loadCloudConfig({}, target.overrides));
    await store.tenancy.createTenant('bench', 'Bench').catch(() => undefined);
    await store.db.close();
    // Secondary indexes of the record tables are built once after the load (quicker than
    // maintained row by row through it).
    const indexes = await target.indexes(LOADED_TABLES);
    for (const ix of indexes) await target.exec(`DROP INDEX ${ix.name}`);
    const steps = [
      ...buildStatements(backend),
      ...indexes.map((ix) => ({ label: `index ${ix.name}`, sql: ix.sql })),
      // The first-pass yield rollup and each part's first inspection time, as migrations 75 and 92
      // back-fill them (ingest keeps them after that): after the indexes, which the back-fill's
      // first-inspection lookup needs (without them SQLite scans the records once per part).
      { label: 'yield_quarters', sql: FILL_YIELD_QUARTERS },
      { label: 'part_firsts', sql: FILL_PART_FIRSTS },
      { label: 'analyze', sql: '' },
      {
        label: 'done',
        sql: `CREATE TABLE bench_built (scale TEXT NOT NULL); INSERT INTO bench_built VALUES ('${SCALE}')`,
      },
    ];
    for (const [i, step] of steps.entries()) {
      if (step.label === 'analyze') await target.analyze();
      else await target.exec(step.sql);
      // Progress for the long build (a 10 M build takes a while): one line per big step.
      if (!/^(sites|GAUGE-A)$/.test(step.label))
        process.stderr.write(`  build ${backend} ${i + 1}/${steps.length}: ${step.label} — ${elapsed()}\n`);
    }
    buildSeconds = (performance.now() - t0) / 1000;
    process.stderr.write(`built ${backend}: ${EQUIPMENT} equipment, ${RECORDS} records in ${elapsed()}\n`);
  }
  const bytes = await target.size();
  process.stderr.write(`${backend} data set: ${(bytes / 2 ** 30).toFixed(2)} GiB on disk\n`);
  await target.close();

  const store = await openStore(loadCloudConfig({}, target.overrides));
  const token = await store.tenancy.createApiToken('bench', `queries ${randomBytes(3).toString('hex')}`);
  await store.db.close();
  const cloud = await startCloud(
    loadCloudConfig({}, { ...target.overrides, port: '0', remindersScheduler: 'off' }),
    pino({ level: 'warn' }),
  );
  const get = async (p: string, check?: (body: { items?: unknown[] }) => boolean): Promise<number> => {
    const t0 = performance.now();
    const res = await fetch(`${cloud.url}/api/v1${p}`, { headers: { authorization: `Bearer ${token}` } });
    const body = await res.text();
    const ms = performance.now() - t0;
    if (res.status !== 200) throw new Error(`${p}: ${res.status} ${body.slice(0, 300)}`);
    // The answer holds what the data set puts there (not an empty page that is quick to serve).
    if (check && !check(JSON.parse(body) as { items?: unknown[] }))
      throw new Error(`${p}: unexpected answer ${body.slice(0, 300)}`);
    return ms;
  };
  const site = (i: number) => `site-${String(i % SITES).padStart(2, '0')}`;
  const dayIso = (d: number) => new Date(END - d * 86_400_000).toISOString();
  const queries: {
    name: string;
    path: (i: number) => string;
    check?: (body: { items?: unknown[] }) => boolean;
  }[] = [
    {
      name: 'due-list for a site (30 days)',
      path: (i) => `/due-list?site=${site(i)}&asOf=2026-11-30`,
      check: (b) => JSON.stringify(b).includes('"tag"'),
    },
    {
      name: 'register list page (100)',
      path: (i) => `/equipment?site=${site(i)}&limit=100`,
      check: (b) => b.items?.length === Math.min(100, EQUIPMENT / SITES),
    },
    {
      name: 'equipment page',
      path: (i) =>
        `/equipment/${i % 2 ? `RIG-${String((i * 97) % RIGS).padStart(5, '0')}` : `EQ-${String(RIGS + 2 + ((i * 7919) % (EQUIPMENT - RIGS - 2))).padStart(6, '0')}`}`,
    },
    {
      name: 'suspect records of a failed gauge, page of 1000',
      path: () => '/equipment/GAUGE-A/suspect-records?limit=1000',
      check: (b) => b.items?.length === Math.min(1000, RECORDS / 20),
    },
    {
      name: 'inspections by part serial',
      path: (i) => `/inspections?partSerial=P-${(i * 1237) % Math.floor(RECORDS / 20)}`,
      check: (b) => b.items?.length === 2,
    },
    {
      name: 'first-pass yield, 30 days, a site',
      // A part's first inspection is record n with n % 20 = 0, sent by the edge of site n % 100:
      // sites 00, 20, 40, 60 and 80 have first inspections (the others' are second ones).
      path: (i) => `/yield?site=${site((i % 5) * 20)}&from=${dayIso(30)}&to=${dayIso(0)}`,
      check: (b) => JSON.stringify(b).includes('"tested"'),
    },
    {
      name: 'first-pass yield, 30 days, whole tenant',
      path: () => `/yield?from=${dayIso(30)}&to=${dayIso(0)}`,
    },
  ];
  try {
    const baseline: number[] = [];
    for (let i = 0; i < 3; i++) await get('/calibration-settings');
    for (let i = 0; i < SAMPLES; i++) baseline.push(await get('/calibration-settings'));
    const base95 = percentile(baseline, 95);
    for (const q of queries) {
      for (let i = 0; i < 2; i++) await get(q.path(1000 + i), q.check);
      const lat: number[] = [];
      for (let i = 0; i < SAMPLES; i++) lat.push(await get(q.path(i)));
      const p95 = percentile(lat, 95);
      report({
        bench: 'queries at scale',
        metric: `${q.name}, p95 (${backend})`,
        value: Math.round(p95 * 10) / 10,
        unit: 'ms',
        baseline: Math.round(base95 * 10) / 10,
        baselineName: 'GET /calibration-settings p95, same run',
        ratio: p95 / base95,
        target: 'p95 <= 200 ms',
        pass: p95 <= 200,
        note: `${EQUIPMENT} equipment, ${RECORDS} records; p50 ${percentile(lat, 50).toFixed(1)} ms; ${SAMPLES} requests; load average ${loadAverage()}`,
      });
    }
    report({
      bench: 'queries at scale',
      metric: `data set on disk (${backend})`,
      value: Math.round((bytes / 2 ** 30) * 100) / 100,
      unit: 'GiB',
      note: `${EQUIPMENT} equipment, ${RECORDS} records; ${buildSeconds === undefined ? 'reused' : `built in ${buildSeconds.toFixed(0)} s`}; bench process peak RSS ${peakRssMiB().toFixed(0)} MiB; load average ${loadAverage()}`,
    });
  } finally {
    await cloud.close();
  }
}

/** BENCH_BACKENDS=sqlite or =postgres runs one backend (e.g. each in its own process). */
for (const b of (process.env.BENCH_BACKENDS ?? 'sqlite,postgres').split(',') as Dialect[])
  await benchBackend(b);
