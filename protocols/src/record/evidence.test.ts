import { describe, expect, it } from 'vitest';
import { fromBase64, toBase64 } from './base64.js';
import { recordLeafHash } from './batch.js';
import { cosignCheckpoint, formatVerifierKey, signCheckpoint } from './checkpoint.js';
import { buildEvidence, verifyEvidence, type EvidenceBundle } from './evidence.js';
import { generateKeyPair } from './keys.js';
import { inclusionProof, merkleRoot } from './merkle.js';
import type { RigRecord } from './schema.js';
import { TEST_EDGE_KEY, TEST_WITNESS_KEY, exampleRecords } from './testing.js';

const EDGE = 'edge-a';
const log = exampleRecords(EDGE, 1, 13);
const hashes = log.map(recordLeafHash);
const checkpoint = signCheckpoint(
  { origin: EDGE, size: 13, root: merkleRoot(hashes), extensions: [] },
  EDGE,
  TEST_EDGE_KEY.privateKeyPem,
);
// Say: the calibration records, for a customer audit.
const chosen = log.filter((r) => r.kind === 'calibration');

function bundle(): EvidenceBundle {
  return structuredClone(
    buildEvidence({
      edge: EDGE,
      publicKey: TEST_EDGE_KEY.publicKey,
      checkpoint,
      leafHashes: hashes,
      records: chosen,
    }),
  );
}

const codes = (r: ReturnType<typeof verifyEvidence>): string[] => (r.ok ? [] : r.problems.map((p) => p.code));

describe('evidence bundles', () => {
  it('verify offline and carry only the chosen records', () => {
    const b = bundle();
    expect(chosen.map((r) => r.seq)).toEqual([4, 9]);
    expect(b.records.map((r) => r.index)).toEqual([3, 8]);
    expect(b.verifierKey).toBe(formatVerifierKey(EDGE, TEST_EDGE_KEY.publicKey));
    expect(verifyEvidence(JSON.parse(JSON.stringify(b)))).toEqual({ ok: true, verified: 2 });
    expect(verifyEvidence(b, { trustedVerifierKey: b.verifierKey })).toEqual({ ok: true, verified: 2 });
    expect(JSON.stringify(b)).not.toContain('"kind":"telemetry"');
  });

  it('name the record whose proof fails, for every flipped byte of every proof hash', () => {
    const b = bundle();
    for (const [n, entry] of b.records.entries()) {
      for (const [h, hash] of entry.proof.entries()) {
        for (let byte = 0; byte < 32; byte++) {
          const bytes = fromBase64(hash);
          bytes[byte]! ^= 0x10;
          const t = structuredClone(b);
          t.records[n]!.proof[h] = toBase64(bytes);
          const r = verifyEvidence(t);
          expect(r.ok).toBe(false);
          expect(r.ok ? [] : r.problems).toEqual([
            expect.objectContaining({ code: 'EVIDENCE_PROOF_INVALID', index: n, seq: chosen[n]!.seq }),
          ]);
        }
      }
    }
  });

  it('refuse changed records, wrong indexes, truncated or garbled proofs', () => {
    const changed = bundle();
    (changed.records[1]!.record as RigRecord).equipment = 'OTHER-GAUGE';
    expect(verifyEvidence(changed)).toMatchObject({
      ok: false,
      problems: [
        {
          code: 'EVIDENCE_PROOF_INVALID',
          seq: 9,
          index: 1,
          message: expect.stringMatching(/PROOF_ROOT_MISMATCH/) as unknown,
        },
      ],
    });
    const index = bundle();
    index.records[0]!.index = 4;
    expect(codes(verifyEvidence(index))).toEqual(['EVIDENCE_INDEX_MISMATCH']);
    const short = bundle();
    short.records[0]!.proof.pop();
    expect(verifyEvidence(short)).toMatchObject({
      ok: false,
      problems: [{ message: expect.stringMatching(/PROOF_WRONG_LENGTH/) as unknown }],
    });
    const garbled = bundle();
    garbled.records[0]!.proof[0] = garbled.records[0]!.proof[0]!.replace(/=$/, '');
    expect(codes(verifyEvidence(garbled))).toEqual(['EVIDENCE_PROOF_INVALID']);
    const swapped = bundle();
    [swapped.records[0]!.proof, swapped.records[1]!.proof] = [
      swapped.records[1]!.proof,
      swapped.records[0]!.proof,
    ];
    expect(codes(verifyEvidence(swapped))).toEqual(['EVIDENCE_PROOF_INVALID', 'EVIDENCE_PROOF_INVALID']);
    // A record beyond the checkpoint.
    const beyond = bundle();
    beyond.records[0] = {
      record: exampleRecords(EDGE, 14, 1)[0],
      index: 13,
      proof: inclusionProof(hashes, 0).map(toBase64),
    };
    expect(verifyEvidence(beyond)).toMatchObject({
      ok: false,
      problems: [{ code: 'EVIDENCE_PROOF_INVALID', seq: 14 }],
    });
  });

  it('refuse a bundle signed by another key, a key not named after the edge, or an untrusted key', () => {
    const other = generateKeyPair();
    const forged = { ...bundle(), verifierKey: formatVerifierKey(EDGE, other.publicKey) };
    expect(codes(verifyEvidence(forged))).toEqual(['CHECKPOINT_UNSIGNED']);
    const resigned = {
      ...bundle(),
      verifierKey: formatVerifierKey(EDGE, other.publicKey),
      checkpoint: signCheckpoint(
        { origin: EDGE, size: 13, root: merkleRoot(hashes), extensions: [] },
        EDGE,
        other.privateKeyPem,
      ),
    };
    expect(verifyEvidence(resigned).ok).toBe(true); // self-consistent...
    expect(codes(verifyEvidence(resigned, { trustedVerifierKey: bundle().verifierKey }))).toEqual([
      'EVIDENCE_KEY_MISMATCH',
    ]); // ...but not the enrolled key
    const renamed = { ...bundle(), verifierKey: formatVerifierKey('edge-b', TEST_EDGE_KEY.publicKey) };
    expect(codes(verifyEvidence(renamed))).toEqual(['EVIDENCE_KEY_MISMATCH', 'CHECKPOINT_UNSIGNED']);
    expect(codes(verifyEvidence({ ...bundle(), verifierKey: 'nonsense' }))).toEqual(['VERIFIER_KEY_INVALID']);
  });

  it('require the witness cosignature when asked', () => {
    const witness = { name: 'cloud.example/witness', publicKey: TEST_WITNESS_KEY.publicKey };
    expect(codes(verifyEvidence(bundle(), { witness }))).toEqual(['EVIDENCE_WITNESS']);
    const cosigned = {
      ...bundle(),
      checkpoint: cosignCheckpoint(checkpoint, witness.name, TEST_WITNESS_KEY.privateKeyPem, 1795413072),
    };
    expect(verifyEvidence(cosigned, { witness })).toEqual({ ok: true, verified: 2 });
  });

  it('refuse malformed bundles with EVIDENCE_SCHEMA', () => {
    for (const bad of [
      null,
      {},
      { ...bundle(), v: 2 },
      { ...bundle(), records: [] },
      { ...bundle(), extra: 1 },
    ]) {
      const r = verifyEvidence(bad);
      expect(r.ok).toBe(false);
      expect(codes(r).every((c) => c === 'EVIDENCE_SCHEMA')).toBe(true);
    }
    const badRecord = bundle();
    badRecord.records[0]!.record = { ...(badRecord.records[0]!.record as object), seq: 'four' };
    expect(verifyEvidence(badRecord)).toMatchObject({
      ok: false,
      problems: [{ code: 'RECORD_SCHEMA', index: 0, path: 'seq' }],
    });
  });
});
