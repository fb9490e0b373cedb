import { describe, expect, it } from 'vitest';
import { keysetSource, type Row } from './types.js';

describe('keysetSource', () => {
  const table = Array.from({ length: 7 }, (_, i) => ({ id: i + 1 }));
  const read = (calls: (number | null)[]) => (after: number | null, size: number) => {
    calls.push(after);
    return Promise.resolve(table.filter((r) => r.id > (after ?? 0)).slice(0, size));
  };
  const all = async (pages: AsyncIterable<readonly Row[]>) => {
    const out: Row[][] = [];
    for await (const p of pages) out.push([...p]);
    return out;
  };

  it('reads page after page from each last key until a short page', async () => {
    const calls: (number | null)[] = [];
    const src = keysetSource(
      7,
      read(calls),
      (r) => r.id,
      (r) => ({ n: r.id }),
      3,
    );
    expect(src.count).toBe(7);
    expect(await all(src.pages())).toEqual([
      [{ n: 1 }, { n: 2 }, { n: 3 }],
      [{ n: 4 }, { n: 5 }, { n: 6 }],
      [{ n: 7 }],
    ]);
    expect(calls).toEqual([null, 3, 6]);
  });

  it('ends with an empty page when the last page was full', async () => {
    const calls: (number | null)[] = [];
    const src = keysetSource(
      7,
      read(calls),
      (r) => r.id,
      (r) => ({ n: r.id }),
      7,
    );
    expect((await all(src.pages())).map((p) => p.length)).toEqual([7, 0]);
    expect(calls).toEqual([null, 7]);
  });
});
