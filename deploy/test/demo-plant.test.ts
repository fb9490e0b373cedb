import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, toBase64 } from '@rigtrace/protocols';
import {
  buildBatch,
  deterministicUuidV7,
  runCli,
  startProcess,
  type Proc,
} from '@rigtrace/protocols/testing';
import { INSTRUMENTS, STANDARDS, toleranceAt } from '../../firmware-sim/src/cal-bench/catalog.js';
import { demoHistory, demoRegister, seedDemoPlant, signIn, type DemoUser } from '../demo/history.js';

/**
 * The demo's plant as `npm start` makes it, against a real cloud: a year of calibrations at their
 * intervals, so the board shows a mix of states (not everything freshly calibrated), one failed
 * as-found with its out-of-tolerance case, and reference standards whose register certificates
 * are the ones the bench cites.
 */
describe('the demo plant', () => {
  let work: string;
  let cloud: Proc | undefined;
  let url: string;
  let token: string;
  let enrollmentToken: string;
  let tenant: string;
  let users: DemoUser[];

  beforeAll(async () => {
    work = mkdtempSync(path.join(os.tmpdir(), 'rigtrace-demo-plant-'));
    const dataDir = path.join(work, 'cloud');
    cloud = await startProcess('cloud/src/cli.ts', ['serve', '--port', '0', '--data-dir', dataDir], (l) =>
      l.includes('"event":"listening"'),
    );
    url = (JSON.parse((cloud as Proc & { readyLine: string }).readyLine) as { url: string }).url;
    const seed = runCli('cloud/src/cli.ts', ['seed-demo', '--data-dir', dataDir]);
    expect(seed.status, seed.stderr).toBe(0);
    const s = JSON.parse(seed.stdout) as {
      apiToken: string;
      tenant: string;
      users: DemoUser[];
      enrollmentToken: string;
    };
    token = s.apiToken;
    enrollmentToken = s.enrollmentToken;
    tenant = s.tenant;
    users = s.users;
    await seedDemoPlant(url, s.tenant, s.users);
  }, 120_000);

  afterAll(async () => {
    await cloud?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  const get = async <T>(p: string): Promise<T> => {
    const res = await fetch(`${url}/api/v1${p}`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status, `${p}: ${await res.clone().text()}`).toBe(200);
    return (await res.json()) as T;
  };

  it('has a year of history at each instrument’s interval', () => {
    const history = demoHistory(Date.now());
    const of = (tag: string) => history.filter((c) => c.equipment === tag).map((c) => c.body.calibratedAt);
    expect(of('FC-RIG01')).toHaveLength(3); // 97, 187 and 277 days ago: every 90 days
    expect(of('PT-RIG01-RAIL')).toHaveLength(2); // every 180 days
    const oldest = Math.min(...history.map((c) => Date.parse(c.body.calibratedAt)));
    expect(Date.now() - oldest).toBeGreaterThan(300 * 86_400_000);
  });

  it('shows overdue, due-soon and current instruments, not all freshly calibrated', async () => {
    const status = async (tag: string) =>
      (await get<{ calibration: { status: string; daysUntilDue: number | null } }>(`/equipment/${tag}`))
        .calibration;
    expect((await status('FC-RIG01')).status).toBe('overdue');
    expect((await status('TT-RIG02-OIL')).status).toBe('overdue');
    expect(await status('PT-RIG02-RAIL')).toMatchObject({ status: 'due-soon', daysUntilDue: 6 });
    expect(await status('GA-0101')).toMatchObject({ status: 'due-soon', daysUntilDue: 6 });
    expect((await status('TT-RIG01-OIL')).status).toBe('current');
    expect((await status('STD-PRS-0007')).status).toBe('current');
    expect((await status('FC-RIG02')).status).toBe('out-of-tolerance');
  });

  it('has one open out-of-tolerance case: the flow cell that failed as found, tagged out until it passes', async () => {
    const cases = await get<{
      items: { equipment: string; state: string; taggedOut?: boolean; waitingFor?: string[] }[];
    }>('/oot-cases?state=open');
    expect(cases.items.map((c) => c.equipment)).toEqual(['FC-RIG02']);
    expect(JSON.stringify(cases.items[0])).toContain('a passing calibration of FC-RIG02');
  });

  it('registers the standards with the certificates the bench cites, and fills in make, model and serial', async () => {
    for (const s of STANDARDS) {
      const e = await get<{ referenceStandard?: { certificate?: string }; make?: string; serial?: string }>(
        `/equipment/${s.standardId}`,
      );
      expect(e.referenceStandard?.certificate).toBe(s.certificate);
      expect(e.make).toBeTruthy();
      expect(e.serial).toBeTruthy();
    }
    const sensor = await get<{
      make?: string;
      model?: string;
      procedure?: { id: string; revision?: string };
    }>('/equipment/PT-RIG01-RAIL');
    expect(sensor).toMatchObject({
      make: 'Kistler',
      model: '4067E',
      procedure: { id: 'CP-PT-004', revision: 'C' },
    });
  });

  it('installs each bench instrument in its rig, so a failed rail-pressure transducer names the injectors RIG-01 tested', async () => {
    const rig = await get<{ positions: { label: string; current: { device: string } | null }[] }>(
      '/equipment/RIG-01/positions',
    );
    expect(rig.positions.map((p) => [p.label, p.current?.device])).toEqual([
      ['RIG-01 / flow', 'FC-RIG01'],
      ['RIG-01 / oil temperature', 'TT-RIG01-OIL'],
      ['RIG-01 / rail pressure', 'PT-RIG01-RAIL'],
    ]);
    expect((await get<{ calibration: { status: string } }>('/equipment/RIG-01')).calibration.status).toBe(
      'current',
    );

    // What the running demo does: RIG-01 tests injectors; the bench then finds the transducer
    // reading 7.42 bar low at 1000 bar (±5 bar): failed as found.
    const keys = generateKeyPair();
    const enrolled = await fetch(`${url}/api/v1/edges/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        token: enrollmentToken,
        publicKey: toBase64(keys.publicKey),
        name: 'demo-edge',
      }),
    });
    const { edgeId } = (await enrolled.json()) as { edgeId: string };
    const daysAgo = (d: number) => new Date(Date.now() - d * 86_400_000).toISOString();
    let seq = 0;
    const envelope = (kind: string, equipment: string, observedAt: string, body: unknown) => ({
      v: 1,
      id: deterministicUuidV7(Date.parse(observedAt), new TextEncoder().encode(`${edgeId}:${++seq}`)),
      edge: edgeId,
      seq,
      observedAt,
      receivedAt: observedAt,
      kind,
      equipment,
      source: { protocol: 'modbus', endpoint: 'tcp://127.0.0.1:5020' },
      body,
    });
    const injector = (d: number, part: string) =>
      envelope('inspection', 'RIG-01', daysAgo(d), {
        partSerial: part,
        workOrder: 'WO-1',
        result: 'pass',
        characteristics: [{ name: 'railPressure', measured: 1003, unit: 'bar', result: 'pass' }],
      });
    const records = [
      injector(120, 'INJ-BEFORE'), // before the transducer's last valid calibration (100 days ago)
      injector(40, 'INJ-A'),
      injector(2, 'INJ-B'),
      envelope('calibration', 'PT-RIG01-RAIL', daysAgo(1), {
        technician: 'bench',
        standards: [{ id: 'STD-PRS-0007', certificate: STANDARDS[0]!.certificate }],
        points: [
          {
            name: '1000 bar',
            nominal: 1000,
            unit: 'bar',
            asFound: 992.58,
            lowerTolerance: -5,
            upperTolerance: 5,
            asFoundResult: 'fail',
          },
        ],
        adjusted: false,
        asFoundResult: 'fail',
        calibratedAt: daysAgo(1),
      }),
    ];
    const built = buildBatch({ edge: edgeId, privateKeyPem: keys.privateKeyPem, records });
    const ingested = await fetch(`${url}/api/v1/ingest`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(built.batch),
    });
    expect(ingested.status, await ingested.text()).toBe(200);
    const suspect = await get<{ items: { partSerial: string; position: string | null }[] }>(
      '/equipment/PT-RIG01-RAIL/suspect-records',
    );
    expect(suspect.items.map((i) => [i.partSerial, i.position])).toEqual([
      ['INJ-A', 'RIG-01 / rail pressure'],
      ['INJ-B', 'RIG-01 / rail pressure'],
    ]);
  });

  type Procedure = {
    id: string;
    revision: string;
    points: { name: string; unit: string; nominal: number; lowerTolerance: number; upperTolerance: number }[];
    standards: string[];
    environment: unknown;
  };

  it('stores the procedures its instruments name, with the bench’s points, units and tolerances', async () => {
    const { items } = await get<{ items: Procedure[] }>('/procedures');
    expect(items.map((p) => `${p.id} rev ${p.revision}`).sort()).toEqual([
      'CP-AG-001 rev A',
      'CP-FC-011 rev B',
      'CP-PT-004 rev C',
      'CP-RIG-001 rev A',
      'CP-TT-002 rev A',
    ]);
    // Each bench instrument's procedure is what the bench states in its records.
    for (const i of INSTRUMENTS) {
      const p = items.find((x) => x.id === i.procedure && x.revision === i.procedureRevision)!;
      expect(p, i.procedure).toBeDefined();
      expect(p.points.map((x) => [x.name, x.unit, x.nominal, x.lowerTolerance, x.upperTolerance])).toEqual(
        i.points.map((x) => [
          x.name,
          i.unit,
          x.nominal,
          -toleranceAt(i, x.nominal),
          toleranceAt(i, x.nominal),
        ]),
      );
      expect(p.standards).toEqual([i.standardId]);
      expect(p.environment).toEqual({
        temperatureC: { min: 20, max: 26 },
        humidityPct: { min: 30, max: 70 },
      });
    }
    expect(items.find((p) => p.id === 'CP-AG-001')!.points).toEqual([
      {
        name: '4 mm setting ring',
        unit: 'mm',
        nominal: 4,
        lowerTolerance: -0.004,
        upperTolerance: 0.004,
        lowerLimit: 3.996,
        upperLimit: 4.004,
      },
    ]);

    // Attached: every instrument, gauge and rig names a stored revision; the standards are
    // calibrated by the accredited lab's own procedures.
    const register = await get<{ items: { tag: string; procedure?: { id: string; revision?: string } }[] }>(
      '/equipment?limit=100',
    );
    expect(register.items.map((e) => e.tag).sort()).toEqual(
      demoRegister(Date.now())
        .map((e) => e.tag)
        .sort(),
    );
    for (const e of register.items) {
      if (e.tag.startsWith('STD-')) {
        expect(e.procedure, e.tag).toBeUndefined();
        continue;
      }
      expect(
        items.some((p) => p.id === e.procedure?.id && p.revision === e.procedure?.revision),
        `${e.tag}: ${JSON.stringify(e.procedure)}`,
      ).toBe(true);
    }
    // The year of history follows them: every entry of an instrument names its procedure.
    const history = await get<{ items: { body: { procedure?: { id: string; revision?: string } } }[] }>(
      '/equipment/FC-RIG01/calibrations',
    );
    expect(history.items.map((c) => c.body.procedure)).toEqual(
      history.items.map(() => ({ id: 'CP-FC-011', revision: 'B' })),
    );
  });

  it('records a calibration from a procedure through the API, storing its revision; a departing point is refused', async () => {
    const technician = users.find((u) => u.role === 'technician')!;
    const session = await signIn(url, tenant, technician);
    const post = (body: unknown) =>
      fetch(`${url}/api/v1/calibrations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie: session.cookie, 'x-csrf-token': session.csrf },
        body: JSON.stringify(body),
      });
    const equipment = await get<{ procedure: { id: string; revision: string } }>('/equipment/PT-RIG02-RAIL');
    const proc = await get<Procedure>(`/procedures/${encodeURIComponent(equipment.procedure.id)}`);
    const points = proc.points.map((p) => ({
      name: p.name,
      nominal: p.nominal,
      unit: p.unit,
      asFound: p.nominal + 1.25,
      lowerTolerance: p.lowerTolerance,
      upperTolerance: p.upperTolerance,
      asFoundResult: 'pass',
    }));
    const entry = (pts: typeof points) => ({
      equipment: 'PT-RIG02-RAIL',
      enteredBy: technician.email,
      body: {
        procedure: { id: proc.id, revision: proc.revision },
        technician: technician.email,
        standards: proc.standards.map((id) => ({ id, certificate: STANDARDS[0]!.certificate })),
        environment: { temperatureC: 23.2, humidityPct: 44 },
        points: pts,
        adjusted: false,
        asFoundResult: 'pass',
        calibratedAt: new Date(Date.now() - 60_000).toISOString(),
      },
      signature: { password: technician.password, meaning: 'performed' },
    });
    // "1000bar" would start a second series beside the bench's "1000 bar".
    const split = await post(
      entry(points.map((p) => (p.name === '1000 bar' ? { ...p, name: '1000bar' } : p))),
    );
    expect(split.status).toBe(400);
    expect(((await split.json()) as { errors: unknown }).errors).toEqual([
      {
        path: 'body.points[2].name',
        message: '"1000bar" is not a point of CP-PT-004 rev C (0 bar, 500 bar, 1000 bar, 1500 bar, 2000 bar)',
      },
    ]);

    const made = await post(entry(points));
    expect(made.status, await made.clone().text()).toBe(201);
    const { calibration } = (await made.json()) as { calibration: { id: string } };
    const stored = await get<{
      items: {
        id: string;
        body: { procedure: unknown; points: { name: string }[] };
        traceability: unknown;
      }[];
    }>('/equipment/PT-RIG02-RAIL/calibrations');
    const mine = stored.items.find((c) => c.id === calibration.id)!;
    expect(mine.body.procedure).toEqual({ id: 'CP-PT-004', revision: 'C' });
    expect(mine.body.points.map((p) => p.name)).toEqual([
      '0 bar',
      '500 bar',
      '1000 bar',
      '1500 bar',
      '2000 bar',
    ]);
    expect(mine.traceability).toEqual({ status: 'ok', issues: [] });
  });
});
