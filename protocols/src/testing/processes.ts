import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The repository root, for starting any package's entry point as its own process. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

const nodeArgs = (entry: string) => [
  '--conditions=rigtrace-source',
  '--import',
  'tsx',
  path.join(repoRoot, entry),
];

export interface Proc {
  child: ChildProcess;
  /** Every line the process wrote, stdout and stderr. */
  lines: string[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Gets every line of the process as it comes, before `ready` sees it. */
export type LineListener = (line: string, stream: 'stdout' | 'stderr') => void;

/**
 * Starts a TypeScript entry point as a real process and waits for a line that says it is ready
 * (up to 60 s by default: a loaded machine gets room; a process ready sooner returns at once).
 */
export function startProcess(
  entry: string,
  args: string[],
  ready: (line: string) => boolean,
  timeoutMs = 60_000,
  onLine?: LineListener,
): Promise<Proc & { readyLine: string }> {
  return startNode(path.join(repoRoot, entry), args, ready, timeoutMs, nodeArgs(entry).slice(0, -1), onLine);
}

/** Starts `node [nodeFlags] script args` and waits for a line that says it is ready. */
export function startNode(
  script: string,
  args: string[],
  ready: (line: string) => boolean,
  timeoutMs = 60_000,
  nodeFlags: string[] = [],
  onLine?: LineListener,
): Promise<Proc & { readyLine: string }> {
  const entry = path.relative(repoRoot, script);
  const child = spawn(process.execPath, [...nodeFlags, script, ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const stop = (signal: NodeJS.Signals = 'SIGTERM') =>
    new Promise<number | null>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
      child.once('exit', (code) => resolve(code));
      child.kill(signal);
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${entry} not ready after ${timeoutMs} ms:\n${lines.slice(-20).join('\n')}`));
    }, timeoutMs);
    let done = false;
    const onLineOf = (stream: 'stdout' | 'stderr') => (line: string) => {
      onLine?.(line, stream);
      lines.push(line);
      if (!done && ready(line)) {
        done = true;
        clearTimeout(timer);
        resolve({ child, lines, stop, readyLine: line });
      }
    };
    createInterface({ input: child.stdout }).on('line', onLineOf('stdout'));
    createInterface({ input: child.stderr }).on('line', onLineOf('stderr'));
    child.once('exit', (code) => {
      if (!done) {
        clearTimeout(timer);
        reject(new Error(`${entry} exited (${code}) before it was ready:\n${lines.slice(-20).join('\n')}`));
      }
    });
  });
}

/** Runs a TypeScript CLI to completion. */
export function runCli(entry: string, args: string[]) {
  const r = spawnSync(process.execPath, [...nodeArgs(entry), ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Polls `fn` until it returns a truthy value or the time is up. */
export async function waitFor<T>(
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}
