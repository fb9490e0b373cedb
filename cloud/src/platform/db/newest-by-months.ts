/**
 * The newest `limit` rows of a table partitioned by month (PostgreSQL), read within a span of
 * observation times known beforehand (a first-seen row kept at ingest) instead of every month's
 * index: newest months first, in windows of 1, 2, 4, … whole months, each statement bounded to its
 * window (so it reads only those months' partitions), until `limit` rows are found or the span is
 * read. `read(from, to, limit)` returns the newest rows observed in [from, to), at most `limit`,
 * newest first; the bounds are normalised ISO times at month starts (the partitions' own bounds),
 * so the rows come out in the order one unbounded statement would give them.
 */
export async function newestByMonths<T>(
  span: { first: string; last: string } | undefined,
  limit: number,
  read: (from: string, to: string, limit: number) => Promise<T[]>,
): Promise<T[]> {
  const out: T[] = [];
  if (!span) return out;
  const first = span.first.slice(0, 7);
  let to = monthsAfter(span.last.slice(0, 7), 1);
  for (let width = 1; out.length < limit && to > first; width *= 2) {
    const from = monthsAfter(to, -width) < first ? first : monthsAfter(to, -width);
    out.push(...(await read(monthStart(from), monthStart(to), limit - out.length)));
    to = from;
  }
  return out;
}

/** The month ("2026-11") `n` months after `month` (before, for n < 0). */
function monthsAfter(month: string, n: number): string {
  const d = new Date(0);
  d.setUTCFullYear(Number(month.slice(0, 4)), Number(month.slice(5, 7)) - 1 + n, 1);
  return d.toISOString().slice(0, 7);
}

/** The first instant of a month as the derived tables keep times (normalised ISO), their partitions' bound. */
function monthStart(month: string): string {
  return `${month}-01T00:00:00.000Z`;
}
