import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { limitVerdict, limitsFromTolerance, overallVerdict, toleranceVerdict } from './index.js';

describe('toleranceVerdict', () => {
  it('decides 59.9 against 60 ± 0.1 as a pass (binary arithmetic alone says fail)', () => {
    expect(59.9 - 60 >= -0.1).toBe(false); // the trap
    expect(toleranceVerdict(59.9, { nominal: 60, lowerTolerance: -0.1, upperTolerance: 0.1 })).toBe('pass');
    expect(toleranceVerdict(60.1, { nominal: 60, lowerTolerance: -0.1, upperTolerance: 0.1 })).toBe('pass');
    expect(toleranceVerdict(59.89, { nominal: 60, lowerTolerance: -0.1, upperTolerance: 0.1 })).toBe('fail');
    expect(toleranceVerdict(60.100000001, { nominal: 60, lowerTolerance: -0.1, upperTolerance: 0.1 })).toBe(
      'fail',
    );
  });

  it('handles asymmetric, one-signed and tiny tolerances exactly', () => {
    const t = { nominal: 0.3, lowerTolerance: -0.2, upperTolerance: 0.4 };
    expect(toleranceVerdict(0.1, t)).toBe('pass'); // 0.1 − 0.3 is −0.19999999999999998 in binary
    expect(toleranceVerdict(0.7, t)).toBe('pass');
    expect(toleranceVerdict(0.70000001, t)).toBe('fail');
    const tiny = { nominal: 1e-7, lowerTolerance: -1e-9, upperTolerance: 1e-9 };
    expect(toleranceVerdict(1.01e-7, tiny)).toBe('pass');
    expect(toleranceVerdict(1.02e-7, tiny)).toBe('fail');
    expect(toleranceVerdict(1600.5, { nominal: 1600, lowerTolerance: 0, upperTolerance: 0.5 })).toBe('pass');
    expect(toleranceVerdict(1599.9, { nominal: 1600, lowerTolerance: 0, upperTolerance: 0.5 })).toBe('fail');
  });

  it('never passes a value that is not a finite number', () => {
    for (const bad of [NaN, Infinity, -Infinity])
      expect(toleranceVerdict(bad, { nominal: 60, lowerTolerance: -1, upperTolerance: 1 })).toBe('fail');
    expect(toleranceVerdict(60, { nominal: NaN, lowerTolerance: -1, upperTolerance: 1 })).toBe('fail');
  });

  it('agrees with exact rational arithmetic on short decimals', () => {
    // Values with at most 3 decimals, as instruments and certificates write them: compare in integers.
    const milli = fc.integer({ min: -2_000_000, max: 2_000_000 });
    fc.assert(
      fc.property(milli, milli, fc.nat(5000), fc.nat(5000), (r, n, lo, hi) => {
        const want = r - n >= -lo && r - n <= hi ? 'pass' : 'fail';
        const got = toleranceVerdict(r / 1000, {
          nominal: n / 1000,
          lowerTolerance: -lo / 1000,
          upperTolerance: hi / 1000,
        });
        return got === want;
      }),
      { numRuns: 2000 },
    );
  });
});

describe('limitVerdict', () => {
  it('is inclusive and allows one-sided limits', () => {
    expect(limitVerdict(58.2, { lsl: 58.2, usl: 61.8 })).toBe('pass');
    expect(limitVerdict(61.8, { lsl: 58.2, usl: 61.8 })).toBe('pass');
    expect(limitVerdict(61.80001, { lsl: 58.2, usl: 61.8 })).toBe('fail');
    expect(limitVerdict(31, { usl: 30 })).toBe('fail');
    expect(limitVerdict(-5, { usl: 30 })).toBe('pass');
    expect(limitVerdict(5, {})).toBe('pass');
    expect(limitVerdict(5, { lsl: 6, usl: 4 })).toBe('fail');
    expect(limitVerdict(NaN, {})).toBe('fail');
  });

  it('gives the same answer as toleranceVerdict on the limits computed from a tolerance', () => {
    const milli = fc.integer({ min: -200_000, max: 200_000 });
    fc.assert(
      fc.property(milli, milli, fc.nat(500), fc.nat(500), (r, n, lo, hi) => {
        const t = { nominal: n / 100, lowerTolerance: -lo / 100, upperTolerance: hi / 100 };
        return (
          limitVerdict(r / 100, limitsFromTolerance(t.nominal, t.lowerTolerance, t.upperTolerance)) ===
          toleranceVerdict(r / 100, t)
        );
      }),
      { numRuns: 2000 },
    );
  });
});

describe('limitsFromTolerance and overallVerdict', () => {
  it('computes limits in decimal', () => {
    expect(0.1 + 0.2).not.toBe(0.3);
    expect(limitsFromTolerance(0.1, 0, 0.2).usl).toBe(0.3);
    expect(limitsFromTolerance(60, -0.1, 0.1)).toEqual({ lsl: 59.9, usl: 60.1 });
    expect(limitsFromTolerance(0.3, -0.1, 0.2)).toEqual({ lsl: 0.2, usl: 0.5 });
  });

  it('fails when any one fails', () => {
    expect(overallVerdict(['pass', undefined, 'pass'])).toBe('pass');
    expect(overallVerdict(['pass', 'fail'])).toBe('fail');
    expect(overallVerdict([])).toBe('pass');
  });
});
