import path from 'node:path';
import { z } from 'zod';
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
  maxBodyBytes: z.coerce
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(16 * 1024 * 1024),
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
});

export type CloudConfig = Readonly<z.output<typeof schema>>;

/** Environment variable for each setting; command-line flags override them. */
export const ENV_VARS: Record<keyof z.input<typeof schema>, string> = {
  host: 'RIGTRACE_HOST',
  port: 'RIGTRACE_PORT',
  dataDir: 'RIGTRACE_DATA_DIR',
  logLevel: 'RIGTRACE_LOG_LEVEL',
  witnessName: 'RIGTRACE_WITNESS_NAME',
  maxBodyBytes: 'RIGTRACE_MAX_BODY_BYTES',
  databaseUrl: 'DATABASE_URL',
  databaseOwnerUrl: 'DATABASE_OWNER_URL',
  dbAppRole: 'RIGTRACE_DB_APP_ROLE',
  dbPoolMax: 'RIGTRACE_DB_POOL_MAX',
};

/** Validates all settings at once; throws with one line per problem. */
export function loadCloudConfig(
  env: NodeJS.ProcessEnv,
  overrides: Partial<Record<keyof typeof ENV_VARS, string>> = {},
): CloudConfig {
  const raw: Record<string, string> = {};
  for (const [key, envName] of Object.entries(ENV_VARS)) {
    const v = overrides[key as keyof typeof ENV_VARS] ?? env[envName];
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
  return Object.freeze({ ...parsed.data, dataDir: path.resolve(parsed.data.dataDir) });
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.join('\n')}`);
    this.name = 'ConfigError';
  }
}
