import {
  nonEmptyString,
  parseFlags,
  randomSeed,
  range,
  withDefaults,
  type Checked,
  type FlagSpec,
  type ParseResult as Parsed,
  usage,
} from '../common/flags.js';
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

const seconds = range(0, 86_400);

const FIELDS: FlagSpec<keyof FlowRigConfig>[] = [
  { key: 'host', flag: '--host', check: nonEmptyString, help: 'address to listen on (default 127.0.0.1)' },
  {
    key: 'port',
    flag: '--port',
    check: range(0, 65535, true),
    help: 'TCP port, 0 = any free port (default 15020)',
  },
  { key: 'unitId', flag: '--unit-id', check: range(0, 247, true), help: 'Modbus unit id 0..247 (default 1)' },
  {
    key: 'asset',
    flag: '--asset',
    check: nonEmptyString,
    help: 'asset tag of the rig, shown in the logs (default RIG-01)',
  },
  {
    key: 'testSeconds',
    flag: '--test-seconds',
    check: range(0.2, 86_400),
    help: 'one injector test, 4 points (default 6)',
  },
  { key: 'idleSeconds', flag: '--idle-seconds', check: seconds, help: 'idle between tests (default 2)' },
  {
    key: 'seed',
    flag: '--seed',
    check: range(0, 4294967295, true),
    help: 'PRNG seed 0..4294967295 (default random, printed)',
  },
  {
    key: 'faultMode',
    flag: '--faults',
    check: checkFaults,
    help: 'faults at start: a mask or names, e.g. drift,slow',
  },
  {
    key: 'slowDelayMs',
    flag: '--slow-delay-ms',
    check: range(1, 600_000, true),
    help: 'slow fault delays replies by 2x this (1500)',
  },
  {
    key: 'garbageShare',
    flag: '--garbage-share',
    check: range(0, 1),
    help: 'share of requests the garbage fault fails (0.5)',
  },
  { key: 'disconnectSeconds', flag: '--disconnect-seconds', check: seconds, help: 'outage length (3)' },
  {
    key: 'disconnectEverySeconds',
    flag: '--disconnect-every-seconds',
    check: seconds,
    help: 'time between outages while the fault is on (15)',
  },
  {
    key: 'driftPerTestPct',
    flag: '--drift-per-test-pct',
    check: range(0, 100),
    help: 'drift fault: % more per test (1)',
  },
];

export const flowRigUsage = (): string =>
  usage('usage: rigtrace-sim flow-rig [flags]', FIELDS, true, [
    `faults: ${Object.entries(FAULT)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}`,
  ]);

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

function checkFaults(raw: unknown): Checked {
  const mask = parseFaults(raw);
  return typeof mask === 'number' ? { value: mask } : { problem: mask };
}

export type ParseResult = Parsed<FlowRigConfig>;

/**
 * Parses `flow-rig` flags (`--flag value` or `--flag=value`), merging defaults < config file <
 * flags (a file may say `faults` for faultMode). Every problem is listed, one line each.
 */
export function parseFlowRigArgs(argv: string[], drawSeed = randomSeed): ParseResult {
  const parsed = parseFlags(argv, FIELDS, { configFile: true, fileAliases: { faults: 'faultMode' } });
  return withDefaults(parsed, FLOW_RIG_DEFAULTS, drawSeed);
}
