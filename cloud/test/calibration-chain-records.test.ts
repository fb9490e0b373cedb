import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createAccounts } from '../src/access/accounts.js';
import type { Role } from '../src/access/policy.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { Witness } from '../src/platform/witness.js';
import { TestEdge } from './helpers/edge.js';
import { apiCall, signIn, type Session } from './helpers/signed-in.js';
import { BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

/**
 * A failed reference standard's suspect chain names the products: the records each instrument
 * calibrated with it made until its next valid calibration (which instrument, which rig, which
 * part, when), paged, in JSON and CSV, with site scope and export control applied as on every
 * other read of suspect records.
 */

const PW: Record<string, string> = {
  tech: 'torque wrench on shelf 3',
  cleared: 'export desk key holder 42',
  scoped: 'plant one manager desk 9',
};
const DAY = 86_400_000;
const ago = (days: number) => new Date(Date.now() - days * DAY).toISOString();

const calibration = (at: string, o: { fail?: boolean; standard?: string } = {}) => ({
  technician: 'A. Smith (level 3)',
  standards: o.standard ? [{ id: o.standard }] : [],
  points: [
    {
      name: 'p@800',
      nominal: 800,
      unit: 'bar',
      asFound: o.fail ? 806 : 800.4,
      lowerTolerance: -2,
      upperTolerance: 2,
      asFoundResult: o.fail ? 'fail' : 'pass',
    },
  ],
  adjusted: false,
  asFoundResult: o.fail ? 'fail' : 'pass',
  calibratedAt: at,
});

/** An inspection of `part` on `rig`, measured with `gauge`. */
const inspection = (edge: TestEdge, rig: string, gauge: string, at: string, part: string) =>
  edge.record('inspection', rig, at, {
    partSerial: part,
    workOrder: 'WO-7',
    result: 'pass',
    gauges: [gauge],
    characteristics: [
      {
        name: 'rail pressure',
        nominal: 800,
        lsl: 795,
        usl: 805,
        measured: 801.5,
        unit: 'bar',
        gauge,
        result: 'pass',
      },
    ],
  });

describe.each(BACKENDS)('the records of a suspect chain, by name, on %s', (backend) => {
  let storage: TestStorage;
  let cloud: RunningCloud;
  const s: Record<string, Session> = {};
  const edges: Record<string, string> = {};
  const link: Record<string, string> = {};
  const call = (who: string, method: string, p: string, b?: unknown) =>
    apiCall(cloud.url, s[who]!, method, p, b);
  const calibrate = async (tag: string, b: ReturnType<typeof calibration>) => {
    const r = await call('cleared', 'POST', '/calibrations', {
      equipment: tag,
      enteredBy: 'A. Smith',
      body: b,
      signature: { password: PW.cleared, meaning: 'performed' },
    });
    expect(r.status, r.text).toBe(201);
    return r.body.calibration.id as string;
  };
  /** Each item as "instrument rig part". */
  const named = (items: { instrument: { equipment: string }; equipment: string; partSerial: string }[]) =>
    items.map((i) => `${i.instrument.equipment} ${i.equipment} ${i.partSerial}`);

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    const cfg = loadCloudConfig({}, storage.overrides);
    const store = await openStore(cfg);
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createSite('acme', 'plant-1', 'Plant 1');
    await store.tenancy.createSite('acme', 'plant-2', 'Plant 2');
    const enroll1 = await store.tenancy.createEnrollmentToken('acme', 'plant-1', 3600_000);
    const enroll2 = await store.tenancy.createEnrollmentToken('acme', 'plant-2', 3600_000);
    const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
    const by = { actor: { type: 'system' as const, id: 'test' }, address: null };
    const users: [string, Role, string[] | null, boolean][] = [
      ['tech', 'technician', null, false],
      ['cleared', 'admin', null, true],
      ['scoped', 'manager', ['plant-1'], false],
    ];
    for (const [who, role, sites, usPerson] of users)
      await accounts.users.create(by, 'acme', {
        email: `${who}@acme.example`,
        name: `${who} name`,
        role,
        sites,
        password: PW[who]!,
        mustChangePassword: false,
        usPerson,
      });
    await store.db.close();
    cloud = await startCloud(
      loadCloudConfig({}, { ...storage.overrides, port: '0' }),
      pino({ level: 'silent' }),
    );
    for (const [who] of users) s[who] = await signIn(cloud.url, 'acme', `${who}@acme.example`, PW[who]!);
    for (const [tag, siteId, type, more] of [
      ['STD-1', 'plant-1', 'reference standard', { referenceStandard: {} }],
      ['GAUGE-1', 'plant-1', 'transducer', {}],
      ['GAUGE-2', 'plant-2', 'transducer', {}],
      ['RIG-1', 'plant-1', 'injector test rig', {}],
      ['RIG-2', 'plant-2', 'injector test rig', {}],
      ['RIG-X', 'plant-1', 'injector test rig', { exportControl: { regime: 'ITAR' } }],
    ] as const) {
      const r = await call('cleared', 'POST', '/equipment', {
        tag,
        siteId,
        type,
        intervalDays: 180,
        ...more,
      });
      expect(r.status, r.text).toBe(201);
    }
    // The standard was good 40 days ago; GAUGE-1 and GAUGE-2 were calibrated with it 10 and 9
    // days ago; it failed a day ago. GAUGE-2 has a valid calibration again 3 days ago.
    await calibrate('STD-1', calibration(ago(40)));
    link['GAUGE-1'] = await calibrate('GAUGE-1', calibration(ago(10), { standard: 'STD-1' }));
    link['GAUGE-2'] = await calibrate('GAUGE-2', calibration(ago(9), { standard: 'STD-1' }));
    await calibrate('GAUGE-2', calibration(ago(3)));
    await calibrate('STD-1', calibration(ago(1), { fail: true }));
    // Plant 1: two parts on RIG-1 and one on the export-controlled RIG-X, measured with GAUGE-1
    // (one before its calibration with the standard: not suspect). Plant 2: GAUGE-2 on RIG-2, one
    // part inside its window and one after its next valid calibration; GAUGE-1 lent to plant 2
    // for one part.
    const e1 = await new TestEdge(cloud.url).enroll(enroll1.token, 'line-1');
    edges['1'] = e1.id;
    await e1.ingest([
      inspection(e1, 'RIG-1', 'GAUGE-1', ago(12), 'P-OLD'),
      inspection(e1, 'RIG-1', 'GAUGE-1', ago(8), 'P-101'),
      inspection(e1, 'RIG-X', 'GAUGE-1', ago(7), 'P-ITAR'),
      inspection(e1, 'RIG-1', 'GAUGE-1', ago(6), 'P-102'),
    ]);
    const e2 = await new TestEdge(cloud.url).enroll(enroll2.token, 'line-2');
    edges['2'] = e2.id;
    await e2.ingest([
      inspection(e2, 'RIG-2', 'GAUGE-1', ago(5.5), 'P-LENT'),
      inspection(e2, 'RIG-2', 'GAUGE-2', ago(5), 'P-201'),
      inspection(e2, 'RIG-2', 'GAUGE-2', ago(2), 'P-LATER'),
    ]);
  });
  afterAll(async () => {
    await cloud?.close();
    await storage?.cleanup();
  });

  it('names each suspect part with its instrument, rig and time, page by page', async () => {
    const chain = await call('tech', 'GET', '/equipment/STD-1/suspect-chain');
    expect(chain.status, chain.text).toBe(200);
    expect(chain.body.links.map((l: { equipment: string }) => l.equipment)).toEqual(['GAUGE-1', 'GAUGE-2']);

    const all = await call('tech', 'GET', '/equipment/STD-1/suspect-chain/records');
    expect(all.status, all.text).toBe(200);
    // Not cleared: the export-controlled rig's part is left out.
    expect(named(all.body.items)).toEqual([
      'GAUGE-1 RIG-1 P-101',
      'GAUGE-1 RIG-1 P-102',
      'GAUGE-1 RIG-2 P-LENT',
      'GAUGE-2 RIG-2 P-201',
    ]);
    expect(all.body.next).toBeNull();
    expect(all.body.standard).toBe('STD-1');
    expect(all.body.window.failedCalibration.calibratedAt.slice(0, 10)).toBe(ago(1).slice(0, 10));
    const first = all.body.items[0];
    expect(first).toMatchObject({
      instrument: { equipment: 'GAUGE-1', calibrationId: link['GAUGE-1'], until: null },
      edge: edges['1'],
      seq: 2,
      kind: 'inspection',
      siteId: 'plant-1',
      equipment: 'RIG-1',
      observedAt: expect.stringMatching(new RegExp(`^${ago(8).slice(0, 10)}T`)),
      partSerial: 'P-101',
      workOrder: 'WO-7',
      via: 'gauge',
      characteristics: [
        { name: 'rail pressure', measured: 801.5, unit: 'bar', lsl: 795, usl: 805, margin: 3.5 },
      ],
    });
    expect(all.body.items[3].instrument.until.slice(0, 10)).toBe(ago(3).slice(0, 10));

    // Two at a time: the page ends inside GAUGE-1's records, the next goes on into GAUGE-2's.
    const p1 = await call('tech', 'GET', '/equipment/STD-1/suspect-chain/records?limit=2');
    expect(named(p1.body.items)).toEqual(['GAUGE-1 RIG-1 P-101', 'GAUGE-1 RIG-1 P-102']);
    expect(p1.body.next).toEqual(expect.stringContaining(link['GAUGE-1']!));
    const p2 = await call(
      'tech',
      'GET',
      `/equipment/STD-1/suspect-chain/records?limit=2&after=${encodeURIComponent(p1.body.next)}`,
    );
    expect(named(p2.body.items)).toEqual(['GAUGE-1 RIG-2 P-LENT', 'GAUGE-2 RIG-2 P-201']);
    // A full page may be the last: the next one is empty.
    const p3 = await call(
      'tech',
      'GET',
      `/equipment/STD-1/suspect-chain/records?limit=2&after=${encodeURIComponent(p2.body.next)}`,
    );
    expect([p3.body.items, p3.body.next]).toEqual([[], null]);

    // The CSV: one line per record and characteristic, the instrument first.
    const csv = await call('tech', 'GET', '/equipment/STD-1/suspect-chain/records?format=csv');
    expect(csv.status).toBe(200);
    const lines = csv.text.trim().split('\r\n');
    expect(lines[0]).toMatch(/^instrument,instrumentCalibration,edge,seq,kind,observedAt,siteId,equipment,/);
    expect(lines.slice(1).map((l) => l.split(',')[0])).toEqual(['GAUGE-1', 'GAUGE-1', 'GAUGE-1', 'GAUGE-2']);
    expect(csv.text).toContain('P-101');
    expect(csv.text).not.toContain('P-ITAR');

    // A cursor that is not one, or names no link of this chain: 400 problem+json.
    for (const after of ['nope', `manual:00000000-0000-0000-0000-000000000000~${ago(5)}~${edges['1']}~1`]) {
      const bad = await call(
        'tech',
        'GET',
        `/equipment/STD-1/suspect-chain/records?after=${encodeURIComponent(after)}`,
      );
      expect(bad.status, after).toBe(400);
      expect(bad.body.type, after).toMatch(/CLOUD_VALIDATION|validation/i);
    }
  });

  it('applies site scope and export control as every read of suspect records does', async () => {
    // Limited to plant 1: GAUGE-2 (plant 2) and its records are not named, nor the part GAUGE-1
    // measured at plant 2.
    const scoped = await call('scoped', 'GET', '/equipment/STD-1/suspect-chain/records');
    expect(scoped.status, scoped.text).toBe(200);
    expect(named(scoped.body.items)).toEqual(['GAUGE-1 RIG-1 P-101', 'GAUGE-1 RIG-1 P-102']);
    const scopedCsv = await call('scoped', 'GET', '/equipment/STD-1/suspect-chain/records?format=csv');
    expect(scopedCsv.text).not.toContain('plant-2');
    // The chain's links: the instruments calibrated with STD-1 that the caller sees.
    const links = async (who: string) =>
      (await call(who, 'GET', '/equipment/STD-1/suspect-chain')).body.links.map(
        (l: { equipment: string }) => l.equipment,
      );
    expect(await links('scoped')).toEqual(['GAUGE-1']);
    expect(await links('cleared')).toEqual(['GAUGE-1', 'GAUGE-2']);

    // Cleared: the export-controlled rig's part too, and the access is logged.
    const cleared = await call('cleared', 'GET', '/equipment/STD-1/suspect-chain/records');
    expect(named(cleared.body.items)).toEqual([
      'GAUGE-1 RIG-1 P-101',
      'GAUGE-1 RIG-X P-ITAR',
      'GAUGE-1 RIG-1 P-102',
      'GAUGE-1 RIG-2 P-LENT',
      'GAUGE-2 RIG-2 P-201',
    ]);
    const log = await call('cleared', 'GET', '/export-access?limit=100');
    expect(log.status, log.text).toBe(200);
    expect(
      log.body.items.filter(
        (i: { route: string; objectId: string }) =>
          i.route === 'GET /equipment/{tag}/suspect-chain/records' && i.objectId === `${edges['1']}:3`,
      ),
    ).toHaveLength(1);

    // A standard outside the caller's sites: 404 as for an absent one.
    await call('cleared', 'POST', '/equipment', {
      tag: 'STD-2',
      siteId: 'plant-2',
      type: 'reference standard',
      intervalDays: 365,
    });
    expect((await call('scoped', 'GET', '/equipment/STD-2/suspect-chain/records')).status).toBe(404);
    expect((await call('scoped', 'GET', '/equipment/NO-SUCH/suspect-chain/records')).status).toBe(404);
  });

  it('counts for each link only the records the caller can list (its sites, its clearance)', async () => {
    /** Each link's count, and the records listed per instrument, as `who` reads them. */
    const seenBy = async (who: string) => {
      const chain = await call(who, 'GET', '/equipment/STD-1/suspect-chain');
      expect(chain.status, chain.text).toBe(200);
      const counts = Object.fromEntries(
        chain.body.links.map((l: { equipment: string; suspectRecords: number }) => [
          l.equipment,
          l.suspectRecords,
        ]),
      );
      const records = await call(who, 'GET', '/equipment/STD-1/suspect-chain/records');
      expect(records.status, records.text).toBe(200);
      const listed: Record<string, number> = {};
      for (const i of records.body.items as { instrument: { equipment: string } }[])
        listed[i.instrument.equipment] = (listed[i.instrument.equipment] ?? 0) + 1;
      for (const tag of Object.keys(counts)) listed[tag] ??= 0;
      return { counts, listed };
    };
    // Limited to plant 1: GAUGE-1's two parts on RIG-1 (not the one lent to plant 2, nor the
    // export-controlled rig's).
    const scoped = await seenBy('scoped');
    expect(scoped.counts).toEqual({ 'GAUGE-1': 2 });
    expect(scoped.counts).toEqual(scoped.listed);
    // Every site, not cleared: the export-controlled rig's part is neither listed nor counted.
    const tech = await seenBy('tech');
    expect(tech.counts).toEqual({ 'GAUGE-1': 3, 'GAUGE-2': 1 });
    expect(tech.counts).toEqual(tech.listed);
    // Cleared, every site: everything.
    const cleared = await seenBy('cleared');
    expect(cleared.counts).toEqual({ 'GAUGE-1': 4, 'GAUGE-2': 1 });
    expect(cleared.counts).toEqual(cleared.listed);
  });
});
