/**
 * Compliance reports at scale: an out-of-tolerance report whose one failed gauge has
 * BENCH_REPORT_RECORDS (100,000) suspect usage and inspection records, generated as PDF and as
 * CSV through the real job path (ReportService: build, stream, store the file in the database in
 * chunks, audit entries), on SQLite and on PostgreSQL. Target: under 30 s each. Baseline,
 * measured in the same run: reading the same rows with one plain SELECT (the floor any report of
 * them costs). Memory: peak RSS of this process while generating (VmHWM reset after seeding).
 *
 * Seeding goes straight through the repositories (records, traceability index, calibrations,
 * register), not through ingest, for speed.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import pino from 'pino';
import { canonicalJson, generateKeyPair, recordLeafHash } from '@rigtrace/protocols';
import { deterministicUuidV7, repoRoot } from '@rigtrace/protocols/testing';
import { peakRssMiB, report } from '../../protocols/bench/report.js';
import { loadCloudConfig } from '../src/platform/config.js';
import type { Principal } from '../src/access/policy.js';
import { AuditRepository } from '../src/audit/audit.repository.js';
import type { GaugeUse, TraceableRow } from '../src/production/inspection.repository.js';
import type { NewRecordRow } from '../src/records/records.repository.js';
import { openStore } from '../src/server.js';
import { AuditService } from '../src/audit/audit.service.js';
import type { CalibrationService } from '../src/calibration/calibration.service.js';
import { TraceabilityService } from '../src/calibration/traceability.service.js';
import { Witness } from '../src/platform/witness.js';
import { createReports } from '../src/reports/index.js';

const N = Number(process.env.BENCH_REPORT_RECORDS ?? 100_000);
const PG_ADMIN_URL = process.env.RIGTRACE_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const DAY = 86_400_000;
const T_GOOD = Date.now() - 200 * DAY;
const T_FAIL = Date.now() - DAY;
const TENANT = 'bench';
const GAUGE = 'PT-RAIL-BENCH';
const RIG = 'RIG-FLOW-BENCH';

function resetPeakRss() {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    // not Linux: the peak then includes seeding
  }
}

async function run(backend: 'sqlite' | 'postgres') {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `rt-bench-reports-${backend}-`));
  let dbName = '';
  let overrides: Record<string, string> = { dataDir };
  if (backend === 'postgres') {
    dbName = `rt_bench_reports_${process.pid}`;
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${dbName}`);
    await admin.end();
    const u = new URL(PG_ADMIN_URL);
    u.pathname = `/${dbName}`;
    overrides = { dataDir, databaseUrl: u.toString(), dbAppRole: `${dbName}_app` };
  }
  const cfg = loadCloudConfig({}, overrides);
  const store = await openStore(cfg);
  // The witness key, created once here: the generating child processes load the same one.
  Witness.load(cfg.dataDir, cfg.witnessName);
  try {
    await store.tenancy.createTenant(TENANT, 'Bench Injector Works');
    await store.tenancy.createSite(TENANT, 'plant-1', 'Plant 1');
    const edge = 'bench-edge-0001';
    await store.tenancy.createEdge({
      tenantId: TENANT,
      id: edge,
      siteId: 'plant-1',
      name: 'line-1',
      publicKey: generateKeyPair().publicKey,
    });
    const t0 = performance.now();
    const CHUNK = 2000;
    for (let from = 1; from <= N; from += CHUNK) {
      const rows: NewRecordRow[] = [];
      const trace: TraceableRow[] = [];
      const gauges: GaugeUse[] = [];
      for (let seq = from; seq < Math.min(from + CHUNK, N + 1); seq++) {
        const observedAt = new Date(
          T_GOOD + DAY + Math.floor(((T_FAIL - T_GOOD - 2 * DAY) * seq) / N),
        ).toISOString();
        const usage = seq % 2 === 0;
        const rec = {
          v: 1,
          id: deterministicUuidV7(Date.parse(observedAt), new TextEncoder().encode(`${edge}:${seq}`)),
          edge,
          seq,
          observedAt,
          receivedAt: observedAt,
          kind: usage ? 'usage' : 'inspection',
          equipment: usage ? GAUGE : RIG,
          source: { protocol: 'modbus', endpoint: 'modbus-tcp://10.0.0.9:502' },
          body: usage
            ? {
                event: 'cycle',
                cycles: 1,
                operator: `op-${seq % 40}`,
                workOrder: `WO-${seq % 500}`,
                partSerial: `INJ-${seq}`,
              }
            : {
                partSerial: `INJ-${seq}`,
                workOrder: `WO-${seq % 500}`,
                operator: `op-${seq % 40}`,
                result: seq % 50 === 1 ? 'fail' : 'pass',
                characteristics: [
                  {
                    name: 'full-load.quantity',
                    nominal: 62,
                    lsl: 60,
                    usl: 64,
                    measured: seq % 50 === 1 ? 64.5 : 62.1,
                    unit: 'mm3',
                    result: seq % 50 === 1 ? 'fail' : 'pass',
                  },
                ],
                gauges: [GAUGE],
              },
        };
        rows.push({
          seq,
          id: rec.id,
          kind: rec.kind,
          equipment: rec.equipment,
          observedAt,
          json: canonicalJson(rec),
          leafHash: recordLeafHash(rec),
          replayed: false,
        });
        trace.push({
          edgeId: edge,
          seq,
          kind: rec.kind as 'usage' | 'inspection',
          siteId: 'plant-1',
          equipment: rec.equipment,
          observedAt,
          partSerial: `INJ-${seq}`,
          workOrder: `WO-${seq % 500}`,
          result: usage ? null : seq % 50 === 1 ? 'fail' : 'pass',
          cycles: usage ? 1 : null,
        });
        if (!usage) gauges.push({ gauge: GAUGE, observedAt, edgeId: edge, seq });
      }
      await store.db.transaction(async () => {
        await store.records.insertRecords(TENANT, edge, rows, new Date().toISOString());
        await store.inspections.insert(TENANT, trace, gauges);
      });
    }
    const now = new Date().toISOString();
    for (const tag of [GAUGE, RIG])
      await store.equipment.insert(
        TENANT,
        {
          tag,
          siteId: 'plant-1',
          type: 'pressure transducer',
          intervalDays: 365,
          intervalCycles: null,
          dueSoonDays: null,
          isReferenceStandard: false,
          stdDueDate: null,
          spec: '{}',
        },
        now,
      );
    const cal = (id: string, atMs: number, asFound: 'pass' | 'fail') =>
      store.calibrations.insert(
        TENANT,
        {
          id,
          equipment: GAUGE,
          source: 'manual',
          edge_id: null,
          seq: null,
          calibrated_at: new Date(atMs).toISOString(),
          as_found: asFound,
          as_left: null,
          traceability: 'ok',
          trace_issues: '[]',
          body: canonicalJson({
            standards: [],
            points: [
              {
                name: 'p@800',
                nominal: 800,
                unit: 'bar',
                asFound: asFound === 'pass' ? 800.4 : 806.2,
                lowerTolerance: -2,
                upperTolerance: 2,
                asFoundResult: asFound,
              },
            ],
            adjusted: false,
            asFoundResult: asFound,
            calibratedAt: new Date(atMs).toISOString(),
          }),
          entered_by: 'bench',
          recorded_by: 'bench',
          evidence_sha256: null,
        },
        now,
      );
    await cal('manual:good', T_GOOD, 'pass');
    await cal('manual:fail', T_FAIL, 'fail');
    const seedS = (performance.now() - t0) / 1000;
    process.stderr.write(`${backend}: seeded ${N} records in ${seedS.toFixed(1)} s\n`);

    // Baseline: the same rows, one plain SELECT.
    const b0 = performance.now();
    const plain = await store.db.withTenant(TENANT, () =>
      store.db.all<{ seq: number }>(
        `SELECT t.edge_id, t.seq, t.kind, t.observed_at, t.part_serial, t.work_order, t.result, r.json FROM traceable_records t
         JOIN records r ON r.tenant_id = t.tenant_id AND r.edge_id = t.edge_id AND r.seq = t.seq
         WHERE t.tenant_id = ? AND t.observed_at > ? AND t.observed_at <= ?`,
        [TENANT, new Date(T_GOOD).toISOString(), new Date(T_FAIL).toISOString()],
      ),
    );
    const baselineS = (performance.now() - b0) / 1000;
    if (plain.length !== N) throw new Error(`baseline read ${plain.length} rows, expected ${N}`);

    const from = new Date(T_GOOD - DAY).toISOString().slice(0, 10);
    const to = new Date().toISOString().slice(0, 10);
    const formats = (process.env.BENCH_REPORT_FORMATS ?? 'pdf,csv').split(',') as ('pdf' | 'csv' | 'json')[];
    for (const format of formats) {
      // Each generation in a process of its own: its peak RSS is the report's, not the seeding's.
      const out = await new Promise<string>((resolve, reject) => {
        execFile(
          process.execPath,
          [
            '--conditions=rigtrace-source',
            '--import',
            'tsx',
            '--expose-gc',
            // e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile a generation
            ...(process.env.BENCH_REPORT_CHILD_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
            fileURLToPath(import.meta.url),
          ],
          {
            cwd: repoRoot,
            encoding: 'utf8',
            maxBuffer: 1 << 20,
            env: { ...process.env, BENCH_REPORT_CHILD: JSON.stringify({ overrides, format, from, to }) },
          },
          (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
        );
      });
      const r = JSON.parse(out.trim().split('\n').at(-1)!) as ChildResult;
      process.stderr.write(
        `${backend} ${format}: ${r.seconds.toFixed(2)} s, ${(r.size / 1e6).toFixed(1)} MB, ${r.rows} rows, peak RSS ${r.peakRss.toFixed(0)} MiB (${r.startRss.toFixed(0)} MiB before)\n`,
      );
      report({
        bench: `reports ${backend}`,
        metric: `out-of-tolerance ${format}, ${N} suspect records: seconds`,
        value: Math.round(r.seconds * 100) / 100,
        unit: 's',
        baseline: Math.round(baselineS * 100) / 100,
        baselineName: 'one plain SELECT of the same rows',
        ratio: Math.round((r.seconds / baselineS) * 100) / 100,
        target: '< 30 s',
        pass: r.seconds < 30,
        note: `file ${(r.size / 1e6).toFixed(1)} MB`,
      });
      report({
        bench: `reports ${backend}`,
        metric: `out-of-tolerance ${format}: peak RSS`,
        value: Math.round(r.peakRss),
        unit: 'MiB',
        baseline: Math.round(r.startRss),
        baselineName: 'the same process before generating',
        ratio: Math.round((r.peakRss / r.startRss) * 100) / 100,
      });
    }
  } finally {
    await store.db.close();
    rmSync(dataDir, { recursive: true, force: true });
    if (dbName) {
      const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await admin.query(`DROP ROLE IF EXISTS ${dbName}_app`);
      await admin.end();
    }
  }
}

interface ChildResult {
  seconds: number;
  size: number;
  rows: number;
  peakRss: number;
  startRss: number;
}

/** One generation through the job path, in this (child) process. */
async function child(spec: {
  overrides: Record<string, string>;
  format: 'pdf' | 'csv' | 'json';
  from: string;
  to: string;
}) {
  const cfg = loadCloudConfig({}, spec.overrides);
  const store = await openStore(cfg);
  const witness = Witness.load(cfg.dataDir, cfg.witnessName);
  const audit = new AuditService(store.db, new AuditRepository(store.db), witness);
  const traceability = new TraceabilityService(
    undefined as unknown as CalibrationService,
    store.calibrations,
    store.inspections,
  );
  const reports = createReports({
    db: store.db,
    tenancy: store.tenancy,
    records: store.records,
    traceability,
    audit,
    witness,
    logger: pino({ level: 'warn' }),
  });
  const principal: Principal = { kind: 'user', tenantId: TENANT, id: 'bench', role: 'auditor', sites: null };
  if (typeof global.gc === 'function') global.gc();
  const startRss = process.memoryUsage().rss / 1048576;
  resetPeakRss();
  const started = performance.now();
  const queued = await reports.service.request(
    principal,
    { type: 'user', id: 'bench', role: 'auditor' },
    null,
    {
      type: 'out-of-tolerance',
      from: spec.from,
      to: spec.to,
      format: spec.format,
    },
  );
  await reports.service.idle();
  const seconds = (performance.now() - started) / 1000;
  const peakRss = peakRssMiB();
  const done = await reports.service.get(principal, queued.id);
  if (done.state !== 'done') throw new Error(`report ${spec.format} ended ${done.state}: ${done.error}`);
  const summary = done.summary as { suspectRecords: number };
  if (summary.suspectRecords !== N)
    throw new Error(`the report lists ${summary.suspectRecords} suspect records, expected ${N}`);
  await reports.service.close();
  await store.db.close();
  const r: ChildResult = { seconds, size: done.file!.size, rows: done.progress.total, peakRss, startRss };
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

if (process.env.BENCH_REPORT_CHILD) {
  await child(JSON.parse(process.env.BENCH_REPORT_CHILD) as Parameters<typeof child>[0]);
} else {
  const only = process.env.BENCH_REPORT_BACKEND;
  for (const b of ['sqlite', 'postgres'] as const) if (!only || only === b) await run(b);
}
