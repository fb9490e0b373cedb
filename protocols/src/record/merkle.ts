import { createHash } from 'node:crypto';
import { bytesEqual, toBase64, tryFromBase64 } from './base64.js';
import { fail, type RecordErrorCode } from './errors.js';

/** RFC 6962 / RFC 9162 Merkle tree with SHA-256. All hashes are 32-byte Uint8Arrays. */

export const HASH_SIZE = 32;

/** SHA-256 of the concatenation of the parts. */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);

/** Leaf hash: SHA-256(0x00 || leaf bytes). For a record, the bytes are its canonical JSON. */
export function leafHash(leafBytes: Uint8Array): Uint8Array {
  return sha256(LEAF_PREFIX, leafBytes);
}

/** Leaf hash of a record given as its canonical JSON text: SHA-256(0x00 || UTF-8 of the text), without copying it to a buffer first. */
export function leafHashOfText(canonical: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(LEAF_PREFIX).update(canonical, 'utf8').digest());
}

/** Interior node hash: SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(NODE_PREFIX, left, right);
}

/** Root of the empty tree: SHA-256 of the empty string. */
export const EMPTY_ROOT: Uint8Array = sha256();

function checkHashes(hashes: readonly Uint8Array[]): void {
  for (let i = 0; i < hashes.length; i++) {
    if (hashes[i]?.length !== HASH_SIZE) fail('MERKLE_BAD_HASH', `leaf hash ${i} is not ${HASH_SIZE} bytes`);
  }
}

function checkSize(n: number, what: string, max: number): void {
  if (!Number.isSafeInteger(n) || n < 0 || n > max) {
    fail('MERKLE_BAD_INDEX', `${what} ${n} is not an integer in 0..${max}`);
  }
}

/** Largest power of two strictly smaller than n (n >= 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function mth(leaves: readonly Uint8Array[], lo: number, hi: number): Uint8Array {
  const n = hi - lo;
  if (n === 0) return EMPTY_ROOT;
  if (n === 1) return leaves[lo]!;
  const k = splitPoint(n);
  return nodeHash(mth(leaves, lo, lo + k), mth(leaves, lo + k, hi));
}

/** MTH(D[n]) of RFC 6962 section 2.1, over leaf hashes (not leaf data). EMPTY_ROOT for no leaves. */
export function merkleRoot(leafHashes: readonly Uint8Array[]): Uint8Array {
  checkHashes(leafHashes);
  return mth(leafHashes, 0, leafHashes.length);
}

function path(leaves: readonly Uint8Array[], m: number, lo: number, hi: number): Uint8Array[] {
  const n = hi - lo;
  if (n <= 1) return [];
  const k = splitPoint(n);
  if (m < k) return [...path(leaves, m, lo, lo + k), mth(leaves, lo + k, hi)];
  return [...path(leaves, m - k, lo + k, hi), mth(leaves, lo, lo + k)];
}

/**
 * Inclusion proof PATH(index, D[treeSize]) of RFC 6962 section 2.1.1 (audit path), leaf's sibling first.
 * treeSize defaults to leafHashes.length; only the first treeSize leaves are used.
 */
export function inclusionProof(
  leafHashes: readonly Uint8Array[],
  index: number,
  treeSize?: number,
): Uint8Array[] {
  const n = treeSize ?? leafHashes.length;
  checkSize(n, 'tree size', leafHashes.length);
  checkSize(index, 'leaf index', n - 1);
  checkHashes(leafHashes.slice(0, n));
  return path(leafHashes, index, 0, n);
}

function subproof(
  leaves: readonly Uint8Array[],
  m: number,
  lo: number,
  hi: number,
  whole: boolean,
): Uint8Array[] {
  const n = hi - lo;
  if (m === n) return whole ? [] : [mth(leaves, lo, hi)];
  const k = splitPoint(n);
  if (m <= k) return [...subproof(leaves, m, lo, lo + k, whole), mth(leaves, lo + k, hi)];
  return [...subproof(leaves, m - k, lo + k, hi, false), mth(leaves, lo, lo + k)];
}

/**
 * Consistency proof PROOF(size1, D[size2]) of RFC 6962 section 2.1.2. Empty when size1 is 0 or equals
 * size2 (nothing to prove). size2 defaults to leafHashes.length.
 */
export function consistencyProof(
  leafHashes: readonly Uint8Array[],
  size1: number,
  size2?: number,
): Uint8Array[] {
  const n = size2 ?? leafHashes.length;
  checkSize(n, 'size2', leafHashes.length);
  checkSize(size1, 'size1', n);
  checkHashes(leafHashes.slice(0, n));
  if (size1 === 0 || size1 === n) return [];
  return subproof(leafHashes, size1, 0, n, true);
}

export type ProofResult = { ok: true } | { ok: false; code: string; message: string };

function no(code: RecordErrorCode, message: string): ProofResult {
  return { ok: false, code, message };
}

// Bit operations on sizes up to 2^53 (JavaScript's bitwise operators are 32-bit).
const odd = (x: number): boolean => x % 2 === 1;
const half = (x: number): number => Math.floor(x / 2);
const isPowerOfTwo = (x: number): boolean => {
  if (x < 1) return false;
  while (x > 1) {
    if (odd(x)) return false;
    x = half(x);
  }
  return true;
};

function badHash(hashes: readonly Uint8Array[], what: string): ProofResult | undefined {
  for (let i = 0; i < hashes.length; i++) {
    const h = hashes[i]!;
    if (h.length !== HASH_SIZE)
      return no('PROOF_BAD_HASH', `${what} ${i} is ${h.length} bytes, not ${HASH_SIZE}`);
  }
  return undefined;
}

/** Number of hashes in an inclusion proof for (index, size): the iterations of RFC 9162 2.1.3.2 step 4. */
export function inclusionProofLength(index: number, treeSize: number): number {
  let fn = index;
  let sn = treeSize - 1;
  let n = 0;
  while (sn !== 0) {
    if (!odd(fn) && fn === sn) {
      while (!odd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    }
    fn = half(fn);
    sn = half(sn);
    n++;
  }
  return n;
}

/**
 * Verifies that leafHash is the leaf at index in the tree of treeSize leaves with this root, by the
 * algorithm of RFC 9162 section 2.1.3.2. Hashes must be 32 bytes.
 */
export function verifyInclusion(
  index: number,
  treeSize: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): ProofResult {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(treeSize) || index < 0 || treeSize < 0) {
    return no(
      'PROOF_BAD_SIZE',
      `leaf index ${index} and tree size ${treeSize} must be non-negative safe integers`,
    );
  }
  if (index >= treeSize)
    return no('PROOF_BAD_SIZE', `leaf index ${index} is not below tree size ${treeSize}`);
  if (leafHash.length !== HASH_SIZE)
    return no('PROOF_BAD_HASH', `leaf hash is ${leafHash.length} bytes, not 32`);
  if (root.length !== HASH_SIZE) return no('PROOF_BAD_HASH', `root is ${root.length} bytes, not 32`);
  const bad = badHash(proof, 'proof hash');
  if (bad) return bad;
  const want = inclusionProofLength(index, treeSize);
  if (proof.length !== want) {
    return no(
      'PROOF_WRONG_LENGTH',
      `inclusion proof for leaf ${index} of ${treeSize} needs ${want} hashes, got ${proof.length}`,
    );
  }
  // RFC 9162 2.1.3.2
  let fn = index;
  let sn = treeSize - 1;
  let r = leafHash;
  for (const p of proof) {
    if (sn === 0) return no('PROOF_WRONG_LENGTH', 'inclusion proof is too long');
    if (odd(fn) || fn === sn) {
      r = nodeHash(p, r);
      if (!odd(fn)) {
        while (!odd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) return no('PROOF_WRONG_LENGTH', 'inclusion proof is too short');
  if (!bytesEqual(r, root)) {
    return no('PROOF_ROOT_MISMATCH', `the proof leads to root ${toBase64(r)}, not ${toBase64(root)}`);
  }
  return { ok: true };
}

/**
 * Verifies that the tree (size2, root2) extends the tree (size1, root1), by the algorithm of RFC 9162
 * section 2.1.4.2. Before it: size1 must not exceed size2; equal sizes need an empty proof and
 * identical roots; a tree of size 0 has root EMPTY_ROOT and is extended by any tree (empty proof).
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  root1: Uint8Array,
  root2: Uint8Array,
  proof: readonly Uint8Array[],
): ProofResult {
  if (!Number.isSafeInteger(size1) || !Number.isSafeInteger(size2) || size1 < 0 || size2 < 0) {
    return no('PROOF_BAD_SIZE', `sizes ${size1} and ${size2} must be non-negative safe integers`);
  }
  if (size1 > size2) return no('PROOF_BAD_SIZE', `size1 ${size1} is greater than size2 ${size2}`);
  if (size1 === 0 && !bytesEqual(root1, EMPTY_ROOT)) {
    return no('PROOF_ROOT_MISMATCH', 'root1 of an empty tree must be SHA-256 of the empty string');
  }
  if (size1 === size2) {
    if (proof.length !== 0)
      return no('PROOF_WRONG_LENGTH', `sizes are equal (${size1}) but the proof is not empty`);
    if (!bytesEqual(root1, root2))
      return no('PROOF_ROOT_MISMATCH', `sizes are equal (${size1}) but the roots differ`);
    return { ok: true };
  }
  if (root2.length !== HASH_SIZE) return no('PROOF_BAD_HASH', `root2 is ${root2.length} bytes, not 32`);
  if (size1 === 0) {
    if (proof.length !== 0) return no('PROOF_WRONG_LENGTH', 'a proof from the empty tree must be empty');
    return { ok: true };
  }
  if (root1.length !== HASH_SIZE) return no('PROOF_BAD_HASH', `root1 is ${root1.length} bytes, not 32`);
  const bad = badHash(proof, 'proof hash');
  if (bad) return bad;
  // RFC 9162 2.1.4.2
  if (proof.length === 0) return no('PROOF_WRONG_LENGTH', 'consistency proof is empty');
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : [...proof];
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (odd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return no('PROOF_WRONG_LENGTH', 'consistency proof is too long');
    if (odd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (!odd(fn)) {
        while (!odd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) return no('PROOF_WRONG_LENGTH', 'consistency proof is too short');
  if (!bytesEqual(fr, root1))
    return no('PROOF_ROOT_MISMATCH', `the proof does not lead to root1 ${toBase64(root1)}`);
  if (!bytesEqual(sr, root2))
    return no('PROOF_ROOT_MISMATCH', `the proof does not lead to root2 ${toBase64(root2)}`);
  return { ok: true };
}

/** Serializable compact range [0, size): one hash per set bit of size, largest subtree first, base64. */
export interface CompactRangeState {
  size: number;
  hashes: string[];
}

function popcount(n: number): number {
  let c = 0;
  for (let x = n; x > 0; x = half(x)) if (odd(x)) c++;
  return c;
}

/**
 * Incremental root over a growing log (the compact range [0, size) of RFC 9162 / transparency-dev
 * "compact range"): the roots of the perfect subtrees that make up the tree, left to right, so the
 * state is O(log n) hashes and leaves that the cloud has acknowledged can be pruned by the edge.
 */
export class CompactRange {
  #size: number;
  #hashes: Uint8Array[];

  private constructor(size: number, hashes: Uint8Array[]) {
    this.#size = size;
    this.#hashes = hashes;
  }

  static empty(): CompactRange {
    return new CompactRange(0, []);
  }

  /** Restores a range saved with toState(); throws RecordFormatError COMPACT_RANGE_INVALID if it is not well formed. */
  static fromState(state: CompactRangeState): CompactRange {
    const s = state as Partial<CompactRangeState> | null;
    if (typeof s !== 'object' || s === null || !Number.isSafeInteger(s.size) || (s.size as number) < 0) {
      fail('COMPACT_RANGE_INVALID', 'size must be a non-negative safe integer');
    }
    const size = s.size as number;
    if (!Array.isArray(s.hashes)) fail('COMPACT_RANGE_INVALID', 'hashes must be an array');
    const want = popcount(size);
    if (s.hashes.length !== want) {
      fail('COMPACT_RANGE_INVALID', `a range of size ${size} has ${want} hashes, got ${s.hashes.length}`);
    }
    const hashes = s.hashes.map((h: unknown, i: number) => {
      const bytes = typeof h === 'string' ? tryFromBase64(h) : undefined;
      if (bytes?.length !== HASH_SIZE) fail('COMPACT_RANGE_INVALID', `hash ${i} is not base64 of 32 bytes`);
      return bytes;
    });
    return new CompactRange(size, hashes);
  }

  get size(): number {
    return this.#size;
  }

  /** Appends the next leaf hash (leaf index = size before the call). */
  append(leafHash: Uint8Array): void {
    if (leafHash.length !== HASH_SIZE)
      fail('MERKLE_BAD_HASH', `leaf hash is ${leafHash.length} bytes, not 32`);
    if (this.#size >= Number.MAX_SAFE_INTEGER) fail('MERKLE_BAD_INDEX', 'the range is full');
    let s = this.#size;
    let h = leafHash;
    // Each trailing set bit of the old size is a perfect subtree of equal height: merge it.
    while (odd(s)) {
      h = nodeHash(this.#hashes.pop()!, h);
      s = half(s);
    }
    this.#hashes.push(h);
    this.#size += 1;
  }

  /** MTH of all leaves appended since empty (EMPTY_ROOT when size is 0). */
  root(): Uint8Array {
    const n = this.#hashes.length;
    if (n === 0) return EMPTY_ROOT;
    let r = this.#hashes[n - 1]!;
    for (let i = n - 2; i >= 0; i--) r = nodeHash(this.#hashes[i]!, r);
    return r;
  }

  toState(): CompactRangeState {
    return { size: this.#size, hashes: this.#hashes.map(toBase64) };
  }

  clone(): CompactRange {
    return new CompactRange(this.#size, [...this.#hashes]);
  }
}
