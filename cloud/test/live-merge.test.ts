import { afterAll, describe, expect, it } from 'vitest';
import { LiveRepository, type LivePointRow, type LiveRigMerge } from '../src/live/live.repository.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { openStore, type Store } from '../src/server.js';
import { BACKENDS, asOwner, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

/**
 * The live tables' merge (one upsert per table, one statement on PostgreSQL): each newer-wins
 * rule, what it returns as changed, and the tenant's row-level security in force on PostgreSQL.
 */
describe.each(BACKENDS)('live state merge on %s', (backend) => {
  let storage: TestStorage;
  let store: Store;
  let repo: LiveRepository;
  const at = (s: number) => new Date(Date.parse('2026-12-01T08:00:00.000Z') + s * 1000).toISOString();

  const point = (equipment: string, name: string, value: number, s: number): LivePointRow => ({
    edge_id: 'e1',
    equipment,
    point: name,
    site_id: 'plant-1',
    value: JSON.stringify(value),
    unit: null,
    quality: 'good',
    observed_at: at(s),
  });
  const rig = (equipment: string, seen: number, o: Partial<LiveRigMerge> = {}): LiveRigMerge => ({
    edge_id: 'e1',
    equipment,
    site_id: 'plant-1',
    state: null,
    state_at: null,
    last_seen_at: at(seen),
    operator: null,
    work_order: null,
    part_serial: null,
    signals: null,
    signals_at: null,
    last_test: null,
    last_test_at: null,
    ...o,
  });
  const stored = async (tenantId: string) =>
    store.db.withTenant(tenantId, () =>
      store.db.all<Record<string, unknown>>(
        `SELECT equipment, state, state_since, state_at, last_seen_at, operator, signals, signals_at,
                last_test, last_test_at FROM live_rigs WHERE tenant_id = ? ORDER BY equipment`,
        [tenantId],
      ),
    );
  const values = async (tenantId: string) =>
    store.db.withTenant(tenantId, () =>
      store.db.all<{ point: string; value: string }>(
        'SELECT point, value FROM live_points WHERE tenant_id = ? ORDER BY point',
        [tenantId],
      ),
    );

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    store = await openStore(loadCloudConfig({}, storage.overrides));
    for (const t of ['acme', 'other']) {
      await store.tenancy.createTenant(t, t);
      await store.tenancy.createSite(t, 'plant-1', 'Plant 1', 'UTC');
    }
    for (const [t, id] of [
      ['acme', 'e1'],
      ['other', 'e2'],
    ] as const) {
      if (backend === 'postgres')
        await asOwner(
          storage.databaseUrl!,
          `INSERT INTO edges (tenant_id, id, site_id, name, public_key, enrolled_at)
           VALUES ($1, $2, 'plant-1', 'E', '\\x00'::bytea, now())`,
          [t, id],
        );
      else
        await store.db.run(
          `INSERT INTO edges (tenant_id, id, site_id, name, public_key, enrolled_at) VALUES (?, ?, 'plant-1', 'E', ?, ?)`,
          [t, id, Buffer.from([0]), at(0)],
        );
    }
    repo = new LiveRepository(store.db);
  });
  afterAll(async () => {
    await store?.db.close();
    await storage?.cleanup();
  });

  it('keeps the newer of each value and state, and returns only what it wrote', async () => {
    // First batch: everything new is written and returned.
    let m = await repo.merge(
      'acme',
      [point('RIG-1', 'p', 1, 10), point('RIG-1', 'q', 2, 10)],
      [
        rig('RIG-1', 10, { state: 'running', state_at: at(5), operator: 'op-1' }),
        rig('GAUGE-1', 7, { state: 'running', state_at: at(7) }),
      ],
    );
    expect(m.points.map((p) => p.point).sort()).toEqual(['p', 'q']);
    expect(m.rigs.sort((a, b) => a.equipment.localeCompare(b.equipment))).toEqual([
      { equipment: 'GAUGE-1', state_at: at(7), signals: null, last_test: null, telemetry: false },
      {
        equipment: 'RIG-1',
        state_at: at(5),
        signals: null,
        last_test: null,
        // SQLite writes the points first, PostgreSQL's subquery sees the rows before the statement.
        telemetry: backend === 'sqlite',
      },
    ]);

    // Second batch: a newer p, an older q; the same state later (its start kept), a dictionary.
    m = await repo.merge(
      'acme',
      [point('RIG-1', 'p', 3, 20), point('RIG-1', 'q', 9, 1)],
      [
        rig('RIG-1', 20, {
          state: 'running',
          state_at: at(15),
          operator: 'op-2',
          signals: '[1]',
          signals_at: at(20),
        }),
        rig('GAUGE-1', 8, { state: 'stopped', state_at: at(8), last_test: '{"t":1}', last_test_at: at(8) }),
      ],
    );
    expect(m.points).toEqual([{ equipment: 'RIG-1', point: 'p' }]);
    const byTag = new Map(m.rigs.map((r) => [r.equipment, r]));
    expect(byTag.get('RIG-1')).toEqual({
      equipment: 'RIG-1',
      state_at: at(15),
      signals: '[1]',
      last_test: null,
      telemetry: true,
    });
    expect(byTag.get('GAUGE-1')).toEqual({
      equipment: 'GAUGE-1',
      state_at: at(8),
      signals: null,
      last_test: '{"t":1}',
      telemetry: false,
    });
    expect(await values('acme')).toEqual([
      { point: 'p', value: '3' },
      { point: 'q', value: '2' },
    ]);

    // Third batch, an old buffer replayed: older state, dictionary and test, an earlier last
    // seen. Nothing is written or returned.
    m = await repo.merge(
      'acme',
      [point('RIG-1', 'p', 0, 2)],
      [
        rig('RIG-1', 3, { state: 'stopped', state_at: at(3), signals: '[0]', signals_at: at(3) }),
        rig('GAUGE-1', 4, { state: 'running', state_at: at(4), last_test: '{"t":0}', last_test_at: at(4) }),
      ],
    );
    expect(m).toEqual({ points: [], rigs: [] });

    // Only last seen newer: written, state kept (not the batch's older one).
    m = await repo.merge('acme', [], [rig('GAUGE-1', 30, { state: 'running', state_at: at(6) })]);
    expect(m.rigs.map((r) => [r.equipment, r.state_at])).toEqual([['GAUGE-1', at(8)]]);

    expect(await stored('acme')).toEqual([
      {
        equipment: 'GAUGE-1',
        state: 'stopped',
        state_since: at(8),
        state_at: at(8),
        last_seen_at: at(30),
        operator: null,
        signals: null,
        signals_at: null,
        last_test: '{"t":1}',
        last_test_at: at(8),
      },
      {
        equipment: 'RIG-1',
        state: 'running',
        state_since: at(5),
        state_at: at(15),
        last_seen_at: at(20),
        operator: 'op-2',
        signals: '[1]',
        signals_at: at(20),
        last_test: null,
        last_test_at: null,
      },
    ]);
    // Another tenant's rows are its own: on PostgreSQL written under its own tenant setting
    // (row-level security refuses a row of any other), its telemetry not mixed with acme's.
    m = await repo.merge(
      'other',
      [{ ...point('RIG-1', 'p', 5, 1), edge_id: 'e2' }],
      [{ ...rig('RIG-1', 1), edge_id: 'e2' }],
    );
    expect(m.points).toEqual([{ equipment: 'RIG-1', point: 'p' }]);
    expect(m.rigs.map((r) => [r.equipment, r.telemetry])).toEqual([['RIG-1', backend === 'sqlite']]);
    expect((await stored('other')).map((r) => [r.equipment, r.last_seen_at])).toEqual([['RIG-1', at(1)]]);
    expect(await values('other')).toEqual([{ point: 'p', value: '5' }]);
  });

  it('merges a batch of more than 500 points and rigs (several statements) as it merges a small one', async () => {
    const tag = (i: number) => `BIG-${String(i).padStart(4, '0')}`;
    // 1,202 points (601 rigs × 2) and 1,101 rigs: three chunks of each table.
    const points = (value: (i: number) => number, s: (i: number) => number) =>
      Array.from({ length: 1202 }, (_, i) => point(tag(i >> 1), i % 2 ? 'b' : 'a', value(i), s(i)));
    const rigs = (o: (i: number) => Partial<LiveRigMerge>) =>
      Array.from({ length: 1101 }, (_, i) => rig(tag(i), 100, o(i)));
    const big = async () => ({
      points: await store.db.withTenant('acme', () =>
        store.db.all<{ equipment: string; point: string; value: string; observed_at: string }>(
          `SELECT equipment, point, value, observed_at FROM live_points
           WHERE tenant_id = ? AND equipment LIKE 'BIG-%' ORDER BY equipment, point`,
          ['acme'],
        ),
      ),
      rigs: await store.db.withTenant('acme', () =>
        store.db.all<{ equipment: string; state: string; state_at: string; last_seen_at: string }>(
          `SELECT equipment, state, state_at, last_seen_at FROM live_rigs
           WHERE tenant_id = ? AND equipment LIKE 'BIG-%' ORDER BY equipment`,
          ['acme'],
        ),
      ),
    });

    let m = await repo.merge(
      'acme',
      points(
        () => 1,
        () => 100,
      ),
      rigs(() => ({ state: 'running', state_at: at(100) })),
    );
    expect(m.points).toHaveLength(1202);
    expect(new Set(m.points.map((p) => `${p.equipment}/${p.point}`)).size).toBe(1202);
    expect(m.rigs).toHaveLength(1101);
    let now = await big();
    expect(now.points).toHaveLength(1202);
    expect(now.points.every((p) => p.value === '1' && p.observed_at === at(100))).toBe(true);
    expect(now.rigs).toHaveLength(1101);
    expect(now.rigs.every((r) => r.state === 'running' && r.state_at === at(100))).toBe(true);

    // Again: every third point and rig newer, the rest older; only the newer ones are written.
    const newer = (i: number) => i % 3 === 0;
    m = await repo.merge(
      'acme',
      points(
        (i) => (newer(i) ? 2 : 9),
        (i) => (newer(i) ? 200 : 50),
      ),
      rigs((i) =>
        newer(i) ? { state: 'stopped', state_at: at(200) } : { state: 'stopped', state_at: at(50) },
      ),
    );
    const newerPoints = Array.from({ length: 1202 }, (_, i) => i).filter(newer);
    expect(m.points.map((p) => `${p.equipment}/${p.point}`).sort()).toEqual(
      newerPoints.map((i) => `${tag(i >> 1)}/${i % 2 ? 'b' : 'a'}`).sort(),
    );
    now = await big();
    expect(now.points).toHaveLength(1202);
    now.points.forEach((p, i) => {
      expect([p.equipment, p.point, p.value, p.observed_at]).toEqual([
        tag(i >> 1),
        i % 2 ? 'b' : 'a',
        newer(i) ? '2' : '1',
        newer(i) ? at(200) : at(100),
      ]);
    });
    expect(now.rigs).toHaveLength(1101);
    now.rigs.forEach((r, i) => {
      expect([r.equipment, r.state, r.state_at]).toEqual([
        tag(i),
        newer(i) ? 'stopped' : 'running',
        newer(i) ? at(200) : at(100),
      ]);
    });
  });
});
