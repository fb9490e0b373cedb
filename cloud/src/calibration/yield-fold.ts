import { compareText } from '../platform/compare.js';
import { localDay } from '../platform/time-zone.js';
import type { YieldQuarter } from '../production/index.js';
import { shiftAt, type Shift } from '../tenancy/index.js';

/** A rate rounded to 4 decimals; null when nothing was tested. */
const rate = (passed: number, tested: number) =>
  tested === 0 ? null : Math.round((passed / tested) * 10_000) / 10_000;

export interface RigRow {
  equipment: string;
  tested: number;
  passed: number;
  firstPassYield: number | null;
}
export interface DayRow {
  equipment: string;
  day: string;
  tested: number;
  passed: number;
  firstPassYield: number | null;
}
export interface ShiftRow {
  equipment: string;
  siteId: string;
  day: string;
  shift: string;
  tested: number;
  passed: number;
  firstPassYield: number | null;
}

/** Where a quarter hour falls at a site: its local day, and its shift and the day that shift belongs to. */
interface Placement {
  day: string;
  shiftDay: string;
  shift: string;
  /** One object per (shift day, shift) of a time zone and shifts: a key for the shift's row. */
  segment: object;
}

/** The quarter hours placed in one time zone and shifts, and their shift segments. */
interface Zone {
  placed: Map<string, Placement>;
  segments: Map<string, object>;
}
interface SiteFold {
  timeZone: string;
  shifts: readonly Shift[];
  zone: Zone;
}

/**
 * First-pass yield counts per rig, per rig and local day, and per rig, site, shift day and shift,
 * from the rollup's quarter hours (InspectionRepository.firstPassYieldByQuarter). Each quarter
 * hour counts in its own site's time zone and shifts (`siteOf`), and only where `keep` says (a
 * period of local days differs per site). The orders GET /yield answers in: rigs as the quarters
 * come (by rig), rig days by (day, rig), rig shifts by (day, rig, shift name) and otherwise as the
 * quarters come. Also the sites the kept quarters are of, sorted.
 *
 * One pass over tens of thousands of rows: each distinct quarter hour is parsed once and placed
 * once per time zone and shifts (sites share them); the quarters come grouped by rig and site, so
 * a rig's day and shift rows are found without building a key per row.
 */
export function foldYield(
  quarters: readonly YieldQuarter[],
  siteOf: (siteId: string) => { timeZone: string; shifts: readonly Shift[] },
  keep: (siteId: string, at: number) => boolean,
): { perRig: RigRow[]; perRigDay: DayRow[]; perRigShift: ShiftRow[]; sites: string[] } {
  const instants = new Map<string, number>();
  const instant = (quarter: string) => {
    let at = instants.get(quarter);
    if (at === undefined) instants.set(quarter, (at = Date.parse(`${quarter}:00.000Z`)));
    return at;
  };
  // Placements per time zone and shifts, shared by the sites that have the same.
  const zones = new Map<string, Zone>();
  const sites = new Map<string, SiteFold>();
  const siteFold = (siteId: string): SiteFold => {
    let s = sites.get(siteId);
    if (!s) {
      const { timeZone, shifts } = siteOf(siteId);
      const key = `${timeZone}\u0000${shifts.map((x) => `${x.start}\u0001${x.name}`).join('\u0000')}`;
      let zone = zones.get(key);
      if (!zone) zones.set(key, (zone = { placed: new Map(), segments: new Map() }));
      sites.set(siteId, (s = { timeZone, shifts, zone }));
    }
    return s;
  };
  const place = (s: SiteFold, quarter: string, at: number): Placement => {
    let p = s.zone.placed.get(quarter);
    if (!p) {
      const shift = shiftAt(at, s.timeZone, s.shifts);
      const key = `${shift.day}\u0000${shift.shift}`;
      let segment = s.zone.segments.get(key);
      if (!segment) s.zone.segments.set(key, (segment = {}));
      p = { day: localDay(at, s.timeZone), shiftDay: shift.day, shift: shift.shift, segment };
      s.zone.placed.set(quarter, p);
    }
    return p;
  };

  const perRig = new Map<string, RigRow>();
  const dayBuckets = new Map<string, DayRow[]>();
  const shiftBuckets = new Map<string, ShiftRow[]>();
  const sitesKept = new Set<string>();

  let rig: RigRow | undefined;
  /** The current rig's day rows, by day (a rig seen at two sites has one row per day). */
  let rigDays = new Map<string, DayRow>();
  let dayRow: DayRow | undefined;
  let siteId: string | undefined;
  let site: SiteFold | undefined;
  /** The current rig and site's shift rows, by segment. */
  let rigShifts = new Map<object, ShiftRow>();
  let shiftRow: ShiftRow | undefined;
  let shiftSegment: object | undefined;

  for (const r of quarters) {
    const at = instant(r.quarter);
    if (!keep(r.siteId, at)) continue;
    sitesKept.add(r.siteId);
    if (rig?.equipment !== r.equipment) {
      rig = perRig.get(r.equipment);
      if (!rig)
        perRig.set(
          r.equipment,
          (rig = { equipment: r.equipment, tested: 0, passed: 0, firstPassYield: null }),
        );
      rigDays = new Map();
      dayRow = undefined;
      siteId = undefined;
    }
    if (siteId !== r.siteId) {
      siteId = r.siteId;
      site = siteFold(r.siteId);
      rigShifts = new Map();
      shiftRow = undefined;
      shiftSegment = undefined;
    }
    const p = place(site!, r.quarter, at);
    rig.tested += r.tested;
    rig.passed += r.passed;

    if (dayRow?.day !== p.day) {
      dayRow = rigDays.get(p.day);
      if (!dayRow) {
        rigDays.set(
          p.day,
          (dayRow = { equipment: r.equipment, day: p.day, tested: 0, passed: 0, firstPassYield: null }),
        );
        let bucket = dayBuckets.get(p.day);
        if (!bucket) dayBuckets.set(p.day, (bucket = []));
        bucket.push(dayRow);
      }
    }
    dayRow.tested += r.tested;
    dayRow.passed += r.passed;

    if (shiftSegment !== p.segment) {
      shiftSegment = p.segment;
      shiftRow = rigShifts.get(p.segment);
      if (!shiftRow) {
        shiftRow = {
          equipment: r.equipment,
          siteId: r.siteId,
          day: p.shiftDay,
          shift: p.shift,
          tested: 0,
          passed: 0,
          firstPassYield: null,
        };
        rigShifts.set(p.segment, shiftRow);
        let bucket = shiftBuckets.get(p.shiftDay);
        if (!bucket) shiftBuckets.set(p.shiftDay, (bucket = []));
        bucket.push(shiftRow);
      }
    }
    shiftRow!.tested += r.tested;
    shiftRow!.passed += r.passed;
  }

  const finish = <T extends { tested: number; passed: number; firstPassYield: number | null }>(row: T) => {
    row.firstPassYield = rate(row.passed, row.tested);
    return row;
  };
  // Buckets in day order; within a day by rig (the quarters come by rig: already in order, which
  // the stable sort keeps at the cost of one pass), rig shifts then by shift name.
  const days = (buckets: Map<string, unknown[]>) => [...buckets.keys()].sort(compareText);
  const perRigDay: DayRow[] = [];
  for (const d of days(dayBuckets))
    for (const row of dayBuckets.get(d)!.sort((a, b) => compareText(a.equipment, b.equipment)))
      perRigDay.push(finish(row));
  const perRigShift: ShiftRow[] = [];
  for (const d of days(shiftBuckets))
    for (const row of shiftBuckets
      .get(d)!
      .sort((a, b) => compareText(a.equipment, b.equipment) || compareText(a.shift, b.shift)))
      perRigShift.push(finish(row));
  return {
    perRig: [...perRig.values()].map(finish),
    perRigDay,
    perRigShift,
    sites: [...sitesKept].sort(compareText),
  };
}
