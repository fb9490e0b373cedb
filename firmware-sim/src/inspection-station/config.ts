import { equipmentProblem, siteProblem } from '@rigtrace/protocols/mqtt';
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

type Key = Exclude<keyof StationConfig, 'faults'> | 'faults';
type Kind = 'url' | 'string' | 'site' | 'tag' | 'tags' | 'seconds' | 'seed' | 'count' | 'pct' | 'faults';

const FIELDS: { key: Key; flag: string; kind: Kind; help: string }[] = [
  {
    key: 'url',
    flag: '--url',
    kind: 'url',
    help: 'broker, mqtt://host:port or mqtts://host:port (required)',
  },
  { key: 'username', flag: '--username', kind: 'string', help: 'MQTT user name' },
  { key: 'password', flag: '--password', kind: 'string', help: `MQTT password (default: $${PASSWORD_ENV})` },
  { key: 'clientId', flag: '--client-id', kind: 'string', help: 'MQTT client id (default sim-<asset>)' },
  { key: 'site', flag: '--site', kind: 'site', help: 'site in the topics (default plant-1)' },
  { key: 'asset', flag: '--asset', kind: 'tag', help: 'asset tag of the station (default STN-01)' },
  {
    key: 'gauges',
    flag: '--gauges',
    kind: 'tags',
    help: 'asset tags of the hand gauges, comma separated (default GA-0101,GA-0102,GA-0103,GA-0104)',
  },
  {
    key: 'everySeconds',
    flag: '--every-seconds',
    kind: 'seconds',
    help: 'one part inspected every N s (default 3)',
  },
  { key: 'seed', flag: '--seed', kind: 'seed', help: 'PRNG seed 0..4294967295 (default random, printed)' },
  { key: 'partsPerShift', flag: '--parts-per-shift', kind: 'count', help: 'parts per shift (default 40)' },
  { key: 'faults', flag: '--faults', kind: 'faults', help: `faults at start: ${STATION_FAULTS.join(',')}` },
  {
    key: 'driftStepPct',
    flag: '--drift-step-pct',
    kind: 'pct',
    help: 'drift fault: the first gauge reads this % of the half tolerance higher per part (15)',
  },
  { key: 'disconnectSeconds', flag: '--disconnect-seconds', kind: 'seconds', help: 'outage length (3)' },
  {
    key: 'disconnectEverySeconds',
    flag: '--disconnect-every-seconds',
    kind: 'seconds',
    help: 'time between outages while the disconnect fault is on (15)',
  },
];

export function stationUsage(): string {
  return [
    'usage: rigtrace-sim inspection-station --url mqtt://host:port [flags]',
    '',
    ...FIELDS.map((f) => `  ${f.flag.padEnd(28)}${f.help}`),
    `  ${'--help'.padEnd(28)}this text`,
    '',
    'Publishes QoS 1 to rigtrace/<site>/<asset>/inspection and .../usage (gauges: rigtrace/<site>/<gauge>/usage);',
    'listens on rigtrace/<site>/<asset>/control for {"fault":"drift|garbage|disconnect|clock-skew","on":true}',
    "and on rigtrace/<site>/<asset>/error for the edge's replies to refused messages.",
  ].join('\n');
}

function parseValue(kind: Kind, raw: string): { value: unknown } | { problem: string } {
  const show = JSON.stringify(raw);
  const num = raw.trim() === '' ? NaN : Number(raw);
  const range = (lo: number, hi: number, integer: boolean) =>
    Number.isFinite(num) && num >= lo && num <= hi && (!integer || Number.isInteger(num))
      ? { value: num }
      : { problem: `must be ${integer ? 'an integer' : 'a number'} ${lo}..${hi}, got ${show}` };
  const tagProblem = (tag: string): string | null => {
    const problem = equipmentProblem(tag);
    return problem === null ? null : `${JSON.stringify(tag)}: ${problem.replace(/^equipment /u, '')}`;
  };
  switch (kind) {
    case 'url': {
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        return { problem: `must be a URL like mqtt://127.0.0.1:18830, got ${show}` };
      }
      if (url.protocol !== 'mqtt:' && url.protocol !== 'mqtts:')
        return { problem: `scheme must be mqtt: or mqtts:, got ${show}` };
      return { value: raw };
    }
    case 'string':
      return raw !== '' ? { value: raw } : { problem: 'must not be empty' };
    case 'site': {
      const problem = siteProblem(raw);
      return problem === null ? { value: raw } : { problem: problem.replace(/^site /u, '') };
    }
    case 'tag': {
      const problem = tagProblem(raw);
      return problem ? { problem } : { value: raw };
    }
    case 'tags': {
      const tags = raw.split(',').map((t) => t.trim());
      if (tags.length === 0 || tags.some((t) => t === ''))
        return { problem: `must be a comma separated list, got ${show}` };
      for (const t of tags) {
        const problem = tagProblem(t);
        if (problem) return { problem };
      }
      if (new Set(tags).size !== tags.length) return { problem: 'must not repeat a gauge' };
      return { value: tags };
    }
    case 'seconds':
      return range(0.05, 86_400, false);
    case 'seed':
      return range(0, 4294967295, true);
    case 'count':
      return range(1, 100_000, true);
    case 'pct':
      return range(0, 1000, false);
    case 'faults': {
      const names = raw
        .split(',')
        .map((t) => t.trim())
        .filter((t) => t !== '' && t !== 'none');
      for (const n of names)
        if (!(STATION_FAULTS as readonly string[]).includes(n))
          return { problem: `unknown fault "${n}" (known: ${STATION_FAULTS.join(', ')})` };
      return { value: [...new Set(names)] };
    }
  }
}

export type StationParseResult =
  | { ok: true; config: StationConfig; seedWasRandom: boolean }
  | { ok: false; problems: string[] }
  | { help: true };

/** Parses `inspection-station` flags (`--flag value` or `--flag=value`); every problem listed, one line each. */
export function parseStationArgs(
  argv: string[],
  env: Record<string, string | undefined> = process.env,
  randomSeed: () => number = () => Math.floor(Math.random() * 2 ** 32),
): StationParseResult {
  const problems: string[] = [];
  const values: Partial<Record<Key, unknown>> = {};
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
    if (!field) {
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
    const parsed = parseValue(field.kind, value);
    if ('problem' in parsed) problems.push(`${flag}: ${parsed.problem}`);
    else values[field.key] = parsed.value;
  }
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
    seed: seedWasRandom ? randomSeed() >>> 0 : (values.seed as number),
    partsPerShift: (values.partsPerShift as number | undefined) ?? STATION_DEFAULTS.partsPerShift,
    faults: (values.faults as StationFault[] | undefined) ?? [],
    driftStepPct: (values.driftStepPct as number | undefined) ?? STATION_DEFAULTS.driftStepPct,
    disconnectSeconds: (values.disconnectSeconds as number | undefined) ?? STATION_DEFAULTS.disconnectSeconds,
    disconnectEverySeconds:
      (values.disconnectEverySeconds as number | undefined) ?? STATION_DEFAULTS.disconnectEverySeconds,
  };
  return { ok: true, config: Object.freeze(config), seedWasRandom };
}
