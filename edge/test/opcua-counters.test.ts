import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DataType, DataValue, OPCUAServer, StatusCodes, Variant, nodesets } from 'node-opcua';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor, type Proc } from '@rigtrace/protocols/testing';
import { edgeStatus, loggedRecords, startEdge, writeIdentity } from './helpers/edge-fixture.js';

type Mode = 'good' | 'slow' | 'bad';

/**
 * A gauge station nobody here designed, as a plain node-opcua server: a result counter
 * (`ns=1;s=Station.Done`) and the result's reading (`ns=1;s=Station.Reading`), which the station
 * answers slowly (after 3 s) or with BadSensorFailure when told to. The edge's per-source
 * counters must say so: a Read without an answer in time is a timeout, a node answered Bad an
 * exception, both in /status and /metrics; nothing is counted while the station answers well.
 */
describe('OPC UA source counters: timeouts and Bad answers', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-ua-counters-'));
  const dataDir = path.join(dir, 'edge');
  let server: OPCUAServer;
  let edge: Proc;
  let mode: Mode = 'good';
  let done = 0;

  const metric = async (name: string): Promise<number> => {
    const { url } = JSON.parse(readFileSync(path.join(dataDir, 'status.json'), 'utf8')) as { url: string };
    const text = await (await fetch(`${url}/metrics`)).text();
    const m = new RegExp(
      `^rigtrace_edge_source_${name}_total\\{[^}]*source="station"[^}]*\\} (\\d+)$`,
      'm',
    ).exec(text);
    return m ? Number(m[1]) : NaN;
  };
  const counters = async () =>
    (await edgeStatus(dataDir)).sources[0].counters as Record<string, number> & {
      timeouts: number;
      exceptions: number;
    };

  beforeAll(async () => {
    server = new OPCUAServer({ port: 0, nodeset_filename: [nodesets.standard] });
    await server.initialize();
    const ns = server.engine.addressSpace!.getOwnNamespace();
    const folder = ns.addFolder(server.engine.addressSpace!.rootFolder.objects, { browseName: 'Station' });
    ns.addVariable({
      componentOf: folder,
      browseName: 'Done',
      nodeId: 's=Station.Done',
      dataType: 'UInt32',
      minimumSamplingInterval: 50,
      value: { get: () => new Variant({ dataType: DataType.UInt32, value: done }) },
    });
    ns.addVariable({
      componentOf: folder,
      browseName: 'Reading',
      nodeId: 's=Station.Reading',
      dataType: 'Double',
      value: {
        refreshFunc: (cb: (err: Error | null, dv?: DataValue) => void) => {
          const answer = () =>
            cb(
              null,
              mode === 'bad'
                ? new DataValue({ statusCode: StatusCodes.BadSensorFailure, sourceTimestamp: new Date() })
                : new DataValue({
                    value: new Variant({ dataType: DataType.Double, value: 100 + done / 10 }),
                    sourceTimestamp: new Date(),
                  }),
            );
          if (mode === 'slow') setTimeout(answer, 12_000);
          else answer();
        },
      },
    });
    await server.start();
    const endpointUrl = `opc.tcp://127.0.0.1:${server.endpoints[0]!.port}`;
    writeIdentity(dataDir);
    edge = await startEdge(path.join(dir, 'edge.yaml'), {
      version: 1,
      edge: { dataDir },
      cloud: { url: 'http://127.0.0.1:9' },
      buffer: { commitIntervalMs: 5 },
      log: { level: 'warn' },
      sources: [
        {
          id: 'station',
          protocol: 'opcua',
          equipment: 'GAUGE-STN-9',
          endpointUrl,
          publishingIntervalMs: 100,
          // Generous, so that a loaded machine does not turn a good answer into a timeout; the slow
          // answer above comes well after it.
          timeoutMs: 3000,
          items: [{ name: 'done', nodeId: 'ns=1;s=Station.Done', samplingIntervalMs: 50 }],
          records: [
            {
              kind: 'calibration',
              trigger: { counter: 'done' },
              read: { reading: 'ns=1;s=Station.Reading' },
              fields: {
                points: [{ name: 'p', nominal: 100, unit: 'bar', asFound: '=reading', tolerance: 1 }],
              },
            },
          ],
        },
      ],
    });
  }, 90_000);

  afterAll(async () => {
    await edge?.stop();
    await server?.shutdown();
  });

  const calibrations = async () =>
    (await loggedRecords<{ kind: string; body: any }>(dataDir)).filter((r) => r.kind === 'calibration');

  it('counts nothing while the station answers well', async () => {
    await waitFor(async () => ((await edgeStatus(dataDir)).sources[0]?.up ? true : undefined), 30_000, 'up');
    // Counted from here: connecting on a heavily loaded machine may itself take longer than the
    // timeout, which is rightly counted, and is not what this case is about.
    const before = await counters();
    done = 1;
    await waitFor(async () => ((await calibrations()).length === 1 ? true : undefined), 20_000, 'a record');
    expect((await calibrations())[0]!.body.points[0].asFound).toBe(100.1);
    expect(await counters()).toMatchObject({ timeouts: before.timeouts, exceptions: 0 });
    expect(await metric('timeouts')).toBe(before.timeouts);
    expect(await metric('exceptions')).toBe(0);
  }, 60_000);

  it('a Read answered after the timeout is counted as a timeout, and the result is taken once it answers', async () => {
    mode = 'slow';
    done = 2;
    await waitFor(async () => ((await counters()).timeouts >= 1 ? true : undefined), 20_000, 'a timeout');
    expect(await metric('timeouts')).toBeGreaterThanOrEqual(1);
    expect((await counters()).exceptions).toBe(0);
    mode = 'good';
    await waitFor(async () => ((await calibrations()).length === 2 ? true : undefined), 30_000, 'the result');
    expect((await calibrations())[1]!.body.points[0].asFound).toBe(100.2);
  }, 60_000);

  it('a node answered with a Bad status is counted as an exception, and the result is an event naming it', async () => {
    const before = await counters();
    mode = 'bad';
    done = 3;
    await waitFor(
      async () => ((await counters()).exceptions >= 1 ? true : undefined),
      20_000,
      'an exception',
    );
    expect(await metric('exceptions')).toBe((await counters()).exceptions);
    expect((await counters()).timeouts).toBe(before.timeouts);
    const notMapped = await waitFor(
      async () =>
        (await loggedRecords<{ kind: string; body: any }>(dataDir)).find(
          (r) => r.kind === 'event' && r.body.code === 'RESULT_NOT_MAPPED',
        ),
      10_000,
      'RESULT_NOT_MAPPED',
    );
    expect(notMapped.body.message).toMatch(/reading has status BadSensorFailure/);
  }, 60_000);
});
