import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  RawModbusServer,
  startTcpProxy,
  waitFor,
  type Proc,
  type TcpProxy,
} from '@rigtrace/protocols/testing';
import { edgeStatus, loggedRecords, startEdge, writeIdentity } from './helpers/edge-fixture.js';

/**
 * A result waiting for its read-again backoff when the network between edge and device is cut
 * and restored is read as soon as the connection is back, not when the backoff step reached
 * meanwhile (up to 30 s) comes round.
 *
 * The device (a raw Modbus TCP listener written for this test) raises a ready flag at register 0
 * when a result is complete and holds it until the edge writes 1 to register 20 (a handshake);
 * the part serial is at 100..104 and the measured quantity (float32) at 200..201. While
 * `refusing`, every read touching 200 gets exception 6 (server device busy), so the edge reads
 * the block again on its backoff: 0.5, 1, 2, 5, 10 s, and then 30 s after its 6th read. The
 * network is cut there (a TCP proxy drops every connection for a while) and the device stops
 * refusing: once the edge is connected again the block must be read at once — its 7th read,
 * before the 30 s step is up — and the result recorded exactly once and acknowledged.
 */

type Logged = { kind: string; body: { partSerial?: string; code?: string } };

const holding: Record<number, number> = {};
let refusing = false;
/** When each read of the result block (a request touching 200) arrived, and whether it was refused. */
const blockReads: { at: number; refused: boolean }[] = [];
let acknowledgedAt: number | undefined;

function setResult(serial: string, qty: number): void {
  const s = Buffer.alloc(10, ' ');
  s.write(serial, 'latin1');
  for (let i = 0; i < 5; i++) holding[100 + i] = s.readUInt16BE(i * 2);
  const f = Buffer.alloc(4);
  f.writeFloatBE(qty);
  holding[200] = f.readUInt16BE(0);
  holding[201] = f.readUInt16BE(2);
  holding[0] = 1; // ready, held until acknowledged
}

describe('a result waiting to be read again across a network cut (Modbus, handshake)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-reconnect-'));
  const dataDir = path.join(dir, 'edge');
  let device: RawModbusServer | undefined;
  let proxy: TcpProxy | undefined;
  let edge: Proc | undefined;

  afterAll(async () => {
    await edge?.stop('SIGKILL');
    await proxy?.close();
    await device?.close();
  });

  const source = async () =>
    (
      (await edgeStatus(dataDir)) as {
        sources: {
          up: boolean;
          counters?: { reconnects?: number };
          details: { results?: { results: number; notMapped: number; acknowledged: number } };
        }[];
      }
    ).sources[0]!;

  it('is read as soon as the connection is back, before its next backoff step', async () => {
    holding[0] = 0;
    device = await RawModbusServer.start((sock, req) => {
      const header = (len: number) => {
        const b = Buffer.alloc(7 + len);
        b.writeUInt16BE(req.tid, 0);
        b.writeUInt16BE(0, 2);
        b.writeUInt16BE(1 + len, 4);
        b.writeUInt8(req.unit, 6);
        return b;
      };
      if (req.fc === 6) {
        // Write single register: the handshake. Echo the request.
        holding[req.address] = req.count;
        if (req.address === 20 && req.count === 1) {
          holding[0] = 0;
          acknowledgedAt ??= Date.now();
        }
        const b = header(5);
        b.writeUInt8(6, 7);
        b.writeUInt16BE(req.address, 8);
        b.writeUInt16BE(req.count, 10);
        sock.write(b);
        return;
      }
      if (req.fc !== 3) {
        const b = header(2);
        b.writeUInt8(req.fc | 0x80, 7);
        b.writeUInt8(1, 8); // illegal function
        sock.write(b);
        return;
      }
      if (req.address <= 201 && req.address + req.count > 200) {
        blockReads.push({ at: Date.now(), refused: refusing });
        if (refusing) {
          const b = header(2);
          b.writeUInt8(0x83, 7);
          b.writeUInt8(6, 8); // server device busy
          sock.write(b);
          return;
        }
      }
      const b = header(2 + req.count * 2);
      b.writeUInt8(3, 7);
      b.writeUInt8(req.count * 2, 8);
      for (let i = 0; i < req.count; i++) b.writeUInt16BE(holding[req.address + i] ?? 0, 9 + i * 2);
      sock.write(b);
    });
    proxy = await startTcpProxy(device.port);
    writeIdentity(dataDir);
    edge = await startEdge(path.join(dir, 'edge.yaml'), {
      version: 1,
      edge: { dataDir, name: 'edge-reconnect' },
      cloud: { url: 'http://127.0.0.1:9' },
      log: { level: 'warn' },
      sources: [
        {
          id: 'rig',
          protocol: 'modbus',
          equipment: 'RIG-HELD',
          host: '127.0.0.1',
          port: proxy.port,
          intervalMs: 100,
          timeoutMs: 500,
          telemetry: { everyMs: 60_000 },
          points: [{ name: 'ready', address: 0, type: 'uint16' }],
          records: [
            {
              kind: 'inspection',
              trigger: { rising: 'ready' },
              read: {
                serial: { address: 100, type: 'string', length: 5 },
                qty: { address: 200, type: 'float32' },
              },
              handshake: { address: 20, value: 1, failValue: 2 },
              fields: {
                partSerial: '=serial',
                characteristics: [{ name: 'qty', measured: '=qty', lsl: 58, usl: 62, unit: 'mm3' }],
              },
            },
          ],
        },
      ],
    });
    await waitFor(async () => (await source()).up, 30_000, 'the source up');

    refusing = true;
    setResult('P1', 60.5);
    // Reads at about 0, 0.5, 1.5, 3.5, 8.5 and 18.5 s, all refused: the next waits 30 s.
    await waitFor(() => Promise.resolve(blockReads.length >= 6), 60_000, 'six refused reads of the block');
    const sixth = blockReads[5]!.at;
    const reconnects = (await source()).counters?.reconnects ?? 0;
    proxy.outage(3000);
    refusing = false;
    await waitFor(
      async () => {
        const s = await source();
        return s.up && (s.counters?.reconnects ?? 0) > reconnects;
      },
      60_000,
      'the source connected again',
    );
    await waitFor(() => Promise.resolve(acknowledgedAt !== undefined), 60_000, 'the result acknowledged');

    // Read once more, right after the reconnect: the 7th read, before the 30 s step was up.
    expect(blockReads.filter((r) => r.refused)).toHaveLength(6);
    expect(blockReads).toHaveLength(7);
    expect(blockReads[6]!.at).toBeLessThan(sixth + 30_000);
    await waitFor(
      async () => ((await source()).details.results?.acknowledged ?? 0) >= 1,
      20_000,
      'the acknowledge counted',
    );
    await edge.stop('SIGTERM');
    edge = undefined;
    const records = await loggedRecords<Logged>(dataDir);
    expect(records.filter((r) => r.kind === 'inspection').map((r) => r.body.partSerial)).toEqual(['P1']);
    expect(records.filter((r) => r.body.code === 'RESULT_NOT_MAPPED')).toEqual([]);
  }, 150_000);
});
