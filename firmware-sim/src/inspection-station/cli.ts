import { parseStationArgs, stationUsage } from './config.js';
import { startInspectionStation } from './run.js';

/**
 * `rigtrace-sim inspection-station`: bad flags → one line per problem on stderr, exit 2; credentials
 * refused by the broker at the first connection → stderr, exit 1; otherwise JSON lines on stdout,
 * the first one {"event":"connected",...}, until SIGTERM/SIGINT (the shift's "stop" is published,
 * then a clean DISCONNECT; exit 0).
 */
export async function runInspectionStation(
  argv: string[],
  out: (line: Record<string, unknown>) => void,
): Promise<void> {
  const parsed = parseStationArgs(argv);
  if ('help' in parsed) {
    process.stdout.write(`${stationUsage()}\n`);
    return;
  }
  if (!parsed.ok) {
    for (const problem of parsed.problems) process.stderr.write(`inspection-station: ${problem}\n`);
    process.exitCode = 2;
    return;
  }
  const { config } = parsed;
  const station = startInspectionStation(config, out, (text) => process.stderr.write(`${text}\n`));
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    out({
      event: 'stopping',
      time: new Date().toISOString(),
      device: 'inspection-station',
      asset: config.asset,
      signal,
    });
    void station.stop().finally(() => process.exit(0));
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  try {
    await station.connected;
  } catch (err) {
    process.stderr.write(`inspection-station: ${(err as Error).message}\n`);
    await station.stop();
    process.exit(1);
  }
}
