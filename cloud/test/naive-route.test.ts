import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { RigRecord } from '@rigtrace/protocols';
import { createAccounts, viewerOf, wholeTenant } from '../src/access/index.js';
import type { Role } from '../src/access/policy.js';
import { CalibrationRepository, EquipmentRepository } from '../src/calibration/index.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { ProblemError } from '../src/platform/errors.js';
import { Witness } from '../src/platform/witness.js';
import { InspectionRepository } from '../src/production/index.js';
import { RecordsRepository } from '../src/records/index.js';
import { SpcRepository } from '../src/spc/index.js';
import { openStore, startCloud, type RunningCloud, type Store } from '../src/server.js';
import { TestEdge } from './helpers/edge.js';
import { apiCall, signIn, type Session } from './helpers/signed-in.js';
import { BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

/**
 * A read route written without a thought for site scope or export control still cannot leak:
 * routes added here the naive way (authenticate, name the permission, call the repository read
 * with the request's reader, answer what comes back) beside a real cloud, over its store. Acme
 * has plant A (the ITAR rig RIG-FLOW-01 and its records, gauge TT-OIL-02) and plant B (RIG-B);
 * Globex has its own rig. A user of plant A, a user who is not a US person, an API token and
 * Globex's admin each read through them; Acme's cleared admin sees everything, so each check can
 * fail (and does, with the scope predicate removed).
 */

const PW: Record<string, string> = {
  admin: 'both plants full access words',
  plantA: 'first plant cleared bench words',
  foreign: 'both plants not cleared words',
  globex: 'the other tenant admin words',
};

/** Plant B's records: the example records on its own rig and gauge. */
function plantB(examples: readonly RigRecord[]): RigRecord[] {
  const rename = (t: string) => (t === 'RIG-FLOW-01' ? 'RIG-B' : t === 'PT-RAIL-03' ? 'GAUGE-B' : t);
  return examples.map((r) => {
    const out = { ...r, equipment: rename(r.equipment) } as RigRecord;
    if (out.kind === 'inspection') (out as { body: unknown }).body = { ...out.body, gauges: ['GAUGE-B'] };
    return out;
  });
}

/** The naive routes: no scope, no export control, no tenant check of their own. */
function naiveApp(store: Store, accounts: ReturnType<typeof createAccounts>): express.Express {
  const equipment = new EquipmentRepository(store.db);
  const calibrations = new CalibrationRepository(store.db);
  const inspections = new InspectionRepository(store.db);
  const records = new RecordsRepository(store.db);
  const spc = new SpcRepository(store.db);
  const read = accounts.require('records:read');
  const app = express();
  app.get('/naive/equipment', read, async (req, res) => {
    const rows = await equipment.list(viewerOf(req), { includeRetired: true, limit: 1000 });
    res.json(rows.map((e) => e.tag));
  });
  app.get('/naive/equipment/:tag', read, async (req, res) => {
    const e = await equipment.find(viewerOf(req), String(req.params.tag));
    if (!e) throw new ProblemError('CLOUD_NOT_FOUND', 'no such equipment');
    res.json(e.tag);
  });
  app.get('/naive/due', read, async (req, res) => {
    const rows = await equipment.dueBy(viewerOf(req), '9999-12-31', undefined, 1000);
    res.json(rows.map((e) => e.tag));
  });
  app.get('/naive/calibrations', read, async (req, res) => {
    const rows = await calibrations.manualEntries(viewerOf(req), { limit: 1000 });
    res.json(rows.map((c) => c.equipment));
  });
  app.get('/naive/inspections', read, async (req, res) => {
    const rows = await inspections.query(viewerOf(req), { kind: 'inspection', limit: 1000 });
    res.json(rows.map((r) => r.equipment));
  });
  app.get('/naive/yield', read, async (req, res) => {
    const rows = await inspections.firstPassYieldByQuarter(viewerOf(req), {
      from: '2000-01-01T00:00:00.000Z',
      to: '2100-01-01T00:00:00.000Z',
    });
    res.json(rows.map((r) => r.equipment));
  });
  app.get('/naive/records', read, async (req, res) => {
    const rows = await records.list(viewerOf(req), { limit: 1000 });
    res.json(rows.map((r) => (JSON.parse(r.json) as { equipment: string }).equipment));
  });
  // Every characteristic of the tenant by name (as a route taking them from the query would), its
  // measurements read as the caller: the equipment whose values it answers.
  app.get('/naive/measurements', read, async (req, res) => {
    const out: string[] = [];
    for (const c of await spc.characteristics(wholeTenant(viewerOf(req).tenantId), {}))
      if ((await spc.measurements(viewerOf(req), c.equipment, c.characteristic, { limit: 10 })).length)
        out.push(c.equipment);
    res.json(out);
  });
  app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(err instanceof ProblemError ? err.status : 500).json({ error: String(err) });
  });
  return app;
}

describe.each(BACKENDS)('a naive read route on %s', (backend) => {
  let storage: TestStorage;
  let cloud: RunningCloud;
  let store: Store;
  let naive: http.Server;
  let naiveUrl = '';
  let apiToken = '';
  const s: Record<string, Session> = {};
  const as = (who: string, method: string, p: string, body?: unknown) =>
    apiCall(cloud.url, who === 'token' ? apiToken : s[who]!, method, p, body);
  /** GET a naive route: its status and the distinct tags answered, sorted. */
  const naively = async (who: string, p: string) => {
    const auth = who === 'token' ? apiToken : s[who]!;
    const res = await fetch(`${naiveUrl}${p}`, {
      headers: typeof auth === 'string' ? { authorization: `Bearer ${auth}` } : { cookie: auth.cookie },
    });
    const body: unknown = await res.json();
    return { status: res.status, tags: Array.isArray(body) ? [...new Set(body as string[])].sort() : body };
  };

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    const cfg = loadCloudConfig({}, storage.overrides);
    const setup = await openStore(cfg);
    await setup.tenancy.createTenant('acme', 'Acme');
    await setup.tenancy.createSite('acme', 'plant-a', 'Plant A');
    await setup.tenancy.createSite('acme', 'plant-b', 'Plant B');
    await setup.tenancy.createTenant('globex', 'Globex');
    await setup.tenancy.createSite('globex', 'works', 'Works');
    apiToken = await setup.tenancy.createApiToken('acme', 'reader');
    const enrollA = await setup.tenancy.createEnrollmentToken('acme', 'plant-a', 3600_000);
    const enrollB = await setup.tenancy.createEnrollmentToken('acme', 'plant-b', 3600_000);
    const enrollG = await setup.tenancy.createEnrollmentToken('globex', 'works', 3600_000);
    const setupAccounts = createAccounts({ ...setup, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
    const by = { actor: { type: 'system' as const, id: 'test' }, address: null };
    const users: [string, string, Role, string[] | null, boolean][] = [
      ['admin', 'acme', 'admin', null, true],
      ['plantA', 'acme', 'technician', ['plant-a'], true],
      ['foreign', 'acme', 'manager', null, false],
      ['globex', 'globex', 'admin', null, true],
    ];
    for (const [who, tenant, role, sites, usPerson] of users)
      await setupAccounts.users.create(by, tenant, {
        email: `${who.toLowerCase()}@${tenant}.example`,
        role,
        sites,
        password: PW[who]!,
        mustChangePassword: false,
        usPerson,
      });
    await setup.db.close();
    cloud = await startCloud(
      loadCloudConfig({}, { ...storage.overrides, port: '0' }),
      pino({ level: 'silent' }),
    );
    for (const [who, tenant] of users)
      s[who] = await signIn(cloud.url, tenant, `${who.toLowerCase()}@${tenant}.example`, PW[who]!);
    for (const [who, site, tag, exportControl] of [
      ['admin', 'plant-a', 'RIG-FLOW-01', { regime: 'ITAR' }],
      ['admin', 'plant-a', 'TT-OIL-02', undefined],
      ['admin', 'plant-b', 'RIG-B', undefined],
      ['globex', 'works', 'RIG-FLOW-01', undefined],
      ['globex', 'works', 'RIG-G', undefined],
    ] as const) {
      const r = await as(who, 'POST', '/equipment', {
        tag,
        siteId: site,
        type: 'instrument',
        intervalDays: 180,
        ...(exportControl ? { exportControl } : {}),
      });
      expect(r.status, r.text).toBe(201);
    }
    for (const [who, tag] of [
      ['admin', 'RIG-FLOW-01'],
      ['admin', 'RIG-B'],
      ['globex', 'RIG-G'],
    ] as const) {
      const cal = await as(who, 'POST', '/calibrations', {
        equipment: tag,
        enteredBy: who,
        body: {
          standards: [],
          points: [
            {
              name: 'p',
              nominal: 10,
              unit: 'mm',
              asFound: 10,
              lowerTolerance: -0.1,
              upperTolerance: 0.1,
              asFoundResult: 'pass',
            },
          ],
          adjusted: false,
          asFoundResult: 'pass',
          calibratedAt: new Date(Date.now() - 60_000).toISOString(),
        },
        signature: { password: PW[who], meaning: 'performed' },
      });
      expect(cal.status, cal.text).toBe(201);
    }
    const edgeA = await new TestEdge(cloud.url).enroll(enrollA.token, 'line-a');
    const edgeB = await new TestEdge(cloud.url).enroll(enrollB.token, 'line-b');
    const edgeG = await new TestEdge(cloud.url).enroll(enrollG.token, 'works-line');
    await edgeA.ingest(edgeA.examples(10));
    await edgeB.ingest(plantB(edgeB.examples(10)));
    await edgeG.ingest(edgeG.examples(10));

    // The naive routes, over a store of their own on the same database, with the cloud's sign-in.
    store = await openStore(cfg);
    const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
    naive = naiveApp(store, accounts).listen(0, '127.0.0.1');
    await new Promise<void>((r) => naive.once('listening', () => r()));
    naiveUrl = `http://127.0.0.1:${(naive.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    naive?.close();
    await store?.db.close();
    await cloud?.close();
    await storage?.cleanup();
  });

  it('the register: each caller sees only its tenant, its sites and what it is cleared for', async () => {
    expect((await naively('admin', '/naive/equipment')).tags).toEqual(['RIG-B', 'RIG-FLOW-01', 'TT-OIL-02']);
    expect((await naively('plantA', '/naive/equipment')).tags).toEqual(['RIG-FLOW-01', 'TT-OIL-02']);
    expect((await naively('foreign', '/naive/equipment')).tags).toEqual(['RIG-B', 'TT-OIL-02']);
    expect((await naively('token', '/naive/equipment')).tags).toEqual(['RIG-B', 'TT-OIL-02']);
    expect((await naively('globex', '/naive/equipment')).tags).toEqual(['RIG-FLOW-01', 'RIG-G']);
    for (const p of ['/naive/due'])
      expect((await naively('foreign', p)).tags, p).not.toContain('RIG-FLOW-01');
    expect((await naively('admin', '/naive/due')).tags).toContain('RIG-FLOW-01');
    expect((await naively('plantA', '/naive/due')).tags).not.toContain('RIG-B');
  });

  it('one entry by its tag: 404 (not 403) to a caller who may not see it', async () => {
    expect((await naively('admin', '/naive/equipment/RIG-FLOW-01')).status).toBe(200);
    expect((await naively('admin', '/naive/equipment/RIG-B')).status).toBe(200);
    expect((await naively('plantA', '/naive/equipment/RIG-FLOW-01')).status).toBe(200);
    expect((await naively('plantA', '/naive/equipment/RIG-B')).status).toBe(404);
    expect((await naively('foreign', '/naive/equipment/RIG-FLOW-01')).status).toBe(404);
    expect((await naively('token', '/naive/equipment/RIG-FLOW-01')).status).toBe(404);
    expect((await naively('globex', '/naive/equipment/RIG-B')).status).toBe(404);
    expect((await naively('globex', '/naive/equipment/TT-OIL-02')).status).toBe(404);
  });

  it('calibrations, inspections, yield and records: the same scope', async () => {
    expect((await naively('admin', '/naive/calibrations')).tags).toEqual(['RIG-B', 'RIG-FLOW-01']);
    expect((await naively('plantA', '/naive/calibrations')).tags).toEqual(['RIG-FLOW-01']);
    expect((await naively('foreign', '/naive/calibrations')).tags).toEqual(['RIG-B']);
    expect((await naively('globex', '/naive/calibrations')).tags).toEqual(['RIG-G']);
    for (const p of ['/naive/inspections', '/naive/yield', '/naive/records', '/naive/measurements']) {
      expect((await naively('admin', p)).tags, p).toEqual(expect.arrayContaining(['RIG-B', 'RIG-FLOW-01']));
      expect((await naively('plantA', p)).tags, p).toContain('RIG-FLOW-01');
      expect((await naively('plantA', p)).tags, p).not.toContain('RIG-B');
      expect((await naively('foreign', p)).tags, p).toContain('RIG-B');
      expect((await naively('foreign', p)).tags, p).not.toContain('RIG-FLOW-01');
      expect((await naively('token', p)).tags, p).not.toContain('RIG-FLOW-01');
      // Globex's edge sent the same example records (its own RIG-FLOW-01); none of Acme's.
      expect((await naively('globex', p)).tags, p).not.toContain('RIG-B');
    }
  });
});
