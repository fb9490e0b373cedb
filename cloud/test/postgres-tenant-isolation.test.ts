import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createAccounts } from '../src/access/accounts.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { Witness } from '../src/platform/witness.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { TestEdge } from './helpers/edge.js';
import { asOwner, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';
import { apiCall, signIn } from './helpers/signed-in.js';
import { createUsers } from './helpers/users.js';

/**
 * The second wall of tenancy on PostgreSQL, checked from the catalogue rather than from a list
 * kept by hand: every table that holds a tenant's rows has row-level security and the
 * `tenant_isolation` policy on `app.tenant_id`, so a table added without one fails here; and a
 * query written with no tenant filter at all, run as the app role for one tenant, sees none of
 * another tenant's rows.
 */
type Store = Awaited<ReturnType<typeof openStore>>;

const PASSWORD = 'the wall stands behind the query';

/** Tables whose rows belong to a tenant: a `tenant_id` column (or `tenants` itself, keyed by `id`). */
const TENANT_TABLES_SQL = `
  SELECT c.relname AS name, c.relrowsecurity AS rls, c.relispartition AS partition,
         has_table_privilege($1, c.oid, 'SELECT, INSERT, UPDATE, DELETE') AS reachable
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = current_schema()
     AND c.relkind IN ('r', 'p')
     AND (c.relname = 'tenants'
          OR EXISTS (SELECT 1 FROM pg_attribute a
                      WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped))
   ORDER BY c.relname`;

/** Each table's policies, with the expressions PostgreSQL keeps for them. */
const POLICIES_SQL = `
  SELECT c.relname AS name, p.polname AS policy, p.polcmd AS cmd, p.polpermissive AS permissive,
         pg_get_expr(p.polqual, p.polrelid) AS using, pg_get_expr(p.polwithcheck, p.polrelid) AS check
    FROM pg_policy p
    JOIN pg_class c ON c.oid = p.polrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = current_schema()`;

/** The one condition a tenant_isolation policy may hold, as pg_get_expr prints it. */
const isolation = (column: string) => `(${column} = current_setting('app.tenant_id'::text, true))`;

describe('tenant isolation on PostgreSQL, from the catalogue', () => {
  let storage: TestStorage;
  let store: Store;
  let cloud: RunningCloud;

  const owner = <T extends Record<string, unknown>>(sql: string, params: unknown[] = []) =>
    asOwner<T>(storage.databaseUrl!, sql, params);

  setupOrFailEach(async () => {
    storage = await testStorage('postgres');
    const cfg = loadCloudConfig({}, storage.overrides);
    store = await openStore(cfg);
    const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
    const tokens: Record<string, string> = {};
    for (const tenant of ['acme', 'other']) {
      await store.tenancy.createTenant(tenant, tenant);
      await store.tenancy.createSite(tenant, 'plant-1', 'Plant 1');
      await createUsers(
        accounts,
        tenant,
        [
          ['admin', 'admin', null, true],
          ['tech', 'technician', ['plant-1'], false],
        ],
        { admin: PASSWORD, tech: PASSWORD },
      );
      await store.tenancy.createApiToken(tenant, 'reports');
      tokens[tenant] = (await store.tenancy.createEnrollmentToken(tenant, 'plant-1', 3600_000)).token;
    }
    cloud = await startCloud(
      loadCloudConfig({}, { ...storage.overrides, port: '0' }),
      pino({ level: 'silent' }),
    );
    // The same equipment tags in both tenants: only the tenant tells their rows apart.
    for (const tenant of ['acme', 'other']) {
      const admin = await signIn(cloud.url, tenant, `admin@${tenant}.example`, PASSWORD);
      for (const tag of ['PT-1', 'PT-2']) {
        const r = await apiCall(cloud.url, admin, 'POST', '/equipment', {
          tag,
          siteId: 'plant-1',
          type: 'instrument',
          intervalDays: 365,
        });
        if (r.status !== 201) throw new Error(`equipment ${tag} of ${tenant}: ${r.status} ${r.text}`);
      }
      const edge = await new TestEdge(cloud.url).enroll(tokens[tenant]!, `${tenant}-line`);
      await edge.ingest([
        edge.usage('RIG-1', '2026-03-02T08:00:00.000Z', 'start', { operator: 'op-1' }),
        edge.telemetry('RIG-1', '2026-03-02T08:01:00.000Z', { pressure: 801 }),
        edge.inspection('RIG-1', '2026-03-02T08:02:00.000Z', `${tenant}-part-1`, 'pass'),
        edge.inspection('RIG-1', '2026-03-02T08:03:00.000Z', `${tenant}-part-2`, 'fail'),
        edge.calibration('PT-1', '2026-03-02T09:00:00.000Z', 'pass'),
        edge.calibration('PT-2', '2026-03-02T09:10:00.000Z', 'fail'),
        edge.usage('RIG-1', '2026-03-02T10:00:00.000Z', 'stop', { operator: 'op-1' }),
      ]);
    }
  });
  afterAll(async () => {
    await cloud?.close();
    await store?.db.close();
    await storage?.cleanup();
  });

  /** What is wrong with the second wall, table by table, as the catalogue has it now. */
  async function isolationProblems(): Promise<string[]> {
    const tables = await owner<{ name: string; rls: boolean; partition: boolean; reachable: boolean }>(
      TENANT_TABLES_SQL,
      [storage.dbAppRole],
    );
    const policies = await owner<{
      name: string;
      policy: string;
      cmd: string;
      permissive: boolean;
      using: string | null;
      check: string | null;
    }>(POLICIES_SQL);
    // The catalogue query itself must find the tables everyone knows about.
    expect(tables.map((t) => t.name)).toEqual(
      expect.arrayContaining(['tenants', 'records', 'equipment', 'calibrations', 'users', 'alerts']),
    );
    const wrong: string[] = [];
    for (const t of tables) {
      // A partition the app role cannot reach directly is read only through its parent's policy.
      if (t.partition && !t.reachable) continue;
      const expected = isolation(t.name === 'tenants' ? 'id' : 'tenant_id');
      const own = policies.filter((p) => p.name === t.name);
      if (!t.rls) wrong.push(`${t.name}: row-level security is not enabled`);
      const policy = own.find((p) => p.policy === 'tenant_isolation');
      if (!policy) wrong.push(`${t.name}: no tenant_isolation policy`);
      else {
        if (policy.cmd !== '*' || !policy.permissive)
          wrong.push(`${t.name}: tenant_isolation is not a permissive policy for every command`);
        if (policy.using !== expected) wrong.push(`${t.name}: USING ${policy.using}, not ${expected}`);
        if (policy.check !== expected) wrong.push(`${t.name}: WITH CHECK ${policy.check}, not ${expected}`);
      }
      // Another permissive policy would widen what tenant_isolation allows (policies are OR-ed).
      for (const p of own)
        if (p.policy !== 'tenant_isolation' && p.permissive)
          wrong.push(`${t.name}: permissive policy ${p.policy} beside tenant_isolation`);
    }
    return wrong;
  }

  it('has row-level security with a tenant_isolation policy on app.tenant_id on every tenant table', async () => {
    expect(await isolationProblems()).toEqual([]);
  });

  it('runs as an app role that owns none of them, so the policies apply to it', async () => {
    const owned = await owner<{ name: string }>(
      `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND pg_has_role($1, c.relowner, 'USAGE')`,
      [storage.dbAppRole],
    );
    expect(owned).toEqual([]);
    const role = await owner<{ super: boolean; bypass: boolean }>(
      'SELECT rolsuper AS super, rolbypassrls AS bypass FROM pg_roles WHERE rolname = $1',
      [storage.dbAppRole],
    );
    expect(role).toEqual([{ super: false, bypass: false }]);
    const who = await store.db.get<{ u: string }>('SELECT current_user AS u');
    expect(who?.u).toBe(storage.dbAppRole);
  });

  it('shows a query with no tenant filter, run for one tenant, none of the other tenant’s rows', async () => {
    const tables = await owner<{ name: string }>(TENANT_TABLES_SQL, [storage.dbAppRole]);
    const readable = await owner<{ name: string }>(
      `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND has_table_privilege($1, c.oid, 'SELECT')`,
      [storage.dbAppRole],
    );
    const canRead = new Set(readable.map((r) => r.name));
    // Tables both tenants have rows in after the same sign-ups and the same edge traffic.
    const both: string[] = [];
    for (const { name } of tables) {
      const column = name === 'tenants' ? 'id' : 'tenant_id';
      const counts = await owner<{ tenant: string; n: string }>(
        `SELECT ${column} AS tenant, count(*) AS n FROM ${name} GROUP BY ${column}`,
      );
      const of = (tenant: string) => Number(counts.find((c) => c.tenant === tenant)?.n ?? 0);
      if (of('acme') > 0 && of('other') > 0) both.push(name);
      if (!canRead.has(name)) continue;
      for (const [tenant, stranger] of [
        ['acme', 'other'],
        ['other', 'acme'],
      ] as const) {
        // Exactly the query a repository would run had it forgotten its WHERE.
        const seen = await store.db.withTenant(tenant, () =>
          store.db.all<Record<string, unknown>>(`SELECT * FROM ${name}`),
        );
        expect(
          seen.filter((r) => r[column] === stranger),
          `${name} as ${tenant}`,
        ).toEqual([]);
        expect(seen.length, `${name} as ${tenant}`).toBe(of(tenant));
      }
    }
    // The sample must hold rows of both tenants, or the check above proves nothing.
    expect(both).toEqual(
      expect.arrayContaining([
        'tenants',
        'sites',
        'users',
        'edges',
        'records',
        'equipment',
        'calibrations',
        'alerts',
      ]),
    );
  });

  it('shows no tenant’s rows at all when no tenant is set', async () => {
    for (const name of ['records', 'equipment', 'calibrations', 'users', 'alerts']) {
      expect(await store.db.all(`SELECT * FROM ${name}`), name).toEqual([]);
      expect((await owner(`SELECT 1 FROM ${name}`)).length, name).toBeGreaterThan(0);
    }
  });

  it('names a table added without the policy, or with a second one that widens it', async () => {
    await owner('CREATE TABLE probe_without_policy (tenant_id TEXT NOT NULL, v TEXT)');
    await owner('CREATE TABLE probe_widened (tenant_id TEXT NOT NULL, v TEXT)');
    await owner('ALTER TABLE probe_widened ENABLE ROW LEVEL SECURITY');
    await owner(`CREATE POLICY tenant_isolation ON probe_widened
      USING (tenant_id = current_setting('app.tenant_id', true))
      WITH CHECK (tenant_id = current_setting('app.tenant_id', true))`);
    await owner('CREATE POLICY everyone ON probe_widened USING (true)');
    try {
      expect(await isolationProblems()).toEqual([
        'probe_widened: permissive policy everyone beside tenant_isolation',
        'probe_without_policy: row-level security is not enabled',
        'probe_without_policy: no tenant_isolation policy',
      ]);
    } finally {
      await owner('DROP TABLE probe_without_policy, probe_widened');
    }
    expect(await isolationProblems()).toEqual([]);
  });
});
