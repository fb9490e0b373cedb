import { availableParallelism } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { readSettingsFile } from './config-file.js';
import { DEFAULT_APP_ROLE, ROLE_NAME } from './db/postgres.js';

function isPostgresUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return (u.protocol === 'postgres:' || u.protocol === 'postgresql:') && u.pathname.length > 1;
  } catch {
    return false;
  }
}

const schema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.coerce.number().int().min(0).max(65535).default(8080),
  dataDir: z.string().min(1).default('./data/cloud'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  witnessName: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/, 'letters, digits and . _ / - only')
    .default('rigtrace-cloud'),
  /**
   * Proxies trusted to report the client's address and scheme (X-Forwarded-For/-Proto): Express
   * "trust proxy", e.g. `uniquelocal` or `10.0.0.0/8` behind a load balancer, or a hop count.
   * Rate limits, lockouts and the audit trail use the address this yields.
   */
  trustProxy: z
    .string()
    .regex(
      /^[A-Za-z0-9.:/, ]{1,512}$/,
      'loopback, linklocal, uniquelocal, addresses or CIDRs (comma-separated), or a hop count',
    )
    .default('loopback'),
  maxBodyBytes: z.coerce
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(16 * 1024 * 1024),
  /**
   * The largest certificate file (PDF or DCC) attached to a calibration. It travels base64 in a
   * JSON body, so maxBodyBytes must hold 4/3 of it (the default 16 MiB holds 10 MiB).
   */
  certificateMaxBytes: z.coerce
    .number()
    .int()
    .min(1024)
    .max(48 * 1024 * 1024)
    .default(10 * 1024 * 1024),
  /** PostgreSQL instead of the SQLite file in dataDir. The role it names owns the schema. */
  databaseUrl: z
    .string()
    .refine(isPostgresUrl, 'must be a postgres:// or postgresql:// URL naming a database')
    .optional(),
  /**
   * Optional: the owner's URL, for migrations only. Then DATABASE_URL may log in as the app role
   * itself, which (unlike an owner that switches role) cannot switch back.
   */
  databaseOwnerUrl: z
    .string()
    .refine(isPostgresUrl, 'must be a postgres:// or postgresql:// URL naming a database')
    .optional(),
  /** The non-owner role the cloud's queries run as on PostgreSQL (row-level security applies). */
  dbAppRole: z
    .string()
    .regex(ROLE_NAME, 'lowercase letters, digits and _ only, not starting with a digit, max 63')
    .default(DEFAULT_APP_ROLE),
  dbPoolMax: z.coerce.number().int().min(1).max(1000).default(10),
  /**
   * AES-256 key (32 bytes, base64) that encrypts TOTP secrets at rest; absent: the key file
   * <dataDir>/secrets-key, made on first start (ACCOUNTS.md). Never logged.
   */
  secretsKey: z
    .string()
    .refine((v) => Buffer.from(v.trim(), 'base64').length === 32, '32 bytes, base64-encoded')
    .optional(),
  /** How often ended sessions and stale sign-in throttle rows are purged. */
  sessionCleanupSeconds: z.coerce.number().int().min(1).max(86_400).default(3600),
  // Calibration reminders (REMINDERS.md has every setting).
  /** The cloud's public address, for links in reminder digests; none: digests carry no links. */
  publicUrl: z
    .url({ protocol: /^https?$/, error: 'an http:// or https:// URL' })
    .transform((u) => u.replace(/\/+$/, ''))
    .optional(),
  smtpHost: z.string().min(1).max(253).optional(),
  smtpPort: z.coerce.number().int().min(1).max(65535).default(587),
  /** starttls: plain connection upgraded with STARTTLS, required; tls: TLS from the start (465); none: no TLS. */
  smtpSecurity: z.enum(['starttls', 'tls', 'none']).default('starttls'),
  smtpUser: z.string().min(1).max(256).optional(),
  /** Only from the environment in production; never logged. */
  smtpPassword: z.string().min(1).max(1024).optional(),
  smtpFrom: z.string().min(3).max(320).default('RigTrace <rigtrace@localhost>'),
  /** When the daily digest goes out, HH:MM in each site's time zone. */
  remindersDailyAt: z
    .string()
    .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM, 24-hour, in each site’s time zone')
    .default('06:00'),
  remindersScheduler: z.enum(['on', 'off']).default('on'),
  remindersTickSeconds: z.coerce.number().int().min(1).max(3600).default(60),
  remindersMaxAttempts: z.coerce.number().int().min(1).max(20).default(4),
  remindersRetrySeconds: z.coerce.number().int().min(1).max(86_400).default(300),
  /** Allow webhooks to loopback, private and link-local addresses (off: SSRF guard). */
  webhookAllowPrivate: z.enum(['true', 'false']).default('false'),
  // Live updates and scale-out (API.md "Live updates", STORAGE.md "Several processes").
  /** redis:// or rediss:// URL: the socket.io Redis adapter, so that every process reaches every socket. */
  redisUrl: z
    .string()
    .refine((v) => /^rediss?:\/\/[^/]/.test(v) && URL.canParse(v), 'a redis:// or rediss:// URL')
    .optional(),
  /** Prefix of the Redis channels, one per deployment sharing a Redis server. */
  redisKeyPrefix: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/, 'letters, digits and . _ : - only, max 64')
    .default('rigtrace'),
  /**
   * The witness key file; absent: witness-key.pem in the data folder (made on first start).
   * Processes sharing one PostgreSQL must use one key: point them all at the same file.
   */
  witnessKeyFile: z.string().min(1).optional(),
  /** Ingest limit per enrolled edge (records/ingest-limit.ts): batches per second on average… */
  ingestBatchesPerSecond: z.coerce.number().min(0.1).max(100_000).default(200),
  /** …batches at once after a quiet spell… */
  ingestBurst: z.coerce.number().int().min(1).max(100_000).default(100),
  /** …and how long a batch a little ahead of its turn is held (paced) instead of refused. */
  ingestMaxDelayMs: z.coerce.number().int().min(0).max(10_000).default(1000),
  /** How often each live socket's session is checked again (a revoked session is disconnected). */
  liveRecheckSeconds: z.coerce.number().int().min(1).max(3600).default(30),
  /**
   * Worker threads that verify ingested batches off the event loop (records/verify-pool.ts);
   * 0: on the event loop. Default: one per core, at most 4.
   */
  verifyWorkers: z.coerce
    .number()
    .int()
    .min(0)
    .max(64)
    .default(() => Math.min(4, availableParallelism())),
});

export type CloudConfig = Readonly<z.output<typeof schema>>;

/** Environment variable for each setting; command-line flags override them. */
export const ENV_VARS: Record<keyof z.input<typeof schema>, string> = {
  host: 'RIGTRACE_HOST',
  port: 'RIGTRACE_PORT',
  dataDir: 'RIGTRACE_DATA_DIR',
  logLevel: 'RIGTRACE_LOG_LEVEL',
  witnessName: 'RIGTRACE_WITNESS_NAME',
  trustProxy: 'RIGTRACE_TRUST_PROXY',
  maxBodyBytes: 'RIGTRACE_MAX_BODY_BYTES',
  certificateMaxBytes: 'RIGTRACE_CERTIFICATE_MAX_BYTES',
  databaseUrl: 'DATABASE_URL',
  databaseOwnerUrl: 'DATABASE_OWNER_URL',
  dbAppRole: 'RIGTRACE_DB_APP_ROLE',
  dbPoolMax: 'RIGTRACE_DB_POOL_MAX',
  secretsKey: 'RIGTRACE_SECRETS_KEY',
  sessionCleanupSeconds: 'RIGTRACE_SESSION_CLEANUP_SECONDS',
  publicUrl: 'RIGTRACE_PUBLIC_URL',
  smtpHost: 'RIGTRACE_SMTP_HOST',
  smtpPort: 'RIGTRACE_SMTP_PORT',
  smtpSecurity: 'RIGTRACE_SMTP_SECURITY',
  smtpUser: 'RIGTRACE_SMTP_USER',
  smtpPassword: 'RIGTRACE_SMTP_PASSWORD',
  smtpFrom: 'RIGTRACE_SMTP_FROM',
  remindersDailyAt: 'RIGTRACE_REMINDERS_DAILY_AT',
  remindersScheduler: 'RIGTRACE_REMINDERS_SCHEDULER',
  remindersTickSeconds: 'RIGTRACE_REMINDERS_TICK_SECONDS',
  remindersMaxAttempts: 'RIGTRACE_REMINDERS_MAX_ATTEMPTS',
  remindersRetrySeconds: 'RIGTRACE_REMINDERS_RETRY_SECONDS',
  webhookAllowPrivate: 'RIGTRACE_WEBHOOK_ALLOW_PRIVATE',
  redisUrl: 'REDIS_URL',
  redisKeyPrefix: 'RIGTRACE_REDIS_PREFIX',
  witnessKeyFile: 'RIGTRACE_WITNESS_KEY_FILE',
  liveRecheckSeconds: 'RIGTRACE_LIVE_RECHECK_SECONDS',
  ingestBatchesPerSecond: 'RIGTRACE_INGEST_BATCHES_PER_SECOND',
  ingestBurst: 'RIGTRACE_INGEST_BURST',
  ingestMaxDelayMs: 'RIGTRACE_INGEST_MAX_DELAY_MS',
  verifyWorkers: 'RIGTRACE_VERIFY_WORKERS',
};

/**
 * Validates all settings at once; throws with one line per problem. Each setting comes from the
 * first of: `overrides` (command-line flags), the settings file `configFile` (`--config`, the same
 * file for the service and the admin commands), the environment.
 */
export function loadCloudConfig(
  env: NodeJS.ProcessEnv,
  overrides: Partial<Record<keyof typeof ENV_VARS, string>> = {},
  configFile?: string,
): CloudConfig {
  let fromFile: Record<string, string> = {};
  if (configFile !== undefined) {
    const read = readSettingsFile(configFile, new Set(Object.values(ENV_VARS)));
    if (read.problems.length > 0) throw new ConfigError(read.problems);
    fromFile = read.values;
  }
  const raw: Record<string, string> = {};
  for (const [key, envName] of Object.entries(ENV_VARS)) {
    const v = overrides[key as keyof typeof ENV_VARS] ?? fromFile[envName] ?? env[envName];
    if (v !== undefined && v !== '') raw[key] = v;
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const key = String(i.path[0] ?? '');
      return `${ENV_VARS[key as keyof typeof ENV_VARS] ?? key}: ${i.message}`;
    });
    throw new ConfigError(lines);
  }
  if (parsed.data.databaseOwnerUrl && !parsed.data.databaseUrl) {
    throw new ConfigError([
      `${ENV_VARS.databaseOwnerUrl}: is only used together with ${ENV_VARS.databaseUrl}`,
    ]);
  }
  if ((parsed.data.smtpUser === undefined) !== (parsed.data.smtpPassword === undefined)) {
    throw new ConfigError([
      `${ENV_VARS.smtpUser} and ${ENV_VARS.smtpPassword}: set both (SMTP AUTH) or neither`,
    ]);
  }
  return Object.freeze({
    ...parsed.data,
    dataDir: path.resolve(parsed.data.dataDir),
    ...(parsed.data.witnessKeyFile ? { witnessKeyFile: path.resolve(parsed.data.witnessKeyFile) } : {}),
  });
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.join('\n')}`);
    this.name = 'ConfigError';
  }
}
