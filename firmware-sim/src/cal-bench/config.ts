import {
  nonEmptyString,
  oneOf,
  parseFlags,
  randomSeed,
  range,
  withDefaults,
  type Checked,
  type FlagSpec,
  type ParseResult,
  usage,
} from '../common/flags.js';
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
  /** Idle time after each calibration; a quarter of cycleSeconds when absent. */
  idleSeconds?: number;
  seed: number;
  security: BenchSecurity;
  /** Server certificate store; a throwaway one in a temp folder when absent. */
  pkiDir?: string;
  faults: FaultName[];
  slowDelayMs: number;
  disconnectEverySeconds: number;
  /** `name:password`: that user may log in and anonymous logins are refused. */
  user?: { username: string; password: string };
  /** IANA time zone of the bench's site: its calendar dates (next due) are local days there. */
  timeZone: string;
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
  timeZone: 'UTC',
});

const FIELDS: FlagSpec<keyof CalBenchConfig>[] = [
  { key: 'host', flag: '--host', check: nonEmptyString, help: 'address to listen on (default 127.0.0.1)' },
  {
    key: 'port',
    flag: '--port',
    check: range(0, 65535, true),
    help: 'TCP port, 0 = any free port (default 14840)',
  },
  { key: 'asset', flag: '--asset', check: nonEmptyString, help: 'asset tag of the bench (default BENCH-01)' },
  {
    key: 'cycleSeconds',
    flag: '--cycle-seconds',
    check: range(0.2, 86_400),
    help: 'one calibration every N seconds (default 8)',
  },
  {
    key: 'idleSeconds',
    flag: '--idle-seconds',
    check: range(0, 604_800),
    help: 'idle time after each calibration (default: a quarter of the cycle); StartCalibration still starts one at once',
  },
  {
    key: 'seed',
    flag: '--seed',
    check: range(0, 4294967295, true),
    help: 'PRNG seed 0..4294967295 (default random, printed)',
  },
  {
    key: 'security',
    flag: '--security',
    check: oneOf(SECURITY_CHOICES),
    help: 'none | sign (Sign + SignAndEncrypt only) | all (default none)',
  },
  {
    key: 'pkiDir',
    flag: '--pki-dir',
    check: nonEmptyString,
    help: 'server certificate store (default: a temp folder, new certificate each run)',
  },
  { key: 'faults', flag: '--faults', check: checkFaults, help: `faults at start, e.g. drift,slow` },
  {
    key: 'slowDelayMs',
    flag: '--slow-delay-ms',
    check: range(1, 600_000, true),
    help: 'slow fault: delay of each reply (1500)',
  },
  {
    key: 'disconnectEverySeconds',
    flag: '--disconnect-every-seconds',
    check: range(0.5, 86_400),
    help: 'disconnect fault: drop all sessions this often (15)',
  },
  {
    key: 'user',
    flag: '--user',
    check: checkUser,
    help: 'NAME:PASSWORD accepted; anonymous refused (default: anonymous only)',
  },
  {
    key: 'timeZone',
    flag: '--time-zone',
    check: checkTimeZone,
    help: 'IANA time zone of the site, e.g. Europe/Berlin: next due dates are its local days (default UTC)',
  },
];

export const calBenchUsage = (): string =>
  usage('usage: rigtrace-sim cal-bench [flags]', FIELDS, true, [`faults: ${FAULTS.join(', ')}`]);

function checkFaults(raw: unknown): Checked {
  const list = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : undefined;
  if (list === undefined) return { problem: 'must be a list of fault names' };
  const out: FaultName[] = [];
  for (const item of list) {
    const name = String(item).trim();
    if (name === '' || name === 'none') continue;
    if (!isFaultName(name)) return { problem: `unknown fault "${name}" (known: ${FAULTS.join(', ')})` };
    if (!out.includes(name)) out.push(name);
  }
  return { value: out };
}

function checkTimeZone(raw: unknown): Checked {
  if (typeof raw !== 'string' || raw.trim() === '')
    return { problem: 'must be an IANA time zone such as Europe/Berlin' };
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: raw });
    return { value: raw };
  } catch {
    return { problem: `unknown time zone "${raw}" (an IANA name such as Europe/Berlin)` };
  }
}

function checkUser(raw: unknown): Checked {
  const text = typeof raw === 'string' ? raw : '';
  const colon = text.indexOf(':');
  if (colon <= 0 || colon === text.length - 1) return { problem: 'must be NAME:PASSWORD' };
  return { value: { username: text.slice(0, colon), password: text.slice(colon + 1) } };
}

export type CalBenchParseResult = ParseResult<CalBenchConfig>;

/**
 * Parses `cal-bench` flags (`--flag value` or `--flag=value`), merging defaults < config file <
 * flags. Every problem is listed, one line each.
 */
export function parseCalBenchArgs(argv: string[], drawSeed = randomSeed): CalBenchParseResult {
  return withDefaults(parseFlags(argv, FIELDS, { configFile: true }), CAL_BENCH_DEFAULTS, drawSeed);
}
