import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createAccounts } from '../src/access/accounts.js';
import type { Role } from '../src/access/policy.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { Witness } from '../src/platform/witness.js';
import { TestEdge } from './helpers/edge.js';
import { tinyPdf } from './helpers/certificates.js';
import { apiCall, signIn, type Session } from './helpers/signed-in.js';
import { asOwner, BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

const PW: Record<string, string> = {
  admin: 'calibrated flow bench 42',
  cleared: 'granted bench work nine',
  uncleared: 'plain bench work only 7',
  auditor: 'reads every trail entry',
};

const failing = (minutesAgo: number) => ({
  standards: [],
  points: [
    {
      name: 'p',
      nominal: 10,
      unit: 'mm',
      asFound: 10.5,
      lowerTolerance: -0.1,
      upperTolerance: 0.1,
      asFoundResult: 'fail',
    },
  ],
  adjusted: false,
  asFoundResult: 'fail',
  calibratedAt: new Date(Date.now() - minutesAgo * 60_000).toISOString(),
});

/** The distinct records (edge:seq) of a suspect-records CSV (one line per record and characteristic). */
const csvRecords = (text: string) =>
  new Set(
    text
      .trim()
      .split('\r\n')
      .slice(1)
      .map((l) => l.split(',').slice(0, 2).join(':')),
  );

describe.each(BACKENDS)('export control (ITAR/EAR) on %s', (backend) => {
  let storage: TestStorage;
  let cloud: RunningCloud;
  let apiToken = '';
  const s: Record<string, Session> = {};
  const ids: Record<string, string> = {};
  const as = (who: string, method: string, p: string, body?: unknown) =>
    apiCall(cloud.url, who === 'token' ? apiToken : s[who]!, method, p, body);
  const tags = (items: { tag: string }[]) => items.map((i) => i.tag);
  const seqs = (items: { seq: number }[]) => items.map((i) => i.seq);
  const UNCLEARED = ['uncleared', 'auditor', 'token'];

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    const cfg = loadCloudConfig({}, storage.overrides);
    const store = await openStore(cfg);
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createSite('acme', 'plant-1', 'Plant 1');
    apiToken = await store.tenancy.createApiToken('acme', 'reader');
    const enroll = await store.tenancy.createEnrollmentToken('acme', 'plant-1', 3600_000);
    const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
    const by = { actor: { type: 'system' as const, id: 'test' }, address: null };
    const users: [string, Role, boolean][] = [
      ['admin', 'admin', true],
      ['cleared', 'technician', false], // the admin clears this one through the API below
      ['uncleared', 'technician', false],
      ['auditor', 'auditor', false],
    ];
    for (const [who, role, usPerson] of users) {
      const u = await accounts.users.create(by, 'acme', {
        email: `${who}@acme.example`,
        role,
        password: PW[who]!,
        mustChangePassword: false,
        usPerson,
      });
      ids[who] = u.user.id;
    }
    await store.db.close();
    cloud = await startCloud(
      loadCloudConfig({}, { ...storage.overrides, port: '0' }),
      pino({ level: 'silent' }),
    );
    for (const [who] of users) s[who] = await signIn(cloud.url, 'acme', `${who}@acme.example`, PW[who]!);
    const edge = await new TestEdge(cloud.url).enroll(enroll.token, 'line-1');
    // seq 2, 7: usage of RIG-FLOW-01; 3, 8: inspections on RIG-FLOW-01 with gauges FLOW-CELL-07,
    // PT-RAIL-03, TT-OIL-02; 4, 9: calibrations of PT-RAIL-03.
    await edge.ingest(edge.examples(10));
  });
  afterAll(async () => {
    await cloud?.close();
    await storage?.cleanup();
  });

  it('lets an admin clear a user as a US person (audited); the flag validates the ECCN', async () => {
    expect((await as('cleared', 'PUT', `/users/${ids.cleared}/us-person`, { usPerson: true })).status).toBe(
      403,
    );
    const r = await as('admin', 'PUT', `/users/${ids.cleared}/us-person`, { usPerson: true });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: ids.cleared, usPerson: true });
    expect((await as('admin', 'GET', `/users/${ids.uncleared}`)).body.usPerson).toBe(false);
    const audit = await as('auditor', 'GET', '/audit?limit=1000');
    const change = audit.body.items
      .map((i: { entry: any }) => i.entry)
      .find((e: any) => e.action === 'user.us_person.change');
    expect(change).toMatchObject({
      actor: { id: ids.admin },
      target: { id: ids.cleared },
      before: { usPerson: false },
      after: { usPerson: true },
    });

    const bad = await as('cleared', 'POST', '/equipment', {
      tag: 'PT-RAIL-03',
      siteId: 'plant-1',
      type: 'transducer',
      intervalDays: 180,
      exportControl: { regime: 'ITAR', eccn: '3a001' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path)).toEqual(['exportControl.eccn']);
    const reg = (tag: string, exportControl?: unknown) =>
      as('cleared', 'POST', '/equipment', {
        tag,
        siteId: 'plant-1',
        type: 'instrument',
        intervalDays: 180,
        ...(exportControl ? { exportControl } : {}),
      });
    expect((await reg('PT-RAIL-03', { regime: 'ITAR' })).status).toBe(201);
    const ear = await reg('FLOW-CELL-07', { regime: 'EAR', eccn: '9E610.a' });
    expect(ear.status).toBe(201);
    expect(ear.body.exportControl).toEqual({ regime: 'EAR', eccn: '9E610.a' });
    expect((await reg('TT-OIL-02')).status).toBe(201);
    expect((await reg('RIG-FLOW-01')).status).toBe(201);
    // A failed calibration of the unflagged gauge, by the cleared technician, signed.
    const cal = await as('cleared', 'POST', '/calibrations', {
      equipment: 'TT-OIL-02',
      enteredBy: 'cleared tech',
      body: failing(1),
      signature: { password: PW.cleared, meaning: 'performed' },
    });
    expect(cal.status, cal.text).toBe(201);
    const itar = await as('cleared', 'POST', '/calibrations', {
      equipment: 'PT-RAIL-03',
      enteredBy: 'cleared tech',
      body: failing(2),
      signature: { password: PW.cleared, meaning: 'performed' },
    });
    expect(itar.status).toBe(201);
    ids.itarCal = itar.body.calibration.id;
  });

  it('answers 404 to a caller who is not cleared, as if the flagged item were absent, and audits the probe', async () => {
    const absent = await as('uncleared', 'GET', '/equipment/NO-SUCH-TAG');
    for (const who of UNCLEARED) {
      for (const p of [
        '/equipment/PT-RAIL-03',
        '/equipment/PT-RAIL-03/calibrations',
        '/equipment/PT-RAIL-03/suspect-records',
        '/equipment/PT-RAIL-03/suspect-records?format=csv',
        '/equipment/FLOW-CELL-07',
      ]) {
        const r = await as(who, 'GET', p);
        expect(r.status, `${who} ${p}`).toBe(404);
        expect(r.body.detail).toBe(absent.body.detail);
        expect(r.text).not.toContain('ITAR');
      }
    }
    const put = await as('uncleared', 'PUT', '/equipment/PT-RAIL-03', {
      siteId: 'plant-1',
      type: 'instrument',
      intervalDays: 9,
    });
    expect(put.status).toBe(404);
    expect((await as('uncleared', 'DELETE', '/equipment/PT-RAIL-03')).status).toBe(404);
    const entry = await as('uncleared', 'POST', '/calibrations', {
      equipment: 'PT-RAIL-03',
      enteredBy: 'x',
      body: failing(1),
      signature: { password: PW.uncleared, meaning: 'performed' },
    });
    expect(entry.status).toBe(404);
    const approve = await as(
      'uncleared',
      'POST',
      `/calibrations/${encodeURIComponent(ids.itarCal!)}/approve`,
      {
        password: PW.uncleared,
        meaning: 'approved',
      },
    );
    expect(approve.status).toBe(404);
    // Nothing changed.
    const seen = await as('cleared', 'GET', '/equipment/PT-RAIL-03');
    expect(seen.body).toMatchObject({
      intervalDays: 180,
      retiredAt: null,
      exportControl: { regime: 'ITAR' },
    });
    expect((await as('cleared', 'GET', '/equipment/PT-RAIL-03/calibrations')).body.items).toHaveLength(3);

    const audit = await as('admin', 'GET', '/audit?limit=1000');
    const refusals = audit.body.items
      .map((i: { entry: any }) => i.entry)
      .filter((e: any) => e.action === 'export.access' && e.outcome === 'failure');
    expect(refusals.length).toBeGreaterThanOrEqual(3 * 5 + 4);
    expect(refusals.find((e: any) => e.actor.type === 'api-token')).toMatchObject({
      target: { type: 'equipment', id: 'PT-RAIL-03' },
    });
  });

  it('has the calibration service audit a refused read of flagged equipment before its 404, and log a cleared one', async () => {
    const refusals = async () =>
      (await as('admin', 'GET', '/audit?limit=1000')).body.items
        .map((i: { entry: any }) => i.entry)
        .filter((e: any) => e.action === 'export.access' && e.outcome === 'failure');
    for (const [who, method, p, route] of [
      ['uncleared', 'GET', '/equipment/PT-RAIL-03/calibrations', 'GET /equipment/{tag}/calibrations'],
      ['token', 'GET', '/equipment/PT-RAIL-03', 'GET /equipment/{tag}'],
      ['auditor', 'GET', '/equipment/PT-RAIL-03/positions', 'GET /equipment/{tag}/positions'],
      [
        'uncleared',
        'POST',
        `/calibrations/${encodeURIComponent(ids.itarCal!)}/approve`,
        'POST /calibrations/{id}/approve',
      ],
    ] as const) {
      const before = (await refusals()).length;
      const r = await as(
        who,
        method,
        p,
        method === 'POST' ? { password: PW.uncleared, meaning: 'approved' } : undefined,
      );
      expect(r.status, `${who} ${p}`).toBe(404);
      expect(r.text).not.toContain('ITAR');
      const after = await refusals();
      // Exactly one refusal for the request, naming the equipment and the route.
      expect(after.length, `${who} ${p}`).toBe(before + 1);
      expect(after.at(-1)).toMatchObject({ target: { type: 'equipment', id: 'PT-RAIL-03' } });
      expect(after.at(-1).detail).toContain(route);
    }
    // A cleared caller's read is served and logged: the equipment and each calibration served.
    const logged = async () =>
      (await as('admin', 'GET', '/export-access?limit=1000')).body.items.filter(
        (i: any) => i.route === 'GET /equipment/{tag}/calibrations' && i.userId === ids.cleared,
      );
    const earlier = (await logged()).length;
    const served = await as('cleared', 'GET', '/equipment/PT-RAIL-03/calibrations');
    expect(served.status).toBe(200);
    expect(served.body.items.length).toBeGreaterThan(0);
    const log = (await logged()).slice(earlier);
    expect(log.map((i: any) => `${i.objectType}:${i.objectId}`).sort()).toEqual(
      ['equipment:PT-RAIL-03', ...served.body.items.map((c: { id: string }) => `calibration:${c.id}`)].sort(),
    );
  });

  it('has certificates and the suspect chain of flagged equipment checked by export control: one refusal, or one access entry', async () => {
    const enc = encodeURIComponent;
    const cal = enc(ids.itarCal!);
    const pdf = await as('cleared', 'POST', `/calibrations/${cal}/certificates`, {
      filename: 'itar.pdf',
      content: tinyPdf('export controlled').toString('base64'),
    });
    expect(pdf.status, pdf.text).toBe(201);
    const entries = async (outcome: 'success' | 'failure') =>
      (await as('admin', 'GET', '/audit?limit=1000')).body.items
        .map((i: { entry: any }) => i.entry)
        .filter((e: any) => e.action === 'export.access' && e.outcome === outcome);
    const noCalibration = (await as('uncleared', 'GET', `/calibrations/${enc('manual:nope')}/certificates`))
      .body.detail;
    const noEquipment = (await as('uncleared', 'GET', '/equipment/NO-SUCH-TAG/suspect-chain')).body.detail;
    const reads = [
      [`/calibrations/${cal}/certificates`, 'GET /calibrations/{id}/certificates', noCalibration],
      [
        `/calibrations/${cal}/certificates/${pdf.body.id}`,
        'GET /calibrations/{id}/certificates/{certificate}',
        noCalibration,
      ],
      [`/calibrations/${cal}/dcc`, 'GET /calibrations/{id}/dcc', noCalibration],
      ['/equipment/PT-RAIL-03/suspect-chain', 'GET /equipment/{tag}/suspect-chain', noEquipment],
      [
        '/equipment/PT-RAIL-03/suspect-chain/records',
        'GET /equipment/{tag}/suspect-chain/records',
        noEquipment,
      ],
      [
        '/equipment/PT-RAIL-03/suspect-chain/records?format=csv',
        'GET /equipment/{tag}/suspect-chain/records',
        noEquipment,
      ],
    ] as const;
    const tries: [string, string, string, string, unknown?][] = [
      ...UNCLEARED.flatMap((who) =>
        reads.map(
          ([p, route, absent]) => [who, 'GET', p, route, absent] as [string, string, string, string, unknown],
        ),
      ),
      [
        'uncleared',
        'POST',
        `/calibrations/${cal}/certificates`,
        'POST /calibrations/{id}/certificates',
        noCalibration,
      ],
    ];
    for (const [who, method, p, route, absent] of tries) {
      const before = (await entries('failure')).length;
      const r = await as(
        who,
        method,
        p,
        method === 'POST' ? { filename: 'x.pdf', content: tinyPdf('probe').toString('base64') } : undefined,
      );
      expect(r.status, `${who} ${method} ${p}`).toBe(404);
      expect(r.body.detail, `${who} ${p}`).toBe(absent);
      expect(r.text).not.toContain('ITAR');
      const after = await entries('failure');
      // Exactly one refusal for the request, naming the equipment and the route.
      expect(after.length, `${who} ${method} ${p}`).toBe(before + 1);
      expect(after.at(-1)).toMatchObject({ target: { type: 'equipment', id: 'PT-RAIL-03' } });
      expect(after.at(-1).detail).toContain(route);
    }
    // Nothing was attached by the refused upload.
    const listed = await as('cleared', 'GET', `/calibrations/${cal}/certificates`);
    expect(listed.body.items.map((c: { id: string }) => c.id)).toEqual([pdf.body.id]);

    // A cleared reader is served, with one access entry per request.
    for (const [p, route] of reads) {
      const before = (await entries('success')).length;
      const logBefore = (await as('admin', 'GET', '/export-access?limit=1000')).body.items.length;
      const r = await as('cleared', 'GET', p);
      expect(r.status, `${p} ${r.text}`).toBe(200);
      const after = await entries('success');
      expect(after.length, p).toBe(before + 1);
      expect(after.at(-1)).toMatchObject({ actor: { id: ids.cleared }, after: { route } });
      const log = (await as('admin', 'GET', '/export-access?limit=1000')).body.items.slice(logBefore);
      expect(log.map((i: any) => `${i.route} ${i.objectType}:${i.objectId}`).sort(), p).toEqual(
        [
          `${route} equipment:PT-RAIL-03`,
          ...(route.startsWith('GET /calibrations') ? [`${route} calibration:${ids.itarCal}`] : []),
        ].sort(),
      );
    }
  });

  it('takes export flags only from a cleared caller: register, edit and CSV import', async () => {
    const refused = 'only a user cleared for export-controlled data may set export control';
    const post = await as('uncleared', 'POST', '/equipment', {
      tag: 'NEW-FLAG-01',
      siteId: 'plant-1',
      type: 'instrument',
      intervalDays: 180,
      exportControl: { regime: 'ITAR' },
    });
    expect(post.status).toBe(403);
    expect(post.body.detail).toBe(refused);
    expect((await as('admin', 'GET', '/equipment/NEW-FLAG-01')).status).toBe(404);
    const put = await as('uncleared', 'PUT', '/equipment/TT-OIL-02', {
      siteId: 'plant-1',
      type: 'instrument',
      intervalDays: 180,
      exportControl: { regime: 'EAR', eccn: '9E610.a' },
    });
    expect(put.status).toBe(403);
    expect((await as('admin', 'GET', '/equipment/TT-OIL-02')).body.exportControl ?? null).toBeNull();
    const csv = 'tag,siteId,type,intervalDays,exportRegime\nNEW-FLAG-02,plant-1,instrument,180,ITAR\n';
    const dry = await as('uncleared', 'POST', '/equipment/import', { csv, dryRun: true });
    expect(dry.status).toBe(200);
    expect(dry.body.rows[0].problems).toContainEqual({ column: 'exportRegime', message: refused });
    // The same edits from the cleared technician go through.
    const ok = await as('cleared', 'POST', '/equipment/import', { csv, dryRun: true });
    expect(ok.body.rows[0].problems).toEqual([]);
  });

  it('leaves flagged data out of lists and CSV exports for callers who are not cleared', async () => {
    for (const who of UNCLEARED) {
      expect(tags((await as(who, 'GET', '/equipment')).body.items), who).toEqual([
        'RIG-FLOW-01',
        'TT-OIL-02',
      ]);
      const due = await as(who, 'GET', '/due-list?days=400');
      expect(due.body.sites.flatMap((x: any) => tags(x.items)).sort()).toEqual(['RIG-FLOW-01', 'TT-OIL-02']);
      // The inspections name PT-RAIL-03 (ITAR) among their gauges: they are flagged too.
      expect(seqs((await as(who, 'GET', '/inspections')).body.items)).toEqual([]);
      expect(seqs((await as(who, 'GET', '/usage')).body.items)).toEqual([2, 7]);
      const suspects = await as(who, 'GET', '/equipment/TT-OIL-02/suspect-records');
      expect(suspects.body.items).toEqual([]);
      const csv = await as(who, 'GET', '/equipment/TT-OIL-02/suspect-records?format=csv');
      expect(csv.text.trim().split('\r\n')).toHaveLength(1); // the header only
      const pending = await as(who, 'GET', '/calibrations?approval=pending');
      expect(pending.body.items.map((c: any) => c.equipment)).toEqual(['TT-OIL-02']);
    }
    // The cleared technician sees everything.
    expect(tags((await as('cleared', 'GET', '/equipment')).body.items)).toEqual([
      'FLOW-CELL-07',
      'PT-RAIL-03',
      'RIG-FLOW-01',
      'TT-OIL-02',
    ]);
    expect(seqs((await as('cleared', 'GET', '/inspections')).body.items)).toEqual([3, 8]);
    const csv = await as('cleared', 'GET', '/equipment/TT-OIL-02/suspect-records?format=csv');
    expect(csvRecords(csv.text).size).toBe(2);
    expect((await as('cleared', 'GET', '/calibrations?approval=pending')).body.items).toHaveLength(2);

    // RIG-FLOW-01's inspections name PT-RAIL-03: its first-pass yield, counted from them, is
    // withheld as they are.
    const from = new Date(Date.now() - 30 * 86_400_000).toISOString();
    const to = new Date(Date.now() + 86_400_000).toISOString();
    for (const who of UNCLEARED) {
      const y = await as(who, 'GET', `/yield?from=${from}&to=${to}`);
      expect(y.status, who).toBe(200);
      expect(y.body, who).toMatchObject({ perRig: [], perRigDay: [] });
    }
    const shown = await as('cleared', 'GET', `/yield?from=${from}&to=${to}`);
    expect(shown.body.perRig.map((r: any) => [r.equipment, r.tested])).toEqual([['RIG-FLOW-01', 2]]);

    // Flagging the rig hides its usage and its yield too.
    const put = await as('cleared', 'PUT', '/equipment/RIG-FLOW-01', {
      siteId: 'plant-1',
      type: 'instrument',
      intervalDays: 180,
      exportControl: { regime: 'EAR', eccn: '3A001.b.2' },
    });
    expect(put.status).toBe(200);
    expect((await as('uncleared', 'GET', '/usage')).body.items).toEqual([]);
    const y = await as('uncleared', 'GET', `/yield?from=${from}&to=${to}`);
    expect(y.body).toMatchObject({ perRig: [], perRigDay: [] });
    const yc = await as('cleared', 'GET', `/yield?from=${from}&to=${to}`);
    expect(yc.body.perRig.map((r: any) => r.equipment)).toEqual(['RIG-FLOW-01']);
  });

  it('logs every access to flagged data, item or list, to export_access_log and the audit trail', async () => {
    const before = (await as('admin', 'GET', '/export-access?limit=1000')).body.items.length;
    await as('cleared', 'GET', '/equipment/PT-RAIL-03');
    await as('cleared', 'GET', '/equipment');
    const after = await as('admin', 'GET', `/export-access?limit=1000`);
    const fresh = after.body.items.slice(before);
    // Rows of one request share their time; their order within it is by id.
    const key = (r: any) => `${r.route} ${r.objectId}`;
    expect(
      [...fresh]
        .sort((a: any, b: any) => (key(a) < key(b) ? -1 : 1))
        .map((r: any) => [r.objectType, r.objectId, r.regime, r.eccn, r.route]),
    ).toEqual([
      ['equipment', 'FLOW-CELL-07', 'EAR', '9E610.a', 'GET /equipment'],
      ['equipment', 'PT-RAIL-03', 'ITAR', null, 'GET /equipment'],
      ['equipment', 'RIG-FLOW-01', 'EAR', '3A001.b.2', 'GET /equipment'],
      ['equipment', 'PT-RAIL-03', 'ITAR', null, 'GET /equipment/{tag}'],
    ]);
    expect(fresh[0]).toMatchObject({ userId: ids.cleared, principal: `user:${ids.cleared}` });
    expect(fresh[0].address).toBeTruthy();
    // Earlier: the inspections, suspect records and calibrations served to the cleared user.
    const types = new Set(after.body.items.map((r: any) => r.objectType));
    for (const t of ['equipment', 'calibration', 'inspection', 'yield']) expect(types.has(t), t).toBe(true);
    // Nothing was logged for callers who were not cleared: they were served nothing flagged.
    expect(after.body.items.filter((r: any) => r.userId !== ids.cleared && r.userId !== ids.admin)).toEqual(
      [],
    );

    // Paging by cursor and time range.
    const p1 = await as('admin', 'GET', '/export-access?limit=2');
    expect(p1.body.items).toHaveLength(2);
    const p2 = await as(
      'admin',
      'GET',
      `/export-access?limit=1000&cursor=${encodeURIComponent(p1.body.next)}`,
    );
    expect([...p1.body.items, ...p2.body.items]).toEqual(after.body.items);
    expect(
      (await as('admin', 'GET', `/export-access?from=${new Date(Date.now() + 60_000).toISOString()}`)).body
        .items,
    ).toEqual([]);
    expect((await as('token', 'GET', '/export-access')).status).toBe(403);
    expect((await as('uncleared', 'GET', '/export-access')).status).toBe(403);
    // The log names flagged equipment: an auditor not cleared for it may not read it.
    expect((await as('auditor', 'GET', '/export-access')).status).toBe(403);
    expect((await as('admin', 'GET', '/export-access?cursor=nope')).status).toBe(400);

    // One summarising audit entry per request (naming flagged equipment: whole to cleared readers).
    const audit = (await as('admin', 'GET', '/audit?limit=1000')).body.items.map((i: any) => i.entry);
    const list = audit.filter((e: any) => e.action === 'export.access' && e.outcome === 'success').at(-1);
    expect(list).toMatchObject({
      actor: { id: ids.cleared },
      after: { route: 'GET /equipment', count: 3 },
    });
    expect(list.after.objects.map((o: any) => o.id)).toEqual(['FLOW-CELL-07', 'PT-RAIL-03', 'RIG-FLOW-01']);
    const seen = (await as('auditor', 'GET', '/audit?limit=1000')).body.items.find(
      (i: any) => i.seq === list.seq,
    );
    expect(seen).toMatchObject({ withheld: 'export-controlled', entry: { action: 'export.access' } });
    expect(JSON.stringify(seen)).not.toContain('RIG-FLOW-01');
    expect((await as('auditor', 'GET', '/audit/verify')).body.ok).toBe(true);
    if (backend === 'postgres') {
      const rows = await asOwner<{ n: string }>(
        storage.databaseUrl!,
        'SELECT count(*) AS n FROM export_access_log',
      );
      expect(Number(rows[0]!.n)).toBe(after.body.items.length);
    }
  });

  it('clears a user only while marked: withdrawing usPerson hides the data again at the next request', async () => {
    expect((await as('admin', 'PUT', `/users/${ids.cleared}/us-person`, { usPerson: false })).status).toBe(
      200,
    );
    expect((await as('cleared', 'GET', '/equipment/PT-RAIL-03')).status).toBe(404);
  });
});
