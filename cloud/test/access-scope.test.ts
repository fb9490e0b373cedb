import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { RigRecord } from '@rigtrace/protocols';
import { createAccounts } from '../src/access/accounts.js';
import type { Role } from '../src/access/policy.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { Witness } from '../src/platform/witness.js';
import { TestEdge } from './helpers/edge.js';
import { openSocket, type TestSocket } from './helpers/live.js';
import { apiCall, signIn, type Session } from './helpers/signed-in.js';
import { BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

/**
 * Site scope and export control on every read path, through the one `Viewer` each request
 * resolves: SPC, the live snapshot and socket, alerts, reminder digests, records; a site-scoped
 * admin kept to its sites; clearance given only by a second admin; an edge's health moved only
 * by a new batch. Plant A holds the export-controlled rig RIG-FLOW-01 (ITAR) and gauge
 * PT-RAIL-03 (EAR); plant B its own rig and gauge. Each check also shows the cleared, unscoped
 * caller seeing what the others may not (so it can fail).
 */

const PW: Record<string, string> = {
  admin: 'both plants full access words',
  adminA: 'first plant admin passphrase',
  techA: 'first plant bench worker 4',
  mgrA: 'first plant line lead words',
  clearedA: 'first plant cleared metrologist',
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

/** Plant B's records: the example records on its own rig and gauge. */
function plantB(examples: readonly RigRecord[]): RigRecord[] {
  const rename = (t: string) => (t === 'RIG-FLOW-01' ? 'RIG-B' : t === 'PT-RAIL-03' ? 'GAUGE-B' : t);
  return examples.map((r) => {
    const out = { ...r, equipment: rename(r.equipment) } as RigRecord;
    if (out.kind === 'inspection') (out as { body: unknown }).body = { ...out.body, gauges: ['GAUGE-B'] };
    return out;
  });
}

const backlog = (n: string) => ({ 'x-rigtrace-backlog': n });

describe.each(BACKENDS)('access: site scope and export control on %s', (backend) => {
  let storage: TestStorage;
  let cloud: RunningCloud;
  let apiToken = '';
  const s: Record<string, Session> = {};
  const ids: Record<string, string> = {};
  let edgeA: TestEdge;
  let edgeB: TestEdge;
  const hooks: string[] = [];
  let hookServer: http.Server;
  const as = (who: string, method: string, p: string, body?: unknown) =>
    apiCall(cloud.url, who === 'token' ? apiToken : s[who]!, method, p, body);
  const equipmentOf = (items: { equipment: string }[]) => [...new Set(items.map((i) => i.equipment))].sort();
  /** A problem without its `instance` (the request path, which differs by design). */
  const bare = (b: Record<string, unknown>) => ({ ...b, instance: undefined });

  setupOrFailEach(async () => {
    hookServer = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        hooks.push(body);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hookServer.listen(0, '127.0.0.1', r));
    storage = await testStorage(backend);
    const cfg = loadCloudConfig({}, storage.overrides);
    const store = await openStore(cfg);
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createSite('acme', 'plant-a', 'Plant A');
    await store.tenancy.createSite('acme', 'plant-b', 'Plant B');
    apiToken = await store.tenancy.createApiToken('acme', 'reader');
    const enrollA = await store.tenancy.createEnrollmentToken('acme', 'plant-a', 3600_000);
    const enrollB = await store.tenancy.createEnrollmentToken('acme', 'plant-b', 3600_000);
    const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
    const by = { actor: { type: 'system' as const, id: 'test' }, address: null };
    const users: [string, Role, string[] | null, boolean][] = [
      ['admin', 'admin', null, true],
      ['adminA', 'admin', ['plant-a'], false],
      ['techA', 'technician', ['plant-a'], false],
      ['mgrA', 'manager', ['plant-a'], false],
      ['clearedA', 'technician', ['plant-a'], true],
    ];
    for (const [who, role, sites, usPerson] of users) {
      const u = await accounts.users.create(by, 'acme', {
        email: `${who.toLowerCase()}@acme.example`,
        role,
        sites,
        password: PW[who]!,
        mustChangePassword: false,
        usPerson,
      });
      ids[who] = u.user.id;
    }
    await store.db.close();
    cloud = await startCloud(
      loadCloudConfig({}, { ...storage.overrides, port: '0', webhookAllowPrivate: 'true' }),
      pino({ level: 'silent' }),
    );
    for (const [who] of users)
      s[who] = await signIn(cloud.url, 'acme', `${who.toLowerCase()}@acme.example`, PW[who]!);
    for (const [site, tag, exportControl] of [
      ['plant-a', 'RIG-FLOW-01', { regime: 'ITAR' }],
      ['plant-a', 'PT-RAIL-03', { regime: 'EAR', eccn: '3A001' }],
      ['plant-a', 'TT-OIL-02', undefined],
      ['plant-b', 'RIG-B', undefined],
      ['plant-b', 'GAUGE-B', undefined],
    ] as const) {
      const r = await as('admin', 'POST', '/equipment', {
        tag,
        siteId: site,
        type: 'instrument',
        intervalDays: 180,
        ...(exportControl ? { exportControl } : {}),
      });
      expect(r.status, r.text).toBe(201);
    }
    edgeA = await new TestEdge(cloud.url).enroll(enrollA.token, 'line-a');
    edgeB = await new TestEdge(cloud.url).enroll(enrollB.token, 'line-b');
    await edgeA.ingest(edgeA.examples(10), backlog('3'));
    await edgeB.ingest(plantB(edgeB.examples(10)));
    // Failed calibrations open out-of-tolerance cases with alerts: of the flagged gauge, of plant B's gauge.
    for (const [tag, n] of [
      ['PT-RAIL-03', 1],
      ['GAUGE-B', 2],
    ] as const) {
      const cal = await as('admin', 'POST', '/calibrations', {
        equipment: tag,
        enteredBy: 'admin',
        body: failing(n),
        signature: { password: PW.admin, meaning: 'performed' },
      });
      expect(cal.status, cal.text).toBe(201);
    }
  });
  afterAll(async () => {
    await cloud?.close();
    await storage?.cleanup();
    hookServer?.close();
  });

  it('SPC lists, charts and freezes flagged equipment only for cleared callers (404 to the others)', async () => {
    const cleared = await as('admin', 'GET', '/spc/characteristics');
    expect(equipmentOf(cleared.body.items)).toEqual(['RIG-B', 'RIG-FLOW-01']);
    expect(equipmentOf((await as('clearedA', 'GET', '/spc/characteristics')).body.items)).toEqual([
      'RIG-FLOW-01',
    ]);
    for (const who of ['techA', 'mgrA', 'adminA'])
      expect(equipmentOf((await as(who, 'GET', '/spc/characteristics')).body.items)).toEqual([]);
    expect(equipmentOf((await as('token', 'GET', '/spc/characteristics')).body.items)).toEqual(['RIG-B']);
    const ch = (cleared.body.items as { equipment: string; characteristic: string }[]).find(
      (i) => i.equipment === 'RIG-FLOW-01',
    )!.characteristic;
    const chart = `/spc/chart?equipment=RIG-FLOW-01&characteristic=${encodeURIComponent(ch)}`;
    expect((await as('clearedA', 'GET', chart)).status).toBe(200);
    const absent = await as('techA', 'GET', '/spc/chart?equipment=NO-SUCH-RIG&characteristic=x');
    expect(absent.status).toBe(404);
    for (const who of ['techA', 'token', 'adminA']) {
      const r = await as(who, 'GET', chart);
      expect(r.status).toBe(404);
      expect(bare(r.body)).toEqual(bare(absent.body));
      expect(r.text).not.toContain('measured');
    }
    const freeze = {
      equipment: 'RIG-FLOW-01',
      characteristic: ch,
      chart: 'i-mr',
      from: '2020-01-01T00:00:00Z',
      to: '2030-01-01T00:00:00Z',
    };
    // A cleared admin reaches the rules (too few points here); a manager not cleared does not learn it exists.
    expect((await as('admin', 'POST', '/spc/baselines', freeze)).status).toBe(400);
    const refused = await as('mgrA', 'POST', '/spc/baselines', freeze);
    expect(refused.status).toBe(404);
    expect(refused.body.code).toBe('CLOUD_NOT_FOUND');
  });

  it('the live snapshot leaves out flagged rigs for callers who are not cleared', async () => {
    const rigs = async (who: string) =>
      ((await as(who, 'GET', '/sites/plant-a/live')).body.rigs as { equipment: string }[])
        .map((r) => r.equipment)
        .sort();
    expect(await rigs('clearedA')).toContain('RIG-FLOW-01');
    for (const who of ['techA', 'token', 'adminA']) expect(await rigs(who)).not.toContain('RIG-FLOW-01');
    const alerts = async (who: string) =>
      ((await as(who, 'GET', '/sites/plant-a/live')).body.alerts as { tag?: string }[]).map((a) => a.tag);
    expect(await alerts('clearedA')).toContain('PT-RAIL-03');
    expect(await alerts('techA')).not.toContain('PT-RAIL-03');
    expect((await as('techA', 'GET', '/sites/plant-b/live')).status).toBe(404);
  });

  it('alerts of flagged equipment are listed and acknowledged only by cleared callers', async () => {
    const list = async (who: string) =>
      ((await as(who, 'GET', '/alerts?state=all')).body.items as { id: string; tag: string | null }[]).filter(
        (a) => a.tag !== null,
      );
    const all = await list('admin');
    const flagged = all.find((a) => a.tag === 'PT-RAIL-03')!;
    const other = all.find((a) => a.tag === 'GAUGE-B')!;
    expect(flagged).toBeDefined();
    expect(other).toBeDefined();
    expect((await list('clearedA')).map((a) => a.tag)).toContain('PT-RAIL-03');
    for (const who of ['techA', 'mgrA']) {
      const tags = (await list(who)).map((a) => a.tag);
      expect(tags).not.toContain('PT-RAIL-03');
      expect(tags).not.toContain('GAUGE-B');
    }
    // An API token reads the whole tenant but is never cleared: plant B's alert, not the flagged one.
    const byToken = (await list('token')).map((a) => a.tag);
    expect(byToken).not.toContain('PT-RAIL-03');
    expect(byToken).toContain('GAUGE-B');
    const absent = await as('techA', 'POST', '/alerts/00000000-0000-4000-8000-000000000000/acknowledge');
    for (const id of [flagged.id, other.id]) {
      const r = await as('techA', 'POST', `/alerts/${id}/acknowledge`);
      expect(r.status).toBe(404);
      expect(bare(r.body)).toEqual(bare(absent.body));
    }
    expect((await as('clearedA', 'POST', `/alerts/${flagged.id}/acknowledge`)).status).toBe(200);
  });

  it('the live socket sends telemetry, rig, calibration and alert events of flagged equipment only to cleared sockets', async () => {
    const sockets: Record<string, TestSocket> = {};
    try {
      for (const who of ['clearedA', 'techA']) {
        sockets[who] = await openSocket(cloud.url, s[who]!.cookie);
        expect(await sockets[who].subscribe('plant-a')).toEqual({ ok: true });
      }
      // seq 11..20: telemetry and usage of RIG-FLOW-01, a calibration of PT-RAIL-03 …
      await edgeA.ingest(edgeA.examples(10));
      const cal = await as('clearedA', 'POST', '/calibrations', {
        equipment: 'PT-RAIL-03',
        enteredBy: 'cleared',
        body: failing(0),
        signature: { password: PW.clearedA, meaning: 'performed' },
      });
      expect(cal.status, cal.text).toBe(201);
      const c = sockets.clearedA!;
      await c.next('telemetry', (p) =>
        (p.items as { equipment: string }[]).some((i) => i.equipment === 'RIG-FLOW-01'),
      );
      await c.next('rig', (p) => p.equipment === 'RIG-FLOW-01');
      await c.next('calibration', (p) => p.tag === 'PT-RAIL-03');
      await c.next('alert', (p) => p.tag === 'PT-RAIL-03');
      // Both sockets hear of the batch itself; the one not cleared hears nothing of the flagged items.
      const t = sockets.techA!;
      await t.next('records', (p) => p.lastSeq === 20);
      await new Promise((r) => setTimeout(r, 300));
      const leaked = t.received.filter((m) => {
        const p = m.payload as { equipment?: string; tag?: string; items?: { equipment: string }[] };
        return [p.equipment, p.tag, ...(p.items ?? []).map((i) => i.equipment)].some(
          (x) => x === 'RIG-FLOW-01' || x === 'PT-RAIL-03',
        );
      });
      expect(leaked).toEqual([]);
      expect(t.received.map((m) => m.event)).toContain('records');
    } finally {
      for (const k of Object.values(sockets)) k.close();
    }
  });

  it('reminder digests (webhook) never name flagged equipment', async () => {
    const put = await as('admin', 'PUT', '/sites/plant-a/reminders', {
      enabled: true,
      sendAllClear: true,
      webhooks: [{ url: `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}/hook` }],
    });
    expect(put.status, put.text).toBe(200);
    const sent = await as('admin', 'POST', '/sites/plant-a/reminders/send');
    expect(sent.status, sent.text).toBe(200);
    const body = hooks.at(-1)!;
    expect(body).toContain('TT-OIL-02');
    expect(body).not.toContain('PT-RAIL-03');
    expect(body).not.toContain('RIG-FLOW-01');
  });

  it('GET /records: another site’s edge is unknown (404, as an absent one); without an edge, only the caller’s sites', async () => {
    const absent = await as('techA', 'GET', '/records?edge=no-such-edge');
    expect(absent.status).toBe(404);
    const other = await as('techA', 'GET', `/records?edge=${edgeB.id}`);
    expect(other.status).toBe(404);
    expect(bare(other.body)).toEqual(bare(absent.body));
    expect((await as('admin', 'GET', `/records?edge=${edgeB.id}`)).body.items.length).toBeGreaterThan(0);
    const mine = await as('clearedA', 'GET', '/records?limit=1000');
    expect(mine.status).toBe(200);
    const edges = new Set((mine.body.items as { edge: string }[]).map((i) => i.edge));
    expect([...edges]).toEqual([edgeA.id]);
    // Plant A's records are all of flagged equipment: a technician there who is not cleared sees none.
    expect((await as('techA', 'GET', '/records?limit=1000')).body.items).toEqual([]);
  });

  it('an admin limited to a site stays in it: other sites unknown, tenant-wide actions refused', async () => {
    const edges = await as('adminA', 'GET', '/admin/edges');
    expect(edges.status).toBe(200);
    expect((edges.body.items as { id: string }[]).map((e) => e.id)).toEqual([edgeA.id]);
    expect(((await as('admin', 'GET', '/admin/edges')).body.items as unknown[]).length).toBe(2);
    expect(((await as('adminA', 'GET', '/sites')).body.items as { id: string }[]).map((x) => x.id)).toEqual([
      'plant-a',
    ]);
    const absent = await as('adminA', 'POST', '/sites/no-such-site/enrollment-tokens', {});
    const other = await as('adminA', 'POST', '/sites/plant-b/enrollment-tokens', {});
    expect(other.status).toBe(404);
    expect(bare(other.body)).toEqual(bare(absent.body));
    expect((await as('adminA', 'GET', '/sites/plant-b/enrollment-tokens')).status).toBe(404);
    expect((await as('adminA', 'PUT', '/sites/plant-b', { name: 'Mine now' })).status).toBe(404);
    expect((await as('adminA', 'POST', '/sites/plant-a/enrollment-tokens', {})).status).toBe(201);
    expect((await as('adminA', 'POST', `/admin/edges/${edgeB.id}/retire`)).status).toBe(404);
    for (const [method, p, body] of [
      ['POST', '/api-tokens', { name: 'tenant-wide' }],
      ['GET', '/api-tokens', undefined],
      // The tenant's audit log is one log for every site: not for a caller limited to sites.
      ['GET', '/audit', undefined],
      ['GET', '/audit/verify', undefined],
      ['GET', '/audit/export', undefined],
      ['POST', '/sites', { id: 'plant-c', name: 'Plant C' }],
      [
        'PUT',
        '/security/policy',
        { mfaRequiredRoles: [], idleTimeoutSeconds: 900, absoluteTimeoutSeconds: 3600 },
      ],
    ] as const) {
      const r = await as('adminA', method, p, body);
      expect(r.status, `${method} ${p}`).toBe(403);
      expect(r.body.code).toBe('CLOUD_FORBIDDEN');
    }
    expect((await as('admin', 'POST', '/api-tokens', { name: 'by the tenant admin' })).status).toBe(201);
    const session = await as('adminA', 'GET', '/auth/session');
    expect(session.body.permissions).not.toContain('tenant:manage');
    expect(session.body.permissions).toContain('sites:manage');

    // Users: only those of its sites; not its own role; only its own sites to give.
    const users = (await as('adminA', 'GET', '/users')).body.items as { id: string }[];
    expect(users.map((u) => u.id).sort()).toEqual([ids.adminA, ids.techA, ids.mgrA, ids.clearedA].sort());
    const noUser = await as('adminA', 'GET', '/users/00000000-0000-4000-8000-000000000000');
    const unscoped = await as('adminA', 'GET', `/users/${ids.admin}`);
    expect(unscoped.status).toBe(404);
    expect(bare(unscoped.body)).toEqual(bare(noUser.body));
    expect((await as('adminA', 'PUT', `/users/${ids.admin}/role`, { role: 'technician' })).status).toBe(404);
    const self = await as('adminA', 'PUT', `/users/${ids.adminA}/role`, { role: 'admin', sites: null });
    expect(self.status).toBe(403);
    // Not even within its own sites: its own role is another admin's to change.
    const selfWithin = await as('adminA', 'PUT', `/users/${ids.adminA}/role`, {
      role: 'manager',
      sites: ['plant-a'],
    });
    expect(selfWithin.status).toBe(403);
    const widen = await as('adminA', 'PUT', `/users/${ids.techA}/role`, {
      role: 'technician',
      sites: ['plant-a', 'plant-b'],
    });
    expect(widen.status).toBe(403);
    const create = await as('adminA', 'POST', '/users', { email: 'wide@acme.example', role: 'admin' });
    expect(create.status).toBe(403);
    expect((await as('admin', 'GET', `/users/${ids.adminA}`)).body).toMatchObject({
      role: 'admin',
      sites: ['plant-a'],
    });
    const ok = await as('adminA', 'PUT', `/users/${ids.techA}/role`, { role: 'manager', sites: ['plant-a'] });
    expect(ok.status).toBe(200);
    expect(
      (await as('adminA', 'PUT', `/users/${ids.techA}/role`, { role: 'technician', sites: ['plant-a'] }))
        .status,
    ).toBe(200);
  });

  it('export clearance comes from a second admin, never from oneself', async () => {
    const self = await as('adminA', 'PUT', `/users/${ids.adminA}/us-person`, { usPerson: true });
    expect(self.status).toBe(403);
    expect(self.body.code).toBe('CLOUD_FORBIDDEN');
    expect((await as('admin', 'GET', `/users/${ids.adminA}`)).body.usPerson).toBe(false);
    expect((await as('admin', 'PUT', `/users/${ids.admin}/us-person`, { usPerson: false })).status).toBe(403);
    const granted = await as('admin', 'PUT', `/users/${ids.adminA}/us-person`, { usPerson: true });
    expect(granted.status).toBe(200);
    expect(granted.body.usPerson).toBe(true);
    expect((await as('admin', 'PUT', `/users/${ids.adminA}/us-person`, { usPerson: false })).status).toBe(
      200,
    );
  });

  it('out-of-tolerance decisions: another site’s or a flagged case answers 404, as an absent one', async () => {
    const cases = (await as('admin', 'GET', '/oot-cases')).body.items as { id: string; equipment: string }[];
    const flagged = cases.find((k) => k.equipment === 'PT-RAIL-03')!;
    const other = cases.find((k) => k.equipment === 'GAUGE-B')!;
    const decision = {
      scope: 'part',
      items: ['A-0001'],
      impact: 'no-impact',
      assessment: 'no effect on this part',
      disposition: 'use-as-is',
      signature: { password: PW.mgrA, meaning: 'approved' },
    };
    const absent = await as(
      'mgrA',
      'POST',
      '/oot-cases/00000000-0000-4000-8000-000000000000/decisions',
      decision,
    );
    expect(absent.status).toBe(404);
    for (const k of [flagged, other]) {
      const r = await as('mgrA', 'POST', `/oot-cases/${k.id}/decisions`, decision);
      expect(r.status).toBe(404);
      expect(bare(r.body)).toEqual(bare(absent.body));
    }
  });

  it('a replayed batch changes nothing of the edge: last contact and backlog move only with new records', async () => {
    const health = async () =>
      (
        (await as('admin', 'GET', '/admin/edges')).body.items as {
          id: string;
          lastContactAt: string;
          backlog: number | null;
          backlogReportedAt: string | null;
        }[]
      ).find((e) => e.id === edgeA.id)!;
    const before = await health();
    expect(before.backlog).toBe(3);
    await new Promise((r) => setTimeout(r, 20));
    const replay = await edgeA.replay(0, undefined, backlog('424242'));
    expect(replay.status).toBe(200);
    expect(replay.body.accepted).toBe(0);
    expect(await health()).toEqual(before);
    await edgeA.ingest(edgeA.examples(1), backlog('5'));
    const after = await health();
    expect(after.backlog).toBe(5);
    expect(after.lastContactAt > before.lastContactAt).toBe(true);
  });
});
