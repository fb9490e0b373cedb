import type { Db, SqlParam } from './db.js';

/**
 * The most parameters one statement may bind on both backends: SQLite's limit (32,766; PostgreSQL
 * allows 65,535).
 */
export const MAX_STATEMENT_PARAMS = 32_766;

/** Rows per INSERT unless the caller says otherwise. */
export const DEFAULT_ROWS_PER_STATEMENT = 200;

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

export interface ChunkedInsert {
  /** What follows the VALUES list: `ON CONFLICT …` (a `RETURNING` clause goes in `returning`). */
  onConflict?: string;
  /** Rows per statement (default DEFAULT_ROWS_PER_STATEMENT); rows × columns must fit MAX_STATEMENT_PARAMS. */
  rowsPerStatement?: number;
}

/**
 * The statements that insert `rows` (each one value per column, in the order of `columnList`,
 * names separated by commas as in SQL) into `table`, one multi-row INSERT per `rowsPerStatement`
 * rows. Throws, before anything runs, on a table or column name that is not a plain lower-case
 * identifier, a row of the wrong length, or a statement that would bind more than
 * MAX_STATEMENT_PARAMS parameters.
 */
function statements(
  table: string,
  columnList: string,
  rows: readonly (readonly SqlParam[])[],
  opts: ChunkedInsert,
  returning?: string,
): { sql: string; params: SqlParam[] }[] {
  const columns = columnList.split(',').map((c) => c.trim());
  for (const name of [table, ...columns])
    if (!IDENTIFIER.test(name)) throw new TypeError(`not a table or column name: ${JSON.stringify(name)}`);
  const per = opts.rowsPerStatement ?? DEFAULT_ROWS_PER_STATEMENT;
  if (!Number.isInteger(per) || per < 1 || per * columns.length > MAX_STATEMENT_PARAMS)
    throw new RangeError(
      `${per} rows of ${columns.length} columns do not fit one statement (at most ${MAX_STATEMENT_PARAMS} parameters)`,
    );
  rows.forEach((row, i) => {
    if (row.length !== columns.length)
      throw new TypeError(`row ${i} of ${table} has ${row.length} values for ${columns.length} columns`);
  });
  const head = `INSERT INTO ${table} (${columns.join(', ')}) VALUES `;
  const tuple = `(${columns.map(() => '?').join(', ')})`;
  const tail = `${opts.onConflict ? ` ${opts.onConflict}` : ''}${returning ? ` RETURNING ${returning}` : ''}`;
  const out: { sql: string; params: SqlParam[] }[] = [];
  for (let i = 0; i < rows.length; i += per) {
    const chunk = rows.slice(i, i + per);
    out.push({ sql: `${head}${chunk.map(() => tuple).join(', ')}${tail}`, params: chunk.flat() });
  }
  return out;
}

/**
 * The one multi-row INSERT of `rows` (see `statements` for what it refuses), to run as a part of
 * a larger statement (a data-modifying CTE). Throws when `rows` is empty or needs more than one
 * statement of `rowsPerStatement` rows.
 */
export function insertStatement(
  table: string,
  columns: string,
  rows: readonly (readonly SqlParam[])[],
  opts: ChunkedInsert = {},
  returning?: string,
): { sql: string; params: SqlParam[] } {
  const [one, ...more] = statements(table, columns, rows, opts, returning);
  if (!one || more.length > 0) throw new RangeError(`${rows.length} rows of ${table} are not one statement`);
  return one;
}

/**
 * Inserts `rows` into `table` with one multi-row INSERT per chunk of rows (see `statements` for
 * what it refuses), one chunk after another in the caller's transaction if any. Returns how many
 * rows were inserted or updated. No rows: no statement.
 */
export async function insertChunked(
  db: Db,
  table: string,
  columns: string,
  rows: readonly (readonly SqlParam[])[],
  opts: ChunkedInsert = {},
): Promise<number> {
  let changes = 0;
  for (const s of statements(table, columns, rows, opts)) changes += (await db.run(s.sql, s.params)).changes;
  return changes;
}

/** Like `insertChunked`, with `RETURNING returning`: the rows every statement returned, in order. */
export async function insertChunkedReturning<T>(
  db: Db,
  table: string,
  columns: string,
  rows: readonly (readonly SqlParam[])[],
  returning: string,
  opts: ChunkedInsert = {},
): Promise<T[]> {
  const out: T[] = [];
  for (const s of statements(table, columns, rows, opts, returning))
    out.push(...(await db.all<T>(s.sql, s.params)));
  return out;
}
