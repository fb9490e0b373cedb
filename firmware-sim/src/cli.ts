/**
 * rigtrace-sim: simulated plant equipment speaking real protocols.
 *   rigtrace-sim flow-rig [flags]     injector flow rig on Modbus TCP (see README.md)
 *   rigtrace-sim cal-bench [flags]    calibration bench on OPC UA (see README.md)
 *   rigtrace-sim inspection-station [flags]   inspection station + hand gauges publishing over MQTT;
 *     its first line is {"event":"connected",...} (it is a client, it does not listen)
 * Prints one JSON line {"event":"listening",...} once it accepts connections, then one JSON line
 * per event. Bad flags: one line per problem on stderr, exit 2. Cannot listen, or (station) credentials
 * refused at the first connection: stderr, exit 1. SIGTERM/SIGINT: close (the station publishes the
 * shift's "stop" first), exit 0.
 */
import { format } from 'node:util';
import { calBenchUsage, parseCalBenchArgs } from './cal-bench/config.js';
import { out, runDevice, withListenError } from './common/run-device.js';
import { flowRigUsage, parseFlowRigArgs } from './flow-rig/config.js';
import { startFlowRig } from './flow-rig/run.js';

const DEVICES = ['flow-rig', 'cal-bench', 'inspection-station'];

const runFlowRig = (argv: string[]) =>
  runDevice('flow-rig', parseFlowRigArgs(argv), flowRigUsage, (config) =>
    withListenError(
      config,
      startFlowRig(config, out, Date.now, ({ host, port }) =>
        out({
          event: 'listening',
          device: 'flow-rig',
          host,
          port,
          unitId: config.unitId,
          asset: config.asset,
          seed: config.seed,
        }),
      ),
    ),
  );

const runCalBench = (argv: string[]) =>
  runDevice('cal-bench', parseCalBenchArgs(argv), calBenchUsage, async (config) => {
    // node-opcua logs with console.log: keep stdout for our JSON lines.
    console.log = console.info = (...args: unknown[]) => process.stderr.write(`${format(...args)}\n`);
    const { startCalBench } = await import('./cal-bench/run.js');
    return withListenError(
      config,
      startCalBench(config, out, Date.now, (where) =>
        out({
          event: 'listening',
          device: 'cal-bench',
          ...where,
          asset: config.asset,
          seed: config.seed,
          security: config.security,
        }),
      ),
    );
  });

async function runInspectionStation(argv: string[]): Promise<void> {
  const { parseStationArgs, startInspectionStation, stationUsage } =
    await import('./inspection-station/index.js');
  return runDevice('inspection-station', parseStationArgs(argv), stationUsage, (config) =>
    Promise.resolve(startInspectionStation(config, out, (text) => process.stderr.write(`${text}\n`))),
  );
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
      return runInspectionStation(rest);
    default:
      process.stderr.write(`rigtrace-sim: unknown device "${device}" (devices: ${DEVICES.join(', ')})\n`);
      process.exitCode = 2;
  }
}

void main(process.argv.slice(2));
