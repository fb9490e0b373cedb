import { spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { repoRoot } from '@rigtrace/protocols/testing';

/**
 * Running an install guide (docs/INSTALL-*.md) as written: its ```sh blocks become one bash
 * script, each command classified by the test (run as written with mechanical rewrites, replaced
 * by what it stands for, or skipped with a reason); an unclassified command fails the test.
 */

/** One command of a guide: its first line without a trailing comment, and its whole text. */
export type Command = { first: string; text: string };

export const stripComment = (line: string) => line.replace(/\s+#\s.*$/, '').trim();

/**
 * The guide's ```sh blocks (any indent) and the inline commands (the first match of each of
 * `inline`, group 1) it asks the reader to run, in the guide's order. A here-document is one
 * command with its body; a line ending in `\` continues on the next; comment lines are skipped.
 */
export function guideCommands(file: string, inline: RegExp[] = []): Command[] {
  const text = readFileSync(file, 'utf8');
  const commands: Command[] = [];
  const blocks = [...text.matchAll(/^( *)```sh\n([\s\S]*?)^\1```$/gm)].map((m) => ({
    at: m.index,
    lines: m[2]!.split('\n').map((l) => l.slice(m[1]!.length)),
  }));
  for (const re of inline) {
    const m = re.exec(text);
    expect(m, `${re}`).not.toBeNull();
    blocks.push({ at: m!.index, lines: [m![1]!] });
  }
  blocks.sort((a, b) => a.at - b.at);
  for (const b of blocks) {
    for (let i = 0; i < b.lines.length; i++) {
      const line = b.lines[i]!;
      if (line.trim() === '' || line.trim().startsWith('#')) continue;
      const heredoc = /<<'(\w+)'/.exec(line);
      if (heredoc) {
        const end = b.lines.indexOf(heredoc[1]!, i + 1);
        expect(end, `end of the here-document of ${line}`).toBeGreaterThan(i);
        commands.push({ first: stripComment(line), text: b.lines.slice(i, end + 1).join('\n') });
        i = end;
        continue;
      }
      let end = i;
      while (/\\$/.test(stripComment(b.lines[end]!)) && end + 1 < b.lines.length) end++;
      commands.push({
        first: stripComment(line),
        text: b.lines
          .slice(i, end + 1)
          .map((l) => stripComment(l))
          .join('\n'),
      });
      i = end;
    }
  }
  return commands;
}

const MARK = '@@guide@@ ';
/**
 * `echo "@@guide@@ FIRST"`: marks where a command's output starts in the script's stdout (also
 * after an output with no newline at its end).
 */
export const marker = (c: Command) => `echo "${MARK}${c.first.replace(/["$`\\]/g, '\\$&')}"`;

/** Prefix that runs a simple command as uid:gid with no supplementary groups (sudo -u, User=). */
export const asUid = (uid: number, gid: number) => `setpriv --reuid=${uid} --regid=${gid} --clear-groups`;

/** What a systemd unit says about how its service runs (with its drop-ins, FILE.d/*.conf). */
export interface Unit {
  execStart: string;
  execStartPre: string[];
  environment: string[];
  environmentFiles: string[];
  user?: string;
  group?: string;
  workingDirectory?: string;
  stateDirectory?: string;
  stateDirectoryMode?: string;
  umask?: string;
  readWritePaths: string[];
}
export function readUnit(file: string): Unit {
  const dropIns = existsSync(`${file}.d`)
    ? readdirSync(`${file}.d`)
        .filter((f) => f.endsWith('.conf'))
        .sort()
        .map((f) => readFileSync(path.join(`${file}.d`, f), 'utf8'))
    : [];
  const unit = [readFileSync(file, 'utf8'), ...dropIns].join('\n');
  const all = (key: string) => [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!);
  const one = (key: string) => all(key).at(-1);
  const execStart = one('ExecStart');
  expect(execStart, `ExecStart= of ${file}`).toBeDefined();
  return {
    execStart: execStart!,
    execStartPre: all('ExecStartPre'),
    environment: all('Environment'),
    environmentFiles: all('EnvironmentFile'),
    user: one('User'),
    group: one('Group'),
    workingDirectory: one('WorkingDirectory'),
    stateDirectory: one('StateDirectory'),
    stateDirectoryMode: one('StateDirectoryMode'),
    umask: one('UMask'),
    readWritePaths: all('ReadWritePaths').flatMap((l) => l.split(/\s+/)),
  };
}

/**
 * What `systemctl start` does with a unit's service, as script lines, for a machine where systemd is
 * not running: its StateDirectory made (under `stateRoot`, with its mode, owned by the user), then
 * its ExecStartPre and ExecStart lines run as its user with no other groups, in its
 * WorkingDirectory (/ when it names none), with its UMask= and only the environment systemd gives a
 * service (PATH, and the user's HOME, USER, LOGNAME and SHELL from the password database), its
 * Environment= lines and the NAME=value lines of its EnvironmentFile= files (read as root; one
 * with a leading `-` may be missing). ExecStart runs in the background, its pid in `pidFile`, its
 * output (and ExecStartPre's) appended to `log`. `rewrite` maps the unit's paths to the test's.
 */
export function startUnitLines(
  unit: Unit,
  o: {
    user: string;
    group: string;
    stateRoot: string;
    rewrite: (s: string) => string;
    log: string;
    pidFile: string;
  },
): string[] {
  const as = `setpriv --reuid=$(id -u ${o.user}) --regid=$(getent group ${o.group} | cut -d: -f3) --clear-groups`;
  const files = unit.environmentFiles.map((f) => {
    const file = o.rewrite(f.replace(/^-/, ''));
    const read = `$(sed -n 's/^\\([A-Za-z_][A-Za-z0-9_]*=.*\\)$/\\1/p' ${file})`;
    return f.startsWith('-') ? `$(test -e ${file} && echo ${read})` : read;
  });
  const env = [
    'env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    `HOME=$(getent passwd ${o.user} | cut -d: -f6) USER=${o.user} LOGNAME=${o.user}`,
    `SHELL=$(getent passwd ${o.user} | cut -d: -f7)`,
    ...unit.environment.map(o.rewrite),
    ...files,
  ].join(' ');
  const cwd = o.rewrite(unit.workingDirectory ?? '/');
  const run = (line: string) =>
    `(umask ${unit.umask ?? '0022'} && cd ${cwd} && exec ${as} ${env} ${o.rewrite(line)}) >> ${o.log} 2>&1`;
  const lines: string[] = [];
  if (unit.stateDirectory) {
    const state = path.join(o.stateRoot, unit.stateDirectory);
    lines.push(
      `mkdir -p ${state} && chown ${o.user}:${o.group} ${state} && chmod ${unit.stateDirectoryMode ?? '0755'} ${state}`,
    );
  }
  for (const f of unit.environmentFiles.filter((f) => !f.startsWith('-')))
    lines.push(`test -r ${o.rewrite(f)} || { echo "${o.rewrite(f)}: no such file"; exit 1; }`);
  lines.push(...unit.execStartPre.map(run), `${run(unit.execStart)} &`, `echo $! > ${o.pidFile}`);
  return lines;
}

export interface ScriptRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The process group of the script and what it left running in the background. */
  pgid: number | undefined;
  /** Each command's output, by its first line. */
  outputs: Map<string, string>;
}

/** Writes the script to dir/guide.sh and runs it with bash (`set -euo pipefail` first). */
export async function runScript(dir: string, lines: string[], env: NodeJS.ProcessEnv): Promise<ScriptRun> {
  const file = path.join(dir, 'guide.sh');
  writeFileSync(file, `${['set -euo pipefail', ...lines].join('\n')}\n`);
  const child = spawn('bash', [file], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const run: ScriptRun = { code: null, stdout: '', stderr: '', pgid: child.pid, outputs: new Map() };
  child.stdout.on('data', (d: Buffer) => (run.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (run.stderr += d.toString()));
  run.code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  for (const part of run.stdout.split(MARK).slice(1)) {
    const nl = part.indexOf('\n');
    run.outputs.set(part.slice(0, nl), part.slice(nl + 1));
  }
  return run;
}

/** The output of the first command whose first line starts with `prefix`. */
export function outputOf(run: ScriptRun, prefix: string): string {
  const k = [...run.outputs.keys()].find((key) => key.startsWith(prefix));
  expect(k, `the output of ${prefix}`).toBeDefined();
  return run.outputs.get(k!)!;
}

/** Ends the script's process group (the services it started in the background). */
export function stopScript(run: ScriptRun | undefined): void {
  try {
    if (run?.pgid) process.kill(-run.pgid, 'SIGTERM');
  } catch {
    // Already gone.
  }
}

/** git with a fixed author and no settings of the machine's (no signing, no hooks). */
export function git(cwd: string, args: string[]): string {
  const r = spawnSync(
    'git',
    [
      '-c',
      'user.name=RigTrace release',
      '-c',
      'user.email=release@rigtrace.example',
      '-c',
      'commit.gpgsign=false',
      '-c',
      'init.defaultBranch=main',
      '-c',
      'core.hooksPath=/dev/null',
      ...args,
    ],
    {
      cwd,
      encoding: 'utf8',
      env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' },
    },
  );
  expect(r.status, `git ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

/**
 * The repository a guide clones (https://git.example.com/rigtrace.git): a git repository made at
 * `dir` whose branch `main` holds one commit of this checkout's files as they are now, the tracked
 * ones and the new ones git does not ignore (what a commit of the working tree would hold; no
 * node_modules, no dist). Nothing outside the checkout is read and nothing in it is written.
 */
export function snapshotRepository(dir: string): void {
  const files = git(repoRoot, ['ls-files', '-z', '--cached', '--others', '--exclude-standard'])
    .split('\0')
    .filter((f) => {
      if (!f) return false;
      try {
        lstatSync(path.join(repoRoot, f));
        return true;
      } catch {
        return false; // deleted in the working tree, not yet committed
      }
    });
  mkdirSync(dir, { recursive: true });
  const list = `${dir}.files`;
  writeFileSync(list, files.join('\0'));
  const copy = spawnSync(
    'bash',
    ['-c', 'tar -C "$1" --null -T "$2" -cf - | tar -C "$3" -xf -', 'copy', repoRoot, list, dir],
    { encoding: 'utf8' },
  );
  expect(copy.status, copy.stderr).toBe(0);
  git(dir, ['init', '-q']);
  git(dir, ['add', '-A']);
  git(dir, ['commit', '-q', '-m', 'RigTrace']);
}

/**
 * This machine's npm settings that a guide's `npm ci` needs when it runs with another HOME (whose
 * own npm settings are then not read): the package cache (so that a package already fetched is not
 * fetched again), and `nodedir`, where node-gyp finds the Node.js headers to compile sqlite3 and
 * argon2 against when it is set (otherwise node-gyp downloads them from nodejs.org).
 */
export function npmSettings(): Record<string, string> {
  const get = (key: string) =>
    spawnSync('npm', ['config', 'get', key], { encoding: 'utf8', cwd: repoRoot }).stdout.trim();
  const settings: Record<string, string> = { npm_config_cache: get('cache') };
  const nodedir = get('nodedir');
  if (nodedir && nodedir !== 'undefined' && nodedir !== 'null') settings.npm_config_nodedir = nodedir;
  return settings;
}

/**
 * `systemd-analyze verify` of a unit file (and its drop-ins beside it): its exit code and what it
 * said. An unknown or misspelt directive is only a warning there (exit code 0), so a unit is
 * accepted only when it says nothing at all.
 */
export function verifyUnit(file: string): { status: number | null; output: string } {
  const r = spawnSync('systemd-analyze', ['verify', '--man=no', file], { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

/**
 * `systemd-analyze security` of a unit file, offline (systemd is not running here), failing above
 * 2.0 of 10: its exit code and output (its last line "Overall exposure level for NAME: 1.9 OK").
 */
export function securityOf(file: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('systemd-analyze', ['security', '--offline=true', '--threshold=20', file], {
    encoding: 'utf8',
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
