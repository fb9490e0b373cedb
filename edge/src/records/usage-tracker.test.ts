import { describe, expect, it } from 'vitest';
import { parseRecord } from '@rigtrace/protocols';
import { UsageTracker } from './usage-tracker.js';

const t = (s: number) => new Date(Date.UTC(2026, 10, 23, 6, 0, s));
const source = { protocol: 'modbus' as const, endpoint: 'modbus-tcp://127.0.0.1:502' };

describe('UsageTracker', () => {
  it('emits start, then stop after the idle grace, with duration and cycles', () => {
    const u = new UsageTracker({ equipment: 'RIG-01', source, stopAfterIdleS: 10 });
    expect(u.observe({ at: t(0), running: false, cycles: 40 })).toEqual([]);
    const start = u.observe({ at: t(1), running: true, cycles: 40, operator: 'OP7', workOrder: 'WO-1' });
    expect(start).toHaveLength(1);
    expect(start[0]!.body).toEqual({ event: 'start', operator: 'OP7', workOrder: 'WO-1' });
    expect(start[0]!.observedAt).toBe(t(1).toISOString());
    // Short pauses between tests do not end the run.
    expect(u.observe({ at: t(5), running: false, cycles: 41 })).toEqual([]);
    expect(u.observe({ at: t(8), running: true, cycles: 41 })).toEqual([]);
    expect(u.observe({ at: t(20), running: true, cycles: 43 })).toEqual([]);
    expect(u.observe({ at: t(25), running: false, cycles: 44 })).toEqual([]);
    const stop = u.observe({ at: t(30), running: false, cycles: 44 });
    expect(stop).toHaveLength(1);
    expect(stop[0]!.body).toEqual({
      event: 'stop',
      durationS: 19,
      cycles: 4,
      operator: 'OP7',
      workOrder: 'WO-1',
    });
    expect(stop[0]!.observedAt).toBe(t(20).toISOString());
    // Each emitted draft makes a valid record once the log adds its envelope.
    for (const d of [...start, ...stop]) {
      const r = parseRecord({ v: 1, id: '019ab2f0-0000-7000-8000-000000000001', edge: 'e', seq: 1, ...d });
      expect(r.ok, JSON.stringify(r)).toBe(true);
    }
    expect(u.observe({ at: t(40), running: false })).toEqual([]);
  });

  it('ends a run in progress on flush', () => {
    const u = new UsageTracker({ equipment: 'RIG-01', source, stopAfterIdleS: 10 });
    u.observe({ at: t(0), running: true, cycles: 1 });
    u.observe({ at: t(3), running: true, cycles: 2 });
    expect(u.flush()[0]!.body).toEqual({ event: 'stop', durationS: 3, cycles: 1 });
    expect(u.flush()).toEqual([]);
  });
});
