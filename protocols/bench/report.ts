import { readFileSync } from 'node:fs';
import type { BenchFigure } from './harness.js';

/** Prints one figure for the bench harness (see harness.ts). */
export function report(f: BenchFigure): void {
  process.stdout.write(`BENCH ${JSON.stringify(f)}\n`);
}

/** Peak resident set size of a process (VmHWM from /proc, Linux), in MiB. */
export function peakRssMiB(pid: number | 'self' = 'self'): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number | 'self' = 'self'): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // After "(comm) ", utime and stime are the 12th and 13th fields (14 and 15 of the whole line).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Percentile (0–100, nearest rank) of a list of numbers. */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
