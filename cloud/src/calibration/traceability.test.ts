import { describe, expect, it } from 'vitest';
import type { CalLite } from './calibration.service.js';
import { laterFailureIssue } from './traceability.service.js';

const cal = (id: string, calibratedAt: string, asFound: 'pass' | 'fail'): CalLite => ({
  id,
  calibratedAt,
  asFound,
  asLeft: null,
  traceability: 'ok',
});

describe('the standard → instrument link of the suspect chain', () => {
  // The standard passed on 1 May and failed at 20:00 UTC on 10 May; an instrument was calibrated
  // with it at 21:00 UTC on 5 May, inside the window.
  const history = [
    cal('s1', '2026-05-01T09:00:00.000Z', 'pass'),
    cal('s2', '2026-05-10T20:00:00.000Z', 'fail'),
  ];
  const usedAt = '2026-05-05T21:00:00.000Z';

  it('gives the failure and the use as local days of the calibrated equipment’s site', () => {
    // In Kolkata (UTC+5:30) both are the next day.
    expect(laterFailureIssue('STD-1', history, usedAt, 'Asia/Kolkata')).toBe(
      'STD-1: found out of tolerance on 2026-05-11 (calibration s2); used on 2026-05-06, inside its suspect window',
    );
    expect(laterFailureIssue('STD-1', history, usedAt)).toBe(
      'STD-1: found out of tolerance on 2026-05-10 (calibration s2); used on 2026-05-05, inside its suspect window',
    );
  });

  it('says nothing for a use before the window or with no later failure', () => {
    expect(laterFailureIssue('STD-1', history, '2026-04-30T12:00:00.000Z', 'Asia/Kolkata')).toBeNull();
    expect(laterFailureIssue('STD-1', history.slice(0, 1), usedAt, 'Asia/Kolkata')).toBeNull();
  });
});
