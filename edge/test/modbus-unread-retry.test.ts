import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawModbusServer, waitFor, type Proc } from '@rigtrace/protocols/testing';
import { edgeStatus, loggedRecords, startEdge, writeIdentity } from './helpers/edge-fixture.js';

/**
 * A value the device did not give is not a value that does not fit. A small Modbus TCP device
 * (written for this test on a raw TCP listener) keeps its result counter at register 0, the part
 * serial at 100..104 and the measured quantity (float32) at 200..201; while `refusing`, every read
 * touching 200 is answered with exception 6 (server device busy), as a device that is still
 * writing its result block does. Two sources read it: one with the older `inspection:` block
 * (the values of the poll that shows the result) and one with a `records:` mapping that reads the
 * block when the counter moves. Each result refused for a while must still be recorded exactly
 * once with its own values (no RESULT_NOT_MAPPED); one the device moves past while refused is
 * counted as missed; a value read that is not a number (NaN) is RESULT_NOT_MAPPED at once.
 */

type Logged = {
  kind: string;
  equipment: string;
  body: {
    partSerial?: string;
    characteristics?: { name: string; measured: number }[];
    code?: string;
    message?: string;
    details?: Record<string, unknown>;
  };
};

const holding: Record<number, number> = {};
let refusing = false;
let refused = 0;

function setResult(n: number, serial: string, qty: number): void {
  const s = Buffer.alloc(10, ' ');
  s.write(serial, 'latin1');
  for (let i = 0; i < 5; i++) holding[100 + i] = s.readUInt16BE(i * 2);
  const f = Buffer.alloc(4);
  f.writeFloatBE(qty);
  holding[200] = f.readUInt16BE(0);
  holding[201] = f.readUInt16BE(2);
  holding[0] = n; // the block first, then the counter
}

function source(id: string, equipment: string, port: number, legacy: boolean) {
  const characteristic = { name: 'qty', lsl: 58, usl: 62, unit: 'mm3/stroke' };
  return {
    id,
    protocol: 'modbus',
    equipment,
    host: '127.0.0.1',
    port,
    intervalMs: 100,
    timeoutMs: 500,
    telemetry: { everyMs: 60_000 },
    ...(legacy
      ? {
          points: [
            { name: 'done', address: 0, type: 'uint16' },
            { name: 'serial', address: 100, type: 'string', length: 5 },
            { name: 'qty', address: 200, type: 'float32' },
          ],
          inspection: {
            trigger: 'done',
            partSerial: 'serial',
            testPlan: 'FLOW',
            characteristics: [{ ...characteristic, measured: 'qty' }],
          },
        }
      : {
          points: [{ name: 'done', address: 0, type: 'uint16' }],
          records: [
            {
              kind: 'inspection',
              trigger: { counter: 'done' },
              read: {
                serial: { address: 100, type: 'string', length: 5 },
                qty: { address: 200, type: 'float32' },
              },
              fields: {
                partSerial: '=serial',
                testPlan: 'FLOW',
                characteristics: [{ ...characteristic, measured: '=qty' }],
              },
            },
          ],
        }),
  };
}

describe('a result block value the device does not give at first', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-unread-'));
  const dataDir = path.join(dir, 'edge');
  let device: RawModbusServer;
  let edge: Proc;

  const logged = () => loggedRecords<Logged>(dataDir);
  const results = async (): Promise<number[]> => {
    const s = (await edgeStatus(dataDir)) as {
      sources: { details: { results?: { results: number; notMapped: number } } }[];
    };
    return s.sources.map((x) => (x.details.results?.results ?? 0) + (x.details.results?.notMapped ?? 0));
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  beforeAll(async () => {
    setResult(1, 'P1', 60.25);
    device = await RawModbusServer.start((sock, req) => {
      const header = (len: number) => {
        const b = Buffer.alloc(7 + len);
        b.writeUInt16BE(req.tid, 0);
        b.writeUInt16BE(0, 2);
        b.writeUInt16BE(1 + len, 4);
        b.writeUInt8(req.unit, 6);
        return b;
      };
      if (req.fc !== 3) {
        const b = header(2);
        b.writeUInt8(req.fc | 0x80, 7);
        b.writeUInt8(1, 8); // illegal function
        sock.write(b);
        return;
      }
      if (refusing && req.address <= 201 && req.address + req.count > 200) {
        refused++;
        const b = header(2);
        b.writeUInt8(0x83, 7);
        b.writeUInt8(6, 8); // server device busy
        sock.write(b);
        return;
      }
      const b = header(2 + req.count * 2);
      b.writeUInt8(3, 7);
      b.writeUInt8(req.count * 2, 8);
      for (let i = 0; i < req.count; i++) b.writeUInt16BE(holding[req.address + i] ?? 0, 9 + i * 2);
      sock.write(b);
    });
    writeIdentity(dataDir);
    edge = await startEdge(path.join(dir, 'edge.yaml'), {
      version: 1,
      edge: { dataDir, name: 'edge-unread' },
      cloud: { url: 'http://127.0.0.1:9' },
      log: { level: 'warn' },
      sources: [
        source('legacy', 'RIG-LEGACY', device.port, true),
        source('mapped', 'RIG-MAPPED', device.port, false),
      ],
    });
  }, 90_000);

  afterAll(async () => {
    await edge?.stop('SIGKILL');
    await device?.close();
  });

  it('is read again until the device gives it, while the device still shows the result', async () => {
    await waitFor(async () => (await results()).every((n) => n >= 1), 20_000, 'result 1 taken by both');

    // Result 2: the quantity is refused for 1.5 s after the counter moved (many polls).
    refusing = true;
    setResult(2, 'P2', 60.5);
    await sleep(1500);
    refusing = false;
    expect(refused).toBeGreaterThan(4);
    await waitFor(async () => (await results()).every((n) => n >= 2), 20_000, 'result 2 taken by both');

    // Results 3 and 4 while refused: the device moves past 3, which is counted as missed.
    refused = 0;
    refusing = true;
    setResult(3, 'P3', 60.75);
    await sleep(1000);
    setResult(4, 'P4', 61);
    await sleep(1000);
    refusing = false;
    expect(refused).toBeGreaterThan(4);
    await waitFor(async () => (await results()).every((n) => n >= 3), 20_000, 'result 4 taken by both');

    // Result 5: the quantity is read but is no number: not mapped, at once.
    setResult(5, 'P5', Number.NaN);
    await waitFor(async () => (await results()).every((n) => n >= 4), 5_000, 'result 5 not mapped by both');
    await sleep(300);

    const records = await logged();
    for (const equipment of ['RIG-LEGACY', 'RIG-MAPPED']) {
      const inspections = records.filter((r) => r.kind === 'inspection' && r.equipment === equipment);
      expect(
        inspections.map((r) => [r.body.partSerial, r.body.characteristics?.map((c) => c.measured)]),
        equipment,
      ).toEqual([
        ['P1', [60.25]],
        ['P2', [60.5]],
        ['P4', [61]],
      ]);
      const events = records.filter((r) => r.kind === 'event' && r.equipment === equipment);
      const notMapped = events.filter((r) => r.body.code === 'RESULT_NOT_MAPPED');
      expect(
        notMapped.map((r) => r.body.details?.trigger),
        equipment,
      ).toEqual(['5']);
      expect(notMapped[0]!.body.message).toContain('was read but does not fit its mapping');
      expect(notMapped[0]!.body.message).toContain('non-finite value (NaN)');
      const missed = events.filter((r) => r.body.code === 'RESULTS_MISSED');
      expect(
        missed.map((r) => r.body.details),
        equipment,
      ).toEqual([expect.objectContaining({ from: 2, to: 4, missed: 1 })]);
    }
  }, 90_000);
});
