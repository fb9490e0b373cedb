import { describe, expect, it } from 'vitest';
import {
  ADJUST_LIMIT,
  BenchModel,
  pointError,
  type BenchModelOptions,
  type CalibrationRecord,
  type CalibrationStarted,
} from './bench-model.js';
import { findInstrument, findStandard, INSTRUMENTS } from './catalog.js';

const T0 = Date.UTC(2025, 0, 6, 6, 0, 0);
const DAY = 86_400_000;

function bench(opts: Partial<BenchModelOptions> = {}) {
  const model = new BenchModel({ seed: 42, cycleSeconds: 8, startMs: T0, asset: 'BENCH-01', ...opts });
  const completed: CalibrationRecord[] = [];
  const started: CalibrationStarted[] = [];
  model.on('calibration-completed', (r) => completed.push(r));
  model.on('calibration-started', (e) => started.push(e));
  return { model, completed, started };
}

/** Runs the model tick by tick, as the server does, until `ms` after T0. */
function runTo(model: BenchModel, ms: number, tickMs = 50): void {
  for (let t = T0; t <= T0 + ms; t += tickMs) model.advanceTo(t);
  model.advanceTo(T0 + ms);
}

/** What a reader of the record concludes: the rule the README documents. */
function verdict(r: CalibrationRecord, readings: number[]): 'pass' | 'fail' {
  const decimals = findInstrument(r.equipmentId)!.decimals;
  return readings.every((v, i) => {
    const e = pointError(v, r.nominals[i]!, decimals);
    return e >= r.lowerTolerance[i]! && e <= r.upperTolerance[i]!;
  })
    ? 'pass'
    : 'fail';
}

function checkConsistent(r: CalibrationRecord): void {
  const instrument = findInstrument(r.equipmentId)!;
  const n = instrument.points.length;
  for (const list of [r.pointNames, r.nominals, r.asFound, r.asLeft, r.lowerTolerance, r.upperTolerance])
    expect(list).toHaveLength(n);
  expect(r.nominals).toEqual(instrument.points.map((p) => p.nominal));
  expect(r.unit).toBe(instrument.unit);
  expect(r.procedure).toBe(instrument.procedure);
  expect(r.procedureRevision).toBe(instrument.procedureRevision);
  expect(r.standardId).toBe(instrument.standardId);
  expect(r.standardCertificate).toBe(findStandard(instrument.standardId).certificate);
  expect(r.asFoundResult).toBe(verdict(r, r.asFound));
  expect(r.asLeftResult).toBe(verdict(r, r.asLeft));
  for (let i = 0; i < n; i++) {
    expect(r.upperTolerance[i]).toBeCloseTo(instrument.tolerance(r.nominals[i]!), 4);
    expect(r.lowerTolerance[i]).toBe(-r.upperTolerance[i]!);
  }
  const worst = Math.max(
    ...r.asFound.map(
      (v, i) => Math.abs(pointError(v, r.nominals[i]!, instrument.decimals)) / r.upperTolerance[i]!,
    ),
  );
  expect(r.adjusted).toBe(worst > ADJUST_LIMIT);
  if (!r.adjusted) expect(r.asLeft).toEqual(r.asFound);
  else expect(r.asLeftResult).toBe('pass');
  expect(r.certificateId).toBe(`CAL-BENCH-01-${String(r.sequence).padStart(6, '0')}`);
  // The bench's zone is UTC here: the local day is the UTC date.
  expect(r.nextDue).toBe(
    new Date(Date.parse(r.completedAt) + instrument.intervalDays * DAY).toISOString().slice(0, 10),
  );
  expect(r.standardOverdue).toBe(r.standardDueDate < r.completedAt.slice(0, 10));
  expect(r.temperatureC).toBeGreaterThan(21);
  expect(r.temperatureC).toBeLessThan(25);
}

describe('BenchModel', () => {
  it('idles a quarter cycle, calibrates three quarters, and visits every instrument in turn', () => {
    const { model, completed, started } = bench();
    model.advanceTo(T0 + 1999);
    expect(model.live).toMatchObject({ state: 'idle', health: 'NORMAL', equipmentId: '' });
    model.advanceTo(T0 + 2000);
    expect(model.live).toMatchObject({
      state: 'calibrating',
      health: 'CHECK_FUNCTION',
      equipmentId: 'PT-RIG01-RAIL',
    });
    expect(model.live.unit).toBe('bar');
    model.advanceTo(T0 + 7999);
    expect(completed).toHaveLength(0);
    model.advanceTo(T0 + 8000);
    expect(completed).toHaveLength(1);
    expect(completed[0]).toMatchObject({
      sequence: 1,
      equipmentId: 'PT-RIG01-RAIL',
      startedAt: new Date(T0 + 2000).toISOString(),
      completedAt: new Date(T0 + 8000).toISOString(),
    });
    expect(model.live.state).toBe('idle');
    expect(model.lastCalibration).toBe(completed[0]);
    runTo(model, 8000 * INSTRUMENTS.length);
    expect(completed.map((r) => r.equipmentId)).toEqual(INSTRUMENTS.map((i) => i.equipmentId));
    expect(completed.map((r) => r.sequence)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(started.map((s) => s.calibration)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('waits idleSeconds between calibrations when set, and still starts one at once on request', () => {
    const { model, completed } = bench({ idleSeconds: 3 * 3600 });
    runTo(model, 8000, 1000);
    expect(completed).toHaveLength(1);
    // Three hours of idle follow: nothing else completes in the next two hours and a half.
    runTo(model, 8000 + 2.5 * 3600_000, 60_000);
    expect(completed).toHaveLength(1);
    expect(model.live.state).toBe('idle');
    expect(model.requestCalibration('FC-RIG02')).toEqual({ ok: true, startsNow: true });
    runTo(model, 8000 + 2.5 * 3600_000 + 60_000, 500);
    expect(completed.map((r) => r.equipmentId)).toEqual(['PT-RIG01-RAIL', 'FC-RIG02']);
  });
  it('records consistent as-found, as-left and results; most instruments pass on their own', () => {
    const { model, completed } = bench({ cycleSeconds: 2 });
    runTo(model, 2000 * 120, 250);
    expect(completed.length).toBe(120);
    for (const r of completed) checkConsistent(r);
    expect(completed.filter((r) => r.asFoundResult === 'pass').length).toBeGreaterThan(100);
    expect(completed.every((r) => r.asLeftResult === 'pass')).toBe(true);
    expect(completed.some((r) => r.adjusted)).toBe(true);
    expect(completed.every((r) => !r.standardOverdue)).toBe(true);
    // Realistic, not perfect: as-found readings differ from nominal.
    expect(completed.filter((r) => r.asFound.some((v, i) => v !== r.nominals[i])).length).toBe(120);
  });

  it('replays the same records from the same seed whatever the tick rate', () => {
    const a = bench({ seed: 7 });
    const b = bench({ seed: 7 });
    const c = bench({ seed: 8 });
    runTo(a.model, 8000 * 4, 50);
    runTo(b.model, 8000 * 4, 1000);
    runTo(c.model, 8000 * 4, 50);
    expect(b.completed).toEqual(a.completed);
    expect(c.completed.map((r) => r.asFound)).not.toEqual(a.completed.map((r) => r.asFound));
  });

  it('drift: the instrument on the bench fails as-found, is adjusted, and passes as-left', () => {
    const { model, completed } = bench();
    runTo(model, 8000);
    expect(completed[0]!.asFoundResult).toBe('pass');
    model.setFault('drift', true, 'test');
    runTo(model, 8000 * 7);
    const drifted = completed.filter((r) => r.equipmentId === 'FC-RIG01');
    expect(drifted).toHaveLength(1);
    expect(drifted[0]).toMatchObject({ asFoundResult: 'fail', adjusted: true, asLeftResult: 'pass' });
    checkConsistent(drifted[0]!);
    // Only that instrument drifted; the others still pass.
    for (const r of completed.filter((x) => x.equipmentId !== 'FC-RIG01' && x.sequence > 1))
      expect(r.asFoundResult, r.equipmentId).toBe('pass');
    // Back on the bench while still drifting: found out of tolerance again.
    const later = completed.filter((r) => r.equipmentId === 'FC-RIG01');
    model.setFault('drift', false, 'test');
    runTo(model, 8000 * 14);
    const fixed = completed.filter((r) => r.equipmentId === 'FC-RIG01' && !later.includes(r));
    expect(fixed.length).toBeGreaterThan(0);
    expect(fixed.every((r) => r.asFoundResult === 'pass')).toBe(true);
  });

  it('an overdue reference standard flags the calibration', () => {
    const { model, completed } = bench();
    runTo(model, 8000);
    expect(completed[0]).toMatchObject({
      standardOverdue: false,
      standardDueDate: new Date(T0 + 212 * DAY).toISOString().slice(0, 10),
    });
    model.setFault('overdue-standard', true, 'test');
    model.advanceTo(T0 + 9000);
    expect(model.live).toMatchObject({ state: 'idle', health: 'MAINTENANCE_REQUIRED' });
    runTo(model, 16_000);
    const r = completed[1]!;
    expect(r.standardOverdue).toBe(true);
    expect(r.standardDueDate < r.completedAt.slice(0, 10)).toBe(true);
    checkConsistent(r);
  });

  it('dates a calibration on the local day of the bench’s site, as the cloud counts due dates', () => {
    const plus = (day: string, n: number) =>
      new Date(Date.parse(`${day}T00:00:00Z`) + n * DAY).toISOString().slice(0, 10);
    for (const [timeZone, startIso, localDay] of [
      // 20:00 UTC on 6 January is 01:30 on 7 January in Kolkata: the UTC date is a day behind.
      ['Asia/Kolkata', '2025-01-06T20:00:00.000Z', '2025-01-07'],
      // 05:00 UTC on 7 January is 21:00 on 6 January in Los Angeles: the UTC date is a day ahead.
      ['America/Los_Angeles', '2025-01-07T05:00:00.000Z', '2025-01-06'],
    ] as const) {
      const startMs = Date.parse(startIso);
      const model = new BenchModel({ seed: 42, cycleSeconds: 8, startMs, asset: 'BENCH-01', timeZone });
      const completed: CalibrationRecord[] = [];
      model.on('calibration-completed', (r) => completed.push(r));
      for (let t = startMs; t <= startMs + 8000; t += 50) model.advanceTo(t);
      const r = completed[0]!;
      const instrument = findInstrument(r.equipmentId)!;
      expect(r.completedAt.slice(0, 10), timeZone).not.toBe(localDay);
      expect([r.nextDue, r.standardDueDate], timeZone).toEqual([
        plus(localDay, instrument.intervalDays),
        plus(localDay, findStandard(instrument.standardId).dueInDays),
      ]);
      expect(r.standardOverdue).toBe(false);
    }
  });

  it('bad-status aborts the calibration and refuses new ones; StartCalibration runs one now or next', () => {
    const { model, completed, started } = bench();
    const aborted: string[] = [];
    model.on('calibration-aborted', (e) => aborted.push(e.equipmentId));
    model.advanceTo(T0 + 500);
    expect(model.requestCalibration('TT-RIG02-OIL')).toEqual({ ok: true, startsNow: true });
    expect(model.live).toMatchObject({ state: 'calibrating', equipmentId: 'TT-RIG02-OIL', unit: 'degC' });
    expect(started.at(-1)).toMatchObject({ equipmentId: 'TT-RIG02-OIL', requested: true });
    expect(model.requestCalibration('FC-RIG02')).toEqual({ ok: true, startsNow: false });
    expect(model.requestCalibration('XX-1')).toEqual({ ok: false, reason: 'unknown equipment XX-1' });
    runTo(model, 500 + 6000);
    expect(completed.map((r) => r.equipmentId)).toEqual(['TT-RIG02-OIL']);
    runTo(model, 500 + 6000 + 2000 + 100);
    expect(model.live.equipmentId).toBe('FC-RIG02');
    expect(started.at(-1)).toMatchObject({ equipmentId: 'FC-RIG02', requested: true });
    model.setFault('bad-status', true, 'test');
    expect(aborted).toEqual(['FC-RIG02']);
    expect(model.live).toMatchObject({ state: 'fault', health: 'FAILURE' });
    expect(model.requestCalibration('FC-RIG02')).toEqual({ ok: false, reason: 'bench is in fault' });
    runTo(model, 60_000);
    expect(completed).toHaveLength(1);
    model.setFault('bad-status', false, 'test');
    expect(model.live.state).toBe('idle');
    runTo(model, 60_000 + 8000);
    expect(completed).toHaveLength(2);
    expect(completed[1]!.sequence).toBe(2);
  });

  it('live values: the standard ramps to each point, oil changes every 100-500 ms, freeze stops everything', () => {
    const { model } = bench();
    model.advanceTo(T0 + 2000);
    const references: number[] = [];
    const oilChanges: number[] = [];
    let oil = model.live.oilTemperature;
    for (let t = T0 + 2000; t < T0 + 8000; t += 10) {
      model.advanceTo(t);
      references.push(model.live.referenceValue);
      if (model.live.oilTemperature !== oil) {
        oilChanges.push(t);
        oil = model.live.oilTemperature;
      }
      expect(Math.abs(model.live.oilTemperature - 40)).toBeLessThan(0.6);
      expect(Math.abs(model.live.deviceValue - model.live.referenceValue)).toBeLessThan(10);
    }
    // Holds near each of 0/500/1000/1500/2000 bar, on the way up and on the way down.
    for (const p of [0, 500, 1000, 1500, 2000])
      expect(references.some((r) => Math.abs(r - p) < 1)).toBe(true);
    const gaps = oilChanges.slice(1).map((t, i) => t - oilChanges[i]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(100);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(510);
    model.setFault('freeze', true, 'test');
    const frozen = { ...model.live };
    runTo(model, 30_000);
    expect(model.live).toEqual(frozen);
    expect(model.sequence).toBe(0);
    model.setFault('freeze', false, 'test');
    // Frozen time does not count: the calibration resumes where it stopped (10 ms before its end)
    // and completes with the real time.
    model.advanceTo(T0 + 30_000 + 5);
    expect(model.sequence).toBe(0);
    model.advanceTo(T0 + 30_000 + 600);
    expect(model.sequence).toBe(1);
    expect(model.lastCalibration!.completedAt).toBe(new Date(T0 + 30_000 + 10).toISOString());
    expect(model.live.oilTemperature).not.toBe(frozen.oilTemperature);
  });
});
