import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { FAULT, FAULT_MASK, type FaultName } from './rig-model.js';

/** Everything a flow-rig process needs; defaults in FLOW_RIG_DEFAULTS. */
export interface FlowRigConfig {
  host: string;
  port: number;
  unitId: number;
  asset: string;
  testSeconds: number;
  idleSeconds: number;
  seed: number;
  faultMode: number;
  slowDelayMs: number;
  garbageShare: number;
  disconnectSeconds: number;
  disconnectEverySeconds: number;
  driftPerTestPct: number;
}

export const FLOW_RIG_DEFAULTS: Readonly<Omit<FlowRigConfig, 'seed'>> = Object.freeze({
  host: '127.0.0.1',
  port: 15020,
  unitId: 1,
  asset: 'RIG-01',
  testSeconds: 6,
  idleSeconds: 2,
  faultMode: 0,
  slowDelayMs: 1500,
  garbageShare: 0.5,
  disconnectSeconds: 3,
  disconnectEverySeconds: 15,
  driftPerTestPct: 1,
});

type Key = keyof FlowRigConfig;
type Kind =
  'string' | 'port' | 'unitId' | 'seconds' | 'seed' | 'faults' | 'ms' | 'share' | 'pct' | 'testSeconds';

/** Flag, config-file key, kind, help text. */
const FIELDS: { key: Key; flag: string; kind: Kind; help: string }[] = [
  { key: 'host', flag: '--host', kind: 'string', help: 'address to listen on (default 127.0.0.1)' },
  { key: 'port', flag: '--port', kind: 'port', help: 'TCP port, 0 = any free port (default 15020)' },
  { key: 'unitId', flag: '--unit-id', kind: 'unitId', help: 'Modbus unit id 0..247 (default 1)' },
  {
    key: 'asset',
    flag: '--asset',
    kind: 'string',
    help: 'asset tag of the rig, shown in the logs (default RIG-01)',
  },
  {
    key: 'testSeconds',
    flag: '--test-seconds',
    kind: 'testSeconds',
    help: 'one injector test, 4 points (default 6)',
  },
  { key: 'idleSeconds', flag: '--idle-seconds', kind: 'seconds', help: 'idle between tests (default 2)' },
  { key: 'seed', flag: '--seed', kind: 'seed', help: 'PRNG seed 0..4294967295 (default random, printed)' },
  {
    key: 'faultMode',
    flag: '--faults',
    kind: 'faults',
    help: 'faults at start: a mask or names, e.g. drift,slow',
  },
  {
    key: 'slowDelayMs',
    flag: '--slow-delay-ms',
    kind: 'ms',
    help: 'slow fault delays replies by 2x this (1500)',
  },
  {
    key: 'garbageShare',
    flag: '--garbage-share',
    kind: 'share',
    help: 'share of requests the garbage fault fails (0.5)',
  },
  { key: 'disconnectSeconds', flag: '--disconnect-seconds', kind: 'seconds', help: 'outage length (3)' },
  {
    key: 'disconnectEverySeconds',
    flag: '--disconnect-every-seconds',
    kind: 'seconds',
    help: 'time between outages while the fault is on (15)',
  },
  {
    key: 'driftPerTestPct',
    flag: '--drift-per-test-pct',
    kind: 'pct',
    help: 'drift fault: % more per test (1)',
  },
];

export function flowRigUsage(): string {
  const lines = FIELDS.map((f) => `  ${f.flag.padEnd(28)}${f.help}`);
  return [
    'usage: rigtrace-sim flow-rig [flags]',
    '',
    ...lines,
    `  ${'--config FILE'.padEnd(28)}YAML file with the same settings in camelCase (flags win)`,
    `  ${'--help'.padEnd(28)}this text`,
    '',
    `faults: ${Object.entries(FAULT)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}`,
  ].join('\n');
}

function parseFaults(raw: unknown): number | string {
  if (typeof raw === 'number') {
    return Number.isInteger(raw) && raw >= 0 && raw <= FAULT_MASK ? raw : `must be a mask 0..${FAULT_MASK}`;
  }
  const list = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : undefined;
  if (list === undefined) return 'must be a mask or a list of fault names';
  if (typeof raw === 'string' && /^\d+$/u.test(raw.trim())) return parseFaults(Number(raw));
  let mask = 0;
  for (const item of list) {
    const name = String(item).trim();
    if (name === '' || name === 'none') continue;
    if (!(name in FAULT)) return `unknown fault "${name}" (known: ${Object.keys(FAULT).join(', ')})`;
    mask |= FAULT[name as FaultName];
  }
  return mask;
}

/** Checks one value; returns the parsed value or a problem text. */
function parseValue(kind: Kind, raw: unknown): { value: string | number } | { problem: string } {
  const num =
    typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  const show = typeof raw === 'string' ? JSON.stringify(raw) : String(raw);
  const range = (lo: number, hi: number, integer: boolean) =>
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
    case 'unitId':
      return range(0, 247, true);
    case 'testSeconds':
      return range(0.2, 86_400, false);
    case 'seconds':
      return range(0, 86_400, false);
    case 'seed':
      return range(0, 4294967295, true);
    case 'ms':
      return range(1, 600_000, true);
    case 'share':
      return range(0, 1, false);
    case 'pct':
      return range(0, 100, false);
    case 'faults': {
      const mask = parseFaults(raw);
      return typeof mask === 'number' ? { value: mask } : { problem: mask };
    }
  }
}

export type ParseResult =
  | { ok: true; config: FlowRigConfig; seedWasRandom: boolean }
  | { ok: false; problems: string[] }
  | { help: true };

/**
 * Parses `flow-rig` flags (`--flag value` or `--flag=value`), merging defaults < config file <
 * flags. Every problem is listed, one line each.
 */
export function parseFlowRigArgs(
  argv: string[],
  randomSeed: () => number = () => Math.floor(Math.random() * 2 ** 32),
): ParseResult {
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
    // `faults` reads better in a file; it is the same setting as faultMode.
    if ('faults' in fromFile) {
      if ('faultMode' in fromFile) problems.push(`${configPath}: faults: give faults or faultMode, not both`);
      fromFile = { ...fromFile, faultMode: fromFile.faults };
      delete fromFile.faults;
    }
    for (const key of Object.keys(fromFile)) {
      if (!FIELDS.some((f) => f.key === key)) problems.push(`${configPath}: ${key}: unknown setting`);
    }
  }

  const config: Record<string, unknown> = { ...FLOW_RIG_DEFAULTS };
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
  return { ok: true, config: Object.freeze(config) as unknown as FlowRigConfig, seedWasRandom };
}
