import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashDevicePassword } from '@rigtrace/protocols/mqtt';
import { waitFor, type Proc } from '@rigtrace/protocols/testing';
import { SqliteConnection } from '../src/buffer/sqlite.js';
import { edgeStatus, startEdge, writeIdentity } from './helpers/edge-fixture.js';

/**
 * The edge's embedded MQTT broker, driven by Debian's mosquitto clients: a station's QoS 1
 * message becomes exactly one durable record; a resent message id does not make a second one; a
 * garbage payload becomes an event record and an error reply on the station's error topic.
 */
describe('edge MQTT broker source', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-mqtt-'));
  const dataDir = path.join(dir, 'edge');
  let edge: Proc;
  let port = 0;
  let config: Record<string, unknown> = {};

  const pub = (topic: string, message: string, password = 'station-secret-1') =>
    spawnSync(
      'mosquitto_pub',
      [
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-u',
        'stn-01',
        '-P',
        password,
        '-i',
        'stn-01',
        '-q',
        '1',
        '-t',
        topic,
        '-m',
        message,
      ],
      { encoding: 'utf8', timeout: 10_000 },
    );
  const records = async () => {
    const db = await SqliteConnection.open(path.join(dataDir, 'buffer.sqlite'));
    try {
      return (await db.all<{ seq: number; json: string }>('SELECT seq, json FROM records ORDER BY seq')).map(
        (r) => JSON.parse(r.json),
      );
    } finally {
      await db.close();
    }
  };

  beforeAll(async () => {
    writeIdentity(dataDir);
    const passwordHash = await hashDevicePassword('station-secret-1');
    config = {
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
          devices: [
            {
              username: 'stn-01',
              passwordHash,
              publish: ['rigtrace/plant-1/STN-01/#'],
              subscribe: ['rigtrace/plant-1/STN-01/error'],
            },
          ],
        },
      ],
    };
    edge = await startEdge(path.join(dir, 'edge.yaml'), config);
    const st = await edgeStatus(dataDir);
    port = Number(new URL(st.sources[0].details.listen as string).port);
  }, 30_000);

  afterAll(async () => {
    await edge?.stop();
  });

  const part = {
    id: 'msg-0001',
    partSerial: 'NZB-00012345',
    workOrder: 'WO-100231',
    gauge: 'GA-0101',
    characteristics: [
      { name: 'guide-bore.diameter', nominal: 4, lsl: 3.998, usl: 4.002, measured: 4.0031, unit: 'mm' },
    ],
  };

  it('records a station result once it is durable, and only once when resent', async () => {
    const r = pub('rigtrace/plant-1/STN-01/inspection', JSON.stringify(part));
    expect(r.status, r.stderr).toBe(0);
    // mosquitto_pub returns after PUBACK, which the broker sends only once the record is durable.
    const after = await records();
    const insp = after.filter((x) => x.kind === 'inspection');
    expect(insp).toHaveLength(1);
    expect(insp[0]).toMatchObject({
      equipment: 'STN-01',
      source: { protocol: 'mqtt', address: 'rigtrace/plant-1/STN-01/inspection' },
      body: { partSerial: 'NZB-00012345', result: 'fail', gauges: ['GA-0101'] },
    });
    expect(insp[0].body.characteristics[0]).toMatchObject({ gauge: 'GA-0101', result: 'fail' });
    // The same message id again (a lost PUBACK): acknowledged, not recorded twice.
    expect(pub('rigtrace/plant-1/STN-01/inspection', JSON.stringify(part)).status).toBe(0);
    expect((await records()).filter((x) => x.kind === 'inspection')).toHaveLength(1);
    const st = await edgeStatus(dataDir);
    expect(st.sources[0].details).toMatchObject({ duplicates: 1, records: 1 });
  });

  it('remembers recorded message ids across an edge kill -9: the same id re-sent after the restart gives no second record', async () => {
    await edge.stop('SIGKILL');
    edge = await startEdge(path.join(dir, 'edge.yaml'), config);
    const st = await edgeStatus(dataDir);
    port = Number(new URL(st.sources[0].details.listen as string).port);
    // The station never got its PUBACK before the edge went down, so it sends the message again.
    expect(pub('rigtrace/plant-1/STN-01/inspection', JSON.stringify(part)).status).toBe(0);
    expect((await records()).filter((x) => x.kind === 'inspection')).toHaveLength(1);
    expect((await edgeStatus(dataDir)).sources[0].details).toMatchObject({ duplicates: 1, records: 0 });
    // A new id is recorded as usual.
    const next = { ...part, id: 'msg-0001b' };
    expect(pub('rigtrace/plant-1/STN-01/inspection', JSON.stringify(next)).status).toBe(0);
    expect((await records()).filter((x) => x.kind === 'inspection')).toHaveLength(2);
  }, 60_000);

  it('answers garbage with an error reply and records the refusal', async () => {
    const sub = spawn('stdbuf', [
      '-oL',
      'mosquitto_sub',
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      '-u',
      'stn-01',
      '-P',
      'station-secret-1',
      '-i',
      'stn-01-sub',
      '-q',
      '1',
      '-t',
      'rigtrace/plant-1/STN-01/error',
      '-C',
      '1',
      '-W',
      '15',
    ]);
    const reply = new Promise<string>((resolve) =>
      createInterface({ input: sub.stdout }).once('line', resolve),
    );
    await new Promise((r) => setTimeout(r, 500)); // let the subscription settle
    const bad = { ...part, id: 'msg-0002', characteristics: [{ name: 'x', measured: 'four', unit: 'mm' }] };
    expect(pub('rigtrace/plant-1/STN-01/inspection', JSON.stringify(bad)).status).toBe(0);
    const answer = JSON.parse(await reply) as { id: string; problems: { path: string }[] };
    expect(answer.id).toBe('msg-0002');
    expect(answer.problems.map((p) => p.path)).toContain('characteristics[0].measured');
    const ev = await waitFor(
      async () =>
        (await records()).find((x) => x.kind === 'event' && x.body.code === 'STATION_MESSAGE_INVALID'),
      5000,
      'the refusal event',
    );
    expect(ev.equipment).toBe('STN-01');
  });

  it('refuses a wrong password; a topic outside the device ACL becomes an event, never an inspection', async () => {
    const wrong = pub('rigtrace/plant-1/STN-01/inspection', JSON.stringify(part), 'guess');
    expect(wrong.status).not.toBe(0);
    const before = await records();
    // acknowledged (mosquitto_pub exits 0) and dropped
    expect(
      pub('rigtrace/plant-1/RIG-01/inspection', JSON.stringify({ ...part, id: 'msg-0003' })).status,
    ).toBe(0);
    const added = (await records()).slice(before.length);
    expect(added.map((r) => [r.kind, r.equipment, r.body.code, r.body.details.id])).toEqual([
      ['event', 'RIG-01', 'STATION_MESSAGE_NOT_ALLOWED', 'msg-0003'],
    ]);
  });
});
