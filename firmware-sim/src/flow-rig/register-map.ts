import type { FlowRigModel } from './rig-model.js';

/**
 * The flow rig's Modbus register map (holding registers). FIXED: the edge's demo configuration is
 * written against it; README.md documents it as a table. 32-bit values: high word first, big-endian
 * bytes. Strings: ASCII, 2 chars per register, high byte first, NUL padded.
 */
export const REG = {
  state: 0,
  testPoint: 1,
  cycleCount: 2,
  railPressureBar: 4,
  energizingTimeUs: 6,
  deliveredQtyMm3: 8,
  backLeakMlMin: 10,
  oilTempC: 12,
  coilResistanceOhm: 14,
  partSerial: 20,
  workOrder: 30,
  operator: 38,
  resultSeq: 100,
  resultOverall: 102,
  resultPartSerial: 103,
  resultWorkOrder: 113,
  resultOperator: 121,
  resultTrimCode: 125,
  /** Per test point p (1..4): 140 + 12 × (p − 1), six float32. */
  resultPointBase: 140,
  resultPointStride: 12,
  faultMode: 200,
} as const;

export const STRING_REGISTERS = {
  partSerial: 10,
  workOrder: 8,
  operator: 4,
  trimCode: 10,
} as const;

/** Registers 0..255 exist; anything else is exception 2. */
export const REGISTER_COUNT = 256;

/** Offsets of the six float32 inside a test point's result group. */
export const POINT_FIELDS = [
  'nominalQty',
  'lslQty',
  'uslQty',
  'measuredQty',
  'backLeak',
  'backLeakMax',
] as const;

export class RegisterImage {
  readonly words = new Uint16Array(REGISTER_COUNT);

  u16(address: number, value: number): void {
    this.words[address] = value & 0xffff;
  }

  u32(address: number, value: number): void {
    this.words[address] = Math.floor(value / 65536) & 0xffff;
    this.words[address + 1] = value & 0xffff;
  }

  f32(address: number, value: number): void {
    const b = Buffer.alloc(4);
    b.writeFloatBE(value);
    this.words[address] = b.readUInt16BE(0);
    this.words[address + 1] = b.readUInt16BE(2);
  }

  str(address: number, registers: number, text: string): void {
    const b = Buffer.alloc(registers * 2);
    b.write(text.replace(/[^\x20-\x7e]/gu, '?'), 'latin1');
    for (let i = 0; i < registers; i++) this.words[address + i] = b.readUInt16BE(i * 2);
  }
}

/** Renders the model into a register image, result block first and resultSeq last. */
export function renderRegisters(model: FlowRigModel): RegisterImage {
  const img = new RegisterImage();
  const live = model.live;
  img.u16(REG.state, live.state);
  img.u16(REG.testPoint, live.testPoint);
  img.u32(REG.cycleCount, live.cycleCount);
  img.f32(REG.railPressureBar, live.railPressureBar);
  img.f32(REG.energizingTimeUs, live.energizingTimeUs);
  img.f32(REG.deliveredQtyMm3, live.deliveredQtyMm3);
  img.f32(REG.backLeakMlMin, live.backLeakMlMin);
  img.f32(REG.oilTempC, live.oilTempC);
  img.f32(REG.coilResistanceOhm, live.coilResistanceOhm);
  img.str(REG.partSerial, STRING_REGISTERS.partSerial, live.partSerial);
  img.str(REG.workOrder, STRING_REGISTERS.workOrder, live.workOrder);
  img.str(REG.operator, STRING_REGISTERS.operator, live.operator);

  const r = model.lastResult;
  if (r) {
    img.u16(REG.resultOverall, r.overall === 'pass' ? 1 : 2);
    img.str(REG.resultPartSerial, STRING_REGISTERS.partSerial, r.partSerial);
    img.str(REG.resultWorkOrder, STRING_REGISTERS.workOrder, r.workOrder);
    img.str(REG.resultOperator, STRING_REGISTERS.operator, r.operator);
    img.str(REG.resultTrimCode, STRING_REGISTERS.trimCode, r.trimCode);
    r.points.forEach((p, i) => {
      const base = REG.resultPointBase + REG.resultPointStride * i;
      POINT_FIELDS.forEach((field, j) => img.f32(base + j * 2, p[field]));
    });
    // Written last: a reader that sees a new resultSeq sees the block it belongs to.
    img.u32(REG.resultSeq, r.seq);
  }
  img.u16(REG.faultMode, model.faultMode);
  return img;
}
