import { MAX_STATEMENT_PARAMS } from './insert-chunked.js';

/**
 * Runs `read` once per chunk of at most `size` of `values` (not at all for no values), one chunk
 * after another, with the chunk and its placeholders (`?,?,…`, one per value, for an `IN (…)`
 * list), and returns what the calls returned, in order: a read over a list of any length in
 * statements that each bind a bounded number of parameters.
 */
export async function inChunks<V, R = never>(
  values: readonly V[],
  size: number,
  read: (chunk: V[], marks: string) => Promise<readonly R[] | void>,
): Promise<R[]> {
  if (!Number.isInteger(size) || size < 1 || size > MAX_STATEMENT_PARAMS)
    throw new RangeError(`a chunk of ${size} values does not fit one statement`);
  const out: R[] = [];
  for (let i = 0; i < values.length; i += size) {
    const chunk = values.slice(i, i + size);
    const rows = await read(chunk, chunk.map(() => '?').join(','));
    if (rows) out.push(...rows);
  }
  return out;
}
