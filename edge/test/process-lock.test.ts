import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawModbusServer, runCli, waitFor, type Proc } from '@rigtrace/protocols/testing';
import { edgeStatus, startEdge, writeIdentity } from './helpers/edge-fixture.js';

/**
 * The agent process: one agent per data directory (a second one is refused with a clear message,
 * before it touches the buffer), and SIGTERM done within 5 s while the cloud hangs on a batch.
 */
describe('edge agent process', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-proc-'));
  const dataDir = path.join(dir, 'edge');
  const configFile = path.join(dir, 'edge.yaml');
  let rig: RawModbusServer;
  let cloud: http.Server;
  let requests = 0;
  let edge: Proc;
  let config: object;

  beforeAll(async () => {
    // a device that always answers, so records keep coming
    rig = await RawModbusServer.start((sock, r) => {
      const b = Buffer.alloc(9 + r.count * 2);
      b.writeUInt16BE(r.tid, 0);
      b.writeUInt16BE(3 + r.count * 2, 4);
      b.writeUInt8(r.unit, 6);
      b.writeUInt8(r.fc, 7);
      b.writeUInt8(r.count * 2, 8);
      sock.write(b);
    });
    // a cloud that takes the batch and never answers
    cloud = http.createServer(() => {
      requests++;
    });
    await new Promise<void>((resolve) => cloud.listen(0, '127.0.0.1', resolve));
    writeIdentity(dataDir);
    config = {
      version: 1,
      edge: { dataDir },
      cloud: { url: `http://127.0.0.1:${(cloud.address() as AddressInfo).port}`, timeoutMs: 60_000 },
      buffer: { commitIntervalMs: 5 },
      sources: [
        {
          id: 'rig',
          protocol: 'modbus',
          equipment: 'RIG-01',
          host: '127.0.0.1',
          port: rig.port,
          intervalMs: 100,
          telemetry: { everyMs: 100 },
          points: [{ name: 'p', address: 0, type: 'uint16' }],
        },
      ],
    };
    edge = await startEdge(configFile, config);
  }, 30_000);

  afterAll(async () => {
    await edge?.stop('SIGKILL');
    cloud?.closeAllConnections();
    cloud?.close();
    await rig?.close();
  });

  it('a second agent on the same dataDir refuses to start, naming the running one', async () => {
    const other = path.join(dir, 'other.yaml');
    writeFileSync(other, JSON.stringify({ ...config, status: { port: 0 } }));
    const r = runCli('edge/src/cli.ts', ['run', '--config', other]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      `another rigtrace-edge agent (pid ${edge.child.pid}) is running on ${dataDir}`,
    );
    // the first one is untouched
    expect((await edgeStatus(dataDir)).sources[0].id).toBe('rig');
  }, 40_000);

  it('SIGTERM while the cloud hangs on a batch: exits within 5 s', async () => {
    await waitFor(() => Promise.resolve(requests > 0), 10_000, 'a batch in flight');
    const t0 = performance.now();
    const code = await edge.stop('SIGTERM');
    const took = performance.now() - t0;
    expect(took).toBeLessThan(5000);
    expect(code).toBe(0);
  }, 70_000);

  it('after the agent is gone, another can start on the same dataDir', async () => {
    edge = await startEdge(configFile, config);
    expect((await edgeStatus(dataDir)).sources[0].id).toBe('rig');
  }, 30_000);
});
