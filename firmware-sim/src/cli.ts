/**
 * rigtrace-sim: simulated plant equipment speaking real protocols.
 *   rigtrace-sim flow-rig [flags]     injector flow rig on Modbus TCP (see README.md)
 * Prints one JSON line {"event":"listening",...} once it accepts connections, then one JSON line
 * per event. Bad flags: one line per problem on stderr, exit 2. SIGTERM/SIGINT: close, exit 0.
 */
import { flowRigUsage, parseFlowRigArgs } from './flow-rig/config.js';
import { startFlowRig } from './flow-rig/run.js';

const DEVICES = ['flow-rig'];

function out(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

async function runFlowRig(argv: string[]): Promise<void> {
  const parsed = parseFlowRigArgs(argv);
  if ('help' in parsed) {
    process.stdout.write(`${flowRigUsage()}\n`);
    return;
  }
  if (!parsed.ok) {
    for (const problem of parsed.problems) process.stderr.write(`flow-rig: ${problem}\n`);
    process.exitCode = 2;
    return;
  }
  const { config } = parsed;
  let rig;
  try {
    const listening = ({ host, port }: { host: string; port: number }): void =>
      out({
        event: 'listening',
        device: 'flow-rig',
        host,
        port,
        unitId: config.unitId,
        asset: config.asset,
        seed: config.seed,
      });
    rig = await startFlowRig(config, out, Date.now, listening);
  } catch (err) {
    process.stderr.write(
      `flow-rig: cannot listen on ${config.host}:${config.port}: ${(err as Error).message}\n`,
    );
    process.exitCode = 1;
    return;
  }
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    out({
      event: 'stopping',
      time: new Date().toISOString(),
      device: 'flow-rig',
      asset: config.asset,
      signal,
    });
    void rig.stop().finally(() => process.exit(0));
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

async function main(argv: string[]): Promise<void> {
  const [device, ...rest] = argv;
  if (device === undefined || device === '--help' || device === '-h' || device === 'help') {
    const text = `usage: rigtrace-sim <device> [flags]\ndevices: ${DEVICES.join(', ')}\n`;
    if (device === undefined) {
      process.stderr.write(text);
      process.exitCode = 2;
    } else process.stdout.write(text);
    return;
  }
  switch (device) {
    case 'flow-rig':
      return runFlowRig(rest);
    default:
      process.stderr.write(`rigtrace-sim: unknown device "${device}" (devices: ${DEVICES.join(', ')})\n`);
      process.exitCode = 2;
  }
}

void main(process.argv.slice(2));
