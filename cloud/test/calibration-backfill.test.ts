import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createAccounts } from '../src/access/accounts.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { Witness } from '../src/platform/witness.js';
import { TestEdge } from './helpers/edge.js';
import { apiCall, signIn, type Session } from './helpers/signed-in.js';
import {
  BACKENDS,
  migrateAgain,
  runAsOwner,
  setupOrFailEach,
  testStorage,
  type TestStorage,
} from './helpers/storage.js';

const PW = 'register the rig later on';
const TENANTS = ['fresh', 'legacy', 'later'];

/**
 * Calibrations, usage and inspections that reached the cloud before their equipment was
 * registered count once it is: those derived at ingest (refresh), and records stored before
 * the calibration engine derived anything (backfill at POST /equipment). Only a tenant that held
 * such records when the cloud was upgraded (migration 94) is searched for them: registering in
 * any other reads none of its records.
 */
describe.each(BACKENDS)('calibration backfill at registration on %s', (backend) => {
  let storage: TestStorage;
  let cloud: RunningCloud;
  const s: Record<string, Session> = {};
  const edges: Record<string, string> = {};
  const as = (t: string, method: string, p: string, body?: unknown) =>
    apiCall(cloud.url, s[t]!, method, p, body);
  const seqs = (items: { seq: number }[]) => items.map((i) => i.seq);

  const ownerSql = (sql: string, params: string[] = []) => runAsOwner(storage, sql, params);

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    const cfg = loadCloudConfig({}, storage.overrides);
    const store = await openStore(cfg);
    const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
    const enroll: Record<string, string> = {};
    for (const t of TENANTS) {
      await store.tenancy.createTenant(t, t);
      await store.tenancy.createSite(t, 'plant-1', 'Plant 1');
      enroll[t] = (await store.tenancy.createEnrollmentToken(t, 'plant-1', 3600_000)).token;
      await accounts.users.create({ actor: { type: 'system', id: 'test' }, address: null }, t, {
        email: 'tech@plant.example',
        role: 'technician',
        password: PW,
        mustChangePassword: false,
      });
    }
    await store.db.close();
    cloud = await startCloud(
      loadCloudConfig({}, { ...storage.overrides, port: '0' }),
      pino({ level: 'silent' }),
    );
    for (const t of TENANTS) {
      s[t] = await signIn(cloud.url, t, 'tech@plant.example', PW);
      const edge = await new TestEdge(cloud.url).enroll(enroll[t]!, 'line-1');
      edges[t] = edge.id;
      // seq 2, 7: usage of RIG-FLOW-01 (1 cycle each); 3, 8: inspections on RIG-FLOW-01 with gauge
      // PT-RAIL-03 among others; 4, 9: passing calibrations of PT-RAIL-03. Nothing is registered.
      await edge.ingest(edge.examples(10));
    }
    const underive = async (t: string) => {
      for (const table of ['record_gauges', 'traceable_records', 'calibration_standards', 'calibrations'])
        await ownerSql(`DELETE FROM ${table} WHERE tenant_id = ?`, [t]);
    };
    // "legacy": the records were stored before the calibration engine derived anything from them,
    // and the cloud was then upgraded: migration 94 runs again over them.
    await underive('legacy');
    await ownerSql('ALTER TABLE tenants DROP COLUMN underived_records');
    await ownerSql('DELETE FROM schema_migrations WHERE version = 94');
    expect(await migrateAgain(storage)).toBe(1);
    // "later": the same rows missing in a tenant whose records were all derived at the upgrade
    // (which ingest cannot leave): registration does not look for them.
    await underive('later');
  });
  afterAll(async () => {
    await cloud?.close();
    await storage?.cleanup();
  });

  const register = (t: string, tag: string, extra: Record<string, unknown> = {}) =>
    as(t, 'POST', '/equipment', { tag, siteId: 'plant-1', type: 'instrument', intervalDays: 365, ...extra });

  for (const t of ['fresh', 'legacy'] as const) {
    it(`${t}: registering the equipment picks up its earlier calibrations, usage and inspections`, async () => {
      if (t === 'legacy') {
        expect((await as(t, 'GET', '/inspections')).body.items).toEqual([]);
        expect((await as(t, 'GET', '/usage')).body.items).toEqual([]);
      }
      const rig = await register(t, 'RIG-FLOW-01', { intervalCycles: 100 });
      expect(rig.status, rig.text).toBe(201);
      expect(rig.body.calibration).toMatchObject({ status: 'overdue', cycles: { used: 2, interval: 100 } });
      expect(seqs((await as(t, 'GET', '/usage?equipment=RIG-FLOW-01')).body.items)).toEqual([2, 7]);
      expect(seqs((await as(t, 'GET', '/inspections')).body.items)).toEqual([3, 8]);

      const pt = await register(t, 'PT-RAIL-03', { intervalDays: 180 });
      expect(pt.status).toBe(201);
      const hist = await as(t, 'GET', '/equipment/PT-RAIL-03/calibrations');
      expect(hist.body.items.map((c: { id: string; source: string }) => [c.id, c.source])).toEqual([
        [`${edges[t]}:4`, 'record'],
        [`${edges[t]}:9`, 'record'],
      ]);
      const last = hist.body.items[1].calibratedAt as string;
      expect(pt.body.calibration).toMatchObject({ status: 'current', lastValidCalibrationAt: last });
      expect((await as(t, 'GET', '/equipment/PT-RAIL-03')).body.calibration.status).toBe('current');
      const due = await as(t, 'GET', '/due-list?days=30');
      expect(due.body.sites.flatMap((x: { items: { tag: string }[] }) => x.items.map((i) => i.tag))).toEqual([
        'RIG-FLOW-01',
      ]);

      // A failed calibration now opens a suspect window covering the backfilled inspections (gauge).
      const failed = await as(t, 'POST', '/calibrations', {
        equipment: 'PT-RAIL-03',
        enteredBy: 'tech',
        body: {
          standards: [],
          points: [
            {
              name: 'p',
              nominal: 1,
              unit: 'bar',
              asFound: 9,
              lowerTolerance: -1,
              upperTolerance: 1,
              asFoundResult: 'fail',
            },
          ],
          adjusted: false,
          asFoundResult: 'fail',
          calibratedAt: new Date().toISOString(),
        },
        signature: { password: PW, meaning: 'performed' },
      });
      expect(failed.status).toBe(201);
      expect(failed.body.equipment.calibration.status).toBe('out-of-tolerance');
      const suspects = await as(t, 'GET', '/equipment/PT-RAIL-03/suspect-records');
      expect(suspects.body.items.map((i: { seq: number; via: string }) => [i.seq, i.via])).toEqual([
        [3, 'gauge'],
        [8, 'gauge'],
      ]);
    });
  }

  it('migration 94 marks only the tenant holding records from before the engine', async () => {
    const rows = (await ownerSql(
      "SELECT id, underived_records FROM tenants WHERE id IN ('fresh', 'legacy', 'later') ORDER BY id",
    )) as {
      id: string;
      underived_records: number | boolean;
    }[];
    expect(rows.map((r) => [r.id, Boolean(r.underived_records)])).toEqual([
      ['fresh', false],
      ['later', false],
      ['legacy', true],
    ]);
  });

  it('later: registering in a tenant not marked reads none of its records', async () => {
    const rig = await register('later', 'RIG-FLOW-01', { intervalCycles: 100 });
    expect(rig.status, rig.text).toBe(201);
    expect(rig.body.calibration.cycles).toMatchObject({ used: 0 });
    expect((await as('later', 'GET', '/inspections')).body.items).toEqual([]);
    expect((await as('later', 'GET', '/usage?equipment=RIG-FLOW-01')).body.items).toEqual([]);
  });
});
