import { afterAll, describe, expect, it } from 'vitest';
import type { Db, SqlParam } from '../src/platform/db/db.js';
import { inChunks } from '../src/platform/db/in-chunks.js';
import {
  MAX_STATEMENT_PARAMS,
  insertChunked,
  insertChunkedReturning,
} from '../src/platform/db/insert-chunked.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { openStore } from '../src/server.js';
import { BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

const COLUMNS = 'tenant_id, part_serial, state, customer, shipped_at, reference, updated_at, updated_by';
const AT = '2026-01-02T03:04:05.000Z';

function shipment(n: number, state = 'in-house'): SqlParam[] {
  return ['acme', `P-${String(n).padStart(5, '0')}`, state, null, null, `ref ${n}`, AT, 'u-1'];
}

/**
 * The multi-row INSERT every repository uses, and the chunked `IN (…)` read, on each backend,
 * with a real table (part_shipments).
 */
describe.each(BACKENDS)('insertChunked on %s', (backend) => {
  let storage: TestStorage;
  let store: Awaited<ReturnType<typeof openStore>>;
  /** The statements the helper ran (through `counting`). */
  let ran: string[] = [];
  let counting: Db;

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    store = await openStore(loadCloudConfig({}, storage.overrides));
    await store.tenancy.createTenant('acme', 'Acme');
    counting = new Proxy(store.db, {
      get(target, key) {
        const value = Reflect.get(target, key, target) as unknown;
        if (typeof value !== 'function') return value;
        if (key === 'run' || key === 'all')
          return (sql: string, params?: readonly SqlParam[]) => {
            ran.push(sql);
            return (value as Db['run']).call(target, sql, params);
          };
        return (value as (...a: unknown[]) => unknown).bind(target);
      },
    });
  });
  afterAll(async () => {
    await store?.db.close();
    await storage?.cleanup();
  });

  const stored = () =>
    store.db.withTenant('acme', () =>
      store.db.all<{ part_serial: string; state: string; reference: string }>(
        'SELECT part_serial, state, reference FROM part_shipments WHERE tenant_id = ? ORDER BY part_serial',
        ['acme'],
      ),
    );
  const inTenant = <T>(fn: () => Promise<T>) => store.db.withTenant('acme', fn);

  it('inserts every row, one statement per chunk, and counts them', async () => {
    ran = [];
    const rows = Array.from({ length: 450 }, (_, i) => shipment(i));
    const n = await inTenant(() =>
      insertChunked(counting, 'part_shipments', COLUMNS, rows, { rowsPerStatement: 200 }),
    );
    expect(n).toBe(450);
    expect(ran).toHaveLength(3);
    expect(ran.map((sql) => sql.split('), (').length)).toEqual([200, 200, 50]);
    const all = await stored();
    expect(all).toHaveLength(450);
    expect(all[449]).toEqual({ part_serial: 'P-00449', state: 'in-house', reference: 'ref 449' });
  });

  it('runs no statement for no rows', async () => {
    ran = [];
    expect(await inTenant(() => insertChunked(counting, 'part_shipments', COLUMNS, []))).toBe(0);
    expect(ran).toEqual([]);
  });

  it('applies the conflict clause: an upsert changes the rows that exist and adds the others', async () => {
    const n = await inTenant(() =>
      insertChunked(
        store.db,
        'part_shipments',
        COLUMNS,
        [shipment(3, 'shipped'), shipment(900, 'scrapped')],
        {
          onConflict: 'ON CONFLICT (tenant_id, part_serial) DO UPDATE SET state = excluded.state',
        },
      ),
    );
    expect(n).toBe(2);
    const all = await stored();
    expect(all).toHaveLength(451);
    expect(all.find((r) => r.part_serial === 'P-00003')?.state).toBe('shipped');
    expect(all.find((r) => r.part_serial === 'P-00900')?.state).toBe('scrapped');
  });

  it('returns what each statement returns: only the rows a DO NOTHING insert added', async () => {
    ran = [];
    const added = await inTenant(() =>
      insertChunkedReturning<{ part_serial: string }>(
        counting,
        'part_shipments',
        COLUMNS,
        [shipment(1), shipment(901), shipment(2), shipment(902), shipment(903)],
        'part_serial',
        { onConflict: 'ON CONFLICT DO NOTHING', rowsPerStatement: 2 },
      ),
    );
    expect(added.map((r) => r.part_serial).sort()).toEqual(['P-00901', 'P-00902', 'P-00903']);
    expect(ran).toHaveLength(3);
    expect(await stored()).toHaveLength(454);
  });

  it('binds as many parameters as SQLite allows in one statement', async () => {
    ran = [];
    const per = Math.floor(MAX_STATEMENT_PARAMS / 8);
    const rows = Array.from({ length: per }, (_, i) => shipment(10_000 + i));
    const n = await inTenant(() =>
      insertChunked(counting, 'part_shipments', COLUMNS, rows, { rowsPerStatement: per }),
    );
    expect(n).toBe(per);
    expect(ran).toHaveLength(1);
    expect(await stored()).toHaveLength(454 + per);
  });

  it('reads back rows for a list of any length, one statement per chunk, in order (inChunks)', async () => {
    ran = [];
    const serials = [
      ...Array.from({ length: 1200 }, (_, i) => `P-${String(10_000 + i).padStart(5, '0')}`),
      'P-none',
    ];
    const calls: number[] = [];
    const rows = await inChunks(serials, 500, (chunk, marks) => {
      calls.push(chunk.length);
      return inTenant(() =>
        counting.all<{ part_serial: string }>(
          `SELECT part_serial FROM part_shipments WHERE tenant_id = ? AND part_serial IN (${marks}) ORDER BY part_serial`,
          ['acme', ...chunk],
        ),
      );
    });
    expect(calls).toEqual([500, 500, 201]);
    expect(ran).toHaveLength(3);
    expect(rows.map((r) => r.part_serial)).toEqual(serials.slice(0, 1200));
    let called = false;
    expect(await inChunks([], 500, () => ((called = true), Promise.resolve([1])))).toEqual([]);
    expect(called).toBe(false);
    await expect(inChunks(serials, 0, () => Promise.resolve([]))).rejects.toThrow(/a chunk of 0 values/);
    await expect(inChunks(serials, MAX_STATEMENT_PARAMS + 1, () => Promise.resolve([]))).rejects.toThrow(
      /does not fit one statement/,
    );
  });

  it('refuses, before writing anything, a short row, a bad name or a statement over the limit', async () => {
    const before = await stored();
    const write = (table: string, columns: string, rows: SqlParam[][], rowsPerStatement?: number) =>
      inTenant(() =>
        insertChunked(counting, table, columns, rows, rowsPerStatement ? { rowsPerStatement } : {}),
      );
    ran = [];
    // The short row is in the last chunk: the first chunks must not have been written either.
    const rows = [...Array.from({ length: 5 }, (_, i) => shipment(20_000 + i)), shipment(20_005).slice(0, 7)];
    await expect(write('part_shipments', COLUMNS, rows, 2)).rejects.toThrow(
      'row 5 of part_shipments has 7 values for 8 columns',
    );
    await expect(write('part_shipments; DROP TABLE records', COLUMNS, [shipment(1)])).rejects.toThrow(
      /not a table or column name/,
    );
    await expect(write('part_shipments', `${COLUMNS}, "x"`, [shipment(1)])).rejects.toThrow(
      /not a table or column name: "\\"x\\""/,
    );
    await expect(write('part_shipments', COLUMNS, [shipment(1)], 5000)).rejects.toThrow(
      /5000 rows of 8 columns do not fit one statement/,
    );
    await expect(write('part_shipments', COLUMNS, [shipment(1)], 0.5)).rejects.toThrow(/^0.5 rows of 8/);
    expect(ran).toEqual([]);
    expect(await stored()).toEqual(before);
  });
});
