import { describe, expect, it } from 'vitest';
import { localDay, localMoment, localTime, addDays, startOfLocalDay } from './index.js';

const iso = (ms: number) => new Date(ms).toISOString();

describe('site time zones', () => {
  it('gives the local day of an instant', () => {
    const ms = Date.parse('2026-12-05T19:00:00.000Z');
    expect(localDay(ms, 'UTC')).toBe('2026-12-05');
    expect(localTime(ms, 'Asia/Kolkata')).toEqual({ day: '2026-12-06', minute: 30 });
    expect(localDay(Date.parse('2026-12-06T07:59:00.000Z'), 'America/Los_Angeles')).toBe('2026-12-05');
    expect(localDay(ms, 'Not/AZone')).toBe('2026-12-05');
  });

  it('finds the first instant of a local day, daylight-saving changes included', () => {
    expect(iso(startOfLocalDay('2026-12-06', 'UTC'))).toBe('2026-12-06T00:00:00.000Z');
    expect(iso(startOfLocalDay('2026-12-06', 'Asia/Kolkata'))).toBe('2026-12-05T18:30:00.000Z');
    expect(iso(startOfLocalDay('2026-12-06', 'America/Los_Angeles'))).toBe('2026-12-06T08:00:00.000Z');
    expect(iso(startOfLocalDay('2026-07-06', 'America/Los_Angeles'))).toBe('2026-07-06T07:00:00.000Z');
    expect(iso(startOfLocalDay('2026-12-06', 'Asia/Kathmandu'))).toBe('2026-12-05T18:15:00.000Z');
    // The days around the changes: 8 March 2026 has 23 hours in Los Angeles, 1 November 25.
    expect(iso(startOfLocalDay('2026-03-08', 'America/Los_Angeles'))).toBe('2026-03-08T08:00:00.000Z');
    expect(iso(startOfLocalDay('2026-03-09', 'America/Los_Angeles'))).toBe('2026-03-09T07:00:00.000Z');
    expect(iso(startOfLocalDay('2026-11-02', 'America/Los_Angeles'))).toBe('2026-11-02T08:00:00.000Z');
    // Santiago moves its clocks at midnight: 6 September 2026 starts at 01:00 local (04:00 UTC).
    expect(iso(startOfLocalDay('2026-09-06', 'America/Santiago'))).toBe('2026-09-06T04:00:00.000Z');
    expect(addDays('2026-12-31', 1)).toBe('2027-01-01');
    expect(addDays('2026-03-01', -1)).toBe('2026-02-28');
  });

  it('writes an instant as the site reads it, the zone named', () => {
    const at = '2026-05-01T19:59:30.000Z';
    expect(localMoment(at, 'Asia/Kolkata')).toBe('2026-05-02 01:29 Asia/Kolkata');
    expect(localMoment(at, 'America/Los_Angeles')).toBe('2026-05-01 12:59 America/Los_Angeles');
    expect(localMoment(at, 'UTC')).toBe('2026-05-01 19:59 UTC');
    expect(localMoment(at, 'Not/AZone')).toBe('2026-05-01 19:59 UTC');
  });
});
