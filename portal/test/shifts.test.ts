import { describe, expect, it } from 'vitest';
import { parseShifts, shiftsText } from '../src/lib/shifts.js';

describe('a site’s shifts as typed', () => {
  it('reads names and start times, and writes them back the same way', () => {
    const parsed = parseShifts(' Early 6:00, Late shift 14:00 ,Night 22:00');
    expect(parsed).toEqual({
      ok: true,
      shifts: [
        { name: 'Early', start: '06:00' },
        { name: 'Late shift', start: '14:00' },
        { name: 'Night', start: '22:00' },
      ],
    });
    expect(shiftsText(parsed.ok ? parsed.shifts! : [])).toBe('Early 06:00, Late shift 14:00, Night 22:00');
  });

  it('says which part is not a name and a time; empty means the default shifts', () => {
    expect(parseShifts('Early 06:00, 14:00')).toEqual({
      ok: false,
      error: '“14:00” is not a name and a start time, e.g. Early 06:00',
    });
    expect(parseShifts('  ')).toEqual({ ok: true, shifts: null });
  });
});
