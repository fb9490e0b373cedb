/**
 * Test fixture: the calibration bench simulator of firmware-sim, started as a real process through
 * its CLI (the protocols package imports nothing of ours, so the bench is run, not imported).
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { startProcess } from '../../testing/processes.js';

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

function toEvent(line: string): BenchEvent {
  try {
    return JSON.parse(line) as BenchEvent;
  } catch {
    return { event: 'not-json', line };
  }
}

/**
 * `node --conditions=rigtrace-source --import tsx firmware-sim/src/cli.ts cal-bench …args`, ready
 * at its first line. Starting (TypeScript, node-opcua, certificates) is CPU-bound: on a busy 2-core
 * machine it took 22–29 s, so the bound is generous; a bench that is ready sooner is used sooner.
 */
export async function startBench(args: string[], startTimeoutMs = 60_000): Promise<BenchProcess> {
  const events: BenchEvent[] = [];
  let err = '';
  const bench = await startProcess(
    'firmware-sim/src/cli.ts',
    ['cal-bench', ...args],
    () => events.length > 0,
    startTimeoutMs,
    (line, stream) => (stream === 'stderr' ? (err += `${line}\n`) : events.push(toEvent(line))),
  );
  const listening = events[0]!;
  const { child } = bench;
  return {
    child,
    port: listening.port as number,
    endpointUrl: listening.endpointUrl as string,
    certificateFile: listening.certificateFile as string,
    listening,
    events,
    stderr: () => err,
    async waitFor(predicate, timeoutMs = 15_000) {
      const signal = AbortSignal.timeout(timeoutMs);
      for (;;) {
        const seen = events.find(predicate);
        if (seen) return seen;
        await once(child.stdout!, 'data', { signal }).catch(() => {
          throw new Error(`no such event from the bench; stderr: ${err}`);
        });
      }
    },
    exited: once(child, 'exit').then(([code]) => code as number | null),
    stop() {
      // a stopped (SIGSTOP) bench must continue to handle SIGTERM
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGCONT');
      return bench.stop();
    },
  };
}
