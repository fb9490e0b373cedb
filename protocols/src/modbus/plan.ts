import { isBitArea, pointSize } from './decode.js';
import type { ModbusArea, ModbusPointSpec, ReadBlock } from './types.js';

/** Protocol limits per request (Modbus Application Protocol v1.1b3, 6.1–6.4). */
export const MAX_READ_REGISTERS = 125;
export const MAX_READ_BITS = 2000;

const AREA_ORDER: Record<ModbusArea, number> = { holding: 0, input: 1, coil: 2, discrete: 3 };

export interface PlanOptions {
  /** Registers per request for holding/input (default 120, at most 125). */
  maxBlockRegisters?: number;
  /** Largest hole, in registers, worth reading through to save a request (default 8). Bits: 16 × maxGap. */
  maxGap?: number;
  /** Bits per request for coil/discrete (default and maximum 2000). */
  maxBlockBits?: number;
}

function checkLimit(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in ${min}..${max}, got ${value}`);
  }
  return value;
}

/**
 * Groups points into as few read requests as possible: per unit id and area, sorted by unit id,
 * area and address; two neighbours share a request when the hole between them is at most maxGap
 * and the request stays within the size limit. Overlapping points share words. Greedy over points
 * sorted by address, which is optimal for intervals on a line with these two constraints.
 * A hole costs bytes on the wire, and on some devices an exception for addresses that do not
 * exist: the poller then splits that block (see ModbusPoller).
 */
export function planReads(points: ModbusPointSpec[], opts: PlanOptions = {}): ReadBlock[] {
  const maxRegisters = checkLimit('maxBlockRegisters', opts.maxBlockRegisters ?? 120, 1, MAX_READ_REGISTERS);
  const maxBits = checkLimit('maxBlockBits', opts.maxBlockBits ?? MAX_READ_BITS, 1, MAX_READ_BITS);
  const maxGap = checkLimit('maxGap', opts.maxGap ?? 8, 0, 65535);

  const sorted = [...points].sort(
    (a, b) =>
      a.unitId - b.unitId ||
      AREA_ORDER[a.area] - AREA_ORDER[b.area] ||
      a.address - b.address ||
      pointSize(b) - pointSize(a),
  );

  const blocks: ReadBlock[] = [];
  let current: (ReadBlock & { end: number }) | undefined;
  for (const point of sorted) {
    const bits = isBitArea(point.area);
    const limit = bits ? maxBits : maxRegisters;
    const gap = bits ? maxGap * 16 : maxGap;
    const end = point.address + pointSize(point);
    if (
      current !== undefined &&
      current.unitId === point.unitId &&
      current.area === point.area &&
      point.address - current.end <= gap &&
      Math.max(current.end, end) - current.address <= limit
    ) {
      current.end = Math.max(current.end, end);
      current.count = current.end - current.address;
      current.points.push(point);
      continue;
    }
    current = {
      unitId: point.unitId,
      area: point.area,
      address: point.address,
      count: end - point.address,
      end,
      points: [point],
    };
    blocks.push(current);
  }
  return blocks.map(({ unitId, area, address, count, points: ps }) => ({
    unitId,
    area,
    address,
    count,
    points: ps,
  }));
}
