import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface SimEvent {
  event: string;
  [key: string]: unknown;
}

export interface SimProcess {
  child: ChildProcess;
  port: number;
  listening: SimEvent;
  events: SimEvent[];
  stderr(): string;
  /** Resolves with the first event (already seen or coming) that matches. */
  waitFor(predicate: (e: SimEvent) => boolean, timeoutMs?: number): Promise<SimEvent>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

/** Starts `cli.ts flow-rig ...args` exactly as the README says, and waits for its listening line. */
export async function startSim(args: string[]): Promise<SimProcess> {
  const child = spawn(
    process.execPath,
    ['--conditions=rigtrace-source', '--import', 'tsx', 'firmware-sim/src/cli.ts', 'flow-rig', ...args],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const events: SimEvent[] = [];
  const waiters = new Set<(e: SimEvent) => void>();
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const firstLine = new Promise<SimEvent>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`simulator did not start: ${err}`)), 15_000);
    void exited.then((code) => reject(new Error(`simulator exited with ${code}: ${err}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const e = JSON.parse(line) as SimEvent;
      if (events.length === 0) {
        clearTimeout(timer);
        resolve(e);
      }
      events.push(e);
      for (const w of waiters) w(e);
    });
  });
  const listening = await firstLine;
  return {
    child,
    port: listening.port as number,
    listening,
    events,
    stderr: () => err,
    exited,
    waitFor(predicate, timeoutMs = 15_000) {
      const seen = events.find(predicate);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(on);
          reject(new Error('no such event from the simulator'));
        }, timeoutMs);
        const on = (e: SimEvent): void => {
          if (!predicate(e)) return;
          clearTimeout(timer);
          waiters.delete(on);
          resolve(e);
        };
        waiters.add(on);
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Runs the CLI to completion (for argument errors). */
export function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--conditions=rigtrace-source', '--import', 'tsx', 'firmware-sim/src/cli.ts', ...args],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

export interface MbpollResult {
  code: number;
  output: string;
  /** Values by register address. */
  values: Map<number, string>;
}

/** Runs Debian's mbpoll once (-1) against 127.0.0.1, 0-based addresses (-0). */
export function mbpoll(port: number, options: string[], writeValues: string[] = []): Promise<MbpollResult> {
  return new Promise((resolve) => {
    execFile(
      'mbpoll',
      ['-m', 'tcp', '-0', '-1', '-p', String(port), ...options, '127.0.0.1', ...writeValues],
      { timeout: 15_000 },
      (error, stdout, stderr) => {
        const values = new Map<number, string>();
        for (const m of stdout.matchAll(/^\[(\d+)\]:\s+(\S+)/gmu)) values.set(Number(m[1]), m[2]!);
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, output: stdout + stderr, values });
      },
    );
  });
}
