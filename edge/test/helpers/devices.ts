import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startProcess, type Proc } from '@rigtrace/protocols/testing';

/**
 * The independent devices of the edge's tests, started as their own processes: a pymodbus
 * injector rig (devices/pymodbus_rig.py) and a node-opcua calibration bench with one scalar per
 * value (devices/scalar-bench.ts). Each reports every result it completes, so a test can compare
 * what the device did with what the edge recorded.
 */

export interface Rig {
  port: number;
  child: ChildProcess;
  /** Every result the rig completed, in order. */
  results: { n: number; serial: string; qty: number }[];
  kill(): Promise<void>;
}

const RIG = fileURLToPath(new URL('../devices/pymodbus_rig.py', import.meta.url));

export async function startRig(opts: object): Promise<Rig> {
  const child = spawn('/usr/bin/python3', [RIG, JSON.stringify(opts)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const results: Rig['results'] = [];
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const lines = createInterface({ input: child.stdout });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`rig did not start: ${stderr}`)), 10_000);
    lines.on('line', (line) => {
      const e = JSON.parse(line) as { event: string; port: number; n: number; serial: string; qty: number };
      if (e.event === 'listening') {
        clearTimeout(timer);
        resolve(e.port);
      } else if (e.event === 'result') results.push({ n: e.n, serial: e.serial, qty: e.qty });
    });
  });
  return {
    port,
    child,
    results,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

export interface Bench {
  proc: Proc;
  port: number;
  endpointUrl: string;
  /** Every calibration the bench completed, in order. */
  results: { n: number; certificate: string; asFound: number; asLeft: number; at: string }[];
}

export async function startBench(opts: object): Promise<Bench> {
  const results: Bench['results'] = [];
  let port = 0;
  const proc = await startProcess(
    'edge/test/devices/scalar-bench.ts',
    [JSON.stringify(opts)],
    (l) => l.includes('"listening"'),
    30_000,
    (line, stream) => {
      if (stream !== 'stdout' || !line.startsWith('{')) return;
      const e = JSON.parse(line) as Bench['results'][number] & { event: string; port: number };
      if (e.event === 'listening') port = e.port;
      if (e.event === 'result') results.push(e);
    },
  );
  return { proc, port, endpointUrl: `opc.tcp://127.0.0.1:${port}`, results };
}

const LC = (n: string) => `ns=1;s=Bench.LastCalibration.${n}`;

/** The `calibration.nodes` of an edge source reading our calibration bench simulator's result block. */
export const benchCalibrationNodes = {
  equipment: LC('EquipmentId'),
  pointNames: LC('PointNames'),
  nominals: LC('Nominals'),
  asFound: LC('AsFound'),
  asLeft: LC('AsLeft'),
  lowerTolerance: LC('LowerTolerance'),
  upperTolerance: LC('UpperTolerance'),
  unit: LC('Unit'),
  adjusted: LC('Adjusted'),
  completedAt: LC('CompletedAt'),
  procedure: LC('Procedure'),
  technician: LC('Technician'),
  certificate: LC('CertificateId'),
  standardId: LC('StandardId'),
  standardCertificate: LC('StandardCertificate'),
  standardDueDate: LC('StandardDueDate'),
  standardUncertainty: LC('StandardUncertainty'),
  nextDue: LC('NextDue'),
};

/** A Python device of devices/ that prints {"event":"listening","port":N}, started as its own process. */
export async function startPythonDevice(
  file: string,
  args: string[] = [],
): Promise<{ port: number; kill(): Promise<void> }> {
  const script = fileURLToPath(new URL(`../devices/${file}`, import.meta.url));
  const child = spawn('/usr/bin/python3', [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${file} did not start: ${stderr}`)), 10_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      const e = JSON.parse(line) as { event: string; port: number };
      if (e.event === 'listening') {
        clearTimeout(timer);
        resolve(e.port);
      }
    });
  });
  return {
    port,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
