import type { CalibrationStatus, RegisterEntry as Equipment } from './types.js';

export const STATUSES: readonly CalibrationStatus[] = ['out-of-tolerance', 'overdue', 'due-soon', 'current'];

export const STATUS_LABEL: Record<CalibrationStatus, string> = {
  'out-of-tolerance': 'Out of tolerance',
  overdue: 'Overdue',
  'due-soon': 'Due soon',
  current: 'Current',
};

const RANK: Record<CalibrationStatus, number> = {
  'out-of-tolerance': 0,
  overdue: 1,
  'due-soon': 2,
  current: 3,
};

/**
 * Most urgent first: out of tolerance, overdue (longest overdue / never calibrated first),
 * due soon by days left, then current by days left; ties by tag.
 */
export function byUrgency(a: Equipment, b: Equipment): number {
  const r = RANK[a.calibration.status] - RANK[b.calibration.status];
  if (r !== 0) return r;
  const da = a.calibration.daysUntilDue ?? Number.NEGATIVE_INFINITY;
  const db = b.calibration.daysUntilDue ?? Number.NEGATIVE_INFINITY;
  if (da !== db) return da < db ? -1 : 1;
  return a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0;
}

/** "in 12 days", "today", "3 days overdue", "never calibrated". */
export function daysLeftText(days: number | null): string {
  if (days === null) return 'never calibrated';
  if (days === 0) return 'due today';
  if (days === 1) return '1 day';
  if (days > 0) return `${days} days`;
  return days === -1 ? '1 day overdue' : `${-days} days overdue`;
}
