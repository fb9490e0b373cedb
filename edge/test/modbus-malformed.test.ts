import { mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor, type Proc } from '@rigtrace/protocols/testing';
import { edgeStatus, loggedRecords, startEdge, writeIdentity } from './helpers/edge-fixture.js';

/**
 * Malformed Modbus TCP replies are refused, not read: a tiny device (a raw TCP server) answers
 * with an MBAP protocol id other than 0, with a byte count larger than the data its PDU carries,
 * and with more registers than were asked for, each frame otherwise well-formed and carrying the
 * value 9; then it answers correctly with 7. The real edge must never record a 9, must count and
 * log each kind, and must keep the source running until the good frames come.
 */
type Mode = 'protocol-id' | 'count-over-pdu' | 'count-over-request' | 'good';

/** The reply to one FC3 request for `count` registers, in the device's current mode. */
function reply(mode: Mode, tid: number, unit: number, fc: number, count: number): Buffer {
  const regs = (n: number, v: number) =>
    Array.from({ length: n }, (_, i) => (i % 2 === 0 ? [0, 0] : [0, v])).flat();
  let protocolId = 0;
  let pdu: number[];
  switch (mode) {
    case 'protocol-id':
      protocolId = 1;
      pdu = [fc, count * 2, ...regs(count, 9)];
      break;
    case 'count-over-pdu': // claims one register more than it carries
      pdu = [fc, count * 2 + 2, ...regs(count, 9)];
      break;
    case 'count-over-request': // carries (and counts) one register more than was asked for
      pdu = [fc, count * 2 + 2, ...regs(count + 1, 9)];
      break;
    case 'good':
      pdu = [fc, count * 2, ...regs(count, 7)];
      break;
  }
  const b = Buffer.alloc(7 + pdu.length);
  b.writeUInt16BE(tid, 0);
  b.writeUInt16BE(protocolId, 2);
  b.writeUInt16BE(1 + pdu.length, 4);
  b.writeUInt8(unit, 6);
  Buffer.from(pdu).copy(b, 7);
  return b;
}

describe('malformed Modbus TCP frames', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-mbap-'));
  const dataDir = path.join(dir, 'edge');
  let mode: Mode = 'protocol-id';
  let device: net.Server;
  let edge: Proc;

  const metrics = async (): Promise<string> => {
    const { url } = JSON.parse(readFileSync(path.join(dataDir, 'status.json'), 'utf8')) as { url: string };
    return (await fetch(`${url}/metrics`)).text();
  };
  const source = async () => (await edgeStatus(dataDir)).sources[0];

  beforeAll(async () => {
    device = net.createServer((sock) => {
      sock.on('error', () => undefined);
      let rx = Buffer.alloc(0);
      sock.on('data', (chunk: Buffer) => {
        rx = Buffer.concat([rx, chunk]);
        while (rx.length >= 12 && rx.length >= 6 + rx.readUInt16BE(4)) {
          const req = rx.subarray(0, 6 + rx.readUInt16BE(4));
          rx = rx.subarray(req.length);
          sock.write(
            reply(mode, req.readUInt16BE(0), req.readUInt8(6), req.readUInt8(7), req.readUInt16BE(10)),
          );
        }
      });
    });
    await new Promise<void>((resolve) => device.listen(0, '127.0.0.1', resolve));
    writeIdentity(dataDir);
    edge = await startEdge(path.join(dir, 'edge.yaml'), {
      version: 1,
      edge: { dataDir, name: 'edge-mbap' },
      cloud: { url: 'http://127.0.0.1:9' },
      buffer: { commitIntervalMs: 5 },
      sources: [
        {
          id: 'rig',
          protocol: 'modbus',
          equipment: 'RIG-MBAP',
          host: '127.0.0.1',
          port: (device.address() as net.AddressInfo).port,
          intervalMs: 100,
          timeoutMs: 300,
          telemetry: { everyMs: 100 },
          points: [
            { name: 'a', address: 0, type: 'uint32' },
            { name: 'b', address: 2, type: 'uint32' },
          ],
        },
      ],
    });
  }, 30_000);

  afterAll(async () => {
    await edge?.stop();
    device?.close();
  });

  it('refuses, counts and logs each kind, then reads the good frames', async () => {
    let malformed = 0;
    const expected: Record<Exclude<Mode, 'good'>, RegExp> = {
      'protocol-id': /MBAP protocol id 1 \(Modbus is 0\)/u,
      'count-over-pdu': /byte count 10 but the PDU carries 8 data bytes/u,
      'count-over-request': /bad response/u,
    };
    for (const m of Object.keys(expected) as (keyof typeof expected)[]) {
      mode = m;
      const s = await waitFor(
        async () => {
          const src = await source();
          return src.counters.malformed >= malformed + 3 && expected[m].test(src.lastError ?? '') && src;
        },
        10_000,
        `malformed ${m} replies counted`,
      );
      expect(s.up, m).toBe(false);
      expect(s.details.state ?? 'running', m).not.toBe('failed');
      malformed = s.counters.malformed;
    }
    expect(await metrics()).toMatch(
      /^rigtrace_edge_source_malformed_total\{source="rig"\} ([3-9]|\d{2,})$/mu,
    );
    const logged = edge.lines.filter((l) => l.includes('malformed reply frame refused'));
    expect(logged.some((l) => l.includes('MBAP protocol id 1'))).toBe(true);
    expect(logged.some((l) => l.includes('byte count 10 but the PDU carries 8 data bytes'))).toBe(true);

    // The same connection, good frames: the source is up and reads them.
    mode = 'good';
    await waitFor(
      async () => {
        const src = await source();
        return src.up && src.lastError === null && src;
      },
      10_000,
      'the source up on good frames',
    );
    const records = await waitFor(
      async () => {
        const all = await loggedRecords<{
          kind: string;
          body: { points?: { name: string; value: unknown }[] };
        }>(dataDir);
        return all.some((r) => r.kind === 'telemetry' && r.body.points?.some((p) => p.value === 7)) && all;
      },
      10_000,
      'telemetry with the good value',
    );
    // Not one value from a malformed frame was taken as a reading.
    const values = records.flatMap((r) =>
      (r.kind === 'telemetry' ? (r.body.points ?? []) : []).map((p) => p.value),
    );
    expect(values).toContain(7);
    expect(values).not.toContain(9);
  }, 60_000);
});
