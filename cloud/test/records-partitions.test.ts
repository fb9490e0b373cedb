import { createHash } from 'node:crypto';
import pg from 'pg';
import pino from 'pino';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { formatVerifierKey, fromBase64, verifyEvidence } from '@rigtrace/protocols';
import { runCli } from '@rigtrace/protocols/testing';
import { loadCloudConfig } from '../src/platform/config.js';
import { MIGRATIONS, migratePostgres } from '../src/platform/db/migrations.js';
import { createAccounts } from '../src/access/index.js';
import { Witness } from '../src/platform/witness.js';
import { PostgresDb } from '../src/platform/db/postgres.js';
import { RecordsRepository } from '../src/records/index.js';
import { InspectionRepository } from '../src/production/index.js';
import { PositionRepository } from '../src/calibration/positions.repository.js';
import { SpcRepository } from '../src/spc/index.js';
import type { SqlParam } from '../src/platform/db/db.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { TestEdge } from './helpers/edge.js';
import { apiCall, signIn, type Session } from './helpers/signed-in.js';
import { createUsers } from './helpers/users.js';
import {
  asOwner,
  createTestDatabase,
  setupOrFailEach,
  testStorage,
  type TestStorage,
} from './helpers/storage.js';

vi.setConfig({ testTimeout: 120_000 });

/** The month `offset` months from now, "YYYY-MM". */
function month(offset: number): string {
  const d = new Date();
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + offset, 1)).toISOString().slice(0, 7);
}
const partOf = (m: string, table = 'records') => `${table}_${m.replace('-', '_')}`;
/** The rows derived from records that migration 73 partitioned by month with them. */
const DERIVED_73 = ['traceable_records', 'record_gauges', 'spc_measurements'] as const;
/** Every table partitioned by month with records: those, and the positions records name (91). */
const DERIVED = [...DERIVED_73, 'record_positions'] as const;
const startOf = (m: string) => `${m}-01T00:00:00.000Z`;

/** Runs the CLI with the test database's settings in its environment (spawned synchronously). */
function cli(storage: TestStorage, ...args: string[]) {
  const saved = Object.fromEntries(Object.keys(storage.env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, storage.env);
  try {
    return runCli('cloud/src/cli.ts', [...args, '--data-dir', storage.dataDir]);
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/**
 * A PostgreSQL schema as an older release left it: every migration but those `skip` names, in
 * order and recorded, with tenant acme, its site s and its edge e1 (for a migration's test).
 */
async function olderSchema(c: pg.Client, skip: (version: number) => boolean): Promise<void> {
  await c.query(
    'CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)',
  );
  for (const m of [...MIGRATIONS].sort((a, b) => a.version - b.version)) {
    if (skip(m.version)) continue;
    await c.query(m.postgres);
    await c.query('INSERT INTO schema_migrations VALUES ($1, $2, now())', [m.version, m.name]);
  }
  await c.query(`INSERT INTO tenants (id, name, created_at) VALUES ('acme', 'Acme', now());
    INSERT INTO sites (tenant_id, id, name, created_at) VALUES ('acme', 's', 'S', now());
    INSERT INTO edges (tenant_id, id, site_id, name, public_key, enrolled_at) VALUES ('acme', 'e1', 's', 'E', '\\x00', now())`);
}

/** The months (YYYY_MM, and `default`) a partitioned table has partitions of. */
async function monthsOf(c: pg.Client, table: string): Promise<string[]> {
  const r = await c.query<{ m: string }>(
    `SELECT substr(c.relname, length($1) + 2) AS m FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = $1::regclass ORDER BY 1`,
    [table],
  );
  return r.rows.map((x) => x.m);
}

describe('records partitioned by month on PostgreSQL, and their retention', () => {
  let storage: TestStorage;
  let cloud: RunningCloud;
  let api: string;
  let edge: TestEdge;
  let tech: Session;
  // Two old months, the current one, and one three months ahead (no partition yet).
  const [m0, m1, now, ahead] = [month(-4), month(-3), month(0), month(3)];
  /** A month before them all, whose record comes later (no partition for it then). */
  const old = month(-6);
  const owner = <T extends pg.QueryResultRow>(sql: string, params: unknown[] = []) =>
    asOwner<T>(storage.databaseUrl!, sql, params);
  async function get(p: string) {
    const res = await fetch(`${cloud.url}/api/v1${p}`, { headers: { authorization: `Bearer ${api}` } });
    return { status: res.status, body: (await res.json()) as any };
  }
  async function post(p: string, body: unknown) {
    const res = await fetch(`${cloud.url}/api/v1${p}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${api}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  }
  const perPartition = async (table = 'records') =>
    Object.fromEntries(
      (
        await owner<{ part: string; n: string }>(
          `SELECT tableoid::regclass::text AS part, count(*) AS n FROM ${table} GROUP BY 1 ORDER BY 1`,
        )
      ).map((r) => [r.part, Number(r.n)]),
    );
  /**
   * An inspection made with gauge G-1 whose characteristic names a position (a row of
   * record_gauges and of record_positions besides traceable_records and spc_measurements).
   */
  const gauged = (r: ReturnType<TestEdge['inspection']>) => ({
    ...r,
    body: {
      ...r.body,
      gauges: ['G-1'],
      characteristics: r.body.characteristics.map((c) => ({ ...c, position: 'rail pressure' })),
    },
  });

  setupOrFailEach(async () => {
    storage = await testStorage('postgres');
    const cfg = loadCloudConfig({}, storage.overrides);
    const store = await openStore(cfg);
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createSite('acme', 'plant-1', 'Plant 1');
    api = await store.tenancy.createApiToken('acme', 't');
    const enroll = await store.tenancy.createEnrollmentToken('acme', 'plant-1', 3600_000);
    const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
    await createUsers(accounts, 'acme', [['tech', 'technician', null, false]], {
      tech: 'long enough, unguessable 7319',
    });
    await store.db.close();
    cloud = await startCloud(
      loadCloudConfig({}, { ...storage.overrides, port: '0' }),
      pino({ level: 'silent' }),
    );
    tech = await signIn(cloud.url, 'acme', 'tech@acme.example', 'long enough, unguessable 7319');
    edge = await new TestEdge(cloud.url).enroll(enroll.token, 'line-1');
    await edge.ingest(
      [
        edge.inspection('RIG-1', `${m0}-10T08:00:00.000Z`, 'P-1', 'pass'),
        edge.inspection('RIG-1', `${m0}-11T08:00:00Z`, 'P-2', 'fail'),
        edge.inspection('RIG-1', `${m1}-10T08:00:00.000Z`, 'P-3', 'pass'),
        edge.inspection('RIG-1', `${m1}-11T08:00:00.123456Z`, 'P-4', 'pass'),
        edge.inspection('RIG-1', `${now}-01T00:00:00Z`, 'P-5', 'pass'),
        edge.inspection('RIG-1', `${ahead}-02T08:00:00.000Z`, 'P-6', 'pass'),
      ].map(gauged),
    );
  });
  afterAll(async () => {
    await cloud?.close();
    await storage?.cleanup();
  });

  it('stores each record in its month’s partition; a month without one waits in the default partition until the daily run', async () => {
    // A new database has this month's and next month's partitions: the rest waits in the default one.
    expect(await perPartition()).toEqual({ [partOf(now)]: 1, records_default: 5 });
    // Every record's leaf, whatever its month, in the unpartitioned log.
    expect((await owner('SELECT seq FROM record_log ORDER BY seq')).map((r) => Number(r.seq))).toEqual([
      1, 2, 3, 4, 5, 6,
    ]);
    // The daily run, as the app role: each month found in the default partition gets its own.
    const db = await PostgresDb.connect(storage.databaseUrl!, { appRole: storage.dbAppRole! });
    try {
      expect((await new RecordsRepository(db).partitionsAhead(new Date())).sort()).toEqual(
        [m0, m1, now, month(1), ahead].map((m) => partOf(m)).sort(),
      );
    } finally {
      await db.close();
    }
    expect(await perPartition()).toEqual({
      [partOf(m0)]: 2,
      [partOf(m1)]: 2,
      [partOf(now)]: 1,
      [partOf(ahead)]: 1,
    });
    // The rows derived from each record (one of each table per inspection) in the same months.
    for (const table of DERIVED)
      expect(await perPartition(table), table).toEqual({
        [partOf(m0, table)]: 2,
        [partOf(m1, table)]: 2,
        [partOf(now, table)]: 1,
        [partOf(ahead, table)]: 1,
      });
    // Deriving a record again adds nothing (the keys, with observed_at, still tell it apart).
    const before = await Promise.all(DERIVED.map((t) => perPartition(t)));
    await owner(`INSERT INTO traceable_records SELECT * FROM traceable_records ON CONFLICT DO NOTHING;
                 INSERT INTO record_gauges SELECT * FROM record_gauges ON CONFLICT DO NOTHING;
                 INSERT INTO spc_measurements SELECT * FROM spc_measurements ON CONFLICT DO NOTHING;
                 INSERT INTO record_positions SELECT * FROM record_positions ON CONFLICT DO NOTHING`);
    expect(await Promise.all(DERIVED.map((t) => perPartition(t)))).toEqual(before);
    // A record is stored once: the same (edge, seq) in another month is refused by record_log.
    const [edgeId] = [edge.id];
    await expect(
      owner(
        `WITH l AS (INSERT INTO record_log (tenant_id, edge_id, seq, observed_at, leaf_hash) VALUES ('acme', $1, 3, $2, '\\x00'))
         INSERT INTO records (tenant_id, edge_id, seq, id, kind, equipment, observed_at, json, leaf_hash, ingested_at)
         VALUES ('acme', $1, 3, 'x', 'inspection', 'RIG-1', $2, '{}', '\\x00', now())`,
        [edgeId, `${now}-05T00:00:00.000Z`],
      ),
    ).rejects.toThrow(/record_log_pkey/);
  });

  it('reads only the months a time-bounded query covers', async () => {
    const [lo, hi] = [startOf(m1), startOf(month(-2))];
    const plan = (
      await owner<{ 'QUERY PLAN': string }>(
        `EXPLAIN (COSTS OFF) SELECT json FROM records
          WHERE tenant_id = 'acme' AND equipment = 'RIG-1' AND observed_at >= $1 AND observed_at < $2`,
        [lo, hi],
      )
    )
      .map((r) => r['QUERY PLAN'])
      .join('\n');
    expect(plan.match(/records_\w+/g)?.filter((p) => !p.startsWith('records_by'))).toEqual([partOf(m1)]);

    // The main time-bounded reads of the derived tables (as their repositories write them: the
    // inspections and suspect-records lists, the live floor's yield, a gauge's records, an SPC
    // chart) read that month's partitions only.
    // Run, not only planned (a partition pruned at run time shows as "never executed").
    const scanned = async (sql: string, params: unknown[]) =>
      (
        await owner<{ 'QUERY PLAN': string }>(
          `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ${sql}`,
          params,
        )
      )
        .map((r) => r['QUERY PLAN'])
        .filter((l) => !l.includes('never executed'))
        .join('\n')

        .match(/\b(?:records|traceable_records|record_gauges|spc_measurements)_(?:\d{4}_\d{2}|default)\b/g);
    const reads: [string, string[]][] = [
      [
        `SELECT t.edge_id, t.seq FROM traceable_records t WHERE t.tenant_id = 'acme' AND t.kind = 'inspection'
          AND t.equipment = 'RIG-1' AND t.observed_at >= $1 AND t.observed_at < $2
          ORDER BY t.observed_at, t.edge_id, t.seq LIMIT 100`,
        [partOf(m1, 'traceable_records')],
      ],
      [
        `SELECT COUNT(*) FROM traceable_records WHERE tenant_id = 'acme' AND site_id = 'plant-1'
          AND kind = 'inspection' AND observed_at >= $1 AND observed_at < $2`,
        [partOf(m1, 'traceable_records')],
      ],
      [
        `SELECT g.edge_id, g.seq, t.kind FROM record_gauges g
           JOIN traceable_records t ON t.tenant_id = g.tenant_id AND t.edge_id = g.edge_id AND t.seq = g.seq
             AND t.observed_at = g.observed_at
          WHERE g.tenant_id = 'acme' AND g.gauge = 'G-1' AND g.observed_at > $1 AND g.observed_at <= $2
            AND t.observed_at > $1 AND t.observed_at <= $2
          ORDER BY g.observed_at, g.edge_id, g.seq LIMIT 100`,
        [partOf(m1, 'record_gauges'), partOf(m1, 'traceable_records')],
      ],
      [
        `SELECT observed_at, edge_id, seq, idx, measured FROM spc_measurements
          WHERE tenant_id = 'acme' AND equipment = 'RIG-1' AND characteristic = 'q'
            AND observed_at >= $1 AND observed_at < $2
          ORDER BY observed_at DESC, edge_id DESC, seq DESC, idx DESC LIMIT 100`,
        [partOf(m1, 'spc_measurements')],
      ],
    ];
    // (The suspect-records window is (start, end]: an end at the next month's first instant would
    // name that month too.)
    const end = `${m1}-28T00:00:00.000Z`;
    for (const [sql, parts] of reads)
      expect(new Set(await scanned(sql, sql.includes('<= $2') ? [lo, end] : [lo, hi])), sql).toEqual(
        new Set(parts),
      );

    // The same, with the SQL the repositories write: each statement they send is run under
    // EXPLAIN ANALYZE instead (as the app role, in the tenant), and the partitions of the
    // derived tables it touched are the window's month's. (records, reached by the record's day,
    // is pruned per row only when the planner picks a parameterised nested loop: with a few rows
    // it hashes every month of it instead.)
    const app = await PostgresDb.connect(storage.databaseUrl!, { appRole: storage.dbAppRole! });
    try {
      const plans: string[] = [];
      const explaining = new Proxy(app, {
        get(target, prop) {
          if (prop === 'all' || prop === 'get')
            return async (sql: string, params?: SqlParam[]) => {
              const rows = await target.all<{ 'QUERY PLAN': string }>(
                `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ${sql}`,
                params,
              );
              plans.push(rows.map((r) => r['QUERY PLAN']).join('\n'));
              return prop === 'all' ? [] : undefined;
            };
          const v = Reflect.get(target, prop, target) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
      const touched = () => {
        const out = new Set(
          plans
            .join('\n')
            .split('\n')
            .filter((l) => !l.includes('never executed'))
            .join('\n')
            .match(
              /\b(?:traceable_records|record_gauges|spc_measurements|record_positions)_(?:\d{4}_\d{2}|default)\b/g,
            ),
        );
        plans.length = 0;
        return out;
      };
      const reader = { tenantId: 'acme', sites: null, cleared: true };
      const inspections = new InspectionRepository(explaining);
      await inspections.suspect(reader, 'G-1', lo, end, undefined, 100);
      expect(touched()).toEqual(new Set([partOf(m1, 'record_gauges'), partOf(m1, 'traceable_records')]));
      await inspections.countSuspect(reader, 'G-1', lo, end);
      expect(touched()).toEqual(new Set([partOf(m1, 'record_gauges'), partOf(m1, 'traceable_records')]));
      await inspections.query(
        { ...reader, kind: 'user', id: 'u' },
        {
          kind: 'inspection',
          equipment: 'RIG-1',
          from: lo,
          to: hi,
          limit: 100,
        },
      );
      expect(touched()).toEqual(new Set([partOf(m1, 'traceable_records')]));
      await new SpcRepository(explaining).measurements(reader, 'RIG-1', 'q', {
        from: lo,
        to: hi,
        limit: 100,
      });
      expect(touched()).toEqual(new Set([partOf(m1, 'spc_measurements')]));
      // The positions a page of records names (GET /records), by each record's key and time.
      const keys = (
        await owner<{ edge_id: string; seq: string; observed_at: string }>(
          'SELECT edge_id, seq, observed_at FROM records WHERE observed_at >= $1 AND observed_at < $2 ORDER BY seq',
          [lo, hi],
        )
      ).map((k) => ({ edge: k.edge_id, seq: Number(k.seq), observedAt: k.observed_at }));
      expect(keys.map((k) => k.seq)).toEqual([3, 4]);
      await inspections.namedPositions(reader, keys);
      expect(touched()).toEqual(new Set([partOf(m1, 'record_positions')]));

      // The reads with no time window of their own take one from a first-seen row kept at ingest.
      // Their statements run for real too (what they return decides what they read next), and
      // ingest's upkeep of the yield rollup is run under EXPLAIN ANALYZE in its transaction.
      const recording = new Proxy(app, {
        get(target, prop) {
          if (prop === 'all' || prop === 'get')
            return async (sql: string, params?: SqlParam[]) => {
              if (/^\s*SELECT/.test(sql))
                plans.push(
                  (
                    await target.all<{ 'QUERY PLAN': string }>(
                      `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ${sql}`,
                      params,
                    )
                  )
                    .map((r) => r['QUERY PLAN'])
                    .join('\n'),
                );
              return prop === 'all' ? target.all(sql, params) : target.get(sql, params);
            };
          if (prop === 'run')
            return async (sql: string, params?: SqlParam[]) => {
              if (!sql.includes('WITH moved')) return target.run(sql, params);
              const rows = await target.all<{ 'QUERY PLAN': string }>(
                `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ${sql}`,
                params,
              );
              plans.push(rows.map((r) => r['QUERY PLAN']).join('\n'));
              return { changes: 0 };
            };
          const v = Reflect.get(target, prop, target) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
      // A part's first inspection (first-pass yield from the inspections of a range): the range's
      // month only, not every month the part might have been inspected in before.
      const fromInspections = await new InspectionRepository(recording).firstPassYieldFromInspections(
        { ...reader, kind: 'user', id: 'u' },
        { from: lo, to: hi },
      );
      expect(fromInspections.map((q) => q.tested)).toEqual([1, 1]);
      expect(touched()).toEqual(new Set([partOf(m1, 'traceable_records')]));
      // Ingest's upkeep of the rollup: a part inspected again reads its inspections at its first
      // inspection time (part_firsts) only, in that month.
      // (In a transaction rolled back after: the other tests count these months' rows.)
      const rolledBack = new Error('rolled back');
      await expect(
        app.transaction(async () => {
          await app.withTenant('acme', () =>
            app.run(
              "INSERT INTO record_log (tenant_id, edge_id, seq, observed_at, leaf_hash) VALUES ('acme', ?, 100, ?, '\\x00')",
              [edge.id, `${m1}-15T08:00:00.000Z`],
            ),
          );
          await new InspectionRepository(recording).insert(
            'acme',
            [
              {
                edgeId: edge.id,
                seq: 100,
                kind: 'inspection',
                siteId: 'plant-1',
                equipment: 'RIG-1',
                observedAt: `${m1}-15T08:00:00.000Z`,
                partSerial: 'P-3',
                workOrder: null,
                result: 'pass',
                cycles: null,
              },
            ],
            [],
          );
          throw rolledBack;
        }),
      ).rejects.toBe(rolledBack);
      expect(touched()).toEqual(new Set([partOf(m1, 'traceable_records')]));
      // A rig's unresolved positions, newest first: a page the newest month fills reads that month.
      const positions = new PositionRepository(recording);
      expect((await positions.unresolved(reader, 'RIG-1', 1)).map((r) => Number(r.seq))).toEqual([6]);
      expect(touched()).toEqual(new Set([partOf(ahead, 'record_positions')]));
      // A characteristic's latest measurements (the SPC list's recent points): the newest month.
      const latest = await new SpcRepository(recording).measurements(reader, 'RIG-1', 'q', { limit: 1 });
      expect(latest.map((m) => m.observed_at)).toEqual([`${ahead}-02T08:00:00.000Z`]);
      expect(touched()).toEqual(new Set([partOf(ahead, 'spc_measurements')]));
      // A page of all the rig's unresolved positions reads the months of its span, newest first.
      expect((await positions.unresolved(reader, 'RIG-1', 100)).map((r) => Number(r.seq))).toEqual([
        6, 5, 4, 3, 2, 1,
      ]);
    } finally {
      await app.close();
    }

    // The API answers that month's inspections, with their records (joined on the record's day).
    const r = await get(`/inspections?equipment=RIG-1&from=${lo}&to=${hi}`);
    expect(r.status).toBe(200);
    expect(r.body.items.map((i: { partSerial: string }) => i.partSerial)).toEqual(['P-3', 'P-4']);
    expect(r.body.items[1].record.observedAt).toBe(`${m1}-11T08:00:00.123456Z`);
  });

  it('lists months as a dry run, then drops an old month as the owner; the rest still proves itself', async () => {
    const before = await perPartition();
    const dry = cli(storage, 'records', 'retention', '--before', m1);
    expect(dry.status, dry.stderr).toBe(0);
    const lines = dry.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    // Every month's partition, oldest first: the ones with records and next month's (empty).
    expect(lines.slice(0, -1)).toEqual([
      { month: m0, records: 2, drop: true },
      { month: m1, records: 2, drop: false },
      { month: now, records: 1, drop: false },
      { month: month(1), records: 0, drop: false },
      { month: ahead, records: 1, drop: false },
    ]);
    expect(lines.at(-1)).toEqual({ dryRun: true, before: m1, wouldDrop: [m0], records: 2, refused: [] });
    expect(await perPartition()).toEqual(before);

    // The app role may not delete records, nor drop a month.
    await expect(
      owner(`SET ROLE ${storage.dbAppRole}; DELETE FROM records WHERE observed_at < '${startOf(m1)}'`),
    ).rejects.toThrow(/permission denied/);
    await expect(owner(`SET ROLE ${storage.dbAppRole}; DROP TABLE ${partOf(m0)}`)).rejects.toThrow(
      /must be owner|permission denied/,
    );

    const auditBefore = await owner('SELECT tenant_id, seq, entry FROM audit_log ORDER BY tenant_id, seq');
    expect(auditBefore.length).toBeGreaterThan(0);
    const derivedBefore = await Promise.all(DERIVED.map((t) => perPartition(t)));
    const dropped = cli(storage, 'records', 'retention', '--before', m1, '--drop');
    expect(dropped.status, dropped.stderr).toBe(0);
    expect(JSON.parse(dropped.stdout.trim().split('\n').at(-1)!)).toEqual({
      dropped: [m0],
      records: 2,
      tenants: 1,
    });
    expect(await owner('SELECT to_regclass($1) AS t', [partOf(m0)])).toEqual([{ t: null }]);
    expect(await perPartition()).not.toHaveProperty(partOf(m0));
    // The month's derived rows went with it, whole partitions; the other months' stayed.
    for (const [i, table] of DERIVED.entries()) {
      expect(await owner('SELECT to_regclass($1) AS t', [partOf(m0, table)]), table).toEqual([{ t: null }]);
      const { [partOf(m0, table)]: gone, ...rest } = derivedBefore[i]!;
      expect(gone, table).toBe(2);
      expect(await perPartition(table), table).toEqual(rest);
    }
    // The audit trail is whole: every entry before, and the retention's own after them.
    const auditAfter = await owner('SELECT tenant_id, seq, entry FROM audit_log ORDER BY tenant_id, seq');
    expect(auditAfter.slice(0, auditBefore.length)).toEqual(auditBefore);
    expect(auditAfter).toHaveLength(auditBefore.length + 1);
    expect(await owner('SELECT count(*)::int AS n FROM record_log')).toEqual([{ n: 6 }]);

    // Evidence of the records that remain verifies offline against the signed checkpoint.
    const bundle = await get(`/edges/${edge.id}/evidence?seq=3,5`);
    expect(bundle.status).toBe(200);
    const witness = (await get('/witness')).body as { name: string; publicKey: string };
    const edgeRow = (
      await owner<{ public_key: Buffer }>('SELECT public_key FROM edges WHERE id = $1', [edge.id])
    )[0]!;
    expect(
      verifyEvidence(bundle.body, {
        trustedVerifierKey: formatVerifierKey(edge.id, new Uint8Array(edgeRow.public_key)),
        witness: { name: witness.name, publicKey: fromBase64(witness.publicKey) },
      }),
    ).toEqual({ ok: true, verified: 2 });
    // A dropped record is gone, said so.
    const gone = await get(`/edges/${edge.id}/evidence?seq=1`);
    expect(gone.status).toBe(404);
    expect(gone.body.detail).toContain('retention');
    // The whole log recomputes: the dropped records by their kept leaves, the rest from their JSON.
    const verified = await post(`/edges/${edge.id}/verify`, {});
    expect(verified.status).toBe(200);
    expect(verified.body).toMatchObject({ ok: true, verifiedRecords: 6 });
    // The log continues.
    await edge.ingest([edge.inspection('RIG-1', `${now}-02T08:00:00.000Z`, 'P-7', 'pass')]);

    // On the system log and on the tenant's audit trail.
    expect(
      await owner("SELECT code, detail FROM system_security_events WHERE code LIKE 'records_retention%'"),
    ).toEqual([
      {
        code: 'records_retention',
        detail: JSON.stringify({ before: m1, months: [{ month: m0, records: 2 }] }),
      },
    ]);
    const audit = await owner<{ actor: string; entry: string }>(
      "SELECT actor, entry FROM audit_log WHERE tenant_id = 'acme' AND action = 'records.retention'",
    );
    expect(audit).toHaveLength(1);
    expect(audit[0]!.actor).toBe('system:cli');
    expect(JSON.parse(audit[0]!.entry)).toMatchObject({ after: { months: [{ month: m0, records: 2 }] } });
  });

  it('a dry run changes nothing: records waiting in the default partition stay there, listed as such', async () => {
    // A record of a month with no partition yet waits in the default partition.
    await edge.ingest([edge.inspection('RIG-1', `${old}-10T08:00:00.000Z`, 'P-8', 'pass')]);
    const tables = () =>
      owner<{ t: string }>("SELECT relname AS t FROM pg_class WHERE relname ~ '^records_' ORDER BY 1");
    const [partsBefore, tablesBefore] = [await perPartition(), await tables()];
    expect(partsBefore).toHaveProperty('records_default', 1);
    const dry = cli(storage, 'records', 'retention', '--before', m1);
    expect(dry.status, dry.stderr).toBe(0);
    // Every record where it was, no partition made.
    expect(await perPartition()).toEqual(partsBefore);
    expect(await tables()).toEqual(tablesBefore);
    const lines = dry.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toEqual({ month: old, records: 1, drop: true, unpartitioned: 1 });
    expect(lines.at(-1)).toEqual({ dryRun: true, before: m1, wouldDrop: [old], records: 1, refused: [] });
  });

  it('writes the drop and its audit entries in one transaction: a failure between them leaves neither', async () => {
    const perMonth = async () =>
      Object.fromEntries(
        (
          await owner<{ m: string; n: number }>(
            'SELECT substr(observed_at, 1, 7) AS m, count(*)::int AS n FROM records GROUP BY 1 ORDER BY 1',
          )
        ).map((r) => [r.m, r.n]),
      );
    const before = await perMonth();
    expect(before).toHaveProperty(old, 1);
    const events = () =>
      owner("SELECT detail FROM system_security_events WHERE code = 'records_retention' ORDER BY id");
    const entries = () => owner("SELECT seq FROM audit_log WHERE action = 'records.retention' ORDER BY seq");
    const [eventsBefore, entriesBefore] = [await events(), await entries()];
    // A failure injected after the DROP, at the tenant's audit entry.
    await owner(`CREATE FUNCTION rt_test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                   BEGIN RAISE EXCEPTION 'injected audit failure'; END $$;
                 CREATE TRIGGER rt_test_refuse BEFORE INSERT ON audit_log
                   FOR EACH ROW WHEN (NEW.action = 'records.retention') EXECUTE FUNCTION rt_test_refuse()`);
    const failed = cli(storage, 'records', 'retention', '--before', m1, '--drop');
    expect(failed.status).not.toBe(0);
    expect(failed.stderr).toContain('injected audit failure');
    // Neither: every record of every month still there, no entry anywhere.
    expect(await perMonth()).toEqual(before);
    expect(await events()).toEqual(eventsBefore);
    expect(await entries()).toEqual(entriesBefore);

    // Both, once the failure is gone.
    await owner('DROP TRIGGER rt_test_refuse ON audit_log; DROP FUNCTION rt_test_refuse()');
    const dropped = cli(storage, 'records', 'retention', '--before', m1, '--drop');
    expect(dropped.status, dropped.stderr).toBe(0);
    expect(JSON.parse(dropped.stdout.trim().split('\n').at(-1)!)).toEqual({
      dropped: [old],
      records: 1,
      tenants: 1,
    });
    const { [old]: gone, ...rest } = before;
    expect(gone).toBe(1);
    expect(await perMonth()).toEqual(rest);
    expect(await perPartition()).not.toHaveProperty(partOf(old));
    expect((await events()).at(-1)).toEqual({
      detail: JSON.stringify({ before: m1, months: [{ month: old, records: 1 }] }),
    });
    expect(await entries()).toHaveLength(entriesBefore.length + 1);
  });

  it('refuses, dropping nothing, while an open out-of-tolerance case keeps an old month', async () => {
    expect(
      (
        await apiCall(cloud.url, tech, 'POST', '/equipment', {
          tag: 'FC-1',
          siteId: 'plant-1',
          type: 'flow cell',
          intervalDays: 90,
        })
      ).status,
    ).toBe(201);
    // FC-1's first calibration fails as found: its suspect window reaches back to its first record.
    await edge.ingest([edge.calibration('FC-1', `${m1}-20T08:00:00.000Z`, 'fail')]);
    expect(await owner("SELECT state FROM oot_cases WHERE equipment = 'FC-1'")).toEqual([{ state: 'open' }]);

    const dry = cli(storage, 'records', 'retention', '--before', now);
    expect(dry.status, dry.stderr).toBe(0);
    const m1Line = dry.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { month?: string; keptBy?: string[] })
      .find((l) => l.month === m1)!;
    expect(m1Line.keptBy?.[0]).toMatch(
      /open out-of-tolerance case .* FC-1\): suspect records from the first record/,
    );

    const refused = cli(storage, 'records', 'retention', '--before', now, '--drop');
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain(`nothing dropped`);
    expect(refused.stderr).toContain(`${m1}: kept by open out-of-tolerance case`);
    expect(await perPartition()).toHaveProperty(partOf(m1), 3);
    expect(
      (await owner("SELECT code FROM system_security_events WHERE code = 'records_retention_refused'"))
        .length,
    ).toBe(1);
  });

  it('refuses a cutoff that is not a month or lies after the current month, changing nothing', () => {
    const bad = cli(storage, 'records', 'retention', '--before', '2026-13');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--before is a month, YYYY-MM');
    const later = cli(storage, 'records', 'retention', '--before', month(1), '--drop');
    expect(later.status).toBe(2);
    expect(later.stderr).toContain('is after the current month');
  });
});

describe('migration 72 on a PostgreSQL database with records', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  const sha = (s: string) => createHash('sha256').update(s).digest();

  setupOrFailEach(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('moves each record into its month, keeps every leaf, key, policy and grant', async () => {
    // The schema as it was before 72 (and the migrations after it), with records in two months
    // and their derived rows.
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      await olderSchema(c, (v) => v >= 72);
      const rows = [
        [1, '2025-10-31T23:59:59.999Z'],
        [2, '2025-11-01T00:00:00Z'],
        [3, '2025-11-15T12:00:00.5Z'],
      ] as const;
      for (const [seq, at] of rows) {
        const json = JSON.stringify({ seq, at });
        await c.query(
          `INSERT INTO records (tenant_id, edge_id, seq, id, kind, equipment, observed_at, json, leaf_hash, ingested_at)
           VALUES ('acme', 'e1', $1, $2, 'inspection', 'RIG-1', $3, $4, $5, now())`,
          [seq, `r${seq}`, at, json, sha(json)],
        );
        await c.query(
          `INSERT INTO traceable_records (tenant_id, edge_id, seq, kind, site_id, equipment, observed_at)
           VALUES ('acme', 'e1', $1, 'inspection', 's', 'RIG-1', $2)`,
          [seq, new Date(at).toISOString()],
        );
      }
    } finally {
      await c.end();
    }

    expect(await migratePostgres(db.url, db.appRole)).toBe(MIGRATIONS.filter((m) => m.version >= 72).length);
    const owner = <T extends pg.QueryResultRow>(sql: string) => asOwner<T>(db.url, sql);
    expect(
      await owner('SELECT tableoid::regclass::text AS part, seq::int, json FROM records ORDER BY seq'),
    ).toEqual([
      { part: 'records_2025_10', seq: 1, json: JSON.stringify({ seq: 1, at: '2025-10-31T23:59:59.999Z' }) },
      { part: 'records_2025_11', seq: 2, json: JSON.stringify({ seq: 2, at: '2025-11-01T00:00:00Z' }) },
      { part: 'records_2025_11', seq: 3, json: JSON.stringify({ seq: 3, at: '2025-11-15T12:00:00.5Z' }) },
    ]);
    const leaves = await owner<{ seq: number; leaf_hash: Buffer; observed_at: string }>(
      'SELECT seq::int, leaf_hash, observed_at FROM record_log ORDER BY seq',
    );
    expect(leaves.map((l) => [l.seq, l.observed_at, Buffer.from(l.leaf_hash).toString('hex')])).toEqual([
      [
        1,
        '2025-10-31T23:59:59.999Z',
        sha(JSON.stringify({ seq: 1, at: '2025-10-31T23:59:59.999Z' })).toString('hex'),
      ],
      [
        2,
        '2025-11-01T00:00:00Z',
        sha(JSON.stringify({ seq: 2, at: '2025-11-01T00:00:00Z' })).toString('hex'),
      ],
      [
        3,
        '2025-11-15T12:00:00.5Z',
        sha(JSON.stringify({ seq: 3, at: '2025-11-15T12:00:00.5Z' })).toString('hex'),
      ],
    ]);
    // The current and next months are there for ingest; the old table is gone.
    const parts = (
      await owner<{ name: string }>(
        "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'records'::regclass ORDER BY 1",
      )
    ).map((r) => r.name);
    expect(parts).toEqual(
      expect.arrayContaining([
        'records_2025_10',
        'records_2025_11',
        partOf(month(0)),
        partOf(month(1)),
        'records_default',
      ]),
    );
    expect(await owner("SELECT to_regclass('records_unpartitioned') AS t")).toEqual([{ t: null }]);
    // Foreign keys to records now name record_log, which no retention drops.
    expect(
      await owner(
        "SELECT conrelid::regclass::text AS t FROM pg_constraint WHERE contype = 'f' AND confrelid = 'record_log'::regclass AND conparentid = 0 ORDER BY 1",
      ),
    ).toEqual([
      { t: 'calibrations' },
      { t: 'record_gauges' },
      { t: 'spc_measurements' },
      { t: 'traceable_records' },
    ]);
    expect(
      await owner("SELECT count(*)::int AS n FROM pg_constraint WHERE confrelid = 'records'::regclass"),
    ).toEqual([{ n: 0 }]);
    // Row-level security and its policy on both; the indexes; the app role's grants.
    expect(
      await owner(
        "SELECT relname, relrowsecurity AS rls FROM pg_class WHERE relname IN ('records', 'record_log') ORDER BY 1",
      ),
    ).toEqual([
      { relname: 'record_log', rls: true },
      { relname: 'records', rls: true },
    ]);
    expect(
      await owner(
        "SELECT tablename FROM pg_policies WHERE tablename IN ('records', 'record_log') ORDER BY 1",
      ),
    ).toEqual([{ tablename: 'record_log' }, { tablename: 'records' }]);
    expect(await owner("SELECT indexname FROM pg_indexes WHERE tablename = 'records' ORDER BY 1")).toEqual([
      { indexname: 'records_by_equipment' },
      { indexname: 'records_by_kind' },
      { indexname: 'records_pkey' },
    ]);
    const can = async (table: string, priv: string) =>
      (
        await asOwner<{ ok: boolean }>(db.url, 'SELECT has_table_privilege($1, $2, $3) AS ok', [
          db.appRole,
          table,
          priv,
        ])
      )[0]!.ok;
    for (const table of ['records', 'record_log']) {
      expect(await can(table, 'SELECT')).toBe(true);
      expect(await can(table, 'INSERT')).toBe(true);
      expect(await can(table, 'DELETE')).toBe(false);
      expect(await can(table, 'UPDATE')).toBe(false);
    }
    expect(await can('records_2025_10', 'SELECT')).toBe(false);
  });
});

describe('migration 73 on a PostgreSQL database with derived rows', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;

  setupOrFailEach(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('moves the derived rows into their months, keeps every row, index, key, policy and grant', async () => {
    /** Every row of each derived table, in key order. */
    const rowsOf = async (c: pg.Client) =>
      Object.fromEntries(
        await Promise.all(
          DERIVED_73.map(
            async (t) => [t, (await c.query(`SELECT * FROM ${t} ORDER BY 1, 2, 3, 4, 5`)).rows] as const,
          ),
        ),
      );
    /** The tables' indexes (a partitioned table's are made "ON ONLY" it, then on each partition). */
    const indexesOf = async (c: pg.Client) =>
      (
        await c.query<{ t: string; i: string; def: string }>(
          `SELECT tablename AS t, indexname AS i, replace(indexdef, ' ON ONLY ', ' ON ') AS def FROM pg_indexes
            WHERE tablename = ANY($1) ORDER BY 1, 2`,
          [DERIVED_73],
        )
      ).rows;
    const policiesOf = async (c: pg.Client) =>
      (
        await c.query(
          `SELECT tablename, policyname, permissive, roles, cmd, qual, with_check FROM pg_policies
            WHERE tablename = ANY($1) ORDER BY 1, 2`,
          [DERIVED_73],
        )
      ).rows;
    const foreignKeysOf = async (c: pg.Client) =>
      (
        await c.query(
          `SELECT conrelid::regclass::text AS t, conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
            WHERE contype = 'f' AND conrelid = ANY($1::regclass[]) ORDER BY 1, 2`,
          [DERIVED_73],
        )
      ).rows;
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    let before: {
      rows: Awaited<ReturnType<typeof rowsOf>>;
      indexes: Awaited<ReturnType<typeof indexesOf>>;
      policies: unknown[];
      foreignKeys: unknown[];
    };
    try {
      // The schema as it was before 73: every other migration, in order (but 91, which needs 73).
      await olderSchema(c, (v) => v === 73 || v === 91);
      // Records in two old months (waiting in the default partition of records) and this one.
      const at = [
        '2025-10-31T23:59:59.999Z',
        '2025-11-01T00:00:00.000Z',
        '2025-11-15T12:00:00.500Z',
        `${month(0)}-02T08:00:00.000Z`,
      ];
      for (const [i, t] of at.entries()) {
        const seq = i + 1;
        await c.query(
          `INSERT INTO record_log (tenant_id, edge_id, seq, observed_at, leaf_hash) VALUES ('acme', 'e1', $1, $2, '\\x00');
           INSERT INTO records (tenant_id, edge_id, seq, id, kind, equipment, observed_at, json, leaf_hash, ingested_at)
             VALUES ('acme', 'e1', $1, 'r' || $1, 'inspection', 'RIG-1', $2, '{}', '\\x00', now());
           INSERT INTO traceable_records VALUES ('acme', 'e1', $1, 'inspection', 's', 'RIG-1', $2, 'P-' || $1, 'WO-1', 'pass', NULL);
           INSERT INTO record_gauges VALUES ('acme', 'G-1', $2, 'e1', $1), ('acme', 'G-2', $2, 'e1', $1);
           INSERT INTO spc_measurements VALUES ('acme', 'RIG-1', 'q', $2, 'e1', $1, 0, 's', 62.5 + $1),
             ('acme', 'RIG-1', 'q', $2, 'e1', $1, 1, 's', 61.5);`
            .replace(/\$1/g, String(seq))
            .replace(/\$2/g, `'${t}'`),
        );
      }
      before = {
        rows: await rowsOf(c),
        indexes: await indexesOf(c),
        policies: await policiesOf(c),
        foreignKeys: await foreignKeysOf(c),
      };
      expect(before.rows.traceable_records).toHaveLength(4);
      expect(before.rows.record_gauges).toHaveLength(8);
      expect(before.rows.spc_measurements).toHaveLength(8);
    } finally {
      await c.end();
    }

    expect(await migratePostgres(db.url, db.appRole)).toBe(2);
    const o = new pg.Client({ connectionString: db.url });
    await o.connect();
    try {
      // Every row, unchanged, each in its month's partition.
      expect(await rowsOf(o)).toEqual(before.rows);
      for (const t of DERIVED_73) {
        const parts = await o.query<{ part: string; n: string }>(
          `SELECT tableoid::regclass::text AS part, count(*) AS n FROM ${t} GROUP BY 1 ORDER BY 1`,
        );
        const per = t === 'traceable_records' ? 1 : 2;
        expect(Object.fromEntries(parts.rows.map((r) => [r.part, Number(r.n)])), t).toEqual({
          [`${t}_2025_10`]: per,
          [`${t}_2025_11`]: 2 * per,
          [partOf(month(0), t)]: per,
        });
        expect((await o.query(`SELECT relkind FROM pg_class WHERE relname = $1`, [t])).rows).toEqual([
          { relkind: 'p' },
        ]);
        expect((await o.query('SELECT to_regclass($1) AS t', [`${t}_unpartitioned`])).rows).toEqual([
          { t: null },
        ]);
      }
      // Every month records has, each derived table has too (made together), and records' old
      // months left the default partition on the way.
      const recordMonths = await monthsOf(o, 'records');
      expect(recordMonths).toEqual(
        expect.arrayContaining([
          '2025_10',
          '2025_11',
          ...[month(0), month(1)].map((m) => m.replace('-', '_')),
          'default',
        ]),
      );
      for (const t of DERIVED_73) expect(await monthsOf(o, t), t).toEqual(recordMonths);
      // The same indexes (traceable_records' key now with observed_at), foreign keys and policies.
      expect(await indexesOf(o)).toEqual(
        before.indexes.map((i) =>
          i.i === 'traceable_records_pkey'
            ? {
                ...i,
                def: i.def.replace('(tenant_id, edge_id, seq)', '(tenant_id, edge_id, seq, observed_at)'),
              }
            : i,
        ),
      );
      expect(await foreignKeysOf(o)).toEqual(before.foreignKeys);
      expect(await policiesOf(o)).toEqual(before.policies);
      for (const t of DERIVED_73)
        expect(
          (await o.query('SELECT relrowsecurity AS rls FROM pg_class WHERE relname = $1', [t])).rows,
        ).toEqual([{ rls: true }]);
      // The app role: as before on the tables, nothing on a partition, and only its tenant's rows.
      const can = async (table: string, priv: string) =>
        (
          await o.query<{ ok: boolean }>('SELECT has_table_privilege($1, $2, $3) AS ok', [
            db.appRole,
            table,
            priv,
          ])
        ).rows[0]!.ok;
      for (const t of DERIVED_73) {
        expect([await can(t, 'SELECT'), await can(t, 'INSERT')], t).toEqual([true, true]);
        expect([await can(t, 'UPDATE'), await can(t, 'DELETE')], t).toEqual([false, false]);
        expect(await can(`${t}_2025_10`, 'SELECT'), t).toBe(false);
      }
      await o.query(`SET ROLE ${db.appRole}`);
      for (const [tenant, n] of [
        ['acme', 8],
        ['other', 0],
      ] as const) {
        await o.query('BEGIN');
        await o.query("SELECT set_config('app.tenant_id', $1, true)", [tenant]);
        expect((await o.query('SELECT count(*)::int AS n FROM spc_measurements')).rows).toEqual([{ n }]);
        await o.query('COMMIT');
      }
      await o.query('RESET ROLE');
    } finally {
      await o.end();
    }
  });
});

describe('migration 91 on a PostgreSQL database with positions named by records', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;

  setupOrFailEach(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('moves the positions into their months, keeps every row, index, key, policy and grant', async () => {
    const T = 'record_positions';
    const at0 = '2025-10-31T23:59:59.999Z';
    const rowsOf = async (c: pg.Client) => (await c.query(`SELECT * FROM ${T} ORDER BY 1, 2, 3, 4`)).rows;
    const indexesOf = async (c: pg.Client) =>
      (
        await c.query<{ i: string; def: string }>(
          `SELECT indexname AS i, replace(indexdef, ' ON ONLY ', ' ON ') AS def FROM pg_indexes
            WHERE tablename = $1 ORDER BY 1`,
          [T],
        )
      ).rows;
    const policiesOf = async (c: pg.Client) =>
      (
        await c.query(
          `SELECT policyname, permissive, roles, cmd, qual, with_check FROM pg_policies
            WHERE tablename = $1 ORDER BY 1`,
          [T],
        )
      ).rows;
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    let before: { rows: unknown[]; indexes: { i: string; def: string }[]; policies: unknown[] };
    try {
      // The schema as it was before 91: every other migration, in order.
      await olderSchema(c, (v) => v === 91);
      // Records in two old months (their partitions made by 73 or waiting in the default one)
      // and this one, each naming two positions; one more month only record_positions holds.
      const at = [
        '2025-10-31T23:59:59.999Z',
        '2025-11-01T00:00:00.000Z',
        '2025-11-15T12:00:00.500Z',
        `${month(0)}-02T08:00:00.000Z`,
      ];
      for (const [i, t] of at.entries()) {
        const seq = i + 1;
        await c.query(
          `INSERT INTO record_log (tenant_id, edge_id, seq, observed_at, leaf_hash) VALUES ('acme', 'e1', $1, $2, '\\x00');
           INSERT INTO records (tenant_id, edge_id, seq, id, kind, equipment, observed_at, json, leaf_hash, ingested_at)
             VALUES ('acme', 'e1', $1, 'r' || $1, 'inspection', 'RIG-1', $2, '{}', '\\x00', now());
           INSERT INTO record_positions VALUES ('acme', 'e1', $1, 'rail pressure', 'inspection', 'RIG-1', $2),
             ('acme', 'e1', $1, 'oil temperature', 'inspection', 'RIG-1', $2);`
            .replace(/\$1/g, String(seq))
            .replace(/\$2/g, `'${t}'`),
        );
      }
      before = { rows: await rowsOf(c), indexes: await indexesOf(c), policies: await policiesOf(c) };
      expect(before.rows).toHaveLength(8);
      expect(before.indexes.map((i) => i.i)).toEqual([
        'record_positions_by_position',
        'record_positions_pkey',
      ]);
    } finally {
      await c.end();
    }

    expect(await migratePostgres(db.url, db.appRole)).toBe(1);
    const o = new pg.Client({ connectionString: db.url });
    await o.connect();
    try {
      // Every row, unchanged, each in its month's partition.
      expect(await rowsOf(o)).toEqual(before.rows);
      const parts = await o.query<{ part: string; n: string }>(
        `SELECT tableoid::regclass::text AS part, count(*) AS n FROM ${T} GROUP BY 1 ORDER BY 1`,
      );
      expect(Object.fromEntries(parts.rows.map((r) => [r.part, Number(r.n)]))).toEqual({
        [`${T}_2025_10`]: 2,
        [`${T}_2025_11`]: 4,
        [partOf(month(0), T)]: 2,
      });
      expect((await o.query(`SELECT relkind FROM pg_class WHERE relname = $1`, [T])).rows).toEqual([
        { relkind: 'p' },
      ]);
      expect((await o.query('SELECT to_regclass($1) AS t', [`${T}_unpartitioned`])).rows).toEqual([
        { t: null },
      ]);
      // Listed with the other monthly tables, and with the same months as records.
      expect((await o.query<{ t: string }>('SELECT rt_monthly_tables() AS t')).rows.map((r) => r.t)).toEqual([
        'records',
        ...DERIVED,
      ]);
      const recordMonths = await monthsOf(o, 'records');
      expect(recordMonths).toEqual(
        expect.arrayContaining([
          '2025_10',
          '2025_11',
          ...[month(0), month(1)].map((m) => m.replace('-', '_')),
        ]),
      );
      for (const t of DERIVED) expect(await monthsOf(o, t), t).toEqual(recordMonths);
      // The same index, the key now with observed_at, the same policy, RLS on.
      expect(await indexesOf(o)).toEqual(
        before.indexes.map((i) =>
          i.i === 'record_positions_pkey'
            ? {
                ...i,
                def: i.def.replace(
                  '(tenant_id, edge_id, seq, "position")',
                  '(tenant_id, edge_id, seq, "position", observed_at)',
                ),
              }
            : i,
        ),
      );
      expect(await policiesOf(o)).toEqual(before.policies);
      expect(
        (await o.query('SELECT relrowsecurity AS rls FROM pg_class WHERE relname = $1', [T])).rows,
      ).toEqual([{ rls: true }]);
      // The app role: as before on the table, nothing on a partition, and only its tenant's rows.
      const can = async (table: string, priv: string) =>
        (
          await o.query<{ ok: boolean }>('SELECT has_table_privilege($1, $2, $3) AS ok', [
            db.appRole,
            table,
            priv,
          ])
        ).rows[0]!.ok;
      expect([await can(T, 'SELECT'), await can(T, 'INSERT')]).toEqual([true, true]);
      expect([await can(T, 'UPDATE'), await can(T, 'DELETE')]).toEqual([false, false]);
      expect(await can(`${T}_2025_10`, 'SELECT')).toBe(false);
      await o.query(`SET ROLE ${db.appRole}`);
      for (const [tenant, n] of [
        ['acme', 8],
        ['other', 0],
      ] as const) {
        await o.query('BEGIN');
        await o.query("SELECT set_config('app.tenant_id', $1, true)", [tenant]);
        expect((await o.query(`SELECT count(*)::int AS n FROM ${T}`)).rows).toEqual([{ n }]);
        // The writer's statement: a position stored again is ignored, not refused.
        if (tenant === 'acme')
          expect(
            (
              await o.query(
                `INSERT INTO ${T} (tenant_id, edge_id, seq, position, kind, equipment, observed_at)
                 VALUES ('acme', 'e1', 1, 'rail pressure', 'inspection', 'RIG-1', $1) ON CONFLICT DO NOTHING`,
                [at0],
              )
            ).rowCount,
          ).toBe(0);
        await o.query('COMMIT');
      }
      await o.query('RESET ROLE');
    } finally {
      await o.end();
    }
  });
});

describe('summaries after retention on PostgreSQL: only the rows the store holds', () => {
  let storage: TestStorage;
  const [m0, m1, now, ahead] = [month(-4), month(-3), month(0), month(3)];
  const owner = <T extends pg.QueryResultRow>(sql: string, params: unknown[] = []) =>
    asOwner<T>(storage.databaseUrl!, sql, params);

  setupOrFailEach(async () => {
    storage = await testStorage('postgres');
    const cfg = loadCloudConfig({}, storage.overrides);
    const store = await openStore(cfg);
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createSite('acme', 'plant-1', 'Plant 1');
    const enroll = await store.tenancy.createEnrollmentToken('acme', 'plant-1', 3600_000);
    await store.db.close();
    const cloud = await startCloud(
      loadCloudConfig({}, { ...storage.overrides, port: '0' }),
      pino({ level: 'silent' }),
    );
    try {
      const edge = await new TestEdge(cloud.url).enroll(enroll.token, 'line-1');
      await edge.ingest([
        edge.inspection('RIG-1', `${m0}-10T08:00:00.000Z`, 'P-1', 'pass'),
        edge.inspection('RIG-1', `${m0}-11T08:00:00Z`, 'P-2', 'fail'),
        edge.inspection('RIG-1', `${m1}-10T08:00:00.000Z`, 'P-3', 'pass'),
        edge.inspection('RIG-1', `${m1}-11T08:00:00.123456Z`, 'P-4', 'pass'),
        // P-2 (first inspected, failed, in m0) inspected again in m1: a re-inspection, not a first pass.
        edge.inspection('RIG-1', `${m1}-12T08:00:00.000Z`, 'P-2', 'pass'),
        edge.inspection('RIG-1', `${now}-01T00:00:00Z`, 'P-5', 'pass'),
        edge.inspection('RIG-1', `${ahead}-02T08:00:00.000Z`, 'P-6', 'pass'),
      ]);
    } finally {
      await cloud.close();
    }
  });
  afterAll(async () => {
    await storage?.cleanup();
  });

  it('a dropped month leaves the summaries: the yield rollup and the SPC counts report only the rows held', async () => {
    const app = await PostgresDb.connect(storage.databaseUrl!, { appRole: storage.dbAppRole! });
    try {
      const reader = { tenantId: 'acme', sites: null, cleared: true, kind: 'user' as const, id: 'u' };
      const inspections = new InspectionRepository(app);
      const spc = new SpcRepository(app);
      const range = { from: startOf(m0), to: startOf(now) };
      const total = (rows: { tested: number; passed: number }[]) =>
        rows.reduce((a, r) => ({ tested: a.tested + r.tested, passed: a.passed + r.passed }), {
          tested: 0,
          passed: 0,
        });
      // Before: P-1, P-2 (m0), P-3, P-4 (m1) first inspected; 7 measurements of q from m0 on.
      expect(total(await inspections.firstPassYieldByQuarter(reader, range))).toEqual({
        tested: 4,
        passed: 3,
      });
      expect(
        (await spc.characteristics(reader, {})).map((c) => ({
          n: Number(c.n),
          first: c.first_at,
          last: c.last_at,
        })),
      ).toEqual([{ n: 7, first: `${m0}-10T08:00:00.000Z`, last: `${ahead}-02T08:00:00.000Z` }]);

      const dropped = cli(storage, 'records', 'retention', '--before', m1, '--drop');
      expect(dropped.status, dropped.stderr).toBe(0);

      // After: the rollup and the count from the inspections held agree, and neither counts m0's
      // rows; P-2's re-inspection in m1 is still not its first (its first time is kept).
      expect(total(await inspections.firstPassYieldByQuarter(reader, range))).toEqual({
        tested: 2,
        passed: 2,
      });
      expect(total(await inspections.firstPassYieldFromInspections(reader, range))).toEqual({
        tested: 2,
        passed: 2,
      });
      expect(await owner('SELECT count(*)::int AS n FROM yield_quarters WHERE quarter < $1', [m1])).toEqual([
        { n: 0 },
      ]);
      // The characteristic counts the 5 measurements held, from the first held.
      expect(
        (await spc.characteristics(reader, {})).map((c) => ({
          n: Number(c.n),
          first: c.first_at,
          last: c.last_at,
        })),
      ).toEqual([{ n: 5, first: `${m1}-10T08:00:00.000Z`, last: `${ahead}-02T08:00:00.000Z` }]);
      expect(
        await owner(
          "SELECT count(*)::int AS n FROM spc_measurements WHERE equipment = 'RIG-1' AND characteristic = 'q'",
        ),
      ).toEqual([{ n: 5 }]);
    } finally {
      await app.close();
    }
  });
});
