import { readFileSync } from 'node:fs';

/**
 * Reads a cloud settings file (`--config /etc/rigtrace/cloud.env`): `NAME=value` lines in the
 * format of systemd's EnvironmentFile and of compose's env files, with the names of the
 * environment variables (CONFIG in docs/INSTALL-CLOUD.md). Blank lines and lines starting with #
 * are skipped; a value may be wrapped in single or double quotes. A name that is not a setting,
 * a line that is not `NAME=value` or a name given twice is a problem naming the file and line.
 */
export function readSettingsFile(
  file: string,
  known: ReadonlySet<string>,
): { values: Record<string, string>; problems: string[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code;
    return { values: {}, problems: [`${file}: cannot read (${why ?? (err as Error).message})`] };
  }
  const values: Record<string, string> = {};
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const at = `${file}:${i + 1}`;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) return problems.push(`${at}: expected NAME=value`);
    const [, name, rawValue] = m as unknown as [string, string, string];
    if (!known.has(name)) return problems.push(`${at}: ${name} is not a RigTrace cloud setting`);
    if (name in values) return problems.push(`${at}: ${name} is set twice`);
    const quoted = /^(["'])(.*)\1$/.exec(rawValue);
    values[name] = quoted ? quoted[2]! : rawValue;
  });
  return { values, problems };
}
