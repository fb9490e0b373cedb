import { equipmentProblem, siteProblem } from '@rigtrace/protocols/mqtt';
import {
  parseFlags,
  randomSeed,
  range,
  type Checked,
  type FlagSpec,
  type ParseResult,
  usage,
} from '../common/flags.js';
import { DEFAULT_GAUGES } from './station-model.js';

/** Fault modes of the station, switchable at start (--faults) and at run time (control topic). */
export const STATION_FAULTS = ['drift', 'garbage', 'disconnect', 'clock-skew'] as const;
export type StationFault = (typeof STATION_FAULTS)[number];

/** Everything an inspection-station process needs; defaults in STATION_DEFAULTS. */
export interface StationConfig {
  url: string;
  username?: string;
  password?: string;
  clientId: string;
  site: string;
  asset: string;
  gauges: string[];
  everySeconds: number;
  seed: number;
  partsPerShift: number;
  faults: StationFault[];
  driftStepPct: number;
  disconnectSeconds: number;
  disconnectEverySeconds: number;
}

export const STATION_DEFAULTS = Object.freeze({
  site: 'plant-1',
  asset: 'STN-01',
  gauges: [...DEFAULT_GAUGES] as string[],
  everySeconds: 3,
  partsPerShift: 40,
  driftStepPct: 15,
  disconnectSeconds: 3,
  disconnectEverySeconds: 15,
});

/** Read when --password is not given, so that the password need not appear in the process list. */
export const PASSWORD_ENV = 'RIGTRACE_MQTT_PASSWORD';

// Flags only (no config file): each value is checked as it is read, so every check gets a string.
const seconds = range(0.05, 86_400);

function checkUrl(raw: unknown): Checked {
  const show = JSON.stringify(raw);
  let url: URL;
  try {
    url = new URL(String(raw));
  } catch {
    return { problem: `must be a URL like mqtt://127.0.0.1:18830, got ${show}` };
  }
  if (url.protocol !== 'mqtt:' && url.protocol !== 'mqtts:')
    return { problem: `scheme must be mqtt: or mqtts:, got ${show}` };
  return { value: raw };
}

const checkString = (raw: unknown): Checked =>
  raw !== '' ? { value: raw } : { problem: 'must not be empty' };

function checkSite(raw: unknown): Checked {
  const problem = siteProblem(String(raw));
  return problem === null ? { value: raw } : { problem: problem.replace(/^site /u, '') };
}

function tagProblem(tag: string): string | null {
  const problem = equipmentProblem(tag);
  return problem === null ? null : `${JSON.stringify(tag)}: ${problem.replace(/^equipment /u, '')}`;
}

function checkTag(raw: unknown): Checked {
  const problem = tagProblem(String(raw));
  return problem ? { problem } : { value: raw };
}

function checkTags(raw: unknown): Checked {
  const tags = String(raw)
    .split(',')
    .map((t) => t.trim());
  if (tags.length === 0 || tags.some((t) => t === ''))
    return { problem: `must be a comma separated list, got ${JSON.stringify(raw)}` };
  for (const t of tags) {
    const problem = tagProblem(t);
    if (problem) return { problem };
  }
  if (new Set(tags).size !== tags.length) return { problem: 'must not repeat a gauge' };
  return { value: tags };
}

function checkFaults(raw: unknown): Checked {
  const names = String(raw)
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '' && t !== 'none');
  for (const n of names)
    if (!(STATION_FAULTS as readonly string[]).includes(n))
      return { problem: `unknown fault "${n}" (known: ${STATION_FAULTS.join(', ')})` };
  return { value: [...new Set(names)] };
}

const FIELDS: FlagSpec<keyof StationConfig>[] = [
  {
    key: 'url',
    flag: '--url',
    check: checkUrl,
    help: 'broker, mqtt://host:port or mqtts://host:port (required)',
  },
  { key: 'username', flag: '--username', check: checkString, help: 'MQTT user name' },
  {
    key: 'password',
    flag: '--password',
    check: checkString,
    help: `MQTT password (default: $${PASSWORD_ENV})`,
  },
  { key: 'clientId', flag: '--client-id', check: checkString, help: 'MQTT client id (default sim-<asset>)' },
  { key: 'site', flag: '--site', check: checkSite, help: 'site in the topics (default plant-1)' },
  { key: 'asset', flag: '--asset', check: checkTag, help: 'asset tag of the station (default STN-01)' },
  {
    key: 'gauges',
    flag: '--gauges',
    check: checkTags,
    help: 'asset tags of the hand gauges, comma separated (default GA-0101,GA-0102,GA-0103,GA-0104)',
  },
  {
    key: 'everySeconds',
    flag: '--every-seconds',
    check: seconds,
    help: 'one part inspected every N s (default 3)',
  },
  {
    key: 'seed',
    flag: '--seed',
    check: range(0, 4294967295, true),
    help: 'PRNG seed 0..4294967295 (default random, printed)',
  },
  {
    key: 'partsPerShift',
    flag: '--parts-per-shift',
    check: range(1, 100_000, true),
    help: 'parts per shift (default 40)',
  },
  {
    key: 'faults',
    flag: '--faults',
    check: checkFaults,
    help: `faults at start: ${STATION_FAULTS.join(',')}`,
  },
  {
    key: 'driftStepPct',
    flag: '--drift-step-pct',
    check: range(0, 1000),
    help: 'drift fault: the first gauge reads this % of the half tolerance higher per part (15)',
  },
  { key: 'disconnectSeconds', flag: '--disconnect-seconds', check: seconds, help: 'outage length (3)' },
  {
    key: 'disconnectEverySeconds',
    flag: '--disconnect-every-seconds',
    check: seconds,
    help: 'time between outages while the disconnect fault is on (15)',
  },
];

export const stationUsage = (): string =>
  usage('usage: rigtrace-sim inspection-station --url mqtt://host:port [flags]', FIELDS, false, [
    'Publishes QoS 1 to rigtrace/<site>/<asset>/inspection and .../usage (gauges: rigtrace/<site>/<gauge>/usage);',
    'listens on rigtrace/<site>/<asset>/control for {"fault":"drift|garbage|disconnect|clock-skew","on":true}',
    "and on rigtrace/<site>/<asset>/error for the edge's replies to refused messages.",
  ]);

export type StationParseResult = ParseResult<StationConfig>;

/** Parses `inspection-station` flags (`--flag value` or `--flag=value`); every problem listed, one line each. */
export function parseStationArgs(
  argv: string[],
  env: Record<string, string | undefined> = process.env,
  drawSeed = randomSeed,
): StationParseResult {
  const parsed = parseFlags(argv, FIELDS);
  if ('help' in parsed) return parsed;
  const { problems, values } = parsed;
  if (values.url === undefined && !problems.some((p) => p.startsWith('--url')))
    problems.push('--url is required');
  const password = (values.password as string | undefined) ?? env[PASSWORD_ENV];
  if (password !== undefined && values.username === undefined)
    problems.push('--password needs --username (MQTT 3.1.1 has no password without user name)');
  if (problems.length > 0) return { ok: false, problems };
  const seedWasRandom = values.seed === undefined;
  const asset = (values.asset as string | undefined) ?? STATION_DEFAULTS.asset;
  const config: StationConfig = {
    url: values.url as string,
    ...(values.username !== undefined ? { username: values.username as string } : {}),
    ...(password !== undefined ? { password } : {}),
    clientId: (values.clientId as string | undefined) ?? `sim-${asset}`,
    site: (values.site as string | undefined) ?? STATION_DEFAULTS.site,
    asset,
    gauges: (values.gauges as string[] | undefined) ?? [...STATION_DEFAULTS.gauges],
    everySeconds: (values.everySeconds as number | undefined) ?? STATION_DEFAULTS.everySeconds,
    seed: seedWasRandom ? drawSeed() >>> 0 : (values.seed as number),
    partsPerShift: (values.partsPerShift as number | undefined) ?? STATION_DEFAULTS.partsPerShift,
    faults: (values.faults as StationFault[] | undefined) ?? [],
    driftStepPct: (values.driftStepPct as number | undefined) ?? STATION_DEFAULTS.driftStepPct,
    disconnectSeconds: (values.disconnectSeconds as number | undefined) ?? STATION_DEFAULTS.disconnectSeconds,
    disconnectEverySeconds:
      (values.disconnectEverySeconds as number | undefined) ?? STATION_DEFAULTS.disconnectEverySeconds,
  };
  return { ok: true, config: Object.freeze(config), seedWasRandom };
}
