import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { wholeTenant, type Viewer } from '../src/access/index.js';
import { committed } from '../src/platform/after-commit.js';
import { TraceabilityService, type CalibrationService } from '../src/calibration/index.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { toPgPlaceholders } from '../src/platform/db/db.js';
import { InspectionRepository } from '../src/production/index.js';
import type { TraceableRow, YieldQuery } from '../src/production/index.js';
import { openStore, type Store } from '../src/server.js';
import type { Shift } from '../src/tenancy/index.js';
import {
  BACKENDS,
  asOwner,
  setupOrFailEach,
  testStorage,
  type TestStorage,
  migrateAgain,
} from './helpers/storage.js';

/**
 * First-pass yield is read from a rollup per quarter hour, site and rig (yield_quarters), kept by
 * ingest and back-filled by migration 75. It must give exactly what counting the inspections
 * themselves gives: the same data is read both ways (the rollup, and the inspections counted
 * per query) and every answer of GET /yield's computation compared, in sites of several time
 * zones (half- and quarter-hour offsets, daylight saving) with their own shifts.
 */

/** Counts every query from the inspections themselves: the definition the rollup must match. */
class CountingRepository extends InspectionRepository {
  override firstPassYieldByQuarter(v: Viewer, q: YieldQuery) {
    return this.firstPassYieldFromInspections(v, q);
  }
}

const acme = wholeTenant('acme');

const SITES: [string, string, Shift[]][] = [
  [
    'plant-in',
    'Asia/Kolkata',
    [
      { name: 'A', start: '06:30' },
      { name: 'B', start: '18:30' },
    ],
  ],
  [
    'plant-la',
    'America/Los_Angeles',
    [
      { name: 'Day', start: '07:00' },
      { name: 'Night', start: '19:00' },
    ],
  ],
  [
    'plant-np',
    'Asia/Kathmandu',
    [
      { name: 'Early', start: '05:45' },
      { name: 'Late', start: '13:45' },
      { name: 'Night', start: '21:45' },
    ],
  ],
  ['plant-lh', 'Australia/Lord_Howe', [{ name: 'Only', start: '00:00' }]],
];
const RIGS = ['RIG-1', 'RIG-2', 'RIG-3'];
/** Around the end of daylight saving in Los Angeles (1 Nov 2026) and its start at Lord Howe (4 Oct). */
const T0 = Date.parse('2026-10-28T00:00:00.000Z');
const SPAN = 8 * 86_400_000;

/** A small deterministic generator (the data is the same in every run). */
function random(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Inspections of 600 parts, most inspected twice or three times, some at one instant twice. */
function inspections(): TraceableRow[] {
  const r = random(16);
  const rows: TraceableRow[] = [];
  let seq = 0;
  for (let p = 0; p < 600; p++) {
    const n = 1 + Math.floor(r() * 3);
    let at = T0 + Math.floor(r() * SPAN);
    for (let k = 0; k < n; k++) {
      const [siteId] = SITES[Math.floor(r() * SITES.length)]!;
      rows.push({
        edgeId: `edge-${siteId}`,
        seq: ++seq,
        kind: 'inspection',
        siteId,
        equipment: RIGS[Math.floor(r() * RIGS.length)]!,
        observedAt: new Date(at).toISOString(),
        partSerial: `P-${p}`,
        workOrder: 'WO-1',
        result: r() < 0.2 ? 'fail' : 'pass',
        cycles: null,
      });
      // Now and then a second inspection of the part at the very same instant (both are first).
      if (r() >= 0.05) at += Math.floor(r() * 36 * 3_600_000) + 1;
    }
  }
  // Usage records and an inspection without a part serial count for nobody.
  rows.push({ ...rows[0]!, seq: ++seq, kind: 'usage', result: null, cycles: 1 });
  rows.push({ ...rows[1]!, seq: ++seq, partSerial: null });
  return rows;
}

/** The rows in batches as edges deliver them: shuffled (a later inspection may come first), some sent twice. */
function batches(rows: readonly TraceableRow[]): TraceableRow[][] {
  const r = random(7);
  const shuffled = [...rows];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
  }
  const out: TraceableRow[][] = [];
  for (let i = 0; i < shuffled.length; i += 37) {
    out.push(shuffled.slice(i, i + 37));
    if (r() < 0.15) out.push(shuffled.slice(i, i + 37)); // re-sent after a lost acknowledgement
  }
  return out;
}

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const iso = (ms: number) => new Date(ms).toISOString();
/** The periods asked: local days, whole quarter hours, and ends inside a quarter hour. */
const PERIODS: [string, string][] = [
  [day(T0), day(T0 + SPAN)],
  [day(T0 + 2 * 86_400_000), day(T0 + 4 * 86_400_000)],
  [iso(T0), iso(T0 + SPAN + 86_400_000)],
  [iso(T0 + 3 * 86_400_000), iso(T0 + 5 * 86_400_000)],
  [iso(T0 + 86_400_000 + 7 * 60_000 + 123), iso(T0 + 6 * 86_400_000 - 11 * 60_000 - 1)],
  [iso(T0 + 86_400_000 + 7 * 60_000), iso(T0 + 86_400_000 + 12 * 60_000)],
  [iso(T0 + 86_400_000 + 14 * 60_000), iso(T0 + 86_400_000 + 31 * 60_000)],
  [day(T0 + 3 * 86_400_000), iso(T0 + 5 * 86_400_000 + 1)],
];
/** Filters of the query, and `sites`: the reader's site scope. */
const FILTERS: (Omit<YieldQuery, 'from' | 'to'> & { sites?: string[] })[] = [
  {},
  { siteId: 'plant-la' },
  { siteId: 'plant-np', equipment: 'RIG-2' },
  { equipment: 'RIG-3' },
  { sites: ['plant-in', 'plant-lh'] },
  { siteId: 'plant-in', sites: ['plant-la'] },
];

describe.each(BACKENDS)('first-pass yield from the rollup on %s', (backend) => {
  let storage: TestStorage;
  let store: Store;
  const shifts = new Map(SITES.map(([id, timeZone, s]) => [id, { timeZone, shifts: s }]));

  async function ownerSql(sql: string): Promise<unknown[]> {
    if (backend === 'postgres') return asOwner(storage.databaseUrl!, toPgPlaceholders(sql, 0));
    return store.db.all(sql);
  }

  /**
   * The index rows through the ingest path's repository call. On PostgreSQL the index rows refer
   * to their records' leaves (foreign key to record_log): records and leaves are written first,
   * as the owner, with their edges.
   */
  async function index(tenantId: string, rows: readonly TraceableRow[]) {
    if (backend === 'postgres') {
      const url = storage.databaseUrl!;
      await asOwner(
        url,
        `INSERT INTO edges (tenant_id, id, site_id, name, public_key, enrolled_at)
         SELECT DISTINCT $1, e, s, e, '\\x00'::bytea, now() FROM unnest($2::text[], $3::text[]) AS u(e, s)
         ON CONFLICT DO NOTHING`,
        [tenantId, rows.map((r) => r.edgeId), rows.map((r) => r.siteId)],
      );
      await asOwner(
        url,
        `WITH r AS (
           INSERT INTO records (tenant_id, edge_id, seq, id, kind, equipment, observed_at, json, leaf_hash, ingested_at, replayed)
           SELECT $1, e, q, e || ':' || q, k, eq, at, '{}', '\\x00'::bytea, now(), false
           FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[]) AS u(e, q, k, eq, at)
           ON CONFLICT DO NOTHING
           RETURNING tenant_id, edge_id, seq, observed_at, leaf_hash)
         INSERT INTO record_log (tenant_id, edge_id, seq, observed_at, leaf_hash) SELECT * FROM r`,
        [
          tenantId,
          rows.map((r) => r.edgeId),
          rows.map((r) => r.seq),
          rows.map((r) => r.kind),
          rows.map((r) => r.equipment),
          rows.map((r) => r.observedAt),
        ],
      );
    }
    await store.inspections.insert(tenantId, rows, []);
  }

  /** Every answer of GET /yield's computation, from the rollup and from the inspections. */
  async function compareAll() {
    const calibrations = undefined as unknown as ConstructorParameters<typeof TraceabilityService>[1];
    const none = undefined as unknown as CalibrationService;
    const fromRollup = new TraceabilityService(none, calibrations, store.inspections);
    const counted = new TraceabilityService(none, calibrations, new CountingRepository(store.db));
    let tested = 0;
    for (const [from, to] of PERIODS)
      for (const f of FILTERS) {
        const { sites, ...filter } = f;
        const reader = { ...acme, sites: sites ?? null };
        const q = { from, to, ...filter };
        const a = await fromRollup.firstPassYield(reader, q, shifts);
        expect(a, JSON.stringify(f)).toEqual(await counted.firstPassYield(reader, q, shifts));
        tested += a.perRig.reduce((n, p) => n + p.tested, 0);
        // The quarters themselves, rows and order.
        const qq = { ...q, from: a.from, to: a.to };
        expect(await store.inspections.firstPassYieldByQuarter(reader, qq)).toEqual(
          await store.inspections.firstPassYieldFromInspections(reader, qq),
        );
      }
    return tested;
  }

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    store = await openStore(loadCloudConfig({}, storage.overrides));
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createTenant('other', 'Other');
    for (const [id, zone] of SITES) await store.tenancy.createSite('acme', id, id, zone);
    await store.tenancy.createSite('other', 'plant-in', 'x', 'UTC');
  });
  afterAll(async () => {
    await store?.db.close();
    await storage?.cleanup();
  });

  it('gives what counting the inspections gives, however the batches arrive', async () => {
    const rows = inspections();
    for (const b of batches(rows)) await index('acme', b);
    // Another tenant's inspection of a part of the same serial changes nothing of acme's.
    await index('other', [{ ...rows[5]!, siteId: 'plant-in', observedAt: iso(T0 - 1) }]);
    const tested = await compareAll();
    expect(tested).toBeGreaterThan(1000);
    // The whole span: each part counted once (or twice when two inspections share its first instant).
    const all = await store.inspections.firstPassYieldByQuarter(acme, {
      from: iso(T0 - 1),
      to: iso(T0 + 30 * 86_400_000),
    });
    const total = all.reduce((n, q) => n + q.tested, 0);
    expect(total).toBeGreaterThanOrEqual(600);
    expect(total).toBeLessThan(660);
  }, 60_000); // 8 periods × 6 filters × 4 time zones against the inspections: 12 s alone on PostgreSQL

  it('a part inspected earlier than its counted first moves its count to the earlier inspection', async () => {
    const at = '2026-11-20T10:05:00.000Z';
    const base: TraceableRow = {
      edgeId: 'edge-late',
      seq: 1,
      kind: 'inspection',
      siteId: 'plant-la',
      equipment: 'RIG-9',
      observedAt: at,
      partSerial: 'LATE-1',
      workOrder: null,
      result: 'fail',
      cycles: null,
    };
    const span = { from: '2026-11-20T00:00:00.000Z', to: '2026-11-21T00:00:00.000Z', equipment: 'RIG-9' };
    await index('acme', [base]);
    expect(await store.inspections.firstPassYieldByQuarter(acme, span)).toEqual([
      { equipment: 'RIG-9', siteId: 'plant-la', quarter: '2026-11-20T10:00', tested: 1, passed: 0 },
    ]);
    // The part's earlier inspection arrives later (an edge catching up): it is the first now.
    await index('acme', [{ ...base, seq: 2, observedAt: '2026-11-20T09:59:59.999Z', result: 'pass' }]);
    expect(await store.inspections.firstPassYieldByQuarter(acme, span)).toEqual([
      { equipment: 'RIG-9', siteId: 'plant-la', quarter: '2026-11-20T09:45', tested: 1, passed: 1 },
    ]);
    expect(await store.inspections.firstPassYieldByQuarter(acme, span)).toEqual(
      await store.inspections.firstPassYieldFromInspections(acme, span),
    );
  });

  it('counts a part once when batches inspecting it are stored at the same time', async () => {
    // Ten edges send, at once, an inspection each of the same 30 parts, at different times.
    const span = { from: '2026-11-25T00:00:00.000Z', to: '2026-11-26T00:00:00.000Z', equipment: 'RIG-C' };
    const sends = Array.from({ length: 10 }, (_, e) =>
      index(
        'acme',
        Array.from({ length: 30 }, (_, p) => ({
          edgeId: `edge-c${e}`,
          seq: p + 1,
          kind: 'inspection' as const,
          siteId: 'plant-in',
          equipment: 'RIG-C',
          observedAt: iso(Date.parse(span.from) + (10 - e) * 3_600_000 + p * 60_000),
          partSerial: `C-${p}`,
          workOrder: null,
          result: e % 2 === 0 ? ('pass' as const) : ('fail' as const),
          cycles: null,
        })),
      ),
    );
    await Promise.all(sends);
    const rollup = await store.inspections.firstPassYieldByQuarter(acme, span);
    expect(rollup.reduce((n, q) => n + q.tested, 0)).toBe(30);
    expect(rollup).toEqual(await store.inspections.firstPassYieldFromInspections(acme, span));
  });

  it.runIf(backend === 'postgres')(
    'in an ingest transaction takes its parts last: a batch of the same parts meanwhile is stored without waiting',
    async () => {
      // SQLite writes one transaction at a time; on PostgreSQL batches of several edges write at
      // once, and one holding its parts' locks from its inspections to its commit made every
      // other batch of those parts wait for all of its remaining statements.
      const span = { from: '2026-11-27T00:00:00.000Z', to: '2026-11-28T00:00:00.000Z', equipment: 'RIG-D' };
      const batch = (e: number): TraceableRow[] =>
        Array.from({ length: 5 }, (_, p) => ({
          edgeId: `edge-d${e}`,
          seq: p + 1,
          kind: 'inspection' as const,
          siteId: 'plant-in',
          equipment: 'RIG-D',
          observedAt: iso(Date.parse(span.from) + (2 - e) * 3_600_000 + p * 60_000),
          partSerial: `D-${p}`,
          workOrder: null,
          result: e === 0 ? ('pass' as const) : ('fail' as const),
          cycles: null,
        }));
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let indexed!: () => void;
      const firstIndexed = new Promise<void>((r) => (indexed = r));
      const first = committed(store.db, async () => {
        await index('acme', batch(0));
        indexed();
        await gate; // the rest of the first batch's transaction
      });
      await firstIndexed;
      const second = index('acme', batch(1)).then(() => 'stored');
      const waited = await Promise.race([second, sleep(5_000).then(() => 'waiting')]);
      release();
      await first;
      await second;
      expect(waited).toBe('stored');
      // Each part counted once, at its first inspection (the second edge's, an hour earlier).
      const rollup = await store.inspections.firstPassYieldByQuarter(acme, span);
      expect(rollup.reduce((n, q) => n + q.tested, 0)).toBe(5);
      expect(rollup.reduce((n, q) => n + q.passed, 0)).toBe(0);
      expect(rollup).toEqual(await store.inspections.firstPassYieldFromInspections(acme, span));
    },
  );

  it('migration 92 back-fills each part’s first inspection time from the inspections already stored', async () => {
    const read = () => ownerSql('SELECT tenant_id, part_serial, first_at FROM part_firsts ORDER BY 1, 2');
    const kept = (await read()).map((r) => ({ ...(r as object) }));
    expect(kept.length).toBeGreaterThan(100);
    await ownerSql('DROP TABLE part_firsts');
    await ownerSql('DROP TABLE position_spans');
    await ownerSql('DELETE FROM schema_migrations WHERE version = 92');
    expect(await migrateAgain(storage)).toBe(1);
    expect((await read()).map((r) => ({ ...(r as object) }))).toEqual(kept);
    await compareAll();
  });

  it('reads more quarter hours than a function call takes arguments (a large tenant over months)', async () => {
    // 150,000 rollup rows: 100 rigs × 1,500 quarter hours. Gathering them with push(...rows)
    // threw "Maximum call stack size exceeded" (and GET /yield answered 500) past ~120,000.
    const n = 150_000;
    await ownerSql(
      backend === 'sqlite'
        ? `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ${n - 1})
           INSERT INTO yield_quarters (tenant_id, quarter, site_id, equipment, tested, passed)
           SELECT 'big', strftime('%Y-%m-%dT%H:%M', '2026-01-01T00:00:00', '+' || (i / 100 * 15) || ' minutes'),
             'plant-in', 'RIG-' || (i % 100), 2, 1 FROM n`
        : `INSERT INTO yield_quarters (tenant_id, quarter, site_id, equipment, tested, passed)
           SELECT 'big', to_char(timestamp '2026-01-01' + (i / 100) * interval '15 minutes', 'YYYY-MM-DD"T"HH24:MI'),
             'plant-in', 'RIG-' || (i % 100), 2, 1 FROM generate_series(0, ${n - 1}) AS i`,
    );
    const span = { from: '2026-01-01T00:00:00.000Z', to: '2026-02-01T00:00:00.000Z' };
    const quarters = await store.inspections.firstPassYieldByQuarter(wholeTenant('big'), span);
    expect(quarters.length).toBe(n);
    expect(quarters.reduce((t, q) => t + q.tested, 0)).toBe(2 * n);
    const calibrations = undefined as unknown as ConstructorParameters<typeof TraceabilityService>[1];
    const service = new TraceabilityService(
      undefined as unknown as CalibrationService,
      calibrations,
      store.inspections,
    );
    const answer = await service.firstPassYield(wholeTenant('big'), span);
    expect(answer.perRig).toHaveLength(100);
    expect(answer.perRig.every((r) => r.tested === 3_000 && r.passed === 1_500)).toBe(true);
    await ownerSql(`DELETE FROM yield_quarters WHERE tenant_id = 'big'`);
  }, 60_000);

  it.runIf(backend === 'sqlite')(
    'migration 93 keeps every row of the rollup and stores it in its key’s order (SQLite)',
    async () => {
      const read = () =>
        ownerSql(
          'SELECT tenant_id, quarter, site_id, equipment, tested, passed FROM yield_quarters ORDER BY 1, 2, 3, 4',
        );
      // A table stored in its primary key's b-tree has no rowid to read.
      const clustered = () =>
        ownerSql('SELECT rowid FROM yield_quarters LIMIT 1').then(
          () => false,
          (e: Error) => /no such column: rowid/.test(e.message),
        );
      const kept = await read();
      expect(kept.length).toBeGreaterThan(100);
      expect(await clustered()).toBe(true);
      // The table as migration 75 made it (each row reached from the key through its rowid), then 93 again.
      await ownerSql('ALTER TABLE yield_quarters RENAME TO yield_quarters_75');
      await ownerSql(
        `CREATE TABLE yield_quarters (tenant_id TEXT NOT NULL, quarter TEXT NOT NULL, site_id TEXT NOT NULL,
           equipment TEXT NOT NULL, tested BIGINT NOT NULL, passed BIGINT NOT NULL,
           PRIMARY KEY (tenant_id, quarter, site_id, equipment))`,
      );
      await ownerSql('INSERT INTO yield_quarters SELECT * FROM yield_quarters_75');
      await ownerSql('DROP TABLE yield_quarters_75');
      await ownerSql('CREATE INDEX yield_quarters_by_site ON yield_quarters (tenant_id, site_id, quarter)');
      expect(await clustered()).toBe(false);
      await ownerSql('DELETE FROM schema_migrations WHERE version = 93');
      expect(await migrateAgain(storage)).toBe(1);
      expect(await read()).toEqual(kept);
      expect(await clustered()).toBe(true);
      await compareAll();
    },
  );

  it('migration 75 back-fills the rollup from the inspections already stored', async () => {
    const read = () =>
      ownerSql(
        'SELECT tenant_id, quarter, site_id, equipment, tested, passed FROM yield_quarters WHERE tested > 0 ORDER BY 1, 2, 3, 4',
      );
    const kept = (await read()).map((r) => ({ ...(r as object) }));
    expect(kept.length).toBeGreaterThan(100);
    await ownerSql('DROP TABLE yield_quarters');
    await ownerSql('DELETE FROM schema_migrations WHERE version = 75');
    expect(await migrateAgain(storage)).toBe(1);
    const norm = (rows: unknown[]) =>
      rows.map((r) => {
        const x = r as Record<string, unknown>;
        return { ...x, tested: Number(x.tested), passed: Number(x.passed) };
      });
    expect(norm(await read())).toEqual(norm(kept));
    await compareAll();
  });
});
