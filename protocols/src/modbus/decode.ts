import type { ModbusDataType, ModbusPointSpec, PointValue } from './types.js';
import { shortestFloat32 } from '../numbers.js';

export { shortestFloat32 };

const WORDS: Record<Exclude<ModbusDataType, 'string' | 'bool'>, number> = {
  int16: 1,
  uint16: 1,
  int32: 2,
  uint32: 2,
  float32: 2,
  float64: 4,
};

/** Registers (or bits, for `bool`) a point occupies on the wire. */
export function pointSize(spec: Pick<ModbusPointSpec, 'type' | 'length'>): number {
  if (spec.type === 'bool') return 1;
  if (spec.type === 'string') return spec.length ?? 0;
  return WORDS[spec.type];
}

/** True for the coil and discrete-input tables, whose items are bits. */
export function isBitArea(area: ModbusPointSpec['area']): boolean {
  return area === 'coil' || area === 'discrete';
}

/** The bytes of the number being decoded (at most 4 registers): see decodePoint. */
const scratch = Buffer.alloc(8);

/** Removes binary noise of `raw * scale + offset` (0.1 * 3 = 0.30000000000000004) without losing real digits. */
function tidy(x: number): number {
  return Number.isFinite(x) ? Number(x.toPrecision(15)) : x;
}

/**
 * Decodes one point from the words of the block it was read in (or the 0/1 items of a bit block).
 * `offset` is the index of the point's first word in `registers` (spec.address - block address).
 * Throws RangeError when the block does not hold the whole point or holds a value that is not a
 * register (0..65535) or a bit.
 */
export function decodePoint(spec: ModbusPointSpec, registers: number[], offset: number): PointValue {
  const size = pointSize(spec);
  if (!Number.isInteger(offset) || offset < 0 || offset + size > registers.length || size < 1) {
    throw new RangeError(
      `point ${spec.name} needs ${size} item(s) at offset ${offset}, block has ${registers.length}`,
    );
  }
  if (spec.type === 'bool') {
    const bit = registers[offset];
    if (bit !== 0 && bit !== 1) throw new RangeError(`point ${spec.name}: ${String(bit)} is not a bit`);
    return bit === 1;
  }

  let raw: number;
  if (spec.type === 'uint16' || spec.type === 'int16') {
    // One register: its value is the word itself (bytes swapped for a low-byte-first device),
    // read without going through a buffer.
    const word = registers[offset];
    if (word === undefined || !Number.isInteger(word) || word < 0 || word > 0xffff) {
      throw new RangeError(`point ${spec.name}: ${String(word)} is not a 16-bit register`);
    }
    const u = spec.byteOrder === 'little' ? ((word & 0xff) << 8) | (word >>> 8) : word;
    raw = spec.type === 'int16' ? (u << 16) >> 16 : u;
    return scaled(spec, raw);
  }

  // A string's words are always in order; wordOrder applies to numbers of more than one register.
  const wordsReversed = spec.type !== 'string' && spec.wordOrder === 'little' && size > 1;
  // A string is returned as text made from its own bytes; a number is read from a scratch buffer
  // reused by every call (decoding is synchronous and nothing keeps the buffer), so a poll of
  // thousands of points allocates no Buffer per point.
  const bytes = spec.type === 'string' ? Buffer.alloc(size * 2) : scratch;
  for (let i = 0; i < size; i++) {
    const word = registers[offset + i];
    if (word === undefined || !Number.isInteger(word) || word < 0 || word > 0xffff) {
      throw new RangeError(`point ${spec.name}: ${String(word)} is not a 16-bit register`);
    }
    // wordOrder 'little' = low word first: the words go in reverse, giving a big-endian byte string.
    const at = (wordsReversed ? size - 1 - i : i) * 2;
    // byteOrder 'little' = the device puts the low byte first in each register.
    if (spec.byteOrder === 'little') bytes.writeUInt16LE(word, at);
    else bytes.writeUInt16BE(word, at);
  }

  if (spec.type === 'string') {
    const nul = bytes.indexOf(0);
    return bytes
      .subarray(0, nul === -1 ? bytes.length : nul)
      .toString('latin1')
      .replace(/[\s\0]+$/u, '');
  }
  const be = bytes;

  switch (spec.type) {
    case 'int32':
      raw = be.readInt32BE(0);
      break;
    case 'uint32':
      raw = be.readUInt32BE(0);
      break;
    case 'float32':
      raw = shortestFloat32(be.readFloatBE(0));
      break;
    case 'float64':
      raw = be.readDoubleBE(0);
      break;
  }
  return scaled(spec, raw);
}

/** `raw * scale + offset` of the point (raw itself when it has neither). */
function scaled(spec: ModbusPointSpec, raw: number): number {
  const scale = spec.scale ?? 1;
  const offsetValue = spec.offset ?? 0;
  if (scale === 1 && offsetValue === 0) return raw;
  return tidy(raw * scale + offsetValue);
}
