import { describe, expect, it } from 'vitest';
import { planReads } from './plan.js';
import type { ModbusPointSpec } from './types.js';

let n = 0;
const p = (s: Partial<ModbusPointSpec> & Pick<ModbusPointSpec, 'address'>): ModbusPointSpec => ({
  name: `p${n++}`,
  unitId: 1,
  area: 'holding',
  type: 'uint16',
  ...s,
});
const shape = (blocks: ReturnType<typeof planReads>) =>
  blocks.map((b) => `${b.unitId}/${b.area}/${b.address}+${b.count}:${b.points.length}`);

describe('planReads', () => {
  it('coalesces neighbours and holes up to maxGap into one request', () => {
    const points = [
      p({ address: 10, type: 'float32' }),
      p({ address: 0 }),
      p({ address: 20 }),
      p({ address: 12 }),
    ];
    // 0..0, hole 1..9 (9 > 8) -> separate; 10..13 and 20 (hole 14..19 = 6) -> together
    expect(shape(planReads(points))).toEqual(['1/holding/0+1:1', '1/holding/10+11:3']);
    expect(shape(planReads(points, { maxGap: 9 }))).toEqual(['1/holding/0+21:4']);
    expect(shape(planReads(points, { maxGap: 0 }))).toEqual([
      '1/holding/0+1:1',
      '1/holding/10+3:2',
      '1/holding/20+1:1',
    ]);
  });

  it('keeps unit ids and areas apart and sorts by unit, area, address', () => {
    const points = [
      p({ address: 1, unitId: 2 }),
      p({ address: 0, area: 'input' }),
      p({ address: 1 }),
      p({ address: 0, unitId: 2 }),
      p({ address: 3, area: 'coil', type: 'bool' }),
      p({ address: 0, area: 'discrete', type: 'bool' }),
    ];
    expect(shape(planReads(points))).toEqual([
      '1/holding/1+1:1',
      '1/input/0+1:1',
      '1/coil/3+1:1',
      '1/discrete/0+1:1',
      '2/holding/0+2:2',
    ]);
  });

  it('never exceeds maxBlockRegisters, and the default is 120', () => {
    const points = Array.from({ length: 100 }, (_, i) => p({ address: i * 2, type: 'uint32' }));
    const blocks = planReads(points);
    expect(blocks.map((b) => b.count)).toEqual([120, 80]);
    const small = planReads(points, { maxBlockRegisters: 7 });
    expect(Math.max(...small.map((b) => b.count))).toBeLessThanOrEqual(7);
    expect(small.reduce((s, b) => s + b.points.length, 0)).toBe(100);
    expect(() => planReads(points, { maxBlockRegisters: 126 })).toThrow(RangeError);
  });

  it('reads overlapping points once', () => {
    const points = [
      p({ address: 100, type: 'uint32' }),
      p({ address: 101 }),
      p({ address: 100, type: 'string', length: 10 }),
    ];
    expect(shape(planReads(points))).toEqual(['1/holding/100+10:3']);
  });

  it('plans bits with the bit limit (2000) and a gap of 16 bits per register of maxGap', () => {
    const coils = [
      p({ address: 0, area: 'coil', type: 'bool' }),
      p({ address: 129, area: 'coil', type: 'bool' }),
    ];
    expect(shape(planReads(coils))).toEqual(['1/coil/0+130:2']);
    expect(shape(planReads(coils, { maxGap: 1 }))).toEqual(['1/coil/0+1:1', '1/coil/129+1:1']);
    const many = Array.from({ length: 2500 }, (_, i) => p({ address: i, area: 'discrete', type: 'bool' }));
    expect(planReads(many).map((b) => b.count)).toEqual([2000, 500]);
  });

  it('uses the fewest requests for the flow-rig map', () => {
    const f = (address: number) => p({ address, type: 'float32' });
    const s = (address: number, length: number) => p({ address, type: 'string', length });
    const points = [
      p({ address: 0 }),
      p({ address: 1 }),
      p({ address: 2, type: 'uint32' }),
      ...[4, 6, 8, 10, 12, 14].map(f),
      s(20, 10),
      s(30, 8),
      s(38, 4),
      p({ address: 100, type: 'uint32' }),
      p({ address: 102 }),
      s(103, 10),
      s(113, 8),
      s(121, 4),
      s(125, 10),
      ...Array.from({ length: 24 }, (_, i) => f(140 + i * 2)),
      p({ address: 200 }),
    ];
    expect(shape(planReads(points))).toEqual([
      '1/holding/0+42:12',
      '1/holding/100+88:30',
      '1/holding/200+1:1',
    ]);
  });
});
