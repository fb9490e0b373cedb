/**
 * Where a cloud process's ingest time goes, for the ingest bench: loaded into the cloud process
 * with `BENCH_CLOUD_NODE_FLAGS="--import tsx --import ./cloud/bench/ingest-trace.ts"` and
 * `BENCH_TRACE_DIR=<dir>`; at exit it writes `<dir>/trace-<pid>.txt`:
 *
 * - SQLite: the single writer's held time (BEGIN IMMEDIATE sent → COMMIT answered) and group
 *   commits; per statement text, the calls, the time from call to callback and SQLite's own
 *   execution time (the connection's `profile` event, i.e. `sqlite3_profile`);
 * - PostgreSQL: the time each transaction is open (BEGIN sent → COMMIT answered), and per
 *   statement text the calls and the time from call to answer;
 * - both: each ingest request's time (request received → answer sent) and the event loop's delay.
 *
 * Measurement only: it wraps node-sqlite3's and pg's methods in the process it is loaded into.
 */
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const require = createRequire(path.join(process.cwd(), 'cloud/package.json'));
const dir = process.env.BENCH_TRACE_DIR ?? '/tmp';

interface Tally {
  n: number;
  ms: number;
  execMs: number;
}
const statements = new Map<string, Tally>();
const tally = (sql: string): Tally => {
  const key = sql.replace(/\s+/g, ' ').slice(0, 100);
  let t = statements.get(key);
  if (!t) statements.set(key, (t = { n: 0, ms: 0, execMs: 0 }));
  return t;
};
const totals = { held: 0, groups: 0, txOpen: 0, txs: 0, requests: 0, requestMs: 0 };
const loop = monitorEventLoopDelay({ resolution: 1 });
loop.enable();

type Callback = (this: unknown, ...args: unknown[]) => unknown;
type Method = (this: object, sql: string, ...args: unknown[]) => unknown;

/** SQLite: call → callback per statement, SQLite's execution time, the writer's held time. */
function traceSqlite(): void {
  const sqlite3 = require('sqlite3') as { Database: { prototype: Record<string, Method> } };
  const profiled = new WeakSet<object>();
  let heldFrom = 0;
  for (const name of ['run', 'all', 'get', 'exec']) {
    const original = sqlite3.Database.prototype[name]!;
    sqlite3.Database.prototype[name] = function (this: object, sql: string, ...args: unknown[]) {
      if (!profiled.has(this)) {
        profiled.add(this);
        (this as { on(e: string, f: (q: string, ms: number) => void): void }).on('profile', (q, ms) => {
          tally(q).execMs += ms;
        });
      }
      const t0 = performance.now();
      if (sql === 'BEGIN IMMEDIATE') heldFrom = t0;
      const i = args.findIndex((a) => typeof a === 'function');
      if (i >= 0) {
        const cb = args[i] as Callback;
        args[i] = function (this: unknown, ...r: unknown[]) {
          const t = tally(sql);
          t.n += 1;
          t.ms += performance.now() - t0;
          if (sql === 'COMMIT') {
            totals.held += performance.now() - heldFrom;
            totals.groups += 1;
          }
          return cb.apply(this, r);
        };
      }
      return original.call(this, sql, ...args);
    };
  }
}

/** PostgreSQL: call → answer per statement, and each transaction's open time. */
function tracePostgres(): void {
  const pg = require('pg') as { Client: { prototype: Record<string, Method> } };
  const openSince = new WeakMap<object, number>();
  const original = pg.Client.prototype.query!;
  pg.Client.prototype.query = function (this: object, q: unknown, ...args: unknown[]) {
    const sql = typeof q === 'string' ? q : ((q as { text?: string } | null)?.text ?? '(submittable)');
    const t0 = performance.now();
    if (/^BEGIN/.test(sql)) openSince.set(this, t0);
    const done = () => {
      const t = tally(sql);
      t.n += 1;
      t.ms += performance.now() - t0;
      const since = openSince.get(this);
      if (sql === 'COMMIT' && since !== undefined) {
        totals.txOpen += performance.now() - since;
        totals.txs += 1;
      }
    };
    const r = original.call(this, q as string, ...args);
    if (r && typeof (r as Promise<unknown>).then === 'function') (r as Promise<unknown>).then(done, done);
    return r;
  };
}

for (const trace of [traceSqlite, tracePostgres]) {
  try {
    trace();
  } catch {
    // That driver is not installed here.
  }
}

// Called below with the server as `this`.
// eslint-disable-next-line @typescript-eslint/unbound-method
const emit = http.Server.prototype.emit;
http.Server.prototype.emit = function (this: http.Server, event: string, ...args: unknown[]) {
  const [req, res] = args as [http.IncomingMessage, http.ServerResponse];
  if (event === 'request' && req.url?.includes('/ingest')) {
    const t0 = performance.now();
    res.on('finish', () => {
      totals.requests += 1;
      totals.requestMs += performance.now() - t0;
    });
  }
  return Reflect.apply(emit, this, [event, ...args]) as boolean;
} as typeof emit;

const ms = (v: number) => v.toFixed(1);
function write(): void {
  const lines = [
    `ingest requests ${totals.requests}, ${ms(totals.requestMs / (totals.requests || 1))} ms each`,
    `SQLite: ${totals.groups} group commits, writer held ${ms(totals.held)} ms`,
    `PostgreSQL: ${totals.txs} transactions, ${ms(totals.txOpen / (totals.txs || 1))} ms open each`,
    `event loop delay: mean ${ms(loop.mean / 1e6)} ms, p50 ${ms(loop.percentile(50) / 1e6)}, p99 ${ms(loop.percentile(99) / 1e6)}`,
    'calls, ms call → callback, ms executing in SQLite, statement',
    ...[...statements]
      .sort((a, b) => b[1].ms - a[1].ms)
      .map(([sql, t]) => `${t.n}\t${ms(t.ms)}\t${ms(t.execMs)}\t${sql}`),
  ];
  writeFileSync(path.join(dir, `trace-${process.pid}.txt`), `${lines.join('\n')}\n`);
}
process.on('exit', write);
// The cloud stops on SIGTERM (cli.ts) and may be killed before its exit event: written then too.
process.on('SIGTERM', write);
