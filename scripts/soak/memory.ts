import { readFileSync } from 'node:fs';

/** Resident set size of a process in MB (Linux /proc), or null if it is gone. */
export function rssMb(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

export interface Sample {
  /** Seconds since the start of the soak. */
  t: number;
  mb: number;
}

/** One process lifetime's RSS samples (a restart starts a new series). */
export interface Series {
  name: string;
  incarnation: number;
  pid: number;
  samples: Sample[];
}

export interface MemoryVerdict {
  name: string;
  incarnation: number;
  /** Seconds of samples judged (after the warm-up). */
  seconds: number;
  samples: number;
  firstThirdMb: number;
  lastThirdMb: number;
  peakMb: number;
  /** Least-squares slope over the judged samples. */
  slopeMbPerMin: number;
  growthPct: number;
  flat: boolean;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * Judges one series: drop the first `warmupS` seconds (JIT, caches, connection pools filling),
 * then compare the mean of the last third with the mean of the first third. Flat means the last
 * third grew by at most `maxGrowthPct` percent OR at most `maxGrowthMb` (a few MB of GC noise on a
 * small heap is not a leak).
 */
export function judge(
  s: Series,
  opts: { warmupS: number; maxGrowthPct: number; maxGrowthMb: number },
): MemoryVerdict | null {
  const start = s.samples[0]?.t ?? 0;
  const xs = s.samples.filter((p) => p.t - start >= opts.warmupS);
  if (xs.length < 6) return null;
  const third = Math.floor(xs.length / 3);
  const first = mean(xs.slice(0, third).map((p) => p.mb));
  const last = mean(xs.slice(-third).map((p) => p.mb));
  const tm = mean(xs.map((p) => p.t));
  const ym = mean(xs.map((p) => p.mb));
  const num = xs.reduce((a, p) => a + (p.t - tm) * (p.mb - ym), 0);
  const den = xs.reduce((a, p) => a + (p.t - tm) ** 2, 0);
  const growthPct = ((last - first) / first) * 100;
  return {
    name: s.name,
    incarnation: s.incarnation,
    seconds: Math.round(xs.at(-1)!.t - xs[0]!.t),
    samples: xs.length,
    firstThirdMb: round1(first),
    lastThirdMb: round1(last),
    peakMb: round1(Math.max(...s.samples.map((p) => p.mb))),
    slopeMbPerMin: round1(den > 0 ? (num / den) * 60 : 0),
    growthPct: round1(growthPct),
    flat: growthPct <= opts.maxGrowthPct || last - first <= opts.maxGrowthMb,
  };
}

export const round1 = (x: number) => Math.round(x * 10) / 10;
