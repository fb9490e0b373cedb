import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { deterministicUuidV7 } from '@rigtrace/protocols/testing';
import { createAccounts } from '../src/access/accounts.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { Witness } from '../src/platform/witness.js';
import { TestEdge } from './helpers/edge.js';
import { signIn, type Session } from './helpers/signed-in.js';
import { BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

const DAY = 86_400_000;
const NOW = Date.now();
const at = (daysAgo: number, extraMs = 0) => new Date(NOW - daysAgo * DAY + extraMs).toISOString();
const dateOf = (iso: string) => iso.slice(0, 10);
const plusDays = (date: string, n: number) =>
  new Date(Date.parse(`${date}T00:00:00Z`) + n * DAY).toISOString().slice(0, 10);
const TODAY = dateOf(at(0));
const TECH_PW = 'dead weight on the bench 7';

/** Records of one edge, built by hand so that their dates are relative to today. */
function recordFactory(edge: () => string) {
  let seq = 0;
  const envelope = (kind: string, equipment: string, observedAt: string) => {
    seq += 1;
    return {
      v: 1,
      id: deterministicUuidV7(Date.parse(observedAt), new TextEncoder().encode(`${edge()}:${seq}`)),
      edge: edge(),
      seq,
      observedAt,
      receivedAt: observedAt,
      kind,
      equipment,
      source: { protocol: 'mqtt', endpoint: 'mqtt://edge.plant1.local:18830' },
    };
  };
  return {
    cal(
      tag: string,
      calibratedAt: string,
      o: {
        asFound: 'pass' | 'fail';
        asLeft?: 'pass' | 'fail';
        standards?: { id: string; dueDate?: string }[];
      },
    ) {
      const adjusted = o.asLeft !== undefined;
      return {
        ...envelope('calibration', tag, calibratedAt),
        body: {
          technician: 'J. Doe (level 2)',
          standards: o.standards ?? [],
          points: [
            {
              name: 'p@800',
              nominal: 800,
              unit: 'bar',
              asFound: o.asFound === 'pass' ? 800.5 : 806,
              ...(adjusted ? { asLeft: 800.1, asLeftResult: o.asLeft } : {}),
              lowerTolerance: -2,
              upperTolerance: 2,
              asFoundResult: o.asFound,
            },
          ],
          adjusted,
          asFoundResult: o.asFound,
          ...(adjusted ? { asLeftResult: o.asLeft } : {}),
          calibratedAt,
        },
      };
    },
    inspection(
      rig: string,
      observedAt: string,
      part: string,
      result: 'pass' | 'fail',
      gauges: string[],
      wo: string,
    ) {
      return {
        ...envelope('inspection', rig, observedAt),
        body: {
          partSerial: part,
          workOrder: wo,
          operator: 'op-4471',
          result,
          characteristics: [
            {
              name: 'full-load.quantity',
              nominal: 62,
              lsl: 60,
              usl: 64,
              measured: result === 'pass' ? 62 : 65,
              unit: 'mm3',
              result,
            },
          ],
          gauges,
        },
      };
    },
    usage(tag: string, observedAt: string, part: string, wo: string, cycles: number) {
      return {
        ...envelope('usage', tag, observedAt),
        body: { event: 'cycle', cycles, operator: '=cmd|evil', workOrder: wo, partSerial: part },
      };
    },
  };
}

describe.each(BACKENDS)('calibration engine on %s', (backend) => {
  let storage: TestStorage;
  let cloud: RunningCloud;
  let tokens: { acme: string; other: string; enroll: string; enrollOther: string };
  /** API tokens only read calibration data: writes come from signed-in technicians. */
  let sessions: { acme: Session; other: Session };
  let techId = '';
  let edge: TestEdge;
  let edgeId = '';
  const f = recordFactory(() => edgeId);
  let batch1: unknown[] = [];

  async function call(
    method: string,
    p: string,
    body?: unknown,
    auth: string | Session = method === 'GET' ? tokens.acme : sessions.acme,
  ) {
    const res = await fetch(`${cloud.url}/api/v1${p}`, {
      method,
      headers: {
        ...(typeof auth === 'string'
          ? { authorization: `Bearer ${auth}` }
          : { cookie: auth.cookie, 'x-csrf-token': auth.csrf }),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    const type = res.headers.get('content-type') ?? '';
    return {
      status: res.status,
      type,
      headers: res.headers,
      text,
      body: type.includes('json') && text ? JSON.parse(text) : undefined,
    };
  }
  const get = (p: string, token?: string) => call('GET', p, undefined, token);
  const seqs = (items: { seq: number }[]) => items.map((i) => i.seq);

  const equipment = (
    tag: string,
    siteId: string,
    intervalDays: number,
    extra: Record<string, unknown> = {},
  ) => ({
    tag,
    siteId,
    type: 'pressure transducer',
    make: 'Keller',
    model: 'PA-33X',
    serial: `SN-${tag}`,
    owner: { kind: 'company' },
    range: { min: 0, max: 2500, unit: 'bar' },
    resolution: 0.1,
    procedure: { id: 'CP-PT-001', revision: 'D' },
    intervalDays,
    acceptanceCriteria: '±2 bar at 800 bar',
    ...extra,
  });

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    const store = await openStore(loadCloudConfig({}, storage.overrides));
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createSite('acme', 'plant-1', 'Plant 1');
    await store.tenancy.createSite('acme', 'plant-2', 'Plant 2');
    await store.tenancy.createTenant('other', 'Other');
    await store.tenancy.createSite('other', 'o-1', 'O');
    tokens = {
      acme: await store.tenancy.createApiToken('acme', 't'),
      other: await store.tenancy.createApiToken('other', 't'),
      enroll: (await store.tenancy.createEnrollmentToken('acme', 'plant-1', 3600_000)).token,
      enrollOther: (await store.tenancy.createEnrollmentToken('other', 'o-1', 3600_000)).token,
    };
    const cfg = loadCloudConfig({}, storage.overrides);
    const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
    const by = { actor: { type: 'system' as const, id: 'test' }, address: null };
    for (const tenant of ['acme', 'other']) {
      const u = await accounts.users.create(by, tenant, {
        email: 'tech@plant.example',
        name: 'A. Smith',
        role: 'technician',
        password: TECH_PW,
        mustChangePassword: false,
      });
      if (tenant === 'acme') techId = u.user.id;
    }
    await store.db.close();
    cloud = await startCloud(
      loadCloudConfig({}, { ...storage.overrides, port: '0' }),
      pino({ level: 'silent' }),
    );
    sessions = {
      acme: await signIn(cloud.url, 'acme', 'tech@plant.example', TECH_PW),
      other: await signIn(cloud.url, 'other', 'tech@plant.example', TECH_PW),
    };
    edge = await new TestEdge(cloud.url).enroll(tokens.enroll, 'line-3');
    edgeId = edge.id;
  });
  afterAll(async () => {
    await cloud?.close();
    await storage?.cleanup();
  });

  it('registers equipment, refusing invalid entries, duplicates and other tenants', async () => {
    for (const e of [
      equipment('PT-RAIL-03', 'plant-1', 180, { intervalCycles: 100 }),
      equipment('FLOW-CELL-07', 'plant-1', 90, { dueSoonDays: 14, type: 'flow cell' }),
      equipment('STD-DWT-02', 'plant-1', 365, {
        type: 'dead-weight tester',
        referenceStandard: { certificate: 'TR-55821', dueDate: plusDays(TODAY, 65), uncertainty: 0.35 },
      }),
      equipment('RIG-FLOW-01', 'plant-2', 365, { type: 'flow rig' }),
    ]) {
      const r = await call('POST', '/equipment', e);
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    }
    const pt = await get('/equipment/PT-RAIL-03');
    expect(pt.body).toMatchObject({
      tag: 'PT-RAIL-03',
      siteId: 'plant-1',
      serial: 'SN-PT-RAIL-03',
      procedure: { id: 'CP-PT-001', revision: 'D' },
      intervalDays: 180,
      intervalCycles: 100,
      calibration: { status: 'overdue', nextDue: null, lastValidCalibrationAt: null },
    });

    const dup = await call('POST', '/equipment', equipment('PT-RAIL-03', 'plant-1', 180));
    expect(dup.status).toBe(409);
    expect(dup.type).toContain('application/problem+json');
    const bad = await call('POST', '/equipment', {
      ...equipment('X-1', 'no-such-site', 0),
      owner: { kind: 'boss' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual([
      'intervalDays',
      'owner.kind',
    ]);
    const noSite = await call('POST', '/equipment', equipment('X-1', 'o-1', 30)); // another tenant's site
    expect(noSite.status).toBe(400);
    expect(noSite.body.errors).toEqual([{ path: 'siteId', message: 'no such site' }]);

    expect((await get('/equipment/PT-RAIL-03', tokens.other)).status).toBe(404);
    expect((await get('/equipment/PT-RAIL-03/calibrations', tokens.other)).status).toBe(404);
    expect(
      (await call('PUT', '/equipment/PT-RAIL-03', equipment('PT-RAIL-03', 'o-1', 9), sessions.other)).status,
    ).toBe(404);
    expect((await get('/equipment', tokens.other)).body.items).toEqual([]);
    // The same tag is another tenant's own, separate equipment.
    expect(
      (await call('POST', '/equipment', equipment('PT-RAIL-03', 'o-1', 30), sessions.other)).status,
    ).toBe(201);
    // API tokens only read (least privilege): every write is refused, nothing is changed.
    for (const [m, p, b] of [
      ['POST', '/equipment', equipment('X-TOKEN', 'plant-1', 30)],
      ['PUT', '/equipment/PT-RAIL-03', equipment('PT-RAIL-03', 'plant-1', 9)],
      ['DELETE', '/equipment/PT-RAIL-03', undefined],
      ['PUT', '/calibration-settings', { dueSoonDays: 3 }],
    ] as const) {
      const r = await call(m, p, b, tokens.acme);
      expect(r.status, `${m} ${p}`).toBe(403);
      expect(r.body.code).toBe('CLOUD_FORBIDDEN');
    }
    expect((await get('/equipment/X-TOKEN')).status).toBe(404);
    expect((await get('/equipment/PT-RAIL-03')).body.intervalDays).toBe(180);
  });

  it('derives calibrations and the traceability index from ingested, verified batches', async () => {
    batch1 = [
      f.cal('STD-DWT-02', at(300), { asFound: 'pass' }),
      f.inspection('RIG-FLOW-01', at(210), 'P0', 'pass', ['PT-RAIL-03'], 'WO-0'),
      f.cal('PT-RAIL-03', at(200), { asFound: 'pass', standards: [{ id: 'STD-DWT-02' }] }),
      f.inspection('RIG-FLOW-01', at(150), 'P1', 'fail', ['PT-RAIL-03', 'FLOW-CELL-07'], 'WO-1'),
      f.usage('PT-RAIL-03', at(120), 'P1', 'WO-1', 5),
      f.inspection('RIG-FLOW-01', at(100), 'P1', 'pass', ['PT-RAIL-03'], 'WO-1'),
      f.inspection('RIG-FLOW-01', at(100, 3600_000), 'P2', 'pass', ['FLOW-CELL-07'], 'WO-2'),
      f.cal('PT-RAIL-03', at(10), { asFound: 'fail', asLeft: 'pass', standards: [{ id: 'STD-DWT-02' }] }),
    ];
    const r1 = await edge.send(batch1);
    expect(r1.body).toMatchObject({ ackedSeq: 8, accepted: 8 });
    const batch2 = [
      f.cal('FLOW-CELL-07', at(80), { asFound: 'pass' }),
      f.cal('FLOW-CELL-07', at(5), { asFound: 'fail' }),
      f.inspection('RIG-FLOW-01', at(3), 'P3', 'pass', ['FLOW-CELL-07'], 'WO-2'),
      f.cal('RIG-FLOW-01', at(350), {
        asFound: 'pass',
        standards: [{ id: 'STD-OLD', dueDate: dateOf(at(400)) }],
      }),
      f.cal('RIG-FLOW-01', at(340), { asFound: 'pass' }),
      f.cal('TT-OIL-02', at(2), { asFound: 'pass', standards: [{ id: 'FLOW-CELL-07' }] }),
      f.inspection('RIG-FLOW-01', at(0.5), 'P4', 'pass', ['FLOW-CELL-07', 'PT-RAIL-03'], 'WO-3'),
      f.usage('PT-RAIL-03', at(1), 'P4', 'WO-3', 95),
    ];
    const r2 = await edge.send(batch2);
    expect(r2.body).toMatchObject({ ackedSeq: 16, accepted: 8 });
    // Re-sent records are not derived twice.
    expect((await edge.post(edge.sign(batch1, null).batch)).body).toMatchObject({
      accepted: 0,
      duplicates: 8,
    });

    const pt = await get('/equipment/PT-RAIL-03/calibrations');
    expect(
      pt.body.items.map((c: any) => [c.id, c.calibratedAt, c.asFoundResult, c.asLeftResult, c.valid]),
    ).toEqual([
      [`${edgeId}:3`, at(200), 'pass', null, true],
      [`${edgeId}:8`, at(10), 'fail', 'pass', true],
    ]);
    expect(pt.body.items[1]).toMatchObject({
      source: 'record',
      record: { edge: edgeId, seq: 8 },
      traceability: { status: 'ok', issues: [] },
      body: { points: [{ asFound: 806, asLeft: 800.1 }] },
    });
    // A standard past its own certificate's due date, or out of tolerance at the time, flags the calibration.
    const rig = await get('/equipment/RIG-FLOW-01/calibrations');
    expect(rig.body.items.map((c: any) => [c.traceability, c.valid])).toEqual([
      [
        {
          status: 'flagged',
          issues: [
            `STD-OLD: its certificate was due ${dateOf(at(400))}, before the calibration on ${dateOf(at(350))}`,
          ],
        },
        false,
      ],
      [{ status: 'ok', issues: [] }, true],
    ]);
  });

  it('computes status and next due date per equipment', async () => {
    const status = async (tag: string) => (await get(`/equipment/${tag}`)).body.calibration;
    expect(await status('STD-DWT-02')).toMatchObject({
      status: 'current',
      nextDue: plusDays(dateOf(at(300)), 365),
      daysUntilDue: 65,
      dueSoonDays: 30,
    });
    // Calendar: current until +170 days; usage: 95 of 100 cycles since the last valid calibration → due soon.
    expect(await status('PT-RAIL-03')).toMatchObject({
      status: 'due-soon',
      lastValidCalibrationAt: at(10),
      nextDue: plusDays(dateOf(at(10)), 180),
      cycles: { used: 95, interval: 100 },
    });
    expect(await status('FLOW-CELL-07')).toMatchObject({
      status: 'out-of-tolerance',
      lastValidCalibrationAt: at(80),
      nextDue: plusDays(dateOf(at(80)), 90),
      dueSoonDays: 14,
    });
    expect(await status('RIG-FLOW-01')).toMatchObject({
      status: 'due-soon',
      lastValidCalibrationAt: at(340),
      nextDue: plusDays(dateOf(at(340)), 365),
      daysUntilDue: 25,
    });
    expect((await get(`/equipment/RIG-FLOW-01?asOf=${plusDays(TODAY, 26)}`)).body.calibration.status).toBe(
      'overdue',
    );
    expect((await get(`/equipment/STD-DWT-02?asOf=${plusDays(TODAY, 40)}`)).body.calibration.status).toBe(
      'due-soon',
    );

    // Registered after its calibration arrived; that calibration used a standard that was out of tolerance then.
    expect((await call('POST', '/equipment', equipment('TT-OIL-02', 'plant-1', 180))).status).toBe(201);
    expect(await status('TT-OIL-02')).toMatchObject({ status: 'overdue', nextDue: null });
    const tt = await get('/equipment/TT-OIL-02/calibrations');
    expect(tt.body.items.map((c: any) => c.traceability)).toEqual([
      { status: 'flagged', issues: ['FLOW-CELL-07: out of tolerance at the time'] },
    ]);

    const list = await get('/equipment?site=plant-1');
    expect(list.body.items.find((e: any) => e.tag === 'PT-RAIL-03').calibration.cycles).toEqual({
      used: 95,
      interval: 100,
    });
    expect(list.body.items.map((e: any) => [e.tag, e.calibration.status])).toEqual([
      ['FLOW-CELL-07', 'out-of-tolerance'],
      ['PT-RAIL-03', 'due-soon'], // by its usage interval: 95 of 100 cycles
      ['STD-DWT-02', 'current'],
      ['TT-OIL-02', 'overdue'],
    ]);
  });

  it('lists the records made with a failed instrument since its last good calibration, as JSON and CSV', async () => {
    const pt = await get('/equipment/PT-RAIL-03/suspect-records');
    expect(pt.status).toBe(200);
    expect(pt.body.window).toMatchObject({
      failedCalibration: {
        id: `${edgeId}:8`,
        calibratedAt: at(10),
        asFoundResult: 'fail',
        asLeftResult: 'pass',
      },
      lastGoodCalibration: { id: `${edgeId}:3`, calibratedAt: at(200) },
      start: at(200),
      end: at(10),
    });
    expect(pt.body.items.map((i: any) => [i.seq, i.kind, i.via, i.partSerial])).toEqual([
      [4, 'inspection', 'gauge', 'P1'],
      [5, 'usage', 'equipment', 'P1'],
      [6, 'inspection', 'gauge', 'P1'],
    ]);
    expect(pt.body.items[0].record).toEqual(batch1[3]);

    const csv = await get('/equipment/PT-RAIL-03/suspect-records?format=csv');
    expect(csv.type).toContain('text/csv');
    // One line per record and characteristic: what was measured, the limits and the margin to them.
    expect(csv.text.split('\r\n')).toEqual([
      'edge,seq,kind,observedAt,siteId,equipment,via,position,named,partSerial,workOrder,operator,result,characteristic,measured,unit,lsl,usl,margin,atRisk',
      `${edgeId},4,inspection,${at(150)},plant-1,RIG-FLOW-01,gauge,,false,P1,WO-1,op-4471,fail,full-load.quantity,65,mm3,60,64,-1,`,
      `${edgeId},5,usage,${at(120)},plant-1,PT-RAIL-03,equipment,,false,P1,WO-1,'=cmd|evil,,,,,,,,`,
      `${edgeId},6,inspection,${at(100)},plant-1,RIG-FLOW-01,gauge,,false,P1,WO-1,op-4471,pass,full-load.quantity,62,mm3,60,64,2,`,
      '',
    ]);

    // Still out of tolerance: the window is open and includes what was measured since.
    const fc = await get('/equipment/FLOW-CELL-07/suspect-records?limit=1');
    expect(fc.body.window).toMatchObject({ start: at(80), end: null, closedBy: null });
    expect(seqs(fc.body.items)).toEqual([11]);
    const fc2 = await get(
      `/equipment/FLOW-CELL-07/suspect-records?after=${encodeURIComponent(fc.body.next)}`,
    );
    expect(seqs(fc2.body.items)).toEqual([15]);
    expect(fc2.body.next).toBeNull();

    const none = await get('/equipment/STD-DWT-02/suspect-records');
    expect(none.body).toMatchObject({ window: null, items: [] });
    expect((await get('/equipment/PT-RAIL-03/suspect-records', tokens.other)).body.items).toEqual([]);
    expect((await get('/equipment/FLOW-CELL-07/suspect-records', tokens.other)).status).toBe(404);
    expect((await get(`/equipment/PT-RAIL-03/suspect-records?calibration=${edgeId}:3`)).status).toBe(404);
  });

  it('gives the due-list per site', async () => {
    const d30 = await get('/due-list?days=30');
    expect(d30.body.horizon).toBe(plusDays(TODAY, 30));
    expect(
      d30.body.sites.map((s: any) => [s.siteId, s.items.map((i: any) => [i.tag, i.status, i.nextDue])]),
    ).toEqual([
      [
        'plant-1',
        [
          ['FLOW-CELL-07', 'out-of-tolerance', plusDays(dateOf(at(80)), 90)],
          ['TT-OIL-02', 'overdue', null],
          // Due by its usage interval (95 of 100 cycles), though its calendar date is 170 days away.
          ['PT-RAIL-03', 'due-soon', plusDays(dateOf(at(10)), 180)],
        ],
      ],
      ['plant-2', [['RIG-FLOW-01', 'due-soon', plusDays(dateOf(at(340)), 365)]]],
    ]);
    const d70 = await get('/due-list?days=70&site=plant-1');
    expect(d70.body.sites).toHaveLength(1);
    expect(d70.body.sites[0].items.map((i: any) => [i.tag, i.status])).toEqual([
      ['FLOW-CELL-07', 'out-of-tolerance'],
      ['TT-OIL-02', 'overdue'],
      ['STD-DWT-02', 'current'],
      ['PT-RAIL-03', 'due-soon'],
    ]);
    // A longer tenant-wide recall lead time makes the standard due soon; FLOW-CELL-07 keeps its own.
    expect((await call('PUT', '/calibration-settings', { dueSoonDays: 70 })).body).toEqual({
      dueSoonDays: 70,
    });
    expect((await get('/equipment/STD-DWT-02')).body.calibration.status).toBe('due-soon');
    expect((await get('/calibration-settings', tokens.other)).body).toEqual({ dueSoonDays: 30 });
    expect((await get('/due-list', tokens.other)).body.sites).toEqual([
      { siteId: 'o-1', items: [expect.objectContaining({ tag: 'PT-RAIL-03', status: 'overdue' })] },
    ]);
    expect((await get('/due-list?days=-1')).status).toBe(400);
  });

  it('takes a manual calibration as evidence, validated against the record schema, and closes the window', async () => {
    const body = {
      technician: 'A. Smith (level 3)',
      standards: [{ id: 'STD-DWT-02', certificate: 'TR-55821', uncertainty: 0.35 }],
      points: [
        {
          name: 'flow@60',
          nominal: 60,
          unit: 'mm3',
          asFound: 63,
          asLeft: 60.2,
          lowerTolerance: -1,
          upperTolerance: 1,
          asFoundResult: 'fail',
          asLeftResult: 'pass',
        },
      ],
      adjusted: true,
      asFoundResult: 'fail',
      asLeftResult: 'pass',
      calibratedAt: at(1),
    };
    const signature = { password: TECH_PW, meaning: 'performed' };
    const bad = await call('POST', '/calibrations', {
      equipment: 'FLOW-CELL-07',
      enteredBy: 'A. Smith',
      body: { ...body, asFoundResult: 'pass' },
      signature,
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path)).toEqual(['body.asFoundResult']);
    // A point's result must be what its numbers say by the one verdict rule (as the portal computes
    // it): 59.9 against 60 ± 0.1 is a pass, 63 against 60 ± 1 a fail.
    const point = body.points[0]!;
    for (const [p, path] of [
      [
        {
          ...point,
          asFound: 59.9,
          asLeft: 60.1,
          lowerTolerance: -0.1,
          upperTolerance: 0.1,
          asFoundResult: 'fail',
        },
        'asFoundResult',
      ],
      [{ ...point, asFoundResult: 'pass' }, 'asFoundResult'],
      [{ ...point, asLeft: 61.2, asLeftResult: 'pass' }, 'asLeftResult'],
    ] as const) {
      const wrong = await call('POST', '/calibrations', {
        equipment: 'FLOW-CELL-07',
        enteredBy: 'A. Smith',
        body: { ...body, points: [p] },
        signature,
      });
      expect(wrong.status, JSON.stringify(wrong.body)).toBe(400);
      expect(wrong.body.errors.map((e: { path: string }) => e.path)).toEqual([`body.points[0].${path}`]);
    }
    expect(
      (
        await call(
          'POST',
          '/calibrations',
          { equipment: 'FLOW-CELL-07', enteredBy: 'x', body, signature },
          sessions.other,
        )
      ).status,
    ).toBe(404);
    expect(
      (await call('POST', '/calibrations', { equipment: 'NOPE-1', enteredBy: 'x', body, signature })).status,
    ).toBe(404);
    // Unsigned, or by an API token: refused.
    const unsigned = await call('POST', '/calibrations', { equipment: 'FLOW-CELL-07', enteredBy: 'x', body });
    expect(unsigned.status).toBe(400);
    expect(unsigned.body.errors.map((e: { path: string }) => e.path)).toEqual(['signature']);
    const byToken = await call(
      'POST',
      '/calibrations',
      { equipment: 'FLOW-CELL-07', enteredBy: 'x', body, signature },
      tokens.acme,
    );
    expect(byToken.body.code).toBe('CLOUD_FORBIDDEN');

    const ok = await call('POST', '/calibrations', {
      equipment: 'FLOW-CELL-07',
      enteredBy: 'A. Smith',
      body,
      signature,
    });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    expect(ok.body.calibration).toMatchObject({
      source: 'manual',
      record: null,
      enteredBy: 'A. Smith',
      calibratedAt: at(1),
      valid: true,
      traceability: { status: 'ok', issues: [] },
      body,
    });
    expect(ok.body.calibration.recordedBy).toBe(`user:${techId}`);
    expect(ok.body.calibration.evidenceSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(ok.body.calibration.signature).toMatchObject({
      by: { id: techId, email: 'tech@plant.example', name: 'A. Smith', role: 'technician' },
      meaning: 'performed',
      contentSha256: ok.body.calibration.evidenceSha256,
      valid: true,
    });
    expect(ok.body.calibration.approval).toEqual({ state: 'pending' });
    expect(ok.body.equipment.calibration).toMatchObject({
      status: 'current',
      nextDue: plusDays(dateOf(at(1)), 90),
    });

    // The earlier failure's window now ends at the manual calibration; record 15 (12 h ago) is outside it.
    const w = await get(
      `/equipment/FLOW-CELL-07/suspect-records?calibration=${encodeURIComponent(`${edgeId}:10`)}`,
    );
    expect(w.body.window).toMatchObject({
      start: at(80),
      end: at(1),
      closedBy: { id: ok.body.calibration.id },
    });
    expect(seqs(w.body.items)).toEqual([11]);
    const d30 = await get('/due-list?days=30');
    expect(d30.body.sites.map((s: any) => [s.siteId, s.items.map((i: any) => i.tag)])).toEqual([
      ['plant-1', ['TT-OIL-02', 'PT-RAIL-03']],
      ['plant-2', ['RIG-FLOW-01']],
    ]);
  });

  it('queries inspections and usage, and computes first-pass yield per rig and day', async () => {
    const q = async (p: string) => seqs((await get(p)).body.items);
    expect(await q('/inspections?partSerial=P1')).toEqual([4, 6]);
    expect(await q('/inspections?workOrder=WO-2')).toEqual([7, 11]);
    expect(await q('/inspections?result=fail')).toEqual([4]);
    expect(await q(`/inspections?from=${at(4)}`)).toEqual([11, 15]);
    expect(await q(`/inspections?from=${at(160)}&to=${at(100)}`)).toEqual([4]);
    expect(await q('/inspections?site=plant-2')).toEqual([]);
    expect(await q('/usage?equipment=PT-RAIL-03')).toEqual([5, 16]);
    expect(await q('/usage?partSerial=P4')).toEqual([16]);
    const page = await get('/inspections?equipment=RIG-FLOW-01&limit=2');
    expect(seqs(page.body.items)).toEqual([2, 4]);
    expect(
      await q(`/inspections?equipment=RIG-FLOW-01&limit=2&after=${encodeURIComponent(page.body.next)}`),
    ).toEqual([6, 7]);
    expect((await get('/inspections', tokens.other)).body.items).toEqual([]);
    expect((await get('/inspections?after=garbage')).status).toBe(400);

    const y = await get(`/yield?from=${at(200)}&to=${at(-1)}`);
    const days = [at(150), at(100, 3600_000), at(3), at(0.5)].map(dateOf);
    const expected = new Map<string, { tested: number; passed: number }>();
    days.forEach((d, i) => {
      const e = expected.get(d) ?? { tested: 0, passed: 0 };
      e.tested += 1;
      e.passed += i === 0 ? 0 : 1; // P1 failed its first test; its pass on retest does not count
      expected.set(d, e);
    });
    expect(y.body.perRigDay.map((r: any) => [r.equipment, r.day, r.tested, r.passed])).toEqual(
      [...expected.entries()].map(([d, e]) => ['RIG-FLOW-01', d, e.tested, e.passed]),
    );
    expect(y.body.perRig).toEqual([{ equipment: 'RIG-FLOW-01', tested: 4, passed: 3, firstPassYield: 0.75 }]);
  });

  it('updates and retires register entries; evidence stays', async () => {
    const put = await call('PUT', '/equipment/STD-DWT-02', {
      ...equipment('STD-DWT-02', 'plant-1', 400),
      tag: undefined,
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(put.body.calibration.nextDue).toBe(plusDays(dateOf(at(300)), 400));
    expect(put.body.referenceStandard).toBeUndefined();

    expect((await call('DELETE', '/equipment/TT-OIL-02')).status).toBe(204);
    expect((await call('DELETE', '/equipment/TT-OIL-02')).status).toBe(409);
    expect((await call('DELETE', '/equipment/TT-OIL-02', undefined, sessions.other)).status).toBe(404);
    expect((await get('/equipment/TT-OIL-02')).body.retiredAt).toMatch(/Z$/);
    expect((await get('/equipment/TT-OIL-02/calibrations')).body.items).toHaveLength(1);
    expect((await get('/equipment')).body.items.map((e: any) => e.tag)).not.toContain('TT-OIL-02');
    expect((await get('/equipment?includeRetired=true')).body.items.map((e: any) => e.tag)).toContain(
      'TT-OIL-02',
    );
    const due = await get('/due-list?days=30');
    expect(due.body.sites.flatMap((s: any) => s.items.map((i: any) => i.tag))).toEqual([
      'PT-RAIL-03',
      'RIG-FLOW-01',
    ]);
  });

  it('keeps derivation tenant-scoped: another tenant ingesting the same tags sees only its own', async () => {
    const other = await new TestEdge(cloud.url).enroll(tokens.enrollOther, 'o');
    const otherEdge = other.id;
    // The example records: an inspection with gauge PT-RAIL-03 and a passing calibration of PT-RAIL-03.
    expect((await other.send(other.examples(5))).body).toMatchObject({ accepted: 5 });
    const theirs = await get('/equipment/PT-RAIL-03/calibrations', tokens.other);
    expect(theirs.body.items.map((c: any) => c.id)).toEqual([`${otherEdge}:4`]);
    const ours = await get('/equipment/PT-RAIL-03/calibrations');
    expect(ours.body.items.map((c: any) => c.id)).toEqual([`${edgeId}:3`, `${edgeId}:8`]);
    expect(seqs((await get('/inspections', tokens.other)).body.items)).toEqual([3]);
    expect((await get('/inspections?partSerial=INJ-0426-000003')).body.items).toEqual([]);
  });
});
