import type { CalibrationStatus, RegisterEntry } from '../src/lib/types.js';

const STATUSES: CalibrationStatus[] = [
  'current',
  'current',
  'current',
  'due-soon',
  'overdue',
  'out-of-tolerance',
];
const TYPES = ['flow cell', 'pressure transducer', 'temperature probe', 'torque wrench', 'caliper'];

/** `n` instruments with a deterministic spread of statuses, types and due dates. */
export function makeRegister(n: number): RegisterEntry[] {
  return Array.from({ length: n }, (_, i) => {
    const status = STATUSES[(i * 7) % STATUSES.length]!;
    const days = status === 'overdue' ? -((i % 40) + 1) : status === 'due-soon' ? i % 30 : 30 + (i % 300);
    return {
      tag: `${['FLOW', 'PT', 'TT', 'TW', 'CAL'][i % 5]}-${String(i).padStart(5, '0')}`,
      siteId: `plant-${(i % 3) + 1}`,
      type: TYPES[i % TYPES.length]!,
      location: `line ${(i % 12) + 1}`,
      owner: { kind: 'company' },
      intervalDays: 180,
      createdAt: '2025-01-01T00:00:00.000Z',
      updatedAt: '2025-01-01T00:00:00.000Z',
      retiredAt: null,
      calibration: {
        status,
        lastValidCalibrationAt: null,
        nextDue: '2026-02-01',
        daysUntilDue: status === 'out-of-tolerance' ? null : days,
        cycles: null,
      },
    };
  });
}
