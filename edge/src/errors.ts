/**
 * The edge's catalogue: every error the agent raises to an operator, and every event record it
 * writes to its log, has a stable code here. All are documented in edge/CONFIG.md ("Codes");
 * edge/test/codes.test.ts keeps this file, the code and that table the same.
 */
export const EDGE_ERRORS = {
  EDGE_CONFIG_INVALID: 'The configuration file has problems',
  EDGE_CONFIG_UNREADABLE: 'The configuration file cannot be read',
  EDGE_NOT_ENROLLED: 'This edge is not enrolled with a cloud yet',
  EDGE_ENROLL_REFUSED: 'The cloud refused the enrollment',
  EDGE_ENROLL_FAILED: 'The enrollment request failed',
  EDGE_ALREADY_ENROLLED: 'This edge is already enrolled',
  EDGE_BUFFER_CORRUPT: 'The buffer database does not match its own log',
  EDGE_DATA_DIR_LOCKED: 'Another agent is running on the same data directory',
} as const;

/** Codes of the event records the edge signs into its own log (record kind `event`). */
export const EDGE_EVENTS = {
  SOURCE_STARTED: 'A source started (after a failed start, on a later attempt)',
  SOURCE_START_FAILED: 'A source could not start; it is retried, 1 s doubling to 60 s',
  SOURCE_CONNECTED: 'A Modbus source connected to its device',
  SOURCE_DISCONNECTED: 'A Modbus source lost its device',
  SOURCE_NO_GOOD_READINGS: 'A source delivers no good reading (it is shown down)',
  SOURCE_READING: 'A source delivers good readings again',
  SOURCE_STATUS_NOT_GOOD: 'An OPC UA item reports a status that is not Good',
  RESULT_NOT_MAPPED:
    'A result or message did not fit the source’s record mapping, or values of a result could not be read',
  RESULTS_MISSED: 'The result counter jumped: results were completed while they could not be read',
  RESULT_COUNTER_RESET: 'The result counter went back (device restart or rollover)',
  HANDSHAKE_FAILED: 'The acknowledge write to the device failed after the record was stored',
  STATION_MESSAGE_INVALID: 'A station message is not valid JSON or not a valid station message',
  STATION_MESSAGE_NOT_ALLOWED: 'A station published to a topic its ACL does not allow',
  STATION_MESSAGE_TOO_LARGE: 'A station message is over the size limit',
  TELEMETRY_DOWNSAMPLED: 'Telemetry is being down-sampled (buffer quota policy)',
  TELEMETRY_RESTORED: 'Telemetry is kept in full again',
  EDGE_RECORD_DAMAGED: 'A stored record no longer matched what was signed; this event takes its place',
  EDGE_BUFFER_RECOVERED: 'The buffer database was damaged and has been recovered',
} as const;

export type EdgeEventCode = keyof typeof EDGE_EVENTS;

export type EdgeErrorCode = keyof typeof EDGE_ERRORS;

export class EdgeError extends Error {
  readonly code: EdgeErrorCode;
  /** One line per problem, shown to the operator as they are. */
  readonly problems: string[];
  constructor(code: EdgeErrorCode, message?: string, problems: string[] = []) {
    super(message ?? EDGE_ERRORS[code]);
    this.name = 'EdgeError';
    this.code = code;
    this.problems = problems.map(oneLine);
  }
}

/**
 * A problem as one line: control characters (a key or value that spans lines, as a YAML complex
 * key does) are shown as escapes (`\n`, `\u001b`), so one problem never reads as two.
 */
function oneLine(problem: string): string {
  // eslint-disable-next-line no-control-regex
  return problem.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1));
}
