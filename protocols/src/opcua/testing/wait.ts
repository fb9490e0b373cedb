import type { OpcuaSubscriber } from '../subscriber.js';
import type { OpcuaValue } from '../types.js';

/** Every 'value' (and 'status') the subscriber emits, with the time it arrived. */
export class Recorder {
  readonly values: (OpcuaValue & { at: number })[] = [];
  readonly statuses: (OpcuaValue & { at: number })[] = [];
  readonly events: { event: string; at: number; arg?: unknown }[] = [];
  constructor(sub: OpcuaSubscriber) {
    sub.on('value', (v) => this.values.push({ ...v, at: Date.now() }));
    sub.on('status', (v) => this.statuses.push({ ...v, at: Date.now() }));
    for (const event of ['connected', 'disconnected', 'resubscribed'] as const) {
      sub.on(event, (arg?: unknown) => this.events.push({ event, at: Date.now(), arg }));
    }
  }

  of(name: string, since = 0): (OpcuaValue & { at: number })[] {
    return this.values.filter((v) => v.name === name && v.at >= since);
  }

  /** Names that reported a value at or after `since`. */
  reportedSince(since: number): Set<string> {
    return new Set(this.values.filter((v) => v.at >= since).map((v) => v.name));
  }
}

/** Polls `check` until it returns true (or throws the last failure after timeoutMs). */
export async function until(check: () => boolean, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    if (check()) return;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
