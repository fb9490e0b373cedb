/**
 * Test fixture: the calibration bench simulator of firmware-sim, started as a real process through
 * its CLI (the protocols package imports nothing of ours, so the bench is run, not imported).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

export interface BenchEvent {
  event: string;
  [key: string]: unknown;
}

export interface BenchProcess {
  child: ChildProcess;
  port: number;
  endpointUrl: string;
  certificateFile: string;
  listening: BenchEvent;
  events: BenchEvent[];
  stderr(): string;
  waitFor(predicate: (e: BenchEvent) => boolean, timeoutMs?: number): Promise<BenchEvent>;
  exited: Promise<number | null>;
  /** SIGTERM, resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** `node --conditions=rigtrace-source --import tsx firmware-sim/src/cli.ts cal-bench …args`. */
export async function startBench(args: string[], startTimeoutMs = 30_000): Promise<BenchProcess> {
  const child = spawn(
    process.execPath,
    ['--conditions=rigtrace-source', '--import', 'tsx', 'firmware-sim/src/cli.ts', 'cal-bench', ...args],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const events: BenchEvent[] = [];
  const waiters = new Set<(e: BenchEvent) => void>();
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const first = new Promise<BenchEvent>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bench did not start: ${err}`)), startTimeoutMs);
    void exited.then((code) => reject(new Error(`bench exited with ${code}: ${err}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      let e: BenchEvent;
      try {
        e = JSON.parse(line) as BenchEvent;
      } catch {
        e = { event: 'not-json', line };
      }
      if (events.length === 0) {
        clearTimeout(timer);
        resolve(e);
      }
      events.push(e);
      for (const w of waiters) w(e);
    });
  });
  const listening = await first;
  return {
    child,
    port: listening.port as number,
    endpointUrl: listening.endpointUrl as string,
    certificateFile: listening.certificateFile as string,
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
          reject(new Error('no such event from the bench'));
        }, timeoutMs);
        const on = (e: BenchEvent): void => {
          if (!predicate(e)) return;
          clearTimeout(timer);
          waiters.delete(on);
          resolve(e);
        };
        waiters.add(on);
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGCONT');
        child.kill('SIGTERM');
      }
      return exited;
    },
  };
}
