import { afterAll, describe, expect, it } from 'vitest';
import { UsersRepository, wholeTenant, type Viewer } from '../src/access/index.js';
import { AuditRepository } from '../src/audit/index.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { openStore } from '../src/server.js';
import { BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

type Store = Awaited<ReturnType<typeof openStore>>;

/** A reader limited to plant-1 (an admin of that site). */
const plant1: Viewer = { kind: 'user', tenantId: 'acme', id: 'u', sites: ['plant-1'], cleared: true };

/**
 * The administration's reads apply the reader's site scope in their query: sites, edges,
 * enrollment tokens and users of other sites are absent, and what concerns the whole tenant (API
 * tokens, the audit log, security events) is absent for a reader limited to sites. The product's
 * own work reads as `wholeTenant(…)` and sees everything.
 */
describe.each(BACKENDS)('scoped administration reads on %s', (backend) => {
  let storage: TestStorage;
  let store: Store;
  let users: UsersRepository;
  const userIds: Record<string, string> = {};

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    store = await openStore(loadCloudConfig({}, storage.overrides));
    await store.tenancy.createTenant('acme', 'Acme');
    for (const s of ['plant-1', 'plant-2']) {
      await store.tenancy.createSite('acme', s, s);
      await store.tenancy.createEdge({
        tenantId: 'acme',
        id: `edge-${s}`,
        siteId: s,
        name: s,
        publicKey: new Uint8Array(32),
      });
      await store.tenancy.createEnrollmentToken('acme', s, 3600_000);
    }
    await store.tenancy.createApiToken('acme', 'siem');
    await store.security.record({ tenantId: 'acme', code: 'INGEST_REFUSED', detail: 'bad signature' });
    users = new UsersRepository(store.db);
    for (const [name, sites] of [
      ['every', null],
      ['one', ['plant-1']],
      ['two', ['plant-1', 'plant-2']],
      ['none', []],
    ] as const) {
      const u = await users.create({
        tenantId: 'acme',
        email: `${name}@acme.example`,
        name,
        role: 'admin',
        sites,
        passwordHash: 'x',
        mustChangePassword: false,
      });
      userIds[name] = u.id;
    }
  });
  afterAll(async () => {
    await store?.db.close();
    await storage?.cleanup();
  });

  it('leaves out the sites, edges and enrollment tokens of other sites', async () => {
    const t = store.tenancy;
    expect((await t.listSites(plant1)).map((s) => s.id)).toEqual(['plant-1']);
    expect((await t.listSites(wholeTenant('acme'))).map((s) => s.id)).toEqual(['plant-1', 'plant-2']);
    expect((await t.sites(plant1)).map((s) => s.id)).toEqual(['plant-1']);
    expect(await t.sites(plant1, ['plant-2'])).toEqual([]);
    expect(await t.siteExists(plant1, 'plant-2')).toBe(false);
    expect(await t.siteExists(wholeTenant('acme'), 'plant-2')).toBe(true);
    expect((await t.listEdges(plant1)).map((e) => e.id)).toEqual(['edge-plant-1']);
    expect(await t.listEdges(plant1, 'plant-2')).toEqual([]);
    expect((await t.listEdges(wholeTenant('acme'), 'plant-2')).map((e) => e.id)).toEqual(['edge-plant-2']);
    expect(await t.edgeForTenant(plant1, 'edge-plant-2')).toBeUndefined();
    expect((await t.edgeForTenant(plant1, 'edge-plant-1'))?.site_id).toBe('plant-1');
    expect(await store.db.transaction(() => t.lockEdge(plant1, 'edge-plant-2'))).toBeUndefined();
    expect(await t.listEnrollmentTokens(plant1, 'plant-2')).toEqual([]);
    expect(await t.listEnrollmentTokens(plant1, 'plant-1')).toHaveLength(1);
    expect(await t.listEnrollmentTokens(wholeTenant('acme'), 'plant-2')).toHaveLength(1);
  });

  it('leaves out what concerns the whole tenant for a reader limited to sites', async () => {
    expect(await store.tenancy.listApiTokens(plant1)).toEqual([]);
    expect(await store.tenancy.listApiTokens(wholeTenant('acme'))).toHaveLength(1);
    expect(await store.security.list(plant1)).toEqual([]);
    expect((await store.security.list(wholeTenant('acme'))).map((e) => e.code)).toEqual(['INGEST_REFUSED']);
    const audit = new AuditRepository(store.db);
    await store.db.transaction(async () => {
      await audit.lockHead('acme');
      await audit.append(
        {
          tenant_id: 'acme',
          seq: 1,
          at: new Date().toISOString(),
          action: 'site.create',
          actor: 'system:test',
          outcome: 'success',
          entry: '{}',
          leaf_hash: Buffer.alloc(32),
          checkpoint: 'cp',
        },
        '{"size":1,"hashes":[]}',
      );
    });
    expect(await audit.page(plant1, 0, 10)).toEqual([]);
    expect((await audit.page(wholeTenant('acme'), 0, 10)).map((r) => r.seq)).toEqual([1]);
  });

  it('shows a reader limited to sites only the users limited to those sites', async () => {
    expect((await users.list(plant1)).map((u) => u.name)).toEqual(['none', 'one']);
    expect((await users.list(wholeTenant('acme'))).map((u) => u.name)).toEqual([
      'every',
      'none',
      'one',
      'two',
    ]);
    const two: Viewer = { ...plant1, sites: ['plant-2', 'plant-1'] };
    expect((await users.list(two)).map((u) => u.name)).toEqual(['none', 'one', 'two']);
    expect((await users.list({ ...plant1, sites: [] })).map((u) => u.name)).toEqual(['none']);
    expect(await users.byId(plant1, userIds.every!)).toBeUndefined();
    expect(await users.byId(plant1, userIds.two!)).toBeUndefined();
    expect((await users.byId(plant1, userIds.one!))?.name).toBe('one');
    expect(await users.byEmail(plant1, 'TWO@acme.example')).toBeUndefined();
    expect((await users.byEmail(wholeTenant('acme'), 'TWO@acme.example'))?.name).toBe('two');
    expect(await users.countActiveAdmins(wholeTenant('acme'))).toBe(4);
    expect(await users.countActiveAdmins(plant1)).toBe(2);
  });
});
