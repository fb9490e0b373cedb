import { afterAll, describe, expect, it } from 'vitest';
import { emptyLogState, generateKeyPair, signCheckpoint, type BatchVerification } from '@rigtrace/protocols';
import { buildBatch, exampleRecords } from '@rigtrace/protocols/testing';
import { verifyHere, VerifyPool, type VerifyInput } from './verify-pool.js';

const EDGE = 'edge-pool-1';
const keys = generateKeyPair();
const pool = new VerifyPool(2);
afterAll(() => pool.close());

/** What a verification says, as plain values (records by content, hashes as hex). */
function plain(v: BatchVerification) {
  if (!v.ok) return v;
  return {
    ...v,
    leafHashes: v.leafHashes.map((h) => Buffer.from(h).toString('hex')),
    checkpoint: { ...v.checkpoint, root: Buffer.from(v.checkpoint.root).toString('hex') },
    newState: { ...v.newState, root: Buffer.from(v.newState.root).toString('hex') },
  };
}

/** The batch's JSON as the route has it (parsed from the request), verified both ways. */
async function both(input: VerifyInput) {
  const body = JSON.parse(JSON.stringify(input.body)) as unknown;
  const onWorker = await pool.verify({ ...input, body });
  const here = verifyHere({ ...input, body: JSON.parse(JSON.stringify(input.body)) as unknown });
  return { onWorker, here, body };
}

describe('verify pool', () => {
  const first = buildBatch({
    edge: EDGE,
    privateKeyPem: keys.privateKeyPem,
    records: exampleRecords(EDGE, 1, 80),
  });

  it('accepts a batch on a worker exactly as on the event loop, returning the batch’s own records', async () => {
    const { onWorker, here, body } = await both({
      body: first.batch,
      publicKey: keys.publicKey,
      state: emptyLogState(),
      known: new Map(),
    });
    expect(onWorker.ok).toBe(true);
    expect(plain(onWorker)).toEqual(plain(here));
    // The records handed back are the caller's objects (the ones it stores and derives from).
    if (onWorker.ok) expect(onWorker.records[0]).toBe((body as { records: unknown[] }).records[0]);
  });

  it('verifies the batch from its UTF-8 text as sent, when given it, exactly as from the parsed batch', async () => {
    const base = { publicKey: keys.publicKey, state: emptyLogState(), known: new Map() };
    const json = JSON.stringify(first.batch);
    for (const text of [Buffer.from(json), Buffer.from(`\uFEFF${json}`)]) {
      const body = JSON.parse(json) as { records: unknown[] };
      const onWorker = await pool.verify({ ...base, body, text });
      expect(plain(onWorker)).toEqual(plain(verifyHere({ ...base, body: JSON.parse(json) as unknown })));
      if (onWorker.ok) expect(onWorker.records[0]).toBe(body.records[0]);
      expect(onWorker.ok).toBe(true);
    }
    // The text is what the worker verifies: a forged one is refused as such.
    const forged = json.replace('"RIG-', '"RIX-');
    expect(forged).not.toBe(json);
    const refused = await pool.verify({
      ...base,
      body: JSON.parse(json) as unknown,
      text: Buffer.from(forged),
    });
    expect(refused).toMatchObject({ ok: false });
  });

  it('skips re-sent records the same way, with the stored hashes it is given', async () => {
    const records = exampleRecords(EDGE, 71, 30); // 71..80 re-sent, 81..100 new
    const b = buildBatch({ edge: EDGE, privateKeyPem: keys.privateKeyPem, records, before: first.state });
    const known = new Map(first.leafHashes.map((h, i) => [i + 1, h] as const));
    const { onWorker, here } = await both({
      body: b.batch,
      publicKey: keys.publicKey,
      state: first.state,
      known,
    });
    expect(onWorker).toMatchObject({ ok: true, duplicateCount: 10 });
    expect(plain(onWorker)).toEqual(plain(here));
    if (onWorker.ok)
      expect(onWorker.records.map((r) => r.seq)).toEqual(Array.from({ length: 20 }, (_, k) => 81 + k));
  });

  it('refuses a changed re-sent record, a forged signature and a forked old root with the same problems', async () => {
    const known = new Map(first.leafHashes.map((h, i) => [i + 1, h] as const));
    const changed = exampleRecords(EDGE, 79, 70);
    (changed[0] as { equipment: string }).equipment = 'RIG-99';
    const forged = buildBatch({
      edge: EDGE,
      privateKeyPem: generateKeyPair().privateKeyPem,
      records: exampleRecords(EDGE, 81, 70),
      before: first.state,
    });
    const oldRecords = exampleRecords(EDGE, 1, 70);
    const forkedNote = signCheckpoint(
      { origin: EDGE, size: 70, root: new Uint8Array(32).fill(7), extensions: [] },
      EDGE,
      keys.privateKeyPem,
    );
    const cases: VerifyInput[] = [
      {
        body: buildBatch({
          edge: EDGE,
          privateKeyPem: keys.privateKeyPem,
          records: changed,
          before: first.state,
        }).batch,
        publicKey: keys.publicKey,
        state: first.state,
        known,
      },
      { body: forged.batch, publicKey: keys.publicKey, state: first.state, known },
      {
        body: { v: 1, edge: EDGE, records: oldRecords, checkpoint: forkedNote },
        publicKey: keys.publicKey,
        state: first.state,
        known,
        earlier: { size: 70, root: new Uint8Array(32).fill(1) },
      },
    ];
    const codes: string[][] = [];
    for (const c of cases) {
      const { onWorker, here } = await both(c);
      expect(onWorker.ok).toBe(false);
      expect(onWorker).toEqual(here);
      if (!onWorker.ok) codes.push(onWorker.problems.map((p) => p.code));
    }
    expect(codes[0]).toContain('RECORD_REPLAYED_CHANGED');
    expect(codes[1]).toContain('CHECKPOINT_UNSIGNED');
    expect(codes[2]).toContain('FORK');
  });

  it('fails the batches of a worker that dies, and starts another for the next batch', async () => {
    const input: VerifyInput = {
      body: first.batch,
      publicKey: keys.publicKey,
      state: emptyLogState(),
      known: new Map(),
    };
    const small = new VerifyPool(1);
    try {
      await small.verify(input); // the worker is up
      const inFlight = small.verify(input);
      const worker = (small as unknown as { slots: { worker: { terminate(): Promise<number> } }[] })
        .slots[0]!;
      await worker.worker.terminate();
      await expect(inFlight).rejects.toThrow(/exited/);
      expect((await small.verify(input)).ok).toBe(true);
    } finally {
      await small.close();
    }
  });
});
