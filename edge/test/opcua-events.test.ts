import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DataType, OPCUAServer, Variant, nodesets, type UAObject, type UAObjectType } from 'node-opcua';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTcpProxy, waitFor, type Proc, type TcpProxy } from '@rigtrace/protocols/testing';
import { edgeStatus, loggedRecords, startEdge, writeIdentity } from './helpers/edge-fixture.js';

/**
 * An OPC UA event trigger. A calibrator nobody here designed, as a plain node-opcua server: each
 * instrument (PT101, PT102) keeps its last result in plain variables (`AsFound`, `AsLeft`) and
 * raises a `CalibrationCompletedEventType` event (a custom type with a `CertificateId` field)
 * when a calibration is complete; it also raises `MaintenanceDoneEventType` events. The edge
 * subscribes to the Server object's events (the default node) of the calibration type from
 * PT101 only (a where-clause on SourceName): each such event must give exactly one calibration
 * record, its values read from the variables and its certificate from the event, in order,
 * across an edge restart and a network cut (a TCP proxy between edge and server drops every
 * connection for a while: the server keeps the events meanwhile); events of the other type, or
 * from PT102, give none.
 */

type Logged = {
  kind: string;
  equipment: string;
  body: {
    certificate?: { number: string };
    points?: { asFound: number; asLeft?: number }[];
    procedure?: { id: string };
    calibratedAt?: string;
    code?: string;
  };
};

describe('OPC UA event trigger', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-ua-events-'));
  const dataDir = path.join(dir, 'edge');
  let server: OPCUAServer;
  let edge: Proc | undefined;
  let proxy: TcpProxy | undefined;
  let calibrationType: UAObjectType;
  let maintenanceType: UAObjectType;
  const instruments: Record<string, { obj: UAObject; asFound: number; asLeft: number }> = {};

  const config = (endpointUrl: string) => ({
    version: 1,
    edge: { dataDir, name: 'edge-events' },
    cloud: { url: 'http://127.0.0.1:9' },
    buffer: { commitIntervalMs: 5 },
    log: { level: 'warn' },
    sources: [
      {
        id: 'calibrator',
        protocol: 'opcua',
        equipment: 'CALIBRATOR-3',
        endpointUrl,
        publishingIntervalMs: 100,
        items: [{ name: 'asFound', nodeId: 'ns=1;s=PT101.AsFound' }],
        telemetry: { everyMs: 60_000 },
        records: [
          {
            kind: 'calibration',
            trigger: {
              event: {
                type: calibrationType.nodeId.toString(),
                where: { field: 'SourceName', equals: 'PT101' },
                select: ['1:CertificateId'],
              },
            },
            read: { found: 'ns=1;s=PT101.AsFound', left: 'ns=1;s=PT101.AsLeft' },
            fields: {
              equipment: 'PT-101',
              certificate: '=event.CertificateId',
              procedure: '=event.Message',
              points: [
                {
                  name: 'pressure@100bar',
                  nominal: 100,
                  unit: 'bar',
                  asFound: '=found',
                  asLeft: '=left',
                  tolerance: 0.5,
                },
              ],
            },
          },
        ],
      },
    ],
  });

  let endpointUrl = '';

  beforeAll(async () => {
    server = new OPCUAServer({ port: 0, nodeset_filename: [nodesets.standard] });
    await server.initialize();
    const addressSpace = server.engine.addressSpace!;
    const ns = addressSpace.getOwnNamespace();
    calibrationType = ns.addEventType({
      browseName: 'CalibrationCompletedEventType',
      subtypeOf: 'BaseEventType',
    });
    ns.addVariable({
      propertyOf: calibrationType,
      browseName: 'CertificateId',
      dataType: 'String',
      modellingRule: 'Mandatory',
    });
    maintenanceType = ns.addEventType({ browseName: 'MaintenanceDoneEventType', subtypeOf: 'BaseEventType' });
    for (const tag of ['PT101', 'PT102']) {
      const obj = ns.addObject({
        organizedBy: addressSpace.rootFolder.objects,
        browseName: tag,
        nodeId: `s=${tag}`,
        eventSourceOf: addressSpace.rootFolder.objects.server,
        eventNotifier: 1,
      });
      const state = { obj, asFound: 0, asLeft: 0 };
      instruments[tag] = state;
      for (const v of ['AsFound', 'AsLeft'] as const)
        ns.addVariable({
          componentOf: obj,
          browseName: v,
          nodeId: `s=${tag}.${v}`,
          dataType: 'Double',
          value: {
            get: () =>
              new Variant({
                dataType: DataType.Double,
                value: v === 'AsFound' ? state.asFound : state.asLeft,
              }),
          },
        });
    }
    await server.start();
    proxy = await startTcpProxy(server.endpoints[0]!.port);
    endpointUrl = `opc.tcp://127.0.0.1:${proxy.port}`;
    writeIdentity(dataDir);
  }, 60_000);

  afterAll(async () => {
    await edge?.stop('SIGKILL');
    await proxy?.close();
    await server?.shutdown();
  });

  /** A calibration completes on the instrument: its values in the variables, then the event. */
  const complete = (tag: string, n: number, opts: { setValues?: boolean } = {}) => {
    const i = instruments[tag]!;
    if (opts.setValues !== false) {
      i.asFound = 100 + n / 100;
      i.asLeft = 100 + n / 1000;
    }
    i.obj.raiseEvent(calibrationType, {
      message: { dataType: DataType.LocalizedText, value: { text: `PROC-${n}` } },
      severity: { dataType: DataType.UInt16, value: 300 },
      certificateId: { dataType: DataType.String, value: `${tag}-C${n}` },
    });
  };
  const maintenance = (tag: string) =>
    instruments[tag]!.obj.raiseEvent(maintenanceType, {
      message: { dataType: DataType.LocalizedText, value: { text: 'filter changed' } },
    });

  const calibrations = async () =>
    (await loggedRecords<Logged>(dataDir)).filter((r) => r.kind === 'calibration');
  const waitCalibrations = (n: number) =>
    waitFor(async () => ((await calibrations()).length >= n ? true : undefined), 30_000, `${n} calibrations`);
  /** The source up, with its event subscription in place on the server. */
  const up = () =>
    waitFor(
      async () => {
        const s = (await edgeStatus(dataDir)).sources[0];
        return s?.up && s.details?.eventsMonitored === 1 ? true : undefined;
      },
      30_000,
      'the source up, subscribed to the events',
    );

  it('each event of the type from the instrument gives one record, exactly once across a restart and a cut', async () => {
    edge = await startEdge(path.join(dir, 'edge.yaml'), config(endpointUrl));
    await up();

    for (let n = 1; n <= 3; n++) {
      maintenance('PT101');
      complete('PT102', n); // another instrument: not this mapping's
      complete('PT101', n);
      await waitCalibrations(n);
    }
    // Three at once, their values unchanged in the variables: each event is its own result.
    complete('PT101', 4, { setValues: false });
    complete('PT101', 5, { setValues: false });
    complete('PT101', 6, { setValues: false });
    await waitCalibrations(6);

    await edge.stop('SIGTERM');
    edge = await startEdge(path.join(dir, 'edge.yaml'), config(endpointUrl));
    await up();
    for (let n = 7; n <= 8; n++) {
      maintenance('PT101');
      complete('PT101', n);
      await waitCalibrations(n);
    }
    // The network is cut; two calibrations complete meanwhile (their values in the event only).
    const reconnects = (await edgeStatus(dataDir)).sources[0].counters?.reconnects ?? 0;
    proxy!.outage(4000);
    await waitFor(
      async () => ((await edgeStatus(dataDir)).sources[0]?.up ? undefined : true),
      20_000,
      'the source down',
    );
    complete('PT101', 9, { setValues: false });
    complete('PT101', 10, { setValues: false });
    await waitFor(
      async () => {
        const s = (await edgeStatus(dataDir)).sources[0];
        return s?.up && (s.counters?.reconnects ?? 0) > reconnects ? true : undefined;
      },
      60_000,
      'the source back',
    );
    await waitCalibrations(10);
    // Nothing more comes (no event taken twice, none from the other type or instrument).
    maintenance('PT101');
    complete('PT102', 11);
    await new Promise((r) => setTimeout(r, 1500));
    await edge.stop('SIGTERM');
    edge = undefined;

    const records = await loggedRecords<Logged>(dataDir);
    const cals = records.filter((r) => r.kind === 'calibration');
    const all = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(cals.map((r) => r.body.certificate?.number)).toEqual(all.map((n) => `PT101-C${n}`));
    expect(cals.map((r) => r.body.procedure?.id)).toEqual(all.map((n) => `PROC-${n}`));
    // Values read from the variables when the event arrived (4..6 kept those of 3, 9 and 10 of 8).
    expect(cals.map((r) => r.body.points?.[0]?.asFound)).toEqual(
      [1, 2, 3, 3, 3, 3, 7, 8, 8, 8].map((n) => 100 + n / 100),
    );
    expect(cals.every((r) => r.equipment === 'PT-101')).toBe(true);
    expect(records.filter((r) => r.body.code === 'RESULT_NOT_MAPPED')).toEqual([]);
  }, 150_000);
});
