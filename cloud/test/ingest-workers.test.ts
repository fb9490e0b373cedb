import pino from 'pino';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { fromBase64, toBase64, verifyEvidence } from '@rigtrace/protocols';
import { loadCloudConfig } from '../src/platform/config.js';
import { VerifyPool } from '../src/records/verify-pool.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { TestEdge } from './helpers/edge.js';
import { BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

/**
 * Batches large enough to be verified on the worker threads (records/verify-pool.ts), through
 * the whole API: stored byte for byte, re-sent records skipped, copies sent at once stored
 * once, refusals and forks as on the event loop, evidence that verifies offline.
 */
describe.each(BACKENDS)('ingest verified on worker threads, on %s', (backend) => {
  let storage: TestStorage;
  let cloud: RunningCloud;
  let api = '';
  let edge: TestEdge;
  let edgeId = '';
  const onWorkers = vi.spyOn(VerifyPool.prototype, 'verify');

  async function get(p: string) {
    const res = await fetch(`${cloud.url}/api/v1${p}`, { headers: { authorization: `Bearer ${api}` } });
    return { status: res.status, body: (await res.json()) as any };
  }

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    const store = await openStore(loadCloudConfig({}, storage.overrides));
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createSite('acme', 'plant-1', 'Plant 1');
    api = await store.tenancy.createApiToken('acme', 't');
    const enroll = (await store.tenancy.createEnrollmentToken('acme', 'plant-1', 3600_000)).token;
    await store.db.close();
    cloud = await startCloud(
      loadCloudConfig(
        {},
        { ...storage.overrides, port: '0', verifyWorkers: '2', maxBodyBytes: String(4 * 1024 * 1024) },
      ),
      pino({ level: 'silent' }),
    );
    edge = await new TestEdge(cloud.url).enroll(enroll, 'e');
    edgeId = edge.id;
  });
  afterAll(async () => {
    await cloud?.close();
    await storage?.cleanup();
  });

  it('stores a large batch verified on a worker, byte for byte', async () => {
    onWorkers.mockClear();
    const b = edge.sign(edge.examples(200));
    const r = await edge.post(b.batch);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ ackedSeq: 200, accepted: 200, duplicates: 0 });
    expect(onWorkers).toHaveBeenCalled();
    edge.accept(b);
    const list = (await get(`/records?edge=${edgeId}&limit=1000`)).body.items as {
      seq: number;
      record: unknown;
    }[];
    expect(list.map((i) => i.record)).toEqual(edge.examples(200, { from: 1 }));
    expect((await get(`/edges/${edgeId}`)).body.log).toEqual({ size: 200, root: toBase64(b.state.root) });
  });

  it('skips re-sent records, and stores copies sent at once exactly once', async () => {
    onWorkers.mockClear();
    const b = edge.sign(edge.examples(150, { from: 151 })); // 151..200 re-sent, 201..300 new
    const answers = await Promise.all(Array.from({ length: 4 }, () => edge.post(b.batch)));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    expect(answers.map((a) => [a.body.accepted, a.body.duplicates]).sort()).toEqual([
      [0, 150],
      [0, 150],
      [0, 150],
      [100, 50],
    ]);
    expect(onWorkers).toHaveBeenCalled();
    edge.accept(b);
    const seqs = (await get(`/records?edge=${edgeId}&afterSeq=190&limit=1000`)).body.items.map(
      (i: { seq: number }) => i.seq,
    );
    expect(seqs).toEqual(Array.from({ length: 110 }, (_, k) => 191 + k));
  });

  it('refuses a changed re-sent record and a forked old root, and stores nothing of them', async () => {
    const records = edge.examples(100, { from: 251 }); // 251..300 re-sent, 301..350 new
    (records[3] as { equipment: string }).equipment = 'RIG-99';
    const r = await edge.post(edge.sign(records).batch);
    expect(r.status).toBe(422);
    expect(r.body.problems).toContainEqual(
      expect.objectContaining({ code: 'RECORD_REPLAYED_CHANGED', seq: 254 }),
    );
    const old = edge.sign(edge.examples(200, { from: 1 }), null);
    const f = await edge.post({ ...old.batch, checkpoint: edge.checkpoint(200, new Uint8Array(32).fill(9)) });
    expect(f.status).toBe(409);
    expect(f.body.code).toBe('CLOUD_BATCH_FORK');
    expect((await get(`/edges/${edgeId}`)).body.log.size).toBe(300);
  });

  it('exports evidence of records verified on workers that verifies offline', async () => {
    const r = await get(`/edges/${edgeId}/evidence?seq=1,150,299`);
    expect(r.status).toBe(200);
    const witness = (await get('/witness')).body as { name: string; publicKey: string };
    expect(
      verifyEvidence(r.body, {
        trustedVerifierKey: edge.verifierKey,
        witness: { name: witness.name, publicKey: fromBase64(witness.publicKey) },
      }),
    ).toEqual({ ok: true, verified: 3 });
  });
});
