import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyEvidence } from '@rigtrace/protocols';
import { createAccounts } from '../src/access/accounts.js';
import { wholeTenant, type Viewer } from '../src/access/index.js';
import type { Role } from '../src/access/policy.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { Witness } from '../src/platform/witness.js';
import { TestEdge } from './helpers/edge.js';
import { apiCall, signIn, type Session } from './helpers/signed-in.js';
import { asOwner, BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

/**
 * Export control on raw records (`GET /records`) and evidence bundles: a record is flagged when
 * its equipment, or a gauge it names, is ITAR/EAR-flagged in the register. Callers who are not
 * cleared (usPerson false, API tokens) never get one; cleared users do, and every one served is
 * logged. Also: registering a tag taken by a flagged entry the caller may not see is refused
 * with the same answer as a register write outside the caller's sites.
 */

const PW: Record<string, string> = {
  admin: 'holds the keys to every plant',
  cleared: 'granted bench work nine',
  uncleared: 'plain bench work only 7',
  manager: 'line lead without papers',
  auditor: 'reads every trail entry',
  scoped: 'second plant bench hand 5x',
};

// Example records (exampleRecords 1..10): 1, 6 telemetry, 2, 7 usage and 5, 10 events of RIG-FLOW-01;
// 3, 8 inspections on RIG-FLOW-01 naming the gauges FLOW-CELL-07, PT-RAIL-03, TT-OIL-02;
// 4, 9 calibrations of PT-RAIL-03. PT-RAIL-03 is ITAR-flagged below: 3, 4, 8, 9 are flagged.
const FLAGGED = [3, 4, 8, 9];
const PLAIN = [1, 2, 5, 6, 7, 10];

describe.each(BACKENDS)('export control on records and evidence on %s', (backend) => {
  let storage: TestStorage;
  let cloud: RunningCloud;
  let apiToken = '';
  let edgeId = '';
  const s: Record<string, Session> = {};
  const ids: Record<string, string> = {};
  const as = (who: string, method: string, p: string, body?: unknown) =>
    apiCall(cloud.url, who === 'token' ? apiToken : s[who]!, method, p, body);
  const seqs = (items: { seq: number }[]) => items.map((i) => i.seq);
  const bare = (b: Record<string, unknown>) => ({ ...b, instance: undefined });
  const UNCLEARED = ['uncleared', 'manager', 'auditor', 'token'];
  const EVIDENCE_UNCLEARED = ['manager', 'auditor', 'token'];

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
    const by = { actor: { type: 'system' as const, id: 'test' }, address: null };
    const users: [string, Role, boolean, string[] | null][] = [
      ['admin', 'admin', true, null],
      ['cleared', 'technician', true, null],
      ['uncleared', 'technician', false, null],
      ['manager', 'manager', false, null],
      ['auditor', 'auditor', false, null],
      ['scoped', 'technician', false, ['plant-2']],
    ];
    for (const [who, role, usPerson, sites] of users) {
      const u = await accounts.users.create(by, 'acme', {
        email: `${who}@acme.example`,
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
      loadCloudConfig({}, { ...storage.overrides, port: '0' }),
      pino({ level: 'silent' }),
    );
    for (const [who] of users) s[who] = await signIn(cloud.url, 'acme', `${who}@acme.example`, PW[who]!);
    const reg = await as('cleared', 'POST', '/equipment', {
      tag: 'PT-RAIL-03',
      siteId: 'plant-1',
      type: 'transducer',
      intervalDays: 180,
      exportControl: { regime: 'ITAR', eccn: '3A001.b.2' },
    });
    expect(reg.status, reg.text).toBe(201);
    expect(
      (
        await as('cleared', 'POST', '/equipment', {
          tag: 'RIG-FLOW-01',
          siteId: 'plant-1',
          type: 'rig',
          intervalDays: 180,
        })
      ).status,
    ).toBe(201);
    const edge = await new TestEdge(cloud.url).enroll(enroll.token, 'line-1');
    edgeId = edge.id;
    await edge.ingest(edge.examples(10));
  });
  afterAll(async () => {
    await cloud?.close();
    await storage?.cleanup();
  });

  const accessLog = async () => (await as('admin', 'GET', '/export-access?limit=1000')).body.items as any[];

  it('leaves flagged records out of /records for callers who are not cleared, on every page', async () => {
    const before = (await accessLog()).length;
    for (const who of UNCLEARED) {
      const all = await as(who, 'GET', `/records?edge=${edgeId}`);
      expect(all.status, who).toBe(200);
      expect(seqs(all.body.items), who).toEqual(PLAIN);
      expect(all.text, who).not.toContain('PT-RAIL-03');
      for (const q of ['kind=inspection', 'kind=calibration', 'equipment=PT-RAIL-03'])
        expect((await as(who, 'GET', `/records?edge=${edgeId}&${q}`)).body.items, `${who} ${q}`).toEqual([]);
      // Page by page: the cursor walks on, and no page holds a flagged record.
      const paged: number[] = [];
      let after: string | null = null;
      for (let i = 0; i < 20; i++) {
        const page: Awaited<ReturnType<typeof as>> = await as(
          who,
          'GET',
          `/records?edge=${edgeId}&limit=2${after ? `&after=${encodeURIComponent(after)}` : ''}`,
        );
        paged.push(...seqs(page.body.items));
        after = page.body.next;
        if (!after) break;
      }
      expect(paged, who).toEqual(PLAIN);
    }
    // Nothing flagged was served to them, so nothing was logged.
    expect((await accessLog()).length).toBe(before);
  });

  it('gives callers who are not cleared full pages whose cursor names a record they were served', async () => {
    // 3 and 8 are inspections of unflagged equipment that name the flagged gauge PT-RAIL-03:
    // a page ending on one must neither come back short nor hand out its edge:seq as the cursor.
    for (const who of UNCLEARED) {
      let after: string | null = null;
      const paged: number[] = [];
      for (let i = 0; i < 20; i++) {
        const page: Awaited<ReturnType<typeof as>> = await as(
          who,
          'GET',
          `/records?edge=${edgeId}&limit=1${after ? `&after=${encodeURIComponent(after)}` : ''}`,
        );
        expect(page.status, who).toBe(200);
        const got = seqs(page.body.items);
        paged.push(...got);
        after = page.body.next;
        if (!after) break;
        expect(got, `${who}: a page with a cursor`).toHaveLength(1);
        expect(after, who).toBe(`${edgeId}:${got[0]}`);
      }
      expect(paged, who).toEqual(PLAIN);
    }
  });

  it('serves flagged records to cleared users and logs each one', async () => {
    const before = (await accessLog()).length;
    const all = await as('cleared', 'GET', `/records?edge=${edgeId}`);
    expect(seqs(all.body.items)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const fresh = (await accessLog()).slice(before);
    expect(
      fresh.map((r) => [r.objectType, r.objectId, r.regime, r.eccn, r.route, r.principal]).sort(),
    ).toEqual(
      FLAGGED.map((n) => [
        'record',
        `${edgeId}:${n}`,
        'ITAR',
        '3A001.b.2',
        'GET /records',
        `user:${ids.cleared}`,
      ]),
    );
    const audit = (await as('admin', 'GET', '/audit?limit=1000')).body.items.map((i: any) => i.entry);
    expect(
      audit.filter((e: any) => e.action === 'export.access' && e.outcome === 'success').at(-1),
    ).toMatchObject({
      actor: { id: ids.cleared },
      after: { route: 'GET /records', count: 4 },
    });
    // Withdrawing the clearance hides them again at the next request.
    expect((await as('admin', 'PUT', `/users/${ids.cleared}/us-person`, { usPerson: false })).status).toBe(
      200,
    );
    expect(seqs((await as('cleared', 'GET', `/records?edge=${edgeId}`)).body.items)).toEqual(PLAIN);
    expect((await as('admin', 'PUT', `/users/${ids.cleared}/us-person`, { usPerson: true })).status).toBe(
      200,
    );
  });

  it('never puts a flagged record into an evidence bundle for a caller who is not cleared', async () => {
    const before = (await accessLog()).length;
    for (const who of EVIDENCE_UNCLEARED) {
      const absent = await as(who, 'GET', `/edges/${edgeId}/evidence?seq=99`);
      expect(absent.status, who).toBe(404);
      for (const q of ['4', '3', '1,4', '2,8,9']) {
        const r = await as(who, 'GET', `/edges/${edgeId}/evidence?seq=${q}`);
        expect(r.status, `${who} ${q}`).toBe(404);
        expect(r.text, `${who} ${q}`).not.toContain('PT-RAIL-03');
        expect(r.text, `${who} ${q}`).not.toContain('ITAR');
      }
      // Same answer as an absent record, naming the same seq.
      const one = await as(who, 'GET', `/edges/${edgeId}/evidence?seq=4`);
      const gone = await as(who, 'GET', `/edges/${edgeId}/evidence?seq=11`);
      expect(bare(one.body)).toEqual({ ...bare(gone.body), detail: gone.body.detail.replace('11', '4') });
      // Plain records still come in a bundle that verifies offline; it holds only them.
      const ok = await as(who, 'GET', `/edges/${edgeId}/evidence?seq=1,2,10`);
      expect(ok.status, who).toBe(200);
      expect(ok.body.records.map((r: any) => r.record.seq)).toEqual([1, 2, 10]);
      expect(ok.text).not.toContain('PT-RAIL-03');
      expect(verifyEvidence(ok.body)).toEqual({ ok: true, verified: 3 });
    }
    expect((await accessLog()).length).toBe(before);
    // Each refusal is a security event naming the record.
    const audit = (await as('admin', 'GET', '/audit?limit=1000')).body.items.map((i: any) => i.entry);
    const refused = audit.filter(
      (e: any) => e.action === 'export.access' && e.outcome === 'failure' && e.target?.type === 'record',
    );
    expect(refused.length).toBeGreaterThanOrEqual(EVIDENCE_UNCLEARED.length * 5);
    expect(refused.find((e: any) => e.actor.type === 'api-token')).toMatchObject({
      target: { id: `${edgeId}:4` },
    });
  });

  it('gives a cleared user flagged records in a bundle, logged per record', async () => {
    const before = (await accessLog()).length;
    const r = await as('admin', 'GET', `/edges/${edgeId}/evidence?seq=1,3,4`);
    expect(r.status, r.text).toBe(200);
    expect(r.body.records.map((x: any) => x.record.seq)).toEqual([1, 3, 4]);
    expect(verifyEvidence(r.body)).toEqual({ ok: true, verified: 3 });
    const fresh = (await accessLog()).slice(before);
    expect(fresh.map((x) => [x.objectType, x.objectId, x.route, x.userId]).sort()).toEqual([
      ['record', `${edgeId}:3`, 'GET /edges/{edgeId}/evidence', ids.admin],
      ['record', `${edgeId}:4`, 'GET /edges/{edgeId}/evidence', ids.admin],
    ]);
    if (backend === 'postgres') {
      const rows = await asOwner<{ n: string }>(
        storage.databaseUrl!,
        "SELECT count(*) AS n FROM export_access_log WHERE object_type = 'record'",
      );
      expect(Number(rows[0]!.n)).toBe((await accessLog()).filter((x) => x.objectType === 'record').length);
    }
  });

  it('reads one record, a count, checkpoints and leaves as the reader; proofs from the whole log', async () => {
    const store = await openStore(loadCloudConfig({}, storage.overrides), undefined, { migrate: false });
    try {
      const r = store.records;
      const reader = (cleared: boolean, sites: string[] | null): Viewer => ({
        kind: 'user',
        tenantId: 'acme',
        id: 'reader',
        sites,
        cleared,
      });
      const cleared = reader(true, null);
      const notCleared = reader(false, null);
      const otherSite = reader(true, ['plant-2']);
      const whole = wholeTenant('acme');
      // One record and a count: the site of the record's edge, and export control (the record's
      // equipment, 4 and 9; a gauge it names, 3 and 8).
      expect(await r.count(cleared, edgeId)).toBe(10);
      expect(await r.count(notCleared, edgeId)).toBe(PLAIN.length);
      expect(await r.count(otherSite, edgeId)).toBe(0);
      for (const seq of FLAGGED) {
        expect(await r.get(notCleared, edgeId, seq), `${seq}`).toBeUndefined();
        expect((await r.get(cleared, edgeId, seq))?.seq, `${seq}`).toBe(seq);
      }
      expect((await r.get(notCleared, edgeId, 2))?.seq).toBe(2);
      expect(await r.get(otherSite, edgeId, 2)).toBeUndefined();
      // The log (hashes and signed notes, not what a record says): the edge's site only.
      expect((await r.latestCheckpoint(notCleared, edgeId))?.size).toBe(10);
      expect(await r.latestCheckpoint(otherSite, edgeId)).toBeUndefined();
      expect(await r.checkpointsOf(otherSite, edgeId)).toEqual([]);
      expect(await r.checkpointAt(otherSite, edgeId, 10)).toBeUndefined();
      expect((await r.leafHashes(otherSite, edgeId, [1, 3])).size).toBe(0);
      expect(await r.allLeafHashes(otherSite, edgeId, 10)).toEqual([]);
      expect(await r.acceptedSince(otherSite, '2000-01-01T00:00:00.000Z')).toEqual(new Map());
      expect(await r.acceptedSince(notCleared, '2000-01-01T00:00:00.000Z')).toEqual(new Map([[edgeId, 10]]));
      // Proofs need every leaf, the flagged records' included: read as the whole tenant.
      expect(await r.allLeafHashes(whole, edgeId, 10)).toHaveLength(10);
      expect([...(await r.leafHashes(whole, edgeId, FLAGGED)).keys()].sort()).toEqual(FLAGGED);
      expect((await r.checkpointAt(whole, edgeId, 10))?.size).toBe(10);
      // Log verification reads every record's JSON: never for a reader not cleared.
      expect((await r.leafPage(whole, edgeId, 0, 10, 100)).map((x) => x.seq)).toEqual(
        [...FLAGGED, ...PLAIN].sort((a, b) => a - b),
      );
      await expect(r.leafPage(notCleared, edgeId, 0, 10, 100)).rejects.toThrow(/cleared/);
    } finally {
      await store.db.close();
    }
  });

  it('refuses to register a hidden flagged tag without saying that it exists', async () => {
    const body = (tag: string, siteId = 'plant-1') => ({ tag, siteId, type: 'instrument', intervalDays: 30 });
    const taken = await as('uncleared', 'POST', '/equipment', body('PT-RAIL-03'));
    expect(taken.status).toBe(403);
    expect(taken.text).not.toMatch(/ITAR|already|exist|taken|PT-RAIL-03/i);
    // The same answer as a register write outside a scoped caller's sites (which reveals nothing).
    const outside = await as('scoped', 'POST', '/equipment', body('ANY-TAG'));
    expect(bare(taken.body)).toEqual(bare(outside.body));
    expect((await as('scoped', 'POST', '/equipment', body('PT-RAIL-03'))).status).toBe(403);
    // Validation still comes first, the same for every tag.
    const invalid = await as('uncleared', 'POST', '/equipment', { tag: 'PT-RAIL-03', siteId: 'plant-1' });
    const invalidNew = await as('uncleared', 'POST', '/equipment', { tag: 'NEW-TAG-1', siteId: 'plant-1' });
    expect([invalid.status, bare(invalid.body)]).toEqual([400, bare(invalidNew.body)]);
    // A cleared user sees the entry, so the conflict is named.
    expect((await as('cleared', 'POST', '/equipment', body('PT-RAIL-03'))).status).toBe(409);
    // Nothing changed, and the probe is on the audit trail.
    const entry = await as('cleared', 'GET', '/equipment/PT-RAIL-03');
    expect(entry.body).toMatchObject({
      type: 'transducer',
      intervalDays: 180,
      exportControl: { regime: 'ITAR' },
    });
    const audit = (await as('admin', 'GET', '/audit?limit=1000')).body.items.map((i: any) => i.entry);
    expect(
      audit.filter(
        (e: any) =>
          e.action === 'export.access' &&
          e.outcome === 'failure' &&
          e.target?.id === 'PT-RAIL-03' &&
          e.actor.id === ids.uncleared,
      ),
    ).toHaveLength(1);
  });
  it('audits a CSV import row naming a tag the caller may not see (flagged, or of another site)', async () => {
    const refusals = async () =>
      ((await as('admin', 'GET', '/audit?limit=1000')).body.items as { entry: any }[])
        .map((i) => i.entry)
        .filter(
          (e: any) =>
            e.outcome === 'failure' &&
            (e.action === 'export.access' || e.action === 'equipment.create') &&
            e.detail.includes('POST /equipment/import'),
        );
    const refused = { column: 'tag', message: 'this equipment may not be registered or changed by you' };
    for (const [who, tag, siteId, action] of [
      ['uncleared', 'PT-RAIL-03', 'plant-1', 'export.access'],
      ['scoped', 'RIG-FLOW-01', 'plant-2', 'equipment.create'],
    ] as const) {
      const before = (await refusals()).length;
      const csv = `tag,siteId,type,intervalDays\n${tag},${siteId},instrument,30\n`;
      const r = await as(who, 'POST', '/equipment/import', { csv, dryRun: true });
      expect(r.status, r.text).toBe(200);
      expect(r.body.rows[0].problems).toEqual([refused]);
      expect(r.text).not.toMatch(/ITAR|already/i);
      const after = await refusals();
      // One audit entry for the probe, naming the caller and the tag.
      expect(after.length, who).toBe(before + 1);
      expect(after.at(-1)).toMatchObject({
        action,
        actor: { id: ids[who] },
        target: { type: 'equipment', id: tag },
      });
    }
  });
});
