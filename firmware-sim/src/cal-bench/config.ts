import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { FAULTS, isFaultName, type FaultName } from './bench-model.js';

/** Which endpoints the bench offers. */
export type BenchSecurity = 'none' | 'sign' | 'all';
export const SECURITY_CHOICES: readonly BenchSecurity[] = ['none', 'sign', 'all'];

/** Everything a cal-bench process needs; defaults in CAL_BENCH_DEFAULTS. */
export interface CalBenchConfig {
  host: string;
  port: number;
  asset: string;
  cycleSeconds: number;
  seed: number;
  security: BenchSecurity;
  /** Server certificate store; a throwaway one in a temp folder when absent. */
  pkiDir?: string;
  faults: FaultName[];
  slowDelayMs: number;
  disconnectEverySeconds: number;
  /** `name:password`: that user may log in and anonymous logins are refused. */
  user?: { username: string; password: string };
}

export const CAL_BENCH_DEFAULTS: Readonly<Omit<CalBenchConfig, 'seed'>> = Object.freeze({
  host: '127.0.0.1',
  port: 14840,
  asset: 'BENCH-01',
  cycleSeconds: 8,
  security: 'none',
  faults: [],
  slowDelayMs: 1500,
  disconnectEverySeconds: 15,
});

type Key = keyof CalBenchConfig;
type Kind = 'string' | 'port' | 'cycle' | 'seed' | 'security' | 'faults' | 'ms' | 'every' | 'user';

const FIELDS: { key: Key; flag: string; kind: Kind; help: string }[] = [
  { key: 'host', flag: '--host', kind: 'string', help: 'address to listen on (default 127.0.0.1)' },
  { key: 'port', flag: '--port', kind: 'port', help: 'TCP port, 0 = any free port (default 14840)' },
  { key: 'asset', flag: '--asset', kind: 'string', help: 'asset tag of the bench (default BENCH-01)' },
  {
    key: 'cycleSeconds',
    flag: '--cycle-seconds',
    kind: 'cycle',
    help: 'one calibration every N seconds (default 8)',
  },
  { key: 'seed', flag: '--seed', kind: 'seed', help: 'PRNG seed 0..4294967295 (default random, printed)' },
  {
    key: 'security',
    flag: '--security',
    kind: 'security',
    help: 'none | sign (Sign + SignAndEncrypt only) | all (default none)',
  },
  {
    key: 'pkiDir',
    flag: '--pki-dir',
    kind: 'string',
    help: 'server certificate store (default: a temp folder, new certificate each run)',
  },
  { key: 'faults', flag: '--faults', kind: 'faults', help: `faults at start, e.g. drift,slow` },
  { key: 'slowDelayMs', flag: '--slow-delay-ms', kind: 'ms', help: 'slow fault: delay of each reply (1500)' },
  {
    key: 'disconnectEverySeconds',
    flag: '--disconnect-every-seconds',
    kind: 'every',
    help: 'disconnect fault: drop all sessions this often (15)',
  },
  {
    key: 'user',
    flag: '--user',
    kind: 'user',
    help: 'NAME:PASSWORD accepted; anonymous refused (default: anonymous only)',
  },
];

export function calBenchUsage(): string {
  return [
    'usage: rigtrace-sim cal-bench [flags]',
    '',
    ...FIELDS.map((f) => `  ${f.flag.padEnd(28)}${f.help}`),
    `  ${'--config FILE'.padEnd(28)}YAML file with the same settings in camelCase (flags win)`,
    `  ${'--help'.padEnd(28)}this text`,
    '',
    `faults: ${FAULTS.join(', ')}`,
  ].join('\n');
}

function parseFaults(raw: unknown): FaultName[] | string {
  const list = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : undefined;
  if (list === undefined) return 'must be a list of fault names';
  const out: FaultName[] = [];
  for (const item of list) {
    const name = String(item).trim();
    if (name === '' || name === 'none') continue;
    if (!isFaultName(name)) return `unknown fault "${name}" (known: ${FAULTS.join(', ')})`;
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

type Parsed = { value: CalBenchConfig[Key] } | { problem: string };

function parseValue(kind: Kind, raw: unknown): Parsed {
  const num =
    typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  const show = typeof raw === 'string' ? JSON.stringify(raw) : String(raw);
  const range = (lo: number, hi: number, integer: boolean): Parsed =>
    Number.isFinite(num) && num >= lo && num <= hi && (!integer || Number.isInteger(num))
      ? { value: num }
      : { problem: `must be ${integer ? 'an integer' : 'a number'} ${lo}..${hi}, got ${show}` };
  switch (kind) {
    case 'string':
      return typeof raw === 'string' && raw.trim() !== ''
        ? { value: raw }
        : { problem: 'must be a non-empty string' };
    case 'port':
      return range(0, 65535, true);
    case 'cycle':
      return range(0.2, 86_400, false);
    case 'seed':
      return range(0, 4294967295, true);
    case 'ms':
      return range(1, 600_000, true);
    case 'every':
      return range(0.5, 86_400, false);
    case 'security':
      return typeof raw === 'string' && (SECURITY_CHOICES as readonly string[]).includes(raw)
        ? { value: raw as BenchSecurity }
        : { problem: `must be one of ${SECURITY_CHOICES.join(', ')}, got ${show}` };
    case 'faults': {
      const faults = parseFaults(raw);
      return typeof faults === 'string' ? { problem: faults } : { value: faults };
    }
    case 'user': {
      const text = typeof raw === 'string' ? raw : '';
      const colon = text.indexOf(':');
      if (colon <= 0 || colon === text.length - 1) return { problem: 'must be NAME:PASSWORD' };
      return { value: { username: text.slice(0, colon), password: text.slice(colon + 1) } };
    }
  }
}

export type CalBenchParseResult =
  | { ok: true; config: CalBenchConfig; seedWasRandom: boolean }
  | { ok: false; problems: string[] }
  | { help: true };

/**
 * Parses `cal-bench` flags (`--flag value` or `--flag=value`), merging defaults < config file <
 * flags. Every problem is listed, one line each.
 */
export function parseCalBenchArgs(
  argv: string[],
  randomSeed: () => number = () => Math.floor(Math.random() * 2 ** 32),
): CalBenchParseResult {
  const problems: string[] = [];
  const fromFlags: Partial<Record<Key, unknown>> = {};
  let configPath: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--help' || arg === '-h') return { help: true };
    if (!arg.startsWith('--')) {
      problems.push(`unexpected argument "${arg}"`);
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    let value: string | undefined = eq === -1 ? undefined : arg.slice(eq + 1);
    const field = FIELDS.find((f) => f.flag === flag);
    if (!field && flag !== '--config') {
      problems.push(`unknown flag ${flag}`);
      if (value === undefined && argv[i + 1] !== undefined && !argv[i + 1]?.startsWith('--')) i++;
      continue;
    }
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) {
        problems.push(`${flag} needs a value`);
        continue;
      }
      value = next;
      i++;
    }
    if (field) fromFlags[field.key] = value;
    else configPath = value;
  }

  let fromFile: Record<string, unknown> = {};
  if (configPath !== undefined) {
    try {
      const parsed: unknown = parseYaml(readFileSync(configPath, 'utf8'));
      if (parsed === null || parsed === undefined) fromFile = {};
      else if (typeof parsed !== 'object' || Array.isArray(parsed))
        problems.push(`--config ${configPath}: must be a YAML mapping`);
      else fromFile = parsed as Record<string, unknown>;
    } catch (err) {
      problems.push(`--config ${configPath}: ${(err as Error).message.split('\n')[0]}`);
    }
    for (const key of Object.keys(fromFile)) {
      if (!FIELDS.some((f) => f.key === key)) problems.push(`${configPath}: ${key}: unknown setting`);
    }
  }

  const config: Record<string, unknown> = { ...CAL_BENCH_DEFAULTS };
  let seedWasRandom = true;
  for (const field of FIELDS) {
    for (const [source, values] of [
      [configPath ? `${configPath}: ${field.key}` : '', fromFile],
      [field.flag, fromFlags],
    ] as const) {
      if (!(field.key in values)) continue;
      const parsed = parseValue(field.kind, values[field.key]);
      if ('problem' in parsed) problems.push(`${source}: ${parsed.problem}`);
      else {
        config[field.key] = parsed.value;
        if (field.key === 'seed') seedWasRandom = false;
      }
    }
  }
  if (problems.length > 0) return { ok: false, problems };
  if (seedWasRandom) config.seed = randomSeed() >>> 0;
  return { ok: true, config: Object.freeze(config) as unknown as CalBenchConfig, seedWasRandom };
}
