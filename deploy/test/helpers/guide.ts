import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';

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

/** What a systemd unit says about how its service runs. */
export interface Unit {
  execStart: string;
  execStartPre: string[];
  environment: string[];
  user?: string;
  group?: string;
  stateDirectory?: string;
  stateDirectoryMode?: string;
  umask?: string;
}
export function readUnit(file: string): Unit {
  const unit = readFileSync(file, 'utf8');
  const one = (key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(unit)?.[1];
  const all = (key: string) => [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!);
  const execStart = one('ExecStart');
  expect(execStart, `ExecStart= of ${file}`).toBeDefined();
  return {
    execStart: execStart!,
    execStartPre: all('ExecStartPre'),
    environment: all('Environment'),
    user: one('User'),
    group: one('Group'),
    stateDirectory: one('StateDirectory'),
    stateDirectoryMode: one('StateDirectoryMode'),
    umask: one('UMask'),
  };
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
