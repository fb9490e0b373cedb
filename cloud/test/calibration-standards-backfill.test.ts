import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createAccounts } from '../src/access/accounts.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { Witness } from '../src/platform/witness.js';
import { apiCall, signIn, type Session } from './helpers/signed-in.js';
import {
  BACKENDS,
  migrateAgain,
  runAsOwner,
  setupOrFailEach,
  testStorage,
  type TestStorage,
} from './helpers/storage.js';

/**
 * Migration 61 indexes the standards of calibrations stored before it (from their bodies, with
 * SQLite's json_each and PostgreSQL's jsonb functions), so a standard's later failure re-evaluates
 * them too. Simulated by taking migration 61 back off a database that holds a calibration.
 */
const PW = 'bench seven torque keys';
const DAY = 86_400_000;
const body = (daysAgo: number, fail: boolean, standards: { id: string }[] = []) => ({
  standards,
  points: [
    {
      name: 'p@800',
      nominal: 800,
      unit: 'bar',
      asFound: fail ? 806 : 800.2,
      lowerTolerance: -2,
      upperTolerance: 2,
      asFoundResult: fail ? 'fail' : 'pass',
    },
  ],
  adjusted: false,
  asFoundResult: fail ? 'fail' : 'pass',
  calibratedAt: new Date(Date.now() - daysAgo * DAY).toISOString(),
});

describe.each(BACKENDS)('standards of calibrations stored before migration 61 on %s', (backend) => {
  let storage: TestStorage;
  let cloud: RunningCloud | undefined;
  let s: Session;
  const start = async () => {
    cloud = await startCloud(
      loadCloudConfig({}, { ...storage.overrides, port: '0' }),
      pino({ level: 'silent' }),
    );
    s = await signIn(cloud.url, 'acme', 'tech@acme.example', PW);
  };
  const call = (method: string, p: string, b?: unknown) => apiCall(cloud!.url, s, method, p, b);
  const ownerSql = (sql: string) => runAsOwner(storage, sql);

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    const cfg = loadCloudConfig({}, storage.overrides);
    const store = await openStore(cfg);
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createSite('acme', 'plant-1', 'Plant 1');
    const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
    await accounts.users.create({ actor: { type: 'system', id: 'test' }, address: null }, 'acme', {
      email: 'tech@acme.example',
      role: 'technician',
      password: PW,
      mustChangePassword: false,
    });
    await store.db.close();
    await start();
  });
  afterAll(async () => {
    await cloud?.close();
    await storage?.cleanup();
  });

  it('fills the index from the stored bodies, and a later failure of the standard flags them', async () => {
    for (const [tag, extra] of [
      ['STD-1', { referenceStandard: {} }],
      ['PT-1', {}],
    ] as const)
      expect(
        (await call('POST', '/equipment', { tag, siteId: 'plant-1', type: 'x', intervalDays: 365, ...extra }))
          .status,
      ).toBe(201);
    const sign = { password: PW, meaning: 'performed' };
    expect(
      (
        await call('POST', '/calibrations', {
          equipment: 'STD-1',
          enteredBy: 't',
          body: body(30, false),
          signature: sign,
        })
      ).status,
    ).toBe(201);
    const used = await call('POST', '/calibrations', {
      equipment: 'PT-1',
      enteredBy: 't',
      body: body(10, false, [{ id: 'STD-1' }]),
      signature: sign,
    });
    expect(used.status, used.text).toBe(201);
    const id = used.body.calibration.id as string;

    // Back to the schema before migration 61, with the calibration stored.
    await cloud!.close();
    cloud = undefined;
    await ownerSql('DROP TABLE calibration_trace_reviews');
    await ownerSql('DROP TABLE calibration_standards');
    await ownerSql('DELETE FROM schema_migrations WHERE version = 61');
    expect(await migrateAgain(storage)).toBe(1);
    const rows = (await ownerSql(
      "SELECT tenant_id, standard, calibration_id FROM calibration_standards WHERE calibration_id LIKE 'manual:%' ORDER BY standard",
    )) as { tenant_id: string; standard: string; calibration_id: string }[];
    expect(rows).toEqual([{ tenant_id: 'acme', standard: 'STD-1', calibration_id: id }]);

    await start();
    expect(
      (
        await call('POST', '/calibrations', {
          equipment: 'STD-1',
          enteredBy: 't',
          body: body(5, true),
          signature: sign,
        })
      ).status,
    ).toBe(201);
    const after = (
      (await call('GET', '/equipment/PT-1/calibrations')).body.items as {
        id: string;
        traceability: { status: string; issues: string[] };
      }[]
    ).find((c) => c.id === id)!;
    expect(after.traceability.status).toBe('flagged');
    expect(after.traceability.issues[0]).toMatch(/^STD-1: found out of tolerance on /);
  });
});
