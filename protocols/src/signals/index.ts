import type { SignalEntry } from '../record/schema.js';

/**
 * Reading a source's signal dictionary (RECORDS.md, "Signal dictionary"): one set of rules for the
 * cloud's live snapshot and the portal. Pure, no dependencies (bundled into the portal).
 */

export type { SignalEntry } from '../record/schema.js';

/** Two coded values are the same code: 1 and "1" are (a register read as text still matches). */
export function sameCode(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  const text = (x: unknown) =>
    typeof x === 'number' || typeof x === 'string' || typeof x === 'boolean' ? String(x) : undefined;
  const ta = text(a);
  return ta !== undefined && ta === text(b);
}

/** The word for a coded value, e.g. state 1 → "Testing"; undefined when the entry has none for it. */
export function wordFor(entry: SignalEntry | undefined, value: unknown): string | undefined {
  return entry?.codes?.find((c) => sameCode(c.code, value))?.word;
}

/** The dictionary by signal name (the last entry of a name wins). */
export function byName(signals: readonly SignalEntry[] | null | undefined): Map<string, SignalEntry> {
  return new Map((signals ?? []).map((s) => [s.name, s]));
}

/**
 * The latest values that mean something now. A signal whose entry has `when` (e.g. delivered
 * quantity only while the rig's state is Testing) is left out while the latest value of the
 * condition signal is another code: between tests its idle zero is not a reading. Without a value
 * of the condition signal, the value stays.
 */
export function meaningfulValues<V extends { point: string; value: unknown }>(
  values: readonly V[],
  signals: readonly SignalEntry[] | null | undefined,
): V[] {
  const conditions = (signals ?? []).filter((s) => s.when);
  if (conditions.length === 0) return [...values];
  const current = new Map(values.map((v) => [v.point, v.value]));
  const hidden = new Set<string>();
  for (const s of conditions) {
    const w = s.when!;
    if (!current.has(w.signal)) continue;
    const now = current.get(w.signal);
    if (!w.codes.some((c) => sameCode(c, now))) hidden.add(s.name);
  }
  return values.filter((v) => !hidden.has(v.point));
}
