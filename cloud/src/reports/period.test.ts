import { describe, expect, it } from 'vitest';
import { periodOf } from './builders.js';

describe('a report period', () => {
  it('reads dates as whole local days of the zone, daylight-saving changes included', () => {
    expect(periodOf('2026-12-01', '2026-12-06')).toMatchObject({
      fromIso: '2026-12-01T00:00:00.000Z',
      toExclusiveIso: '2026-12-07T00:00:00.000Z',
      firstDay: '2026-12-01',
      lastDay: '2026-12-06',
      zone: 'UTC',
      label: '2026-12-01 to 2026-12-06',
    });
    expect(periodOf('2026-12-01', '2026-12-06', 'Asia/Kolkata')).toMatchObject({
      fromIso: '2026-11-30T18:30:00.000Z',
      toExclusiveIso: '2026-12-06T18:30:00.000Z',
      lastDay: '2026-12-06',
      label: '2026-12-01 to 2026-12-06 (Asia/Kolkata)',
    });
    // 8 March 2026 has 23 hours in Los Angeles (PST until 02:00, then PDT).
    const p = periodOf('2026-03-08', '2026-03-08', 'America/Los_Angeles');
    expect([p.fromIso, p.toExclusiveIso]).toEqual(['2026-03-08T08:00:00.000Z', '2026-03-09T07:00:00.000Z']);
  });

  it('keeps timestamps as instants, their days in the zone', () => {
    expect(periodOf('2026-11-30T19:00:00Z', '2026-12-06T18:00:00Z', 'Asia/Kolkata')).toMatchObject({
      fromIso: '2026-11-30T19:00:00.000Z',
      toExclusiveIso: '2026-12-06T18:00:00.000Z',
      firstDay: '2026-12-01',
      lastDay: '2026-12-06',
    });
  });

  it('cuts each site on its own local days over sites in different zones', () => {
    const p = periodOf(
      '2026-11-01',
      '2026-11-30',
      'UTC',
      new Map([
        ['pune', 'Asia/Kolkata'],
        ['irvine', 'America/Los_Angeles'],
      ]),
    );
    expect(p).toMatchObject({
      fromIso: '2026-11-01T00:00:00.000Z',
      toExclusiveIso: '2026-12-01T00:00:00.000Z',
      zone: 'UTC',
      label: '2026-11-01 to 2026-11-30 (each site’s local days)',
    });
    expect([...p.sites].map(([site, s]) => [site, s.zone, s.fromIso, s.toExclusiveIso, s.lastDay])).toEqual([
      ['pune', 'Asia/Kolkata', '2026-10-31T18:30:00.000Z', '2026-11-30T18:30:00.000Z', '2026-11-30'],
      // Los Angeles: PDT (UTC−7) on 1 November until 02:00, then PST (UTC−8).
      ['irvine', 'America/Los_Angeles', '2026-11-01T07:00:00.000Z', '2026-12-01T08:00:00.000Z', '2026-11-30'],
    ]);
    // Sites sharing one zone: that zone, no per-site cut.
    expect(periodOf('2026-11-01', '2026-11-30', 'UTC', new Map([['pune', 'Asia/Kolkata']])).sites.size).toBe(
      0,
    );
  });
});
