import { DataType, StatusCodes, VariantArrayType, type DataValue, type Variant } from 'node-opcua';
import type { OpcuaStatus, OpcuaValue, OpcuaValueData } from './types.js';
import { shortestFloat32 } from '../numbers.js';

/** StatusCode bits (OPC 10000-4 §7.39). */
const SEVERITY_MASK = 0xc000_0000;
const CODE_MASK = 0xffff_0000;
const INFO_TYPE_MASK = 0x0000_0c00;
const INFO_TYPE_DATA_VALUE = 0x0000_0400;
const OVERFLOW_BIT = 0x0000_0080;

let names: Map<number, string> | undefined;

function statusNames(): Map<number, string> {
  if (!names) {
    names = new Map();
    for (const [key, sc] of Object.entries(StatusCodes) as [string, unknown][]) {
      if (
        sc &&
        typeof sc === 'object' &&
        'value' in sc &&
        typeof sc.value === 'number' &&
        !names.has(sc.value >>> 0)
      )
        names.set(sc.value >>> 0, key);
    }
  }
  return names;
}

export function statusOf(statusCode: number): OpcuaStatus {
  const value = statusCode >>> 0;
  const code = (value & CODE_MASK) >>> 0;
  // A code node-opcua does not know (a vendor's, say) is shown in hex.
  const name = statusNames().get(code) ?? `0x${code.toString(16).padStart(8, '0')}`;
  return { name, value, good: (value & SEVERITY_MASK) === 0 };
}

/** The Overflow bit only means something when the InfoType is DataValue. */
export function hasOverflow(code: number): boolean {
  return (code & INFO_TYPE_MASK) === INFO_TYPE_DATA_VALUE && (code & OVERFLOW_BIT) !== 0;
}

type Scalar = number | boolean | string | null;

function int64(v: unknown, signed: boolean): number | string {
  // node-opcua carries 64-bit integers as [high, low] 32-bit words.
  if (Array.isArray(v) && v.length === 2) {
    const hi = BigInt(Number(v[0]) >>> 0);
    const lo = BigInt(Number(v[1]) >>> 0);
    let n = (hi << 32n) | lo;
    if (signed && hi >= 0x8000_0000n) n -= 1n << 64n;
    const asNumber = Number(n);
    return Number.isSafeInteger(asNumber) ? asNumber : n.toString();
  }
  return Number(v);
}

/** Text of a value: its own toString() when it has one (NodeId, QualifiedName, Guid…), else JSON. */
function text(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? '' : v.toISOString();
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (v !== null && typeof v === 'object') {
    const own = (v as { toJSON?: unknown }).toJSON;
    if (typeof own === 'function') {
      // A NodeId's JSON form is its text (ns=1;s=X): as is, not quoted again.
      const json = (own as () => unknown).call(v);
      return typeof json === 'string' ? json : JSON.stringify(json);
    }
    const toString = (v as { toString?: unknown }).toString;
    if (typeof toString === 'function' && toString !== Object.prototype.toString)
      return (toString as () => string).call(v);
  }
  return JSON.stringify(v) ?? '';
}

function scalar(dataType: DataType, v: unknown): Scalar {
  if (v === null || v === undefined) return null;
  switch (dataType) {
    case DataType.Null:
      return null;
    case DataType.Boolean:
      return Boolean(v);
    case DataType.SByte:
    case DataType.Byte:
    case DataType.Int16:
    case DataType.UInt16:
    case DataType.Int32:
    case DataType.UInt32:
    case DataType.Double:
      return Number(v);
    case DataType.Float:
      return shortestFloat32(Number(v));
    case DataType.Int64:
      return int64(v, true);
    case DataType.UInt64:
      return int64(v, false);
    case DataType.DateTime:
      return v instanceof Date && Number.isNaN(v.getTime()) ? null : text(v);
    case DataType.LocalizedText:
      return typeof v === 'object' && 'text' in v ? text((v as { text?: unknown }).text ?? '') : text(v);
    case DataType.StatusCode:
      return typeof v === 'object' && 'value' in v ? Number(v.value) : Number(v);
    case DataType.String:
    case DataType.XmlElement:
    case DataType.Guid:
    case DataType.ByteString:
    case DataType.NodeId:
    case DataType.ExpandedNodeId:
    case DataType.QualifiedName:
      return text(v);
    case DataType.ExtensionObject:
    case DataType.DataValue:
    case DataType.Variant:
    case DataType.DiagnosticInfo:
      // Structures: their JSON encoding, as text.
      return text(v);
  }
}

/** Converts a Variant into the plain JSON-able value an OpcuaValue carries (matrices are flattened). */
export function variantValue(variant: Variant | null | undefined): OpcuaValueData {
  if (!variant) return null;
  const dataType: DataType = variant.dataType;
  const arrayType: VariantArrayType = variant.arrayType;
  const value: unknown = variant.value;
  if (arrayType === VariantArrayType.Scalar) return scalar(dataType, value);
  if (value === null || value === undefined) return [];
  const list = Array.from(value as ArrayLike<unknown>).map((v) => scalar(dataType, v));
  if (dataType === DataType.Boolean) return list.map(Boolean);
  if (list.every((v) => typeof v === 'number')) return list;
  return list.map((v) => (v === null ? '' : String(v)));
}

export function toOpcuaValue(name: string, nodeId: string, dv: DataValue): OpcuaValue {
  const code = dv.statusCode?.value ?? 0;
  return {
    name,
    nodeId,
    value: variantValue(dv.value),
    statusCode: statusOf(code),
    sourceTimestamp: dv.sourceTimestamp ? dv.sourceTimestamp.toISOString() : null,
    serverTimestamp: dv.serverTimestamp ? dv.serverTimestamp.toISOString() : null,
    overflow: hasOverflow(code),
  };
}

/** A value for an item the server refused or that cannot be read: no data, the status says why. */
export function statusOnlyValue(name: string, nodeId: string, code: number): OpcuaValue {
  return {
    name,
    nodeId,
    value: null,
    statusCode: statusOf(code),
    sourceTimestamp: null,
    serverTimestamp: null,
    overflow: false,
  };
}
