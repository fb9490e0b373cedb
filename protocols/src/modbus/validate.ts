import { isBitArea, pointSize } from './decode.js';
import type { ConfigProblem } from './errors.js';
import { MAX_READ_REGISTERS } from './plan.js';
import type { ModbusArea, ModbusDataType, ModbusPointSpec } from './types.js';

const AREAS: readonly ModbusArea[] = ['holding', 'input', 'coil', 'discrete'];
const TYPES: readonly ModbusDataType[] = [
  'int16',
  'uint16',
  'int32',
  'uint32',
  'float32',
  'float64',
  'bool',
  'string',
];
const POINT_KEYS = new Set([
  'name',
  'unitId',
  'area',
  'address',
  'type',
  'length',
  'wordOrder',
  'byteOrder',
  'scale',
  'offset',
  'unit',
]);
const ORDERS = ['big', 'little'];

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isInt(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || typeof v !== 'object') return String(v);
  return Array.isArray(v) ? 'an array' : 'an object';
}

export interface ValidatePointOptions {
  /** Ignore keys that are not ModbusPointSpec fields (default false: each one is a problem, to catch typos). */
  allowUnknownKeys?: boolean;
}

/**
 * Checks a register map, listing every problem with its path ("points[3].type"). On success the
 * points are returned as new objects holding only ModbusPointSpec fields (defaults not applied).
 */
export function validatePointSpecs(
  points: unknown,
  opts: ValidatePointOptions = {},
): { ok: true; points: ModbusPointSpec[] } | { ok: false; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const add = (path: string, message: string): void => {
    problems.push({ path, message });
  };
  if (!Array.isArray(points)) {
    return {
      ok: false,
      problems: [{ path: 'points', message: `must be an array, got ${describe(points)}` }],
    };
  }
  if (points.length === 0) add('points', 'must hold at least one point');

  const out: ModbusPointSpec[] = [];
  const names = new Map<string, number>();
  points.forEach((raw: unknown, i) => {
    const at = `points[${i}]`;
    if (!isRecord(raw)) {
      add(at, `must be an object, got ${describe(raw)}`);
      return;
    }
    const before = problems.length;
    if (!opts.allowUnknownKeys) {
      for (const key of Object.keys(raw)) {
        if (!POINT_KEYS.has(key)) add(`${at}.${key}`, 'unknown field');
      }
    }
    const { name, unitId, area, address, type, length, wordOrder, byteOrder, scale, offset, unit } = raw;

    if (typeof name !== 'string' || name.trim() === '') add(`${at}.name`, 'must be a non-empty string');
    else if (names.has(name)) add(`${at}.name`, `duplicate name "${name}" (also points[${names.get(name)}])`);
    else names.set(name, i);

    if (!isInt(unitId, 0, 247)) add(`${at}.unitId`, `must be an integer 0..247, got ${describe(unitId)}`);
    const areaOk = typeof area === 'string' && (AREAS as readonly string[]).includes(area);
    if (!areaOk) add(`${at}.area`, `must be one of ${AREAS.join(', ')}, got ${describe(area)}`);
    const addressOk = isInt(address, 0, 65535);
    if (!addressOk) add(`${at}.address`, `must be an integer 0..65535, got ${describe(address)}`);
    const typeOk = typeof type === 'string' && (TYPES as readonly string[]).includes(type);
    if (!typeOk) add(`${at}.type`, `must be one of ${TYPES.join(', ')}, got ${describe(type)}`);

    if (areaOk && typeOk) {
      const bitArea = isBitArea(area as ModbusArea);
      if (bitArea && type !== 'bool') add(`${at}.type`, `must be bool for area ${String(area)}`);
      if (!bitArea && type === 'bool')
        add(`${at}.type`, `bool needs area coil or discrete, not ${String(area)}`);
    }
    if (type === 'string') {
      if (length === undefined) add(`${at}.length`, 'is required for type string (registers)');
      else if (!isInt(length, 1, MAX_READ_REGISTERS))
        add(`${at}.length`, `must be an integer 1..${MAX_READ_REGISTERS}, got ${describe(length)}`);
    } else if (length !== undefined) {
      add(`${at}.length`, 'is only for type string');
    }
    const multiWord = type === 'int32' || type === 'uint32' || type === 'float32' || type === 'float64';
    if (wordOrder !== undefined) {
      if (typeof wordOrder !== 'string' || !ORDERS.includes(wordOrder))
        add(`${at}.wordOrder`, `must be big or little, got ${describe(wordOrder)}`);
      else if (typeOk && !multiWord) add(`${at}.wordOrder`, 'is only for 32/64-bit types');
    }
    if (byteOrder !== undefined) {
      if (typeof byteOrder !== 'string' || !ORDERS.includes(byteOrder))
        add(`${at}.byteOrder`, `must be big or little, got ${describe(byteOrder)}`);
      else if (type === 'bool') add(`${at}.byteOrder`, 'is not for bool');
    }
    const numeric = typeOk && type !== 'bool' && type !== 'string';
    if (scale !== undefined) {
      if (typeof scale !== 'number' || !Number.isFinite(scale) || scale === 0)
        add(`${at}.scale`, `must be a finite non-zero number, got ${describe(scale)}`);
      else if (typeOk && !numeric) add(`${at}.scale`, 'is only for numeric types');
    }
    if (offset !== undefined) {
      if (typeof offset !== 'number' || !Number.isFinite(offset))
        add(`${at}.offset`, `must be a finite number, got ${describe(offset)}`);
      else if (typeOk && !numeric) add(`${at}.offset`, 'is only for numeric types');
    }
    if (unit !== undefined && typeof unit !== 'string') add(`${at}.unit`, 'must be a string');

    if (problems.length > before) return;
    const spec: ModbusPointSpec = {
      name: name as string,
      unitId: unitId as number,
      area: area as ModbusArea,
      address: address as number,
      type: type as ModbusDataType,
    };
    if (length !== undefined) spec.length = length as number;
    if (wordOrder !== undefined) spec.wordOrder = wordOrder as 'big' | 'little';
    if (byteOrder !== undefined) spec.byteOrder = byteOrder as 'big' | 'little';
    if (scale !== undefined) spec.scale = scale as number;
    if (offset !== undefined) spec.offset = offset as number;
    if (unit !== undefined) spec.unit = unit as string;
    if (spec.address + pointSize(spec) - 1 > 65535) {
      add(`${at}.address`, `point runs past register 65535`);
      return;
    }
    out.push(spec);
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, points: out };
}

/** Resolved poller options: defaults applied, points normalized. */
export interface ResolvedSourceOptions {
  host: string;
  port: number;
  points: ModbusPointSpec[];
  intervalMs: number;
  timeoutMs: number;
  maxQueue: number;
  maxBlockRegisters: number;
  maxGap: number;
  reconnect: { initialMs: number; maxMs: number };
}

export const SOURCE_DEFAULTS = {
  maxQueue: 64,
  maxBlockRegisters: 120,
  maxGap: 8,
  reconnect: { initialMs: 500, maxMs: 30_000 },
} as const;

/** Checks ModbusSourceOptions (all problems at once) and applies the defaults. */
export function validateSourceOptions(
  opts: unknown,
): { ok: true; options: ResolvedSourceOptions } | { ok: false; problems: ConfigProblem[] } {
  if (!isRecord(opts)) return { ok: false, problems: [{ path: '', message: 'options must be an object' }] };
  const problems: ConfigProblem[] = [];
  const add = (path: string, message: string): void => {
    problems.push({ path, message });
  };
  const { host, port, intervalMs, timeoutMs, maxQueue, maxBlockRegisters, maxGap, reconnect } = opts;
  if (typeof host !== 'string' || host.trim() === '') add('host', 'must be a non-empty string');
  if (!isInt(port, 1, 65535)) add('port', `must be an integer 1..65535, got ${describe(port)}`);
  if (!isInt(intervalMs, 1, 86_400_000))
    add('intervalMs', `must be an integer >= 1, got ${describe(intervalMs)}`);
  if (!isInt(timeoutMs, 1, 600_000))
    add('timeoutMs', `must be an integer 1..600000, got ${describe(timeoutMs)}`);
  if (maxQueue !== undefined && !isInt(maxQueue, 1, 100_000))
    add('maxQueue', `must be an integer 1..100000, got ${describe(maxQueue)}`);
  if (maxBlockRegisters !== undefined && !isInt(maxBlockRegisters, 1, MAX_READ_REGISTERS))
    add(
      'maxBlockRegisters',
      `must be an integer 1..${MAX_READ_REGISTERS}, got ${describe(maxBlockRegisters)}`,
    );
  if (maxGap !== undefined && !isInt(maxGap, 0, 65535))
    add('maxGap', `must be an integer 0..65535, got ${describe(maxGap)}`);
  let backoff: { initialMs: number; maxMs: number } = { ...SOURCE_DEFAULTS.reconnect };
  if (reconnect !== undefined) {
    if (!isRecord(reconnect)) add('reconnect', 'must be an object { initialMs, maxMs }');
    else {
      const { initialMs, maxMs } = reconnect;
      if (!isInt(initialMs, 1, 3_600_000)) add('reconnect.initialMs', `must be an integer >= 1`);
      if (!isInt(maxMs, 1, 3_600_000)) add('reconnect.maxMs', `must be an integer >= 1`);
      else if (isInt(initialMs, 1, 3_600_000) && maxMs < initialMs)
        add('reconnect.maxMs', 'must be >= reconnect.initialMs');
      backoff = { initialMs: initialMs as number, maxMs: maxMs as number };
    }
  }
  const points = validatePointSpecs(opts.points);
  if (!points.ok) problems.push(...points.problems);
  if (problems.length > 0 || !points.ok) return { ok: false, problems };
  return {
    ok: true,
    options: {
      host: host as string,
      port: port as number,
      points: points.points,
      intervalMs: intervalMs as number,
      timeoutMs: timeoutMs as number,
      maxQueue: (maxQueue as number | undefined) ?? SOURCE_DEFAULTS.maxQueue,
      maxBlockRegisters: (maxBlockRegisters as number | undefined) ?? SOURCE_DEFAULTS.maxBlockRegisters,
      maxGap: (maxGap as number | undefined) ?? SOURCE_DEFAULTS.maxGap,
      reconnect: backoff,
    },
  };
}
