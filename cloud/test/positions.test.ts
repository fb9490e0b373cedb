import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createAccounts } from '../src/access/accounts.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { Witness } from '../src/platform/witness.js';
import { TestEdge } from './helpers/edge.js';
import { apiCall, signIn, type Session } from './helpers/signed-in.js';
import { createUsers, type TestUser } from './helpers/users.js';
import { BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

/**
 * Positions and devices on both backends, through the API: a rig has positions; a transducer is
 * installed in one from a time and removed at a time, then installed in another rig; each change
 * is on the audit trail; overlaps and bad input are refused as problem+json. When the transducer
 * fails as found, the suspect list follows its installations: every test the rigs made while it
 * sat in them during the suspect window, with the position named, each record once; site scope
 * and export control apply to the rigs' records as to any other.
 */

const PW: Record<string, string> = {
  tech: 'torque wrench on shelf 3',
  quality: 'signs for the lab on fridays',
  scoped: 'second desk by the window',
  cleared: 'signed off for the program',
};
const HOUR = 3_600_000;
const MODBUS = { protocol: 'modbus', endpoint: 'tcp://rig.plant1.local:502' };
const NOW = Date.now();
const at = (hoursAgo: number) => new Date(NOW - hoursAgo * HOUR).toISOString();

describe.each(BACKENDS)('positions and devices on %s', (backend) => {
  let storage: TestStorage;
  let cloud: RunningCloud;
  let apiToken = '';
  /** The line's edge: it sends the rigs' tests and the bench's calibrations. */
  let edge: TestEdge;
  const s: Record<string, Session> = {};
  const call = (who: string, method: string, p: string, body?: unknown) =>
    apiCall(cloud.url, who === 'token' ? apiToken : s[who]!, method, p, body);
  const rail = (rig: string) => `/equipment/${rig}/positions/${encodeURIComponent('rail pressure')}`;

  const envelope = (kind: string, equipment: string, observedAt: string, body: unknown) =>
    edge.record(kind, equipment, observedAt, body);
  /** An injector test on a rig, its rail pressure read by whatever transducer sits in the rig. */
  const test = (rig: string, hoursAgo: number, part: string, gauges?: string[]) =>
    envelope('inspection', rig, at(hoursAgo), {
      partSerial: part,
      workOrder: 'WO-7',
      operator: 'op-17',
      result: 'pass',
      ...(gauges ? { gauges } : {}),
      characteristics: [
        {
          name: 'railPressure',
          nominal: 1000,
          lsl: 990,
          usl: 1010,
          measured: 1003,
          unit: 'bar',
          result: 'pass',
        },
      ],
    });
  const calibration = (tag: string, hoursAgo: number, asFound: number) => {
    const verdict = Math.abs(asFound - 1000) <= 5 ? 'pass' : 'fail';
    return envelope('calibration', tag, at(hoursAgo), {
      technician: 'T-0117 M. Keller',
      standards: [{ id: 'STD-PRS-0007', certificate: 'CERT-PRS-0007-2025-0412' }],
      points: [
        {
          name: '1000 bar',
          nominal: 1000,
          unit: 'bar',
          asFound,
          lowerTolerance: -5,
          upperTolerance: 5,
          asFoundResult: verdict,
        },
      ],
      adjusted: false,
      asFoundResult: verdict,
      calibratedAt: at(hoursAgo),
    });
  };
  const ingest = (records: unknown[]) => edge.ingest(records);
  /** The out-of-tolerance compliance report of the last 30 days as CSV (generated, waited for). */
  const ootReportCsv = async (): Promise<string> => {
    const asked = await call('cleared', 'POST', '/reports', {
      type: 'out-of-tolerance',
      from: at(24 * 30).slice(0, 10),
      to: at(0).slice(0, 10),
      format: 'csv',
    });
    expect(asked.status, asked.text).toBe(202);
    const until = Date.now() + 120_000;
    while ((await call('cleared', 'GET', `/reports/${asked.body.id}`)).body.state !== 'done') {
      expect(Date.now()).toBeLessThan(until);
      await new Promise((r) => setTimeout(r, 200));
    }
    return (await call('cleared', 'GET', `/reports/${asked.body.id}/file`)).text;
  };
  const ok = async (p: Promise<{ status: number; text: string; body: any }>, status = 201) => {
    const r = await p;
    expect(r.status, r.text).toBe(status);
    return r.body;
  };

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    const cfg = loadCloudConfig({}, storage.overrides);
    const store = await openStore(cfg);
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createSite('acme', 'plant-1', 'Plant 1');
    await store.tenancy.createSite('acme', 'plant-2', 'Plant 2');
    apiToken = await store.tenancy.createApiToken('acme', 'reader');
    const enroll = await store.tenancy.createEnrollmentToken('acme', 'plant-1', 3600_000);
    const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
    const users: TestUser[] = [
      ['tech', 'technician', null, false],
      ['quality', 'manager', null, false],
      ['scoped', 'technician', ['plant-2'], false],
      ['cleared', 'admin', null, true],
    ];
    await createUsers(accounts, 'acme', users, PW);
    await store.db.close();
    cloud = await startCloud(
      loadCloudConfig({}, { ...storage.overrides, port: '0' }),
      pino({ level: 'silent' }),
    );
    for (const [who] of users) s[who] = await signIn(cloud.url, 'acme', `${who}@acme.example`, PW[who]!);
    // Each test has its own rigs and transducers (the cloud is shared by the suite's tests).
    for (const n of [1, 2, 3, 4, 5, 6])
      await ok(
        call('tech', 'POST', '/equipment', {
          tag: `RIG-0${n}`,
          siteId: 'plant-1',
          type: 'injector test rig',
          intervalDays: 365,
        }),
      );
    for (const n of [1, 2, 3, 4, 5, 6, 9])
      await ok(
        call('tech', 'POST', '/equipment', {
          tag: `PT-0${n}`,
          siteId: 'plant-1',
          type: 'rail-pressure transducer',
          intervalDays: 180,
        }),
      );
    // A rig of an export-controlled program: registered (and flagged) by a cleared user.
    await ok(
      call('cleared', 'POST', '/equipment', {
        tag: 'RIG-09',
        siteId: 'plant-1',
        type: 'injector test rig',
        intervalDays: 180,
        exportControl: { regime: 'ITAR' },
      }),
    );
    edge = await new TestEdge(cloud.url, MODBUS).enroll(enroll.token, 'line-1');
  });
  afterAll(async () => {
    await cloud?.close();
    await storage?.cleanup();
  });

  it('keeps positions and installations with their history, each change on the audit trail', async () => {
    const pos = await ok(call('tech', 'POST', '/equipment/RIG-01/positions', { name: 'rail pressure' }));
    expect(pos).toMatchObject({
      name: 'rail pressure',
      label: 'RIG-01 / rail pressure',
      current: null,
      history: [],
    });
    await ok(call('tech', 'POST', '/equipment/RIG-02/positions', { name: 'rail pressure' }));
    const first = await ok(
      call('tech', 'POST', `${rail('RIG-01')}/installations`, { device: 'PT-01', from: at(400) }),
    );
    expect(first).toMatchObject({
      device: 'PT-01',
      label: 'RIG-01 / rail pressure',
      from: at(400),
      until: null,
    });
    const removed = await ok(call('tech', 'POST', `${rail('RIG-01')}/removal`, { at: at(150) }), 200);
    expect(removed).toMatchObject({ id: first.id, until: at(150) });
    await ok(call('tech', 'POST', `${rail('RIG-01')}/installations`, { device: 'PT-02', from: at(150) }));
    await ok(call('tech', 'POST', `${rail('RIG-02')}/installations`, { device: 'PT-01', from: at(120) }));

    const rig1 = (await call('token', 'GET', '/equipment/RIG-01/positions')).body;
    expect(rig1.positions).toHaveLength(1);
    expect(rig1.positions[0].current).toMatchObject({ device: 'PT-02', until: null });
    expect(rig1.positions[0].history.map((i: { device: string }) => i.device)).toEqual(['PT-02', 'PT-01']);
    const where = (await call('token', 'GET', '/equipment/PT-01/installations')).body;
    expect(where.current).toMatchObject({ label: 'RIG-02 / rail pressure', from: at(120) });
    expect(where.history.map((i: { label: string; until: string | null }) => [i.label, i.until])).toEqual([
      ['RIG-02 / rail pressure', null],
      ['RIG-01 / rail pressure', at(150)],
    ]);

    const trail = (await call('cleared', 'GET', '/audit?limit=1000')).body.items.map(
      (i: { entry: { action: string; target?: { id: string }; after?: unknown } }) => i.entry,
    );
    const mine = trail.filter((e: { action: string }) => /^(position|device)\./.test(e.action));
    expect(mine.map((e: { action: string; target: { id: string } }) => `${e.action} ${e.target.id}`)).toEqual(
      [
        'position.create RIG-01 / rail pressure',
        'position.create RIG-02 / rail pressure',
        'device.install RIG-01 / rail pressure',
        'device.remove RIG-01 / rail pressure',
        'device.install RIG-01 / rail pressure',
        'device.install RIG-02 / rail pressure',
      ],
    );
    expect(mine[3].after).toEqual({ device: 'PT-01', from: at(400), until: at(150) });
  });

  it('refuses overlaps and bad input as problem+json, and writes from anyone without the permission', async () => {
    await ok(call('tech', 'POST', '/equipment/RIG-03/positions', { name: 'rail pressure' }));
    await ok(call('tech', 'POST', '/equipment/RIG-04/positions', { name: 'rail pressure' }));
    await ok(call('tech', 'POST', `${rail('RIG-03')}/installations`, { device: 'PT-03', from: at(100) }));

    const refused = async (p: string, body: unknown, status: number, code: string) => {
      const r = await call('tech', 'POST', p, body);
      expect(r.status, r.text).toBe(status);
      expect(r.type).toContain('application/problem+json');
      expect(r.body.code).toBe(code);
      return r.body;
    };
    // One device in one position at a time: PT-03 is in RIG-03 from 100 h ago.
    const twice = await refused(
      `${rail('RIG-04')}/installations`,
      { device: 'PT-03', from: at(50) },
      409,
      'CLOUD_CONFLICT',
    );
    expect(twice.detail).toContain('PT-03 is installed in RIG-03 / rail pressure');
    // …including a past installation that overlaps it.
    await refused(
      `${rail('RIG-04')}/installations`,
      { device: 'PT-03', from: at(200), until: at(90) },
      409,
      'CLOUD_CONFLICT',
    );
    // One device per position at a time.
    const occupied = await refused(
      `${rail('RIG-03')}/installations`,
      { device: 'PT-04', from: at(10) },
      409,
      'CLOUD_CONFLICT',
    );
    expect(occupied.detail).toContain('RIG-03 / rail pressure holds PT-03');
    // A past installation that ended before PT-03 came is fine.
    await ok(
      call('tech', 'POST', `${rail('RIG-03')}/installations`, {
        device: 'PT-04',
        from: at(300),
        until: at(100),
      }),
    );

    const bad = await refused(
      `${rail('RIG-04')}/installations`,
      { device: 'NO-SUCH', from: 'yesterday', extra: 1 },
      400,
      'CLOUD_VALIDATION',
    );
    expect(bad.errors.map((e: { path: string }) => e.path).sort()).toEqual(['', 'from']);
    const rules = await refused(
      `${rail('RIG-04')}/installations`,
      { device: 'NO-SUCH', from: at(-24), until: at(-48) },
      400,
      'CLOUD_VALIDATION',
    );
    expect(rules.errors.map((e: { path: string }) => e.path).sort()).toEqual(['device', 'from', 'until']);
    await refused(
      `${rail('RIG-04')}/installations`,
      { device: 'PT-04', from: at(5), until: at(6) },
      400,
      'CLOUD_VALIDATION',
    );
    await refused(
      `${rail('RIG-04')}/installations`,
      { device: 'RIG-04', from: at(5) },
      400,
      'CLOUD_VALIDATION',
    );
    await refused(
      '/equipment/RIG-04/positions/nowhere/installations',
      { device: 'PT-04', from: at(5) },
      404,
      'CLOUD_NOT_FOUND',
    );
    await refused('/equipment/RIG-03/positions', { name: 'rail pressure' }, 409, 'CLOUD_CONFLICT');
    await refused('/equipment/RIG-03/positions', { name: '' }, 400, 'CLOUD_VALIDATION');
    await refused(`${rail('RIG-04')}/removal`, { at: at(1) }, 409, 'CLOUD_CONFLICT');
    await refused(`${rail('RIG-03')}/removal`, { at: at(101) }, 400, 'CLOUD_VALIDATION');
    // A date is midnight UTC.
    const day = await ok(
      call('tech', 'POST', `${rail('RIG-04')}/installations`, { device: 'PT-05', from: at(24).slice(0, 10) }),
    );
    expect(day.from).toBe(`${at(24).slice(0, 10)}T00:00:00.000Z`);

    // Managers and API tokens do not change the register; a user of another site does not see the rig.
    expect((await call('quality', 'POST', `${rail('RIG-04')}/removal`, { at: at(1) })).body.code).toBe(
      'CLOUD_FORBIDDEN',
    );
    expect((await call('token', 'POST', '/equipment/RIG-04/positions', { name: 'x' })).status).toBe(403);
    expect((await call('scoped', 'POST', `${rail('RIG-04')}/removal`, { at: at(1) })).status).toBe(404);
    expect((await call('scoped', 'GET', '/equipment/RIG-03/positions')).status).toBe(404);
    // Nothing refused was stored.
    const rig2 = (await call('token', 'GET', '/equipment/RIG-04/positions')).body.positions[0];
    expect(rig2.history.map((i: { device: string }) => i.device)).toEqual(['PT-05']);
  });

  it('makes suspect every test a rig made while the failed transducer sat in it, with the position named', async () => {
    await ok(call('tech', 'POST', '/equipment/RIG-05/positions', { name: 'rail pressure' }));
    await ok(call('tech', 'POST', '/equipment/RIG-06/positions', { name: 'rail pressure' }));
    await ok(call('tech', 'POST', `${rail('RIG-05')}/installations`, { device: 'PT-06', from: at(400) }));
    await ok(call('tech', 'POST', `${rail('RIG-05')}/removal`, { at: at(150) }), 200);
    await ok(call('tech', 'POST', `${rail('RIG-06')}/installations`, { device: 'PT-06', from: at(120) }));
    await ingest([
      calibration('PT-06', 300, 1001.2), // good: the window starts after it
      test('RIG-05', 350, 'INJ-0'), // before the window
      test('RIG-05', 200, 'INJ-1'),
      test('RIG-05', 170, 'INJ-2', ['PT-06']), // names the transducer as its gauge: listed once
      test('RIG-05', 149, 'INJ-3'), // PT-06 was out of RIG-05 by then
      test('RIG-06', 130, 'INJ-4'), // before PT-06 came to RIG-06
      test('RIG-06', 100, 'INJ-5'),
      calibration('PT-06', 50, 992.58), // fails as found: -7.42 against ±5
      test('RIG-06', 10, 'INJ-6'), // still installed, still failed
    ]);
    const out = (await call('token', 'GET', '/equipment/PT-06/suspect-records')).body;
    expect(out.window).toMatchObject({ start: at(300), end: null });
    expect(
      out.items.map((i: { partSerial: string; via: string; position: string | null; equipment: string }) => [
        i.partSerial,
        i.equipment,
        i.via,
        i.position,
      ]),
    ).toEqual([
      ['INJ-1', 'RIG-05', 'position', 'RIG-05 / rail pressure'],
      ['INJ-2', 'RIG-05', 'gauge', null],
      ['INJ-5', 'RIG-06', 'position', 'RIG-06 / rail pressure'],
      ['INJ-6', 'RIG-06', 'position', 'RIG-06 / rail pressure'],
    ]);
    // The whole record comes with it, and the characteristics the instrument may have affected.
    expect(out.items[0].characteristics[0]).toMatchObject({ name: 'railPressure', margin: 7, atRisk: true });
    // Pages follow the cursor across the three sides.
    const page1 = (await call('token', 'GET', '/equipment/PT-06/suspect-records?limit=3')).body;
    const page2 = (
      await call(
        'token',
        'GET',
        `/equipment/PT-06/suspect-records?limit=3&after=${encodeURIComponent(page1.next)}`,
      )
    ).body;
    expect([...page1.items, ...page2.items].map((i: { partSerial: string }) => i.partSerial)).toEqual([
      'INJ-1',
      'INJ-2',
      'INJ-5',
      'INJ-6',
    ]);
    const csv = (await call('token', 'GET', '/equipment/PT-06/suspect-records?format=csv')).text;
    const [head, ...lines] = csv.trim().split('\r\n');
    expect(head).toContain('equipment,via,position,named,partSerial');
    // Made on RIG-06 while installed; the record does not name the position.
    expect(lines.find((l: string) => l.includes('INJ-5'))).toContain(
      'RIG-06,position,RIG-06 / rail pressure,false,INJ-5',
    );

    // The out-of-tolerance case opened by the failure counts and lists the same records.
    const k = (await call('quality', 'GET', '/oot-cases?equipment=PT-06')).body.items[0];
    expect(k.progress.suspect).toBe(4);
    const full = (await call('quality', 'GET', `/oot-cases/${k.id}`)).body;
    expect(
      full.suspects.map((r: { partSerial: string; position: string | null }) => [r.partSerial, r.position]),
    ).toEqual([
      ['INJ-1', 'RIG-05 / rail pressure'],
      ['INJ-2', null],
      ['INJ-5', 'RIG-06 / rail pressure'],
      ['INJ-6', 'RIG-06 / rail pressure'],
    ]);
    // Read by an API token (never cleared) in a tenant with export-controlled equipment (RIG-09):
    // the transducer's alert is not export-controlled and is listed.
    const alert = (await call('token', 'GET', '/alerts')).body.items.find(
      (a: { kind: string; tag: string }) => a.kind === 'out-of-tolerance' && a.tag === 'PT-06',
    );
    expect(alert.message).toContain('4 usage and inspection records');

    // The compliance report's out-of-tolerance section lists the same records, with the position.
    const report = await ootReportCsv();
    const [reportHead, ...reportLines] = report.trim().split(/\r?\n/);
    expect(reportHead).toContain('recordEquipment,via,position,named,partSerial');
    const ofPt06 = reportLines.filter((l: string) => l.includes('PT-06'));
    expect(ofPt06.map((l: string) => /INJ-\d/.exec(l)?.[0])).toEqual(['INJ-1', 'INJ-2', 'INJ-5', 'INJ-6']);
    expect(ofPt06.find((l: string) => l.includes('INJ-5'))).toContain(
      'RIG-06,position,RIG-06 / rail pressure,false,INJ-5',
    );
  });

  it('resolves a position a record names to the device installed there at its observedAt', async () => {
    await ok(
      call('tech', 'POST', '/equipment', {
        tag: 'RIG-07',
        siteId: 'plant-1',
        type: 'injector test rig',
        intervalDays: 365,
      }),
    );
    for (const tag of ['PT-07', 'PT-08'])
      await ok(
        call('tech', 'POST', '/equipment', {
          tag,
          siteId: 'plant-1',
          type: 'rail-pressure transducer',
          intervalDays: 180,
        }),
      );
    await ok(call('tech', 'POST', '/equipment/RIG-07/positions', { name: 'rail pressure' }));
    await ok(call('tech', 'POST', '/equipment/RIG-07/positions', { name: 'oil temperature' }));
    // PT-07 sat in the rail-pressure position until 150 h ago; PT-08 sits there since.
    await ok(call('tech', 'POST', `${rail('RIG-07')}/installations`, { device: 'PT-07', from: at(400) }));
    await ok(call('tech', 'POST', `${rail('RIG-07')}/removal`, { at: at(150) }), 200);
    await ok(call('tech', 'POST', `${rail('RIG-07')}/installations`, { device: 'PT-08', from: at(150) }));

    /** A test whose rail pressure names the position it was read from; the flow does not. */
    const named = (hoursAgo: number, part: string, position: string) =>
      envelope('inspection', 'RIG-07', at(hoursAgo), {
        partSerial: part,
        result: 'pass',
        characteristics: [
          {
            name: 'railPressure',
            measured: 1003,
            lsl: 990,
            usl: 1010,
            unit: 'bar',
            position,
            result: 'pass',
          },
          { name: 'flow', measured: 41.2, lsl: 40, usl: 44, unit: 'mm3', result: 'pass' },
        ],
      });
    const telemetry = (hoursAgo: number) =>
      envelope('telemetry', 'RIG-07', at(hoursAgo), {
        points: [
          { name: 'railPressure', value: 1001.5, unit: 'bar', quality: 'good', position: 'rail pressure' },
          { name: 'state', value: 1, quality: 'good' },
        ],
      });
    const first = edge.seq + 1;
    await ingest([
      named(200, 'POS-1', 'rail pressure'), // PT-07 was there
      telemetry(190), // PT-07
      named(100, 'POS-2', 'rail pressure'), // PT-08
      telemetry(95), // PT-08
      named(90, 'POS-3', 'oil temperature'), // nothing installed there (yet): unresolved
      named(89, 'POS-4', 'no such place'), // no such position: unresolved, not refused
      calibration('PT-08', 50, 992.58), // PT-08 fails as found
    ]);

    const positionsOf = async () => {
      const items = (await call('token', 'GET', `/records?edge=${edge.id}&afterSeq=${first - 1}&limit=6`))
        .body.items as {
        seq: number;
        positions: { position: string; label: string; device: string | null }[];
      }[];
      return items.map((i) => [i.seq - first, i.positions.map((p) => `${p.label} → ${p.device ?? '?'}`)]);
    };
    expect(await positionsOf()).toEqual([
      [0, ['RIG-07 / rail pressure → PT-07']],
      [1, ['RIG-07 / rail pressure → PT-07']],
      [2, ['RIG-07 / rail pressure → PT-08']],
      [3, ['RIG-07 / rail pressure → PT-08']],
      [4, ['RIG-07 / oil temperature → ?']],
      [5, ['RIG-07 / no such place → ?']],
    ]);
    const unresolved = async () =>
      (await call('token', 'GET', '/equipment/RIG-07/unresolved-positions')).body.items.map(
        (i: { seq: number; kind: string; label: string; observedAt: string }) => [
          i.seq - first,
          i.kind,
          i.label,
          i.observedAt,
        ],
      );
    expect(await unresolved()).toEqual([
      [5, 'inspection', 'RIG-07 / no such place', at(89)],
      [4, 'inspection', 'RIG-07 / oil temperature', at(90)],
    ]);
    expect((await call('token', 'GET', '/equipment/RIG-07/unresolved-positions?limit=0')).status).toBe(400);
    // A user of another site does not see the rig.
    expect((await call('scoped', 'GET', '/equipment/RIG-07/unresolved-positions')).status).toBe(404);
    // An installation recorded afterwards resolves the records made while it lasted.
    await ok(
      call(
        'tech',
        'POST',
        `/equipment/RIG-07/positions/${encodeURIComponent('oil temperature')}/installations`,
        {
          device: 'PT-07',
          from: at(140),
          until: at(85),
        },
      ),
    );
    expect((await positionsOf())[4]).toEqual([4, ['RIG-07 / oil temperature → PT-07']]);
    expect(await unresolved()).toEqual([[5, 'inspection', 'RIG-07 / no such place', at(89)]]);

    // PT-08's suspects: the rig's tests since it came (those naming its position marked as such,
    // with only the characteristic read from there), none from before its installation.
    const out = (await call('token', 'GET', '/equipment/PT-08/suspect-records')).body;
    expect(
      out.items.map((i: { partSerial: string; via: string; position: string; named: boolean }) => [
        i.partSerial,
        i.via,
        i.position,
        i.named,
      ]),
    ).toEqual([
      ['POS-2', 'position', 'RIG-07 / rail pressure', true],
      ['POS-3', 'position', 'RIG-07 / rail pressure', false],
      ['POS-4', 'position', 'RIG-07 / rail pressure', false],
    ]);
    expect(out.items[0].characteristics.map((c: { name: string }) => c.name)).toEqual(['railPressure']);
    expect(out.items[1].characteristics.map((c: { name: string }) => c.name)).toEqual([
      'railPressure',
      'flow',
    ]);
    // PT-07 never failed: its tests are not suspect; the case of PT-08 lists the same records.
    const k = (await call('quality', 'GET', '/oot-cases?equipment=PT-08')).body.items[0];
    const full = (await call('quality', 'GET', `/oot-cases/${k.id}`)).body;
    expect(full.suspects.map((r: { partSerial: string; named: boolean }) => [r.partSerial, r.named])).toEqual(
      [
        ['POS-2', true],
        ['POS-3', false],
        ['POS-4', false],
      ],
    );
    // The CSVs say it too: the suspect list's, the case's, and the out-of-tolerance report's.
    const namedColumn = (csv: string, serial: string) => {
      const [head, ...rows] = csv.trim().split(/\r?\n/);
      const cols = head!.split(',');
      const row = rows.find((l) => l.includes(serial))!.split(',');
      return [row[cols.indexOf('position')], row[cols.indexOf('named')]];
    };
    const suspectCsv = (await call('token', 'GET', '/equipment/PT-08/suspect-records?format=csv')).text;
    expect(namedColumn(suspectCsv, 'POS-2')).toEqual(['RIG-07 / rail pressure', 'true']);
    expect(namedColumn(suspectCsv, 'POS-3')).toEqual(['RIG-07 / rail pressure', 'false']);
    const caseCsv = (await call('quality', 'GET', `/oot-cases/${k.id}/suspects.csv`)).text;
    expect(namedColumn(caseCsv, 'POS-2')).toEqual(['RIG-07 / rail pressure', 'true']);
    expect(namedColumn(caseCsv, 'POS-4')).toEqual(['RIG-07 / rail pressure', 'false']);
    const report = await ootReportCsv();
    expect(namedColumn(report, 'POS-2')).toEqual(['RIG-07 / rail pressure', 'true']);
    expect(namedColumn(report, 'POS-3')).toEqual(['RIG-07 / rail pressure', 'false']);
  });

  it('keeps an export-controlled rig’s tests out of an uncleared reader’s suspect list', async () => {
    await ok(call('cleared', 'POST', '/equipment/RIG-09/positions', { name: 'rail pressure' }));
    await ok(call('cleared', 'POST', `${rail('RIG-09')}/installations`, { device: 'PT-09', from: at(400) }));
    // An uncleared technician does not see the flagged rig, so cannot install in it either.
    expect((await call('tech', 'GET', '/equipment/RIG-09/positions')).status).toBe(404);
    expect((await call('tech', 'POST', `${rail('RIG-09')}/removal`, { at: at(1) })).status).toBe(404);
    await ingest([
      calibration('PT-09', 300, 1000.4),
      test('RIG-09', 200, 'ITAR-1'),
      calibration('PT-09', 50, 1007.9),
    ]);
    const seen = async (who: string) =>
      (await call(who, 'GET', '/equipment/PT-09/suspect-records')).body.items.map(
        (i: { partSerial: string }) => i.partSerial,
      );
    expect(await seen('cleared')).toEqual(['ITAR-1']);
    expect(await seen('tech')).toEqual([]);
    expect(await seen('token')).toEqual([]);
    // Where PT-09 sits: only the cleared see the flagged rig.
    expect((await call('tech', 'GET', '/equipment/PT-09/installations')).body).toEqual({
      device: 'PT-09',
      current: null,
      history: [],
    });
    expect((await call('cleared', 'GET', '/equipment/PT-09/installations')).body.current.label).toBe(
      'RIG-09 / rail pressure',
    );
  });
});
