/**
 * The calibration board's data, kept fast for 10,000+ instruments: sorted by urgency once when
 * loaded, with each row's lower-cased search text computed once, so a keystroke is a single
 * linear scan with no sorting and no allocation per row beyond the result.
 */
import { byUrgency, STATUSES } from './calibration.js';
import type { CalibrationStatus, RegisterEntry as Equipment } from './types.js';

export type BoardFilter = CalibrationStatus | 'all';

export interface BoardIndex {
  /** Most urgent first. */
  readonly items: readonly Equipment[];
  /** items[i]'s tag, type and location, lower-cased. */
  readonly keys: readonly string[];
  readonly counts: Readonly<Record<CalibrationStatus, number>>;
}

export function indexBoard(items: readonly Equipment[]): BoardIndex {
  const sorted = [...items].sort(byUrgency);
  const counts = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<CalibrationStatus, number>;
  for (const e of sorted) counts[e.calibration.status] += 1;
  return {
    items: sorted,
    keys: sorted.map((e) => `${e.tag}\u0000${e.type}\u0000${e.location ?? ''}`.toLowerCase()),
    counts,
  };
}

/** The rows shown for a status filter and a search text (tag, type or location contains it). */
export function filterBoard(index: BoardIndex, filter: BoardFilter, search: string): Equipment[] {
  const q = search.trim().toLowerCase();
  const out: Equipment[] = [];
  const { items, keys } = index;
  for (let i = 0; i < items.length; i++) {
    const e = items[i]!;
    if (filter !== 'all' && e.calibration.status !== filter) continue;
    if (q !== '' && !keys[i]!.includes(q)) continue;
    out.push(e);
  }
  return out;
}

/** Rows of a long list rendered at once; the rest come with "Show more" (keeps the DOM small). */
export const BOARD_PAGE = 100;
