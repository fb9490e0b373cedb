import { z } from 'zod';
import { localTime } from '../platform/time-zone.js';

/**
 * A site's shifts (migration 66): each starts at a local time of day in the site's time zone and
 * runs until the next one starts; the last wraps past midnight. A shift belongs to the day it
 * starts on (the night shift 22:00–06:00 of 6 December is 6 December's).
 */
export interface Shift {
  name: string;
  /** "HH:MM", local time in the site's time zone, on a quarter hour. */
  start: string;
}

/** When a site has set none: early, late and night shifts. */
export const DEFAULT_SHIFTS: readonly Shift[] = [
  { name: 'Early', start: '06:00' },
  { name: 'Late', start: '14:00' },
  { name: 'Night', start: '22:00' },
];

/** Shift starts are on quarter hours: every time zone's offset is a multiple of 15 minutes. */
const START = /^([01]\d|2[0-3]):(00|15|30|45)$/;

export const shiftsSchema = z
  .array(
    z.strictObject({
      name: z
        .string()
        .trim()
        .min(1)
        .max(32)
        .regex(/^[^\p{Cc}]+$/u, 'must not contain control characters'),
      start: z.string().regex(START, 'must be a local time HH:MM on a quarter hour, e.g. 06:00 or 21:45'),
    }),
  )
  .min(1, 'must have at least 1 shift')
  .max(6, 'must have at most 6 shifts')
  .refine(
    (s) => new Set(s.map((x) => x.start)).size === s.length,
    'two shifts must not start at the same time',
  )
  .refine((s) => new Set(s.map((x) => x.name)).size === s.length, 'two shifts must not have the same name');

const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** Sorted by start; each with its end (the next one's start). */
export function withEnds(shifts: readonly Shift[]): (Shift & { end: string })[] {
  const sorted = [...shifts].sort((a, b) => minutes(a.start) - minutes(b.start));
  return sorted.map((s, i) => ({ ...s, end: sorted[(i + 1) % sorted.length]!.start }));
}

/** The shifts stored for a site (JSON text), or the default ones for null or anything unreadable. */
export function siteShifts(stored: string | null | undefined): Shift[] {
  if (!stored) return [...DEFAULT_SHIFTS];
  try {
    const parsed = shiftsSchema.safeParse(JSON.parse(stored));
    return parsed.success ? parsed.data : [...DEFAULT_SHIFTS];
  } catch {
    return [...DEFAULT_SHIFTS];
  }
}

const previousDay = (day: string) =>
  new Date(Date.parse(`${day}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);

/** withEnds of each list of shifts shiftAt has seen: a yield places every row of its answer. */
const sortedOnce = new WeakMap<readonly Shift[], (Shift & { end: string })[]>();
function sortedShifts(shifts: readonly Shift[]): (Shift & { end: string })[] {
  let sorted = sortedOnce.get(shifts);
  if (!sorted) {
    sorted = withEnds(shifts);
    sortedOnce.set(shifts, sorted);
  }
  return sorted;
}

/** The shift an instant falls in at a site, and the (local) day that shift belongs to. */
export function shiftAt(ms: number, zone: string, shifts: readonly Shift[]): { day: string; shift: string } {
  const { day, minute } = localTime(ms, zone);
  const sorted = sortedShifts(shifts);
  let current: Shift | undefined;
  for (const s of sorted) if (minutes(s.start) <= minute) current = s;
  // Before the first start of the day: the last shift of the day before, which wrapped past midnight.
  if (!current) return { day: previousDay(day), shift: sorted.at(-1)!.name };
  return { day, shift: current.name };
}
