import { describe, expect, it } from 'vitest';
import { calendarState, statusOn, type CalLite } from '../src/calibration/calibration.service.js';

const cal = (
  id: string,
  day: string,
  asFound: 'pass' | 'fail',
  asLeft: 'pass' | 'fail' | null = null,
  ok = true,
): CalLite => ({
  id,
  calibratedAt: `${day}T10:00:00.000Z`,
  asFound,
  asLeft,
  traceability: ok ? 'ok' : 'flagged',
});

describe('calibration status rules', () => {
  it('dates the next calibration from the last valid one, whatever the order received', () => {
    const s = calendarState([cal('b', '2026-06-01', 'pass'), cal('a', '2026-01-01', 'pass')], 30, 'UTC');
    expect(s).toMatchObject({ nextDue: '2026-07-01', outOfTolerance: false, lastValid: { id: 'b' } });
    expect(statusOn(s, '2026-06-20', 10)).toBe('current');
    expect(statusOn(s, '2026-06-21', 10)).toBe('due-soon');
    expect(statusOn(s, '2026-07-01', 10)).toBe('due-soon'); // due on the day itself
    expect(statusOn(s, '2026-07-02', 10)).toBe('overdue');
  });

  it('is out of tolerance from a failure until a valid calibration at or after it', () => {
    const failed = calendarState(
      [cal('a', '2026-01-01', 'pass'), cal('b', '2026-02-01', 'fail')],
      365,
      'UTC',
    );
    expect(failed).toMatchObject({ outOfTolerance: true, nextDue: '2027-01-01' });
    expect(statusOn(failed, '2026-02-02', 30)).toBe('out-of-tolerance');
    const adjusted = calendarState(
      [cal('a', '2026-01-01', 'pass'), cal('b', '2026-02-01', 'fail', 'pass')],
      365,
      'UTC',
    );
    expect(adjusted).toMatchObject({ outOfTolerance: false, nextDue: '2027-02-01' });
    const leftFailing = calendarState([cal('a', '2026-01-01', 'pass', 'fail')], 365, 'UTC');
    expect(leftFailing).toMatchObject({ outOfTolerance: true, lastValid: null, nextDue: null });
    // An adjustment made with an unfit standard does not close the failure.
    const flagged = calendarState([cal('a', '2026-01-01', 'fail', 'pass', false)], 365, 'UTC');
    expect(flagged).toMatchObject({ outOfTolerance: true, lastValid: null });
  });

  it('treats never calibrated as overdue, and a used-up usage interval as overdue or due soon', () => {
    expect(statusOn(calendarState([], 30, 'UTC'), '2026-01-01', 5)).toBe('overdue');
    const s = calendarState([cal('a', '2026-01-01', 'pass')], 365, 'UTC');
    expect(statusOn(s, '2026-02-01', 30, { used: 89, interval: 100 })).toBe('current');
    expect(statusOn(s, '2026-02-01', 30, { used: 90, interval: 100 })).toBe('due-soon');
    expect(statusOn(s, '2026-02-01', 30, { used: 100, interval: 100 })).toBe('overdue');
  });
});
