/**
 * `npm start`: the whole system on one machine. Two simulated injector flow rigs (Modbus TCP),
 * the cloud (SQLite in .rigtrace-demo/cloud), and an edge enrolled to a demo tenant, each as its
 * own process on fixed non-standard loopback ports. Prints where to look, then a status line
 * every few seconds. Ctrl-C stops everything; data stays in .rigtrace-demo/ for the next start
 * (delete that folder to begin afresh).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { hashDevicePassword } from '@rigtrace/protocols/mqtt';
import { seedDemoPlant, type DemoUser } from './history.js';
import { routeStationOutput } from './station-log.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const demoDir = path.join(root, '.rigtrace-demo');
const PORTS = {
  cloud: 47800,
  edgeStatus: 47801,
  rig1: 47502,
  rig2: 47503,
  bench: 47840,
  broker: 47883,
} as const;
/** The demo station's MQTT password. Demo only: a real plant sets its own per device. */
const STATION_PASSWORD = 'demo-station-password';
const cloudUrl = `http://127.0.0.1:${PORTS.cloud}`;
const children: ChildProcess[] = [];

const tsEntry = (rel: string) => ['--conditions=rigtrace-source', '--import', 'tsx', path.join(root, rel)];

function prefix(name: string, stream: NodeJS.ReadableStream, quiet: boolean) {
  const rl = createInterface({ input: stream });
  rl.on('line', (line) => {
    // Ctrl-C reaches every process at once; what they say while going down is noise.
    if (shuttingDown) return;
    if (quiet) {
      // Show warnings and errors of the pino JSON logs; keep the terminal readable otherwise.
      try {
        const o = JSON.parse(line) as { level?: number; msg?: string };
        if ((o.level ?? 30) < 40) return;
        process.stdout.write(`[${name}] ${o.msg ?? line}\n`);
        return;
      } catch {
        /* not JSON: show it */
      }
    }
    process.stdout.write(`[${name}] ${line}\n`);
  });
}

function start(name: string, args: string[], ready?: (line: string) => boolean): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    prefix(name, child.stderr, false);
    const rl = createInterface({ input: child.stdout });
    let isReady = !ready;
    rl.on('line', (line) => {
      if (shuttingDown) return;
      if (!isReady && ready?.(line)) {
        isReady = true;
        resolve(child);
        return;
      }
      if (isReady && !line.startsWith('{')) process.stdout.write(`[${name}] ${line}\n`);
      else if (isReady) {
        try {
          const o = JSON.parse(line) as { level?: number; msg?: string };
          if ((o.level ?? 30) >= 40) process.stdout.write(`[${name}] ${o.msg ?? line}\n`);
        } catch {
          /* ignore */
        }
      }
    });
    child.once('exit', (code) => {
      if (!isReady) reject(new Error(`${name} exited with code ${code} before it was ready`));
      else if (!shuttingDown) process.stdout.write(`[${name}] exited with code ${code}\n`);
    });
    if (!ready) resolve(child);
  });
}

/** Runs a CLI command to completion and returns its stdout. */
function run(args: string[]): string {
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.slice(3).join(' ')} failed:\n${r.stderr}`);
  return r.stdout;
}

/** The station's password hash, made once per demo folder (argon2id takes a moment). */
async function stationPasswordHash(): Promise<string> {
  const file = path.join(demoDir, 'station-password.hash');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const hash = await hashDevicePassword(STATION_PASSWORD);
  writeFileSync(file, `${hash}\n`, { mode: 0o600 });
  return hash;
}

let shuttingDown = false;
/** Stops the processes in the reverse order of their start: station and edge before what they talk to. */
function shutdown() {
  if (shuttingDown) return;
  shuttingDown = true;
  process.stdout.write('\nstopping the demo…\n');
  const stopOne = (c: ChildProcess) =>
    new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve();
      const t = setTimeout(() => {
        c.kill('SIGKILL');
        resolve();
      }, 5000);
      c.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      c.kill('SIGTERM');
    });
  void (async () => {
    for (const c of [...children].reverse()) await stopOne(c);
    process.exit(process.exitCode ?? 0);
  })();
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);

async function main() {
  const cloudDir = path.join(demoDir, 'cloud');
  const edgeDir = path.join(demoDir, 'edge');
  const secretsFile = path.join(demoDir, 'demo-logins.json');
  const fresh = !existsSync(secretsFile) || !existsSync(path.join(edgeDir, 'identity.json'));
  if (fresh) rmSync(demoDir, { recursive: true, force: true });
  mkdirSync(demoDir, { recursive: true });

  const listening = (l: string) => l.includes('"event":"listening"');
  // The simulated equipment, each its own process on its own port.
  const sims: [string, string[]][] = [
    ['rig-01', ['flow-rig', '--port', `${PORTS.rig1}`, '--asset', 'RIG-01', '--seed', '1']],
    ['rig-02', ['flow-rig', '--port', `${PORTS.rig2}`, '--asset', 'RIG-02', '--seed', '2']],
    [
      'bench',
      [
        'cal-bench',
        '--port',
        `${PORTS.bench}`,
        '--asset',
        'BENCH-01',
        // A calibration takes half a minute; the bench then idles three hours (as a lab would),
        // so the due and overdue lists of the demo's history stay as they are for a while.
        '--cycle-seconds',
        '40',
        '--idle-seconds',
        '10800',
        '--seed',
        '3',
      ],
    ],
  ];
  await Promise.all(
    sims.map(([name, args]) => start(name, [...tsEntry('firmware-sim/src/cli.ts'), ...args], listening)),
  );
  await start(
    'cloud',
    [...tsEntry('cloud/src/cli.ts'), 'serve', '--port', `${PORTS.cloud}`, '--data-dir', cloudDir],
    listening,
  );

  const config = readFileSync(path.join(root, 'deploy/demo/edge.yaml.template'), 'utf8')
    .replaceAll('${EDGE_DATA_DIR}', edgeDir)
    .replaceAll('${CLOUD_URL}', cloudUrl)
    .replaceAll('${EDGE_STATUS_PORT}', String(PORTS.edgeStatus))
    .replaceAll('${RIG1_PORT}', String(PORTS.rig1))
    .replaceAll('${RIG2_PORT}', String(PORTS.rig2))
    .replaceAll('${BENCH_URL}', `opc.tcp://127.0.0.1:${PORTS.bench}/rigtrace/bench`)
    .replaceAll('${BROKER_PORT}', String(PORTS.broker))
    .replaceAll('${STATION_PASSWORD_HASH}', await stationPasswordHash());
  const configFile = path.join(demoDir, 'edge.yaml');
  writeFileSync(configFile, config);

  let logins: { apiToken: string; tenant: string; site: string; users: DemoUser[] };
  if (fresh) {
    const seed = JSON.parse(run([...tsEntry('cloud/src/cli.ts'), 'seed-demo', '--data-dir', cloudDir])) as {
      apiToken: string;
      enrollmentToken: string;
      tenant: string;
      site: string;
      users: DemoUser[];
    };
    process.stdout.write(
      run([
        ...tsEntry('edge/src/cli.ts'),
        'enroll',
        '--config',
        configFile,
        '--cloud',
        cloudUrl,
        '--token',
        seed.enrollmentToken,
      ]),
    );
    logins = { apiToken: seed.apiToken, tenant: seed.tenant, site: seed.site, users: seed.users };
    await seedDemoPlant(cloudUrl, seed.tenant, seed.users);
    writeFileSync(secretsFile, JSON.stringify(logins, null, 2) + '\n', { mode: 0o600 });
  } else {
    logins = JSON.parse(readFileSync(secretsFile, 'utf8')) as typeof logins;
  }
  await start('edge', [...tsEntry('edge/src/cli.ts'), 'run', '--config', configFile], (l) =>
    l.includes('"event":"running"'),
  );
  const station = spawn(
    process.execPath,
    [
      ...tsEntry('firmware-sim/src/cli.ts'),
      'inspection-station',
      '--url',
      `mqtt://127.0.0.1:${PORTS.broker}`,
      '--username',
      'stn-01',
      '--site',
      'plant-1',
      '--asset',
      'STN-01',
      '--gauges',
      'GA-0101,GA-0102,GA-0103',
      '--every-seconds',
      '4',
      '--seed',
      '4',
    ],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RIGTRACE_MQTT_PASSWORD: STATION_PASSWORD },
    },
  );
  children.push(station);
  prefix('station', station.stderr, false);
  // Its events (a refused publish, an error reply, a lost connection) are the demo's log too.
  routeStationOutput(
    station.stdout,
    (text) => process.stdout.write(text),
    () => shuttingDown,
  );
  station.once('exit', (code, signal) => {
    if (!shuttingDown) process.stdout.write(`[station] exited with ${signal ?? `code ${code}`}\n`);
  });
  const edgeId = (JSON.parse(readFileSync(path.join(edgeDir, 'identity.json'), 'utf8')) as { edgeId: string })
    .edgeId;

  const auth = `-H 'Authorization: Bearer ${logins.apiToken}'`;
  process.stdout.write(`
RigTrace demo is running (data in ${path.relative(process.cwd(), demoDir) || demoDir}/)

  Cloud API        ${cloudUrl}/api/v1
  Edge status      http://127.0.0.1:${PORTS.edgeStatus}/status   (Prometheus: /metrics)
  Flow rigs        Modbus TCP 127.0.0.1:${PORTS.rig1} (RIG-01), 127.0.0.1:${PORTS.rig2} (RIG-02)
  Cal bench        OPC UA opc.tcp://127.0.0.1:${PORTS.bench}/rigtrace/bench (BENCH-01)
  Station          MQTT to the edge's broker 127.0.0.1:${PORTS.broker} (STN-01, user stn-01)
  Portal           ${cloudUrl}/   (tenant "${logins.tenant}")
${(logins.users ?? []).map((u) => `                   ${u.role.padEnd(11)} ${u.email}  password ${u.password}`).join('\n')}
  Demo tenant      ${logins.tenant}, site ${logins.site}, edge ${edgeId}
  Demo API token   ${logins.apiToken}   (read-only)

Try:
  curl -s ${auth} '${cloudUrl}/api/v1/records?kind=inspection&limit=5'
  curl -s ${auth} '${cloudUrl}/api/v1/records?kind=calibration&limit=5'
  curl -s ${auth} '${cloudUrl}/api/v1/edges/${edgeId}'
  curl -s ${auth} '${cloudUrl}/api/v1/edges/${edgeId}/evidence?seq=1,2,3'

Ctrl-C stops everything.
`);

  const tick = async () => {
    try {
      const [edge, cloud] = await Promise.all([
        fetch(`http://127.0.0.1:${PORTS.edgeStatus}/status`).then(
          (r) =>
            r.json() as Promise<{
              buffer: { size: number; unsent: number };
              sources: { id: string; up: boolean }[];
            }>,
        ),
        fetch(`${cloudUrl}/api/v1/edges/${edgeId}`, {
          headers: { authorization: `Bearer ${logins.apiToken}` },
        }).then((r) => r.json() as Promise<{ log: { size: number } }>),
      ]);
      const sources = edge.sources.map((s) => `${s.id} ${s.up ? 'up' : 'DOWN'}`).join(', ');
      process.stdout.write(
        `${new Date().toISOString().slice(11, 19)}  edge log ${edge.buffer.size} records, ${edge.buffer.unsent} unsent | cloud has ${cloud.log.size} | ${sources}\n`,
      );
    } catch (err) {
      process.stdout.write(`status unavailable: ${(err as Error).message}\n`);
    }
  };
  setInterval(() => void tick(), 5000);
  await tick();
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed to start: ${(err as Error).message}\n`);
  shutdown();
  process.exitCode = 1;
});
