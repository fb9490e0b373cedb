import { dayIn } from './time.js';
import type { Calibration } from './types.js';

/**
 * The as-found error of each calibration over time, per point, as a share of its tolerance:
 * 0 % is on nominal, ±100 % is the tolerance limit, beyond is out of tolerance. Putting every
 * point on that one scale lets points of different units share one chart.
 */
export interface ErrorSeries {
  /** Unix seconds, oldest first. */
  x: number[];
  /** One series per point name; null where a calibration has no such point. */
  series: { name: string; values: (number | null)[] }[];
}

export function asFoundErrorSeries(calibrations: readonly Calibration[]): ErrorSeries {
  const sorted = [...calibrations].sort((a, b) => Date.parse(a.calibratedAt) - Date.parse(b.calibratedAt));
  const names: string[] = [];
  for (const c of sorted) for (const p of c.body.points) if (!names.includes(p.name)) names.push(p.name);
  return {
    x: sorted.map((c) => Math.floor(Date.parse(c.calibratedAt) / 1000)),
    series: names.map((name) => ({
      name,
      values: sorted.map((c) => {
        const p = c.body.points.find((q) => q.name === name);
        if (!p) return null;
        const err = p.asFound - p.nominal;
        const limit = err >= 0 ? p.upperTolerance : -p.lowerTolerance;
        if (limit <= 0) return err === 0 ? 0 : null;
        return Math.round((err / limit) * 1000) / 10;
      }),
    })),
  };
}

/**
 * A time axis's tick labels (Unix seconds) as days in the site's zone, `2026-02-20`, as every
 * date of the portal (uPlot's own labels are the browser's `2/20`).
 */
export function dayTicks(ticks: readonly number[], zone: string): string[] {
  return ticks.map((t) => dayIn(new Date(t * 1000).toISOString(), zone));
}
