import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { repoRoot, startProcess } from '@rigtrace/protocols/testing';

const CLI = 'firmware-sim/src/cli.ts';

export interface SimEvent {
  event: string;
  [key: string]: unknown;
}

export interface SimProcess {
  child: ChildProcess;
  port: number;
  /** The first line: {"event":"listening"} (or "connected" for the station). */
  listening: SimEvent;
  events: SimEvent[];
  stderr(): string;
  /** Resolves with the first event (already seen or coming) that matches. */
  waitFor(predicate: (e: SimEvent) => boolean, timeoutMs?: number): Promise<SimEvent>;
  /** Events after `mark` (an index into events). */
  since(mark: number): SimEvent[];
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

/** Starts `cli.ts <device> ...args` exactly as the README says, and waits for its first line. */
export async function startDevice(device: string, args: string[], timeoutMs = 15_000): Promise<SimProcess> {
  const events: SimEvent[] = [];
  let err = '';
  const proc = await startProcess(
    CLI,
    [device, ...args],
    () => events.length > 0,
    timeoutMs,
    (line, stream) => {
      if (stream === 'stderr') err += `${line}\n`;
      else events.push(JSON.parse(line) as SimEvent);
    },
  );
  const { child } = proc;
  return {
    child,
    port: events[0]!.port as number,
    listening: events[0]!,
    events,
    stderr: () => err,
    async waitFor(predicate, timeoutMs = 15_000) {
      const signal = AbortSignal.timeout(timeoutMs);
      for (;;) {
        const seen = events.find(predicate);
        if (seen) return seen;
        await once(child.stdout!, 'data', { signal }).catch(() => {
          throw new Error(`no such event from ${device}; stderr: ${err}`);
        });
      }
    },
    since: (mark) => events.slice(mark),
    exited: once(child, 'exit').then(([code]) => code as number | null),
    stop: () => proc.stop(),
  };
}

/** The flow rig: `cli.ts flow-rig ...args`. */
export const startSim = (args: string[]): Promise<SimProcess> => startDevice('flow-rig', args);

/** Runs the CLI to completion (for argument errors). */
export function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--conditions=rigtrace-source', '--import', 'tsx', CLI, ...args], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
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
