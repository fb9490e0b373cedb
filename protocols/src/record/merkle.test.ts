import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fromBase64, toBase64 } from './base64.js';
import {
  CompactRange,
  EMPTY_ROOT,
  consistencyProof,
  inclusionProof,
  leafHash,
  merkleRoot,
  nodeHash,
  sha256,
  verifyConsistency,
  verifyInclusion,
} from './merkle.js';
import { RecordFormatError } from './errors.js';

const VECTORS_URL = new URL('../../testdata/rfc6962/', import.meta.url);
const VECTORS = fileURLToPath(VECTORS_URL);

/** Every *.json below dir, recursively. */
function jsonFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return jsonFiles(p);
    return name.endsWith('.json') ? [p] : [];
  });
}

// The vectors carry base64 that is sometimes deliberately empty or short ("don't care" roots): decode
// leniently here; the verifiers themselves refuse anything that is not 32 bytes where it matters.
const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

interface InclusionCase {
  leafIdx: number;
  treeSize: number;
  root: string;
  leafHash: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}
interface ConsistencyCase {
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

describe('RFC 6962 test vectors (transparency-dev/merkle testdata)', () => {
  it('are vendored inside the repository, with their licence', () => {
    expect(jsonFiles(VECTORS).length).toBeGreaterThan(100);
    expect(readFileSync(join(VECTORS, 'LICENSE'), 'utf8')).toMatch(/Apache License/);
  });

  const inclusionDirs = [
    'inclusion/0',
    'inclusion/1',
    'inclusion/2',
    'inclusion/3',
    'inclusion/4',
    'inclusion/additional',
    'inclusion/single-entry',
  ];
  for (const dir of inclusionDirs) {
    it(`inclusion: ${dir}`, () => {
      const files = jsonFiles(join(VECTORS, dir));
      expect(files.length).toBeGreaterThan(0);
      for (const f of files) {
        const c = JSON.parse(readFileSync(f, 'utf8')) as InclusionCase;
        const r = verifyInclusion(
          c.leafIdx,
          c.treeSize,
          b64(c.leafHash),
          (c.proof ?? []).map(b64),
          b64(c.root),
        );
        expect(r.ok, `${f}: ${c.desc}`).toBe(!c.wantErr);
      }
    });
  }

  const consistencyDirs = [
    'consistency/0',
    'consistency/1',
    'consistency/2',
    'consistency/3',
    'consistency/4',
    'consistency/additional',
  ];
  for (const dir of consistencyDirs) {
    it(`consistency: ${dir}`, () => {
      const files = jsonFiles(join(VECTORS, dir));
      expect(files.length).toBeGreaterThan(0);
      for (const f of files) {
        const c = JSON.parse(readFileSync(f, 'utf8')) as ConsistencyCase;
        const r = verifyConsistency(c.size1, c.size2, b64(c.root1), b64(c.root2), (c.proof ?? []).map(b64));
        expect(r.ok, `${f}: ${c.desc}`).toBe(!c.wantErr);
      }
    });
  }

  it('covers every folder of the vectors', () => {
    const all = jsonFiles(VECTORS).map((f) => f.slice(VECTORS.length));
    const covered = all.filter((f) =>
      [...inclusionDirs, ...consistencyDirs].some((d) => f.startsWith(`${d}/`)),
    );
    expect(covered).toEqual(all);
    expect(all.length).toBeGreaterThan(150);
  });
});

/** Leaves D[i] = the byte i, hashed. */
function leaves(n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => leafHash(Uint8Array.of(i & 0xff, i >> 8)));
}

/** MTH straight from RFC 6962 section 2.1 over slices, as an independent reference. */
function referenceRoot(d: Uint8Array[]): Uint8Array {
  if (d.length === 0) return sha256();
  if (d.length === 1) return d[0]!;
  let k = 1;
  while (k * 2 < d.length) k *= 2;
  return nodeHash(referenceRoot(d.slice(0, k)), referenceRoot(d.slice(k)));
}

describe('Merkle tree', () => {
  it('hashes leaves and nodes with RFC 6962 domain separation', () => {
    expect(toBase64(EMPTY_ROOT)).toBe('47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=');
    // RFC 6962 test data of transparency-dev: leaf hash of the empty leaf.
    expect(Buffer.from(leafHash(new Uint8Array(0))).toString('hex')).toBe(
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
    );
    expect(nodeHash(EMPTY_ROOT, EMPTY_ROOT)).toEqual(sha256(Uint8Array.of(1), EMPTY_ROOT, EMPTY_ROOT));
    expect(merkleRoot([])).toEqual(EMPTY_ROOT);
  });

  it('merkleRoot matches the RFC definition for sizes 0..70', () => {
    const d = leaves(70);
    for (let n = 0; n <= 70; n++) expect(merkleRoot(d.slice(0, n))).toEqual(referenceRoot(d.slice(0, n)));
  });

  it('inclusion proofs verify for every index of every size 1..64, and fail for another index or root', () => {
    const d = leaves(64);
    for (let n = 1; n <= 64; n++) {
      const root = merkleRoot(d.slice(0, n));
      for (let i = 0; i < n; i++) {
        const proof = inclusionProof(d, i, n);
        expect(verifyInclusion(i, n, d[i]!, proof, root), `leaf ${i} of ${n}`).toEqual({ ok: true });
        if (n > 1) expect(verifyInclusion((i + 1) % n, n, d[i]!, proof, root).ok).toBe(false);
        expect(verifyInclusion(i, n, d[i]!, proof, EMPTY_ROOT).ok).toBe(false);
      }
    }
  });

  it('consistency proofs verify for every pair 1 <= m <= n <= 64, and fail for a wrong root or size', () => {
    const d = leaves(64);
    const roots = Array.from({ length: 65 }, (_, n) => merkleRoot(d.slice(0, n)));
    for (let n = 1; n <= 64; n++) {
      for (let m = 1; m <= n; m++) {
        const proof = consistencyProof(d, m, n);
        expect(verifyConsistency(m, n, roots[m]!, roots[n]!, proof), `${m} -> ${n}`).toEqual({ ok: true });
        if (m < n) {
          expect(verifyConsistency(m, n, roots[m - 1]!, roots[n]!, proof).ok).toBe(false);
          expect(verifyConsistency(m, n, roots[m]!, roots[n - 1]!, proof).ok).toBe(false);
          expect(verifyConsistency(m, n - 1, roots[m]!, roots[n - 1]!, proof).ok).toBe(false);
        }
      }
      expect(verifyConsistency(0, n, EMPTY_ROOT, roots[n]!, consistencyProof(d, 0, n))).toEqual({ ok: true });
    }
  });

  it('detects a flipped bit in any byte of any proof hash, with PROOF_ROOT_MISMATCH', () => {
    const d = leaves(13);
    const root = merkleRoot(d);
    const old = merkleRoot(d.slice(0, 6));
    const incl = inclusionProof(d, 5);
    const cons = consistencyProof(d, 6);
    for (const [name, proof, check] of [
      ['inclusion', incl, (p: Uint8Array[]) => verifyInclusion(5, 13, d[5]!, p, root)],
      ['consistency', cons, (p: Uint8Array[]) => verifyConsistency(6, 13, old, root, p)],
    ] as const) {
      expect(check(proof).ok, name).toBe(true);
      let flips = 0;
      for (let h = 0; h < proof.length; h++) {
        for (let byte = 0; byte < 32; byte++) {
          for (const bit of [0x01, 0x80]) {
            const tampered = proof.map((x) => x.slice());
            tampered[h]![byte]! ^= bit;
            const r = check(tampered);
            expect(r.ok ? 'ok' : r.code, `${name} hash ${h} byte ${byte}`).toBe('PROOF_ROOT_MISMATCH');
            flips++;
          }
        }
      }
      expect(flips).toBe(proof.length * 64);
    }
  });

  it('refuses proofs of the wrong length or with hashes that are not 32 bytes, with precise codes', () => {
    const d = leaves(8);
    const root = merkleRoot(d);
    const proof = inclusionProof(d, 2);
    const code = (r: ReturnType<typeof verifyInclusion>) => (r.ok ? 'ok' : r.code);
    expect(code(verifyInclusion(2, 8, d[2]!, [...proof, root], root))).toBe('PROOF_WRONG_LENGTH');
    expect(code(verifyInclusion(2, 8, d[2]!, proof.slice(1), root))).toBe('PROOF_WRONG_LENGTH');
    expect(code(verifyInclusion(2, 8, d[2]!, [proof[0]!.slice(1), ...proof.slice(1)], root))).toBe(
      'PROOF_BAD_HASH',
    );
    expect(code(verifyInclusion(8, 8, d[2]!, proof, root))).toBe('PROOF_BAD_SIZE');
    expect(code(verifyInclusion(-1, 8, d[2]!, proof, root))).toBe('PROOF_BAD_SIZE');
    expect(code(verifyInclusion(2 ** 64, 2 ** 64 + 1, d[2]!, proof, root))).toBe('PROOF_BAD_SIZE');
    expect(code(verifyConsistency(3, 8, merkleRoot(d.slice(0, 3)), root, []))).toBe('PROOF_WRONG_LENGTH');
    expect(code(verifyConsistency(9, 8, root, root, []))).toBe('PROOF_BAD_SIZE');
  });

  it('works with tree sizes beyond 32 bits', () => {
    // A leaf at index 2^40 of a tree of 2^40 + 1 leaves: the proof is the single root of the first 2^40.
    const left = sha256(Uint8Array.of(7));
    const leaf = leafHash(Uint8Array.of(9));
    expect(verifyInclusion(2 ** 40, 2 ** 40 + 1, leaf, [left], nodeHash(left, leaf))).toEqual({ ok: true });
    expect(verifyInclusion(2 ** 40, 2 ** 40 + 2, leaf, [left], nodeHash(left, leaf)).ok).toBe(false);
  });

  it('inclusionProof and consistencyProof refuse out-of-range arguments', () => {
    const d = leaves(4);
    expect(() => inclusionProof(d, 4)).toThrow(RecordFormatError);
    expect(() => inclusionProof(d, 0, 5)).toThrow(RecordFormatError);
    expect(() => consistencyProof(d, 5)).toThrow(RecordFormatError);
    expect(() => merkleRoot([new Uint8Array(31)])).toThrow(/32 bytes/);
  });
});

describe('CompactRange', () => {
  it('has the root of merkleRoot for sizes 0..200, also after toState/fromState and clone', () => {
    const d = leaves(200);
    let range = CompactRange.empty();
    for (let n = 0; n <= 200; n++) {
      const want = merkleRoot(d.slice(0, n));
      expect(range.size).toBe(n);
      expect(range.root(), `size ${n}`).toEqual(want);
      const state = range.toState();
      expect(state.hashes.length).toBe(n.toString(2).replace(/0/g, '').length);
      const restored = CompactRange.fromState(JSON.parse(JSON.stringify(state)) as typeof state);
      expect(restored.root()).toEqual(want);
      if (n < 200) {
        // Continue from the restored copy, so that the round trip is exercised on every step.
        range = restored;
        const copy = range.clone();
        range.append(d[n]!);
        expect(copy.size).toBe(n);
        expect(copy.root()).toEqual(want);
      }
    }
  });

  it('fromState refuses malformed states', () => {
    const good = CompactRange.empty();
    for (const l of leaves(5)) good.append(l);
    const s = good.toState();
    const bad: unknown[] = [
      { size: 5, hashes: s.hashes.slice(0, 1) },
      { size: 4, hashes: s.hashes },
      { size: -1, hashes: [] },
      { size: 1.5, hashes: [] },
      { size: 5, hashes: [s.hashes[0], toBase64(new Uint8Array(31))] },
      { size: 5, hashes: [s.hashes[0], `${s.hashes[1]!.slice(0, -2)}B=`] },
      { size: 5, hashes: [s.hashes[0], 12] },
      { size: 5 },
      null,
    ];
    for (const b of bad) {
      expect(() => CompactRange.fromState(b as never), JSON.stringify(b)).toThrow(
        expect.objectContaining({ code: 'COMPACT_RANGE_INVALID' }),
      );
    }
    expect(CompactRange.fromState(s).root()).toEqual(good.root());
    expect(fromBase64(s.hashes[0]!)).toHaveLength(32);
  });
});
