import pino, { type Logger } from 'pino';

/** JSON logs to stdout; secrets (tokens, keys) are redacted wherever they appear. */
export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { app: 'rigtrace-edge', ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['token', '*.token', 'privateKeyPem', '*.privateKeyPem', 'authorization', '*.authorization'],
      censor: '[redacted]',
    },
  });
}
