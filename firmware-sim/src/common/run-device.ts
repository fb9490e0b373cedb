import type { ParseResult } from './flags.js';

/** One JSON line on stdout. */
export function out(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

export interface RunningDevice {
  /** A client device: resolves once connected; a rejection is reported and ends the process (1). */
  connected?: Promise<void>;
  stop(): Promise<void>;
}

/**
 * The process side of `rigtrace-sim <device>`: --help → usage on stdout; bad flags → one line per
 * problem on stderr, exit 2; `start` throws → its message on stderr, exit 1; SIGTERM/SIGINT → a
 * {"event":"stopping"} line, stop, exit 0.
 */
export async function runDevice<C extends { asset: string }>(
  device: string,
  parsed: ParseResult<C>,
  usage: () => string,
  start: (config: C) => Promise<RunningDevice>,
): Promise<void> {
  if ('help' in parsed) {
    process.stdout.write(`${usage()}\n`);
    return;
  }
  if (!parsed.ok) {
    for (const problem of parsed.problems) process.stderr.write(`${device}: ${problem}\n`);
    process.exitCode = 2;
    return;
  }
  const { config } = parsed;
  let running: RunningDevice;
  try {
    running = await start(config);
  } catch (err) {
    process.stderr.write(`${device}: ${(err as Error).message}\n`);
    // a half-started server may hold timers: leave now.
    process.exit(1);
  }
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    out({ event: 'stopping', time: new Date().toISOString(), device, asset: config.asset, signal });
    void running.stop().finally(() => process.exit(0));
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  try {
    await running.connected;
  } catch (err) {
    process.stderr.write(`${device}: ${(err as Error).message}\n`);
    await running.stop();
    process.exit(1);
  }
}

/** Rewords a failure to listen as `cannot listen on host:port: …`. */
export async function withListenError<T>(
  config: { host: string; port: number },
  start: Promise<T>,
): Promise<T> {
  try {
    return await start;
  } catch (err) {
    throw new Error(`cannot listen on ${config.host}:${config.port}: ${(err as Error).message}`);
  }
}
