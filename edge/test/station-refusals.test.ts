import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { hashDevicePassword } from '@rigtrace/protocols/mqtt';
import { repoRoot, startProcess, waitFor, type Proc } from '@rigtrace/protocols/testing';
import { SqliteConnection } from '../src/buffer/sqlite.js';
import { edgeStatus, startEdge, writeIdentity } from './helpers/edge-fixture.js';

/**
 * A station message the edge's broker refuses (a topic outside the device's ACL, a payload over
 * the size limit) must not stall the station: MQTT clients re-send an unacknowledged QoS 1 message
 * after every reconnect, before anything newer, so a broker that disconnects for it holds back every
 * later inspection for ever. The refused message is acknowledged and dropped, counted, recorded as
 * an event and answered on the station's error topic. Peers: MQTT.js and the demo's own
 * inspection-station simulator with the ACL of the demo configuration.
 */

/** The `stations` device of the demo's edge configuration, as shipped. */
function demoStationDevice(): { username: string; publish: string[]; subscribe: string[] } {
  const text = readFileSync(path.join(repoRoot, 'deploy/demo/edge.yaml.template'), 'utf8');
  const config = YAML.parse(text.replace(/\$\{(\w+)\}/gu, '$1')) as {
    sources: { id: string; devices?: { username: string; publish: string[]; subscribe: string[] }[] }[];
  };
  const device = config.sources.find((s) => s.id === 'stations')?.devices?.[0];
  if (!device) throw new Error('the demo configuration has no station device');
  return device;
}

describe('edge broker: refused station messages are acknowledged and dropped', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-refused-'));
  const dataDir = path.join(dir, 'edge');
  const demo = demoStationDevice();
  let edge: Proc;
  let port = 0;
  const clients: MqttClient[] = [];

  const records = async () => {
    const db = await SqliteConnection.open(path.join(dataDir, 'buffer.sqlite'));
    try {
      return (await db.all<{ json: string }>('SELECT json FROM records ORDER BY seq')).map(
        (r) => JSON.parse(r.json) as { kind: string; equipment: string; body: Record<string, any> },
      );
    } finally {
      await db.close();
    }
  };

  beforeAll(async () => {
    writeIdentity(dataDir);
    edge = await startEdge(path.join(dir, 'edge.yaml'), {
      version: 1,
      edge: { dataDir },
      cloud: { url: 'http://127.0.0.1:9' }, // no cloud: records stay in the buffer
      buffer: { commitIntervalMs: 5 },
      sources: [
        {
          id: 'stations',
          protocol: 'mqtt-broker',
          host: '127.0.0.1',
          port: 0,
          maxPayloadBytes: 65_536,
          devices: [
            {
              username: 'stn-02',
              passwordHash: await hashDevicePassword('station-secret-2'),
              publish: ['rigtrace/plant-1/STN-02/#'],
              subscribe: ['rigtrace/plant-1/STN-02/error'],
            },
            { ...demo, passwordHash: await hashDevicePassword('demo-secret') },
          ],
        },
      ],
    });
    const st = await edgeStatus(dataDir);
    port = Number(new URL(st.sources[0].details.listen as string).port);
  }, 30_000);

  afterAll(async () => {
    for (const c of clients) await c.endAsync(true);
    await edge?.stop();
  });

  const part = (n: number) => ({
    id: `STN-02-part-${n}`,
    partSerial: `NZB-${String(n).padStart(8, '0')}`,
    characteristics: [
      { name: 'guide-bore.diameter', nominal: 4, lsl: 3.998, usl: 4.002, measured: 4.0001, unit: 'mm' },
    ],
  });

  it('a message to a topic outside the ACL and a 400 KB message, then 20 inspections: all 20 become records', async () => {
    const client = await connectAsync(`mqtt://127.0.0.1:${port}`, {
      clientId: 'stn-02',
      username: 'stn-02',
      password: 'station-secret-2',
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: 100,
    });
    clients.push(client);
    let connects = 1;
    client.on('connect', () => connects++);
    const replies: { topic: string; problems: { path: string; message: string }[]; id?: string }[] = [];
    client.on('message', (_t, payload) => replies.push(JSON.parse(payload.toString())));
    await client.subscribeAsync('rigtrace/plant-1/STN-02/error', { qos: 1 });

    // QoS 1 in order, as a station sends them: the refused ones first
    const usage = JSON.stringify({ id: 'STN-02-usage-1', event: 'cycle', cycles: 10 });
    const sent = [
      client.publishAsync('rigtrace/plant-1/GA-0201/usage', usage, { qos: 1 }),
      client.publishAsync('rigtrace/plant-1/STN-02/inspection', Buffer.alloc(400 * 1024, 0x20), { qos: 1 }),
      ...Array.from({ length: 20 }, (_, i) =>
        client.publishAsync('rigtrace/plant-1/STN-02/inspection', JSON.stringify(part(i + 1)), { qos: 1 }),
      ),
    ];
    // every one acknowledged (the refused ones too), without the station ever being disconnected
    await Promise.race([
      Promise.all(sent),
      new Promise((_r, reject) =>
        setTimeout(() => reject(new Error('not every message was acknowledged')), 10_000),
      ),
    ]);
    expect(connects).toBe(1);

    const rows = await records();
    const inspections = rows.filter((r) => r.kind === 'inspection' && r.equipment === 'STN-02');
    expect(inspections.map((r) => r.body.partSerial)).toEqual(
      Array.from({ length: 20 }, (_, i) => part(i + 1).partSerial),
    );
    expect(rows.filter((r) => r.kind === 'usage')).toEqual([]);
    const events = rows.filter(
      (r) => r.kind === 'event' && String(r.body.code).startsWith('STATION_MESSAGE'),
    );
    expect(
      events.map((e) => [e.body.code, e.equipment, e.body.details.reason, e.body.details.bytes]),
    ).toEqual([
      ['STATION_MESSAGE_NOT_ALLOWED', 'GA-0201', 'acl', Buffer.byteLength(usage)],
      ['STATION_MESSAGE_TOO_LARGE', 'STN-02', 'size', 400 * 1024],
    ]);
    expect(events[0]!.body.message).toMatch(/stn-02 on rigtrace\/plant-1\/GA-0201\/usage/u);

    // both answered on the station's own error topic
    await waitFor(() => Promise.resolve(replies.length >= 2), 5000, 'two error replies');
    expect(replies.map((r) => [r.topic, r.id, r.problems[0]?.path])).toEqual([
      ['rigtrace/plant-1/GA-0201/usage', 'STN-02-usage-1', 'topic'],
      ['rigtrace/plant-1/STN-02/inspection', undefined, ''],
    ]);

    const st = await edgeStatus(dataDir);
    expect(st.sources[0].details).toMatchObject({ refusedAcl: 1, refusedSize: 1, messagesRefused: 2 });
  }, 30_000);

  it('the demo station with the demo ACL: every inspection and every gauge usage report arrives, nothing refused', async () => {
    // 25 parts: past the 10th and 20th part, where the station reports its gauges' cycles
    const station = await startProcess(
      'firmware-sim/src/cli.ts',
      [
        'inspection-station',
        '--url',
        `mqtt://127.0.0.1:${port}`,
        '--username',
        demo.username,
        '--password',
        'demo-secret',
        '--asset',
        'STN-01',
        '--gauges',
        'GA-0101,GA-0102,GA-0103',
        '--every-seconds',
        '0.05',
        '--seed',
        '5',
      ],
      (l) => l.includes('"connected"'),
    );
    try {
      const rows = await waitFor(
        async () => {
          const r = await records();
          return r.filter((x) => x.kind === 'inspection' && x.equipment === 'STN-01').length >= 25 && r;
        },
        20_000,
        '25 inspections of the demo station',
      );
      const usage = rows.filter((r) => r.kind === 'usage').map((r) => r.equipment);
      expect(new Set(usage)).toEqual(new Set(['STN-01', 'GA-0101', 'GA-0102', 'GA-0103']));
      const refused = rows.filter(
        (r) =>
          r.kind === 'event' &&
          String(r.body.code).startsWith('STATION_MESSAGE') &&
          r.equipment !== 'GA-0201' &&
          r.equipment !== 'STN-02',
      );
      expect(refused).toEqual([]);
    } finally {
      await station.stop();
    }
  }, 40_000);
});
