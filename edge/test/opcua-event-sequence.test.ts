import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DataType, OPCUAServer, Variant, nodesets, type UAObject, type UAObjectType } from 'node-opcua';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor, type Proc } from '@rigtrace/protocols/testing';
import { edgeStatus, loggedRecords, startEdge, writeIdentity } from './helpers/edge-fixture.js';

/**
 * An OPC UA event trigger with a `sequence`, no handshake. A calibrator nobody here designed, as
 * a plain node-opcua server, numbers its results (`Sequence` in a custom `ResultReadyEventType`)
 * and announces a result again now and then, each time with a new EventId. Each result must give
 * one record however often it is announced, and results announced while the edge was stopped
 * must give a signed RESULTS_MISSED event naming how many.
 */

type Logged = {
  kind: string;
  body: {
    certificate?: { number: string };
    points?: { asFound: number }[];
    code?: string;
    details?: Record<string, unknown>;
  };
};

describe('OPC UA event trigger with a sequence', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-ua-evseq-'));
  const dataDir = path.join(dir, 'edge');
  let server: OPCUAServer;
  let edge: Proc | undefined;
  let resultType: UAObjectType;
  let device: UAObject;
  let asFound = 0;
  let endpointUrl = '';

  const config = () => ({
    version: 1,
    edge: { dataDir, name: 'edge-evseq' },
    cloud: { url: 'http://127.0.0.1:9' },
    buffer: { commitIntervalMs: 5 },
    log: { level: 'warn' },
    sources: [
      {
        id: 'calibrator',
        protocol: 'opcua',
        equipment: 'CALIBRATOR-7',
        endpointUrl,
        publishingIntervalMs: 100,
        items: [{ name: 'asFound', nodeId: 'ns=1;s=Dev.AsFound' }],
        telemetry: { everyMs: 60_000 },
        records: [
          {
            kind: 'calibration',
            trigger: {
              event: {
                type: resultType.nodeId.toString(),
                select: ['1:Sequence'],
                sequence: '=event.Sequence',
              },
            },
            read: { found: 'ns=1;s=Dev.AsFound' },
            fields: {
              equipment: 'PT-201',
              certificate: '=event.Sequence',
              points: [{ name: 'p@10bar', nominal: 10, unit: 'bar', asFound: '=found', tolerance: 0.5 }],
            },
          },
        ],
      },
    ],
  });

  beforeAll(async () => {
    server = new OPCUAServer({ port: 0, nodeset_filename: [nodesets.standard] });
    await server.initialize();
    const addressSpace = server.engine.addressSpace!;
    const ns = addressSpace.getOwnNamespace();
    resultType = ns.addEventType({ browseName: 'ResultReadyEventType', subtypeOf: 'BaseEventType' });
    ns.addVariable({
      propertyOf: resultType,
      browseName: 'Sequence',
      dataType: 'UInt32',
      modellingRule: 'Mandatory',
    });
    device = ns.addObject({
      organizedBy: addressSpace.rootFolder.objects,
      browseName: 'Dev',
      nodeId: 's=Dev',
      eventSourceOf: addressSpace.rootFolder.objects.server,
      eventNotifier: 1,
    });
    ns.addVariable({
      componentOf: device,
      browseName: 'AsFound',
      nodeId: 's=Dev.AsFound',
      dataType: 'Double',
      value: { get: () => new Variant({ dataType: DataType.Double, value: asFound }) },
    });
    await server.start();
    endpointUrl = `opc.tcp://127.0.0.1:${server.endpoints[0]!.port}`;
    writeIdentity(dataDir);
  }, 60_000);

  afterAll(async () => {
    await edge?.stop('SIGKILL');
    await server?.shutdown();
  });

  /** The device announces result n (raiseEvent gives each announcement a new EventId). */
  const announce = (n: number) => {
    asFound = 10 + n / 100;
    device.raiseEvent(resultType, { sequence: { dataType: DataType.UInt32, value: n } });
  };
  const calibrations = async () =>
    (await loggedRecords<Logged>(dataDir)).filter((r) => r.kind === 'calibration');
  const waitCalibrations = (n: number) =>
    waitFor(async () => ((await calibrations()).length >= n ? true : undefined), 30_000, `${n} calibrations`);
  const up = () =>
    waitFor(
      async () => {
        const s = (await edgeStatus(dataDir)).sources[0];
        return s?.up && s.details?.eventsMonitored === 1 ? true : undefined;
      },
      30_000,
      'the source up, subscribed to the events',
    );

  it('a result announced again with a new EventId gives one record; results announced while stopped give RESULTS_MISSED', async () => {
    edge = await startEdge(path.join(dir, 'edge.yaml'), config());
    await up();
    announce(1);
    await waitCalibrations(1);
    announce(1); // again, a new EventId
    announce(2);
    await waitCalibrations(2);

    await edge.stop('SIGTERM');
    announce(3); // while the edge is stopped
    announce(4);
    edge = await startEdge(path.join(dir, 'edge.yaml'), config());
    await up();
    announce(4); // the last one announced again: now it is seen
    announce(5);
    await waitCalibrations(4);
    await new Promise((r) => setTimeout(r, 500));
    await edge.stop('SIGTERM');
    edge = undefined;

    const records = await loggedRecords<Logged>(dataDir);
    const cals = records.filter((r) => r.kind === 'calibration');
    expect(cals.map((r) => r.body.certificate?.number)).toEqual(['1', '2', '4', '5']);
    const missed = records.filter((r) => r.body.code === 'RESULTS_MISSED');
    expect(missed).toHaveLength(1);
    expect(missed[0]!.body.details).toMatchObject({ trigger: 'event.Sequence', from: 2, to: 4, missed: 1 });
    // The gap event comes just before the result that showed it.
    const i = records.indexOf(missed[0]!);
    expect(records[i + 1]!.body.certificate?.number).toBe('4');
  }, 90_000);
});
