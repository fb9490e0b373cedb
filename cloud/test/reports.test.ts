import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { deterministicUuidV7, repoRoot } from '@rigtrace/protocols/testing';
import { createAccounts } from '../src/access/accounts.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { SqliteDb } from '../src/platform/db/sqlite.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { Witness } from '../src/platform/witness.js';
import { TestEdge } from './helpers/edge.js';
import { apiCall, signIn, type Session } from './helpers/signed-in.js';
import { asOwner, BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

// Generous: the machine is shared, and the CLI test starts three processes.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 180_000 });

const DAY = 86_400_000;
/**
 * "Now" of the data and of the cloud's clock (injected below), taken again as each backend's
 * setup starts (a run's second backend starts minutes later): reports, statuses and the clause map
 * read their "today" from it, never from the wall clock, so a run that crosses midnight passes.
 */
let NOW = Date.now();
const at = (daysAgo: number, extraMs = 0) => new Date(NOW - daysAgo * DAY + extraMs).toISOString();
const dateOf = (iso: string) => iso.slice(0, 10);
const plusDays = (date: string, n: number) =>
  new Date(Date.parse(`${date}T00:00:00Z`) + n * DAY).toISOString().slice(0, 10);
let TODAY = dateOf(at(0));
let FROM = dateOf(at(365));
const PW = 'audit pack passphrase 42';
/** PNGs of the rendered PDFs are kept here to be looked at. */
const PNG_DIR = mkdtempSync(path.join(os.tmpdir(), 'rt-reports-png-'));

function records(edge: () => string) {
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
    cal: (
      tag: string,
      calibratedAt: string,
      asFound: 'pass' | 'fail',
      asLeft?: 'pass',
      standards: string[] = [],
    ) => ({
      ...envelope('calibration', tag, calibratedAt),
      body: {
        technician: 'J. Doe (level 2)',
        certificate: { number: `TR-${dateOf(calibratedAt).replaceAll('-', '')}` },
        standards: standards.map((id) => ({ id })),
        points: [
          {
            name: 'rail-pressure@800bar',
            nominal: 800,
            unit: 'bar',
            asFound: asFound === 'pass' ? 800.5 : 806.25,
            ...(asLeft ? { asLeft: 800.1, asLeftResult: asLeft } : {}),
            lowerTolerance: -2,
            upperTolerance: 2,
            asFoundResult: asFound,
          },
        ],
        adjusted: asLeft !== undefined,
        asFoundResult: asFound,
        ...(asLeft ? { asLeftResult: asLeft } : {}),
        calibratedAt,
      },
    }),
    inspection: (rig: string, observedAt: string, part: string, gauges: string[]) => ({
      ...envelope('inspection', rig, observedAt),
      body: {
        partSerial: part,
        workOrder: 'WO-7781',
        operator: 'op-4471',
        result: 'pass',
        characteristics: [
          {
            name: 'full-load.quantity',
            nominal: 62,
            lsl: 60,
            usl: 64,
            measured: 62.2,
            unit: 'mm3',
            result: 'pass',
          },
        ],
        gauges,
      },
    }),
    usage: (tag: string, observedAt: string, part: string) => ({
      ...envelope('usage', tag, observedAt),
      body: { event: 'cycle', cycles: 3, operator: 'op-4471', workOrder: 'WO-7781', partSerial: part },
    }),
  };
}

type Report = {
  id: string;
  state: string;
  progress: { done: number; total: number };
  file: { name: string; sha256: string; size: number; contentType: string } | null;
  sources: {
    auditLog: { size: number; root: string };
    edges: { edge: string; size: number; root: string }[];
  };
  summary: Record<string, unknown>;
  error: string | null;
};

describe.each(BACKENDS)('compliance reports on %s', (backend) => {
  let storage: TestStorage;
  let cloud: RunningCloud;
  const s: Record<string, Session> = {};
  let token = '';
  let globexToken = '';
  let leaverId = '';
  let edge: TestEdge;
  let edgeId = '';
  /** Enrolls an edge of plant 2 (the last test's). */
  let enrollPlant2 = '';
  /** The wall-clock time (ms) before the setup's sign-ins (they are stamped with the wall clock). */
  let signInsFrom = 0;
  const f = records(() => edgeId);
  const call = (who: string | Session, method: string, p: string, body?: unknown) =>
    apiCall(cloud.url, typeof who === 'string' && s[who] ? s[who] : who, method, p, body);

  async function request(who: string, body: Record<string, unknown>): Promise<Report> {
    const r = await call(who, 'POST', '/reports', body);
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    expect(['queued', 'running', 'done']).toContain(r.body.state);
    expect(r.body.progress).toEqual({ done: expect.any(Number), total: expect.any(Number) });
    return r.body as Report;
  }
  async function done(who: string, id: string): Promise<Report> {
    const until = Date.now() + 60_000;
    for (;;) {
      const r = await call(who, 'GET', `/reports/${id}`);
      expect(r.status).toBe(200);
      if (r.body.state === 'done') return r.body as Report;
      if (r.body.state === 'failed') throw new Error(`report failed: ${r.body.error}`);
      if (Date.now() > until) throw new Error('report not done in 60 s');
      await new Promise((res) => setTimeout(res, 100));
    }
  }
  async function download(who: string, id: string) {
    const res = await fetch(`${cloud.url}/api/v1/reports/${id}/file`, {
      headers:
        typeof who === 'string' && s[who] ? { cookie: s[who].cookie } : { authorization: `Bearer ${who}` },
    });
    return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
  }
  async function generate(who: string, body: Record<string, unknown>) {
    const queued = await request(who, body);
    const report = await done(who, queued.id);
    const file = await download(who, queued.id);
    expect(file.status).toBe(200);
    return { report, file };
  }
  /** pdftotext -layout, and one PNG per page at 60 dpi (kept in PNG_DIR). */
  function render(name: string, pdf: Buffer): { text: string; pages: string[]; pngs: string[] } {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-pdf-'));
    const file = path.join(dir, `${name}.pdf`);
    writeFileSync(file, pdf);
    const t = spawnSync('pdftotext', ['-layout', file, '-'], { encoding: 'utf8' });
    expect(t.status, t.stderr).toBe(0);
    const prefix = path.join(PNG_DIR, `${backend}-${name}`);
    const p = spawnSync('pdftoppm', ['-r', '60', '-png', file, prefix], { encoding: 'utf8' });
    expect(p.status, p.stderr).toBe(0);
    const pngs = readdirSync(PNG_DIR)
      .filter((x) => x.startsWith(`${backend}-${name}-`) && x.endsWith('.png'))
      .map((x) => path.join(PNG_DIR, x));
    for (const png of pngs) expect(readFileSync(png).subarray(1, 4).toString()).toBe('PNG');
    return { text: t.stdout, pages: t.stdout.split('\f').filter((x) => x.trim() !== ''), pngs };
  }
  const csvRows = (bytes: Buffer) => {
    const [head, ...rows] = bytes.toString('utf8').trimEnd().split('\r\n');
    const cols = head!.split(',');
    return rows.map((line) => {
      const cells = line
        .match(/("([^"]|"")*"|[^,]*)(,|$)/g)!
        .map((c) => c.replace(/,$/, '').replace(/^"|"$/g, '').replace(/""/g, '"'));
      return Object.fromEntries(cols.map((c, i) => [c, cells[i] ?? '']));
    });
  };

  setupOrFailEach(async () => {
    NOW = Date.now();
    [TODAY, FROM] = [dateOf(at(0)), dateOf(at(365))];
    storage = await testStorage(backend);
    const cfg = loadCloudConfig({}, storage.overrides);
    const store = await openStore(cfg);
    await store.tenancy.createTenant('acme', 'Acme Injector Works');
    await store.tenancy.createSite('acme', 'plant-1', 'Plant 1');
    await store.tenancy.createSite('acme', 'plant-2', 'Plant 2');
    await store.tenancy.createTenant('globex', 'Globex');
    await store.tenancy.createSite('globex', 'g-1', 'Globex 1');
    token = await store.tenancy.createApiToken('acme', 'siem');
    globexToken = await store.tenancy.createApiToken('globex', 'siem');
    const enroll = await store.tenancy.createEnrollmentToken('acme', 'plant-1', 3600_000);
    enrollPlant2 = (await store.tenancy.createEnrollmentToken('acme', 'plant-2', 3600_000)).token;
    const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
    const by = { actor: { type: 'system' as const, id: 'test' }, address: null };
    for (const role of ['admin', 'auditor', 'manager', 'technician'] as const)
      await accounts.users.create(by, 'acme', {
        email: `${role}@acme.example`,
        role,
        password: PW,
        mustChangePassword: false,
      });
    await accounts.users.create(by, 'acme', {
      email: 'scoped-auditor@acme.example',
      role: 'auditor',
      sites: ['plant-2'],
      password: PW,
      mustChangePassword: false,
    });
    // A new hire who has not signed in yet (not dormant: 90 days count from the account's creation).
    await accounts.users.create(by, 'acme', { email: 'new-hire@acme.example', role: 'technician' });
    leaverId = (
      await accounts.users.create(by, 'acme', {
        email: 'leaver@acme.example',
        role: 'technician',
        password: PW,
        mustChangePassword: false,
      })
    ).user.id;
    await accounts.users.create(by, 'globex', {
      email: 'admin@globex.example',
      role: 'admin',
      password: PW,
      mustChangePassword: false,
    });
    await accounts.users.create(by, 'globex', {
      email: 'tech@globex.example',
      role: 'technician',
      password: PW,
      mustChangePassword: false,
    });
    // Accesses to export-controlled items, as export control logs them (table of migration 5).
    for (const [i, email, obj, address] of [
      [1, 'admin@acme.example', 'RIG-FLOW-01', '10.1.2.3'],
      [2, 'auditor@acme.example', 'RIG-FLOW-01', '10.1.2.4'],
    ] as const) {
      const u = (await accounts.users.list('acme')).find((x) => x.email === email)!;
      await store.db.withTenant('acme', () =>
        store.db.run(
          `INSERT INTO export_access_log (tenant_id, id, at, user_id, principal, object_type, object_id, regime, eccn, address, route)
           VALUES (?, ?, ?, ?, ?, 'equipment', ?, 'ITAR', '3A001', ?, 'GET /equipment/{tag}')`,
          ['acme', `xa-${i}`, at(3, i * 1000), u.id, `user:${u.id}`, obj, address],
        ),
      );
    }
    await store.db.withTenant('globex', () =>
      store.db.run(
        `INSERT INTO export_access_log (tenant_id, id, at, user_id, principal, object_type, object_id, regime, eccn, address, route)
         VALUES ('globex', 'xg-1', ?, NULL, 'user:x', 'equipment', 'GLOBEX-SECRET-01', 'EAR', '5A992.c', '192.0.2.99', 'GET /equipment/{tag}')`,
        [at(2)],
      ),
    );
    await store.db.close();
    cloud = await startCloud(
      loadCloudConfig({}, { ...storage.overrides, port: '0' }),
      pino({ level: 'silent' }),
      // Reports, statuses and the clause map read "today" from this, not the wall clock.
      { clock: () => new Date(NOW) },
    );
    signInsFrom = Date.now();
    for (const who of ['admin', 'auditor', 'manager', 'technician', 'scoped-auditor', 'leaver'])
      s[who] = await signIn(cloud.url, 'acme', `${who}@acme.example`, PW);
    s['globex-admin'] = await signIn(cloud.url, 'globex', 'admin@globex.example', PW);
    s['globex-tech'] = await signIn(cloud.url, 'globex', 'tech@globex.example', PW);
    expect((await call('admin', 'POST', `/users/${leaverId}/disable`)).status).toBe(200);

    edge = await new TestEdge(cloud.url).enroll(enroll.token, 'line-3');
    edgeId = edge.id;

    const eq = (tag: string, siteId: string, intervalDays: number, extra: Record<string, unknown> = {}) => ({
      tag,
      siteId,
      type: 'pressure transducer',
      make: 'Keller',
      model: 'PA-33X',
      serial: `SN-${tag}`,
      firmware: '2.4.1',
      location: 'bench 3',
      owner: { kind: 'company' },
      range: { min: 0, max: 2500, unit: 'bar' },
      resolution: 0.1,
      procedure: { id: 'CP-PT-001', revision: 'D' },
      intervalDays,
      acceptanceCriteria: 'error within ±2 bar at 800 bar',
      environment: '20 ± 2 °C',
      ...extra,
    });
    for (const e of [
      eq('PT-RAIL-03', 'plant-1', 180),
      eq('FLOW-CELL-07', 'plant-1', 90, { type: 'flow cell' }),
      eq('STD-DWT-02', 'plant-1', 365, {
        type: 'dead-weight tester',
        referenceStandard: { certificate: 'TR-55821' },
      }),
      eq('RIG-FLOW-01', 'plant-2', 365, { type: 'flow rig' }),
      eq('GAUGE-NEVER-09', 'plant-2', 30, { type: 'dial gauge' }),
    ]) {
      const r = await call('technician', 'POST', '/equipment', e);
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    }
    expect((await call('globex-tech', 'POST', '/equipment', eq('GLOBEX-SECRET-01', 'g-1', 30))).status).toBe(
      201,
    );

    const batch = [
      f.cal('STD-DWT-02', at(300), 'pass'),
      f.inspection('RIG-FLOW-01', at(210), 'P-0', ['PT-RAIL-03']),
      f.cal('PT-RAIL-03', at(200), 'pass', undefined, ['STD-DWT-02']),
      f.inspection('RIG-FLOW-01', at(150), 'P-1', ['PT-RAIL-03', 'FLOW-CELL-07']),
      f.usage('PT-RAIL-03', at(120), 'P-1'),
      f.inspection('RIG-FLOW-01', at(100), 'P-2', ['PT-RAIL-03']),
      f.cal('FLOW-CELL-07', at(85), 'pass'),
      f.cal('RIG-FLOW-01', at(40), 'fail'),
      f.cal('PT-RAIL-03', at(10), 'fail', 'pass', ['STD-DWT-02']),
      f.inspection('RIG-FLOW-01', at(5), 'P-3', ['FLOW-CELL-07']),
    ];
    expect((await edge.ingest(batch)).accepted).toBe(10);
  });
  afterAll(async () => {
    await cloud?.close();
    await storage?.cleanup();
  });

  it('renders the calibration register as a PDF: fields, statuses, header and footer on every page', async () => {
    const { report, file } = await generate('admin', {
      type: 'calibration-register',
      from: FROM,
      to: TODAY,
      format: 'pdf',
    });
    expect(file.headers.get('content-type')).toBe('application/pdf');
    expect(file.headers.get('content-disposition')).toBe(
      `attachment; filename="rigtrace-calibration-register-acme-${FROM}-${TODAY}.pdf"`,
    );
    const sha = createHash('sha256').update(file.bytes).digest('hex');
    expect(report.file!.sha256).toBe(sha);
    expect(file.headers.get('x-rigtrace-sha256')).toBe(sha);
    expect(report.file!.size).toBe(file.bytes.length);
    expect(file.bytes.subarray(0, 5).toString()).toBe('%PDF-');
    expect(report.summary).toMatchObject({
      instruments: 5,
      inService: 5,
      inCalibration: 3,
      byStatus: { current: 2, 'due-soon': 1, overdue: 1, 'out-of-tolerance': 1 },
      neverCalibrated: 1,
      referenceStandards: 1,
      calibrationsInPeriod: 5,
    });
    const { text, pages, pngs } = render('register', file.bytes);
    expect(pngs.length).toBe(pages.length);
    // Each instrument with its AS9100D / ISO 17025 fields, status and next due.
    for (const tag of ['PT-RAIL-03', 'FLOW-CELL-07', 'STD-DWT-02', 'RIG-FLOW-01', 'GAUGE-NEVER-09'])
      expect(text).toContain(tag);
    expect(text).not.toContain('GLOBEX');
    const line = (tag: string) => text.split('\n').find((l) => l.includes(tag))!;
    expect(line('PT-RAIL-03')).toContain(plusDays(dateOf(at(10)), 180));
    expect(line('PT-RAIL-03')).toMatch(/current/);
    expect(line('FLOW-CELL-07')).toContain(plusDays(dateOf(at(85)), 90));
    expect(line('FLOW-CELL-07')).toMatch(/due-soon/);
    expect(line('RIG-FLOW-01')).toMatch(/out-of-tolerance/);
    expect(line('GAUGE-NEVER-09')).toMatch(/overdue/);
    for (const field of [
      'SN-PT-RAIL-03',
      'FW 2.4.1',
      'CP-PT-001',
      'rev. D',
      '0 to 2500 bar',
      'res. 0.1',
      '180 d',
      'reference standard',
      `cert. TR-${dateOf(at(10)).replaceAll('-', '')}`,
    ])
      expect(text).toContain(field);
    expect(text).toContain('3 of 5 instruments in service are in calibration');
    // Header and footer on every page: tenant, site, period, generation time, page n of m, checkpoint.
    pages.forEach((page, i) => {
      expect(page).toContain('RigTrace | Calibration register');
      expect(page).toContain('Tenant: Acme Injector Works (acme)');
      expect(page).toContain('Site: all sites');
      expect(page).toContain(`Period: ${FROM} to ${TODAY}`);
      expect(page).toMatch(/Generated \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/);
      expect(page).toContain(`Page ${i + 1} of ${pages.length}`);
      expect(page).toContain(
        `audit log rigtrace-cloud/audit/acme size ${report.sources.auditLog.size} root ${report.sources.auditLog.root}`,
      );
    });
    expect(report.sources.edges).toEqual([expect.objectContaining({ edge: edgeId, size: 10 })]);
    expect(text).toContain(report.sources.edges[0]!.root);
    // Generation is on the audit trail: requested, then completed with the file's SHA-256.
    const audit = await call('auditor', 'GET', '/audit?limit=1000');
    const entries = audit.body.items.map((i: { entry: Record<string, unknown> }) => i.entry);
    const mine = entries.filter((e: { target?: { id: string } }) => e.target?.id === report.id);
    expect(mine.map((e: { action: string }) => e.action)).toEqual([
      'report.request',
      'report.complete',
      'report.download',
    ]);
    expect(mine[1].after.sha256).toBe(sha);
    expect(mine[0].actor.email).toBe('admin@acme.example');
  });

  it('repeats a table’s header row on every page it runs over', async () => {
    // 60 more instruments make the register run over several pages.
    for (let i = 0; i < 60; i++) {
      const r = await call('technician', 'POST', '/equipment', {
        tag: `BULK-${String(i).padStart(3, '0')}`,
        siteId: 'plant-2',
        type: 'torque wrench',
        intervalDays: 365,
      });
      expect(r.status).toBe(201);
    }
    const { report, file } = await generate('auditor', {
      type: 'calibration-register',
      siteId: 'plant-2',
      from: FROM,
      to: TODAY,
      format: 'pdf',
    });
    expect(report.summary).toMatchObject({ instruments: 62 });
    const { pages, pngs } = render('register-long', file.bytes);
    expect(pages.length).toBeGreaterThanOrEqual(3);
    expect(pngs.length).toBe(pages.length);
    const withRows = pages.filter((p) => p.includes('BULK-'));
    expect(withRows.length).toBeGreaterThanOrEqual(2);
    for (const page of withRows) expect(page).toMatch(/Tag\s+Type, make, model\s+Serial, firmware/);
    pages.forEach((page, i) => {
      expect(page).toContain('Site: Plant 2 (plant-2)');
      expect(page).toContain(`Page ${i + 1} of ${pages.length}`);
      if (i > 0 && page.includes('BULK-')) expect(page).toContain('Equipment register (continued)');
    });
    const text = pages.join('\n');
    for (let i = 0; i < 60; i++) expect(text).toContain(`BULK-${String(i).padStart(3, '0')}`);
    expect(text).not.toContain('PT-RAIL-03');
  });

  it('lists what is due and overdue with lead times (PDF and CSV)', async () => {
    const to = plusDays(TODAY, 30);
    const { file } = await generate('admin', { type: 'due-list', from: TODAY, to, format: 'csv' });
    expect(file.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(file.headers.get('content-disposition')).toContain(`.csv"`);
    const rows = csvRows(file.bytes).filter((r) => !r.tag!.startsWith('BULK-'));
    expect(rows.map((r) => r.tag)).toEqual(['RIG-FLOW-01', 'GAUGE-NEVER-09', 'FLOW-CELL-07']);
    const flow = rows[2]!;
    const due = plusDays(dateOf(at(85)), 90);
    expect(flow).toMatchObject({
      status: 'due-soon',
      nextDue: due,
      leadTimeDays: '30',
      recallFrom: plusDays(due, -30),
      daysUntilDue: String(Math.round((Date.parse(due) - Date.parse(TODAY)) / DAY)),
      action: 'in recall window: schedule now',
    });
    expect(rows[0]).toMatchObject({ status: 'out-of-tolerance', nextDue: '' });
    expect(rows[1]).toMatchObject({
      status: 'overdue',
      nextDue: '',
      action: 'never validly calibrated: withdraw until calibrated',
    });

    const pdf = await generate('admin', { type: 'due-list', from: TODAY, to, format: 'pdf' });
    const { text } = render('due-list', pdf.file.bytes);
    expect(text).toMatch(/FLOW-CELL-07\s+flow cell\s+plant-1\s+due-soon/);
    expect(text).toContain(due);
    expect(text).toContain(
      '1 out of tolerance, 61 overdue (61 never validly calibrated), 1 in their recall lead time',
    );
  });

  it('lists out-of-tolerance events with as-found readings, suspect records and their case decisions', async () => {
    const failed = (await call(token, 'GET', '/equipment/PT-RAIL-03/calibrations')).body.items.find(
      (c: { asFoundResult: string }) => c.asFoundResult === 'fail',
    );
    const kase = (await call(token, 'GET', '/oot-cases?equipment=PT-RAIL-03')).body.items[0];
    expect(kase).toMatchObject({
      calibrationId: failed.id,
      state: 'open',
      progress: { suspect: 3, decided: 0 },
    });
    const decision = (items: string[]) => ({
      scope: 'part',
      items,
      impact: 'possible-impact',
      assessment: 'rail pressure read 6.25 bar high: the leak test of these parts may have passed wrongly',
      disposition: 're-test',
      signature: { password: PW, meaning: 'decided' },
    });
    // Decisions: admins and managers (calibrations:disposition); not another tenant's case.
    expect(
      (await call('technician', 'POST', `/oot-cases/${kase.id}/decisions`, decision(['P-1']))).status,
    ).toBe(403);
    expect(
      (await call('globex-admin', 'POST', `/oot-cases/${kase.id}/decisions`, decision(['P-1']))).status,
    ).toBe(404);
    const bad = await call('manager', 'POST', `/oot-cases/${kase.id}/decisions`, {
      ...decision(['P-1']),
      disposition: 'burn',
      impact: 'maybe',
      extra: 1,
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual([
      '',
      'disposition',
      'impact',
    ]);
    const stranger = await call(
      'manager',
      'POST',
      `/oot-cases/${kase.id}/decisions`,
      decision(['P-1', 'P-9']),
    );
    expect(stranger.status).toBe(400);
    expect(stranger.body.errors[0].message).toContain('P-9');
    const ok = await call('manager', 'POST', `/oot-cases/${kase.id}/decisions`, decision(['P-1', 'P-2']));
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    expect(ok.body.decisions.map((d: { item: string }) => d.item)).toEqual(['P-1', 'P-2']);
    expect(ok.body.decisions[0]).toMatchObject({
      disposition: 're-test',
      by: { email: 'manager@acme.example' },
    });
    // Every suspect record has a decision and PT-RAIL-03 passed again: the case is closed.
    expect(ok.body.case).toMatchObject({
      state: 'closed',
      closedReason: 'decided',
      progress: { undecided: 0 },
    });
    const told = await call('manager', 'POST', `/oot-cases/${kase.id}/notifications`, {
      customer: 'Globex Engines',
      contact: 'J. Doe, supplier quality',
      notifiedAt: at(1),
      method: 'email',
      reference: '8D-2291',
      signature: { password: PW, meaning: 'notified' },
    });
    expect(told.status, told.text).toBe(201);

    const json = await generate('auditor', {
      type: 'out-of-tolerance',
      from: FROM,
      to: TODAY,
      format: 'json',
    });
    expect(json.file.headers.get('content-type')).toContain('application/json');
    const doc = JSON.parse(json.file.bytes.toString('utf8'));
    expect(doc.report).toMatchObject({
      type: 'out-of-tolerance',
      tenant: { id: 'acme' },
      period: { from: FROM, to: TODAY },
    });
    expect(doc.report.summary).toMatchObject({
      events: 2,
      suspectRecords: 7,
      decidedRecords: 3,
      undecidedRecords: 4,
      customerNotifications: 1,
      casesClosed: 1,
      openWindows: 1,
    });
    const [rig, pt] = doc.sections.events;
    expect(rig).toMatchObject({
      equipment: 'RIG-FLOW-01',
      asFoundResult: 'fail',
      windowStart: null,
      windowOpen: true,
      suspectRecords: 4,
      caseState: 'open',
      decidedRecords: 0,
      customerNotifications: 0,
    });
    expect(pt).toMatchObject({
      equipment: 'PT-RAIL-03',
      calibrationId: failed.id,
      windowStart: at(200),
      windowEnd: at(10),
      windowOpen: false,
      suspectRecords: 3,
      caseState: 'closed',
      decidedRecords: 3,
      dispositions: 're-test 3',
      customerNotifications: 1,
    });
    expect(doc.sections.readings).toContainEqual(
      expect.objectContaining({
        equipment: 'PT-RAIL-03',
        asFound: 806.25,
        error: 6.25,
        asFoundResult: 'fail',
        asLeft: 800.1,
      }),
    );
    const suspects = doc.sections.suspectRecords.filter(
      (r: { failedEquipment: string }) => r.failedEquipment === 'PT-RAIL-03',
    );
    expect(
      suspects.map((r: { observedAt: string; via: string; kind: string }) => [r.observedAt, r.kind, r.via]),
    ).toEqual([
      [at(150), 'inspection', 'gauge'],
      [at(120), 'usage', 'equipment'],
      [at(100), 'inspection', 'gauge'],
    ]);
    expect(suspects[0]).toMatchObject({
      partSerial: 'P-1',
      workOrder: 'WO-7781',
      operator: 'op-4471',
      edge: edgeId,
      seq: 4,
    });

    const csv = await generate('auditor', { type: 'out-of-tolerance', from: FROM, to: TODAY, format: 'csv' });
    const rows = csvRows(csv.file.bytes);
    expect(rows).toHaveLength(7);
    expect(rows.filter((r) => r.equipment === 'PT-RAIL-03').map((r) => r.partSerial)).toEqual([
      'P-1',
      'P-1',
      'P-2',
    ]);
    expect(
      rows.every(
        (r) =>
          r.equipment !== 'PT-RAIL-03' || (r.disposition === 're-test' && r.customerNotifications === '1'),
      ),
    ).toBe(true);

    const pdf = await generate('auditor', { type: 'out-of-tolerance', from: FROM, to: TODAY, format: 'pdf' });
    const { text } = render('out-of-tolerance', pdf.file.bytes);
    expect(text).toContain(
      '2 out-of-tolerance calibrations; 7 suspect usage and inspection records, 3 with a signed decision (4 without); 1 customer notifications; 1 of 2 cases closed; 1 windows still open.',
    );
    expect(text).toContain('806.25');
    expect(text).toContain('re-test');
    expect(text).toMatch(/Suspect records made with PT-RAIL-03 \(3 rows\)/);
    expect(text).toMatch(/Suspect records made with RIG-FLOW-01 \(4 rows\)/);
    expect(text).toContain(`${edgeId}:4`);
    expect(text).toContain('P-3');
    expect(text).toContain('none yet');
  });

  it('reviews access: roles, site scopes, MFA, last sign-in, disabled accounts', async () => {
    // Sign-ins carry the wall clock: the period runs to its day, whatever day the run reached.
    const to = dateOf(new Date().toISOString());
    const csv = await generate('admin', { type: 'access-review', from: FROM, to, format: 'csv' });
    const users = Object.fromEntries(csvRows(csv.file.bytes).map((r) => [r.email, r]));
    expect(Object.keys(users).sort()).toEqual([
      'admin@acme.example',
      'auditor@acme.example',
      'leaver@acme.example',
      'manager@acme.example',
      'new-hire@acme.example',
      'scoped-auditor@acme.example',
      'technician@acme.example',
    ]);
    expect(users['scoped-auditor@acme.example']).toMatchObject({
      role: 'auditor',
      sites: 'plant-2',
      status: 'active',
      mfa: 'none',
    });
    expect(users['leaver@acme.example']).toMatchObject({ status: 'disabled', signInsInPeriod: '1' });
    expect(users['leaver@acme.example']!.disabledAt).toMatch(/^\d{4}-/);
    // Signed in during the setup (a timestamp stored to the second at least).
    const lastSignIn = Date.parse(users['admin@acme.example']!.lastSignInAt);
    expect(lastSignIn).toBeGreaterThanOrEqual(signInsFrom - 1000);
    expect(lastSignIn).toBeLessThanOrEqual(Date.now());
    // An account made today that never signed in is not dormant: 90 days count from its creation.
    expect(users['new-hire@acme.example']!.lastSignInAt).toBe('');
    const pdf = await generate('admin', { type: 'access-review', from: FROM, to, format: 'pdf' });
    const { text } = render('access-review', pdf.file.bytes);
    expect(text).toContain('6 active and 1 disabled accounts; MFA on 0 of 6 active accounts');
    expect(text).toContain('0 active accounts have not signed in for 90 days');
    expect(text).toMatch(/leaver@acme\.example\s+technician\s+all\s+disabled/);
    expect(text).toContain('API tokens (service accounts) (1 row)');
    expect(text).toContain('user.disable');
    expect(text).not.toContain('globex');
  });

  it('lists who opened export-controlled items; API tokens may not read that report', async () => {
    const { report, file } = await generate('auditor', {
      type: 'export-access',
      from: FROM,
      to: TODAY,
      format: 'pdf',
    });
    const { text } = render('export-access', file.bytes);
    expect(text).toContain('2 accesses to ITAR/EAR-flagged items by 2 users');
    expect(text).toMatch(
      /admin@acme\.example\s+admin\s+equipment RIG-FLOW-01\s+ITAR\s+3A001\s+10\.1\.2\.3\s+GET \/equipment\/\{tag\}/,
    );
    expect(text).toContain('auditor@acme.example');
    expect(text).not.toContain('GLOBEX');
    expect(text).not.toContain('192.0.2.99');
    expect((await download(token, report.id)).status).toBe(404);
    expect((await call(token, 'GET', '/reports')).body.items.map((r: { id: string }) => r.id)).not.toContain(
      report.id,
    );
  });

  it('allows only admins and auditors to generate; API tokens read and download', async () => {
    const body = { type: 'integrity', from: FROM, to: TODAY, format: 'json' };
    for (const who of ['manager', 'technician']) {
      const r = await call(who, 'POST', '/reports', body);
      expect(r.status).toBe(403);
      expect(r.body.code).toBe('CLOUD_FORBIDDEN');
      expect((await call(who, 'GET', '/reports')).status).toBe(403);
      expect((await call(who, 'GET', '/compliance/clauses')).status).toBe(403);
    }
    const t = await call(token, 'POST', '/reports', body);
    expect(t.status).toBe(403);
    const list = await call(token, 'GET', '/reports');
    expect(list.status).toBe(200);
    const ids = list.body.items.map((r: { id: string }) => r.id);
    expect(ids.length).toBeGreaterThan(5);
    const times = list.body.items.map((r: { requestedAt: string }) => r.requestedAt);
    expect(times).toEqual([...times].sort().reverse());
    const register = list.body.items.find(
      (r: { type: string; format: string; siteId: string | null }) =>
        r.type === 'calibration-register' && r.format === 'pdf' && r.siteId === null,
    );
    const dl = await download(token, register.id);
    expect(dl.status).toBe(200);
    expect(createHash('sha256').update(dl.bytes).digest('hex')).toBe(register.file.sha256);
    // A caller limited to a site names it, and sees only that site's reports.
    expect((await call('scoped-auditor', 'POST', '/reports', body)).status).toBe(403);
    const scoped = await generate('scoped-auditor', { ...body, siteId: 'plant-2' });
    const seen = (await call('scoped-auditor', 'GET', '/reports')).body.items;
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((r: { siteId: string }) => r.siteId === 'plant-2')).toBe(true);
    expect(seen.map((r: { id: string }) => r.id)).toContain(scoped.report.id);
    expect((await call('scoped-auditor', 'GET', `/reports/${register.id}`)).status).toBe(404);
    // Bad requests change nothing.
    const before = (await call('admin', 'GET', '/reports?limit=200')).body.items.length;
    for (const [b, paths] of [
      [{ type: 'nope', from: 'x', to: TODAY, format: 'doc' }, ['format', 'from', 'type']],
      [{ ...body, extra: true }, ['']],
      [{ ...body, from: TODAY, to: FROM }, ['to']],
      [{ ...body, siteId: 'g-1' }, ['siteId']],
    ] as const) {
      const r = await call('admin', 'POST', '/reports', b);
      expect(r.status, JSON.stringify(b)).toBe(400);
      expect(r.type).toContain('application/problem+json');
      expect(r.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(paths);
    }
    expect((await call('admin', 'GET', '/reports?limit=200')).body.items.length).toBe(before);
    expect((await call('admin', 'GET', '/reports/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await call('admin', 'GET', '/reports?limit=0')).status).toBe(400);
  });

  it('never puts another tenant’s data in a report, nor shows one tenant’s reports to another', async () => {
    const g = await generate('globex-admin', {
      type: 'calibration-register',
      from: FROM,
      to: TODAY,
      format: 'csv',
    });
    expect(csvRows(g.file.bytes).map((r) => r.tag)).toEqual(['GLOBEX-SECRET-01']);
    const gx = await generate('globex-admin', {
      type: 'export-access',
      from: FROM,
      to: TODAY,
      format: 'json',
    });
    const gdoc = JSON.parse(gx.file.bytes.toString('utf8'));
    expect(gdoc.sections.accesses.map((a: { objectId: string }) => a.objectId)).toEqual(['GLOBEX-SECRET-01']);
    expect(gdoc.report.sources.edges).toEqual([]);
    const gi = await generate('globex-admin', { type: 'integrity', from: FROM, to: TODAY, format: 'json' });
    expect(JSON.parse(gi.file.bytes.toString('utf8')).sections.logs.map((l: { id: string }) => l.id)).toEqual(
      ['rigtrace-cloud/audit/globex'],
    );
    const ga = await generate('globex-admin', {
      type: 'access-review',
      from: FROM,
      to: TODAY,
      format: 'csv',
    });
    expect(
      csvRows(ga.file.bytes)
        .map((r) => r.email)
        .sort(),
    ).toEqual(['admin@globex.example', 'tech@globex.example']);
    // Each tenant sees only its own reports; another's id is 404, its file too.
    const acmeIds = (await call('admin', 'GET', '/reports?limit=200')).body.items.map(
      (r: { id: string }) => r.id,
    );
    const globexIds = (await call('globex-admin', 'GET', '/reports?limit=200')).body.items.map(
      (r: { id: string }) => r.id,
    );
    expect(globexIds.sort()).toEqual([g.report.id, gx.report.id, gi.report.id, ga.report.id].sort());
    expect(acmeIds.filter((id: string) => globexIds.includes(id))).toEqual([]);
    expect((await call('globex-admin', 'GET', `/reports/${acmeIds[0]}`)).status).toBe(404);
    expect((await download(globexToken, acmeIds[0])).status).toBe(404);
    const clauses = await call(globexToken, 'GET', '/compliance/clauses');
    expect(clauses.body.items.find((c: { clause: string }) => c.clause === '7.1.5').evidence).toBe(
      '0 of 1 instruments in calibration, 1 overdue, 0 out of tolerance, 0 due soon',
    );
  });

  it('maps clauses to live evidence and says what is not covered', async () => {
    const r = await call('auditor', 'GET', '/compliance/clauses');
    expect(r.status).toBe(200);
    const items = r.body.items as {
      standard: string;
      clause: string;
      coverage: string;
      evidence: string;
      report: string | null;
      figures: Record<string, unknown>;
      note: string;
    }[];
    const by = (std: string, clause: string) =>
      items.find((i) => i.standard.startsWith(std) && i.clause === clause)!;
    expect(by('ISO 9001', '7.1.5')).toMatchObject({
      coverage: 'covered',
      report: 'calibration-register',
      evidence: '3 of 65 instruments in calibration, 61 overdue, 1 out of tolerance, 1 due soon',
    });
    expect(by('AS9100D', '7.1.5.2').coverage).toBe('covered');
    expect(by('ISO/IEC 17025', '6.4.13')).toMatchObject({
      coverage: 'covered',
      figures: { maintenanceEvents12Months: 0, maintenancePlans: 0, outOfService: 0 },
    });
    expect(by('ISO/IEC 17025', '6.4.13').evidence).toContain('0 maintenance events in the last 12 months');
    expect(by('IATF 16949', '7.1.5.2.1')).toMatchObject({
      report: 'out-of-tolerance',
      evidence:
        '2 out-of-tolerance calibrations in the last 12 months, 2 cases (1 closed); 3 of 7 suspect records with a signed decision; 1 customer notifications',
    });
    for (const clause of ['3.1', '3.3', '3.5']) expect(by('NIST', clause).report).not.toBeNull();
    expect(by('NIST', '3.5').evidence).toBe('MFA on 0 of 6 active accounts; required by policy for no role');
    expect(by('SOC 2', 'CC6').report).toBe('access-review');
    expect(by('SOC 2', 'CC7').report).toBe('integrity');
    const notCovered = items.filter((i) => i.coverage === 'not-covered');
    expect(notCovered.length).toBeGreaterThanOrEqual(2);
    expect(notCovered.every((i) => i.report === null && i.note.length > 0)).toBe(true);
    const site = await call('auditor', 'GET', '/compliance/clauses?siteId=plant-1');
    expect(site.body.items[0].evidence).toBe(
      '3 of 3 instruments in calibration, 0 overdue, 0 out of tolerance, 1 due soon',
    );
    expect((await call('auditor', 'GET', '/compliance/clauses?siteId=g-1')).status).toBe(404);
    expect((await call('auditor', 'GET', '/compliance/clauses?bogus=1')).status).toBe(400);
    expect((await call('scoped-auditor', 'GET', '/compliance/clauses')).status).toBe(403);
  });

  it('generates from the command line, with the same flags and validation style', async () => {
    const env = { ...process.env, ...storage.env };
    // Asynchronously: the cloud under test runs in this process and must keep serving meanwhile.
    const cli = (...args: string[]) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          ['--conditions=rigtrace-source', '--import', 'tsx', 'cloud/src/cli.ts', ...args],
          { cwd: repoRoot, encoding: 'utf8', env, timeout: 60_000 },
          (err, stdout, stderr) =>
            resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
      });
    const bad = await cli(
      'report',
      '--tenant',
      'acme',
      '--type',
      'nope',
      '--from',
      TODAY,
      '--frm=x',
      '--data-dir',
      storage.dataDir,
    );
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim().split('\n')).toEqual([
      'rigtrace-cloud: unknown option --frm',
      'rigtrace-cloud: --to is required',
      'rigtrace-cloud: --format is required',
      'rigtrace-cloud: --out is required',
      expect.stringContaining('rigtrace-cloud: --type must be one of calibration-register'),
      expect.stringContaining('usage: rigtrace-cloud report'),
    ]);
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'rt-cli-report-')), 'register.csv');
    const ok = await cli(
      'report',
      '--tenant',
      'acme',
      '--type',
      'calibration-register',
      '--from',
      FROM,
      '--to',
      TODAY,
      '--site',
      'plant-1',
      '--format',
      'csv',
      '--out',
      out,
      '--data-dir',
      storage.dataDir,
    );
    expect(ok.status, ok.stderr).toBe(0);
    const line = JSON.parse(ok.stdout);
    const bytes = readFileSync(out);
    expect(line.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(csvRows(bytes).map((r) => r.tag)).toEqual(['FLOW-CELL-07', 'PT-RAIL-03', 'STD-DWT-02']);
    expect(
      (
        await cli(
          'report',
          '--tenant',
          'nobody',
          '--type',
          'integrity',
          '--from',
          FROM,
          '--to',
          TODAY,
          '--format',
          'json',
          '--out',
          out,
          '--data-dir',
          storage.dataDir,
        )
      ).stderr,
    ).toContain('no tenant nobody');
    const audit = await call('auditor', 'GET', '/audit?limit=1000');
    const cliEntries = audit.body.items
      .map((i: { entry: { actor: { id: string }; action: string; after?: { sha256?: string } } }) => i.entry)
      .filter((e: { actor: { id: string } }) => e.actor.id === 'cli');
    expect(cliEntries.map((e: { action: string }) => e.action)).toEqual([
      'report.request',
      'report.complete',
    ]);
    expect(cliEntries[1].after.sha256).toBe(line.sha256);
  });

  it('says in the integrity statement when a stored record was changed, naming the edge and seq', async () => {
    const clean = await generate('auditor', { type: 'integrity', from: FROM, to: TODAY, format: 'pdf' });
    expect(clean.report.summary).toMatchObject({ ok: true, findings: [], records: 10 });
    expect(render('integrity-clean', clean.file.bytes).text).toContain('No tampering detected.');
    // The database owner rewrites record 4 (an inspection) behind the application's back.
    const sql = "UPDATE records SET json = replace(json, 'op-4471', 'op-9999') WHERE edge_id = ? AND seq = 4";
    if (backend === 'postgres') {
      await asOwner(storage.databaseUrl!, sql.replace('?', '$1'), [edgeId]);
    } else {
      const db = await SqliteDb.open(path.join(storage.dataDir, 'cloud.sqlite'));
      expect((await db.run(sql, [edgeId])).changes).toBe(1);
      await db.close();
    }
    const { report, file } = await generate('auditor', {
      type: 'integrity',
      from: FROM,
      to: TODAY,
      format: 'pdf',
    });
    expect(report.summary).toMatchObject({
      ok: false,
      auditLog: { ok: true },
      edges: [{ edge: edgeId, ok: false, problemSeq: 4, problemCode: 'LEAF_HASH_MISMATCH' }],
    });
    const { text } = render('integrity-tampered', file.bytes);
    expect(text).toContain('TAMPERING DETECTED');
    expect(text.replace(/\s+/g, ' ')).toContain(
      `edge line-3 (${edgeId}) record seq 4: record 4 does not hash to its stored leaf hash`,
    );
    expect(text).toMatch(/TAMPERED/);
    const json = await generate('auditor', { type: 'integrity', from: FROM, to: TODAY, format: 'csv' });
    const logs = csvRows(json.file.bytes);
    expect(logs.find((l) => l.log === 'audit')).toMatchObject({ result: 'verified' });
    expect(logs.find((l) => l.id === edgeId)).toMatchObject({
      result: 'TAMPERED',
      problemSeq: '4',
      verifiedRecords: '3',
    });
    const clauses = await call('auditor', 'GET', '/compliance/clauses');
    expect(clauses.body.items.find((c: { clause: string }) => c.clause === '3.3').evidence).toContain(
      'TAMPERING DETECTED',
    );
  });

  it('reads a period’s dates as the site’s local days (a plant in Asia/Kolkata)', async () => {
    // Last: the records below would change the figures the tests above count.
    const put = await call('admin', 'PUT', '/sites/plant-2', { timeZone: 'Asia/Kolkata' });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    // A local day of 20 days ago; Kolkata is UTC+5:30 all year, so its day starts at 18:30 UTC the day before.
    const day = dateOf(new Date(Date.parse(at(20)) + 5.5 * 3_600_000).toISOString());
    const midnight = Date.parse(`${day}T00:00:00.000Z`) - 5.5 * 3_600_000;
    const iso = (ms: number) => new Date(ms).toISOString();
    const accepted = await edge.ingest([
      f.cal('GAUGE-NEVER-09', iso(midnight + 15 * 60_000), 'fail'), // 00:15 local: the day, the UTC day before
      f.cal('GAUGE-NEVER-09', iso(midnight + DAY - 15 * 60_000), 'fail'), // 23:45 local: the day, the same UTC day
      f.cal('GAUGE-NEVER-09', iso(midnight + DAY + 15 * 60_000), 'fail'), // 00:15 the next local day, the same UTC day
    ]);
    expect(accepted.accepted).toBe(3);

    const { file } = await generate('auditor', {
      type: 'out-of-tolerance',
      siteId: 'plant-2',
      from: day,
      to: day,
      format: 'json',
    });
    const doc = JSON.parse(file.bytes.toString('utf8'));
    expect(
      doc.sections.events
        .filter((e: { equipment: string }) => e.equipment === 'GAUGE-NEVER-09')
        .map((e: { calibratedAt: string }) => e.calibratedAt),
    ).toEqual([iso(midnight + 15 * 60_000), iso(midnight + DAY - 15 * 60_000)]);
    expect(doc.report.period).toEqual({
      from: day,
      to: day,
      timeZone: 'Asia/Kolkata',
      start: iso(midnight),
      end: iso(midnight + DAY),
    });
    // The PDF names the zone with the period.
    const pdf = await generate('auditor', {
      type: 'out-of-tolerance',
      siteId: 'plant-2',
      from: day,
      to: day,
      format: 'pdf',
    });
    expect(render('period-kolkata', pdf.file.bytes).text).toContain(`${day} to ${day} (Asia/Kolkata)`);
    // Tenant-wide, with plant-1 still in UTC: the tenant's sites share no zone, so each site's
    // rows are cut on its own days (UTC for rows of no site).
    const all = await generate('auditor', { type: 'out-of-tolerance', from: day, to: day, format: 'json' });
    const wide = JSON.parse(all.file.bytes.toString('utf8'));
    expect(wide.report.period).toMatchObject({
      timeZone: 'UTC',
      start: `${day}T00:00:00.000Z`,
      sites: expect.arrayContaining([
        { siteId: 'plant-2', timeZone: 'Asia/Kolkata', start: iso(midnight), end: iso(midnight + DAY) },
      ]),
    });
    expect(
      wide.sections.events
        .filter((e: { equipment: string }) => e.equipment === 'GAUGE-NEVER-09')
        .map((e: { calibratedAt: string }) => e.calibratedAt),
    ).toEqual([iso(midnight + 15 * 60_000), iso(midnight + DAY - 15 * 60_000)]);
  });

  it('leaves suspect records naming a flagged gauge out of an uncleared requester’s out-of-tolerance report', async () => {
    // After the others: the flag changes what they count. FLOW-CELL-07 (plant 1) becomes
    // EAR-controlled; it is a gauge of RIG-FLOW-01's inspections P-1 (seq 4) and P-3 (seq 10),
    // which are suspect records of the failed RIG-FLOW-01 and (P-1) of the failed PT-RAIL-03.
    // Export clearance is given by another admin: the technician, to flag; the auditor, later.
    const users = (await call('admin', 'GET', '/users')).body.items as { id: string; email: string }[];
    const idOf = (who: string) => users.find((u) => u.email === `${who}@acme.example`)!.id;
    const clear = async (who: string) =>
      expect((await call('admin', 'PUT', `/users/${idOf(who)}/us-person`, { usPerson: true })).status).toBe(
        200,
      );
    await clear('technician');
    const flag = await call('technician', 'PUT', '/equipment/FLOW-CELL-07', {
      siteId: 'plant-1',
      type: 'flow cell',
      make: 'Keller',
      model: 'PA-33X',
      serial: 'SN-FLOW-CELL-07',
      intervalDays: 90,
      exportControl: { regime: 'EAR', eccn: '9E610.a' },
    });
    expect(flag.status, JSON.stringify(flag.body)).toBe(200);
    const suspects = async (who: string) => {
      const { file } = await generate(who, {
        type: 'out-of-tolerance',
        from: FROM,
        to: TODAY,
        format: 'json',
      });
      const doc = JSON.parse(file.bytes.toString('utf8'));
      const bySection = (tag: string) =>
        doc.sections.suspectRecords
          .filter((r: { failedEquipment: string }) => r.failedEquipment === tag)
          .map((r: { seq: number }) => r.seq);
      const counts = Object.fromEntries(
        doc.sections.events.map((e: { equipment: string; suspectRecords: number }) => [
          e.equipment,
          e.suspectRecords,
        ]),
      );
      return { rig: bySection('RIG-FLOW-01'), pt: bySection('PT-RAIL-03'), counts };
    };
    // The auditor is not a US person: neither record, in the rows nor in the counts.
    const uncleared = await suspects('auditor');
    expect(uncleared.rig).toEqual([2, 6]);
    expect(uncleared.pt).toEqual([5, 6]);
    expect(uncleared.counts).toMatchObject({ 'RIG-FLOW-01': 2, 'PT-RAIL-03': 2 });
    // Cleared (and signed in again), the auditor gets them, and the export-access log names them,
    // served by the report.
    await clear('auditor');
    s.auditor = await signIn(cloud.url, 'acme', 'auditor@acme.example', PW);
    const cleared = await suspects('auditor');
    expect(cleared.rig).toEqual([2, 4, 6, 10]);
    expect(cleared.pt).toEqual([4, 5, 6]);
    expect(cleared.counts).toMatchObject({ 'RIG-FLOW-01': 4, 'PT-RAIL-03': 3 });
    const log = await call('auditor', 'GET', '/export-access?limit=1000');
    expect(log.status).toBe(200);
    expect(
      log.body.items
        .filter((x: { route: string }) => x.route === 'POST /reports')
        .map((x: { objectId: string; regime: string; userId: string }) => [x.objectId, x.regime, x.userId])
        .sort(),
    ).toEqual([
      [`${edgeId}:10`, 'EAR', idOf('auditor')],
      [`${edgeId}:4`, 'EAR', idOf('auditor')],
      [`${edgeId}:4`, 'EAR', idOf('auditor')],
    ]);
  });
  it('lists in a site-scoped requester’s out-of-tolerance report only the suspect records of its sites', async () => {
    // RIG-FLOW-01 (plant 2) failed; its records so far came from line-3, an edge of plant 1. An
    // edge of plant 2 now sends one more, made with it and with PT-RAIL-03 (plant 1) as a gauge:
    // both instruments were used on both sites.
    const edge2 = await new TestEdge(cloud.url).enroll(enrollPlant2, 'line-9');
    const g = records(() => edge2.id);
    expect((await edge2.ingest([g.inspection('RIG-FLOW-01', at(30), 'P-9', ['PT-RAIL-03'])])).accepted).toBe(
      1,
    );
    const plant2Record = `${edge2.id}:1`;
    const report = async (who: string, siteId?: string) => {
      const { file } = await generate(who, {
        type: 'out-of-tolerance',
        from: FROM,
        to: TODAY,
        format: 'json',
        ...(siteId ? { siteId } : {}),
      });
      const doc = JSON.parse(file.bytes.toString('utf8'));
      const rows = (tag: string) =>
        doc.sections.suspectRecords
          .filter((r: { failedEquipment: string }) => r.failedEquipment === tag)
          .map((r: { edge: string; seq: number; siteId: string }) => [`${r.edge}:${r.seq}`, r.siteId]);
      const events = Object.fromEntries(
        doc.sections.events.map(
          (e: { equipment: string; suspectRecords: number; undecidedRecords: number }) => [
            e.equipment,
            [e.suspectRecords, e.undecidedRecords],
          ],
        ),
      );
      return { rig: rows('RIG-FLOW-01'), pt: rows('PT-RAIL-03'), events, summary: doc.report.summary };
    };
    // The auditor limited to plant 2: RIG-FLOW-01's event, with only the record plant 2's edge
    // sent (rows and counts); PT-RAIL-03's event is plant 1's, not in its report.
    const scoped = await report('scoped-auditor', 'plant-2');
    expect(scoped.rig).toEqual([[plant2Record, 'plant-2']]);
    expect(scoped.pt).toEqual([]);
    expect(scoped.events['RIG-FLOW-01']).toEqual([1, 1]);
    expect(scoped.events).not.toHaveProperty('PT-RAIL-03');
    expect(scoped.summary).toMatchObject({ suspectRecords: 1, undecidedRecords: 1 });
    // A tenant-wide requester gets the records of both sites, in both events.
    const wide = await report('auditor');
    for (const rows of [wide.rig, wide.pt]) {
      expect(rows).toContainEqual([plant2Record, 'plant-2']);
      expect(rows).toContainEqual([expect.stringMatching(new RegExp(`^${edgeId}:`)), 'plant-1']);
    }
    expect(wide.rig).toContainEqual([`${edgeId}:2`, 'plant-1']);
    expect(wide.events['RIG-FLOW-01'][0]).toBe(wide.rig.length);
    expect(wide.events['PT-RAIL-03'][0]).toBe(wide.pt.length);
    // A tenant-wide requester's report of plant 2 is read as plant 2 too.
    const site = await report('auditor', 'plant-2');
    expect(site.rig).toEqual([[plant2Record, 'plant-2']]);
    expect(site.events['RIG-FLOW-01']).toEqual([1, 1]);
    expect(site.summary).toMatchObject({ suspectRecords: 1 });
    // The export-access report too: the plant-2 auditor gets the accesses to what plant 2 holds
    // (RIG-FLOW-01), not those to plant 1's records served by the reports above.
    const accesses = async (who: string, siteId?: string) => {
      const { file } = await generate(who, {
        type: 'export-access',
        from: FROM,
        to: TODAY,
        format: 'json',
        ...(siteId ? { siteId } : {}),
      });
      const doc = JSON.parse(file.bytes.toString('utf8'));
      return {
        ids: doc.sections.accesses.map((a: { objectId: string }) => a.objectId) as string[],
        count: doc.report.summary.accesses as number,
      };
    };
    const scopedLog = await accesses('scoped-auditor', 'plant-2');
    expect(scopedLog).toEqual({ ids: ['RIG-FLOW-01', 'RIG-FLOW-01'], count: 2 });
    const wideLog = await accesses('auditor');
    expect(wideLog.ids).toContain(`${edgeId}:4`);
    expect(wideLog.count).toBe(wideLog.ids.length);
  });
});
