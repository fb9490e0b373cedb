import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  DataType,
  OPCUAServer,
  StatusCodes,
  Variant,
  nodesets,
  type AddressSpace,
  type UAObject,
  type UAObjectType,
} from 'node-opcua';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTcpProxy, waitFor, type Proc, type TcpProxy } from '@rigtrace/protocols/testing';
import { edgeStatus, loggedRecords, startEdge, writeIdentity } from './helpers/edge-fixture.js';

/**
 * An OPC UA event trigger with a handshake, against a station nobody here designed (a plain
 * node-opcua server, in this process): it announces each completed result with a
 * `ResultReadyEventType` event (a custom type with `Sequence`, `Certificate` and `AsFound`
 * fields; `AsLeft` is only in a variable, read as the result block) and holds the next result
 * until the edge writes the result's `Sequence` to `Station.Ack`. While a result is held it
 * announces it again every second, with the same EventId.
 *
 * Each result must give exactly one record, acknowledged only once it is durable, across an edge
 * kill -9 as the acknowledge arrives (the record is there, the acknowledge lost: the edge
 * acknowledges the announcement again after its restart, no second record), a kill -9 while the
 * result block is read (no record yet: taken after the restart), and a network cut as the
 * acknowledge arrives, with results completed during the cut.
 */

type Logged = {
  kind: string;
  body: { certificate?: { number: string }; points?: { asFound: number; asLeft?: number }[]; code?: string };
};

interface Result {
  seq: number;
  eventId: Buffer;
}

describe('OPC UA event trigger with a handshake', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-ua-event-ack-'));
  const dataDir = path.join(dir, 'edge');
  const configFile = path.join(dir, 'edge.yaml');
  let server: OPCUAServer;
  let proxy: TcpProxy;
  let edge: Proc | undefined;
  let resultType: UAObjectType;
  let station: UAObject;
  let addressSpace: AddressSpace;
  let announcer: NodeJS.Timeout | undefined;

  // The station: results waiting (the first is held until acknowledged), and what it saw.
  const queue: Result[] = [];
  const acked: number[] = [];
  /** Called as an acknowledge arrives; true: the station does not take it (it was lost). */
  let onAck: ((seq: number) => boolean) | undefined;
  /** Called as the result block is read. */
  let onBlockRead: ((seq: number) => void) | undefined;

  const asFound = (n: number) => 100 + n / 100;
  const asLeft = (n: number) => 100 + n / 1000;

  /** Raises the held result's event, with its own EventId (every announcement of it the same). */
  const announce = () => {
    const r = queue[0];
    if (!r) return;
    // The station's own EventId for this result (node-opcua makes a new one per event otherwise).
    const as = addressSpace as unknown as { generateEventId?: () => Variant };
    as.generateEventId = () => new Variant({ dataType: DataType.ByteString, value: r.eventId });
    try {
      station.raiseEvent(resultType, {
        message: { dataType: DataType.LocalizedText, value: { text: 'result ready' } },
        sequence: { dataType: DataType.UInt32, value: r.seq },
        certificate: { dataType: DataType.String, value: `C-${r.seq}` },
        asFound: { dataType: DataType.Double, value: asFound(r.seq) },
      });
    } finally {
      delete as.generateEventId; // the address space's own again
    }
  };
  let produced = 0;
  const produce = () => {
    produced += 1;
    queue.push({ seq: produced, eventId: Buffer.from(`result-${produced}-${Date.now()}`) });
    if (queue.length === 1) announce();
  };

  const config = () => ({
    version: 1,
    edge: { dataDir, name: 'edge-event-ack' },
    cloud: { url: 'http://127.0.0.1:9' },
    buffer: { commitIntervalMs: 5 },
    log: { level: 'warn' },
    sources: [
      {
        id: 'station',
        protocol: 'opcua',
        equipment: 'STATION-9',
        endpointUrl: `opc.tcp://127.0.0.1:${proxy.port}`,
        publishingIntervalMs: 100,
        items: [{ name: 'mode', nodeId: 'ns=1;s=Station.Mode' }],
        telemetry: { everyMs: 60_000 },
        records: [
          {
            kind: 'calibration',
            trigger: {
              event: {
                type: resultType.nodeId.toString(),
                node: 'ns=1;s=Station',
                select: ['1:Sequence', '1:Certificate', '1:AsFound'],
              },
            },
            read: { left: 'ns=1;s=Station.AsLeft' },
            handshake: { node: 'ns=1;s=Station.Ack', value: '=event.Sequence' },
            fields: {
              equipment: 'PT-201',
              certificate: '=event.Certificate',
              points: [
                {
                  name: 'pressure@100bar',
                  nominal: 100,
                  unit: 'bar',
                  asFound: '=event.AsFound',
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

  beforeAll(async () => {
    server = new OPCUAServer({ port: 0, nodeset_filename: [nodesets.standard] });
    await server.initialize();
    addressSpace = server.engine.addressSpace!;
    const ns = addressSpace.getOwnNamespace();
    resultType = ns.addEventType({ browseName: 'ResultReadyEventType', subtypeOf: 'BaseEventType' });
    for (const [name, dataType] of [
      ['Sequence', 'UInt32'],
      ['Certificate', 'String'],
      ['AsFound', 'Double'],
    ] as const)
      ns.addVariable({ propertyOf: resultType, browseName: name, dataType, modellingRule: 'Mandatory' });
    station = ns.addObject({
      organizedBy: addressSpace.rootFolder.objects,
      browseName: 'Station',
      nodeId: 's=Station',
      eventSourceOf: addressSpace.rootFolder.objects.server,
      eventNotifier: 1,
    });
    ns.addVariable({
      componentOf: station,
      browseName: 'Mode',
      nodeId: 's=Station.Mode',
      minimumSamplingInterval: 100,
      dataType: 'UInt16',
      value: { get: () => new Variant({ dataType: DataType.UInt16, value: 1 }) },
    });
    ns.addVariable({
      componentOf: station,
      browseName: 'AsLeft',
      nodeId: 's=Station.AsLeft',
      minimumSamplingInterval: 100,
      dataType: 'Double',
      value: {
        get: () => {
          const r = queue[0];
          if (r) onBlockRead?.(r.seq);
          return new Variant({ dataType: DataType.Double, value: r ? asLeft(r.seq) : 0 });
        },
      },
    });
    ns.addVariable({
      componentOf: station,
      browseName: 'Ack',
      nodeId: 's=Station.Ack',
      minimumSamplingInterval: 100,
      dataType: 'UInt32',
      accessLevel: 'CurrentRead | CurrentWrite',
      userAccessLevel: 'CurrentRead | CurrentWrite',
      value: {
        get: () => new Variant({ dataType: DataType.UInt32, value: acked.at(-1) ?? 0 }),
        set: (v: Variant) => {
          const seq = v.value as number;
          if (onAck?.(seq)) return StatusCodes.Good;
          // Only the held result's sequence acknowledges it (an acknowledge repeated is harmless).
          if (queue[0]?.seq === seq) {
            queue.shift();
            acked.push(seq);
            setImmediate(announce);
          }
          return StatusCodes.Good;
        },
      },
    });
    await server.start();
    announcer = setInterval(announce, 1000);
    proxy = await startTcpProxy(server.endpoints[0]!.port);
    writeIdentity(dataDir);
  }, 60_000);

  afterAll(async () => {
    clearInterval(announcer);
    await edge?.stop('SIGKILL');
    await proxy?.close();
    await server?.shutdown();
  });

  const certificates = async () =>
    (await loggedRecords<Logged>(dataDir))
      .filter((r) => r.kind === 'calibration')
      .map((r) => r.body.certificate?.number);
  const waitAcked = (n: number) =>
    waitFor(() => Promise.resolve(acked.length >= n || undefined), 30_000, `${n} results acknowledged`);
  const status = async () => (await edgeStatus(dataDir)).sources[0];
  /** The edge running, its source up and subscribed to the events. */
  const run = async () => {
    edge = await startEdge(configFile, config());
    await waitFor(
      async () => {
        const s = await status();
        return s?.up && s.details?.eventsMonitored === 1 ? true : undefined;
      },
      30_000,
      'the source up, subscribed to the events',
    );
  };
  /** Kills the edge at once (kill -9), from inside the station's handling of a request. */
  const killEdge = () => edge!.child.kill('SIGKILL');
  /** Waits for the edge to have been killed. */
  const killed = () =>
    waitFor(
      () => Promise.resolve(edge!.child.signalCode === 'SIGKILL' || undefined),
      30_000,
      'the edge killed',
    );

  it('each result exactly once, acknowledged after it is durable, across kill -9 and a network cut', async () => {
    await run();
    for (let n = 1; n <= 3; n++) produce();
    await waitAcked(3);

    // kill -9 as the acknowledge of 4 arrives: its record must already be durable.
    onAck = (seq) => {
      if (seq !== 4) return false;
      onAck = undefined;
      killEdge();
      return true;
    };
    produce();
    await killed();
    expect(await certificates()).toEqual(['C-1', 'C-2', 'C-3', 'C-4']);
    expect(acked).toEqual([1, 2, 3]);
    await run();
    // The station still holds 4 and announces it again: acknowledged again, not recorded again.
    await waitAcked(4);
    produce();
    await waitAcked(5);

    // kill -9 while the block of 6 is read: no record yet; taken once after the restart.
    onBlockRead = (seq) => {
      if (seq !== 6) return;
      onBlockRead = undefined;
      killEdge();
    };
    produce();
    await killed();
    expect(await certificates()).toEqual(['C-1', 'C-2', 'C-3', 'C-4', 'C-5']);
    await run();
    await waitAcked(6);

    // The network is cut as the acknowledge of 7 arrives (it is lost); 8 and 9 complete during the cut.
    const reconnects = (await status()).counters?.reconnects ?? 0;
    onAck = (seq) => {
      if (seq !== 7) return false;
      onAck = undefined;
      proxy.outage(3000);
      return true;
    };
    produce();
    await waitFor(async () => ((await status())?.up ? undefined : true), 20_000, 'the source down');
    produce();
    produce();
    await waitFor(
      async () => {
        const s = await status();
        return s?.up && (s.counters?.reconnects ?? 0) > reconnects ? true : undefined;
      },
      60_000,
      'the source back',
    );
    await waitAcked(9);
    await edge!.stop('SIGTERM');
    edge = undefined;

    const records = await loggedRecords<Logged>(dataDir);
    const cals = records.filter((r) => r.kind === 'calibration');
    const all = [1, 2, 3, 4, 5, 6, 7, 8, 9];
    expect(acked).toEqual(all);
    expect(cals.map((r) => r.body.certificate?.number)).toEqual(all.map((n) => `C-${n}`));
    expect(cals.map((r) => r.body.points?.[0])).toEqual(
      all.map((n) => expect.objectContaining({ asFound: asFound(n), asLeft: asLeft(n) })),
    );
    expect(records.filter((r) => r.body.code === 'RESULT_NOT_MAPPED')).toEqual([]);
  }, 200_000);
});
