import { afterAll, describe, expect, it } from 'vitest';
import { loadCloudConfig } from '../src/platform/config.js';
import { TenantScopeError } from '../src/platform/db/db.js';
import { openStore } from '../src/server.js';
import { wholeTenant } from '../src/access/index.js';
import { BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

type Store = Awaited<ReturnType<typeof openStore>>;

/** The Db contract, held to the same expectations on each backend. */
describe.each(BACKENDS)('storage contract on %s', (backend) => {
  let storage: TestStorage;
  let store: Store;

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    store = await openStore(loadCloudConfig({}, storage.overrides));
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createSite('acme', 'plant-1', 'Plant 1');
    await store.tenancy.createTenant('other', 'Other');
    await store.tenancy.createSite('other', 'p', 'P');
  });
  afterAll(async () => {
    await store?.db.close();
    await storage?.cleanup();
  });

  it('returns integers as numbers, blobs as Buffers, booleans as 0 | 1 and timestamps as ISO strings', async () => {
    const key = Buffer.from(Array.from({ length: 32 }, (_, i) => i * 7));
    await store.tenancy.createEdge({
      tenantId: 'acme',
      id: 'edge-v',
      siteId: 'plant-1',
      name: 'v',
      publicKey: key,
    });
    const now = '2026-01-02T03:04:05.678Z';
    await store.records.insertRecords(
      'acme',
      'edge-v',
      [1, 2, 3].map((seq) => ({
        seq,
        id: `r${seq}`,
        kind: 'event',
        equipment: 'RIG-1',
        observedAt: now,
        json: `{"seq":${seq}}`,
        leafHash: new Uint8Array(32).fill(seq),
        replayed: seq === 2,
      })),
      now,
    );
    const edge = await store.tenancy.edgeForTenant(wholeTenant('acme'), 'edge-v');
    expect(Buffer.isBuffer(edge?.public_key)).toBe(true);
    expect(edge?.public_key.equals(key)).toBe(true);
    expect(edge?.log_size).toBe(0);
    expect(edge?.enrolled_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(await store.records.count(wholeTenant('acme'), 'edge-v')).toBe(3);
    const rows = await store.records.list(
      { kind: 'user', tenantId: 'acme', id: 'test', sites: null, cleared: true },
      { edge: 'edge-v', limit: 10 },
    );
    expect(rows.map((r) => [r.seq, r.replayed, r.ingested_at])).toEqual([
      [1, 0, now],
      [2, 1, now],
      [3, 0, now],
    ]);
    const hashes = await store.records.leafHashes(wholeTenant('acme'), 'edge-v', [3, 1, 9]);
    expect([...hashes.keys()].sort()).toEqual([1, 3]);
    expect(hashes.get(3)).toEqual(new Uint8Array(32).fill(3));
    const literal = await store.db.get<{ q: string; p: string }>("SELECT '?' AS q, ? AS p", ['x']);
    expect(literal).toEqual({ q: '?', p: 'x' });
  });

  it('commits a transaction that resolves and rolls back every statement of one that throws', async () => {
    await store.db.transaction(async () => {
      await store.tenancy.createTenant('kept', 'Kept');
      // Nested repository calls run in the same transaction and see its uncommitted rows.
      expect(await store.tenancy.tenantExists('kept')).toBe(true);
    });
    await expect(
      store.db.transaction(async () => {
        await store.tenancy.createTenant('gone', 'Gone');
        await store.db.transaction(() => store.tenancy.createSite('gone', 's', 'S')); // joins
        expect(await store.tenancy.siteExists(wholeTenant('gone'), 's')).toBe(true);
        throw new Error('undo');
      }),
    ).rejects.toThrow('undo');
    expect(await store.tenancy.tenantExists('kept')).toBe(true);
    expect(await store.tenancy.tenantExists('gone')).toBe(false);
    expect(await store.tenancy.siteExists(wholeTenant('gone'), 's')).toBe(false);
  });

  it('keeps statements from outside a transaction out of it: they neither see its rows nor roll back with it', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let inserted!: () => void;
    const didInsert = new Promise<void>((r) => (inserted = r));
    const tx = store.db.transaction(async () => {
      await store.tenancy.createTenant('ghost', 'Ghost');
      inserted();
      await gate;
      throw new Error('rolled back');
    });
    await didInsert;
    const seen = store.tenancy.tenantExists('ghost');
    const bystander = store.tenancy.createTenant('bystander', 'Bystander');
    release();
    await expect(tx).rejects.toThrow('rolled back');
    expect(await seen).toBe(false);
    await bystander;
    expect(await store.tenancy.tenantExists('bystander')).toBe(true);
    expect(await store.tenancy.tenantExists('ghost')).toBe(false);
  });

  it('refuses to work for another tenant inside a tenant scope', async () => {
    await expect(
      store.db.bindTenant('acme', () => store.tenancy.siteExists(wholeTenant('other'), 'p')),
    ).rejects.toThrow(TenantScopeError);
    await expect(
      store.db.bindTenant('acme', () => store.tenancy.siteExists(wholeTenant('acme'), 'plant-1')),
    ).resolves.toBe(true);
    await expect(
      store.db.transaction(async () => {
        await store.tenancy.siteExists(wholeTenant('acme'), 'plant-1');
        return store.tenancy.siteExists(wholeTenant('other'), 'p');
      }),
    ).rejects.toThrow('working for tenant "acme", asked for "other"');
    // Outside any scope each call may name its own tenant.
    expect(await store.tenancy.siteExists(wholeTenant('other'), 'p')).toBe(true);
  });

  it('consumes an enrollment token exactly once, however many try at the same time', async () => {
    const { token } = await store.tenancy.createEnrollmentToken('acme', 'plant-1', 60_000);
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        store.db.transaction(() => store.tenancy.consumeEnrollmentToken(token, `edge-${i}`)),
      ),
    );
    expect(results.filter((r) => r !== undefined)).toEqual([{ tenant_id: 'acme', site_id: 'plant-1' }]);
    const expired = await store.tenancy.createEnrollmentToken('acme', 'plant-1', -1);
    expect(await store.tenancy.consumeEnrollmentToken(expired.token, 'late')).toBeUndefined();
  });

  it('keeps security events without a tenant apart from the tenants’ own', async () => {
    await store.security.record({ tenantId: null, code: 'ENROLL_REFUSED', address: '10.0.0.9', detail: 'x' });
    await store.security.record({ tenantId: 'acme', code: 'INGEST_REFUSED', edgeId: 'edge-v', detail: 'y' });
    expect((await store.security.list(wholeTenant('acme'))).map((e) => e.code)).toEqual(['INGEST_REFUSED']);
    expect(await store.security.list(wholeTenant('other'))).toEqual([]);
  });
});
