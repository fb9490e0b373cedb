/**
 * The condition of one keyset page: the rows after (oldest first) or before (newest first) the
 * cursor's row in the order `(atCol, idCol)`. One form for every paged list, so rows with equal
 * times are neither skipped nor repeated at a page's edge.
 */
export function keysetPage(
  atCol: string,
  idCol: string,
  direction: 'after' | 'before',
  cursor: { at: string; id: string },
): { sql: string; params: string[] } {
  const op = direction === 'after' ? '>' : '<';
  return {
    sql: `(${atCol} ${op} ? OR (${atCol} = ? AND ${idCol} ${op} ?))`,
    params: [cursor.at, cursor.at, cursor.id],
  };
}
