import { AsyncLocalStorage } from 'node:async_hooks';
import type { Db } from './db/db.js';
import type { DomainEventBus, DomainEvents } from './events.js';

/**
 * Domain events raised inside a transaction wait for its commit: `committed(db, fn)` runs `fn`
 * in a transaction and emits the events `emitAfterCommit` queued in it only once the transaction
 * has committed; they are dropped if it rolls back, and a PostgreSQL retry of `fn` starts with an
 * empty queue (so a retried transaction does not announce its changes twice).
 *
 * Outside `committed`, `emitAfterCommit` emits at once: use it only where the change is already
 * committed (a single auto-committed statement). A `committed` inside another joins the outer
 * one's transaction and queue.
 */
const pending = new AsyncLocalStorage<{ queue: (() => void)[]; last: (() => Promise<void>)[] }>();

export async function committed<T>(db: Db, fn: () => Promise<T>): Promise<T> {
  if (pending.getStore()) return db.transaction(fn);
  const scope = { queue: [] as (() => void)[], last: [] as (() => Promise<void>)[] };
  const value = await pending.run(scope, () =>
    db.transaction(async () => {
      scope.queue = [];
      scope.last = [];
      const v = await fn();
      // In the order queued; one queued meanwhile runs too.
      for (let i = 0; i < scope.last.length; i += 1) await scope.last[i]!();
      return v;
    }),
  );
  // Emitted outside the transaction's async context: a listener's queries are its own.
  for (const emit of scope.queue) pending.exit(emit);
  return value;
}

/**
 * Runs `fn` at the end of the surrounding `committed` transaction, inside it, once the work given
 * to `committed` has finished (at once outside one): for statements that take locks other
 * transactions wait for (a row many writers update), so that the lock is held until the commit
 * only, not through the rest of the transaction's statements. A `fn` that throws rolls the
 * transaction back.
 */
export async function lastInTransaction(fn: () => Promise<void>): Promise<void> {
  const scope = pending.getStore();
  if (scope) scope.last.push(fn);
  else await fn();
}

/**
 * Runs `fn` after the surrounding `committed` transaction commits (at once outside one); dropped
 * if it rolls back. `fn` must not throw.
 */
export function afterCommit(fn: () => void): void {
  const scope = pending.getStore();
  if (scope) scope.queue.push(fn);
  else fn();
}

/**
 * Emits `name` on `bus` after the surrounding `committed` transaction commits (at once outside
 * one). A listener that throws is reported to the bus's listener error handler and never reaches
 * the code that emitted.
 */
export function emitAfterCommit<K extends keyof DomainEvents>(
  bus: DomainEventBus | undefined,
  name: K,
  ...args: DomainEvents[K]
): void {
  if (!bus) return;
  afterCommit(() => {
    try {
      (bus.emit as (n: K, ...a: DomainEvents[K]) => boolean)(name, ...args);
    } catch (err) {
      listenerErrorHandlers.get(bus)?.(err, name);
    }
  });
}

const listenerErrorHandlers = new WeakMap<DomainEventBus, (err: unknown, event: string) => void>();

/** Where a failing listener of `bus` is reported (the composition root sets its logger). */
export function setListenerErrorHandler(
  bus: DomainEventBus,
  fn: (err: unknown, event: string) => void,
): void {
  listenerErrorHandlers.set(bus, fn);
}
