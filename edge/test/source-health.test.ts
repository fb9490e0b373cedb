import { mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashDevicePassword } from '@rigtrace/protocols/mqtt';
import { RawModbusServer, waitFor, type Proc, type RawModbusRequest } from '@rigtrace/protocols/testing';
import { SqliteConnection } from '../src/buffer/sqlite.js';
import { edgeStatus, startEdge, writeIdentity } from './helpers/edge-fixture.js';

/**
 * Honest health: a source is up only while it delivers good readings. Devices that answer every
 * request, but never with a usable reply, against a real edge process: /status, /metrics and the
 * event records must all say so. A source that cannot start stays listed as failed and is retried.
 */

type Answer = (sock: net.Socket, req: RawModbusRequest) => void;

/** An MBAP frame: transaction id, protocol id 0, length, unit, then the PDU. */
const frame = (tid: number, unit: number, pdu: number[]): Buffer => {
  const b = Buffer.alloc(7 + pdu.length);
  b.writeUInt16BE(tid, 0);
  b.writeUInt16BE(0, 2);
  b.writeUInt16BE(1 + pdu.length, 4);
  b.writeUInt8(unit, 6);
  Buffer.from(pdu).copy(b, 7);
  return b;
};
/** A correct FC3 answer: `count` registers, each holding 7. */
const good: Answer = (sock, r) =>
  sock.write(
    frame(r.tid, r.unit, [r.fc, r.count * 2, ...Array.from({ length: r.count }, () => [0, 7]).flat()]),
  );

const BAD: Record<string, Answer> = {
  'wrong-tid': (sock, r) => good(sock, { ...r, tid: (r.tid + 1) & 0xffff }),
  'wrong-fc': (sock, r) => good(sock, { ...r, fc: 4 }),
  'other-unit': (sock, r) => good(sock, { ...r, unit: r.unit + 1 }),
  // one register where two were asked for
  'short-reply': (sock, r) => sock.write(frame(r.tid, r.unit, [r.fc, 2, 0, 7])),
  'exception-4': (sock, r) => sock.write(frame(r.tid, r.unit, [r.fc | 0x80, 4])),
};

describe('edge source health against devices that never give a good reading', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-health-'));
  const dataDir = path.join(dir, 'edge');
  const servers: RawModbusServer[] = [];
  let flaky = true;
  let blocker: net.Server;
  let edge: Proc;

  const metrics = async (): Promise<string> => {
    const { url } = JSON.parse(readFileSync(path.join(dataDir, 'status.json'), 'utf8')) as { url: string };
    return (await fetch(`${url}/metrics`)).text();
  };
  const events = async () => {
    const db = await SqliteConnection.open(path.join(dataDir, 'buffer.sqlite'));
    try {
      return (await db.all<{ json: string }>('SELECT json FROM records ORDER BY seq'))
        .map((r) => JSON.parse(r.json) as { kind: string; equipment: string; body: Record<string, any> })
        .filter((r) => r.kind === 'event');
    } finally {
      await db.close();
    }
  };

  beforeAll(async () => {
    const sources: object[] = [];
    for (const [name, answer] of Object.entries(BAD)) {
      const s = await RawModbusServer.start(answer);
      servers.push(s);
      sources.push(modbus(name, s.port));
    }
    // misbehaves (exception 4) until `flaky` is cleared, then answers correctly
    const recovering = await RawModbusServer.start((sock, r) =>
      (flaky ? BAD['exception-4']! : good)(sock, r),
    );
    servers.push(recovering);
    sources.push(modbus('recovering', recovering.port));
    // a port already in use: the broker source cannot start until it is freed
    blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as net.AddressInfo).port;
    sources.push({
      id: 'stations',
      protocol: 'mqtt-broker',
      host: '127.0.0.1',
      port: taken,
      devices: [
        {
          username: 'stn-01',
          passwordHash: await hashDevicePassword('s'),
          publish: ['rigtrace/plant-1/STN-01/#'],
          subscribe: [],
        },
      ],
    });
    writeIdentity(dataDir);
    edge = await startEdge(path.join(dir, 'edge.yaml'), {
      version: 1,
      edge: { dataDir, name: 'edge-health' },
      cloud: { url: 'http://127.0.0.1:9' },
      buffer: { commitIntervalMs: 5 },
      sources,
    });
  }, 30_000);

  afterAll(async () => {
    await edge?.stop();
    for (const s of servers) await s.close();
    blocker?.close();
  });

  function modbus(id: string, port: number) {
    return {
      id,
      protocol: 'modbus',
      equipment: `RIG-${id.toUpperCase()}`,
      host: '127.0.0.1',
      port,
      intervalMs: 100,
      timeoutMs: 200,
      telemetry: { everyMs: 60_000 },
      points: [{ name: 'p', address: 0, type: 'uint32' }],
    };
  }

  it('up:false with lastError, source_up 0, the failure counted and an event, for each kind of bad reply', async () => {
    const st = await waitFor(
      async () => {
        const s = await edgeStatus(dataDir);
        const bad = s.sources.filter((x: { id: string }) => x.id in BAD);
        return bad.length === 5 && bad.every((x: { lastError: string | null }) => x.lastError) && s;
      },
      10_000,
      'every bad source with a lastError',
    );
    const byId = Object.fromEntries(st.sources.map((s: { id: string }) => [s.id, s]));
    for (const id of Object.keys(BAD)) expect(byId[id], id).toMatchObject({ up: false });
    expect(byId['exception-4'].lastError).toMatch(/exception 4/u);
    expect(byId['wrong-tid'].lastError).toMatch(/timeout/u);
    for (const id of ['wrong-fc', 'other-unit', 'short-reply'])
      expect(byId[id].lastError, id).toMatch(/bad response|expected/u);
    expect(byId['exception-4'].counters.exceptions).toBeGreaterThan(0);
    expect(byId['wrong-tid'].counters.timeouts).toBeGreaterThan(0);
    for (const id of ['wrong-fc', 'other-unit', 'short-reply'])
      expect(byId[id].counters.malformed, id).toBeGreaterThan(0);

    const text = await metrics();
    for (const id of Object.keys(BAD))
      expect(text, id).toContain(`rigtrace_edge_source_up{source="${id}",protocol="modbus"} 0`);
    expect(text).toMatch(/rigtrace_edge_source_exceptions_total\{source="exception-4"\} [1-9]/u);
    expect(text).toMatch(/rigtrace_edge_source_timeouts_total\{source="wrong-tid"\} [1-9]/u);
    expect(text).toMatch(/rigtrace_edge_source_malformed_total\{source="short-reply"\} [1-9]/u);
    expect(text).toMatch(/rigtrace_edge_source_reconnects_total\{source="wrong-tid"\} \d/u);

    const down = await waitFor(
      async () => {
        const ev = (await events()).filter((e) => e.body.code === 'SOURCE_NO_GOOD_READINGS');
        return new Set(ev.map((e) => e.equipment)).size === 6 && ev;
      },
      5000,
      'a SOURCE_NO_GOOD_READINGS event per bad source',
    );
    expect(new Set(down.map((e) => e.equipment))).toEqual(
      new Set([...Object.keys(BAD), 'recovering'].map((id) => `RIG-${id.toUpperCase()}`)),
    );
  });

  it('lastError clears and up comes back when the device recovers', async () => {
    expect(
      (await edgeStatus(dataDir)).sources.find((s: { id: string }) => s.id === 'recovering'),
    ).toMatchObject({
      up: false,
      lastError: expect.stringMatching(/exception 4/u),
    });
    flaky = false;
    const rec = await waitFor(
      async () => {
        const s = (await edgeStatus(dataDir)).sources.find((x: { id: string }) => x.id === 'recovering');
        return s.up && s;
      },
      5000,
      'the recovering source up',
    );
    expect(rec.lastError).toBeNull();
    expect(await metrics()).toContain('rigtrace_edge_source_up{source="recovering",protocol="modbus"} 1');
    await waitFor(
      async () =>
        (await events()).some((e) => e.body.code === 'SOURCE_READING' && e.equipment === 'RIG-RECOVERING'),
      5000,
      'a SOURCE_READING event',
    );
  });

  it('a source that cannot start stays listed as failed with an event, and starts once the port is free', async () => {
    const st = await edgeStatus(dataDir);
    const stations = st.sources.find((s: { id: string }) => s.id === 'stations');
    expect(stations).toMatchObject({ protocol: 'mqtt-broker', up: false, details: { state: 'failed' } });
    expect(stations.lastError).toMatch(/EADDRINUSE/u);
    expect(await metrics()).toContain('rigtrace_edge_source_up{source="stations",protocol="mqtt-broker"} 0');
    const failed = (await events()).find((e) => e.body.code === 'SOURCE_START_FAILED');
    expect(failed?.body.message).toMatch(/stations.*EADDRINUSE/u);
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
    const started = await waitFor(
      async () => {
        const s = (await edgeStatus(dataDir)).sources.find((x: { id: string }) => x.id === 'stations');
        return s.up && s;
      },
      15_000,
      'the broker source started after the port was freed',
    );
    expect(started.lastError).toBeNull();
    expect(started.details.startAttempts).toBeGreaterThan(1);
  }, 30_000);
});
