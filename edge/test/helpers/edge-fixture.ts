import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generateKeyPair, parseRecord } from '@rigtrace/protocols';
import { startProcess, type Proc } from '@rigtrace/protocols/testing';
import { SqliteConnection } from '../../src/buffer/sqlite.js';

/**
 * Writes an edge identity into `dataDir` as enrollment would (for tests that need an edge but
 * not a cloud), and returns its key pair.
 */
export function writeIdentity(dataDir: string, edgeId = 'edge-test') {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const keys = generateKeyPair();
  writeFileSync(path.join(dataDir, 'edge-key.pem'), keys.privateKeyPem, { mode: 0o600 });
  chmodSync(path.join(dataDir, 'edge-key.pem'), 0o600);
  writeFileSync(
    path.join(dataDir, 'identity.json'),
    JSON.stringify({
      edgeId,
      tenantId: 't',
      siteId: 's',
      cloudUrl: 'http://127.0.0.1:9',
      enrolledAt: new Date().toISOString(),
    }),
  );
  return keys;
}

/**
 * Starts `rigtrace-edge run` on a config object (written as JSON, which is YAML). An OPC UA source
 * makes the edge's client certificate on its first start (an RSA key), which on a loaded machine
 * takes well over 20 s: the default wait leaves room for it.
 */
export async function startEdge(configFile: string, config: object, timeoutMs = 60_000): Promise<Proc> {
  writeFileSync(configFile, JSON.stringify(config));
  return startProcess(
    'edge/src/cli.ts',
    ['run', '--config', configFile],
    (l) => l.includes('"event":"running"'),
    timeoutMs,
  );
}

/**
 * Starts the simulated injector flow rig (`rigtrace-sim flow-rig`) as its own process on a free
 * port, with `args` after the port; returns the process and its Modbus TCP port.
 */
export async function startFlowRigProcess(args: readonly string[]): Promise<{ proc: Proc; port: number }> {
  const proc = await startProcess('firmware-sim/src/cli.ts', ['flow-rig', '--port', '0', ...args], (l) =>
    l.includes('"event":"listening"'),
  );
  return { proc, port: (JSON.parse(proc.readyLine) as { port: number }).port };
}

/** The running edge's /status. */
export async function edgeStatus(dataDir: string): Promise<any> {
  const url = (JSON.parse(readFileSync(path.join(dataDir, 'status.json'), 'utf8')) as { url: string }).url;
  return (await fetch(`${url}/status`)).json();
}

/** Every record in the edge's log, oldest first, each checked against the record format. */
export async function loggedRecords<T>(dataDir: string): Promise<T[]> {
  const db = await SqliteConnection.open(path.join(dataDir, 'buffer.sqlite'));
  try {
    return (await db.all<{ json: string }>('SELECT json FROM records ORDER BY seq')).map((r) => {
      const rec = JSON.parse(r.json) as unknown;
      const p = parseRecord(rec);
      if (!p.ok) throw new Error(`invalid record in the log: ${JSON.stringify(p.issues)}`);
      return rec as T;
    });
  } finally {
    await db.close();
  }
}
