import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DataType, OPCUAServer, StatusCodes, Variant, nodesets, type UAVariable } from 'node-opcua';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor, type Proc } from '@rigtrace/protocols/testing';
import { loggedRecords, startEdge, writeIdentity } from './helpers/edge-fixture.js';

interface Cart {
  server: OPCUAServer;
  endpointUrl: string;
  /** Completes one calibration: the block's values first, then the counter. */
  complete(torque: number, serial: string): void;
  done(): number;
}

/**
 * A torque-tool calibration cart nobody here designed, as a plain node-opcua server with numeric
 * node ids: `ns=1;i=5002` MeasuredTorque (Double, N·m), `ns=1;i=5003` ToolSerial (String),
 * `ns=1;i=5004` FinishedAt (DateTime) and `ns=1;i=5001` CalibrationsDone (Int32), set last. With
 * `history`, the server historizes each of them (HistoryRead, raw).
 */
async function startCart(history: boolean): Promise<Cart> {
  const server = new OPCUAServer({ port: 0, nodeset_filename: [nodesets.standard] });
  await server.initialize();
  const addressSpace = server.engine.addressSpace!;
  const ns = addressSpace.getOwnNamespace();
  const cart = ns.addObject({ organizedBy: addressSpace.rootFolder.objects, browseName: 'TorqueCart' });
  const variable = (id: number, browseName: string, dataType: DataType, value: unknown): UAVariable => {
    const v = ns.addVariable({
      componentOf: cart,
      browseName,
      nodeId: `i=${id}`,
      dataType: DataType[dataType],
      minimumSamplingInterval: 50,
    });
    v.setValueFromSource(
      new Variant({ dataType, value }),
      StatusCodes.Good,
      new Date(Date.now() - 3_600_000),
    );
    if (history) addressSpace.installHistoricalDataNode(v);
    return v;
  };
  const done = variable(5001, 'CalibrationsDone', DataType.Int32, 0);
  const torque = variable(5002, 'MeasuredTorque', DataType.Double, 0);
  const serial = variable(5003, 'ToolSerial', DataType.String, '');
  const finished = variable(5004, 'FinishedAt', DataType.DateTime, new Date(0));
  let n = 0;
  await server.start();
  return {
    server,
    endpointUrl: `opc.tcp://127.0.0.1:${server.endpoints[0]!.port}`,
    complete(t, s) {
      const now = new Date();
      torque.setValueFromSource(new Variant({ dataType: DataType.Double, value: t }), StatusCodes.Good, now);
      serial.setValueFromSource(new Variant({ dataType: DataType.String, value: s }), StatusCodes.Good, now);
      finished.setValueFromSource(
        new Variant({ dataType: DataType.DateTime, value: now }),
        StatusCodes.Good,
        now,
      );
      n += 1;
      done.setValueFromSource(new Variant({ dataType: DataType.Int32, value: n }), StatusCodes.Good, now);
    },
    done: () => n,
  };
}

const source = (id: string, equipment: string, endpointUrl: string) => ({
  id,
  protocol: 'opcua',
  equipment,
  endpointUrl,
  publishingIntervalMs: 100,
  timeoutMs: 3000,
  items: [{ name: 'done', nodeId: 'ns=1;i=5001', samplingIntervalMs: 50 }],
  records: [
    {
      kind: 'calibration',
      trigger: { counter: 'done' },
      read: { torque: 'ns=1;i=5002', serial: 'ns=1;i=5003', finished: 'ns=1;i=5004' },
      fields: {
        calibratedAt: '=finished',
        certificate: '=serial',
        points: [{ name: 'torque@50', nominal: 50, unit: 'N.m', asFound: '=torque', tolerance: 1 }],
      },
    },
  ],
});

interface Rec {
  kind: string;
  equipment: string;
  observedAt: string;
  source: { address?: string };
  body: any;
}

/**
 * Results completed while the edge was killed are read back from the server's history
 * (HistoryRead) and recorded with their own values and times, with no RESULTS_MISSED event; a
 * server that keeps no history still gives the RESULTS_MISSED event with the count.
 */
describe('OPC UA results missed while the edge was down, read from the server history', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-ua-history-'));
  const dataDir = path.join(dir, 'edge');
  let withHistory: Cart;
  let without: Cart;
  let edge: Proc | undefined;

  const config = () => ({
    version: 1,
    edge: { dataDir },
    cloud: { url: 'http://127.0.0.1:9' },
    buffer: { commitIntervalMs: 5 },
    log: { level: 'warn' },
    sources: [
      source('cart-h', 'TQ-CART-1', withHistory.endpointUrl),
      source('cart-n', 'TQ-CART-2', without.endpointUrl),
    ],
  });
  const records = () => loggedRecords<Rec>(dataDir);
  const cals = async (equipment: string) =>
    (await records()).filter((r) => r.kind === 'calibration' && r.equipment === equipment);

  beforeAll(async () => {
    [withHistory, without] = await Promise.all([startCart(true), startCart(false)]);
    writeIdentity(dataDir);
  }, 60_000);

  afterAll(async () => {
    await edge?.stop('SIGKILL');
    await Promise.all([withHistory?.server.shutdown(), without?.server.shutdown()]);
  });

  it('three results completed while the edge was killed: three records from the cart with history, a gap event from the one without', async () => {
    edge = await startEdge(path.join(dir, 'edge.yaml'), config());
    for (const cart of [withHistory, without]) cart.complete(50.2, 'TW-0001');
    await waitFor(
      async () =>
        (await cals('TQ-CART-1')).length === 1 && (await cals('TQ-CART-2')).length === 1 ? true : undefined,
      30_000,
      'the first result of each cart',
    );
    await edge.stop('SIGKILL');
    edge = undefined;
    const completed: { torque: number; serial: string; at: number }[] = [];
    for (const [i, t] of [49.4, 51.3, 50.05].entries()) {
      const serial = `TW-000${i + 2}`;
      completed.push({ torque: t, serial, at: Date.now() });
      for (const cart of [withHistory, without]) cart.complete(t, serial);
      await new Promise((r) => setTimeout(r, 150));
    }
    expect(withHistory.done()).toBe(4);
    edge = await startEdge(path.join(dir, 'edge.yaml'), config());

    const h = await waitFor(
      async () => {
        const c = await cals('TQ-CART-1');
        return c.length >= 4 ? c : undefined;
      },
      30_000,
      'the three results of the cart with history',
    );
    expect(h.map((c) => c.source.address)).toEqual(['done=1', 'done=2', 'done=3', 'done=4']);
    expect(h.map((c) => c.body.certificate.number)).toEqual(['TW-0001', 'TW-0002', 'TW-0003', 'TW-0004']);
    expect(h.map((c) => c.body.points[0].asFound)).toEqual([50.2, 49.4, 51.3, 50.05]);
    expect(h.map((c) => c.body.asFoundResult)).toEqual(['pass', 'pass', 'fail', 'pass']);
    // Each with the time the cart completed it, not the time the edge came back.
    h.slice(1).forEach((c, i) =>
      expect(Math.abs(Date.parse(c.observedAt) - completed[i]!.at)).toBeLessThan(100),
    );

    const n = await waitFor(
      async () => {
        const c = await cals('TQ-CART-2');
        return c.length >= 2 ? c : undefined;
      },
      30_000,
      'the latest result of the cart without history',
    );
    await new Promise((r) => setTimeout(r, 500));
    const all = await records();
    expect(n.map((c) => c.body.certificate.number)).toEqual(['TW-0001', 'TW-0004']);
    const gaps = all.filter((r) => r.kind === 'event' && r.body.code === 'RESULTS_MISSED');
    expect(gaps.map((g) => [g.equipment, g.body.details])).toEqual([
      ['TQ-CART-2', expect.objectContaining({ source: 'cart-n', from: 1, to: 4, missed: 2 })],
    ]);
    expect((await cals('TQ-CART-1')).length).toBe(4);
  }, 150_000);
});
