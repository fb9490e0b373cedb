import { describe, expect, it } from 'vitest';
import { DEFAULT_SHIFTS, shiftAt, shiftsSchema, siteShifts, withEnds } from './shifts.js';

const at = (iso: string) => Date.parse(iso);

describe('shifts', () => {
  it('place an instant in the site’s shift and the local day the shift started on', () => {
    // Default shifts, UTC: the night shift after midnight belongs to the day before.
    expect(shiftAt(at('2026-12-06T05:59:59Z'), 'UTC', DEFAULT_SHIFTS)).toEqual({
      day: '2026-12-05',
      shift: 'Night',
    });
    expect(shiftAt(at('2026-12-06T06:00:00Z'), 'UTC', DEFAULT_SHIFTS)).toEqual({
      day: '2026-12-06',
      shift: 'Early',
    });
    expect(shiftAt(at('2026-12-06T13:59:00Z'), 'UTC', DEFAULT_SHIFTS)).toEqual({
      day: '2026-12-06',
      shift: 'Early',
    });
    expect(shiftAt(at('2026-12-06T14:00:00Z'), 'UTC', DEFAULT_SHIFTS)).toEqual({
      day: '2026-12-06',
      shift: 'Late',
    });
    expect(shiftAt(at('2026-12-06T22:00:00Z'), 'UTC', DEFAULT_SHIFTS)).toEqual({
      day: '2026-12-06',
      shift: 'Night',
    });
    // In the site's time zone, across a daylight-saving change (Berlin: UTC+2 in summer, +1 in winter).
    expect(shiftAt(at('2026-07-01T04:00:00Z'), 'Europe/Berlin', DEFAULT_SHIFTS)).toEqual({
      day: '2026-07-01',
      shift: 'Early',
    });
    expect(shiftAt(at('2026-12-01T04:00:00Z'), 'Europe/Berlin', DEFAULT_SHIFTS)).toEqual({
      day: '2026-11-30',
      shift: 'Night',
    });
    // A quarter-hour offset (Kathmandu, UTC+5:45), shifts starting on quarter hours.
    const two = [
      { name: 'B', start: '18:15' },
      { name: 'A', start: '06:15' },
    ];
    expect(shiftAt(at('2026-12-06T00:29:00Z'), 'Asia/Kathmandu', two)).toEqual({
      day: '2026-12-05',
      shift: 'B',
    });
    expect(shiftAt(at('2026-12-06T00:30:00Z'), 'Asia/Kathmandu', two)).toEqual({
      day: '2026-12-06',
      shift: 'A',
    });
  });

  it('are checked when set, and read back with their ends', () => {
    expect(withEnds(DEFAULT_SHIFTS)).toEqual([
      { name: 'Early', start: '06:00', end: '14:00' },
      { name: 'Late', start: '14:00', end: '22:00' },
      { name: 'Night', start: '22:00', end: '06:00' },
    ]);
    expect(shiftsSchema.safeParse([{ name: 'Day', start: '07:00' }]).success).toBe(true);
    for (const bad of [
      [],
      [{ name: 'A', start: '7:00' }],
      [{ name: 'A', start: '07:10' }],
      [{ name: 'A', start: '24:00' }],
      [
        { name: 'A', start: '07:00' },
        { name: 'B', start: '07:00' },
      ],
      [
        { name: 'A', start: '07:00' },
        { name: 'A', start: '19:00' },
      ],
      Array.from({ length: 7 }, (_, i) => ({ name: `S${i}`, start: `0${i}:00` })),
    ])
      expect(shiftsSchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    expect(siteShifts(null)).toEqual(DEFAULT_SHIFTS);
    expect(siteShifts('not json')).toEqual(DEFAULT_SHIFTS);
    expect(siteShifts('[{"name":"Day","start":"07:00"}]')).toEqual([{ name: 'Day', start: '07:00' }]);
  });
});
