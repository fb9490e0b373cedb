import path from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCloudConfig } from '../src/platform/config.js';
import { toPgPlaceholders } from '../src/platform/db/db.js';
import { SqliteDb } from '../src/platform/db/sqlite.js';
import { openStore, startCloud } from '../src/server.js';
import {
  asOwner,
  BACKENDS,
  setupOrFailEach,
  testStorage,
  type TestStorage,
  migrateAgain,
} from './helpers/storage.js';

/**
 * Migration 71 recounts the cached next due dates, which were counted from the UTC date of the
 * last valid calibration, from its local day at the equipment's site. The database before it is
 * built by writing the old dates directly and taking migration 71 back off.
 */
describe.each(BACKENDS)('next due dates stored before migration 71 on %s', (backend) => {
  let storage: TestStorage;
  let token: string;

  async function ownerSql(sql: string, params: (string | number | null)[] = []): Promise<unknown[]> {
    if (backend === 'postgres')
      return asOwner(storage.databaseUrl!, toPgPlaceholders(sql, params.length), params);
    const db = await SqliteDb.open(path.join(storage.dataDir, 'cloud.sqlite'));
    try {
      return await db.all(sql, params);
    } finally {
      await db.close();
    }
  }

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
