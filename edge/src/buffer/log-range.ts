import { hash } from 'node:crypto';
import { CompactRange, type CompactRangeState } from '@rigtrace/protocols';

/** Records up to this many UTF-16 units are encoded into one reused buffer (3 UTF-8 bytes per unit at most). */
const SCRATCH_UNITS = 21_000;
const leafBuf = Buffer.allocUnsafe(1 + SCRATCH_UNITS * 3);
leafBuf[0] = 0x00;
const nodeBuf = Buffer.allocUnsafe(65);
nodeBuf[0] = 0x01;

/** Interior node hash SHA-256(0x01 || left || right) over hashes held as 32-character latin1 strings ('binary' is Node's name for latin1). */
function nodeHash(left: string, right: string): string {
  nodeBuf.write(left, 1, 'latin1');
  nodeBuf.write(right, 33, 'latin1');
  return hash('sha256', nodeBuf, 'binary');
}

/**
 * The log's compact range (RFC 9162 §2.1.4: the roots of the perfect subtrees covering leaves
 * 0..size), the same structure and saved state as CompactRange of @rigtrace/protocols, made for
 * the append path: a leaf is hashed straight from its canonical JSON text through one reused
 * buffer, and hashes are kept as 32-character latin1 strings, so appending a record allocates no
 * Hash object and no ArrayBuffer (at 60,000 records a second, that garbage was a large part of
 * the edge's CPU). A property test holds it equal to CompactRange.
 */
export class LogRange {
  /** Leaf hash of the last leaf appended by appendText (32-character latin1 string), '' before. */
  lastLeaf = '';

  private constructor(
    private n: number,
    private readonly hashes: string[],
  ) {}

  /** Restores a saved range; throws RecordFormatError COMPACT_RANGE_INVALID as CompactRange does. */
  static fromState(state: CompactRangeState): LogRange {
    CompactRange.fromState(state); // the reference validation
    return new LogRange(
      state.size,
      state.hashes.map((h) => Buffer.from(h, 'base64').toString('latin1')),
    );
  }

  get size(): number {
    return this.n;
  }

  clone(): LogRange {
    return new LogRange(this.n, [...this.hashes]);
  }

  /** Appends the leaf whose bytes are the UTF-8 of `canonical`; returns that byte length. */
  appendText(canonical: string): number {
    let bytes: number;
    let h: string;
    if (canonical.length <= SCRATCH_UNITS) {
      bytes = leafBuf.write(canonical, 1, 'utf8');
      h = hash('sha256', leafBuf.subarray(0, 1 + bytes), 'binary');
    } else {
      // U+0000 is the single byte 0x00 in UTF-8: prefix and text hash as one string.
      bytes = Buffer.byteLength(canonical, 'utf8');
      h = hash('sha256', `\u0000${canonical}`, 'binary');
    }
    this.lastLeaf = h;
    this.appendHash(h);
    return bytes;
  }

  /** Appends a leaf by its hash (as a 32-character latin1 string). */
  appendHash(leaf: string): void {
    let h = leaf;
    // Each trailing set bit of the old size is a perfect subtree of equal height: merge it.
    let s = this.n;
    while (s % 2 === 1) {
      h = nodeHash(this.hashes.pop()!, h);
      s = (s - 1) / 2;
    }
    this.hashes.push(h);
    this.n += 1;
  }

  /** The Merkle tree hash of all leaves (MTH, RFC 9162 §2.1.1). */
  root(): Uint8Array {
    if (this.hashes.length === 0) return CompactRange.empty().root();
    let r = this.hashes[this.hashes.length - 1]!;
    for (let i = this.hashes.length - 2; i >= 0; i--) r = nodeHash(this.hashes[i]!, r);
    return new Uint8Array(Buffer.from(r, 'latin1'));
  }

  toState(): CompactRangeState {
    return { size: this.n, hashes: this.hashes.map((h) => Buffer.from(h, 'latin1').toString('base64')) };
  }
}

/** The leaf hash of a record's canonical JSON text, as LogRange keeps it (a 32-character latin1 string). */
export function textLeaf(canonical: string): string {
  return hash('sha256', `\u0000${canonical}`, 'binary');
}
