/**
 * rigtrace-sim: simulated plant equipment speaking real protocols.
 *   rigtrace-sim flow-rig [flags]     injector flow rig on Modbus TCP (see README.md)
 *   rigtrace-sim cal-bench [flags]    calibration bench on OPC UA (see README.md)
 *   rigtrace-sim inspection-station [flags]   inspection station + hand gauges publishing over MQTT;
 *     its first line is {"event":"connected",...} (it is a client, it does not listen)
 * Prints one JSON line {"event":"listening",...} once it accepts connections, then one JSON line
 * per event. Bad flags: one line per problem on stderr, exit 2. SIGTERM/SIGINT: close, exit 0.
 */
import { format } from 'node:util';
import { calBenchUsage, parseCalBenchArgs } from './cal-bench/config.js';
import { flowRigUsage, parseFlowRigArgs } from './flow-rig/config.js';
import { startFlowRig } from './flow-rig/run.js';

const DEVICES = ['flow-rig', 'cal-bench', 'inspection-station'];

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

async function runCalBench(argv: string[]): Promise<void> {
  const parsed = parseCalBenchArgs(argv);
  if ('help' in parsed) {
    process.stdout.write(`${calBenchUsage()}\n`);
    return;
  }
  if (!parsed.ok) {
    for (const problem of parsed.problems) process.stderr.write(`cal-bench: ${problem}\n`);
    process.exitCode = 2;
    return;
  }
  const { config } = parsed;
  // node-opcua logs with console.log: keep stdout for our JSON lines.
  console.log = console.info = (...args: unknown[]) => process.stderr.write(`${format(...args)}\n`);
  const { startCalBench } = await import('./cal-bench/run.js');
  let bench;
  try {
    bench = await startCalBench(config, out, Date.now, (where) =>
      out({
        event: 'listening',
        device: 'cal-bench',
        ...where,
        asset: config.asset,
        seed: config.seed,
        security: config.security,
      }),
    );
  } catch (err) {
    process.stderr.write(
      `cal-bench: cannot listen on ${config.host}:${config.port}: ${(err as Error).message}\n`,
    );
    // node-opcua may hold timers of the half-started server: leave now.
    process.exit(1);
  }
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    out({
      event: 'stopping',
      time: new Date().toISOString(),
      device: 'cal-bench',
      asset: config.asset,
      signal,
    });
    void bench.stop().finally(() => process.exit(0));
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
    case 'cal-bench':
      return runCalBench(rest);
    case 'inspection-station':
      return (await import('./inspection-station/cli.js')).runInspectionStation(rest, out);
    default:
      process.stderr.write(`rigtrace-sim: unknown device "${device}" (devices: ${DEVICES.join(', ')})\n`);
      process.exitCode = 2;
  }
}

void main(process.argv.slice(2));
