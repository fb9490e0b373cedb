import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { RigRecord } from '@rigtrace/protocols';
import { waitFor } from '@rigtrace/protocols/testing';
import { createAccounts } from '../src/access/accounts.js';
import { ROLES } from '../src/access/policy.js';
import { wholeTenant } from '../src/access/index.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { DomainEventBus, type DomainEvents } from '../src/platform/events.js';
import { Witness } from '../src/platform/witness.js';
import { AlertsRepository } from '../src/spc/alerts.repository.js';
import { SpcRepository } from '../src/spc/spc.repository.js';
import { SpcService } from '../src/spc/spc.service.js';
import { TestEdge } from './helpers/edge.js';
import { BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';
import { PISTON_RINGS } from './helpers/spc-data.js';

const MIN = 60_000;
const T0 = Date.parse('2026-01-05T06:00:00.000Z');
const at = (minute: number) => new Date(T0 + minute * MIN).toISOString();
const PW = 'spc test passphrase';
const RIG = 'RIG-FLOW-01';
const DIA = 'ring.diameter';
const LEAK = 'back-leak';

/** An enrolled edge whose inspection records (built by hand at chosen times) measure a ring's diameter and back-leak. */
class SpcEdge extends TestEdge {
  constructor(url: string) {
    super(url, { protocol: 'mqtt', endpoint: 'mqtt://edge.plant1.local:18830' });
  }

  ring(minute: number, equipment: string, diameter: number, leak = 18): RigRecord {
    return this.record('inspection', equipment, at(minute), {
      partSerial: `P-${this.id.slice(0, 6)}-${this.seq + 1}`,
      result: 'pass',
      characteristics: [
        { name: DIA, nominal: 74, lsl: 73.95, usl: 74.05, measured: diameter, unit: 'mm', result: 'pass' },
        { name: LEAK, usl: 30, measured: leak, unit: 'mL/min', result: 'pass' },
      ],
    }) as RigRecord;
  }
}

describe.each(BACKENDS)('SPC and alerts on %s', (backend) => {
  let storage: TestStorage;
  let cloud: RunningCloud;
  let plant1: SpcEdge;
  let plant2: SpcEdge;
  let otherEdge: SpcEdge;
  let tokens: { acme: string; other: string };
  const sessions = new Map<string, { cookie: string; csrf: string }>();
  const sent: RigRecord[] = [];
  let afterRecords: RigRecord[] = [];

  type Who = 'api-token' | 'other-token' | (typeof ROLES)[number] | 'scoped' | 'other-admin';
  async function call(who: Who, method: string, p: string, body?: unknown, raw?: string) {
    const headers: Record<string, string> = {};
    if (who === 'api-token') headers.authorization = `Bearer ${tokens.acme}`;
    else if (who === 'other-token') headers.authorization = `Bearer ${tokens.other}`;
    else {
      const s = sessions.get(who)!;
      headers.cookie = s.cookie;
      headers['x-csrf-token'] = s.csrf;
    }
    if (body !== undefined || raw !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${cloud.url}/api/v1${p}`, {
      method,
      headers,
      ...(raw !== undefined ? { body: raw } : body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    const type = res.headers.get('content-type') ?? '';
    return { status: res.status, type, body: text ? (JSON.parse(text) as Record<string, any>) : undefined };
  }
  const get = (who: Who, p: string) => call(who, 'GET', p);
  const chartUrl = (params: Record<string, string | number>) =>
    `/spc/chart?${new URLSearchParams({ equipment: RIG, characteristic: DIA, ...params } as Record<string, string>).toString()}`;
  const alertsOf = async (who: Who, query = 'state=all') =>
    (await get(who, `/alerts?${query}`)).body!.items as Record<string, any>[];

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    const cfg = loadCloudConfig({}, storage.overrides);
    const store = await openStore(cfg);
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createSite('acme', 'plant-1', 'Plant 1');
    await store.tenancy.createSite('acme', 'plant-2', 'Plant 2');
    await store.tenancy.createTenant('other', 'Other');
    await store.tenancy.createSite('other', 'o-1', 'O');
    tokens = {
      acme: await store.tenancy.createApiToken('acme', 'reader'),
      other: await store.tenancy.createApiToken('other', 'reader'),
    };
    const enroll = {
      p1: (await store.tenancy.createEnrollmentToken('acme', 'plant-1', 3600_000)).token,
      p2: (await store.tenancy.createEnrollmentToken('acme', 'plant-2', 3600_000)).token,
      o: (await store.tenancy.createEnrollmentToken('other', 'o-1', 3600_000)).token,
    };
    const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
    const by = { actor: { type: 'system' as const, id: 'test' }, address: null };
    const users: [string, string, (typeof ROLES)[number], string[] | null][] = [
      ...ROLES.map((r) => [r, 'acme', r, null] as [string, string, (typeof ROLES)[number], null]),
      ['scoped', 'acme', 'manager', ['plant-2']],
      ['other-admin', 'other', 'admin', null],
    ];
    for (const [who, tenant, role, sites] of users)
      await accounts.users.create(by, tenant, {
        email: `${who}@${tenant}.example`,
        role,
        ...(sites ? { sites } : {}),
        password: PW,
        mustChangePassword: false,
      });
    await store.db.close();
    cloud = await startCloud(
      loadCloudConfig({}, { ...storage.overrides, port: '0' }),
      pino({ level: 'silent' }),
    );
    plant1 = await new SpcEdge(cloud.url).enroll(enroll.p1, 'line');
    plant2 = await new SpcEdge(cloud.url).enroll(enroll.p2, 'line');
    otherEdge = await new SpcEdge(cloud.url).enroll(enroll.o, 'line');
    for (const [who, tenant] of users) {
      const res = await fetch(`${cloud.url}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ tenant, email: `${who}@${tenant}.example`, password: PW }),
      });
      const body = (await res.json()) as { csrfToken: string; state: string };
      expect(body.state).toBe('active');
      sessions.set(who, { cookie: res.headers.getSetCookie()[0]!.split(';')[0]!, csrf: body.csrfToken });
    }
  });
  afterAll(async () => {
    await cloud?.close();
    await storage?.cleanup();
  });

  it('indexes every characteristic of ingested inspection records, once', async () => {
    // Montgomery's 125 piston-ring diameters, one inspection a minute, in batches that split subgroups.
    const values = PISTON_RINGS.flat();
    const records = values.map((d, i) => plant1.ring(i, RIG, d, 18 + (i % 7) / 10));
    for (const chunk of [records.slice(0, 33), records.slice(33, 90), records.slice(90)]) {
      expect((await plant1.send(chunk)).status).toBe(200);
      sent.push(...chunk);
    }
    // Other record kinds on the same edge index nothing.
    const others = plant1.examples(4, { kinds: ['telemetry', 'usage'] });
    expect((await plant1.send(others)).status).toBe(200);

    const list = await get('api-token', '/spc/characteristics');
    expect(list.status).toBe(200);
    expect(list.body!.items).toEqual([
      {
        siteId: 'plant-1',
        equipment: RIG,
        characteristic: LEAK,
        unit: 'mL/min',
        nominal: null,
        lsl: null,
        usl: 30,
        n: 125,
        lastAt: at(124),
        baseline: null,
        cpk: expect.any(Number),
        ppk: expect.any(Number),
        openViolations: 0,
        view: { chart: 'xbar-r', subgroupSize: 5, rules: 'western-electric', points: 50 },
        flaggedPoints: expect.any(Number),
      },
      {
        siteId: 'plant-1',
        equipment: RIG,
        characteristic: DIA,
        unit: 'mm',
        nominal: 74,
        lsl: 73.95,
        usl: 74.05,
        n: 125,
        lastAt: at(124),
        baseline: null,
        cpk: expect.any(Number),
        ppk: expect.any(Number),
        openViolations: 0,
        view: { chart: 'xbar-r', subgroupSize: 5, rules: 'western-electric', points: 50 },
        flaggedPoints: expect.any(Number),
      },
    ]);
  });

  it('the ingest hook is idempotent: deriving the same records again adds nothing', async () => {
    const store = await openStore(loadCloudConfig({}, storage.overrides));
    try {
      const spc = new SpcService(store.db, new SpcRepository(store.db), new AlertsRepository(store.db), {
        logger: pino({ level: 'silent' }),
      });
      await spc.onRecordsStored('acme', { id: plant1.id, siteId: 'plant-1' }, sent);
      await spc.onRecordsStored('acme', { id: plant1.id, siteId: 'plant-1' }, sent.slice(0, 10));
    } finally {
      await store.db.close();
    }
    const dia = (await get('api-token', '/spc/characteristics')).body!.items.find(
      (i: { characteristic: string }) => i.characteristic === DIA,
    );
    expect(dia.n).toBe(125);
    const chart = await get('api-token', chartUrl({ chart: 'i-mr', limit: 1000 }));
    expect(chart.body!.points).toHaveLength(125);
  });

  it('draws the X̄-R chart of the data with the textbook limits, capability and no violations', async () => {
    const res = await get('auditor', chartUrl({ chart: 'xbar-r', subgroupSize: 5 }));
    expect(res.status).toBe(200);
    const c = res.body!;
    expect(c).toMatchObject({
      equipment: RIG,
      characteristic: DIA,
      unit: 'mm',
      chart: 'xbar-r',
      subgroupSize: 5,
    });
    expect(c.points).toHaveLength(25);
    expect(c.points[0]).toEqual({ at: at(4), value: expect.any(Number), range: expect.any(Number), n: 5 });
    expect(c.points[0].value).toBeCloseTo(74.0102, 4);
    expect(c.points[0].range).toBeCloseTo(0.038, 6);
    expect(c.limits.source).toBe('data');
    expect(c.limits.center).toBeCloseTo(74.001176, 6);
    expect(c.limits.ucl).toBeCloseTo(74.001176 + 0.577 * 0.02324, 6);
    expect(c.limits.lcl).toBeCloseTo(74.001176 - 0.577 * 0.02324, 6);
    expect(c.limits.rangeUcl).toBeCloseTo(2.114 * 0.02324, 6);
    expect(c.limits.rangeLcl).toBe(0);
    expect(c.capability.lsl).toBe(73.95);
    expect(c.capability.usl).toBe(74.05);
    expect(c.capability.sigmaWithin).toBeCloseTo(0.02324 / 2.326, 7);
    expect(c.capability.cp).toBeCloseTo(0.1 / (6 * (0.02324 / 2.326)), 6);
    expect(c.capability.n).toBe(125);
    expect(c.violations).toEqual([]);
    expect(c.baseline).toBeNull();

    const imr = (await get('api-token', chartUrl({ chart: 'i-mr', subgroupSize: 5, limit: 20 }))).body!;
    expect(imr.subgroupSize).toBe(1);
    expect(imr.points).toHaveLength(20);
    expect(imr.points[0].at).toBe(at(105));
    expect(imr.points[0].range).toBeNull();
    expect(imr.points[1].range).toBeCloseTo(Math.abs(PISTON_RINGS[21]![1]! - PISTON_RINGS[21]![0]!), 9);

    const window = (await get('api-token', chartUrl({ from: at(10), to: at(20) }))).body!;
    expect(window.points.map((p: { at: string }) => p.at)).toEqual([at(14), at(19)]);
  });

  it('freezes a baseline (admin, manager) and charts against it', async () => {
    const body = {
      equipment: RIG,
      characteristic: DIA,
      chart: 'xbar-r',
      subgroupSize: 5,
      from: at(0),
      to: at(125),
    };
    expect((await call('technician', 'POST', '/spc/baselines', body)).body!.code).toBe('CLOUD_FORBIDDEN');
    expect((await call('api-token', 'POST', '/spc/baselines', body)).body!.code).toBe('CLOUD_FORBIDDEN');
    const res = await call('manager', 'POST', '/spc/baselines', body);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      equipment: RIG,
      characteristic: DIA,
      siteId: 'plant-1',
      chart: 'xbar-r',
      subgroupSize: 5,
      rules: 'western-electric',
      from: at(0),
      to: at(125),
      frozenBy: 'manager@acme.example',
      points: 25,
      measurements: 125,
    });
    expect(Math.abs(res.body!.limits.ucl - 74.014)).toBeLessThanOrEqual(0.001);
    expect(Math.abs(res.body!.limits.lcl - 73.988)).toBeLessThanOrEqual(0.001);
    expect(Math.abs(res.body!.limits.rangeUcl - 0.049)).toBeLessThanOrEqual(0.001);
    const chart = (await get('technician', chartUrl({}))).body!;
    expect(chart.limits).toEqual({ ...res.body!.limits, source: 'baseline' });
    expect(chart.baseline.id).toBe(res.body!.id);
    // A chart the baseline is not for (another subgroup size) takes its limits from the data.
    expect((await get('technician', chartUrl({ subgroupSize: 4 }))).body!.limits.source).toBe('data');
    const item = (await get('api-token', `/spc/characteristics?equipment=${RIG}`)).body!.items.find(
      (i: { characteristic: string }) => i.characteristic === DIA,
    );
    expect(item.baseline).toEqual({
      id: res.body!.id,
      frozenAt: res.body!.frozenAt,
      frozenBy: 'manager@acme.example',
      from: at(0),
      to: at(125),
      chart: 'xbar-r',
      subgroupSize: 5,
      rules: 'western-electric',
    });
    const audit = (await get('admin', '/audit?limit=1000')).body!.items as { entry: { action: string } }[];
    expect(audit.map((e) => e.entry.action)).toContain('spc.baseline.freeze');
  });

  it('raises one alert per new violation after commit, never twice, and keeps frozen limits still', async () => {
    const before = (await get('api-token', chartUrl({}))).body!.limits;
    // Late data inside the baseline period: the frozen limits do not move.
    const late = [plant1.ring(0.5, RIG, 74.04), plant1.ring(1.5, RIG, 73.96)];
    expect((await plant1.send(late)).status).toBe(200);
    expect((await get('api-token', chartUrl({}))).body!.limits).toEqual(before);
    expect(await alertsOf('api-token')).toEqual([]);

    // After the baseline: one subgroup far above the UCL (WE1), then 8 above the centre line in
    // zone C: WE4 fires at the 8th point in a row on that side and is not raised again for the 9th.
    const high = [74.05, 74.05, 74.05, 74.05, 74.05];
    const above = [74.0, 74.005, 74.01, 74.003, 74.007];
    const after = [...high, ...Array.from({ length: 8 }, () => above).flat()].map((d, i) =>
      plant1.ring(130 + i, RIG, d),
    );
    afterRecords = after;
    // Split inside a subgroup: the subgroup is evaluated once it is complete.
    expect((await plant1.send(after.slice(0, 7))).status).toBe(200);
    await waitFor(async () => (await alertsOf('api-token')).length === 1, 10_000, 'the WE1 alert');
    expect((await plant1.send(after.slice(7))).status).toBe(200);
    await waitFor(async () => (await alertsOf('api-token')).length >= 2, 10_000, 'the WE4 alert');
    // Another normal subgroup: re-evaluates the earlier points, raises nothing new.
    const normal = [73.995, 74.0, 73.99, 74.001, 73.998].map((d, i) => plant1.ring(200 + i, RIG, d));
    expect((await plant1.send(normal)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 500));
    const alerts = await alertsOf('api-token');
    expect(
      alerts.map((a) => [a.rule, a.chart, a.severity, a.pointAt, a.tag, a.characteristic, a.siteId, a.kind]),
    ).toEqual([
      ['WE4', 'x', 'warning', at(169), RIG, DIA, 'plant-1', 'spc'],
      ['WE1', 'x', 'critical', at(134), RIG, DIA, 'plant-1', 'spc'],
    ]);
    expect(alerts[1]!.message).toContain('one point beyond the 3σ control limits');
    expect(alerts[1]!.acknowledgedAt).toBeNull();
    expect((await get('api-token', chartUrl({}))).body!.limits).toEqual(before);

    const chart = (await get('api-token', chartUrl({ from: at(130) }))).body!;
    expect(chart.violations.map((v: { rule: string; index: number }) => `${v.rule}@${v.index}`)).toEqual([
      'WE1@0',
      'WE4@7',
      'WE4@8',
    ]);
  });

  it('lists, pages and acknowledges alerts by role, site and tenant', async () => {
    const all = await alertsOf('technician');
    expect(all).toHaveLength(2);
    const page1 = (await get('api-token', '/alerts?state=all&limit=1')).body!;
    expect(page1.items.map((a: { id: string }) => a.id)).toEqual([all[0]!.id]);
    const page2 = (await get('api-token', `/alerts?state=all&limit=1&cursor=${page1.next}`)).body!;
    expect(page2.items.map((a: { id: string }) => a.id)).toEqual([all[1]!.id]);

    const we1 = all.find((a) => a.rule === 'WE1')!;
    const ack = (who: Who, id = we1.id) => call(who, 'POST', `/alerts/${id}/acknowledge`);
    expect((await ack('auditor')).body!.code).toBe('CLOUD_FORBIDDEN');
    expect((await ack('api-token')).body!.code).toBe('CLOUD_FORBIDDEN');
    expect((await ack('scoped')).status).toBe(404);
    expect((await ack('other-admin')).status).toBe(404);
    expect((await ack('technician', 'no-such-alert')).status).toBe(404);
    const done = await ack('technician');
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ id: we1.id, acknowledgedBy: 'technician@acme.example' });
    expect(done.body!.acknowledgedAt).toEqual(expect.any(String));
    const twice = await ack('manager');
    expect(twice.status).toBe(409);
    expect(twice.body!.code).toBe('CLOUD_CONFLICT');

    expect((await alertsOf('api-token', 'state=open')).map((a) => a.rule)).toEqual(['WE4']);
    expect((await alertsOf('api-token', 'state=acknowledged')).map((a) => a.rule)).toEqual(['WE1']);
    expect((await alertsOf('api-token', 'siteId=plant-2&state=all')).length).toBe(0);
    const item = (await get('api-token', '/spc/characteristics')).body!.items.find(
      (i: { characteristic: string }) => i.characteristic === DIA,
    );
    expect(item.openViolations).toBe(1);
    // The list counts the flagged points of the chart the page opens on: the chart shows the same.
    const v = item.view as { chart: string; subgroupSize: number; rules: string; points: number };
    const drawn = (
      await get(
        'api-token',
        `/spc/chart?equipment=${RIG}&characteristic=${encodeURIComponent(DIA)}&chart=${v.chart}&subgroupSize=${v.subgroupSize}&rules=${v.rules}&limit=${v.points}`,
      )
    ).body!;
    const flagged = new Set((drawn.violations as { index: number }[]).map((x) => x.index));
    expect(flagged.size).toBeGreaterThan(0);
    expect(item.flaggedPoints).toBe(flagged.size);
    const audit = (await get('admin', '/audit?limit=1000')).body!.items as { entry: { action: string } }[];
    expect(audit.map((e) => e.entry.action)).toEqual(
      expect.arrayContaining(['spc.alert.raised', 'alert.acknowledge']),
    );
  });

  it('keeps tenants and sites apart', async () => {
    // Another tenant with the same rig tag and characteristic.
    expect((await otherEdge.send([otherEdge.ring(0, RIG, 1), otherEdge.ring(1, RIG, 2)])).status).toBe(200);
    const mine = (await get('other-token', '/spc/characteristics')).body!.items;
    expect(mine.map((i: { n: number; siteId: string }) => [i.siteId, i.n])).toEqual([
      ['o-1', 2],
      ['o-1', 2],
    ]);
    expect(
      (await get('other-token', chartUrl({ chart: 'i-mr' }))).body!.points.map(
        (p: { value: number }) => p.value,
      ),
    ).toEqual([1, 2]);
    expect(await alertsOf('other-token')).toEqual([]);
    const body = { equipment: RIG, characteristic: LEAK, chart: 'i-mr', from: at(0), to: at(125) };
    // A baseline of the other tenant's period: too few of its own measurements, never ours.
    expect((await call('other-admin', 'POST', '/spc/baselines', body)).status).toBe(400);

    // A site-scoped manager of plant-2 sees plant-2's rig only.
    expect(
      (await plant2.send([plant2.ring(0, 'RIG-FLOW-02', 74), plant2.ring(1, 'RIG-FLOW-02', 74.01)])).status,
    ).toBe(200);
    const scoped = (await get('scoped', '/spc/characteristics')).body!.items;
    expect(scoped.map((i: { equipment: string }) => i.equipment)).toEqual(['RIG-FLOW-02', 'RIG-FLOW-02']);
    expect((await get('scoped', chartUrl({}))).status).toBe(404);
    expect((await call('scoped', 'POST', '/spc/baselines', { ...body, characteristic: DIA })).status).toBe(
      404,
    );
    expect(await alertsOf('scoped')).toEqual([]);
    expect((await get('scoped', '/spc/characteristics?siteId=plant-1')).body!.items).toEqual([]);
    expect((await get('admin', '/spc/characteristics?siteId=plant-2')).body!.items).toHaveLength(2);
    expect((await get('admin', `/spc/characteristics?equipment=${RIG}`)).body!.items).toHaveLength(2);
    // The baseline in force and the measurements after it are read as the reader: plant 1's are
    // nothing to plant 2's; the alert evaluation reads them as the whole tenant.
    const store = await openStore(loadCloudConfig({}, storage.overrides), undefined, { migrate: false });
    try {
      const repo = new SpcRepository(store.db);
      const plant2Only = { tenantId: 'acme', sites: ['plant-2'], cleared: true };
      expect(await repo.currentBaseline(plant2Only, RIG, DIA)).toBeUndefined();
      expect((await repo.currentBaseline(wholeTenant('acme'), RIG, DIA))?.chart).toBe('xbar-r');
      expect(await repo.tailSince(plant2Only, RIG, DIA, at(0), 10)).toEqual({ rows: [], total: 0 });
      const all = await repo.tailSince(wholeTenant('acme'), RIG, DIA, at(0), 10);
      expect(all.rows).toHaveLength(10);
      expect(all.total).toBeGreaterThan(125);
    } finally {
      await store.db.close();
    }
  });

  it('announces each alert it stores on the bus, once', async () => {
    const store = await openStore(loadCloudConfig({}, storage.overrides));
    try {
      const events = new DomainEventBus();
      const seen: DomainEvents['alert'][0][] = [];
      events.on('alert', (a) => seen.push(a));
      const spc = new SpcService(store.db, new SpcRepository(store.db), new AlertsRepository(store.db), {
        logger: pino({ level: 'silent' }),
        events,
      });
      // The leak rate cycled 18.0..18.6 in the baseline period, then stayed at 18.0: below the centre line.
      const frozen = await spc.freezeBaseline(
        { tenantId: 'acme', sites: null, cleared: true },
        { equipment: RIG, characteristic: LEAK, chart: 'i-mr', from: at(0), to: at(125) },
        'test',
        { type: 'system', id: 'test' },
      );
      expect(frozen.limits.center).toBeGreaterThan(18.25);
      const batch = { tenantId: 'acme', siteId: 'plant-1', edgeId: plant1.id, records: afterRecords };
      const raised = await spc.evaluateBatch(batch);
      expect(raised.map((a) => a.rule)).toContain('WE4');
      expect(raised.every((a) => a.characteristic === LEAK)).toBe(true);
      expect(seen.map((e) => e.id)).toEqual(raised.map((a) => a.id));
      expect(seen[0]).toEqual({
        tenantId: 'acme',
        siteId: 'plant-1',
        id: raised[0]!.id,
        kind: 'spc',
        severity: raised[0]!.severity,
        message: raised[0]!.message,
        at: raised[0]!.at,
        tag: RIG,
      });
      // The same batch again: every violation is stored already; nothing is raised or announced.
      expect(await spc.evaluateBatch(batch)).toEqual([]);
      expect(seen).toHaveLength(raised.length);
    } finally {
      await store.db.close();
    }
  });

  it('refuses bad input with problem+json 400 and changes nothing', async () => {
    const before = (await get('api-token', '/spc/characteristics')).body;
    const bad = [
      '/spc/chart?characteristic=x',
      chartUrl({ chart: 'p-chart' }),
      chartUrl({ subgroupSize: 11 }),
      chartUrl({ subgroupSize: 1 }),
      chartUrl({ subgroupSize: 'five' }),
      chartUrl({ from: at(10), to: at(5) }),
      chartUrl({ from: 'yesterday' }),
      chartUrl({ limit: 0 }),
      chartUrl({ colour: 'red' }),
      '/spc/characteristics?equipment=bad%20tag',
      '/alerts?state=closed',
      '/alerts?cursor=not-a-cursor',
      '/alerts?limit=5000',
    ];
    for (const p of bad) {
      const res = await get('api-token', p);
      expect(res.status, p).toBe(400);
      expect(res.type, p).toContain('application/problem+json');
      expect(res.body!.code, p).toBe('CLOUD_VALIDATION');
      expect(JSON.stringify(res.body), p).not.toMatch(/at .*\.ts:\d+/);
    }
    const ok = {
      equipment: RIG,
      characteristic: DIA,
      chart: 'xbar-r',
      subgroupSize: 5,
      from: at(0),
      to: at(125),
    };
    const badBodies: unknown[] = [
      {},
      { ...ok, chart: 'c-chart' },
      { ...ok, subgroupSize: 1 },
      { ...ok, subgroupSize: 12 },
      { ...ok, from: at(125), to: at(0) },
      { ...ok, rules: 'mine' },
      { ...ok, extra: 1 },
      // Too few subgroups in the period.
      { ...ok, from: at(0), to: at(20) },
      // No measurements at all.
      { ...ok, from: at(-1000), to: at(-900) },
    ];
    for (const b of badBodies) {
      const res = await call('admin', 'POST', '/spc/baselines', b);
      expect(res.status, JSON.stringify(b)).toBe(400);
      expect(res.body!.code).toBe('CLOUD_VALIDATION');
    }
    expect((await call('admin', 'POST', '/spc/baselines', undefined, '{"equipment":')).body!.code).toBe(
      'CLOUD_MALFORMED_JSON',
    );
    expect((await call('admin', 'POST', '/spc/baselines', { ...ok, characteristic: 'nope' })).status).toBe(
      404,
    );
    expect((await call('technician', 'POST', '/alerts/x/acknowledge', { note: 'hi' })).status).toBe(400);
    expect((await get('api-token', '/spc/characteristics')).body).toEqual(before);
  });
});
