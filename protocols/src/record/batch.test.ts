import { describe, expect, it } from 'vitest';
import { toBase64 } from './base64.js';
import {
  MAX_BATCH_RECORDS,
  MAX_REPORTED_PROBLEMS,
  emptyLogState,
  recordLeafHash,
  verifyBatch,
  type BatchVerification,
  type LogState,
} from './batch.js';
import { canonicalJson } from './canonical.js';
import { signCheckpoint } from './checkpoint.js';
import { RecordFormatError } from './errors.js';
import { generateKeyPair } from './keys.js';
import { CompactRange, EMPTY_ROOT, merkleRoot } from './merkle.js';
import { parseRecord, type RigRecord } from './schema.js';
import { TEST_EDGE_KEY, buildBatch, exampleRecords } from './testing.js';

const EDGE = 'edge-a';
const PEM = TEST_EDGE_KEY.privateKeyPem;
const PUB = TEST_EDGE_KEY.publicKey;

/** A verifier's view of an edge log: the state plus the stored leaf hash of every seq. */
class Store {
  state: LogState = emptyLogState();
  readonly hashes = new Map<number, Uint8Array>();

  verify(batch: unknown): BatchVerification {
    return verifyBatch(batch, {
      publicKey: PUB,
      state: this.state,
      knownLeafHash: (seq) => this.hashes.get(seq),
    });
  }

  /** Verifies and, when accepted, commits like the cloud does. */
  accept(batch: unknown): BatchVerification {
    const v = this.verify(batch);
    if (v.ok) {
      v.records.forEach((r, i) => this.hashes.set(r.seq, v.leafHashes[i]!));
      this.state = v.newState;
    }
    return v;
  }
}

const codes = (v: BatchVerification): string[] => (v.ok ? [] : v.problems.map((p) => p.code));
const problem = (v: BatchVerification, code: string) =>
  v.ok ? undefined : v.problems.find((p) => p.code === code);

function batchOf(records: readonly unknown[], before?: LogState) {
  return buildBatch({ edge: EDGE, privateKeyPem: PEM, records, before }).batch;
}

describe('verifyBatch: accepted batches', () => {
  it('accepts a correct first batch and returns records, leaf hashes, checkpoint and the new state', () => {
    const records = exampleRecords(EDGE, 1, 7);
    const built = buildBatch({ edge: EDGE, privateKeyPem: PEM, records });
    const v = verifyBatch(built.batch, { publicKey: PUB, state: emptyLogState() });
    expect(v.ok, JSON.stringify(v)).toBe(true);
    if (!v.ok) return;
    expect(v.records).toEqual(records);
    expect(v.leafHashes).toEqual(records.map(recordLeafHash));
    // The canonical JSON the leaf hashes cover, for the caller to store without recomputing it.
    expect(v.canonical).toEqual(records.map((r) => canonicalJson(r)));
    expect(v.checkpoint).toMatchObject({ origin: EDGE, size: 7 });
    expect(v.newState).toEqual(built.state);
    expect(v.newState.root).toEqual(merkleRoot(records.map(recordLeafHash)));
    expect(v.duplicateCount).toBe(0);
  });

  it('accepts consecutive batches that continue the log', () => {
    const store = new Store();
    let before = emptyLogState();
    for (const [from, count] of [
      [1, 1],
      [2, 9],
      [11, 30],
      [41, 2],
    ] as const) {
      const built = buildBatch({
        edge: EDGE,
        privateKeyPem: PEM,
        records: exampleRecords(EDGE, from, count),
        before,
      });
      const v = store.accept(built.batch);
      expect(v.ok, `batch from ${from}: ${JSON.stringify(codes(v))}`).toBe(true);
      expect(store.state).toEqual(built.state);
      before = built.state;
    }
    expect(store.state.size).toBe(42);
    expect(store.state.root).toEqual(merkleRoot(exampleRecords(EDGE, 1, 42).map(recordLeafHash)));
  });

  it('acknowledges re-sent identical records as duplicates without storing them twice', () => {
    const store = new Store();
    const first = buildBatch({ edge: EDGE, privateKeyPem: PEM, records: exampleRecords(EDGE, 1, 10) });
    expect(store.accept(first.batch).ok).toBe(true);
    // The whole batch again (the ack was lost).
    const again = store.verify(first.batch);
    expect(again).toMatchObject({ ok: true, records: [], leafHashes: [], duplicateCount: 10 });
    expect(again.ok && again.newState).toEqual(store.state);
    // An overlapping batch: 6..10 re-sent, 11..15 new.
    const overlap = buildBatch({
      edge: EDGE,
      privateKeyPem: PEM,
      records: exampleRecords(EDGE, 6, 10),
      before: first.state,
    });
    const v = store.accept(overlap.batch);
    expect(v).toMatchObject({ ok: true, duplicateCount: 5 });
    expect(v.ok && v.records.map((r) => r.seq)).toEqual([11, 12, 13, 14, 15]);
    expect(store.state).toEqual(overlap.state);
  });

  it('checks an old checkpoint on a re-sent batch against knownRoot when given', () => {
    const store = new Store();
    const first = buildBatch({ edge: EDGE, privateKeyPem: PEM, records: exampleRecords(EDGE, 1, 4) });
    store.accept(first.batch);
    store.accept(batchOf(exampleRecords(EDGE, 5, 4), first.state));
    const late = verifyBatch(first.batch, {
      publicKey: PUB,
      state: store.state,
      knownLeafHash: (s) => store.hashes.get(s),
      knownRoot: (size) => (size === 4 ? first.state.root : undefined),
    });
    expect(late).toMatchObject({ ok: true, duplicateCount: 4 });
    const forged = verifyBatch(first.batch, {
      publicKey: PUB,
      state: store.state,
      knownLeafHash: (s) => store.hashes.get(s),
      knownRoot: () => EMPTY_ROOT,
    });
    expect(forged).toMatchObject({ ok: false, fork: true });
  });
});

describe('verifyBatch: sequence problems', () => {
  const records = exampleRecords(EDGE, 1, 6);

  it('reports reordered records with the seqs and indexes, and the seq it expects', () => {
    const reordered = [records[0], records[2], records[1], ...records.slice(3)];
    // Tampered in transit (checkpoint over the right order) and signed that way by the edge: both refused.
    for (const batch of [{ ...batchOf(records), records: reordered }, batchOf(reordered)]) {
      const v = verifyBatch(batch, { publicKey: PUB, state: emptyLogState() });
      expect(v.ok).toBe(false);
      if (v.ok) return;
      expect(v.expectedSeq).toBe(1);
      expect(v.problems).toContainEqual(expect.objectContaining({ code: 'SEQ_GAP', seq: 3, index: 1 }));
      expect(v.problems).toContainEqual(expect.objectContaining({ code: 'SEQ_ORDER', seq: 2, index: 2 }));
      expect(codes(v)).not.toContain('ROOT_MISMATCH'); // hashing stops once the sequence is broken
    }
  });

  it('reports dropped records', () => {
    const middle = verifyBatch(
      { ...batchOf(records), records: [...records.slice(0, 2), ...records.slice(3)] },
      { publicKey: PUB, state: emptyLogState() },
    );
    expect(problem(middle, 'SEQ_GAP')).toMatchObject({ seq: 4, index: 2 });
    const first = verifyBatch(
      { ...batchOf(records), records: records.slice(1) },
      { publicKey: PUB, state: emptyLogState() },
    );
    expect(problem(first, 'SEQ_GAP')).toMatchObject({ seq: 2, index: 0 });
    expect(first.ok ? 0 : first.expectedSeq).toBe(1);
    const last = verifyBatch(
      { ...batchOf(records), records: records.slice(0, -1) },
      { publicKey: PUB, state: emptyLogState() },
    );
    expect(codes(last)).toEqual(['CHECKPOINT_SIZE']);
  });

  it('reports duplicated records', () => {
    const dup = [...records.slice(0, 3), records[2], ...records.slice(3)];
    const v = verifyBatch({ ...batchOf(records), records: dup }, { publicKey: PUB, state: emptyLogState() });
    expect(v.ok).toBe(false);
    expect(problem(v, 'SEQ_DUPLICATE')).toMatchObject({ seq: 3, index: 3 });
    expect(problem(v, 'RECORD_ID_DUPLICATE')).toMatchObject({ seq: 3, index: 3 });
  });

  it('reports a batch that does not continue the log with the seq it expects', () => {
    const store = new Store();
    store.accept(batchOf(exampleRecords(EDGE, 1, 5)));
    const ahead = store.verify(batchOf(exampleRecords(EDGE, 8, 3)));
    expect(ahead).toMatchObject({ ok: false, expectedSeq: 6 });
    expect(problem(ahead, 'SEQ_GAP')).toMatchObject({ seq: 8, index: 0 });
  });
});

describe('verifyBatch: re-sent changed records and forks', () => {
  it('refuses a re-sent record whose content changed', () => {
    const store = new Store();
    const first = buildBatch({ edge: EDGE, privateKeyPem: PEM, records: exampleRecords(EDGE, 1, 5) });
    store.accept(first.batch);
    const changed = structuredClone(first.batch.records) as RigRecord[];
    changed[2]!.equipment = 'RIG-OTHER';
    // Changed in transit: the checkpoint is still the one accepted.
    const v = store.verify({ ...first.batch, records: changed });
    expect(v).toMatchObject({ ok: false, expectedSeq: 6 });
    expect(problem(v, 'RECORD_REPLAYED_CHANGED')).toMatchObject({ seq: 3, index: 2 });
    expect(v.ok || v.fork).toBeFalsy();
  });

  it('refuses re-sent records when their stored leaf hash is unknown', () => {
    const first = buildBatch({ edge: EDGE, privateKeyPem: PEM, records: exampleRecords(EDGE, 1, 3) });
    const v = verifyBatch(first.batch, { publicKey: PUB, state: first.state });
    expect(codes(v)).toEqual([
      'RECORD_REPLAYED_UNKNOWN',
      'RECORD_REPLAYED_UNKNOWN',
      'RECORD_REPLAYED_UNKNOWN',
    ]);
  });

  it('reports a fork when the edge signs another root for a size the verifier holds', () => {
    const store = new Store();
    const records = exampleRecords(EDGE, 1, 5);
    store.accept(batchOf(records));
    const rewritten = structuredClone(records);
    rewritten[1]!.observedAt = '2026-11-23T05:00:00.000Z';
    const v = store.verify(batchOf(rewritten)); // validly signed by the edge's key
    expect(v).toMatchObject({ ok: false, fork: true, expectedSeq: 6 });
    expect(codes(v)).toEqual(['RECORD_REPLAYED_CHANGED', 'FORK']);
    expect(problem(v, 'RECORD_REPLAYED_CHANGED')).toMatchObject({ seq: 2 });
    // A checkpoint alone for the same size (records re-sent unchanged) with another root is a fork too.
    const honest = batchOf(records);
    const forgedCp = signCheckpoint({ origin: EDGE, size: 5, root: EMPTY_ROOT, extensions: [] }, EDGE, PEM);
    const v2 = store.verify({ ...honest, checkpoint: forgedCp });
    expect(v2).toMatchObject({ ok: false, fork: true });
    expect(codes(v2)).toEqual(['FORK']);
  });

  it('refuses a continuation built on another history with ROOT_MISMATCH', () => {
    const store = new Store();
    store.accept(batchOf(exampleRecords(EDGE, 1, 5)));
    const other = buildBatch({
      edge: EDGE,
      privateKeyPem: PEM,
      records: exampleRecords('edge-b', 1, 5).map((r) => ({ ...r, edge: EDGE })),
    });
    const v = store.verify(batchOf(exampleRecords(EDGE, 6, 3), other.state));
    expect(codes(v)).toEqual(['ROOT_MISMATCH']);
    expect(v.ok || v.fork).toBeFalsy();
  });

  it('names the records a ROOT_MISMATCH covers when one was changed after signing', () => {
    const store = new Store();
    store.accept(batchOf(exampleRecords(EDGE, 1, 5)));
    const records = exampleRecords(EDGE, 6, 3);
    const signed = batchOf(records, store.state);
    // The record at seq 7 changes after the checkpoint was signed over it.
    const changed = signed.records.map((r, i) =>
      i === 1 ? { ...(r as RigRecord), observedAt: '2020-01-01T00:00:00.000Z' } : r,
    );
    const v = store.verify({ ...signed, records: changed });
    expect(codes(v)).toEqual(['ROOT_MISMATCH']);
    const p = problem(v, 'ROOT_MISMATCH');
    expect(p).toMatchObject({ seq: 6 });
    expect(p?.message).toMatch(
      new RegExp(
        `^records 6\\.\\.8 \\(the first one new to the log is id ${(records[0] as RigRecord).id}\\)`,
      ),
    );
  });
});

describe('verifyBatch: record, envelope and checkpoint problems', () => {
  it('lists every problem of a batch at once', () => {
    const records: unknown[] = exampleRecords(EDGE, 1, 4);
    const bad = structuredClone(records) as Record<string, unknown>[];
    bad[0]!.edge = 'edge-z';
    (bad[1]!.body as Record<string, unknown>).extra = 1;
    bad[2]!.observedAt = '2026-11-23T05:51:12+01:00';
    const v = verifyBatch(
      { ...batchOf(records), records: bad },
      { publicKey: generateKeyPair().publicKey, state: emptyLogState() },
    );
    expect(v.ok).toBe(false);
    if (v.ok) return;
    expect(v.problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ code: 'CHECKPOINT_UNSIGNED' }),
        expect.objectContaining({ code: 'RECORD_EDGE_MISMATCH', seq: 1, index: 0 }),
        expect.objectContaining({ code: 'RECORD_SCHEMA', seq: 2, index: 1, path: 'body.extra' }),
        expect.objectContaining({ code: 'RECORD_SCHEMA', seq: 3, index: 2, path: 'observedAt' }),
      ]),
    );
  });

  it('refuses an oversized record and one that cannot be canonicalized', () => {
    const [t] = exampleRecords(EDGE, 1, 1) as [RigRecord & { kind: 'telemetry' }];
    const big = structuredClone(t);
    big.body.points = Array.from({ length: 300 }, (_, i) => ({
      name: `p${i}`,
      value: 'x'.repeat(256),
      quality: 'good' as const,
    }));
    expect(parseRecord(big).ok).toBe(true);
    const v = verifyBatch(batchOf([big]), { publicKey: PUB, state: emptyLogState() });
    expect(problem(v, 'RECORD_TOO_LARGE')).toMatchObject({ seq: 1, index: 0 });
    const surrogate = structuredClone(t);
    surrogate.source.endpoint = 'a\ud800';
    const b = { ...batchOf([t]), records: [surrogate] };
    expect(codes(verifyBatch(b, { publicKey: PUB, state: emptyLogState() }))).toEqual(
      expect.arrayContaining(['RECORD_NOT_CANONICALIZABLE', 'RECORD_SCHEMA']),
    );
  });

  it('refuses a malformed envelope with BATCH_SCHEMA and paths', () => {
    const good = batchOf(exampleRecords(EDGE, 1, 2));
    const cases: [unknown, string][] = [
      [null, ''],
      [{ ...good, v: 2 }, 'v'],
      [{ ...good, edge: 'a b' }, 'edge'],
      [{ ...good, records: [] }, 'records'],
      [{ ...good, records: new Array(MAX_BATCH_RECORDS + 1).fill(0) }, 'records'],
      [{ ...good, checkpoint: 'x'.repeat(20000) }, 'checkpoint'],
      [{ ...good, tenant: 't1' }, 'tenant'],
      [{ edge: EDGE, records: good.records, checkpoint: good.checkpoint }, 'v'],
    ];
    for (const [batch, path] of cases) {
      const v = verifyBatch(batch, { publicKey: PUB, state: emptyLogState() });
      expect(v.ok).toBe(false);
      if (v.ok) continue;
      expect(v.problems.every((p) => p.code === 'BATCH_SCHEMA')).toBe(true);
      expect(v.problems.map((p) => p.path)).toContain(path);
      expect(v.expectedSeq).toBe(1);
    }
  });

  it('refuses a checkpoint whose origin is not the edge, or whose size is not the last seq', () => {
    const records = exampleRecords(EDGE, 1, 3);
    const range = CompactRange.empty();
    records.forEach((r) => range.append(recordLeafHash(r)));
    const wrongOrigin = signCheckpoint(
      { origin: 'elsewhere', size: 3, root: range.root(), extensions: [] },
      EDGE,
      PEM,
    );
    expect(
      codes(
        verifyBatch(
          { ...batchOf(records), checkpoint: wrongOrigin },
          { publicKey: PUB, state: emptyLogState() },
        ),
      ),
    ).toEqual(['CHECKPOINT_ORIGIN']);
    const short = signCheckpoint({ origin: EDGE, size: 2, root: range.root(), extensions: [] }, EDGE, PEM);
    expect(
      codes(
        verifyBatch({ ...batchOf(records), checkpoint: short }, { publicKey: PUB, state: emptyLogState() }),
      ),
    ).toEqual(['CHECKPOINT_SIZE']);
    const otherKeyName = signCheckpoint(
      { origin: EDGE, size: 3, root: range.root(), extensions: [] },
      'not-the-edge',
      PEM,
    );
    expect(
      codes(
        verifyBatch(
          { ...batchOf(records), checkpoint: otherKeyName },
          { publicKey: PUB, state: emptyLogState() },
        ),
      ),
    ).toEqual(['CHECKPOINT_UNSIGNED']);
  });

  it(`stops listing after ${MAX_REPORTED_PROBLEMS} problems`, () => {
    const records = exampleRecords(EDGE, 1, 300).map((r) => ({ ...r, edge: 'other' }));
    const v = verifyBatch(batchOf(records), { publicKey: PUB, state: emptyLogState() });
    expect(v.ok ? 0 : v.problems.length).toBe(MAX_REPORTED_PROBLEMS + 1);
    expect(v.ok ? '' : v.problems.at(-1)!.code).toBe('PROBLEMS_TRUNCATED');
  });

  it('throws LOG_STATE_INVALID for an inconsistent verifier state', () => {
    const built = buildBatch({ edge: EDGE, privateKeyPem: PEM, records: exampleRecords(EDGE, 1, 3) });
    const bad: LogState[] = [
      { ...built.state, size: 4 },
      { ...built.state, root: EMPTY_ROOT },
      { ...built.state, range: { size: 3, hashes: [] } },
    ];
    for (const state of bad) {
      expect(() => verifyBatch(built.batch, { publicKey: PUB, state })).toThrow(
        expect.objectContaining({ code: 'LOG_STATE_INVALID' }),
      );
    }
    expect(() => verifyBatch(built.batch, { publicKey: PUB, state: bad[0]! })).toThrow(RecordFormatError);
  });
});

describe('verifyBatch: tampering with any byte', () => {
  const records = exampleRecords(EDGE, 1, 5);
  const built = buildBatch({ edge: EDGE, privateKeyPem: PEM, records });

  it('detects a flipped bit at every byte position of every record, with the right problem code', () => {
    const seqCodes = ['SEQ_GAP', 'SEQ_DUPLICATE', 'SEQ_ORDER', 'CHECKPOINT_SIZE'];
    let valid = 0;
    let invalid = 0;
    for (const [index, record] of records.entries()) {
      const bytes = Buffer.from(canonicalJson(record), 'utf8');
      for (let i = 0; i < bytes.length; i++) {
        const t = Buffer.from(bytes);
        t[i]! ^= 0x01;
        const text = t.toString('utf8');
        let mutated: unknown;
        try {
          mutated = JSON.parse(text);
          valid++;
        } catch {
          mutated = text; // not JSON any more: it can only arrive as some other JSON value, e.g. this string
          invalid++;
        }
        const sent = [...records];
        sent[index] = mutated as RigRecord;
        const v = verifyBatch({ ...built.batch, records: sent }, { publicKey: PUB, state: emptyLogState() });
        const got = codes(v);
        const where = `record ${index} byte ${i}: ${text.slice(Math.max(0, i - 20), i + 20)}`;
        expect(got.length, where).toBeGreaterThan(0);
        const parsed = parseRecord(mutated);
        if (!parsed.ok) expect(got, where).toContain('RECORD_SCHEMA');
        else if (parsed.record.seq !== record.seq)
          expect(
            got.some((c) => seqCodes.includes(c)),
            where,
          ).toBe(true);
        else if (parsed.record.edge !== EDGE) expect(got, where).toContain('RECORD_EDGE_MISMATCH');
        else expect(got, where).toEqual(['ROOT_MISMATCH']);
      }
    }
    // Both kinds of mutation happened: some still parse as records, some do not.
    expect(valid).toBeGreaterThan(100);
    expect(invalid).toBeGreaterThan(100);
  });

  it('detects a flipped bit at every byte of the checkpoint note', () => {
    const note = Buffer.from(built.batch.checkpoint, 'utf8');
    const bodyEnd = note.indexOf('\n\n') + 1;
    for (let i = 0; i < note.length; i++) {
      const t = Buffer.from(note);
      t[i]! ^= 0x01;
      const v = verifyBatch(
        { ...built.batch, checkpoint: t.toString('utf8') },
        { publicKey: PUB, state: emptyLogState() },
      );
      const got = codes(v);
      const allowed =
        i < bodyEnd
          ? ['CHECKPOINT_MALFORMED', 'CHECKPOINT_BAD_SIGNATURE']
          : ['CHECKPOINT_MALFORMED', 'CHECKPOINT_UNSIGNED', 'CHECKPOINT_BAD_SIGNATURE'];
      expect(got.length, `byte ${i}`).toBe(1);
      expect(allowed, `byte ${i}: ${got.join()}`).toContain(got[0]);
    }
  });

  it('accepts the untouched batch (the loops above start from a valid batch)', () => {
    expect(verifyBatch(built.batch, { publicKey: PUB, state: emptyLogState() }).ok).toBe(true);
    expect(toBase64(built.state.root)).toMatch(/=$/);
  });
});
