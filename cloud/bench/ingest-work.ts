/**
 * Shared by the cloud's ingest benches (ingest.bench.ts, processes.bench.ts): records as a line of
 * rigs produces them, signed batches as the edge sends them, a fresh PostgreSQL database, a tenant
 * with enrollment tokens, and the cloud started as the service is (`rigtrace-cloud serve`).
 * Not a bench itself (the harness runs only `*.bench.ts`).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { canonicalJson, type LogState } from '@rigtrace/protocols';
import { buildBatch, deterministicUuidV7, repoRoot, startNode, type Proc } from '@rigtrace/protocols/testing';
import { createAccounts } from '../src/access/accounts.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { Witness } from '../src/platform/witness.js';
import { openStore } from '../src/server.js';

/** The machine's PostgreSQL, administrator connection (trust auth). */
export const PG_ADMIN_URL =
  process.env.RIGTRACE_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Observed times of every bench record start an hour ago. */
const T0 = Date.now() - 3_600_000;

// ---------------------------------------------------------------------------------------------
// Records as a line of rigs produces them: mostly telemetry, some usage and inspections.

/**
 * `line`: a prefix of the equipment tags, the gauge and the part serials (each edge its own rigs
 * and parts, as lines of a plant are); none: shared by every edge.
 */
export function record(edge: string, seq: number, line = '') {
  const observedAt = new Date(T0 + seq * 10).toISOString();
  const equipment = `${line}RIG-${String(seq % 20).padStart(2, '0')}`;
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
        partSerial: `${line}P-${seq}`,
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
        gauges: [`${line}FLOW-CELL-07`],
      },
    };
  if (seq % 20 === 10)
    return {
      ...envelope,
      kind: 'usage',
      source: { protocol: 'modbus', endpoint: 'modbus://10.0.0.1:502/1' },
      body: { event: 'cycle', cycles: 1, operator: 'op-1', workOrder: 'WO-1', partSerial: `${line}P-${seq}` },
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

export type BenchRecord = ReturnType<typeof record>;

/**
 * A batch as the edge sends it (edge/src/forwarder/forwarder.ts): each record as the canonical
 * JSON the edge stored and hashed, spliced into the body.
 */
export function onTheWire(batch: unknown): string {
  const b = batch as { edge: string; records: unknown[]; checkpoint: string };
  return `{"v":1,"edge":${JSON.stringify(b.edge)},"records":[${b.records.map((r) => canonicalJson(r)).join(',')}],"checkpoint":${JSON.stringify(b.checkpoint)}}`;
}

export interface EdgeWork {
  id: string;
  /** The batches in the order they continue the edge's log: objects, or the wire text. */
  batches: unknown[];
  /** The last seq of each batch. */
  lastSeqs: number[];
  records: { edge: string; seq: number; record: BenchRecord }[];
  /** The log after the last batch. */
  state: LogState;
}

/**
 * `count` signed batches of `size` records continuing `edge`'s log from seq `from` (the log
 * `before` them, none for the first): each batch as an object, or as the edge sends it (`wire`).
 */
export function buildBatches(
  edge: { id: string; pem: string },
  opts: {
    from: number;
    count: number;
    size: number;
    before?: LogState | undefined;
    wire?: boolean;
    /** Equipment tag prefix (record()). */
    line?: string;
  },
): EdgeWork {
  const out: EdgeWork = { id: edge.id, batches: [], lastSeqs: [], records: [], state: opts.before! };
  let state = opts.before;
  for (let i = 0; i < opts.count; i += 1) {
    const from = opts.from + i * opts.size;
    const recs = Array.from({ length: opts.size }, (_, j) => record(edge.id, from + j, opts.line));
    const built = buildBatch({
      edge: edge.id,
      privateKeyPem: edge.pem,
      records: recs,
      ...(state ? { before: state } : {}),
    });
    state = built.state;
    out.batches.push(opts.wire ? onTheWire(built.batch) : built.batch);
    out.lastSeqs.push(from + opts.size - 1);
    for (const r of recs) out.records.push({ edge: edge.id, seq: r.seq, record: r });
  }
  out.state = state!;
  return out;
}

// ---------------------------------------------------------------------------------------------
// A database, a tenant, the cloud.

/** A fresh database of this run's own on the machine's PostgreSQL; `drop()` removes it and its role. */
export async function createBenchDatabase(
  adminUrl = PG_ADMIN_URL,
): Promise<{ name: string; url: string; appRole: string; drop: () => Promise<void> }> {
  const name = `rt_bench_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return {
    name,
    url: u.toString(),
    appRole: `${name}_app`,
    drop: async () => {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await c.query(`DROP ROLE IF EXISTS ${name}_app`);
      } finally {
        await c.end();
      }
    },
  };
}

/**
 * Opens the store in this process (migrating it), creates tenant `bench` with site `plant-1` and
 * `tokens` enrollment tokens (and, given `viewer`, a technician account), then closes it.
 */
export async function seedTenant(
  db: { dataDir: string; databaseUrl?: string; dbAppRole?: string },
  tokens: number,
  viewer?: { email: string; password: string },
): Promise<string[]> {
  const cfg = loadCloudConfig(
    {},
    {
      dataDir: db.dataDir,
      ...(db.databaseUrl ? { databaseUrl: db.databaseUrl, dbAppRole: db.dbAppRole! } : {}),
    },
  );
  const store = await openStore(cfg);
  try {
    await store.tenancy.createTenant('bench', 'Bench');
    await store.tenancy.createSite('bench', 'plant-1', 'Plant 1');
    const out: string[] = [];
    for (let i = 0; i < tokens; i += 1)
      out.push((await store.tenancy.createEnrollmentToken('bench', 'plant-1', 3600_000)).token);
    if (viewer)
      await createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) }).users.create(
        { actor: { type: 'system', id: 'bench' }, address: null },
        'bench',
        { email: viewer.email, role: 'technician', password: viewer.password, mustChangePassword: false },
      );
    return out;
  } finally {
    await store.db.close();
  }
}

const newest = (dir: string): number =>
  Math.max(
    0,
    ...readdirSync(dir, { withFileTypes: true }).map((d) =>
      d.isDirectory() ? newest(path.join(dir, d.name)) : statSync(path.join(dir, d.name)).mtimeMs,
    ),
  );

/** Whether cloud/dist is at least as new as cloud/src (`npm run bench` builds first). */
export function cloudDistFresh(): boolean {
  const dist = path.join(repoRoot, 'cloud/dist/cli.js');
  return (
    existsSync(dist) && newest(path.join(repoRoot, 'cloud/dist')) >= newest(path.join(repoRoot, 'cloud/src'))
  );
}

/**
 * Starts `rigtrace-cloud serve` with this environment: the built JS when fresh (as production
 * runs), else the sources; BENCH_CLOUD_DIST: that build instead. BENCH_CLOUD_NODE_FLAGS: extra Node flags for the cloud, e.g.
 * "--cpu-prof --cpu-prof-dir=/tmp/p".
 */
export async function startCloudProcess(
  env: Record<string, string>,
): Promise<{ proc: Proc; url: string; how: string }> {
  // BENCH_CLOUD_DIST: another build of the cloud (a folder like cloud/dist, e.g. a copy of the
  // build before a change, for an A/B in one session), taken as it is.
  const other = process.env.BENCH_CLOUD_DIST;
  const fresh = other !== undefined || cloudDistFresh();
  const cli = path.resolve(other ?? path.join(repoRoot, 'cloud/dist'), 'cli.js');
  const extra = (process.env.BENCH_CLOUD_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const ready = (l: string) => l.includes('"event":"listening"');
  // startNode spawns (synchronously) with this process's environment: set it for the spawn only,
  // so that processes started side by side each get their own.
  const saved = process.env;
  process.env = { ...saved, ...env };
  let starting: ReturnType<typeof startNode>;
  try {
    starting = fresh
      ? startNode(cli, ['serve'], ready, 60_000, extra)
      : startNode(path.join(repoRoot, 'cloud/src/cli.ts'), ['serve'], ready, 60_000, [
          '--conditions=rigtrace-source',
          '--import',
          'tsx',
          ...extra,
        ]);
  } finally {
    process.env = saved;
  }
  const proc = await starting;
  return {
    proc,
    url: (JSON.parse(proc.readyLine) as { url: string }).url,
    how: fresh ? path.relative(repoRoot, path.dirname(cli)) : 'TS sources (tsx)',
  };
}

/**
 * POSTs `body` as JSON (a string: as it is); throws on a status other than 2xx. A batch (ingest
 * is idempotent) is sent again, up to twice, when the kept-alive connection it went out on was
 * closed under it (the server's keep-alive timeout racing the next request on a loaded machine).
 */
export async function post(url: string, body: unknown): Promise<Record<string, unknown>> {
  const send = () =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const closed = (err: unknown) =>
    url.endsWith('/ingest') && (err as { cause?: { code?: string } }).cause?.code === 'UND_ERR_SOCKET';
  const again = (err: unknown) => {
    if (closed(err)) return send();
    throw err;
  };
  const res = await send().catch(again).catch(again);
  const json = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${url}: ${res.status} ${JSON.stringify(json).slice(0, 300)}`);
  return json;
}

/** CPU ms per 1,000 records, from CPU seconds over n records. */
export const perK = (s: number, n: number) => Math.round((s * 1e6) / n);

/** Current resident set of a process, MiB. */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}
