import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor, type Proc } from '@rigtrace/protocols/testing';
import { loggedRecords, startEdge, startFlowRigProcess, writeIdentity } from './helpers/edge-fixture.js';

/**
 * A Modbus source's `usage` mapping: the flow-rig simulator on Modbus TCP, a real edge, and the
 * usage records in the edge's signed log (start with who and what, stop with the cycles counted).
 */

type Usage = {
  kind: 'usage';
  equipment: string;
  body: {
    event: 'start' | 'stop';
    cycles?: number;
    durationS?: number;
    operator?: string;
    workOrder?: string;
    partSerial?: string;
  };
};

const procs: Proc[] = [];
afterEach(async () => {
  for (const p of procs.splice(0).reverse()) await p.stop('SIGKILL');
});

describe('Modbus usage mapping', () => {
  it('gives start and stop records with the rig’s operator, work order, part serial and cycles', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-modbus-usage-'));
    const dataDir = path.join(dir, 'edge');
    writeIdentity(dataDir);
    const { proc: rig, port } = await startFlowRigProcess(
      '--asset RIG-01 --test-seconds 1 --seed 7'.split(' '),
    );
    procs.push(rig);
    const edge = await startEdge(path.join(dir, 'edge.yaml'), {
      version: 1,
      edge: { name: 'usage-test', dataDir },
      cloud: { url: 'http://127.0.0.1:9' },
      log: { level: 'warn' },
      sources: [
        {
          id: 'rig',
          protocol: 'modbus',
          equipment: 'RIG-01',
          host: '127.0.0.1',
          port,
          intervalMs: 100,
          telemetry: { everyMs: 60_000 },
          // The demo's register map of the rig, in another order than the addresses.
          points: [
            { name: 'operator', address: 38, type: 'string', length: 4 },
            { name: 'railPressure', address: 4, type: 'float32' },
            { name: 'partSerial', address: 20, type: 'string', length: 10 },
            { name: 'state', address: 0, type: 'uint16' },
            { name: 'workOrder', address: 30, type: 'string', length: 8 },
            { name: 'cycleCount', address: 2, type: 'uint32' },
          ],
          usage: {
            state: 'state',
            runningValues: [1],
            cycles: 'cycleCount',
            operator: 'operator',
            workOrder: 'workOrder',
            partSerial: 'partSerial',
            stopAfterIdleS: 0,
          },
        },
      ],
    });
    procs.push(edge);
    const usage = async () =>
      (await loggedRecords<Usage | { kind: string }>(dataDir)).filter((r): r is Usage => r.kind === 'usage');
    await waitFor(
      async () => (await usage()).filter((r) => r.body.event === 'stop').length >= 2,
      30_000,
      'two usage stop records',
    );
    const records = await usage();
    // Every record in the log passed the record format (loggedRecords checks each one).
    expect(records.every((r) => r.equipment === 'RIG-01')).toBe(true);
    const [start, stop] = [records[0]!, records[1]!];
    expect(start.body).toEqual({
      event: 'start',
      operator: expect.stringMatching(/^OP-\d{4}$/),
      workOrder: expect.stringMatching(/^WO-\d+$/),
      partSerial: expect.stringMatching(/^\S+$/),
    });
    // The stop names who and what the start named, and counts the injectors tested meanwhile.
    expect(stop.body).toEqual({
      event: 'stop',
      durationS: expect.any(Number),
      cycles: expect.any(Number),
      operator: start.body.operator,
      workOrder: start.body.workOrder,
      partSerial: start.body.partSerial,
    });
    expect(stop.body.cycles).toBeGreaterThanOrEqual(1);
    expect(records.map((r) => r.body.event).slice(0, 4)).toEqual(['start', 'stop', 'start', 'stop']);
  }, 60_000);
});
