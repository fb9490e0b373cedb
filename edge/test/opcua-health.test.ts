import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DataType,
  DataValue,
  OPCUAServer,
  StatusCodes,
  Variant,
  nodesets,
  type StatusCode,
} from 'node-opcua';
import { waitFor, type Proc } from '@rigtrace/protocols/testing';
import { SqliteConnection } from '../src/buffer/sqlite.js';
import { edgeStatus, startEdge, writeIdentity } from './helpers/edge-fixture.js';

/**
 * Honest health for OPC UA: a server the edge is connected to, whose items give no Good value (one
 * reports BadSensorFailure, the other does not exist), is not up: /status, /metrics and an event
 * say so. When the value turns Good the source is up, lastError clears and an event says so.
 */
describe('OPC UA source health', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-opcua-health-'));
  const dataDir = path.join(dir, 'edge');
  let server: OPCUAServer;
  let edge: Proc;
  let status: StatusCode = StatusCodes.BadSensorFailure;
  let value = 0;

  const metrics = async (): Promise<string> => {
    const { url } = JSON.parse(readFileSync(path.join(dataDir, 'status.json'), 'utf8')) as { url: string };
    return (await fetch(`${url}/metrics`)).text();
  };
  const events = async () => {
    const db = await SqliteConnection.open(path.join(dataDir, 'buffer.sqlite'));
    try {
      return (
        await db.all<{ json: string }>("SELECT json FROM records WHERE kind = 'event' ORDER BY seq")
      ).map((r) => (JSON.parse(r.json) as { body: { code: string; message: string } }).body);
    } finally {
      await db.close();
    }
  };

  beforeAll(async () => {
    server = new OPCUAServer({ port: 0, nodeset_filename: [nodesets.standard] });
    await server.initialize();
    const ns = server.engine.addressSpace!.getOwnNamespace();
    ns.addVariable({
      organizedBy: server.engine.addressSpace!.rootFolder.objects,
      browseName: 'Pressure',
      nodeId: 's=Pressure',
      dataType: 'Double',
      minimumSamplingInterval: 50,
      value: {
        timestamped_get: () =>
          new DataValue({
            value: new Variant({ dataType: DataType.Double, value }),
            statusCode: status,
            sourceTimestamp: new Date(),
          }),
      },
    });
    await server.start();
    const port = server.endpoints[0]!.port;
    writeIdentity(dataDir);
    edge = await startEdge(path.join(dir, 'edge.yaml'), {
      version: 1,
      edge: { name: 'opcua-health', dataDir },
      cloud: { url: 'http://127.0.0.1:9' },
      buffer: { commitIntervalMs: 5 },
      sources: [
        {
          id: 'bench',
          protocol: 'opcua',
          equipment: 'BENCH-H',
          endpointUrl: `opc.tcp://127.0.0.1:${port}`,
          publishingIntervalMs: 100,
          items: [
            { name: 'pressure', nodeId: 'ns=1;s=Pressure', samplingIntervalMs: 50 },
            { name: 'missing', nodeId: 'ns=1;s=NoSuchNode' },
          ],
          telemetry: { everyMs: 200 },
        },
      ],
    });
  }, 90_000);

  afterAll(async () => {
    await edge?.stop();
    await server?.shutdown(0);
  });

  it('is not up while connected without one Good value, and up with lastError cleared once one comes', async () => {
    const down = await waitFor(
      async () => {
        const s = (await edgeStatus(dataDir)).sources[0];
        return s.details.connected && s.lastError?.includes('BadSensorFailure') && s;
      },
      30_000,
      'the source connected, reporting the bad status',
    );
    expect(down.up).toBe(false);
    expect(down.lastError).toMatch(/no item delivers a Good value \(.*pressure: BadSensorFailure/u);
    expect(await metrics()).toContain('rigtrace_edge_source_up{source="bench",protocol="opcua"} 0');
    const noGood = await waitFor(
      async () => (await events()).find((e) => e.code === 'SOURCE_NO_GOOD_READINGS'),
      10_000,
      'a SOURCE_NO_GOOD_READINGS event',
    );
    expect(noGood.message).toContain('pressure: BadSensorFailure');

    status = StatusCodes.Good;
    value = 42.5;
    const up = await waitFor(
      async () => {
        const s = (await edgeStatus(dataDir)).sources[0];
        return s.up && s;
      },
      10_000,
      'the source up on a Good value',
    );
    expect(up.lastError).toBeNull();
    expect(await metrics()).toContain('rigtrace_edge_source_up{source="bench",protocol="opcua"} 1');
    await waitFor(
      async () => (await events()).find((e) => e.code === 'SOURCE_READING'),
      10_000,
      'a SOURCE_READING event',
    );

    // Bad again: down again, with the reason.
    status = StatusCodes.BadCommunicationError;
    const again = await waitFor(
      async () => {
        const s = (await edgeStatus(dataDir)).sources[0];
        return !s.up && s;
      },
      10_000,
      'the source down on a bad status',
    );
    expect(again.lastError).toContain('pressure: BadCommunicationError');
  }, 90_000);
});
