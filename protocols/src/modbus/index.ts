/**
 * Modbus TCP adapter: a typed register map (point specs), a request planner that coalesces
 * neighbouring points into few reads, decoding of every common data type and word/byte order,
 * and a poller that survives device restarts, slow units and exceptions.
 */
export type {
  ModbusArea,
  ModbusDataType,
  ModbusLogger,
  ModbusPointSpec,
  ModbusPointStats,
  ModbusSample,
  ModbusSourceOptions,
  ModbusSourceStats,
  PointReading,
  PointValue,
  ReadBlock,
} from './types.js';
export { decodePoint, pointSize, shortestFloat32 } from './decode.js';
export { planReads, MAX_READ_BITS, MAX_READ_REGISTERS, type PlanOptions } from './plan.js';
export {
  validatePointSpecs,
  validateSourceOptions,
  SOURCE_DEFAULTS,
  type ResolvedSourceOptions,
  type ValidatePointOptions,
} from './validate.js';
export {
  ModbusConfigError,
  ModbusError,
  MODBUS_ERROR_CODES,
  exceptionText,
  type ConfigProblem,
  type ModbusErrorCode,
} from './errors.js';
export { ModbusPoller, type ModbusPollerEvents } from './poller.js';
