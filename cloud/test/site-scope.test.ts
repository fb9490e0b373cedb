import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { RigRecord } from '@rigtrace/protocols';
import { createAccounts } from '../src/access/accounts.js';
import type { Role } from '../src/access/policy.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { Witness } from '../src/platform/witness.js';
import { tinyPdf } from './helpers/certificates.js';
import { TestEdge } from './helpers/edge.js';
import { apiCall, signIn, type Session } from './helpers/signed-in.js';
import { BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

/**
 * Site scope on every route of the calibration engine and of the records API: a user limited to
 * plant-a sees nothing of plant-b (lists filtered in the query, so pages stay full), gets 404 for
 * each plant-b item exactly as for an absent one, and cannot change plant-b's register or
 * calibrations. The unscoped admin sees both sites (so each check can fail).
 */

const PW: Record<string, string> = {
  admin: 'both plants full access words',
  techA: 'first plant bench worker 4',
  mgrA: 'first plant line lead words',
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

/**
 * The example records (seq 1–10: telemetry, usage, inspection, calibration, event, twice) of one
 * site's edge, renamed to that site's rig and gauge. Site B's second inspection (seq 8) also names
 * site A's gauge: a gauge lent to the other plant.
 */
function siteRecords(examples: readonly RigRecord[], site: 'A' | 'B'): RigRecord[] {
  const rename = (t: string) =>
    t === 'RIG-FLOW-01' ? `RIG-${site}` : t === 'PT-RAIL-03' ? `GAUGE-${site}` : t;
  return examples.map((r) => {
    const out = { ...r, equipment: rename(r.equipment) } as RigRecord;
    if (out.kind === 'inspection' || out.kind === 'usage') {
      const body = { ...out.body, partSerial: `${site}-${out.body.partSerial}` } as Record<string, unknown>;
      if (out.kind === 'inspection')
        body.gauges = site === 'B' && out.seq === 8 ? ['GAUGE-B', 'GAUGE-A'] : [`GAUGE-${site}`];
      (out as { body: unknown }).body = body;
    }
    return out;
  });
}

/** The distinct records (edge:seq) of a suspect-records CSV (one line per record and characteristic). */
const csvRecords = (text: string) =>
  new Set(
    text
      .trim()
      .split('\r\n')
      .slice(1)
      .map((l) => l.split(',').slice(0, 2).join(':')),
  );

describe.each(BACKENDS)('site scope on %s', (backend) => {
  let storage: TestStorage;
  let cloud: RunningCloud;
  let apiToken = '';
  const edges: Record<'A' | 'B', string> = { A: '', B: '' };
  const edgeOf: Partial<Record<'A' | 'B', TestEdge>> = {};
  const s: Record<string, Session> = {};
  const cal: Record<string, string> = {};
  const as = (who: string, method: string, p: string, body?: unknown) =>
    apiCall(cloud.url, who === 'token' ? apiToken : s[who]!, method, p, body);
  const tags = (items: { tag: string }[]) => items.map((i) => i.tag);
  /** A problem without its `instance` (the request path, which differs by design). */
  const bare = (b: Record<string, unknown>) => ({ ...b, instance: undefined });
  const where = (items: { edge: string; seq: number }[]) => items.map((i) => `${i.edge}:${i.seq}`);
  const inA = (n: number[]) => n.map((seq) => `${edges.A}:${seq}`);
  const from = new Date(Date.parse('2026-11-23T05:51:12.123Z') - 86_400_000).toISOString();
  const to = () => new Date(Date.now() + 86_400_000).toISOString();

  setupOrFailEach(async () => {
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
    const users: [string, Role, string[] | null][] = [
      ['admin', 'admin', null],
      ['techA', 'technician', ['plant-a']],
      ['mgrA', 'manager', ['plant-a']],
    ];
    for (const [who, role, sites] of users)
      await accounts.users.create(by, 'acme', {
        email: `${who.toLowerCase()}@acme.example`,
        role,
        sites,
        password: PW[who]!,
        mustChangePassword: false,
      });
    await store.db.close();
    cloud = await startCloud(
      loadCloudConfig({}, { ...storage.overrides, port: '0' }),
      pino({ level: 'silent' }),
    );
    for (const [who] of users)
      s[who] = await signIn(cloud.url, 'acme', `${who.toLowerCase()}@acme.example`, PW[who]!);

    for (const [site, tag] of [
      ['plant-a', 'RIG-A'],
      ['plant-a', 'GAUGE-A'],
      ['plant-b', 'RIG-B'],
      ['plant-b', 'GAUGE-B'],
    ] as const) {
      const r = await as('admin', 'POST', '/equipment', {
        tag,
        siteId: site,
        type: 'instrument',
        intervalDays: 180,
      });
      expect(r.status, r.text).toBe(201);
    }
    for (const [site, token] of [
      ['A', enrollA.token],
      ['B', enrollB.token],
    ] as const) {
      const edge = await new TestEdge(cloud.url).enroll(token, `line-${site}`);
      edges[site] = edge.id;
      edgeOf[site] = edge;
      await edge.ingest(siteRecords(edge.examples(10), site));
    }
    // A failed calibration of each gauge (signed by the admin, pending approval): suspect windows.
    for (const g of ['GAUGE-A', 'GAUGE-B']) {
      const r = await as('admin', 'POST', '/calibrations', {
        equipment: g,
        enteredBy: 'admin',
        body: failing(1),
        signature: { password: PW.admin, meaning: 'performed' },
      });
      expect(r.status, r.text).toBe(201);
      cal[g] = r.body.calibration.id;
    }
  });
  afterAll(async () => {
    await cloud?.close();
    await storage?.cleanup();
  });

  it('lists only the caller’s sites, filtered in the query (full pages, right cursors)', async () => {
    // The register.
    expect(tags((await as('admin', 'GET', '/equipment')).body.items)).toEqual([
      'GAUGE-A',
      'GAUGE-B',
      'RIG-A',
      'RIG-B',
    ]);
    expect(tags((await as('techA', 'GET', '/equipment')).body.items)).toEqual(['GAUGE-A', 'RIG-A']);
    expect((await as('techA', 'GET', '/equipment?site=plant-b')).body.items).toEqual([]);
    const p1 = await as('techA', 'GET', '/equipment?limit=1');
    expect([tags(p1.body.items), p1.body.next]).toEqual([['GAUGE-A'], 'GAUGE-A']);
    const p2 = await as('techA', 'GET', `/equipment?limit=1&after=${p1.body.next}`);
    expect([tags(p2.body.items), p2.body.next]).toEqual([['RIG-A'], 'RIG-A']);

    // The due-list.
    const dueAll = await as('admin', 'GET', '/due-list?days=400');
    expect(dueAll.body.sites.map((x: any) => x.siteId)).toEqual(['plant-a', 'plant-b']);
    const due = await as('techA', 'GET', '/due-list?days=400');
    expect(due.body.sites.map((x: any) => [x.siteId, tags(x.items).sort()])).toEqual([
      ['plant-a', ['GAUGE-A', 'RIG-A']],
    ]);
    expect((await as('techA', 'GET', '/due-list?days=400&site=plant-b')).body.sites).toEqual([]);
    const due1 = await as('techA', 'GET', '/due-list?days=400&limit=2');
    expect(due1.body.sites.flatMap((x: any) => tags(x.items)).sort()).toEqual(['GAUGE-A', 'RIG-A']);

    // Inspections and usage.
    expect((await as('admin', 'GET', '/inspections')).body.items).toHaveLength(4);
    expect(where((await as('techA', 'GET', '/inspections')).body.items)).toEqual(inA([3, 8]));
    const i1 = await as('techA', 'GET', '/inspections?limit=1');
    expect(where(i1.body.items)).toEqual(inA([3]));
    const i2 = await as('techA', 'GET', `/inspections?limit=1&after=${encodeURIComponent(i1.body.next)}`);
    expect(where(i2.body.items)).toEqual(inA([8]));
    for (const q of ['site=plant-b', 'equipment=RIG-B', 'partSerial=B-INJ-0426-000003'])
      expect((await as('techA', 'GET', `/inspections?${q}`)).body.items, q).toEqual([]);
    expect((await as('admin', 'GET', '/inspections?equipment=RIG-B')).body.items).toHaveLength(2);
    expect((await as('admin', 'GET', '/usage')).body.items).toHaveLength(4);
    expect(where((await as('techA', 'GET', '/usage')).body.items)).toEqual(inA([2, 7]));
    expect((await as('techA', 'GET', '/usage?site=plant-b')).body.items).toEqual([]);

    // First-pass yield.
    const range = `from=${from}&to=${to()}`;
    const rigs = async (who: string, q = '') =>
      (await as(who, 'GET', `/yield?${range}${q}`)).body.perRig.map((r: any) => r.equipment).sort();
    expect(await rigs('admin')).toEqual(['RIG-A', 'RIG-B']);
    expect(await rigs('techA')).toEqual(['RIG-A']);
    expect(await rigs('techA', '&equipment=RIG-B')).toEqual([]);
    const yA = await as('techA', 'GET', `/yield?${range}`);
    expect(yA.body.perRigDay.map((r: any) => r.equipment)).toEqual(['RIG-A']);

    // Suspect records of site A's gauge: site B's inspection that used it is not shown.
    const suspectsAll = await as('admin', 'GET', '/equipment/GAUGE-A/suspect-records');
    expect(where(suspectsAll.body.items)).toEqual([...inA([3, 8]), `${edges.B}:8`].sort(byObserved));
    const suspects = await as('techA', 'GET', '/equipment/GAUGE-A/suspect-records');
    expect(where(suspects.body.items)).toEqual(inA([3, 8]));
    const csv = await as('techA', 'GET', '/equipment/GAUGE-A/suspect-records?format=csv');
    expect(csvRecords(csv.text).size).toBe(2);
    expect(csv.text).not.toContain(edges.B);
    expect(csv.text).not.toContain('plant-b');

    // The approvals queue, edges and records.
    const pending = async (who: string) =>
      (await as(who, 'GET', '/calibrations?approval=pending')).body.items.map((c: any) => c.equipment);
    expect(await pending('admin')).toEqual(['GAUGE-A', 'GAUGE-B']);
    expect(await pending('techA')).toEqual(['GAUGE-A']);
    expect((await as('techA', 'GET', '/edges')).body.items.map((e: any) => e.id)).toEqual([edges.A]);
    const records = await as('techA', 'GET', `/records?edge=${edges.A}`);
    expect(records.body.items).toHaveLength(10);
    expect(new Set(records.body.items.map((r: any) => r.edge))).toEqual(new Set([edges.A]));
    // Naming site B's edge is refused exactly like naming an edge that does not exist.
    const absentEdge = await as('techA', 'GET', '/records?edge=no-such-edge');
    const otherEdge = await as('techA', 'GET', `/records?edge=${edges.B}`);
    expect(otherEdge.status).toBe(absentEdge.status);
    expect(bare(otherEdge.body)).toEqual(bare(absentEdge.body));
    expect((await as('admin', 'GET', `/records?edge=${edges.B}`)).body.items).toHaveLength(10);
    // The tenant-wide default is not site data.
    expect((await as('techA', 'GET', '/calibration-settings')).status).toBe(200);
  });

  it('answers 404 for every site-B item, exactly as for an absent one', async () => {
    const absent = await as('techA', 'GET', '/equipment/NO-SUCH-TAG');
    expect(absent.status).toBe(404);
    for (const p of [
      '/equipment/RIG-B',
      '/equipment/GAUGE-B',
      '/equipment/GAUGE-B/calibrations',
      '/equipment/GAUGE-B/suspect-records',
      '/equipment/GAUGE-B/suspect-records?format=csv',
      `/equipment/GAUGE-B/suspect-records?calibration=${encodeURIComponent(cal['GAUGE-B']!)}`,
    ]) {
      const r = await as('techA', 'GET', p);
      expect(r.status, p).toBe(404);
      expect(bare(r.body), p).toEqual(bare(absent.body));
      expect((await as('admin', 'GET', p)).status, `admin ${p}`).toBe(200);
    }
    const absentEdge = await as('mgrA', 'GET', '/edges/no-such-edge');
    for (const p of [`/edges/${edges.B}`, `/edges/${edges.B}/evidence?seq=1`]) {
      const r = await as('mgrA', 'GET', p);
      expect(r.status, p).toBe(404);
      expect(bare(r.body), p).toEqual(bare(absentEdge.body));
      expect((await as('admin', 'GET', p)).status, `admin ${p}`).toBe(200);
    }
    expect((await as('mgrA', 'GET', `/edges/${edges.A}/evidence?seq=1,3`)).status).toBe(200);
  });

  it('refuses every write to site B and changes nothing', async () => {
    const absent = await as('techA', 'PUT', '/equipment/NO-SUCH-TAG', {
      siteId: 'plant-a',
      type: 'instrument',
      intervalDays: 9,
    });
    expect(absent.status).toBe(404);
    const put = await as('techA', 'PUT', '/equipment/RIG-B', {
      siteId: 'plant-a',
      type: 'instrument',
      intervalDays: 9,
    });
    expect([put.status, bare(put.body)]).toEqual([404, bare(absent.body)]);
    expect((await as('techA', 'DELETE', '/equipment/RIG-B')).status).toBe(404);
    const entry = await as('techA', 'POST', '/calibrations', {
      equipment: 'GAUGE-B',
      enteredBy: 'tech a',
      body: failing(1),
      signature: { password: PW.techA, meaning: 'performed' },
    });
    expect(entry.status).toBe(404);
    const approve = await as(
      'techA',
      'POST',
      `/calibrations/${encodeURIComponent(cal['GAUGE-B']!)}/approve`,
      {
        password: PW.techA,
        meaning: 'approved',
      },
    );
    expect(approve.status).toBe(404);

    // Registering: a site outside the scope, and a tag taken by site B's equipment, get one answer.
    const newInB = await as('techA', 'POST', '/equipment', {
      tag: 'NEW-B',
      siteId: 'plant-b',
      type: 'instrument',
      intervalDays: 30,
    });
    expect(newInB.status).toBe(403);
    const nowhere = await as('techA', 'POST', '/equipment', {
      tag: 'NEW-X',
      siteId: 'no-such-site',
      type: 'instrument',
      intervalDays: 30,
    });
    const taken = await as('techA', 'POST', '/equipment', {
      tag: 'RIG-B',
      siteId: 'plant-a',
      type: 'instrument',
      intervalDays: 30,
    });
    expect([taken.status, bare(taken.body)]).toEqual([403, bare(newInB.body)]);
    expect(bare(nowhere.body)).toEqual(bare(newInB.body));
    const moved = await as('techA', 'PUT', '/equipment/RIG-A', {
      siteId: 'plant-b',
      type: 'instrument',
      intervalDays: 30,
    });
    expect([moved.status, bare(moved.body)]).toEqual([403, bare(newInB.body)]);
    const settings = await as('techA', 'PUT', '/calibration-settings', { dueSoonDays: 5 });
    expect(settings.status).toBe(403);

    // Nothing changed.
    const rigB = await as('admin', 'GET', '/equipment/RIG-B');
    expect(rigB.body).toMatchObject({ siteId: 'plant-b', intervalDays: 180, retiredAt: null });
    expect((await as('admin', 'GET', '/equipment/RIG-A')).body.siteId).toBe('plant-a');
    expect((await as('admin', 'GET', '/equipment/NEW-B')).status).toBe(404);
    const calsB = (await as('admin', 'GET', '/equipment/GAUGE-B/calibrations')).body.items;
    expect(calsB.filter((c: any) => c.source === 'manual')).toHaveLength(1);
    expect(calsB.find((c: any) => c.id === cal['GAUGE-B']).approval).toEqual({ state: 'pending' });
    expect((await as('admin', 'GET', '/calibration-settings')).body.dueSoonDays).toBe(30);

    // The probe of a hidden tag is on the audit trail (the answer does not say why).
    const audit = (await as('admin', 'GET', '/audit?limit=1000')).body.items.map((i: any) => i.entry);
    expect(audit.find((e: any) => e.action === 'equipment.create' && e.outcome === 'failure')).toMatchObject({
      target: { type: 'equipment', id: 'RIG-B' },
    });

    // Within its own site the scoped technician still works normally.
    const visibleTaken = await as('techA', 'POST', '/equipment', {
      tag: 'RIG-A',
      siteId: 'plant-a',
      type: 'instrument',
      intervalDays: 30,
    });
    expect(visibleTaken.status).toBe(409);
    expect(
      (
        await as('techA', 'POST', '/equipment', {
          tag: 'NEW-A',
          siteId: 'plant-a',
          type: 'instrument',
          intervalDays: 30,
        })
      ).status,
    ).toBe(201);
    expect(
      (await as('techA', 'PUT', '/equipment/RIG-A', { siteId: 'plant-a', type: 'rig', intervalDays: 90 }))
        .status,
    ).toBe(200);
    const approveA = await as(
      'techA',
      'POST',
      `/calibrations/${encodeURIComponent(cal['GAUGE-A']!)}/approve`,
      {
        password: PW.techA,
        meaning: 'approved',
      },
    );
    expect(approveA.status, approveA.text).toBe(200);
  });

  it('shows a calibration of equipment not yet registered to the readers of the site whose edge sent it', async () => {
    // Each site's edge sends a calibration of an instrument nobody has registered yet: its site is
    // the edge's, for the calibration engine and the reports alike (one rule).
    const sent: Record<'A' | 'B', string> = { A: '', B: '' };
    for (const site of ['A', 'B'] as const) {
      const edge = edgeOf[site]!;
      const [rec] = edge.examples(1, { kinds: ['calibration'] });
      await edge.ingest([{ ...rec!, equipment: `UNREG-${site}` }]);
      sent[site] = `${edge.id}:${rec!.seq}`;
    }
    const certificates = (who: string, id: string) =>
      as(who, 'GET', `/calibrations/${encodeURIComponent(id)}/certificates`);
    for (const who of ['techA', 'mgrA', 'admin']) {
      const r = await certificates(who, sent.A);
      expect(r.status, `${who} ${r.text}`).toBe(200);
      expect(r.body.items).toEqual([]);
    }
    expect((await certificates('admin', sent.B)).status).toBe(200);
    // A certificate attached to it follows the calibration: listed and served to its site's readers.
    const pdf = tinyPdf('Certificate UNREG-A');
    const up = await as('techA', 'POST', `/calibrations/${encodeURIComponent(sent.A)}/certificates`, {
      filename: 'unreg-a.pdf',
      content: pdf.toString('base64'),
    });
    expect(up.status, up.text).toBe(201);
    for (const who of ['techA', 'admin']) {
      const listed = await certificates(who, sent.A);
      expect(
        listed.body.items.map((i: { id: string }) => i.id),
        who,
      ).toEqual([up.body.id]);
      const file = await as(
        who,
        'GET',
        `/calibrations/${encodeURIComponent(sent.A)}/certificates/${encodeURIComponent(up.body.id)}`,
      );
      expect(file.status, who).toBe(200);
    }
    const hidden = await certificates('techA', sent.B);
    const absent = await certificates('techA', `${edges.B}:99999`);
    expect(hidden.status).toBe(404);
    expect(bare(hidden.body)).toEqual(bare(absent.body));
  });
});

/** (observedAt, edge, seq) order of "edge:seq" keys whose records share observedAt per seq. */
function byObserved(a: string, b: string): number {
  const [ea, sa] = [a.slice(0, a.lastIndexOf(':')), Number(a.slice(a.lastIndexOf(':') + 1))];
  const [eb, sb] = [b.slice(0, b.lastIndexOf(':')), Number(b.slice(b.lastIndexOf(':') + 1))];
  return sa - sb || (ea < eb ? -1 : ea > eb ? 1 : 0);
}
