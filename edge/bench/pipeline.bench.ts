/**
 * Edge pipeline: records/s through normalize → canonical JSON → leaf hash → compact range →
 * signed checkpoint → durable multi-row insert (EdgeLog), against the raw SQLite ceiling: the
 * same records serialized once with JSON.stringify and inserted into the same table as 500-row
 * multi-row INSERTs, 1,000 rows per transaction, same pragmas (WAL, synchronous=FULL), in the same
 * run. Target: at least 0.7 of the ceiling.
 *
 * A second, informational figure compares against a stricter ceiling that also inserts the way
 * EdgeLog does (statements prepared once, 4 bound values per row with the leaf hash, the rest
 * derived in SQL), so the
 * log's own cost is visible apart from its insert technique.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateKeyPair } from '@rigtrace/protocols';
import { report } from '../../protocols/bench/report.js';
import { EdgeLog, type RecordDraft } from '../src/buffer/edge-log.js';
import { SqliteConnection } from '../src/buffer/sqlite.js';

const N = 60_000;
const PER_APPEND = 20; // records a collector hands over at once
const keys = generateKeyPair();

function draft(i: number): RecordDraft {
  const t = new Date(1_795_000_000_000 + i * 10).toISOString();
  return {
    kind: 'telemetry',
    equipment: `RIG-${String(i % 50).padStart(2, '0')}`,
    observedAt: t,
    receivedAt: t,
    source: { endpoint: 'modbus-tcp://10.0.0.1:502', protocol: 'modbus' },
    body: {
      // As the collectors build them: keys in canonical order.
      points: Array.from({ length: 8 }, (_, p) => ({
        name: `p${p}`,
        quality: 'good' as const,
        unit: 'bar',
        value: 1000 + ((i * 7 + p) % 997) / 10,
      })),
    },
  };
}

async function pipeline(): Promise<number> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-bench-'));
  const log = await EdgeLog.open(
    dir,
    { edgeId: 'bench-edge', privateKeyPem: keys.privateKeyPem },
    { commitIntervalMs: 5 },
  );
  const drafts = Array.from({ length: N }, (_, i) => draft(i));
  const t0 = performance.now();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < N; i += PER_APPEND) pending.push(log.append(drafts.slice(i, i + PER_APPEND)));
  await Promise.all(pending);
  const s = (performance.now() - t0) / 1000;
  if (log.lastSeq !== N) throw new Error(`expected ${N} records, log has ${log.lastSeq}`);
  await log.close();
  rmSync(dir, { recursive: true, force: true });
  return N / s;
}

async function rawSqlite(): Promise<number> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-bench-'));
  const db = await SqliteConnection.open(path.join(dir, 'raw.sqlite'));
  await db.exec('PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;');
  await db.exec(
    'CREATE TABLE records (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, json TEXT NOT NULL, bytes INTEGER NOT NULL, created_at INTEGER NOT NULL)',
  );
  const drafts = Array.from({ length: N }, (_, i) => draft(i));
  const batch = 1000; // what one EdgeLog transaction holds at most
  const t0 = performance.now();
  for (let i = 0; i < N; i += batch) {
    // The least any JSON store does: serialize each record once (JSON.stringify), then insert.
    const chunk = drafts.slice(i, i + batch).map((d, j) => {
      const json = JSON.stringify({ seq: i + j + 1, ...d });
      return [i + j + 1, `id-${i + j}`, 'telemetry', json, json.length, Date.now()];
    });
    await db.exec('BEGIN IMMEDIATE');
    for (let j = 0; j < chunk.length; j += 500) {
      const part = chunk.slice(j, j + 500);
      await db.run(
        `INSERT INTO records (seq, id, kind, json, bytes, created_at) VALUES ${part.map(() => '(?,?,?,?,?,?)').join(',')}`,
        part.flat(),
      );
    }
    await db.exec('COMMIT');
  }
  const s = (performance.now() - t0) / 1000;
  await db.close();
  rmSync(dir, { recursive: true, force: true });
  return N / s;
}

/** The same rows as rawSqlite, inserted as EdgeLog inserts them: see insertRecordsSql in edge-log.ts. */
async function rawSqlitePrepared(): Promise<number> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-bench-'));
  const db = await SqliteConnection.open(path.join(dir, 'raw.sqlite'));
  await db.exec('PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;');
  await db.exec(
    'CREATE TABLE records (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, json TEXT NOT NULL, bytes INTEGER NOT NULL, created_at INTEGER NOT NULL, leaf BLOB)',
  );
  const rows = Array.from({ length: 500 }, (_, k) => {
    const p = 4 * k + 3;
    const json = `?${p + 2}`;
    return `(?1+${k},?${p},?${p + 1},${json},length(CAST(${json} AS BLOB)),?2,?${p + 3})`;
  });
  const insert = await db.prepare(
    `INSERT INTO records (seq, id, kind, json, bytes, created_at, leaf) VALUES ${rows.join(',')}`,
  );
  const leaf = Buffer.alloc(32, 7);
  const drafts = Array.from({ length: N }, (_, i) => draft(i));
  const t0 = performance.now();
  for (let i = 0; i < N; i += 1000) {
    const now = Date.now();
    const chunks: (string | number | Buffer)[][] = [];
    for (let j = 0; j < 1000; j += 500) {
      const params: (string | number | Buffer)[] = [i + j + 1, now];
      for (let k = i + j; k < i + j + 500; k++)
        params.push(`id-${k}`, 'telemetry', JSON.stringify({ seq: k + 1, ...drafts[k] }), leaf);
      chunks.push(params);
    }
    await db.exec('BEGIN IMMEDIATE');
    for (const params of chunks) await insert.run(params);
    await db.exec('COMMIT');
  }
  const s = (performance.now() - t0) / 1000;
  await insert.finalize();
  await db.close();
  rmSync(dir, { recursive: true, force: true });
  return N / s;
}

// Warm up once, then alternate to share the machine's noise fairly.
await rawSqlite();
await rawSqlitePrepared();
const ceil: number[] = [];
const strict: number[] = [];
const pipe: number[] = [];
for (let r = 0; r < 3; r++) {
  ceil.push(await rawSqlite());
  pipe.push(await pipeline());
  strict.push(await rawSqlitePrepared());
}
const best = (xs: number[]) => Math.max(...xs);
const ratio = best(pipe) / best(ceil);
report({
  bench: 'edge pipeline',
  metric: 'records/s, collect → log → durable buffer',
  value: best(pipe),
  unit: 'records/s',
  baseline: best(ceil),
  baselineName: 'JSON.stringify + raw SQLite multi-row insert',
  ratio,
  target: '>= 0.7 of baseline',
  pass: ratio >= 0.7,
});
report({
  bench: 'edge pipeline',
  metric: 'records/s, against a ceiling inserting as EdgeLog does',
  value: best(pipe),
  unit: 'records/s',
  baseline: best(strict),
  baselineName: 'JSON.stringify + prepared 4-value-per-row multi-row insert',
  ratio: best(pipe) / best(strict),
});
