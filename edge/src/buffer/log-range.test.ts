import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CompactRange, RecordFormatError, leafHash } from '@rigtrace/protocols';
import { LogRange } from './log-range.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** The reference: protocols' CompactRange over leafHash(UTF-8 bytes of the text). */
function reference(texts: string[], from = CompactRange.empty()) {
  const r = from.clone();
  for (const t of texts) r.append(leafHash(Buffer.from(t, 'utf8')));
  return r;
}

describe('LogRange', () => {
  it('has the root, state and byte counts of CompactRange after every append', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme', maxLength: 80 }), { maxLength: 70 }), (texts) => {
        const ref = CompactRange.empty();
        const ours = LogRange.fromState({ size: 0, hashes: [] });
        for (const t of texts) {
          ref.append(leafHash(Buffer.from(t, 'utf8')));
          expect(ours.appendText(t)).toBe(Buffer.byteLength(t, 'utf8'));
          expect(hex(ours.root())).toBe(hex(ref.root()));
          expect(ours.toState()).toEqual(ref.toState());
        }
        expect(ours.size).toBe(texts.length);
      }),
      { numRuns: 200 },
    );
  });

  it('continues a saved range, and a clone does not share its appends', () => {
    const first = ['{"a":1}', '{"b":"Ø"}', '{"c":"😀"}'];
    const more = Array.from({ length: 37 }, (_, i) => `{"i":${i}}`);
    const saved = reference(first).toState();
    const ours = LogRange.fromState(saved);
    const copy = ours.clone();
    for (const t of more) ours.appendText(t);
    expect(ours.toState()).toEqual(reference(more, CompactRange.fromState(saved)).toState());
    expect(copy.toState()).toEqual(saved);
  });

  it('hashes texts longer than its reused buffer, and the empty range has the empty root', () => {
    const long = ['x'.repeat(21_000), '€'.repeat(21_001), '😀'.repeat(30_000), ''];
    const ours = LogRange.fromState({ size: 0, hashes: [] });
    expect(hex(ours.root())).toBe(hex(CompactRange.empty().root()));
    for (const t of long) ours.appendText(t);
    expect(ours.toState()).toEqual(reference(long).toState());
  });

  it('refuses a malformed saved state as CompactRange does', () => {
    expect(() => LogRange.fromState({ size: 3, hashes: [] })).toThrow(RecordFormatError);
    expect(() => LogRange.fromState({ size: 1, hashes: ['not base64'] })).toThrow(RecordFormatError);
  });
});
