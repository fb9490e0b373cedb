/** The OPC UA adapter's error catalogue: every error has a stable code. */
export const OPCUA_ERROR_CODES = {
  OPCUA_CONFIG_INVALID: 'the source options are invalid',
  OPCUA_NOT_CONNECTED: 'no session with the server right now',
  OPCUA_TIMEOUT: 'the server did not answer within connectTimeoutMs',
  OPCUA_REQUEST_FAILED: 'the server answered the request with a bad service result',
  OPCUA_STOPPED: 'the subscriber has been stopped',
} as const;

export type OpcuaErrorCode = keyof typeof OPCUA_ERROR_CODES;

export class OpcuaError extends Error {
  override readonly name = 'OpcuaError';
  constructor(
    readonly code: OpcuaErrorCode,
    message: string,
    /** The status the server answered with, when it refused the request (`BadUserAccessDenied`). */
    readonly status?: string,
  ) {
    super(message);
  }
}

export interface OpcuaConfigProblem {
  path: string;
  message: string;
}

export class OpcuaConfigError extends Error {
  override readonly name = 'OpcuaConfigError';
  readonly code = 'OPCUA_CONFIG_INVALID';
  constructor(readonly problems: OpcuaConfigProblem[]) {
    super(`invalid OPC UA source options: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  }
}
