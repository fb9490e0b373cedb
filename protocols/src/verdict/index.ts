/**
 * The one rule that judges a reading against its limits, used by the edge (records it builds from
 * device data), the cloud (records it accepts and checks) and the portal (the hand-entered
 * calibration form). It has no dependencies, so the portal bundles it as it is.
 *
 * Limits are inclusive: a reading exactly on a limit passes. The comparison is made on the decimal
 * values as they are written (each number's shortest round-trip decimal form, which is how it
 * appears in the record, on a certificate and on the screen), with exact decimal arithmetic, so
 * that 59.9 against 60 ± 0.1 is a pass everywhere: in binary floating point 59.9 − 60 is
 * −0.10000000000000142 and would fail, and an ad-hoc epsilon would move the limit by an amount
 * nobody chose. A value that is not a finite number (NaN, ±Infinity) never passes.
 */

export type Verdict = 'pass' | 'fail';

/** A decimal m × 10^e with an exact integer mantissa. */
interface Decimal {
  m: bigint;
  e: number;
}

/** The exact decimal of a finite number's shortest round-trip text ("59.9", "1e-7", "-1.5e+21"). */
function decimal(n: number): Decimal {
  const s = String(n);
  const ePos = s.indexOf('e');
  const coef = ePos === -1 ? s : s.slice(0, ePos);
  let e = ePos === -1 ? 0 : Number(s.slice(ePos + 1));
  const dot = coef.indexOf('.');
  let digits = coef;
  if (dot !== -1) {
    digits = coef.slice(0, dot) + coef.slice(dot + 1);
    e -= coef.length - dot - 1;
  }
  return { m: BigInt(digits), e };
}

function align(a: Decimal, b: Decimal): [bigint, bigint, number] {
  const e = Math.min(a.e, b.e);
  return [a.m * 10n ** BigInt(a.e - e), b.m * 10n ** BigInt(b.e - e), e];
}

function add(a: Decimal, b: Decimal): Decimal {
  const [x, y, e] = align(a, b);
  return { m: x + y, e };
}

/** −1, 0 or 1 as a <, =, > b. */
function compare(a: Decimal, b: Decimal): number {
  const [x, y] = align(a, b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** How far apart, relative to the magnitudes, two values must be for binary arithmetic to decide safely. */
const CLEAR_MARGIN = 1e-9;

/**
 * `lsl ≤ value ≤ usl` (either limit may be absent: a one-sided limit). Pass or fail, decided on
 * the decimal values as written. Limits the wrong way round (lsl > usl) can never pass.
 */
export function limitVerdict(
  value: number,
  limits: { lsl?: number | undefined; usl?: number | undefined },
): Verdict {
  const { lsl, usl } = limits;
  if (!Number.isFinite(value)) return 'fail';
  if (lsl !== undefined && !Number.isFinite(lsl)) return 'fail';
  if (usl !== undefined && !Number.isFinite(usl)) return 'fail';
  return atLeast(value, lsl) && atMost(value, usl) ? 'pass' : 'fail';
}

function atLeast(value: number, limit: number | undefined): boolean {
  if (limit === undefined) return true;
  const margin = CLEAR_MARGIN * Math.max(1, Math.abs(value), Math.abs(limit));
  if (value - limit > margin) return true;
  if (limit - value > margin) return false;
  return compare(decimal(value), decimal(limit)) >= 0;
}

function atMost(value: number, limit: number | undefined): boolean {
  if (limit === undefined) return true;
  const margin = CLEAR_MARGIN * Math.max(1, Math.abs(value), Math.abs(limit));
  if (limit - value > margin) return true;
  if (value - limit > margin) return false;
  return compare(decimal(value), decimal(limit)) <= 0;
}

/**
 * A calibration reading against its tolerance: the error (reading − nominal) must lie within
 * [lowerTolerance, upperTolerance] (asymmetric allowed; ± t is −t and +t). Decided exactly on the
 * decimal values as written: 59.9 against 60 with −0.1 / +0.1 passes, 59.89 fails.
 */
export function toleranceVerdict(
  reading: number,
  t: { nominal: number; lowerTolerance: number; upperTolerance: number },
): Verdict {
  const { nominal, lowerTolerance, upperTolerance } = t;
  if (![reading, nominal, lowerTolerance, upperTolerance].every(Number.isFinite)) return 'fail';
  const margin =
    CLEAR_MARGIN *
    Math.max(1, Math.abs(reading), Math.abs(nominal), Math.abs(lowerTolerance), Math.abs(upperTolerance));
  const error = reading - nominal;
  // Far from both limits, binary arithmetic cannot get it wrong; near one, decide in decimal.
  if (error - lowerTolerance > margin && upperTolerance - error > margin) return 'pass';
  if (lowerTolerance - error > margin || error - upperTolerance > margin) return 'fail';
  const d = decimal(reading);
  const n = decimal(nominal);
  const lo = add(n, decimal(lowerTolerance));
  const hi = add(n, decimal(upperTolerance));
  return compare(d, lo) >= 0 && compare(d, hi) <= 0 ? 'pass' : 'fail';
}

/** The overall verdict of several: fail when any one fails (absent ones are ignored). */
export function overallVerdict(results: Iterable<Verdict | undefined>): Verdict {
  for (const r of results) if (r === 'fail') return 'fail';
  return 'pass';
}

/**
 * Limits from a nominal and a ± tolerance (or asymmetric lower/upper tolerances), computed in
 * decimal so that 60 ± 0.1 gives exactly 59.9 and 60.1 (not 60.1000000000000014).
 */
export function limitsFromTolerance(
  nominal: number,
  lowerTolerance: number,
  upperTolerance: number,
): { lsl: number; usl: number } {
  const n = decimal(nominal);
  const toNumber = (d: Decimal) => Number(`${d.m}e${d.e}`);
  return {
    lsl: toNumber(add(n, decimal(lowerTolerance))),
    usl: toNumber(add(n, decimal(upperTolerance))),
  };
}

/**
 * Tolerances (limit − nominal) from a nominal and absolute limits, computed in decimal so that
 * 60 with limits 59.9 and 60.1 gives exactly −0.1 and 0.1.
 */
export function toleranceFromLimits(
  nominal: number,
  lsl: number,
  usl: number,
): { lowerTolerance: number; upperTolerance: number } {
  const n = decimal(nominal);
  const minus = { m: -n.m, e: n.e };
  const toNumber = (d: Decimal) => Number(`${d.m}e${d.e}`);
  return {
    lowerTolerance: toNumber(add(decimal(lsl), minus)),
    upperTolerance: toNumber(add(decimal(usl), minus)),
  };
}
