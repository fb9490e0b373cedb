import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';

/** A checked value, or why it was refused. */
export type Checked = { value: unknown } | { problem: string };

/** One row of a device's flag table: the config key, its flag, help text and how to check a value. */
export interface FlagSpec<K extends string> {
  key: K;
  flag: string;
  help: string;
  /** Gets a flag's text or, with a config file, the file's YAML value. */
  check: (raw: unknown) => Checked;
}

export type ParseResult<C> =
  { ok: true; config: C; seedWasRandom: boolean } | { ok: false; problems: string[] } | { help: true };

export const randomSeed = (): number => Math.floor(Math.random() * 2 ** 32);

const show = (raw: unknown): string => (typeof raw === 'string' ? JSON.stringify(raw) : String(raw));

/** A number lo..hi (an integer if asked), from a flag's text or a YAML number. */
export function range(lo: number, hi: number, integer = false): (raw: unknown) => Checked {
  return (raw) => {
    const num =
      typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
    return Number.isFinite(num) && num >= lo && num <= hi && (!integer || Number.isInteger(num))
      ? { value: num }
      : { problem: `must be ${integer ? 'an integer' : 'a number'} ${lo}..${hi}, got ${show(raw)}` };
  };
}

export const nonEmptyString = (raw: unknown): Checked =>
  typeof raw === 'string' && raw.trim() !== '' ? { value: raw } : { problem: 'must be a non-empty string' };

export function oneOf(choices: readonly string[]): (raw: unknown) => Checked {
  return (raw) =>
    typeof raw === 'string' && choices.includes(raw)
      ? { value: raw }
      : { problem: `must be one of ${choices.join(', ')}, got ${show(raw)}` };
}

/** A usage text: its first line, a line per flag, then notes. */
export function usage(
  first: string,
  specs: readonly FlagSpec<string>[],
  configFile: boolean,
  notes: string[],
): string {
  const line = (flag: string, help: string) => `  ${flag.padEnd(28)}${help}`;
  return [
    first,
    '',
    ...specs.map((s) => line(s.flag, s.help)),
    ...(configFile
      ? [line('--config FILE', 'YAML file with the same settings in camelCase (flags win)')]
      : []),
    line('--help', 'this text'),
    '',
    ...notes,
  ].join('\n');
}

export interface FlagOptions<K extends string> {
  /**
   * Accept `--config FILE` (YAML, keys as in the table) under the flags. Then every value is
   * checked after merging, in table order; without a config file each flag is checked as it is read.
   */
  configFile?: boolean;
  /** Other names a config file may use for a key. */
  fileAliases?: Record<string, K>;
}

/**
 * Reads `--flag value` and `--flag=value` (defaults < config file < flags is the caller's merge of
 * `values`). Every problem is listed, one line each.
 */
export function parseFlags<K extends string>(
  argv: string[],
  specs: readonly FlagSpec<K>[],
  { configFile = false, fileAliases = {} }: FlagOptions<K> = {},
): { help: true } | { problems: string[]; values: Partial<Record<K, unknown>> } {
  const problems: string[] = [];
  const values: Partial<Record<K, unknown>> = {};
  const fromFlags: Partial<Record<K, unknown>> = {};
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
    const spec = specs.find((s) => s.flag === flag);
    if (!spec && !(configFile && flag === '--config')) {
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
    if (!spec) configPath = value;
    else if (configFile) fromFlags[spec.key] = value;
    else {
      const checked = spec.check(value);
      if ('problem' in checked) problems.push(`${flag}: ${checked.problem}`);
      else values[spec.key] = checked.value;
    }
  }
  if (!configFile) return { problems, values };

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
    for (const [alias, key] of Object.entries(fileAliases)) {
      if (!(alias in fromFile)) continue;
      if (key in fromFile) problems.push(`${configPath}: ${alias}: give ${alias} or ${key}, not both`);
      fromFile = { ...fromFile, [key]: fromFile[alias] };
      delete fromFile[alias];
    }
    for (const key of Object.keys(fromFile)) {
      if (!specs.some((s) => s.key === key)) problems.push(`${configPath}: ${key}: unknown setting`);
    }
  }
  for (const spec of specs) {
    for (const [source, from] of [
      [configPath ? `${configPath}: ${spec.key}` : '', fromFile],
      [spec.flag, fromFlags],
    ] as const) {
      if (!(spec.key in from)) continue;
      const checked = spec.check((from as Record<string, unknown>)[spec.key]);
      if ('problem' in checked) problems.push(`${source}: ${checked.problem}`);
      else values[spec.key] = checked.value;
    }
  }
  return { problems, values };
}

/** Defaults < parsed values, and a random seed unless one was given. */
export function withDefaults<C extends { seed: number }>(
  parsed: ReturnType<typeof parseFlags<string>>,
  defaults: Readonly<Omit<C, 'seed'>>,
  drawSeed: () => number,
): ParseResult<C> {
  if ('help' in parsed) return parsed;
  if (parsed.problems.length > 0) return { ok: false, problems: parsed.problems };
  const config: Record<string, unknown> = { ...defaults, ...parsed.values };
  const seedWasRandom = parsed.values.seed === undefined;
  if (seedWasRandom) config.seed = drawSeed() >>> 0;
  return { ok: true, config: Object.freeze(config) as unknown as C, seedWasRandom };
}
