/**
 * The edge's error catalogue: every error the agent raises to an operator has a stable code.
 * Codes are documented in edge/CONFIG.md (configuration) and edge/README.md (runtime).
 */
export const EDGE_ERRORS = {
  EDGE_CONFIG_INVALID: 'The configuration file has problems',
  EDGE_CONFIG_UNREADABLE: 'The configuration file cannot be read',
  EDGE_USAGE: 'The command line is not valid',
  EDGE_NOT_ENROLLED: 'This edge is not enrolled with a cloud yet',
  EDGE_ENROLL_REFUSED: 'The cloud refused the enrollment',
  EDGE_ENROLL_FAILED: 'The enrollment request failed',
  EDGE_ALREADY_ENROLLED: 'This edge is already enrolled',
  EDGE_INSECURE_CLOUD_URL: 'Plain HTTP to a non-loopback cloud address is refused',
  EDGE_BUFFER_CORRUPT: 'The buffer database does not match its own log',
  EDGE_DATA_DIR_LOCKED: 'Another agent is running on the same data directory',
} as const;

export type EdgeErrorCode = keyof typeof EDGE_ERRORS;

export class EdgeError extends Error {
  readonly code: EdgeErrorCode;
  /** One line per problem, shown to the operator as they are. */
  readonly problems: string[];
  constructor(code: EdgeErrorCode, message?: string, problems: string[] = []) {
    super(message ?? EDGE_ERRORS[code]);
    this.name = 'EdgeError';
    this.code = code;
    this.problems = problems;
  }
}
