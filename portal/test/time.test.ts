import { describe, expect, it } from 'vitest';
import {
  formatClock,
  formatDateTime,
  formatUtc,
  isoToZonedInput,
  zonedInputToIso,
  zoneName,
} from '../src/lib/time.js';

describe('one way to show a moment', () => {
  const at = '2026-12-06T01:01:59.123Z';

  it('shows it in the site’s zone with the zone’s name, the UTC time for the hover', () => {
    expect(formatDateTime(at, 'Europe/Berlin')).toBe('2026-12-06 02:01 CET');
    expect(formatDateTime('2026-07-06T01:01:59Z', 'Europe/Berlin')).toBe('2026-07-06 03:01 CEST');
    expect(formatDateTime(at, 'UTC', { seconds: true })).toBe('2026-12-06 01:01:59 UTC');
    expect(formatDateTime(at, 'Not/AZone')).toBe('2026-12-06 01:01 UTC');
    expect(formatDateTime(null)).toBe('—');
    expect(formatUtc(at)).toBe('2026-12-06 01:01:59 UTC');
  });

  it('reads and fills a date-time field in the site’s zone, to the minute or to the second', () => {
    expect(zonedInputToIso('2026-12-06T02:01', 'Europe/Berlin')).toBe('2026-12-06T01:01:00.000Z');
    expect(zonedInputToIso('2026-12-06T02:01:59', 'Europe/Berlin')).toBe('2026-12-06T01:01:59.000Z');
    expect(zonedInputToIso('2026-12-06', 'UTC')).toBeNull();
    expect(isoToZonedInput(at, 'Europe/Berlin')).toBe('2026-12-06T02:01');
    expect(isoToZonedInput(at, 'Europe/Berlin', { seconds: true })).toBe('2026-12-06T02:01:59');
    expect(isoToZonedInput(at, 'America/Chicago', { seconds: true })).toBe('2026-12-05T19:01:59');
  });

  it('names the zone and the local hour of a chart’s buckets (the live floor’s throughput per hour)', () => {
    // Kolkata's local hours start at :30 UTC.
    expect(formatClock('2026-12-05T18:30:00.000Z', 'Asia/Kolkata')).toBe('00:00');
    expect(zoneName('2026-12-05T18:30:00.000Z', 'Asia/Kolkata')).toBe('UTC+5:30');
    expect(zoneName(at, 'America/Los_Angeles')).toBe('PST');
    expect(zoneName(at, 'Europe/Berlin')).toBe('CET');
    expect(zoneName(at)).toBe('UTC');
  });
});
