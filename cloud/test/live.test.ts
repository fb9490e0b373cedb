import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '@rigtrace/protocols/testing';
import { createAccounts } from '../src/access/accounts.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { localDay, startOfLocalDay } from '../src/platform/time-zone.js';
import { Witness } from '../src/platform/witness.js';
import { openSocket, signIn, TestEdge, type TestSocket } from './helpers/live.js';
import { BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

const PW = 'live updates passphrase';
const ago = (ms: number) => new Date(Date.now() - ms).toISOString();

describe.each(BACKENDS)('live updates on %s', (backend) => {
  let storage: TestStorage;
  let cloud: RunningCloud;
  let overrides: Record<string, string>;
  const tokens: Record<string, string> = {};
  const sessions: Record<string, { cookie: string; csrf: string; state: string }> = {};
  const sockets: TestSocket[] = [];
  let edge1: TestEdge; // acme / plant-1
  let edge2: TestEdge; // acme / plant-2
  let edgeO: TestEdge; // other / o-1

  const open = async (cookie: string | undefined, headers?: Record<string, string>) => {
    const s = await openSocket(cloud.url, cookie, headers);
    sockets.push(s);
    return s;
  };
  const api = async (p: string, auth: { cookie?: string; token?: string }, init: RequestInit = {}) => {
    const res = await fetch(`${cloud.url}${p}`, {
      ...init,
      headers: {
        ...(auth.cookie ? { cookie: auth.cookie } : {}),
        ...(auth.token ? { authorization: `Bearer ${auth.token}` } : {}),
        ...(init.body ? { 'content-type': 'application/json' } : {}),
        ...(init.headers as Record<string, string> | undefined),
      },
    });
    const text = await res.text();
    return {
      status: res.status,
      type: res.headers.get('content-type') ?? '',
      body: text ? JSON.parse(text) : {},
    };
  };
  /** POST `/api/v1{p}` as the tenant's admin. */
  const post = (p: string, body: unknown) =>
    api(
      `/api/v1${p}`,
      { cookie: sessions.admin!.cookie },
      { method: 'POST', headers: { 'x-csrf-token': sessions.admin!.csrf }, body: JSON.stringify(body) },
    );

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    overrides = { ...storage.overrides, port: '0', liveRecheckSeconds: '1', remindersScheduler: 'off' };
    const cfg = loadCloudConfig({}, overrides);
    const store = await openStore(cfg);
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createSite('acme', 'plant-1', 'Plant 1');
    await store.tenancy.createSite('acme', 'plant-2', 'Plant 2');
    await store.tenancy.createSite('acme', 'plant-3', 'Plant 3');
    await store.tenancy.createTenant('other', 'Other');
    await store.tenancy.createSite('other', 'o-1', 'O 1');
    await store.tenancy.createTenant('strict', 'Strict');
    tokens.acme = await store.tenancy.createApiToken('acme', 'reader');
    tokens.enroll1 = (await store.tenancy.createEnrollmentToken('acme', 'plant-1', 3600_000)).token;
    tokens.enroll2 = (await store.tenancy.createEnrollmentToken('acme', 'plant-2', 3600_000)).token;
    tokens.enroll3 = (await store.tenancy.createEnrollmentToken('acme', 'plant-3', 3600_000)).token;
    tokens.enrollO = (await store.tenancy.createEnrollmentToken('other', 'o-1', 3600_000)).token;
    const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
    const by = { actor: { type: 'system' as const, id: 'test' }, address: null };
    const user = (
      tenant: string,
      email: string,
      role: 'admin' | 'technician',
      sites?: string[],
      usPerson?: boolean,
    ) =>
      accounts.users.create(by, tenant, {
        email,
        role,
        password: PW,
        mustChangePassword: false,
        ...(sites ? { sites } : {}),
        ...(usPerson ? { usPerson } : {}),
      });
    await user('acme', 'admin@acme.example', 'admin');
    // Cleared for export-controlled equipment (a US person); admin@acme is not.
    await user('acme', 'cleared@acme.example', 'admin', undefined, true);
    await user('acme', 'scoped@acme.example', 'technician', ['plant-2']);
    await user('acme', 'leaver@acme.example', 'technician');
    await user('acme', 'idle@acme.example', 'technician');
    await user('other', 'admin@other.example', 'admin');
    await user('strict', 'admin@strict.example', 'admin');
    await user('strict', 'tech@strict.example', 'technician');
    await store.db.close();
    cloud = await startCloud(loadCloudConfig({}, overrides), pino({ level: 'silent' }));
    for (const [key, tenant, email] of [
      ['admin', 'acme', 'admin@acme.example'],
      ['cleared', 'acme', 'cleared@acme.example'],
      ['scoped', 'acme', 'scoped@acme.example'],
      ['leaver', 'acme', 'leaver@acme.example'],
      ['idle', 'acme', 'idle@acme.example'],
      ['other', 'other', 'admin@other.example'],
      ['strict', 'strict', 'admin@strict.example'],
    ] as const)
      sessions[key] = await signIn(cloud.url, tenant, email, PW);
    edge1 = await new TestEdge(cloud.url).enroll(tokens.enroll1, 'line-1');
    edge2 = await new TestEdge(cloud.url).enroll(tokens.enroll2, 'line-2');
    edgeO = await new TestEdge(cloud.url).enroll(tokens.enrollO, 'other-line');
    const gauge = await api(
      '/api/v1/equipment',
      { cookie: sessions.admin!.cookie },
      {
        method: 'POST',
        headers: { 'x-csrf-token': sessions.admin!.csrf },
        body: JSON.stringify({
          tag: 'GAUGE-1',
          siteId: 'plant-1',
          type: 'pressure gauge',
          intervalDays: 180,
        }),
      },
    );
    expect(gauge.status, JSON.stringify(gauge.body)).toBe(201);
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await cloud?.close();
    await storage?.cleanup();
  });

  it('accepts only complete sessions of this cloud, from its own origin', async () => {
    await expect(open(undefined)).rejects.toMatchObject({ code: 'CLOUD_UNAUTHENTICATED' });
    await expect(open(`rt_session=acme.${'A'.repeat(43)}`)).rejects.toMatchObject({
      code: 'CLOUD_UNAUTHENTICATED',
    });
    // A session waiting for its second step (MFA enrolment required for technicians here).
    const policy = await api(
      '/api/v1/security/policy',
      { cookie: sessions.strict!.cookie },
      {
        method: 'PUT',
        headers: { 'x-csrf-token': sessions.strict!.csrf },
        body: JSON.stringify({
          mfaRequiredRoles: ['technician'],
          idleTimeoutSeconds: 900,
          absoluteTimeoutSeconds: 43200,
        }),
      },
    );
    expect(policy.status).toBe(200);
    const pending = await signIn(cloud.url, 'strict', 'tech@strict.example', PW);
    expect(pending.state).not.toBe('active');
    await expect(open(pending.cookie)).rejects.toMatchObject({ code: 'CLOUD_UNAUTHENTICATED' });
    // A page of another origin cannot ride on the cookie.
    await expect(open(sessions.admin!.cookie, { origin: 'http://evil.example' })).rejects.toThrow();
    const ok = await open(sessions.admin!.cookie, { origin: cloud.url });
    expect(ok.socket.connected).toBe(true);
  });

  it('joins only sites the user may see, in their own tenant', async () => {
    const admin = await open(sessions.admin!.cookie);
    expect(await admin.subscribe('plant-1')).toEqual({ ok: true });
    expect(await admin.subscribe('o-1')).toEqual({ ok: false, error: 'CLOUD_NOT_FOUND' });
    expect(await admin.subscribe('no-such-site')).toEqual({ ok: false, error: 'CLOUD_NOT_FOUND' });
    expect(await admin.subscribe(42)).toEqual({ ok: false, error: 'CLOUD_VALIDATION' });
    expect(await admin.subscribe('site:acme:plant-1')).toEqual({ ok: false, error: 'CLOUD_NOT_FOUND' });
    const scoped = await open(sessions.scoped!.cookie);
    expect(await scoped.subscribe('plant-1')).toEqual({ ok: false, error: 'CLOUD_NOT_FOUND' });
    expect(await scoped.subscribe('plant-2')).toEqual({ ok: true });
    const other = await open(sessions.other!.cookie);
    expect(await other.subscribe('plant-1')).toEqual({ ok: false, error: 'CLOUD_NOT_FOUND' });
    expect(await other.subscribe('o-1')).toEqual({ ok: true });
    // A client naming a room directly gets nowhere: there is no such event.
    other.socket.emit('join', 'site:acme:plant-1');

    const t0 = Date.now() - 120_000;
    const at = (s: number) => new Date(t0 + s * 1000).toISOString();
    const sent = await edge1.send([
      edge1.telemetry('RIG-1', at(1), { railPressure: 1600.25, running: true }),
      edge1.usage('RIG-1', at(2), 'start', { operator: 'op-7', workOrder: 'WO-9', partSerial: 'P-1' }),
      edge1.telemetry('RIG-1', at(3), { railPressure: 1601.5, running: true }),
      edge1.inspection('RIG-1', at(4), 'P-1', 'pass'),
      edge1.calibration('GAUGE-1', at(5), 'pass'),
    ]);
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);

    const telemetry = await admin.next('telemetry');
    expect(telemetry.payload).toEqual({
      siteId: 'plant-1',
      edgeId: edge1.id,
      items: [
        {
          equipment: 'RIG-1',
          point: 'railPressure',
          value: 1601.5,
          unit: 'bar',
          quality: 'good',
          observedAt: at(3),
        },
        { equipment: 'RIG-1', point: 'running', value: true, unit: null, quality: 'good', observedAt: at(3) },
      ],
    });
    expect((await admin.next('rig')).payload).toEqual({
      siteId: 'plant-1',
      edgeId: edge1.id,
      equipment: 'RIG-1',
      kind: 'rig',
      state: 'running',
      observedAt: at(2),
      operator: 'op-7',
      workOrder: 'WO-9',
      partSerial: 'P-1',
    });
    expect((await admin.next('records')).payload).toEqual({
      siteId: 'plant-1',
      edgeId: edge1.id,
      counts: { calibration: 1, usage: 1, inspection: 1, telemetry: 2, event: 0 },
      lastSeq: 5,
    });
    expect((await admin.next('calibration')).payload).toEqual({
      siteId: 'plant-1',
      tag: 'GAUGE-1',
      calibrationId: `${edge1.id}:5`,
      passed: true,
    });
    expect((await admin.next('status')).payload).toEqual({
      siteId: 'plant-1',
      tag: 'GAUGE-1',
      from: 'overdue',
      to: 'current',
    });

    // Barriers: each socket's own site gets a batch; by the time it arrives, anything of
    // plant-1 (sent earlier, from the same process) would have arrived too.
    expect((await edge2.send([edge2.telemetry('RIG-2', at(6), { railPressure: 3 })])).status).toBe(200);
    expect((await edgeO.send([edgeO.telemetry('RIG-O', at(6), { railPressure: 4 })])).status).toBe(200);
    await scoped.next('records');
    await other.next('records');
    for (const s of [scoped, other]) {
      expect(s.received.every((r) => r.payload.siteId !== 'plant-1')).toBe(true);
      expect(s.received.map((r) => r.event).sort()).toEqual(['records', 'telemetry']);
    }
    expect(scoped.received.every((r) => r.payload.siteId === 'plant-2')).toBe(true);
    expect(other.received.every((r) => r.payload.siteId === 'o-1')).toBe(true);
    // And the admin, who follows plant-1 only, got nothing of plant-2.
    expect(admin.received.some((r) => r.payload.siteId === 'plant-2')).toBe(false);

    // A failing calibration: out of tolerance now.
    expect((await edge1.send([edge1.calibration('GAUGE-1', at(7), 'fail')])).status).toBe(200);
    expect((await admin.next('calibration', (p) => p.passed === false)).payload.calibrationId).toBe(
      `${edge1.id}:6`,
    );
    expect((await admin.next('status', (p) => p.to === 'out-of-tolerance')).payload.from).toBe('current');

    // An old buffer replayed late does not overwrite newer values or the rig's state, and is not
    // pushed as telemetry or as a change of state.
    const pushed = (event: string) => admin.received.filter((r) => r.event === event).length;
    const before = pushed('telemetry');
    const rigsBefore = pushed('rig');
    expect(
      (
        await edge1.send([
          edge1.telemetry('RIG-1', at(0), { railPressure: 1.5 }),
          edge1.usage('RIG-1', at(1), 'stop'),
        ])
      ).status,
    ).toBe(200);
    await admin.next('records', (p) => p.lastSeq === 8);
    expect(pushed('telemetry')).toBe(before);
    expect(pushed('rig')).toBe(rigsBefore);

    // Unsubscribed: no more plant-1 messages.
    expect(await admin.socket.timeout(5000).emitWithAck('unsubscribe', { siteId: 'plant-1' })).toEqual({
      ok: true,
    });
    const count = admin.received.length;
    expect((await edge1.send([edge1.usage('RIG-1', at(9), 'stop')])).status).toBe(200);
    const watcher = await open(sessions.admin!.cookie);
    expect(await watcher.subscribe('plant-1')).toEqual({ ok: true });
    expect((await edge1.send([edge1.usage('RIG-1', at(10), 'stop')])).status).toBe(200);
    await watcher.next('records', (p) => p.lastSeq === 10);
    expect(admin.received.length).toBe(count);

    // A rig's older usage with newer telemetry: its values and last seen are written, its state
    // is not, and no change of state is pushed.
    expect((await edge1.send([edge1.usage('RIG-3', at(20), 'start')])).status).toBe(200);
    await watcher.next('rig', (p) => p.equipment === 'RIG-3');
    expect(
      (await edge1.send([edge1.usage('RIG-3', at(15), 'stop'), edge1.telemetry('RIG-3', at(21), { x: 1 })]))
        .status,
    ).toBe(200);
    await watcher.next('records', (p) => p.lastSeq === 13);
    expect(watcher.received.filter((r) => r.event === 'rig' && r.payload.equipment === 'RIG-3')).toHaveLength(
      1,
    );
  });

  it('serves a snapshot of the site that survives a restart', async () => {
    const snap = await api('/api/v1/sites/plant-1/live', { cookie: sessions.admin!.cookie });
    expect(snap.status).toBe(200);
    const rig = snap.body.rigs.find((r: { equipment: string }) => r.equipment === 'RIG-1');
    expect(rig).toMatchObject({ edgeId: edge1.id, state: 'stopped' });
    expect(rig.values).toEqual([
      expect.objectContaining({ point: 'railPressure', value: 1601.5, unit: 'bar', quality: 'good' }),
      expect.objectContaining({ point: 'running', value: true, unit: null }),
    ]);
    expect(snap.body.rigs.map((r: { equipment: string }) => r.equipment)).not.toContain('RIG-2');
    expect(snap.body.today).toMatchObject({ inspections: 1, passed: 1, firstPassYield: 1 });
    const hours = snap.body.today.throughputPerHour as { hour: string; count: number }[];
    expect(hours.reduce((n, h) => n + h.count, 0)).toBe(1);
    expect(hours[0]!.hour).toBe(`${new Date().toISOString().slice(0, 10)}T00:00:00.000Z`);
    // The failed calibration of GAUGE-1 among the records opened an out-of-tolerance case.
    expect(snap.body.alerts.map((a: { kind: string; tag: string }) => [a.kind, a.tag])).toEqual([
      ['out-of-tolerance', 'GAUGE-1'],
    ]);

    // Site scoping and tenancy: the same 404 for another tenant's site, an unknown one and one not permitted.
    expect((await api('/api/v1/sites/plant-1/live', { token: tokens.acme })).status).toBe(200);
    for (const [p, auth] of [
      ['/api/v1/sites/o-1/live', { token: tokens.acme }],
      ['/api/v1/sites/nope/live', { token: tokens.acme }],
      ['/api/v1/sites/plant-1/live', { cookie: sessions.scoped!.cookie }],
      ['/api/v1/sites/plant-1/live', { cookie: sessions.other!.cookie }],
    ] as const) {
      const r = await api(p, auth);
      expect(r.status, p).toBe(404);
      expect(r.type).toContain('application/problem+json');
      expect(r.body.code).toBe('CLOUD_NOT_FOUND');
    }
    expect((await api('/api/v1/sites/plant-1/live', {})).status).toBe(401);

    await cloud.close();
    cloud = await startCloud(loadCloudConfig({}, overrides), pino({ level: 'silent' }));
    const again = await api('/api/v1/sites/plant-1/live', { cookie: sessions.admin!.cookie });
    expect(again.status).toBe(200);
    expect(again.body.rigs).toEqual(snap.body.rigs);
    expect(again.body.today).toEqual(snap.body.today);
  });

  it('shows a hand gauge, which never sends telemetry, as a gauge with its calibration and last use', async () => {
    const created = await api(
      '/api/v1/equipment',
      { cookie: sessions.admin!.cookie },
      {
        method: 'POST',
        headers: { 'x-csrf-token': sessions.admin!.csrf },
        // Named like a rig on purpose: what it is comes from its data, not its name.
        body: JSON.stringify({ tag: 'RIG-CAL-9', siteId: 'plant-1', type: 'caliper', intervalDays: 365 }),
      },
    );
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const watcher = await open(sessions.admin!.cookie);
    expect(await watcher.subscribe('plant-1')).toEqual({ ok: true });
    const t0 = Date.now() - 30_000;
    const at = (s: number) => new Date(t0 + s * 1000).toISOString();
    const sent = await edge1.send(
      [
        edge1.calibration('RIG-CAL-9', at(1), 'pass'),
        edge1.usage('RIG-CAL-9', at(2), 'start', { operator: 'op-3' }),
        // A rig of the same batch: one that sends telemetry is a rig.
        edge1.telemetry('RIG-T', at(3), { railPressure: 900 }),
        edge1.usage('RIG-T', at(4), 'start'),
        // A station that gives test results but no telemetry is no gauge either.
        edge1.inspection('ST-9', at(3), 'P-9', 'pass'),
        edge1.usage('ST-9', at(4), 'start'),
      ],
      cloud.url,
    );
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    expect((await watcher.next('rig', (p) => p.equipment === 'RIG-CAL-9')).payload).toMatchObject({
      kind: 'gauge',
      observedAt: at(2),
    });
    expect((await watcher.next('rig', (p) => p.equipment === 'RIG-T')).payload.kind).toBe('rig');
    expect((await watcher.next('rig', (p) => p.equipment === 'ST-9')).payload.kind).toBe('rig');
    // RIG-1 sent telemetry in an earlier batch: still a rig when a later batch has only its usage.
    expect((await edge1.send([edge1.usage('RIG-1', at(5), 'start')], cloud.url)).status).toBe(200);
    expect((await watcher.next('rig', (p) => p.equipment === 'RIG-1')).payload.kind).toBe('rig');

    const snap = await api('/api/v1/sites/plant-1/live', { cookie: sessions.admin!.cookie });
    expect(snap.status).toBe(200);
    type Rig = { equipment: string; kind: string; lastUsedAt: string | null; calibration: unknown };
    const byTag = new Map((snap.body.rigs as Rig[]).map((r) => [r.equipment, r]));
    expect(byTag.get('RIG-CAL-9')).toMatchObject({
      kind: 'gauge',
      lastUsedAt: at(2),
      values: [],
      calibration: { status: 'current', nextDue: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/) },
    });
    expect(byTag.get('RIG-CAL-9')).toMatchObject({ doNotUse: null });
    expect(byTag.get('RIG-T')).toMatchObject({ kind: 'rig', calibration: null, lastUsedAt: at(4) });
    expect(byTag.get('RIG-1')).toMatchObject({ kind: 'rig', calibration: null });
    expect(byTag.get('ST-9')).toMatchObject({ kind: 'rig', calibration: null, lastUsedAt: at(4) });

    // A failed calibration: the gauge's status follows the register.
    expect((await edge1.send([edge1.calibration('RIG-CAL-9', at(6), 'fail')], cloud.url)).status).toBe(200);
    await watcher.next('status', (p) => p.tag === 'RIG-CAL-9' && p.to === 'out-of-tolerance');
    const after = await api('/api/v1/sites/plant-1/live', { cookie: sessions.admin!.cookie });
    const gauge = (after.body.rigs as Rig[]).find((r) => r.equipment === 'RIG-CAL-9');
    expect(gauge?.calibration).toMatchObject({ status: 'out-of-tolerance' });
    // Tagged out by the case the failure opened: do not use, with that case.
    const cases = await api('/api/v1/oot-cases?state=open&equipment=RIG-CAL-9', {
      cookie: sessions.admin!.cookie,
    });
    const kase = (cases.body.items as { id: string }[])[0]!;
    expect(kase.id).toBeTruthy();
    expect((gauge as { doNotUse?: unknown }).doNotUse).toEqual({
      reason: 'out of tolerance, no passing calibration since',
      caseId: kase.id,
    });
  });

  it('pushes taking equipment out of service, and its return, to its site’s live floor only', async () => {
    const created = await post('/equipment', {
      tag: 'GAUGE-OOS',
      siteId: 'plant-1',
      type: 'torque wrench',
      intervalDays: 365,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const watcher = await open(sessions.admin!.cookie);
    expect(await watcher.subscribe('plant-1')).toEqual({ ok: true });
    const scoped = await open(sessions.scoped!.cookie);
    expect(await scoped.subscribe('plant-2')).toEqual({ ok: true });

    const out = await post('/equipment/GAUGE-OOS/out-of-service', { reason: 'dropped on the floor' });
    expect(out.status, JSON.stringify(out.body)).toBe(200);
    expect((await watcher.next('service', (p) => p.tag === 'GAUGE-OOS')).payload).toEqual({
      siteId: 'plant-1',
      tag: 'GAUGE-OOS',
      doNotUse: { reason: 'out of service: dropped on the floor', caseId: null },
    });
    const back = await post('/equipment/GAUGE-OOS/return-to-service', { note: 'checked, no damage' });
    expect(back.status, JSON.stringify(back.body)).toBe(200);
    expect(
      (await watcher.next('service', (p) => p.tag === 'GAUGE-OOS' && p.doNotUse === null)).payload,
    ).toEqual({ siteId: 'plant-1', tag: 'GAUGE-OOS', doNotUse: null });
    // A repair that needs a calibration before use tags it out again; a passing calibration ends it.
    const repair = await post('/equipment/GAUGE-OOS/maintenance/events', {
      kind: 'repair',
      description: 'square drive replaced',
      calibrationRequired: true,
    });
    expect(repair.status, JSON.stringify(repair.body)).toBe(201);
    const tagged = await watcher.next(
      'service',
      (p) =>
        p.tag === 'GAUGE-OOS' &&
        (p.doNotUse as { reason?: string } | null)?.reason?.includes('repair') === true,
    );
    expect(tagged.payload.doNotUse).toEqual({
      reason: expect.stringMatching(/^a calibration is required after the repair of /),
      caseId: null,
    });
    const n = watcher.received.filter((r) => r.event === 'service').length;
    expect(
      (await edge1.send([edge1.calibration('GAUGE-OOS', new Date().toISOString(), 'pass')], cloud.url))
        .status,
    ).toBe(200);
    await waitFor(
      () => Promise.resolve(watcher.received.filter((r) => r.event === 'service').length > n || undefined),
      10_000,
      'a service message after the calibration',
    );
    expect(watcher.received.filter((r) => r.event === 'service').at(-1)!.payload).toEqual({
      siteId: 'plant-1',
      tag: 'GAUGE-OOS',
      doNotUse: null,
    });

    // The plant-2 user heard none of it (a plant-2 batch is the barrier).
    expect(
      (await edge2.send([edge2.telemetry('RIG-2', new Date().toISOString(), { railPressure: 5 })], cloud.url))
        .status,
    ).toBe(200);
    await scoped.next('records');
    expect(scoped.received.some((r) => r.event === 'service')).toBe(false);
  });

  it('pushes a rig taken out of service, and its return, and its snapshot tile says so too', async () => {
    const created = await post('/equipment', {
      tag: 'RIG-OOS',
      siteId: 'plant-1',
      type: 'injector flow rig',
      intervalDays: 365,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const watcher = await open(sessions.admin!.cookie);
    expect(await watcher.subscribe('plant-1')).toEqual({ ok: true });
    const now = Date.now();
    const sent = await edge1.send(
      [
        edge1.telemetry('RIG-OOS', new Date(now - 2000).toISOString(), { railPressure: 1200 }),
        edge1.usage('RIG-OOS', new Date(now - 1000).toISOString(), 'start'),
      ],
      cloud.url,
    );
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    await watcher.next('rig', (p) => p.equipment === 'RIG-OOS');
    type Tile = { equipment: string; kind: string; state: string; doNotUse: unknown };
    const tile = async () =>
      (
        (await api('/api/v1/sites/plant-1/live', { cookie: sessions.admin!.cookie })).body.rigs as Tile[]
      ).find((r) => r.equipment === 'RIG-OOS');
    expect(await tile()).toMatchObject({ kind: 'rig', state: 'running', doNotUse: null });

    const out = await post('/equipment/RIG-OOS/out-of-service', { reason: 'nozzle holder cracked' });
    expect(out.status, JSON.stringify(out.body)).toBe(200);
    const doNotUse = { reason: 'out of service: nozzle holder cracked', caseId: null };
    expect((await watcher.next('service', (p) => p.tag === 'RIG-OOS')).payload).toEqual({
      siteId: 'plant-1',
      tag: 'RIG-OOS',
      doNotUse,
    });
    // The snapshot a page reads after the push (or on a reload) says the same of the rig's tile.
    expect(await tile()).toMatchObject({ kind: 'rig', doNotUse });

    const back = await post('/equipment/RIG-OOS/return-to-service', { note: 'holder replaced' });
    expect(back.status, JSON.stringify(back.body)).toBe(200);
    expect(
      (await watcher.next('service', (p) => p.tag === 'RIG-OOS' && p.doNotUse === null)).payload,
    ).toEqual({ siteId: 'plant-1', tag: 'RIG-OOS', doNotUse: null });
    expect(await tile()).toMatchObject({ kind: 'rig', doNotUse: null });
  });

  it('counts today’s first-pass yield of the rigs the reader may see: an uncleared reader’s leaves out export-controlled rigs and inspections naming a flagged gauge', async () => {
    const as = (who: 'admin' | 'cleared', p: string, body?: unknown) =>
      api(
        `/api/v1${p}`,
        { cookie: sessions[who]!.cookie },
        body === undefined
          ? {}
          : { method: 'POST', headers: { 'x-csrf-token': sessions[who]!.csrf }, body: JSON.stringify(body) },
      );
    for (const [tag, exportControl] of [
      ['RIG-OPEN-3', undefined],
      ['RIG-ITAR-3', { regime: 'ITAR' }],
      ['RIG-GAUGED-3', undefined],
      ['GAUGE-ITAR-3', { regime: 'ITAR' }],
    ] as const) {
      const r = await as('cleared', '/equipment', {
        tag,
        siteId: 'plant-3',
        type: 'injector flow rig',
        intervalDays: 365,
        ...(exportControl ? { exportControl } : {}),
      });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    }
    const edge3 = await new TestEdge(cloud.url).enroll(tokens.enroll3!, 'line-3');
    const t = (s: number) => new Date(Date.now() - 60_000 + s * 1000).toISOString();
    // The open rig: one part of two passes first time (50 %); the flagged rig: three of three; a
    // rig that is not flagged measuring with a flagged gauge: one of one.
    const batch: unknown[] = [
      edge3.inspection('RIG-OPEN-3', t(1), 'Y3-P1', 'pass'),
      edge3.inspection('RIG-OPEN-3', t(2), 'Y3-P2', 'fail'),
      edge3.inspection('RIG-ITAR-3', t(3), 'Y3-P3', 'pass'),
      edge3.inspection('RIG-ITAR-3', t(4), 'Y3-P4', 'pass'),
      edge3.inspection('RIG-ITAR-3', t(5), 'Y3-P5', 'pass'),
      edge3.inspection('RIG-GAUGED-3', t(6), 'Y3-P6', 'pass'),
    ];
    const gauged = batch[5] as ReturnType<TestEdge['inspection']>;
    batch[5] = { ...gauged, body: { ...gauged.body, gauges: ['GAUGE-ITAR-3'] } };
    const sent = await edge3.send(batch, cloud.url);
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    const today = async (who: 'admin' | 'cleared') => {
      const r = await as(who, '/sites/plant-3/live');
      expect(r.status).toBe(200);
      return {
        rigs: (r.body.rigs as { equipment: string }[]).map((x) => x.equipment).sort(),
        inspections: r.body.today.inspections as number,
        passed: r.body.today.passed as number,
        firstPassYield: r.body.today.firstPassYield as number | null,
      };
    };
    // The cleared reader: every rig of the site, 5 of 6 parts passed first time.
    expect(await today('cleared')).toEqual({
      rigs: ['RIG-GAUGED-3', 'RIG-ITAR-3', 'RIG-OPEN-3'],
      inspections: 6,
      passed: 5,
      firstPassYield: 5 / 6,
    });
    // The uncleared reader: the open rig's inspections, in the counts and in the yield alike; the
    // gauged rig's tile, but not its inspection (it names the ITAR gauge) nor its yield.
    expect(await today('admin')).toEqual({
      rigs: ['RIG-GAUGED-3', 'RIG-OPEN-3'],
      inspections: 2,
      passed: 1,
      firstPassYield: 0.5,
    });
  });

  it('disconnects a socket whose session ends', async () => {
    // Signed out elsewhere: the next subscribe fails and the socket is closed.
    const s1 = await open(sessions.leaver!.cookie);
    expect(await s1.subscribe('plant-1')).toEqual({ ok: true });
    const out = await api(
      '/api/v1/auth/logout',
      { cookie: sessions.leaver!.cookie },
      { method: 'POST', headers: { 'x-csrf-token': sessions.leaver!.csrf } },
    );
    expect(out.status).toBe(204);
    const closed = new Promise<string>((resolve) => s1.socket.once('disconnect', resolve));
    // The periodic session check (every second here) may close the socket before the subscribe is
    // answered; either way it is never answered ok and the server closes the socket.
    const answered = s1.subscribe('plant-2').catch((err: unknown) => ({ ok: false, error: String(err) }));
    const first = await Promise.race([answered, closed.then(() => null)]);
    if (first !== null) expect(first).toEqual({ ok: false, error: 'CLOUD_UNAUTHENTICATED' });
    expect(await closed).toBe('io server disconnect');

    // Revoked while the socket just listens: the periodic check (every second here) closes it.
    const s2 = await open(sessions.idle!.cookie);
    expect(await s2.subscribe('plant-1')).toEqual({ ok: true });
    const closed2 = new Promise<string>((resolve) => s2.socket.once('disconnect', resolve));
    const all = await api(
      '/api/v1/auth/logout-all',
      { cookie: sessions.idle!.cookie },
      { method: 'POST', headers: { 'x-csrf-token': sessions.idle!.csrf } },
    );
    expect(all.status).toBe(200);
    expect(await closed2).toBe('io server disconnect');
    await expect(open(sessions.idle!.cookie)).rejects.toMatchObject({ code: 'CLOUD_UNAUTHENTICATED' });
    // A fresh sign-in works again.
    const back = await signIn(cloud.url, 'acme', 'idle@acme.example', PW);
    const s3 = await open(back.cookie);
    await waitFor(() => Promise.resolve(s3.socket.connected), 5000, 'the socket');
    expect(await s3.subscribe('plant-1')).toEqual({ ok: true });
    void ago;
  });

  it('shows each rig’s last completed test per test point, its signal dictionary, and no idle values', async () => {
    const t0 = Date.now() - 60_000;
    const at = (s: number) => new Date(t0 + s * 1000).toISOString();
    const signals = [
      {
        name: 'state',
        label: 'Rig state',
        codes: [
          { code: 0, word: 'Idle' },
          { code: 1, word: 'Testing' },
        ],
      },
      {
        name: 'deliveredQty',
        label: 'Delivered quantity',
        unit: 'mm³/stroke',
        when: { signal: 'state', codes: [1] },
      },
      { name: 'fullLoad', label: 'Full load · 1800 bar' },
    ];
    const test = (observedAt: string, part: string, idleQty: number) => {
      const r = edge1.inspection('RIG-F', observedAt, part, 'pass');
      const c = (name: string, measured: number, lsl: number, usl: number, unit = 'mm3/stroke') => ({
        name,
        lsl,
        usl,
        measured,
        unit,
        result: 'pass' as const,
      });
      (r.body as { characteristics: unknown[] }).characteristics = [
        c('fullLoad.deliveredQty', 60.4, 58.2, 61.8),
        c('fullLoad.backLeak', 12.5, 0, 30, 'mL/min'),
        c('idle.deliveredQty', idleQty, 4.75, 5.25),
        c('coilResistance', 0.35, 0.3, 0.4, 'ohm'),
      ];
      return r;
    };
    const withSignals = edge1.telemetry('RIG-F', at(1), { state: 1, deliveredQty: 60.2 });
    const sent = await edge1.send(
      [
        { ...withSignals, body: { ...withSignals.body, signals } },
        test(at(2), 'P-F1', 5.01),
        // Between tests: the rig reports zeros while idle.
        edge1.telemetry('RIG-F', at(3), { state: 0, deliveredQty: 0, oilTemp: 40.1 }),
      ],
      cloud.url,
    ); // the cloud restarted on another port
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    // An older test replayed late does not replace the newer one.
    expect((await edge1.send([test(at(0), 'P-F0', 4.9)], cloud.url)).status).toBe(200);

    const snap = await api('/api/v1/sites/plant-1/live', { cookie: sessions.admin!.cookie });
    expect(snap.status).toBe(200);
    const rig = snap.body.rigs.find((r: { equipment: string }) => r.equipment === 'RIG-F');
    expect(rig.signals).toEqual(signals);
    // The idle zero of the delivered quantity is not shown as a reading; the state and the oil are.
    expect(rig.values.map((v: { point: string; value: unknown }) => [v.point, v.value])).toEqual([
      ['oilTemp', 40.1],
      ['state', 0],
    ]);
    expect(rig.lastTest).toEqual({
      at: at(2),
      partSerial: 'P-F1',
      workOrder: 'WO-1',
      result: 'pass',
      testPoints: [
        {
          name: 'fullLoad',
          characteristics: [
            {
              name: 'fullLoad.deliveredQty',
              quantity: 'deliveredQty',
              measured: 60.4,
              unit: 'mm3/stroke',
              lsl: 58.2,
              usl: 61.8,
              result: 'pass',
            },
            {
              name: 'fullLoad.backLeak',
              quantity: 'backLeak',
              measured: 12.5,
              unit: 'mL/min',
              lsl: 0,
              usl: 30,
              result: 'pass',
            },
          ],
        },
        {
          name: 'idle',
          characteristics: [
            {
              name: 'idle.deliveredQty',
              quantity: 'deliveredQty',
              measured: 5.01,
              unit: 'mm3/stroke',
              lsl: 4.75,
              usl: 5.25,
              result: 'pass',
            },
          ],
        },
        {
          name: null,
          characteristics: [
            {
              name: 'coilResistance',
              quantity: 'coilResistance',
              measured: 0.35,
              unit: 'ohm',
              lsl: 0.3,
              usl: 0.4,
              result: 'pass',
            },
          ],
        },
      ],
    });

    // Testing again: the delivered quantity is a reading again.
    expect(
      (await edge1.send([edge1.telemetry('RIG-F', at(4), { state: 1, deliveredQty: 20.1 })], cloud.url))
        .status,
    ).toBe(200);
    const later = await api('/api/v1/sites/plant-1/live', { cookie: sessions.admin!.cookie });
    const again = later.body.rigs.find((r: { equipment: string }) => r.equipment === 'RIG-F');
    expect(again.values.map((v: { point: string; value: unknown }) => [v.point, v.value])).toEqual([
      ['deliveredQty', 20.1],
      ['oilTemp', 40.1],
      ['state', 1],
    ]);
    expect(again.signals).toEqual(signals); // kept from the earlier record
  });

  it('takes a station’s dictionary from a telemetry record that carries only the dictionary', async () => {
    const at = new Date(Date.now() - 30_000).toISOString();
    const signals = [{ name: 'guide-bore.diameter', label: 'Guide bore diameter', unit: 'mm' }];
    const carrier = edge1.telemetry('STN-D', at, { x: 1 });
    const sent = await edge1.send(
      [{ ...carrier, body: { points: [], signals } }, edge1.inspection('STN-D', at, 'P-D1', 'pass')],
      cloud.url,
    );
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    const snap = await api('/api/v1/sites/plant-1/live', { cookie: sessions.admin!.cookie });
    const station = snap.body.rigs.find((r: { equipment: string }) => r.equipment === 'STN-D');
    expect(station.signals).toEqual(signals);
    expect(station.values).toEqual([]);
  });

  it('gives first-pass yield per rig and shift, in the site’s shifts and time zone', async () => {
    const admin = { cookie: sessions.admin!.cookie };
    const put = (body: unknown) =>
      api('/api/v1/sites/plant-2', admin, {
        method: 'PUT',
        headers: { 'x-csrf-token': sessions.admin!.csrf },
        body: JSON.stringify(body),
      });
    const bad = await put({ shifts: [{ name: 'Day', start: '07:10' }] });
    expect(bad.status).toBe(400);
    expect(bad.type).toContain('application/problem+json');
    const set = await put({
      timeZone: 'America/Chicago',
      shifts: [
        { name: 'Night', start: '19:00' },
        { name: 'Day', start: '07:00' },
      ],
    });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body.shifts).toEqual([
      { name: 'Day', start: '07:00', end: '19:00' },
      { name: 'Night', start: '19:00', end: '07:00' },
    ]);

    // Chicago is UTC−6 in November (after the change back from daylight saving on 1 November).
    const sent = await edge2.send(
      [
        edge2.inspection('RIG-2', '2026-11-02T12:59:00.000Z', 'S-1', 'pass'), // 06:59: the night shift of 1 Nov
        edge2.inspection('RIG-2', '2026-11-02T13:00:00.000Z', 'S-2', 'pass'), // 07:00: day shift, 2 Nov
        edge2.inspection('RIG-2', '2026-11-03T00:59:00.000Z', 'S-3', 'pass'), // 18:59: day shift, 2 Nov
        edge2.inspection('RIG-2', '2026-11-03T01:00:00.000Z', 'S-4', 'pass'), // 19:00: night shift, 2 Nov
        edge2.inspection('RIG-2', '2026-11-03T05:30:00.000Z', 'S-5', 'fail'), // 23:30: night shift, 2 Nov
        edge2.inspection('RIG-2', '2026-11-03T07:10:00.000Z', 'S-5', 'pass'), // a retest: not a first pass
        edge2.inspection('RIG-2', '2026-11-03T07:20:00.000Z', 'S-6', 'pass'), // 01:20 on 3 Nov: still 2 Nov's night
      ],
      cloud.url,
    );
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    const range = 'from=2026-11-01T00:00:00.000Z&to=2026-11-04T00:00:00.000Z';
    const y = await api(`/api/v1/yield?site=plant-2&${range}`, admin);
    expect(y.status).toBe(200);
    expect(
      y.body.perRigShift.map((r: any) => [
        r.equipment,
        r.siteId,
        r.day,
        r.shift,
        r.tested,
        r.passed,
        r.firstPassYield,
      ]),
    ).toEqual([
      ['RIG-2', 'plant-2', '2026-11-01', 'Night', 1, 1, 1],
      ['RIG-2', 'plant-2', '2026-11-02', 'Day', 2, 2, 1],
      ['RIG-2', 'plant-2', '2026-11-02', 'Night', 3, 2, 0.6667],
    ]);
    expect(y.body.shifts).toEqual([
      {
        siteId: 'plant-2',
        timeZone: 'America/Chicago',
        shifts: [
          { name: 'Day', start: '07:00', end: '19:00' },
          { name: 'Night', start: '19:00', end: '07:00' },
        ],
      },
    ]);
    // Per local day of the site (Chicago), not per UTC day: 2 November runs to 06:00 UTC on the 3rd.
    expect(y.body.perRigDay.map((r: any) => [r.day, r.tested, r.passed])).toEqual([
      ['2026-11-02', 5, 4],
      ['2026-11-03', 1, 1],
    ]);
    // A site without its own shifts has the default ones; a user limited to other sites sees neither its figures nor its shifts.
    const p1 = await api(`/api/v1/yield?site=plant-1&${range}`, admin);
    expect(p1.body.shifts).toEqual([
      {
        siteId: 'plant-1',
        timeZone: 'UTC',
        shifts: [
          { name: 'Early', start: '06:00', end: '14:00' },
          { name: 'Late', start: '14:00', end: '22:00' },
          { name: 'Night', start: '22:00', end: '06:00' },
        ],
      },
    ]);
    const scoped = await signIn(cloud.url, 'acme', 'scoped@acme.example', PW);
    const other = await api(`/api/v1/yield?site=plant-1&${range}`, { cookie: scoped.cookie });
    expect(other.status).toBe(200);
    expect(other.body.shifts).toEqual([]);
    expect(other.body.perRigShift).toEqual([]);
    // Back to the default shifts.
    const reset = await put({ shifts: null });
    expect(reset.body.shifts.map((s: any) => s.name)).toEqual(['Early', 'Late', 'Night']);
  });

  it('counts first-pass yield per local day of each rig’s own site, across time zones', async () => {
    const admin = { cookie: sessions.admin!.cookie };
    const zone = (site: string, timeZone: string) =>
      api(`/api/v1/sites/${site}`, admin, {
        method: 'PUT',
        headers: { 'x-csrf-token': sessions.admin!.csrf },
        body: JSON.stringify({ timeZone }),
      });
    expect((await zone('plant-1', 'America/Los_Angeles')).status).toBe(200);
    expect((await zone('plant-2', 'Asia/Kolkata')).status).toBe(200);
    try {
      // Los Angeles is UTC−7 in October (daylight saving time), Kolkata UTC+5:30 all year.
      const la = await edge1.send(
        [
          edge1.inspection('RIG-LA', '2026-10-06T06:30:00.000Z', 'LA-1', 'pass'), // 23:30 on 5 Oct
          edge1.inspection('RIG-LA', '2026-10-06T07:30:00.000Z', 'LA-2', 'fail'), // 00:30 on 6 Oct
        ],
        cloud.url,
      );
      expect(la.status, JSON.stringify(la.body)).toBe(200);
      const ind = await edge2.send(
        [
          edge2.inspection('RIG-IN', '2026-10-05T18:00:00.000Z', 'IN-1', 'pass'), // 23:30 on 5 Oct
          edge2.inspection('RIG-IN', '2026-10-05T18:45:00.000Z', 'IN-2', 'fail'), // 00:15 on 6 Oct
          edge2.inspection('RIG-IN', '2026-10-06T01:00:00.000Z', 'IN-3', 'pass'), // 06:30 on 6 Oct
        ],
        cloud.url,
      );
      expect(ind.status, JSON.stringify(ind.body)).toBe(200);
      const range = 'from=2026-10-05T00:00:00.000Z&to=2026-10-07T00:00:00.000Z';
      const rows = (b: any) => b.perRigDay.map((r: any) => [r.equipment, r.day, r.tested, r.passed]);
      // Tenant-wide: each rig in its own site's days (by UTC day, RIG-IN's 5 October would count 2 and RIG-LA's 6 October 2).
      const all = await api(`/api/v1/yield?${range}`, admin);
      expect(all.status).toBe(200);
      expect(rows(all.body)).toEqual([
        ['RIG-IN', '2026-10-05', 1, 1],
        ['RIG-LA', '2026-10-05', 1, 1],
        ['RIG-IN', '2026-10-06', 2, 1],
        ['RIG-LA', '2026-10-06', 1, 0],
      ]);
      // Asked in days: 6 October is each site's own 6 October (Kolkata's from 18:30 UTC on the
      // 5th, Los Angeles' from 07:00 UTC on the 6th); RIG-LA's 23:30 on 5 October stays out.
      const days = await api('/api/v1/yield?from=2026-10-06&to=2026-10-06', admin);
      expect(days.status, JSON.stringify(days.body)).toBe(200);
      expect(rows(days.body)).toEqual([
        ['RIG-IN', '2026-10-06', 2, 1],
        ['RIG-LA', '2026-10-06', 1, 0],
      ]);
      expect(days.body.perRig).toEqual([
        { equipment: 'RIG-IN', tested: 2, passed: 1, firstPassYield: 0.5 },
        { equipment: 'RIG-LA', tested: 1, passed: 0, firstPassYield: 0 },
      ]);
      expect([days.body.from, days.body.to]).toEqual([
        '2026-10-05T18:30:00.000Z',
        '2026-10-07T07:00:00.000Z',
      ]);
      const dayIn = await api('/api/v1/yield?site=plant-2&from=2026-10-05&to=2026-10-05', admin);
      expect(rows(dayIn.body)).toEqual([['RIG-IN', '2026-10-05', 1, 1]]);
      expect([dayIn.body.from, dayIn.body.to]).toEqual([
        '2026-10-04T18:30:00.000Z',
        '2026-10-05T18:30:00.000Z',
      ]);
      expect((await api('/api/v1/yield?from=2026-10-32', admin)).status).toBe(400);
      // One site, one rig: the same days.
      const one = await api(`/api/v1/yield?site=plant-2&equipment=RIG-IN&${range}`, admin);
      expect(rows(one.body)).toEqual([
        ['RIG-IN', '2026-10-05', 1, 1],
        ['RIG-IN', '2026-10-06', 2, 1],
      ]);
      // A user limited to plant-2 sees its rig only, in its days.
      const scoped = await signIn(cloud.url, 'acme', 'scoped@acme.example', PW);
      expect(rows((await api(`/api/v1/yield?${range}`, { cookie: scoped.cookie })).body)).toEqual(
        rows(one.body),
      );

      // The live snapshot's "today" is the site's local day, its throughput per local hour:
      // Kolkata's day starts at 18:30 UTC.
      const now = Date.now();
      const localStart = startOfLocalDay(localDay(now, 'Asia/Kolkata'), 'Asia/Kolkata');
      const before = await api('/api/v1/sites/plant-2/live', admin);
      expect(before.status).toBe(200);
      const sent = await edge2.send(
        [
          edge2.inspection('RIG-IN', new Date(localStart - 60_000).toISOString(), 'IN-Y', 'pass'), // yesterday, locally
          edge2.inspection(
            'RIG-IN',
            new Date(Math.min(now, localStart + 60_000)).toISOString(),
            'IN-T',
            'pass',
          ),
        ],
        cloud.url,
      );
      expect(sent.status, JSON.stringify(sent.body)).toBe(200);
      const after = await api('/api/v1/sites/plant-2/live', admin);
      expect(after.body.today.inspections - before.body.today.inspections).toBe(1);
      const hours = after.body.today.throughputPerHour as { hour: string; count: number }[];
      expect(hours[0]!.hour).toBe(new Date(localStart).toISOString());
      expect(hours[0]!.hour.slice(13)).toBe(':30:00.000Z');
      hours.forEach((h, i) => expect(Date.parse(h.hour) - localStart).toBe(i * 3_600_000));
      expect(hours.reduce((n, h) => n + h.count, 0)).toBe(after.body.today.inspections);
      expect(hours[0]!.count).toBeGreaterThanOrEqual(1);
    } finally {
      expect((await zone('plant-1', 'UTC')).status).toBe(200);
      expect((await zone('plant-2', 'UTC')).status).toBe(200);
    }
  });
});
