import { describe, expect, it } from 'vitest';
import { compareText } from '../platform/compare.js';
import { localDay } from '../platform/time-zone.js';
import type { YieldQuarter } from '../production/index.js';
import { DEFAULT_SHIFTS, shiftAt, type Shift } from '../tenancy/index.js';
import { foldYield } from './yield-fold.js';

/**
 * foldYield against the plain definition of GET /yield's counts: every quarter hour kept is placed
 * on its own, counted under a key per rig, per rig and local day, and per rig, site, shift day
 * and shift, and each list sorted. Sites in time zones with daylight saving changes inside the
 * quarters (a local hour that repeats, with a shift starting in it), rigs seen at two sites.
 */
function definition(
  quarters: readonly YieldQuarter[],
  siteOf: (siteId: string) => { timeZone: string; shifts: readonly Shift[] },
  keep: (siteId: string, at: number) => boolean,
) {
  const rate = (p: number, t: number) => (t === 0 ? null : Math.round((p / t) * 10_000) / 10_000);
  const kept = quarters.filter((r) => keep(r.siteId, Date.parse(`${r.quarter}:00.000Z`)));
  const rigs = new Map<string, { equipment: string; tested: number; passed: number }>();
  const days = new Map<string, { equipment: string; day: string; tested: number; passed: number }>();
  const shifts = new Map<
    string,
    { equipment: string; siteId: string; day: string; shift: string; tested: number; passed: number }
  >();
  for (const r of kept) {
    const at = Date.parse(`${r.quarter}:00.000Z`);
    const { timeZone, shifts: siteShifts } = siteOf(r.siteId);
    const rig = rigs.get(r.equipment) ?? { equipment: r.equipment, tested: 0, passed: 0 };
    rig.tested += r.tested;
    rig.passed += r.passed;
    rigs.set(r.equipment, rig);
    const day = localDay(at, timeZone);
    const d = days.get(`${r.equipment}|${day}`) ?? { equipment: r.equipment, day, tested: 0, passed: 0 };
    d.tested += r.tested;
    d.passed += r.passed;
    days.set(`${r.equipment}|${day}`, d);
    const s = shiftAt(at, timeZone, siteShifts);
    const key = `${r.equipment}|${r.siteId}|${s.day}|${s.shift}`;
    const x = shifts.get(key) ?? {
      equipment: r.equipment,
      siteId: r.siteId,
      day: s.day,
      shift: s.shift,
      tested: 0,
      passed: 0,
    };
    x.tested += r.tested;
    x.passed += r.passed;
    shifts.set(key, x);
  }
  const byDay = (a: { day: string; equipment: string }, b: { day: string; equipment: string }) =>
    compareText(a.day, b.day) || compareText(a.equipment, b.equipment);
  return {
    perRig: [...rigs.values()].map((r) => ({ ...r, firstPassYield: rate(r.passed, r.tested) })),
    perRigDay: [...days.values()]
      .sort(byDay)
      .map((r) => ({ ...r, firstPassYield: rate(r.passed, r.tested) })),
    perRigShift: [...shifts.values()]
      .sort((a, b) => byDay(a, b) || compareText(a.shift, b.shift))
      .map((r) => ({ ...r, firstPassYield: rate(r.passed, r.tested) })),
    sites: [...new Set(kept.map((r) => r.siteId))].sort(compareText),
  };
}

/** A small deterministic generator. */
function random(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
}

const SITES: Record<string, { timeZone: string; shifts: readonly Shift[] }> = {
  // Clocks go back at 02:00 on 1 Nov 2026: 01:00–02:00 comes twice, and a shift starts at 01:30.
  la: {
    timeZone: 'America/Los_Angeles',
    shifts: [
      { name: 'Day', start: '07:00' },
      { name: 'Graveyard', start: '01:30' },
    ],
  },
  in: { timeZone: 'Asia/Kolkata', shifts: DEFAULT_SHIFTS },
  // Clocks go forward half an hour on 4 Oct 2026 and back on 5 Apr.
  lh: { timeZone: 'Australia/Lord_Howe', shifts: [{ name: 'Only', start: '00:00' }] },
  utc: { timeZone: 'UTC', shifts: DEFAULT_SHIFTS },
};
const siteOf = (siteId: string) => SITES[siteId] ?? { timeZone: 'UTC', shifts: DEFAULT_SHIFTS };

/** Quarters in (equipment, site, quarter) order, as the repository gives them. */
function quarters(seed: number): YieldQuarter[] {
  const r = random(seed);
  const out: YieldQuarter[] = [];
  const t0 = Date.parse('2026-10-01T00:00:00.000Z');
  for (let rig = 0; rig < 12; rig++) {
    const equipment = `RIG-${String(rig).padStart(2, '0')}`;
    // Most rigs at one site; some moved between two (or an unknown site, read as UTC).
    const names = Object.keys(SITES);
    const own = [names[rig % names.length]!, ...(rig % 4 === 0 ? [names[(rig + 1) % names.length]!] : [])];
    if (rig === 11) own.push('gone');
    for (const siteId of own.sort(compareText)) {
      const times = new Set<number>();
      for (let i = 0; i < 300; i++) times.add(t0 + Math.floor(r() * 40 * 96) * 900_000);
      for (const at of [...times].sort((a, b) => a - b)) {
        const tested = 1 + Math.floor(r() * 3);
        out.push({
          equipment,
          siteId,
          quarter: new Date(at).toISOString().slice(0, 16),
          tested,
          passed: Math.floor(r() * (tested + 1)),
        });
      }
    }
  }
  return out;
}

describe('first-pass yield folded from quarter hours', () => {
  it('gives the counts and orders of the plain definition', () => {
    for (const seed of [1, 2, 3]) {
      const q = quarters(seed);
      const all = () => true;
      expect(foldYield(q, siteOf, all)).toEqual(definition(q, siteOf, all));
    }
  });

  it('keeps only the quarter hours of each site’s own period', () => {
    const q = quarters(4);
    // Per site a different window, as local days in several zones give.
    const keep = (siteId: string, at: number) =>
      at >= Date.parse('2026-10-20T00:00:00.000Z') + (siteId.length % 3) * 3_600_000 &&
      at < Date.parse('2026-11-03T00:00:00.000Z');
    const folded = foldYield(q, siteOf, keep);
    expect(folded).toEqual(definition(q, siteOf, keep));
    expect(folded.perRigShift.some((r) => r.shift === 'Graveyard' && r.day === '2026-11-01')).toBe(true);
  });

  it('counts a shift once when a repeated local hour returns to it (daylight saving ends)', () => {
    // Los Angeles, 1 Nov 2026: 01:00 PDT (08:00Z) is still Oct 31's Day shift, 01:30 PDT starts
    // Graveyard, then 01:00 PST (09:00Z) is before 01:30 again, and 01:30 PST Graveyard again.
    const q: YieldQuarter[] = ['08:00', '08:30', '09:00', '09:30'].map((t, i) => ({
      equipment: 'RIG-LA',
      siteId: 'la',
      quarter: `2026-11-01T${t}`,
      tested: 1,
      passed: i % 2,
    }));
    const folded = foldYield(q, siteOf, () => true);
    expect(folded.perRigShift.map((r) => [r.day, r.shift, r.tested, r.passed])).toEqual([
      ['2026-10-31', 'Day', 2, 0],
      ['2026-11-01', 'Graveyard', 2, 2],
    ]);
    expect(folded).toEqual(definition(q, siteOf, () => true));
  });

  it('counts a rig seen at two sites once per local day, and once per site and shift', () => {
    const q: YieldQuarter[] = [
      { equipment: 'RIG-A', siteId: 'in', quarter: '2026-11-10T03:00', tested: 2, passed: 1 },
      { equipment: 'RIG-A', siteId: 'utc', quarter: '2026-11-10T03:00', tested: 1, passed: 1 },
      { equipment: 'RIG-A', siteId: 'utc', quarter: '2026-11-10T23:45', tested: 1, passed: 0 },
    ];
    const folded = foldYield(q, siteOf, () => true);
    expect(folded.perRigDay).toEqual([
      { equipment: 'RIG-A', day: '2026-11-10', tested: 4, passed: 2, firstPassYield: 0.5 },
    ]);
    expect(folded.perRigShift.map((r) => [r.siteId, r.day, r.shift, r.tested])).toEqual([
      ['utc', '2026-11-09', 'Night', 1],
      ['in', '2026-11-10', 'Early', 2],
      ['utc', '2026-11-10', 'Night', 1],
    ]);
    expect(folded).toEqual(definition(q, siteOf, () => true));
  });
});
