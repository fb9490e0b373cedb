/**
 * The Modbus adapter's error catalogue. Every error has a stable code; `reading` is the short text
 * put into a bad PointReading's `error`.
 */
export const MODBUS_ERROR_CODES = {
  MODBUS_CONFIG_INVALID: 'the poller options or point specs are invalid',
  MODBUS_TIMEOUT: 'no reply within timeoutMs',
  MODBUS_EXCEPTION: 'the device answered with a Modbus exception',
  MODBUS_DISCONNECTED: 'not connected to the device',
  MODBUS_QUEUE_FULL: 'the request queue of the connection is full',
  MODBUS_BAD_RESPONSE: 'the reply did not match the request',
  MODBUS_CONNECT_FAILED: 'the TCP connection could not be opened',
} as const;

export type ModbusErrorCode = keyof typeof MODBUS_ERROR_CODES;

/** Names from the Modbus Application Protocol v1.1b3, section 7. */
const EXCEPTION_NAMES: Record<number, string> = {
  1: 'illegal function',
  2: 'illegal data address',
  3: 'illegal data value',
  4: 'server device failure',
  5: 'acknowledge',
  6: 'server device busy',
  8: 'memory parity error',
  10: 'gateway path unavailable',
  11: 'gateway target device failed to respond',
};

export function exceptionText(code: number): string {
  return `exception ${code} (${EXCEPTION_NAMES[code] ?? 'unknown'})`;
}

export class ModbusError extends Error {
  override readonly name = 'ModbusError';
  constructor(
    readonly code: ModbusErrorCode,
    /** Short text for a bad reading. */
    readonly reading: string,
    /** Modbus exception code, for MODBUS_EXCEPTION. */
    readonly exceptionCode?: number,
  ) {
    super(reading);
  }
}

export interface ConfigProblem {
  path: string;
  message: string;
}

export class ModbusConfigError extends Error {
  override readonly name = 'ModbusConfigError';
  readonly code = 'MODBUS_CONFIG_INVALID';
  constructor(readonly problems: ConfigProblem[]) {
    super(`invalid Modbus source options: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  }
}
