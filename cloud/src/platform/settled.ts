/**
 * Like Promise.all, but waits for every promise before it throws the first failure (in the
 * order given): nothing is left running when it returns. For statements issued together inside
 * a transaction, which must all have finished before the transaction ends.
 */
export async function settled<const T extends readonly unknown[]>(
  work: T,
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const out = await Promise.allSettled(work);
  const failed = out.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return out.map((r) => (r as PromiseFulfilledResult<unknown>).value) as {
    -readonly [K in keyof T]: Awaited<T[K]>;
  };
}
