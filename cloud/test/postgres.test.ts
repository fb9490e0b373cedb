import { spawnSync } from 'node:child_process';
import pg from 'pg';
import pino from 'pino';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { loadCloudConfig } from '../src/platform/config.js';
import { TenantScopeError } from '../src/platform/db/db.js';
import { MIGRATIONS, migratePostgres } from '../src/platform/db/migrations.js';
import { PostgresDb } from '../src/platform/db/postgres.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { TestEdge } from './helpers/edge.js';
import {
  PG_ADMIN_URL,
  asOwner,
  createTestDatabase,
  setupOrFailEach,
  testStorage,
  type TestStorage,
} from './helpers/storage.js';

/**
 * What only PostgreSQL has: several cloud processes on one database, row-level security as a
 * second wall for tenancy, the app role's narrow privileges, and migrations that several
 * processes may start at once. (Everything else runs on both backends in the other suites.)
 */
type Store = Awaited<ReturnType<typeof openStore>>;

describe('two cloud instances on one PostgreSQL database', () => {
  let storage: TestStorage;
  let store: Store;
  const clouds: RunningCloud[] = [];
  let acme: TestEdge;
  let other: TestEdge;
  const urls = () => clouds.map((c) => c.url);

  setupOrFailEach(async () => {
    storage = await testStorage('postgres');
    store = await openStore(loadCloudConfig({}, storage.overrides));
    for (const [t, site] of [
      ['acme', 'plant-1'],
      ['other', 'p'],
    ] as const) {
      await store.tenancy.createTenant(t, t);
      await store.tenancy.createSite(t, site, site);
    }
    const enrollAcme = await store.tenancy.createEnrollmentToken('acme', 'plant-1', 60_000);
    const enrollOther = await store.tenancy.createEnrollmentToken('other', 'p', 60_000);
    // Both start at once on the same database and the same data folder (one witness key).
    const cfg = loadCloudConfig({}, { ...storage.overrides, port: '0' });
    clouds.push(
      ...(await Promise.all([
        startCloud(cfg, pino({ level: 'silent' })),
        startCloud(cfg, pino({ level: 'silent' })),
      ])),
    );
    acme = await new TestEdge(clouds[0]!.url).enroll(enrollAcme.token, 'acme-line');
    other = await new TestEdge(clouds[1]!.url).enroll(enrollOther.token, 'other-line');
  });
  afterAll(async () => {
    await Promise.all(clouds.map((c) => c.close()));
    await store?.db.close();
    await storage?.cleanup();
  });

  const owner = <T extends Record<string, unknown>>(sql: string, params: unknown[] = []) =>
    asOwner<T>(storage.databaseUrl!, sql, params);

  it('stores a batch that both receive at once exactly once, and both answer 200 with the same ackedSeq', async () => {
    const b = acme.sign(acme.examples(5));
    const replies = await Promise.all(
      Array.from({ length: 10 }, (_, i) => acme.post(b.batch, urls()[i % 2])),
    );
    acme.accept(b);
    expect(replies.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(new Set(replies.map((r) => r.body.ackedSeq))).toEqual(new Set([5]));
    expect(replies.reduce((n, r) => n + Number(r.body.accepted), 0)).toBe(5);
    expect(replies.reduce((n, r) => n + Number(r.body.duplicates), 0)).toBe(45);
    const rows = await owner<{ seq: number }>('SELECT seq FROM records WHERE edge_id = $1 ORDER BY seq', [
      acme.id,
    ]);
    expect(rows.map((r) => Number(r.seq))).toEqual([1, 2, 3, 4, 5]);
    expect(await owner('SELECT size FROM checkpoints WHERE edge_id = $1', [acme.id])).toHaveLength(1);
  });

  it('ends gap-free when one edge’s batches arrive interleaved and out of order at both instances', async () => {
    // The edge's log grows by twelve batches of five (seq 6..65), each on top of the one before.
    const batches: unknown[] = [];
    let st = acme.state!;
    for (let i = 0; i < 12; i += 1) {
      const b = acme.sign(acme.examples(5), st);
      batches.push(b.batch);
      st = b.state;
    }
    // Like edges retrying through a load balancer that duplicates requests: every batch not yet
    // acknowledged goes to both instances, all at once and newest first, until all are.
    let pending = batches.map((batch, i) => ({ batch, i })).reverse();
    const refusals: string[] = [];
    for (let round = 0; pending.length > 0 && round < 40; round += 1) {
      const replies = await Promise.all(
        pending.map((p) => Promise.all(urls().map((url) => acme.post(p.batch, url)))),
      );
      for (const r of replies.flat())
        if (r.status !== 200) refusals.push(`${r.status} ${String(r.body.code)}`);
      pending = pending.filter((_, k) => !replies[k]!.some((r) => r.status === 200));
    }
    expect(pending).toEqual([]);
    // Batches that arrived before their predecessor were told where to resume, and nothing else.
    expect(refusals.length).toBeGreaterThan(0);
    expect(new Set(refusals)).toEqual(new Set(['409 CLOUD_BATCH_NOT_CONTINUOUS']));
    const rows = await owner<{ seq: string }>('SELECT seq FROM records WHERE edge_id = $1 ORDER BY seq', [
      acme.id,
    ]);
    expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: 65 }, (_, i) => i + 1));
    const [edge] = await owner<{ log_size: string; log_root: Buffer }>(
      'SELECT log_size, log_root FROM edges WHERE id = $1',
      [acme.id],
    );
    expect(Number(edge!.log_size)).toBe(65);
    expect(new Uint8Array(edge!.log_root)).toEqual(st.root);
    expect(await owner('SELECT code FROM security_events')).toEqual([]);
  });

  it('gives the other tenant its own log through the other instance', async () => {
    const r = await other.send(other.examples(3));
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ ackedSeq: 3, accepted: 3 });
  });

  describe('row-level security, the second wall', () => {
    const TABLES = [
      'sites',
      'enrollment_tokens',
      'api_tokens',
      'edges',
      'records',
      'checkpoints',
      'security_events',
    ];

    it('shows a raw query that forgot its WHERE only the current tenant’s rows', async () => {
      for (const tenant of ['acme', 'other']) {
        await store.security.record({ tenantId: tenant, code: 'TEST_EVENT', detail: 'for the wall' });
        await store.tenancy.createApiToken(tenant, 'reports');
      }
      const acme = await store.db.withTenant('acme', () =>
        store.db.all<{ tenant_id: string; seq: number }>('SELECT * FROM records'),
      );
      expect(acme.length).toBe(65);
      expect(new Set(acme.map((r) => r.tenant_id))).toEqual(new Set(['acme']));
      const other = await store.db.withTenant('other', () =>
        store.db.all<{ tenant_id: string }>('SELECT * FROM records'),
      );
      expect(other.map((r) => r.tenant_id)).toEqual(['other', 'other', 'other']);
      // The truth, seen by the owner: both tenants' rows are there.
      expect(await owner('SELECT 1 FROM records')).toHaveLength(68);

      for (const table of TABLES) {
        const all = await owner<{ tenant_id: string }>(`SELECT tenant_id FROM ${table}`);
        for (const tenant of ['acme', 'other']) {
          const seen = await store.db.withTenant(tenant, () =>
            store.db.all<{ tenant_id: string }>(`SELECT * FROM ${table}`),
          );
          expect(seen.length, `${table} as ${tenant}`).toBe(all.filter((r) => r.tenant_id === tenant).length);
          expect(
            seen.every((r) => r.tenant_id === tenant),
            `${table} as ${tenant}`,
          ).toBe(true);
        }
        expect(
          all.some((r) => r.tenant_id === 'acme') && all.some((r) => r.tenant_id === 'other'),
          table,
        ).toBe(true);
      }
      const tenants = await store.db.withTenant('acme', () =>
        store.db.all<{ id: string }>('SELECT id FROM tenants'),
      );
      expect(tenants).toEqual([{ id: 'acme' }]);
    });

    it('sets the tenant with BEGIN exactly as given, quotes and backslashes included', async () => {
      // A transaction opened for a tenant sets it in the same round trip as BEGIN, as a literal.
      for (const tenant of [
        "o'brien",
        'back\\slash',
        "x'); SELECT set_config('app.tenant_id', 'acme', true); --",
      ]) {
        const seen = await store.db.withTenant(tenant, () =>
          store.db.get<{ t: string }>("SELECT current_setting('app.tenant_id') AS t"),
        );
        expect(seen?.t).toBe(tenant);
        expect(await store.db.withTenant(tenant, () => store.db.all('SELECT * FROM records'))).toEqual([]);
      }
    });

    it('runs one statement for a tenant outside a transaction in one round trip, the tenant in force and gone after', async () => {
      const sent = vi.spyOn(pg.Client.prototype, 'query');
      try {
        for (const tenant of ['acme', 'other']) {
          const all = await owner<{ tenant_id: string }>('SELECT tenant_id FROM records');
          const before = sent.mock.calls.length;
          const seen = await store.db.bindTenant(tenant, () =>
            store.db.all<{ tenant_id: string }>('SELECT * FROM records WHERE seq >= ?', [0]),
          );
          // One query on the wire: the tenant and the statement in one pipeline, no BEGIN/COMMIT.
          expect(sent.mock.calls.length - before, tenant).toBe(1);
          expect(seen.length, tenant).toBe(all.filter((r) => r.tenant_id === tenant).length);
          expect(new Set(seen.map((r) => r.tenant_id))).toEqual(new Set([tenant]));
        }
      } finally {
        sent.mockRestore();
      }
      for (const tenant of [
        "o'brien",
        'back\\slash',
        "x'); SELECT set_config('app.tenant_id', 'acme', true); --",
      ]) {
        const seen = await store.db.bindTenant(tenant, () =>
          store.db.get<{ t: string }>("SELECT current_setting('app.tenant_id') AS t"),
        );
        expect(seen?.t).toBe(tenant);
        expect(await store.db.bindTenant(tenant, () => store.db.all('SELECT * FROM records'))).toEqual([]);
      }
      // The setting was local to the statement's implicit transaction: no pooled session keeps it.
      const after = await Promise.all(
        Array.from({ length: 20 }, () =>
          store.db.get<{ t: string | null }>(
            "SELECT current_setting('app.tenant_id', true) AS t, pg_sleep(0.01), (SELECT count(*) FROM records) AS n",
          ),
        ),
      );
      expect(after.map((r) => [r?.t ?? '', Number((r as { n?: unknown } | undefined)?.n)])).toEqual(
        after.map(() => ['', 0]),
      );
    });

    it('runs withTenantStatement in one round trip outside a transaction, row-level security in force, and refuses a second statement', async () => {
      const sent = vi.spyOn(pg.Client.prototype, 'query');
      try {
        for (const tenant of ['acme', 'other']) {
          const all = await owner<{ tenant_id: string }>('SELECT tenant_id FROM records');
          const before = sent.mock.calls.length;
          // No WHERE on the tenant: only row-level security keeps the other tenant's rows out.
          const seen = await store.db.withTenantStatement(tenant, () =>
            store.db.all<{ tenant_id: string }>('SELECT * FROM records WHERE seq >= ?', [0]),
          );
          expect(sent.mock.calls.length - before, tenant).toBe(1);
          expect(seen.length, tenant).toBe(all.filter((r) => r.tenant_id === tenant).length);
          expect(new Set(seen.map((r) => r.tenant_id))).toEqual(new Set([tenant]));
        }
      } finally {
        sent.mockRestore();
      }
      await expect(
        store.db.withTenantStatement('acme', async () => {
          await store.db.get('SELECT 1 AS one');
          return store.db.get('SELECT 2 AS two');
        }),
      ).rejects.toThrow(/second statement/);
      // Inside a transaction it joins it, with the tenant set there.
      const inTx = await store.db.transaction(() =>
        store.db.withTenantStatement('other', async () => ({
          t: await store.db.get<{ t: string }>("SELECT current_setting('app.tenant_id') AS t"),
          n: await store.db.all('SELECT 1 FROM records'),
        })),
      );
      expect(inTx.t?.t).toBe('other');
      expect(inTx.n).toHaveLength(3);
      await expect(
        store.db.bindTenant('acme', () =>
          store.db.withTenantStatement('other', () => store.db.get('SELECT 1')),
        ),
      ).rejects.toThrow(TenantScopeError);
    });

    it('shows nothing at all when no tenant is set', async () => {
      for (const table of [...TABLES, 'tenants']) {
        expect(await store.db.all(`SELECT * FROM ${table}`), table).toEqual([]);
      }
    });

    it('refuses to write a row into another tenant, and an unfiltered UPDATE touches only the current tenant', async () => {
      await expect(
        store.db.withTenant('acme', () =>
          store.db.run('INSERT INTO sites (tenant_id, id, name, created_at) VALUES (?, ?, ?, ?)', [
            'other',
            'sneaky',
            'x',
            new Date().toISOString(),
          ]),
        ),
      ).rejects.toThrow(/row-level security/);
      const stamp = '2001-02-03T04:05:06.000Z';
      const touched = await store.db.withTenant('acme', () =>
        store.db.run('UPDATE edges SET last_contact_at = ?', [stamp]),
      );
      expect(touched.changes).toBe(1);
      const contact = await owner<{ tenant_id: string; t: string }>(
        "SELECT tenant_id, to_char(last_contact_at AT TIME ZONE 'UTC', 'YYYY') AS t FROM edges ORDER BY tenant_id",
      );
      expect(contact.map((r) => [r.tenant_id, r.t === '2001'])).toEqual([
        ['acme', true],
        ['other', false],
      ]);
    });

    it('gives the app role no more than it needs: append-only logs, no key changes, no operator tables', async () => {
      const denied = async (sql: string) =>
        expect(
          store.db.withTenant('acme', () => store.db.run(sql)),
          sql,
        ).rejects.toThrow(/permission denied|must be owner/);
      await denied('DELETE FROM records');
      await denied('UPDATE records SET json = json');
      await denied('DELETE FROM checkpoints');
      await denied('UPDATE security_events SET detail = detail');
      await denied("UPDATE edges SET public_key = '\\x00'");
      await denied("UPDATE edges SET tenant_id = 'other'");
      await denied('DELETE FROM edges');
      await denied('SELECT * FROM system_security_events');
      await denied('SELECT * FROM schema_migrations');
      await denied('DROP TABLE records');
      const who = await store.db.get<{ u: string; s: string }>('SELECT current_user AS u, session_user AS s');
      expect(who?.u).toBe(storage.dbAppRole);
      // The cross-tenant helpers answer one tenant id, nothing more.
      expect(await store.db.all('SELECT * FROM rt_edge_tenant(?)', [other.id])).toEqual([
        { tenant_id: 'other' },
      ]);
    });

    it('records refusals that no tenant owns where only the operator reads them', async () => {
      const stranger = TestEdge.unenrolled(urls()[0]!, 'no-such-edge');
      expect((await stranger.send(stranger.examples(1))).status).toBe(403);
      const events = await owner<{ code: string }>('SELECT code FROM system_security_events');
      expect(events.map((e) => e.code)).toContain('INGEST_UNKNOWN_EDGE');
    });
  });
});

describe('PostgreSQL migrations and roles', () => {
  const dbs: { drop(): Promise<void> }[] = [];
  afterAll(async () => {
    await Promise.all(dbs.map((d) => d.drop()));
  });

  it('migrate once when several processes start at the same time', async () => {
    const db = await createTestDatabase();
    dbs.push(db);
    const counts = await Promise.all(Array.from({ length: 5 }, () => migratePostgres(db.url, db.appRole)));
    expect(counts.sort()).toEqual([0, 0, 0, 0, MIGRATIONS.length]);
    const versions = await asOwner<{ version: number }>(
      db.url,
      'SELECT version FROM schema_migrations ORDER BY version',
    );
    expect(versions.map((v) => v.version)).toEqual(MIGRATIONS.map((m) => m.version).sort((x, y) => x - y));
    expect(await migratePostgres(db.url, db.appRole)).toBe(0);
  });

  it('lets the app log in as the app role itself (owner URL for migrations only), which cannot switch back', async () => {
    const db = await createTestDatabase();
    dbs.push(db);
    await asOwner(PG_ADMIN_URL, `CREATE ROLE ${db.appRole} LOGIN`); // made by the operator beforehand
    const appUrl = new URL(db.url);
    appUrl.username = db.appRole;
    const store = await openStore(
      loadCloudConfig(
        {},
        { databaseUrl: appUrl.toString(), databaseOwnerUrl: db.url, dbAppRole: db.appRole },
      ),
    );
    try {
      await store.tenancy.createTenant('acme', 'Acme');
      expect(await store.tenancy.tenantExists('acme')).toBe(true);
      const who = await store.db.transaction(async () => {
        await store.db.exec('SET LOCAL ROLE NONE');
        return store.db.get('SELECT current_user AS u, session_user AS s');
      });
      expect(who).toEqual({ u: db.appRole, s: db.appRole });
      await expect(store.db.exec('SET ROLE postgres')).rejects.toThrow(/permission denied/);
      expect(
        (
          await asOwner<{ owner: string }>(
            db.url,
            "SELECT tableowner AS owner FROM pg_tables WHERE tablename = 'records'",
          )
        )[0]?.owner,
      ).toBe('postgres');
    } finally {
      await store.db.close();
    }
  });

  it('refuses an app role that would bypass row-level security', async () => {
    const db = await createTestDatabase();
    dbs.push(db);
    // The login role itself (the owner, here a superuser) cannot be the app role.
    await expect(migratePostgres(db.url, 'postgres')).rejects.toThrow(/the app role itself/);
    await migratePostgres(db.url, db.appRole);
    const bypass = `${db.name}_bypass`;
    await asOwner(db.url, `CREATE ROLE ${bypass} NOLOGIN BYPASSRLS`);
    dbs.push({ drop: () => asOwner(PG_ADMIN_URL, `DROP ROLE IF EXISTS ${bypass}`).then(() => undefined) });
    await expect(PostgresDb.connect(db.url, { appRole: bypass })).rejects.toThrow(
      /row-level security would not apply/,
    );
    const ok = await PostgresDb.connect(db.url, { appRole: db.appRole });
    await ok.close();
  });

  it('runs its queries without JIT compilation', async () => {
    const db = await createTestDatabase();
    dbs.push(db);
    await migratePostgres(db.url, db.appRole);
    const app = await PostgresDb.connect(db.url, { appRole: db.appRole });
    try {
      // A query over many monthly partitions costs more than jit_above_cost: compiling its 1,900
      // functions took 657 ms of a 720 ms suspect-records page at 10 M records.
      const rows = await app.withTenant('acme', () => app.all<{ jit: string }>('SHOW jit'));
      expect(rows).toEqual([{ jit: 'off' }]);
    } finally {
      await app.close();
    }
  });

  it('runs statements started together in one transaction one after another, without pg’s deprecation warning', async () => {
    const db = await createTestDatabase();
    dbs.push(db);
    await migratePostgres(db.url, db.appRole);
    // A child process: pg warns once per process, so this one must not have warned before.
    const script = `
      const { PostgresDb } = await import(${JSON.stringify(new URL('../src/platform/db/postgres.ts', import.meta.url).href)});
      const db = await PostgresDb.connect(process.env.URL, { appRole: process.env.ROLE });
      const out = await db.withTenant('acme', () =>
        db.transaction(() => Promise.all([1, 2, 3, 4].map((n) => db.get('SELECT ? AS n, pg_sleep(0.01)', [n])))),
      );
      console.log(JSON.stringify(out.map((r) => Number(r.n))));
      await db.close();`;
    const r = spawnSync(
      process.execPath,
      ['--conditions=rigtrace-source', '--import', 'tsx', '--input-type=module', '-e', script],
      { env: { ...process.env, URL: db.url, ROLE: db.appRole }, encoding: 'utf8', timeout: 60_000 },
    );
    expect(r.stdout.trim(), r.stderr).toBe('[1,2,3,4]');
    expect(r.stderr).not.toMatch(/DeprecationWarning|already executing a query/);
  });
});
