import type { z } from 'zod';

/**
 * The cloud's error catalogue. Every error a client can see has a stable code, an HTTP status
 * and a title; responses are RFC 7807 application/problem+json with `code` as an extension.
 */
export const CLOUD_ERRORS = {
  CLOUD_MALFORMED_JSON: { status: 400, title: 'Request body is not valid JSON' },
  CLOUD_VALIDATION: { status: 400, title: 'Request is not valid' },
  CLOUD_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Content-Type must be application/json' },
  CLOUD_PAYLOAD_TOO_LARGE: { status: 413, title: 'Request body is too large' },
  CLOUD_UNAUTHENTICATED: { status: 401, title: 'Authentication required' },
  CLOUD_FORBIDDEN: { status: 403, title: 'Not allowed' },
  CLOUD_NOT_FOUND: { status: 404, title: 'Not found' },
  CLOUD_METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  CLOUD_ENROLL_TOKEN_INVALID: { status: 403, title: 'Enrollment token is unknown, used or expired' },
  CLOUD_EDGE_UNKNOWN: { status: 403, title: 'Edge is not enrolled' },
  CLOUD_BATCH_REFUSED: { status: 422, title: 'Batch refused: it does not verify' },
  CLOUD_BATCH_NOT_CONTINUOUS: { status: 409, title: 'Batch does not continue the stored log' },
  CLOUD_BATCH_FORK: { status: 409, title: 'Checkpoint forks the stored log' },
  CLOUD_LOGIN_FAILED: { status: 401, title: 'Sign-in failed' },
  CLOUD_SESSION_INCOMPLETE: { status: 403, title: 'Sign-in is not complete: finish the pending step first' },
  CLOUD_CSRF: { status: 403, title: 'CSRF token missing or wrong' },
  CLOUD_REAUTH_FAILED: { status: 403, title: 'Re-authentication failed' },
  CLOUD_SEPARATION_OF_DUTIES: {
    status: 403,
    title: 'Refused: separation of duties (a second person must approve)',
  },
  CLOUD_PASSWORD_REJECTED: { status: 400, title: 'Password does not meet the policy' },
  CLOUD_CONFLICT: { status: 409, title: 'Conflicts with the current state' },
  CLOUD_RATE_LIMITED: { status: 429, title: 'Too many requests' },
  CLOUD_INTERNAL: { status: 500, title: 'Internal error' },
  CLOUD_NOT_READY: { status: 503, title: 'Not ready: a dependency is unavailable' },
} as const;

export type CloudErrorCode = keyof typeof CLOUD_ERRORS;

export class ProblemError extends Error {
  readonly code: CloudErrorCode;
  readonly status: number;
  readonly extensions: Record<string, unknown>;
  constructor(code: CloudErrorCode, detail?: string, extensions: Record<string, unknown> = {}) {
    super(detail ?? CLOUD_ERRORS[code].title);
    this.name = 'ProblemError';
    this.code = code;
    this.status = CLOUD_ERRORS[code].status;
    this.extensions = extensions;
  }

  toProblem(instance?: string): Record<string, unknown> {
    return {
      type: `https://rigtrace.dev/problems/${this.code.toLowerCase().replace(/_/g, '-')}`,
      title: CLOUD_ERRORS[this.code].title,
      status: this.status,
      detail: this.message,
      code: this.code,
      ...(instance ? { instance } : {}),
      ...this.extensions,
    };
  }
}

/** A failed zod parse as a 400 problem (CLOUD_VALIDATION) listing each issue's path and message. */
export function validationProblem(err: z.ZodError, message = 'the request body is not valid'): ProblemError {
  return new ProblemError('CLOUD_VALIDATION', message, {
    errors: err.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
  });
}

/** `value` parsed by `schema`, or a CLOUD_VALIDATION problem with `message`. */
export function parseOrProblem<T extends z.ZodType>(schema: T, value: unknown, message: string): z.output<T> {
  const r = schema.safeParse(value);
  if (!r.success) throw validationProblem(r.error, message);
  return r.data;
}
