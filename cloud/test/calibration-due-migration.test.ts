import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCloudConfig } from '../src/platform/config.js';
import { addDays } from '../src/platform/time-zone.js';
import { openStore, startCloud } from '../src/server.js';
import {
  BACKENDS,
  migrateAgain,
  runAsOwner,
  setupOrFailEach,
  testStorage,
  type TestStorage,
} from './helpers/storage.js';

/**
 * Migration 71 recounts the cached next due dates, which were counted from the UTC date of the
 * last valid calibration, from its local day at the equipment's site. The database before it is
 * built by writing the old dates directly and taking migration 71 back off.
 */
describe.each(BACKENDS)('next due dates stored before migration 71 on %s', (backend) => {
  let storage: TestStorage;
  let token: string;

  const ownerSql = (sql: string, params: (string | number | null)[] = []) => runAsOwner(storage, sql, params);

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    const store = await openStore(loadCloudConfig({}, storage.overrides));
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createSite('acme', 'plant-chi', 'Chicago', 'America/Chicago');
    await store.tenancy.createSite('acme', 'plant-tyo', 'Tokyo', 'Asia/Tokyo');
    await store.tenancy.createSite('acme', 'plant-utc', 'Reykjavik', 'UTC');
    token = await store.tenancy.createApiToken('acme', 't');
    await store.db.close();
  });
  afterAll(async () => {
    await storage?.cleanup();
  });

  it('counts each from the local day of its last valid calibration, attention-now kept first', async () => {
    const oot = backend === 'postgres' ? 'true' : '1';
    const ok = backend === 'postgres' ? 'false' : '0';
    // [tag, site, last valid calibration, next due by the UTC rule, out of tolerance, due_sort]
    const rows = [
      // 23:30 on 31 March in Chicago: 1 April in UTC.
      ['PT-CHI', 'plant-chi', '2026-04-01T04:30:00.000Z', '2026-05-01', ok, '2026-05-01'],
      // 08:00 on 1 April in Tokyo: 31 March in UTC.
      ['PT-TYO', 'plant-tyo', '2026-03-31T23:00:00.000Z', '2026-04-30', ok, '2026-04-30'],
      // Out of tolerance since: needs attention now whatever its date.
      ['PT-CHI-OOT', 'plant-chi', '2026-04-01T04:30:00.000Z', '2026-05-01', oot, '0000-01-01'],
      // Never calibrated, and a site on UTC: nothing to change.
      ['PT-NEW', 'plant-chi', null, null, ok, '0000-01-01'],
      ['PT-UTC', 'plant-utc', '2026-04-01T04:30:00.000Z', '2026-05-01', ok, '2026-05-01'],
    ] as const;
    for (const [tag, site, lastValid, nextDue, outOfTolerance, dueSort] of rows)
      await ownerSql(
        `INSERT INTO equipment (tenant_id, tag, site_id, type, interval_days, spec, last_valid_at, next_due,
           out_of_tolerance, due_sort, created_at, updated_at)
         VALUES ('acme', ?, ?, 'pressure transducer', 30, '{}', ?, ?, ${outOfTolerance}, ?, ?, ?)`,
        [tag, site, lastValid, nextDue, dueSort, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z'],
      );
    await ownerSql('DELETE FROM schema_migrations WHERE version = 71');

    expect(await migrateAgain(storage)).toBe(1);
    expect(await ownerSql('SELECT tag, next_due, due_sort FROM equipment ORDER BY tag')).toEqual([
      { tag: 'PT-CHI', next_due: '2026-04-30', due_sort: '2026-04-30' },
      { tag: 'PT-CHI-OOT', next_due: '2026-04-30', due_sort: '0000-01-01' },
      { tag: 'PT-NEW', next_due: null, due_sort: '0000-01-01' },
      { tag: 'PT-TYO', next_due: '2026-05-01', due_sort: '2026-05-01' },
      { tag: 'PT-UTC', next_due: '2026-05-01', due_sort: '2026-05-01' },
    ]);

    // The register and the due-list read the recounted dates.
    const cloud = await startCloud(
      loadCloudConfig({}, { ...storage.overrides, port: '0' }),
      pino({ level: 'silent' }),
    );
    try {
      const get = async (p: string) =>
        (
          await fetch(`${cloud.url}/api/v1${p}`, { headers: { authorization: `Bearer ${token}` } })
        ).json() as any;
      expect((await get('/equipment')).items.map((e: any) => [e.tag, e.calibration.nextDue])).toEqual([
        ['PT-CHI', '2026-04-30'],
        ['PT-CHI-OOT', '2026-04-30'],
        ['PT-NEW', null],
        ['PT-TYO', '2026-05-01'],
        ['PT-UTC', '2026-05-01'],
      ]);
      const due = await get('/due-list?days=0&asOf=2026-04-30&site=plant-chi');
      expect(due.sites[0].items.map((i: any) => [i.tag, i.status, i.nextDue])).toEqual([
        ['PT-CHI-OOT', 'out-of-tolerance', '2026-04-30'],
        ['PT-NEW', 'overdue', null],
        ['PT-CHI', 'due-soon', '2026-04-30'],
      ]);
    } finally {
      await cloud.close();
    }
  });
});

/**
 * Migration 71 recounts every equipment in a few statements, not one UPDATE per row: a register of
 * thousands (two tenants with the same tags, sites in six zones, instants all over two years, some
 * dates already right, some out of tolerance, some never calibrated) comes out as the per-row
 * recount below, worked out independently, says.
 */
describe.each(BACKENDS)('migration 71 over a large register on %s', (backend) => {
  let storage: TestStorage;
  const ZONES: Record<string, string> = {
    'site-chi': 'America/Chicago',
    'site-tyo': 'Asia/Tokyo',
    'site-del': 'Asia/Kolkata',
    'site-akl': 'Pacific/Auckland',
    'site-ber': 'Europe/Berlin',
    'site-utc': 'UTC',
  };
  const TENANTS = ['acme', 'globex'];

  const ownerSql = (sql: string, params: (string | number | null)[] = []) => runAsOwner(storage, sql, params);

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    const store = await openStore(loadCloudConfig({}, storage.overrides));
    for (const t of TENANTS) {
      await store.tenancy.createTenant(t, t);
      for (const [site, zone] of Object.entries(ZONES)) await store.tenancy.createSite(t, site, site, zone);
    }
    await store.db.close();
  });
  afterAll(async () => {
    await storage?.cleanup();
  });

  interface Row {
    tenant: string;
    tag: string;
    site: string;
    intervalDays: number;
    lastValid: string | null;
    nextDue: string | null;
    oot: boolean;
    dueSort: string;
  }

  /** The local calendar day of an instant, as the site reads it (independent of the product's code). */
  const localDate = (iso: string, zone: string) =>
    new Date(iso).toLocaleDateString('sv-SE', { timeZone: zone });

  /** Migration 71 as it ran before: each row on its own. */
  function perRowRecount(rows: readonly Row[]): Row[] {
    return rows.map((r) => {
      if (r.lastValid === null) return r;
      const due = addDays(localDate(r.lastValid, ZONES[r.site]!), r.intervalDays);
      if (due === r.nextDue) return r;
      return { ...r, nextDue: due, dueSort: r.dueSort === r.nextDue ? due : r.dueSort };
    });
  }

  it('gives the per-row result for every row', async () => {
    // mulberry32: repeatable.
    let seed = 71;
    const random = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
    };
    const sites = Object.keys(ZONES);
    const intervals = [7, 30, 90, 180, 365, 730];
    const from = Date.parse('2025-01-01T00:00:00.000Z');
    const rows: Row[] = [];
    for (const tenant of TENANTS)
      for (let i = 0; i < 2500; i++) {
        const site = sites[Math.floor(random() * sites.length)]!;
        const intervalDays = intervals[Math.floor(random() * intervals.length)]!;
        const tag = `EQ-${String(i).padStart(5, '0')}`;
        if (random() < 0.05) {
          rows.push({
            tenant,
            tag,
            site,
            intervalDays,
            lastValid: null,
            nextDue: null,
            oot: false,
            dueSort: '0000-01-01',
          });
          continue;
        }
        // Most near UTC midnight, where local days and UTC dates part.
        const minute =
          random() < 0.8 ? (1440 + Math.floor((random() - 0.5) * 720)) % 1440 : Math.floor(random() * 1440);
        const lastValid = new Date(
          from + (Math.floor(random() * 730) * 1440 + minute) * 60_000,
        ).toISOString();
        // Stored by the UTC rule; one in ten already by the local one.
        const nextDue =
          random() < 0.1
            ? addDays(localDate(lastValid, ZONES[site]!), intervalDays)
            : addDays(lastValid.slice(0, 10), intervalDays);
        const oot = random() < 0.1;
        rows.push({
          tenant,
          tag,
          site,
          intervalDays,
          lastValid,
          nextDue,
          oot,
          dueSort: oot ? '0000-01-01' : nextDue,
        });
      }
    const [yes, no] = backend === 'postgres' ? ['true', 'false'] : ['1', '0'];
    for (let i = 0; i < rows.length; i += 400) {
      const part = rows.slice(i, i + 400);
      await ownerSql(
        `INSERT INTO equipment (tenant_id, tag, site_id, type, interval_days, spec, last_valid_at, next_due,
           out_of_tolerance, due_sort, created_at, updated_at)
         VALUES ${part.map((r) => `(?, ?, ?, 'gauge', ?, '{}', ?, ?, ${r.oot ? yes : no}, ?, '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z')`).join(', ')}`,
        part.flatMap((r) => [r.tenant, r.tag, r.site, r.intervalDays, r.lastValid, r.nextDue, r.dueSort]),
      );
    }
    await ownerSql('DELETE FROM schema_migrations WHERE version = 71');

    const expected = perRowRecount(rows);
    const moved = expected.filter((r, i) => r.nextDue !== rows[i]!.nextDue).length;
    // Enough of both kinds to mean something, and more than one statement's worth.
    expect(moved).toBeGreaterThan(1000);
    expect(rows.length - moved).toBeGreaterThan(500);

    expect(await migrateAgain(storage)).toBe(1);
    const got = (await ownerSql('SELECT tenant_id, tag, next_due, due_sort FROM equipment')) as {
      tenant_id: string;
      tag: string;
      next_due: string | null;
      due_sort: string;
    }[];
    const key = (t: string, tag: string) => `${t}/${tag}`;
    const byKey = (a: readonly unknown[], b: readonly unknown[]) => String(a[0]).localeCompare(String(b[0]));
    expect(got.map((r) => [key(r.tenant_id, r.tag), r.next_due, r.due_sort]).sort(byKey)).toEqual(
      expected.map((r) => [key(r.tenant, r.tag), r.nextDue, r.dueSort]).sort(byKey),
    );
  }, 120_000);
});
