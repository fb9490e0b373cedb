import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createAccounts } from '../src/access/accounts.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { Witness } from '../src/platform/witness.js';
import { apiCall, signIn, type Session } from './helpers/signed-in.js';
import { BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

const PW = 'register moved in from a spreadsheet';

/**
 * The register as a lab keeps it: retire and re-activate an entry (history and audit trail kept),
 * and move an existing register in from CSV — a dry run names every row's problems by column and
 * changes nothing; an import registers every row or none.
 */
describe.each(BACKENDS)('the equipment register on %s', (backend) => {
  let storage: TestStorage;
  let cloud: RunningCloud;
  let tech: Session;
  let scoped: Session;
  let auditor: Session;

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    const store = await openStore(loadCloudConfig({}, storage.overrides));
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createSite('acme', 'plant-1', 'Plant 1');
    await store.tenancy.createSite('acme', 'plant-2', 'Plant 2');
    const cfg = loadCloudConfig({}, storage.overrides);
    const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
    const by = { actor: { type: 'system' as const, id: 'test' }, address: null };
    for (const [email, role, sites] of [
      ['tech@acme.example', 'technician', null],
      ['p2@acme.example', 'technician', ['plant-2']],
      ['audit@acme.example', 'auditor', null],
    ] as const)
      await accounts.users.create(by, 'acme', {
        email,
        name: email,
        role,
        password: PW,
        mustChangePassword: false,
        ...(sites ? { sites: [...sites] } : {}),
      });
    await store.db.close();
    cloud = await startCloud(
      loadCloudConfig({}, { ...storage.overrides, port: '0' }),
      pino({ level: 'silent' }),
    );
    tech = await signIn(cloud.url, 'acme', 'tech@acme.example', PW);
    scoped = await signIn(cloud.url, 'acme', 'p2@acme.example', PW);
    auditor = await signIn(cloud.url, 'acme', 'audit@acme.example', PW);
  });
  afterAll(async () => {
    await cloud?.close();
    await storage?.cleanup();
  });
  const call = (s: Session, method: string, p: string, body?: unknown) =>
    apiCall(cloud.url, s, method, p, body);

  it('retires equipment and puts it back in service, on the audit trail', async () => {
    const reg = await call(tech, 'POST', '/equipment', {
      tag: 'GA-0101',
      siteId: 'plant-1',
      type: 'air gauge',
      make: 'Marposs',
      model: 'E9066',
      serial: 'M-55120',
      firmware: '2.4.1',
      location: 'station 3',
      owner: { kind: 'customer', name: 'Bosch' },
      intervalDays: 90,
      intervalCycles: 20000,
      dueSoonDays: 14,
      procedure: { id: 'CP-AG-004', revision: 'C' },
      acceptanceCriteria: '±1 µm at 4 mm',
    });
    expect(reg.status, reg.text).toBe(201);
    expect((await call(tech, 'POST', '/equipment/GA-0101/reactivate')).status).toBe(409);
    expect((await call(tech, 'DELETE', '/equipment/GA-0101')).status).toBe(204);
    const listed = await call(tech, 'GET', '/equipment');
    expect(listed.body.items.map((e: { tag: string }) => e.tag)).not.toContain('GA-0101');
    // An auditor reads, never writes.
    expect((await call(auditor, 'POST', '/equipment/GA-0101/reactivate')).status).toBe(403);
    // A user of another site learns nothing about it.
    expect((await call(scoped, 'POST', '/equipment/GA-0101/reactivate')).status).toBe(404);
    const back = await call(tech, 'POST', '/equipment/GA-0101/reactivate');
    expect(back.status, back.text).toBe(200);
    expect(back.body).toMatchObject({
      tag: 'GA-0101',
      retiredAt: null,
      firmware: '2.4.1',
      owner: { kind: 'customer', name: 'Bosch' },
      procedure: { id: 'CP-AG-004', revision: 'C' },
    });
    expect((await call(tech, 'GET', '/equipment')).body.items.map((e: { tag: string }) => e.tag)).toContain(
      'GA-0101',
    );
    const audit = await call(auditor, 'GET', '/audit?limit=1000');
    const actions = audit.body.items
      .map((i: { entry: { action: string; target?: { id: string } } }) => i.entry)
      .filter((e: { target?: { id: string } }) => e.target?.id === 'GA-0101')
      .map((e: { action: string }) => e.action);
    expect(actions).toEqual(
      expect.arrayContaining(['equipment.create', 'equipment.retire', 'equipment.reactivate']),
    );
  });

  const header =
    'Tag,Site ID,Type,Make,Model,Serial,Firmware,Location,Owner,Owner name,Interval days,Interval cycles,Due soon days,Procedure id,Procedure revision,Acceptance criteria,Reference certificate,Reference due date';

  it('dry-runs a CSV register, naming every row’s problems by line and column, and changes nothing', async () => {
    await call(tech, 'POST', '/equipment', {
      tag: 'PT-0001',
      siteId: 'plant-1',
      type: 'x',
      intervalDays: 30,
    });
    const csv = [
      header,
      'MIC-0001,plant-1,micrometer,Mitutoyo,293-240,MT-1,,bench 2,ours,,365,,30,CP-MIC-001,B,"±2 µm, 0–25 mm",,',
      'MIC-0002,plant-9,micrometer,Mitutoyo,293-240,MT-2,,bench 2,ours,,0,,,,,,,',
      'PT-0001,plant-1,pressure transducer,Kistler,4067E,K-1,,RIG-01,supplier,Kistler AG,180,abc,,,,,,',
      'MIC-0001,plant-1,micrometer,,,,,,boss,,365,,400,,,,,',
      'STD-0001,plant-1,dead-weight tester,DH,5201,D-9,,lab,ours,,365,,,,,,DKD-K-1207-2026,2026-13-01',
    ].join('\r\n');
    const dry = await call(tech, 'POST', '/equipment/import', { csv, dryRun: true });
    expect(dry.status, dry.text).toBe(200);
    expect(dry.body.dryRun).toBe(true);
    expect(dry.body.total).toBe(5);
    expect(dry.body.created).toEqual([]);
    const problems = Object.fromEntries(
      dry.body.rows.map((r: { line: number; problems: { column: string; message: string }[] }) => [
        r.line,
        r.problems.map((p) => p.column).sort(),
      ]),
    );
    expect(problems).toEqual({
      2: [],
      3: ['intervalDays', 'siteId'],
      4: ['intervalCycles', 'tag'],
      5: ['dueSoonDays', 'owner', 'tag'],
      6: ['referenceDueDate'],
    });
    const line4 = dry.body.rows.find((r: { line: number }) => r.line === 4);
    expect(line4.problems.find((p: { column: string }) => p.column === 'tag').message).toMatch(
      /already registered/,
    );
    const line5 = dry.body.rows.find((r: { line: number }) => r.line === 5);
    expect(line5.problems.find((p: { column: string }) => p.column === 'tag').message).toBe(
      'the tag is also on line 2',
    );
    // Nothing registered by a dry run, nor by an import with problems.
    const imp = await call(tech, 'POST', '/equipment/import', { csv, dryRun: false });
    expect(imp.status).toBe(400);
    expect(imp.type).toContain('application/problem+json');
    expect(imp.body.rows.map((r: { line: number }) => r.line)).toEqual([3, 4, 5, 6]);
    expect((await call(tech, 'GET', '/equipment/MIC-0001')).status).toBe(404);
  });

  it('imports a clean register in one go, each entry on the audit trail; the site scope holds', async () => {
    const csv = [
      header,
      'MIC-0001,plant-1,micrometer,Mitutoyo,293-240,MT-1,,bench 2,ours,,365,,30,CP-MIC-001,B,"±2 µm, 0–25 mm",,',
      "STD-0001,plant-2,dead-weight tester,DH,5201,D-9,1.2,lab,customer's,Bosch,365,5000,,,,,DKD-K-1207-2026,2027-06-30",
    ].join('\n');
    expect((await call(auditor, 'POST', '/equipment/import', { csv, dryRun: false })).status).toBe(403);
    // A user of plant-2 may not import plant-1's row: the row says so, nothing else is told.
    const mine = await call(scoped, 'POST', '/equipment/import', { csv });
    expect(mine.status).toBe(200);
    expect(mine.body.rows[0].problems).toEqual([
      { column: 'siteId', message: 'this equipment may not be registered or changed by you' },
    ]);
    expect(mine.body.rows[1].problems).toEqual([]);

    const imp = await call(tech, 'POST', '/equipment/import', { csv, dryRun: false });
    expect(imp.status, imp.text).toBe(201);
    expect(imp.body.created).toEqual(['MIC-0001', 'STD-0001']);
    const std = await call(tech, 'GET', '/equipment/STD-0001');
    expect(std.body).toMatchObject({
      siteId: 'plant-2',
      make: 'DH',
      model: '5201',
      serial: 'D-9',
      firmware: '1.2',
      owner: { kind: 'customer', name: 'Bosch' },
      intervalDays: 365,
      intervalCycles: 5000,
      referenceStandard: { certificate: 'DKD-K-1207-2026', dueDate: '2027-06-30' },
    });
    const mic = await call(tech, 'GET', '/equipment/MIC-0001');
    expect(mic.body).toMatchObject({
      acceptanceCriteria: '±2 µm, 0–25 mm',
      procedure: { id: 'CP-MIC-001', revision: 'B' },
      dueSoonDays: 30,
      owner: { kind: 'company' },
    });
    const audit = await call(auditor, 'GET', '/audit?limit=1000');
    const created = audit.body.items
      .map((i: { entry: unknown }) => i.entry)
      .filter((e: { action: string }) => e.action === 'equipment.create')
      .map((e: { target: { id: string } }) => e.target.id);
    expect(created).toEqual(expect.arrayContaining(['MIC-0001', 'STD-0001']));
    // The same file again: every row is already registered.
    const again = await call(tech, 'POST', '/equipment/import', { csv });
    expect(again.body.rows.every((r: { problems: unknown[] }) => r.problems.length === 1)).toBe(true);
  });

  it('refuses a file that is not a register: unknown or missing columns, an unclosed quote', async () => {
    const bad = await call(tech, 'POST', '/equipment/import', { csv: 'Tag,Colour\nX-1,red\n' });
    expect(bad.status).toBe(200);
    expect(bad.body.rows).toEqual([
      {
        line: 1,
        tag: null,
        problems: expect.arrayContaining([
          { column: 'Colour', message: 'unknown column' },
          { column: 'siteId', message: 'required column missing' },
        ]),
      },
    ]);
    const open = await call(tech, 'POST', '/equipment/import', {
      csv: 'tag,siteId,type,intervalDays\n"X-1,plant-1,gauge,30\n',
    });
    expect(open.body.rows[0].problems[0].message).toMatch(/never closed/);
    const notJson = await call(tech, 'POST', '/equipment/import', { csv: '', dryRun: 'yes' });
    expect(notJson.status).toBe(400);
  });

  const procedure = {
    id: 'CP-PT-001',
    revision: 'D',
    title: 'Rail-pressure transducer, 3 points against a dead-weight tester',
    points: [
      { name: '500 bar', unit: 'bar', nominal: 500, tolerance: 2.5 },
      { name: '1000 bar', unit: 'bar', nominal: 1000, lowerLimit: 995, upperLimit: 1005 },
      { name: '1600 bar', unit: 'bar', nominal: 1600, lowerLimit: 1592.1, upperLimit: 1608 },
    ],
    standards: ['STD-PRS-0007'],
    environment: { temperatureC: { min: 18, max: 22 }, humidityPct: { min: 20, max: 70 } },
  };

  it('keeps procedures by revision: points with ± tolerance or limits, standards, environment', async () => {
    const bad = await call(tech, 'POST', '/procedures', {
      ...procedure,
      points: [
        { name: 'a', unit: 'bar', nominal: 1 },
        { name: 'a', unit: 'bar', nominal: 2, tolerance: 1, lowerLimit: 1 },
        { name: 'b', unit: 'bar', nominal: 2, lowerLimit: 3, upperLimit: 4 },
      ],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual([
      'points',
      'points.0.tolerance',
      'points.1.tolerance',
      'points.2.lowerLimit',
    ]);
    expect((await call(auditor, 'POST', '/procedures', procedure)).status).toBe(403);
    const d = await call(tech, 'POST', '/procedures', procedure);
    expect(d.status, d.text).toBe(201);
    // Both forms, computed in decimal: 1600 with 1592.1 … 1608 is −7.9 / +8 exactly.
    expect(d.body.points).toEqual([
      {
        name: '500 bar',
        unit: 'bar',
        nominal: 500,
        lowerTolerance: -2.5,
        upperTolerance: 2.5,
        lowerLimit: 497.5,
        upperLimit: 502.5,
      },
      {
        name: '1000 bar',
        unit: 'bar',
        nominal: 1000,
        lowerTolerance: -5,
        upperTolerance: 5,
        lowerLimit: 995,
        upperLimit: 1005,
      },
      {
        name: '1600 bar',
        unit: 'bar',
        nominal: 1600,
        lowerTolerance: -7.9,
        upperTolerance: 8,
        lowerLimit: 1592.1,
        upperLimit: 1608,
      },
    ]);
    // A revision never changes.
    expect((await call(tech, 'POST', '/procedures', { ...procedure, title: 'changed' })).status).toBe(409);
    const e = await call(tech, 'POST', '/procedures', { ...procedure, revision: 'E', standards: [] });
    expect(e.status).toBe(201);
    const current = await call(auditor, 'GET', '/procedures/CP-PT-001');
    expect(current.body).toMatchObject({ revision: 'E', revisions: [{ revision: 'D' }, { revision: 'E' }] });
    expect((await call(auditor, 'GET', '/procedures/CP-PT-001?revision=D')).body.standards).toEqual([
      'STD-PRS-0007',
    ]);
    expect(
      (await call(auditor, 'GET', '/procedures')).body.items.map((p: { revision: string }) => p.revision),
    ).toEqual(['E']);
    expect((await call(auditor, 'GET', '/procedures/NOPE')).status).toBe(404);
    const audit = await call(auditor, 'GET', '/audit?limit=1000');
    expect(
      audit.body.items
        .map((i: { entry: { action: string; target?: { id: string } } }) => i.entry)
        .filter((x: { action: string }) => x.action === 'procedure.create')
        .map((x: { target: { id: string } }) => x.target.id),
    ).toEqual(['CP-PT-001@D', 'CP-PT-001@E']);
  });

  it('holds a hand-entered calibration to the procedure revision it names, and flags an environment outside its limits', async () => {
    // CP-PT-001 revisions D and E were written by the test before.
    for (const tag of ['PT-RIG01-RAIL', 'STD-PRS-0007'])
      await call(tech, 'POST', '/equipment', {
        tag,
        siteId: 'plant-1',
        type: 'pressure',
        intervalDays: 180,
        procedure: { id: 'CP-PT-001', revision: 'D' },
      });
    const point = (name: string, nominal: number, lo: number, hi: number, asFound: number) => ({
      name,
      nominal,
      unit: 'bar',
      asFound,
      lowerTolerance: lo,
      upperTolerance: hi,
      asFoundResult: asFound - nominal >= lo && asFound - nominal <= hi ? 'pass' : 'fail',
    });
    const entry = (over: Record<string, unknown> = {}) => ({
      equipment: 'PT-RIG01-RAIL',
      enteredBy: 'A. Smith',
      body: {
        procedure: { id: 'CP-PT-001', revision: 'D' },
        technician: 'A. Smith',
        standards: [{ id: 'STD-PRS-0007' }],
        environment: { temperatureC: 20.5, humidityPct: 41 },
        remarks: 'Connector re-seated before the run.',
        points: [point('500 bar', 500, -2.5, 2.5, 500.4), point('1000 bar', 1000, -5, 5, 1001)],
        adjusted: false,
        asFoundResult: 'pass',
        calibratedAt: new Date(Date.now() - 3_600_000).toISOString(),
        ...over,
      },
      signature: { password: PW, meaning: 'performed' },
    });
    const errorsOf = async (over: Record<string, unknown>) => {
      const r = await call(tech, 'POST', '/calibrations', entry(over));
      expect(r.status, r.text).toBe(400);
      return r.body.errors as { path: string; message: string }[];
    };
    // "1000bar" is not "1000 bar": the trend would split into two series.
    expect(
      await errorsOf({
        points: [point('500 bar', 500, -2.5, 2.5, 500.4), point('1000bar', 1000, -5, 5, 1001)],
      }),
    ).toEqual([
      {
        path: 'body.points[1].name',
        message: expect.stringContaining('"1000bar" is not a point of CP-PT-001 rev D'),
      },
    ]);
    expect(await errorsOf({ points: [point('1000 bar', 1000, -6, 6, 1001)] })).toEqual([
      { path: 'body.points[0].lowerTolerance', message: 'must be -5 as in CP-PT-001 rev D' },
      { path: 'body.points[0].upperTolerance', message: 'must be 5 as in CP-PT-001 rev D' },
    ]);
    expect(await errorsOf({ procedure: { id: 'CP-PT-001' } })).toEqual([
      { path: 'body.procedure.revision', message: 'name the revision of CP-PT-001 that was followed' },
    ]);
    expect(await errorsOf({ procedure: { id: 'CP-PT-001', revision: 'Z' } })).toEqual([
      { path: 'body.procedure.revision', message: 'CP-PT-001 has no revision Z (revisions: D, E)' },
    ]);
    expect(await errorsOf({ standards: [] })).toEqual([
      { path: 'body.standards', message: 'CP-PT-001 rev D requires the standard STD-PRS-0007' },
    ]);
    expect((await call(tech, 'GET', '/equipment/PT-RIG01-RAIL/calibrations')).body.items).toEqual([]);

    const ok = await call(tech, 'POST', '/calibrations', entry());
    expect(ok.status, ok.text).toBe(201);
    expect(ok.body.calibration.body).toMatchObject({
      procedure: { id: 'CP-PT-001', revision: 'D' },
      environment: { temperatureC: 20.5, humidityPct: 41 },
      remarks: 'Connector re-seated before the run.',
    });
    expect(ok.body.calibration.traceability).toEqual({ status: 'ok', issues: [] });
    const warm = await call(
      tech,
      'POST',
      '/calibrations',
      entry({ environment: { temperatureC: 24.5, humidityPct: 41 } }),
    );
    expect(warm.status, warm.text).toBe(201);
    expect(warm.body.calibration.traceability).toEqual({
      status: 'flagged',
      issues: ['temperature 24.5 °C is outside 18–22 °C of CP-PT-001 rev D'],
    });
    expect(warm.body.calibration.valid).toBe(false);
  });
});
