/** Modbus data model shared by the planner, the decoder and the poller. */

/** The four Modbus data tables. */
export type ModbusArea = 'holding' | 'input' | 'coil' | 'discrete';

/** How a point's registers are interpreted. `bool` is for coils/discrete inputs only. */
export type ModbusDataType =
  'int16' | 'uint16' | 'int32' | 'uint32' | 'float32' | 'float64' | 'bool' | 'string';

/** One value of a device register map. */
export interface ModbusPointSpec {
  /** Unique within a source. */
  name: string;
  /** 0..247 (the default of 1 is applied by the caller/config; here it is required). */
  unitId: number;
  area: ModbusArea;
  /** 0-based wire address. */
  address: number;
  /** `bool` only for coil/discrete; every other type only for holding/input. */
  type: ModbusDataType;
  /** Registers, only for `string` (ASCII, 2 chars per register, high byte first, trailing NUL/space trimmed). */
  length?: number;
  /** For 32/64-bit types: 'big' = high word first (default 'big'). */
  wordOrder?: 'big' | 'little';
  /** Byte order within each register (default 'big'). */
  byteOrder?: 'big' | 'little';
  /** value = raw * scale + offset (numbers only; default 1 and 0). */
  scale?: number;
  offset?: number;
  unit?: string;
}

export interface ModbusLogger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
  debug?(o: object, msg?: string): void;
}

export interface ModbusSourceOptions {
  host: string;
  port: number;
  points: ModbusPointSpec[];
  /** Poll cycle. */
  intervalMs: number;
  /** Per request (and per connection attempt). */
  timeoutMs: number;
  /** Bounded request queue per connection (default 64); overflow: the request is refused and counted. */
  maxQueue?: number;
  /** Registers per read request, default 120 (the protocol allows 125). */
  maxBlockRegisters?: number;
  /** Coalesce two reads when the hole between them is <= maxGap registers (default 8). */
  maxGap?: number;
  /** Exponential backoff with jitter between connection attempts (default 500 / 30000). */
  reconnect?: { initialMs: number; maxMs: number };
  logger?: ModbusLogger;
}

export type PointValue = number | boolean | string;

export interface PointReading {
  value?: PointValue;
  quality: 'good' | 'bad';
  /** e.g. 'timeout', 'exception 2 (illegal data address)', 'disconnected', 'queue full'. */
  error?: string;
  /**
   * Bad although the device answered: its words are not a value of the point's type (a decode
   * error, NaN or ∞). Without it a bad reading is one the device did not give (no reply, an
   * exception, a refused frame, no connection): reading it again may give it.
   */
  undecodable?: true;
}

export interface ModbusSample {
  at: Date;
  /**
   * One reading per point, in the order of the source's points: `list[i]` is the reading of
   * `points[i]` (ModbusPoller.pointIndex gives a name's index). A good reading whose value did not
   * change since the last cycle is the same frozen object as in that cycle's sample (so a poll of
   * still registers allocates nothing). Reading a poll by index costs no lookup by name.
   */
  readonly list: readonly PointReading[];
  /**
   * The same readings by point name. Built on first access and kept: a consumer that takes the
   * readings by index (`list`) never pays for an object of hundreds of keys per poll.
   */
  readonly readings: Record<string, PointReading>;
}

export interface ModbusPointStats {
  /** Good readings. */
  reads: number;
  /** Bad readings of any cause (timeouts and exceptions included). */
  errors: number;
  timeouts: number;
  exceptions: number;
  lastError?: string;
  lastErrorAt?: string;
}

export interface ModbusSourceStats {
  connected: boolean;
  lastError?: string;
  /** Successful TCP connects, including deliberate reopens. */
  connects: number;
  /** Requests put on the wire. */
  requests: number;
  refusedQueueFull: number;
  cycles: number;
  /** Cycles that took longer than intervalMs (the next one then started as soon as this one ended). */
  overruns: number;
  /** Connections reopened on purpose after a timeout (see ModbusPoller's doc comment). */
  reopens: number;
  /** Connections made again after one was lost (deliberate reopens not counted). */
  reconnects: number;
  /** Requests without a reply within timeoutMs (a reply with another transaction id is none). */
  timeouts: number;
  /** Requests answered with a Modbus exception. */
  exceptions: number;
  /** Requests answered with a reply that does not fit the request (function code, unit, length). */
  malformed: number;
  /** Readings of the last completed cycle: good, bad, and the reason of the first bad one. */
  lastCycle?: { good: number; bad: number; firstError?: string };
  /** Requests waiting in the queue right now. */
  queueDepth: number;
  /** Duration of the last completed cycle. */
  lastCycleMs?: number;
  points: Record<string, ModbusPointStats>;
}

/** One read request covering one or more points of one unit id and area. */
export interface ReadBlock {
  unitId: number;
  area: ModbusArea;
  address: number;
  /** Registers (or bits for coil/discrete). */
  count: number;
  points: ModbusPointSpec[];
}
