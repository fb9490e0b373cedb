import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { fromBase64, toBase64, verifyEvidence } from '@rigtrace/protocols';
import { loadCloudConfig } from '../src/platform/config.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { openApiDocument } from '../src/openapi.js';
import { TestEdge } from './helpers/edge.js';
import { BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';
import { wholeTenant } from '../src/access/index.js';

/** The whole API in-process, once per storage backend: the same behaviour on each. */
describe.each(BACKENDS)('on %s', (backend) => {
  let storage: TestStorage;
  let cloud: RunningCloud;
  let tokens: { api: string; api2: string; enroll: string[]; expired: string };
  /** Enrolled by the first test, which checks the enrollment answers themselves. */
  let edge: TestEdge;

  async function post(p: string, body: unknown, headers: Record<string, string> = {}) {
    const res = await fetch(`${cloud.url}/api/v1${p}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return {
      status: res.status,
      type: res.headers.get('content-type') ?? '',
      body: (await res.json()) as any,
    };
  }
  async function get(p: string, token = tokens.api) {
    const res = await fetch(`${cloud.url}/api/v1${p}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: (await res.json()) as any };
  }
  async function securityEvents(): Promise<{ code: string; edge_id: string | null }[]> {
    const store = await openStore(loadCloudConfig({}, storage.overrides));
    try {
      return await store.security.list(wholeTenant('acme'), 100);
    } finally {
      await store.db.close();
    }
  }

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    const store = await openStore(loadCloudConfig({}, storage.overrides));
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createSite('acme', 'plant-1', 'Plant 1');
    await store.tenancy.createTenant('other', 'Other Co');
    await store.tenancy.createSite('other', 'p', 'P');
    tokens = {
      api: await store.tenancy.createApiToken('acme', 't'),
      api2: await store.tenancy.createApiToken('other', 't'),
      enroll: [
        (await store.tenancy.createEnrollmentToken('acme', 'plant-1', 3600_000)).token,
        (await store.tenancy.createEnrollmentToken('other', 'p', 3600_000)).token,
      ],
      expired: (await store.tenancy.createEnrollmentToken('acme', 'plant-1', -1000)).token,
    };
    await store.db.close();
    cloud = await startCloud(
      loadCloudConfig({}, { ...storage.overrides, port: '0', maxBodyBytes: String(2 * 1024 * 1024) }),
      pino({ level: 'silent' }),
    );
    edge = new TestEdge(cloud.url);
  });
  afterAll(async () => {
    await cloud?.close();
    await storage?.cleanup();
  });

  describe('enrollment', () => {
    it('admits an edge once per token and refuses used, expired and malformed requests', async () => {
      const pk = edge.publicKey;
      const ok = await post('/edges/enroll', { token: tokens.enroll[0], publicKey: pk, name: 'line-1' });
      expect(ok.status).toBe(201);
      expect(ok.body).toMatchObject({ tenantId: 'acme', siteId: 'plant-1' });
      edge.id = ok.body.edgeId;

      const reused = await post('/edges/enroll', { token: tokens.enroll[0], publicKey: pk, name: 'again' });
      expect(reused.status).toBe(403);
      expect(reused.body.code).toBe('CLOUD_ENROLL_TOKEN_INVALID');
      const expired = await post('/edges/enroll', { token: tokens.expired, publicKey: pk, name: 'late' });
      expect(expired.status).toBe(403);
      const malformed = await post('/edges/enroll', { token: 'x', publicKey: 'short', name: '' });
      expect(malformed.status).toBe(400);
      expect(malformed.type).toContain('application/problem+json');
      expect(malformed.body.errors.map((e: { path: string }) => e.path).sort()).toEqual([
        'name',
        'publicKey',
      ]);
    });
  });

  describe('ingest', () => {
    it('stores a verified batch and serves the records back byte-identical', async () => {
      const records = edge.examples(5);
      const r = await edge.send(records);
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ ackedSeq: 5, accepted: 5, duplicates: 0 });
      expect(r.body.checkpoint).toContain(`\n— ${'rigtrace-cloud'} `);
      const list = await get(`/records?edge=${edge.id}`);
      expect(list.body.items.map((i: { seq: number }) => i.seq)).toEqual([1, 2, 3, 4, 5]);
      expect(list.body.items.map((i: { record: unknown }) => i.record)).toEqual(records);
    });

    it('pages through records with the next cursor', async () => {
      const first = await get(`/records?limit=3`);
      expect(first.body.items.map((i: { seq: number }) => i.seq)).toEqual([1, 2, 3]);
      expect(first.body.next).toBe(`${edge.id}:3`);
      const second = await get(`/records?limit=3&after=${encodeURIComponent(first.body.next)}`);
      expect(second.body.items.map((i: { seq: number }) => i.seq)).toEqual([4, 5]);
      expect(second.body.next).toBeNull();
    });

    it('acknowledges a re-sent batch without storing it twice', async () => {
      const r = await edge.replay(0);
      expect(r.body).toMatchObject({ ackedSeq: 5, accepted: 0, duplicates: 5 });
      expect((await get(`/records?edge=${edge.id}`)).body.items).toHaveLength(5);
    });

    it('answers a batch that skips ahead with the seq it expects, and stores nothing', async () => {
      // The edge's log has 1..8; it sends 7..8 as if the cloud had 6.
      const six = edge.sign(edge.examples(1, { from: 6 }));
      const b = edge.sign(edge.examples(2, { from: 7 }), six.state);
      const r = await edge.post(b.batch);
      expect(r.status).toBe(409);
      expect(r.body).toMatchObject({ code: 'CLOUD_BATCH_NOT_CONTINUOUS', expectedSeq: 6 });
      expect((await get(`/records?edge=${edge.id}`)).body.items).toHaveLength(5);
    });

    it('refuses a batch signed with another key and records a security event', async () => {
      const r = await edge.post(edge.forge(edge.examples(2, { from: 6 })).batch);
      expect(r.status).toBe(422);
      expect(r.body.code).toBe('CLOUD_BATCH_REFUSED');
      expect((r.body.problems as { code: string }[]).map((p) => p.code)).toContain('CHECKPOINT_UNSIGNED');
      expect((await get(`/records?edge=${edge.id}`)).body.items).toHaveLength(5);
      expect((await securityEvents()).some((e) => e.code === 'INGEST_REFUSED' && e.edge_id === edge.id)).toBe(
        true,
      );
    });

    it('refuses a re-sent record whose content changed, naming its seq', async () => {
      const records = edge.examples(5, { from: 3 }); // 3..5 re-sent, 6..7 new
      (records[0] as { equipment: string }).equipment = 'RIG-99';
      const r = await edge.post(edge.sign(records).batch);
      expect(r.status).toBe(422);
      expect(r.body.problems).toContainEqual(
        expect.objectContaining({ code: 'RECORD_REPLAYED_CHANGED', seq: 3 }),
      );
      expect((await get(`/records?edge=${edge.id}`)).body.items).toHaveLength(5);
    });

    it('reports a second root for an accepted size as a fork', async () => {
      const records = edge.examples(5, { from: 1 });
      const forked = edge.checkpoint(5, new Uint8Array(32).fill(7));
      const r = await edge.post({ v: 1, edge: edge.id, records, checkpoint: forked });
      expect(r.status).toBe(409);
      expect(r.body.code).toBe('CLOUD_BATCH_FORK');
      expect((await securityEvents()).some((e) => e.code === 'INGEST_FORK')).toBe(true);
    });

    it('continues the log with the next batch', async () => {
      const b = edge.sign(edge.examples(3, { from: 6 }));
      const r = await edge.post(b.batch);
      expect(r.body).toMatchObject({ ackedSeq: 8, accepted: 3 });
      edge.accept(b);
      const stored = await get(`/edges/${edge.id}`);
      expect(stored.body.log).toEqual({ size: 8, root: toBase64(b.state.root) });
    });

    it('exports evidence that verifies offline, and refuses seqs outside the accepted log', async () => {
      const r = await get(`/edges/${edge.id}/evidence?seq=2,7`);
      expect(r.status).toBe(200);
      expect(r.body.records.map((x: { index: number }) => x.index)).toEqual([1, 6]);
      const witness = (await get('/witness')).body as { name: string; publicKey: string };
      const trust = {
        trustedVerifierKey: edge.verifierKey,
        witness: { name: witness.name, publicKey: fromBase64(witness.publicKey) },
      };
      expect(verifyEvidence(r.body, trust)).toEqual({ ok: true, verified: 2 });
      const tampered = structuredClone(r.body);
      tampered.records[0].record.equipment = 'RIG-99';
      expect(verifyEvidence(tampered, trust).ok).toBe(false);
      expect((await get(`/edges/${edge.id}/evidence?seq=9`)).status).toBe(404);
    });

    it('acknowledges an old batch re-sent after the log moved on, and catches a forged old root', async () => {
      const old = edge.sign(edge.examples(5, { from: 1 }), null);
      const r = await edge.post(old.batch);
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ ackedSeq: 8, accepted: 0, duplicates: 5 });
      const forged = edge.checkpoint(5, new Uint8Array(32).fill(9));
      const f = await edge.post({ ...old.batch, checkpoint: forged });
      expect(f.status).toBe(409);
      expect(f.body.code).toBe('CLOUD_BATCH_FORK');
    });

    it('refuses unknown edges, oversized bodies, non-JSON and malformed JSON with problem+json', async () => {
      const stranger = TestEdge.unenrolled(cloud.url, 'no-such-edge');
      expect((await stranger.send(stranger.examples(1))).status).toBe(403);
      const big = await post(
        '/ingest',
        JSON.stringify({ v: 1, edge: edge.id, records: ['x'.repeat(3 * 1024 * 1024)], checkpoint: '' }),
      );
      expect(big.status).toBe(413);
      expect(big.body.code).toBe('CLOUD_PAYLOAD_TOO_LARGE');
      const text = await fetch(`${cloud.url}/api/v1/ingest`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: 'hi',
      });
      expect(text.status).toBe(415);
      const bad = await post('/ingest', '{"v":1,');
      expect(bad.status).toBe(400);
      expect(bad.type).toContain('application/problem+json');
      expect(bad.body.code).toBe('CLOUD_MALFORMED_JSON');
      const notBatch = await post('/ingest', { v: 2, edge: 5 });
      expect(notBatch.status).toBe(400);
      expect(notBatch.body.errors.length).toBeGreaterThanOrEqual(3);
    });
    it('marks records that reach it long after the edge received them as replayed', async () => {
      // The edge's view of its log: every record stored so far.
      const all = (await get(`/records?edge=${edge.id}&limit=1000`)).body.items.map(
        (i: { record: unknown }) => i.record,
      );
      const before = all.length;
      const log = edge.logOf(all);
      const now = new Date().toISOString();
      const fresh = edge.examples(1, { from: before + 1 }).map((r) => ({
        ...r,
        observedAt: now,
        receivedAt: now,
      }));
      expect((await edge.post(edge.sign(fresh, log).batch)).status).toBe(200);
      const items = (await get(`/records?edge=${edge.id}&afterSeq=${before - 1}`)).body.items as {
        seq: number;
        replayed: boolean;
      }[];
      // The example records were received long ago (sent late: replayed); the new one is live.
      expect(items.map((i) => [i.seq, i.replayed])).toEqual([
        [before, true],
        [before + 1, false],
      ]);
    });

    it('stores a batch sent several times at once exactly once, and continues with the next', async () => {
      // Batches are verified before their transaction against the log as read then; copies that
      // all read the same log must be checked again under the lock, or the later ones would try
      // to store the records a second time.
      const all = (await get(`/records?edge=${edge.id}&limit=1000`)).body.items.map(
        (i: { record: unknown }) => i.record,
      );
      const b = edge.sign(edge.examples(4, { from: all.length + 1 }), edge.logOf(all));
      const answers = await Promise.all(Array.from({ length: 6 }, () => edge.post(b.batch)));
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200]);
      expect(answers.map((a) => [a.body.accepted, a.body.duplicates]).sort()).toEqual([
        [0, 4],
        [0, 4],
        [0, 4],
        [0, 4],
        [0, 4],
        [4, 0],
      ]);
      expect(new Set(answers.map((a) => a.body.ackedSeq))).toEqual(new Set([all.length + 4]));
      const next = edge.sign(edge.examples(2, { from: all.length + 5 }), b.state);
      expect((await edge.post(next.batch)).body).toMatchObject({
        ackedSeq: all.length + 6,
        accepted: 2,
      });
      const stored = (await get(`/records?edge=${edge.id}&afterSeq=${all.length}`)).body.items;
      expect(stored.map((i: { seq: number }) => i.seq)).toEqual(
        Array.from({ length: 6 }, (_, k) => all.length + 1 + k),
      );
    });
  });

  describe('tenancy', () => {
    it("never shows one tenant another tenant's edges or records", async () => {
      expect((await get(`/edges/${edge.id}`, tokens.api2)).status).toBe(404);
      expect((await get(`/edges/${edge.id}/evidence?seq=1`, tokens.api2)).status).toBe(404);
      expect((await get(`/records?edge=${edge.id}`, tokens.api2)).status).toBe(404);
      expect((await get('/edges', tokens.api2)).body.items).toEqual([]);
      expect((await get('/edges', 'rt_api_' + 'A'.repeat(43))).status).toBe(401);
    });
  });

  describe('OpenAPI document', () => {
    it('documents every route the API answers, and each answers as documented', async () => {
      const samples: Record<string, string> = { '{edgeId}': edge.id };
      for (const [p, ops] of Object.entries(openApiDocument.paths)) {
        for (const [method, op] of Object.entries(
          ops as Record<string, { responses: Record<string, unknown> }>,
        )) {
          if (method !== 'get') continue;
          let url = p;
          for (const [k, v] of Object.entries(samples)) url = url.replace(k, v);
          if (p.endsWith('/evidence')) url += '?seq=1';
          const res = await fetch(`${cloud.url}/api/v1${url}`, {
            headers: { authorization: `Bearer ${tokens.api}` },
          });
          expect(Object.keys(op.responses), `${method.toUpperCase()} ${p} answered ${res.status}`).toContain(
            String(res.status),
          );
        }
      }
      const undocumented = await get('/nowhere');
      expect(undocumented.status).toBe(404);
    });
  });
});
