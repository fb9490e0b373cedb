import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { hashDevicePassword } from '@rigtrace/protocols/mqtt';
import { waitFor, type Proc } from '@rigtrace/protocols/testing';
import { validateConfig } from '../src/config/config.js';
import type { EdgeError } from '../src/errors.js';
import { edgeStatus, startEdge, writeIdentity, loggedRecords } from './helpers/edge-fixture.js';

/**
 * Record mappings on MQTT sources, with stations whose payloads look nothing like our station
 * format: a torque-tool calibration cart publishing through the machine's Mosquitto (the edge
 * subscribes as an external-broker client), and a press and a bore gauge publishing to the edge's
 * own broker. Every message is one result, recorded exactly once across edge kill -9.
 */

type Logged = { kind: string; equipment: string; observedAt: string; body: Record<string, any> };

const logged = (dataDir: string) => loggedRecords<Logged>(dataDir);

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => undefined);
});

function connect(url: string, opts: mqtt.IClientOptions = {}): Promise<mqtt.MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

/** The torque cart's calibration message: its own layout (nested run, readings as a list). */
function cartMessage(n: number) {
  const found = [20 + (n % 3) * 0.15, 60.2, 100 - (n % 2) * 0.3];
  return {
    msgId: `cart-${n}`,
    instrument: { tag: 'TW-0042', model: 'QX-200' },
    run: {
      finished: 1_765_000_000_000 + n * 60_000,
      by: 'A. Weber',
      cert: `K-${String(n).padStart(4, '0')}`,
    },
    readings: [
      { ref: '20 Nm', target: 20, found: found[0], left: 20.01, tol: 0.4 },
      { ref: '60 Nm', target: 60, found: found[1], left: 60.02, tol: 1.2 },
      { ref: '100 Nm', target: 100, found: found[2], left: 100.05, tol: 2 },
    ],
    verdict: 'OK',
  };
}

const cartMapping = (prefix: string) => ({
  kind: 'calibration',
  trigger: { message: `${prefix}/+/calibration` },
  read: {
    msgId: '$.msgId',
    tag: '$.instrument.tag',
    finished: '$.run.finished',
    by: '$.run.by',
    cert: '$.run.cert',
    refs: '$.readings[*].ref',
    targets: '$.readings[*].target',
    found: '$.readings[*].found',
    left: '$.readings[*].left',
    tol: "$.readings[*]['tol']",
    verdict: '$.verdict',
  },
  id: '=msgId',
  fields: {
    equipment: '=tag',
    calibratedAt: '=finished',
    nextDue: '=date(addDays(finished, 180))',
    technician: '=by',
    certificate: '=cert',
    procedure: 'TQ-CAL-7',
    deviceResult: '=verdict == "OK"',
    adjusted: true,
    points: {
      each: '=len(found)',
      name: '=at(refs, i)',
      nominal: '=at(targets, i)',
      unit: 'N.m',
      asFound: '=at(found, i)',
      asLeft: '=at(left, i)',
      tolerance: '=at(tol, i)',
    },
  },
});

describe('MQTT sources through the record mapping', () => {
  it('records every calibration published through Mosquitto exactly once across edge kill -9', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-map-mqtt-'));
    const dataDir = path.join(dir, 'edge');
    writeIdentity(dataDir);
    const prefix = `rt-test-${randomBytes(6).toString('hex')}`;
    const config = {
      version: 1,
      edge: { name: 'mapping-mqtt', dataDir },
      cloud: { url: 'http://127.0.0.1:9' },
      log: { level: 'warn' },
      sources: [
        {
          id: 'plant-broker',
          protocol: 'mqtt',
          url: 'mqtt://127.0.0.1:1883',
          clientId: `${prefix}-edge`,
          topics: [{ filter: `${prefix}/#`, qos: 1 }],
          records: [cartMapping(prefix)],
        },
      ],
    };
    const file = path.join(dir, 'edge.yaml');
    let edge: Proc = await startEdge(file, config, 30_000);
    cleanup.push(() => edge.stop('SIGKILL'));
    const station = await connect('mqtt://127.0.0.1:1883', { clientId: `${prefix}-cart`, clean: true });
    cleanup.push(() => station.endAsync(true));

    // The cart publishes one calibration every 40 ms while the edge is killed and restarted.
    const sent: number[] = [];
    let n = 0;
    let publishing = true;
    const pump = (async () => {
      while (publishing) {
        n += 1;
        await station.publishAsync(`${prefix}/cart-3/calibration`, JSON.stringify(cartMessage(n)), {
          qos: 1,
        });
        sent.push(n);
        await new Promise((r) => setTimeout(r, 40));
      }
    })();
    const results = async () =>
      ((await edgeStatus(dataDir)) as { sources: { details: { results?: { results: number } } }[] })
        .sources[0]?.details.results?.results ?? 0;
    await waitFor(async () => (await results()) >= 10, 20_000, '10 calibrations');
    await edge.stop('SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    edge = await startEdge(file, config, 30_000);
    await waitFor(async () => (await results()) >= 10, 20_000, '10 more calibrations');
    publishing = false;
    await pump;
    // The same message once more (a station that lost its PUBACK): no second record.
    await station.publishAsync(`${prefix}/cart-3/calibration`, JSON.stringify(cartMessage(1)), { qos: 1 });
    const last = sent[sent.length - 1]!;
    await waitFor(
      async () =>
        (await logged(dataDir)).some(
          (r) => r.body.certificate?.number === `K-${String(last).padStart(4, '0')}`,
        ),
      20_000,
      'the last calibration',
    );
    await waitFor(
      async () =>
        ((await edgeStatus(dataDir)) as { sources: { details: { results: { duplicates: number } } }[] })
          .sources[0]!.details.results.duplicates >= 1,
      10_000,
      'the re-sent message seen',
    );
    await edge.stop('SIGTERM');

    const cals = (await logged(dataDir)).filter((r) => r.kind === 'calibration');
    const certs = cals.map((c) => c.body.certificate.number as string);
    expect(certs).toEqual(sent.map((k) => `K-${String(k).padStart(4, '0')}`));
    for (const c of cals) {
      const k = Number(c.body.certificate.number.slice(2));
      const m = cartMessage(k);
      expect(c.equipment).toBe('TW-0042');
      expect(c.body.calibratedAt).toBe(new Date(m.run.finished).toISOString());
      expect(c.body.nextDue).toBe(new Date(m.run.finished + 180 * 86_400_000).toISOString().slice(0, 10));
      expect(c.body.technician).toBe('A. Weber');
      expect(c.body.procedure).toEqual({ id: 'TQ-CAL-7' });
      expect(c.body.deviceResult).toBe('pass');
      expect(c.body.points.map((p: { name: string }) => p.name)).toEqual(['20 Nm', '60 Nm', '100 Nm']);
      expect(c.body.points[0]).toMatchObject({
        nominal: 20,
        unit: 'N.m',
        asFound: m.readings[0]!.found,
        asLeft: 20.01,
        lowerTolerance: -0.4,
        upperTolerance: 0.4,
        asFoundResult: 'pass',
      });
    }
    expect(sent.length).toBeGreaterThanOrEqual(20);
  }, 120_000);

  it('maps a press and a bore gauge publishing to the embedded broker; a message that does not fit is named, answered and acknowledged', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-map-mqtt-'));
    const dataDir = path.join(dir, 'edge');
    writeIdentity(dataDir);
    const passwordHash = await hashDevicePassword('press-secret-7');
    const edge = await startEdge(
      path.join(dir, 'edge.yaml'),
      {
        version: 1,
        edge: { name: 'mapping-mqtt-broker', dataDir },
        cloud: { url: 'http://127.0.0.1:9' },
        log: { level: 'warn' },
        sources: [
          {
            id: 'cell-3',
            protocol: 'mqtt-broker',
            host: '127.0.0.1',
            port: 0,
            devices: [
              {
                username: 'press-07',
                passwordHash,
                publish: ['plant/cell-3/press-07/state', 'rigtrace/plant-1/GA-0101/measure'],
                subscribe: ['rigtrace/plant-1/GA-0101/error'],
              },
            ],
            records: [
              {
                kind: 'usage',
                trigger: { message: 'plant/cell-3/+/state' },
                read: {
                  state: '$.st',
                  op: '$.who.badge',
                  job: '$.job',
                  strokes: '$.counters.strokes',
                  t: '$.ts',
                },
                tables: { ev: { RUN: 'start', IDLE: 'stop', STROKE: 'cycle' } },
                fields: {
                  equipment: '="PRESS-" + at(levels, 2)',
                  observedAt: '=t',
                  event: '=lookup("ev", state)',
                  operator: '=op',
                  workOrder: '=job',
                  cycles: '=strokes',
                },
              },
              {
                kind: 'inspection',
                trigger: { message: 'rigtrace/plant-1/+/measure' },
                read: { serial: '$.part', bore: '$.m.bore', depth: '$.m.depth', seq: '$.seq' },
                id: '=seq',
                fields: {
                  equipment: '=at(levels, 2)',
                  partSerial: '=serial',
                  testPlan: 'BORE-2',
                  gauges: ['=at(levels, 2)'],
                  characteristics: [
                    { name: 'bore', measured: '=bore * 0.001', nominal: 4, tolerance: 0.002, unit: 'mm' },
                    { name: 'depth', measured: '=depth', usl: 12.5, unit: 'mm', position: 'depth probe' },
                  ],
                },
              },
            ],
          },
        ],
      },
      30_000,
    );
    cleanup.push(() => edge.stop('SIGKILL'));
    const st = await edgeStatus(dataDir);
    const url = st.sources[0].details.listen as string;
    const press = await connect(url, {
      clientId: 'press-07',
      username: 'press-07',
      password: 'press-secret-7',
    });
    cleanup.push(() => press.endAsync(true));
    const replies: { topic: string; body: any }[] = [];
    press.on('message', (topic, payload) => replies.push({ topic, body: JSON.parse(payload.toString()) }));
    await press.subscribeAsync('rigtrace/plant-1/GA-0101/error', { qos: 1 });

    const state = (st: string, strokes?: number) =>
      press.publishAsync(
        'plant/cell-3/press-07/state',
        JSON.stringify({
          st,
          who: { badge: 'B-1187' },
          job: 'WO-77',
          ts: '2026-12-06T06:00:00.250Z',
          ...(strokes === undefined ? {} : { counters: { strokes } }),
        }),
        { qos: 1 },
      );
    // publishAsync resolves on PUBACK, which comes only once the record is durable.
    await state('RUN');
    await state('STROKE', 3);
    await state('IDLE', 0);
    await press.publishAsync(
      'rigtrace/plant-1/GA-0101/measure',
      JSON.stringify({ seq: 'g-1', part: 'NZB-1', m: { bore: 4001.5, depth: 12.2 } }),
      { qos: 1 },
    );
    await press.publishAsync(
      'rigtrace/plant-1/GA-0101/measure',
      JSON.stringify({ seq: 'g-2', part: 'NZB-2', m: { bore: 4003, depth: 12.1 } }),
      { qos: 1 },
    );
    // Not fitting: a state the table does not know, a measurement that is text, a payload that is not JSON.
    await state('WARMUP');
    await press.publishAsync(
      'rigtrace/plant-1/GA-0101/measure',
      JSON.stringify({ seq: 'g-3', part: 'NZB-3', m: { bore: 'n/a', depth: 12 } }),
      { qos: 1 },
    );
    await press.publishAsync('rigtrace/plant-1/GA-0101/measure', 'bore=4001', { qos: 1 });
    // The press's next message still goes through (nothing waits behind the refused ones).
    await state('RUN');
    await waitFor(() => Promise.resolve(replies.length >= 2), 10_000, 'two error replies');

    const records = await logged(dataDir);
    const usage = records.filter((r) => r.kind === 'usage');
    expect(usage.map((u) => u.body)).toEqual([
      { event: 'start', operator: 'B-1187', workOrder: 'WO-77' },
      { event: 'cycle', operator: 'B-1187', workOrder: 'WO-77', cycles: 3 },
      { event: 'stop', operator: 'B-1187', workOrder: 'WO-77', cycles: 0 },
      { event: 'start', operator: 'B-1187', workOrder: 'WO-77' },
    ]);
    expect(
      usage.every((u) => u.equipment === 'PRESS-press-07' && u.observedAt === '2026-12-06T06:00:00.250Z'),
    ).toBe(true);
    const insp = records.filter((r) => r.kind === 'inspection');
    expect(insp.map((r) => [r.equipment, r.body.partSerial, r.body.result])).toEqual([
      ['GA-0101', 'NZB-1', 'pass'],
      ['GA-0101', 'NZB-2', 'fail'],
    ]);
    expect(insp[0]!.body.characteristics[0]).toMatchObject({
      measured: 4.0015,
      lsl: 3.998,
      usl: 4.002,
      result: 'pass',
    });
    expect(insp[0]!.body.gauges).toEqual(['GA-0101']);
    // A characteristic names the position whose device measured it (the cloud resolves it).
    expect(insp[0]!.body.characteristics[1]).toMatchObject({ name: 'depth', position: 'depth probe' });
    expect(insp[0]!.body.characteristics[0]).not.toHaveProperty('position');
    const notMapped = records.filter((r) => r.body.code === 'RESULT_NOT_MAPPED');
    expect(notMapped).toHaveLength(3);
    expect(notMapped[0]!.body.message).toContain(
      'records[0].fields.event (=lookup("ev", state)): table ev has no entry for "WARMUP"',
    );
    expect(notMapped[1]!.body.message).toContain(
      'records[1].fields.characteristics[0].measured (=bore * 0.001)',
    );
    expect(notMapped[1]!.body.details.id).toBe('g-3');
    expect(notMapped[2]!.body.message).toContain('the payload is not JSON');
    expect(replies.map((r) => r.topic)).toEqual([
      'rigtrace/plant-1/GA-0101/error',
      'rigtrace/plant-1/GA-0101/error',
    ]);
    expect(replies[0]!.body).toMatchObject({ topic: 'rigtrace/plant-1/GA-0101/measure', id: 'g-3' });
    expect(replies[0]!.body.problems[0]).toContain('characteristics[0].measured');
    const after = await edgeStatus(dataDir);
    expect(after.sources[0].details.results).toEqual({ results: 6, notMapped: 3, duplicates: 0 });
  }, 90_000);

  it('refuses a mapping no message can reach, a bad JSON path, a reserved name and a missing equipment, with their paths', () => {
    const cfg = {
      version: 1,
      cloud: { url: 'http://127.0.0.1:9' },
      sources: [
        {
          id: 'plant',
          protocol: 'mqtt',
          url: 'mqtt://127.0.0.1:1883',
          clientId: 'edge-1',
          topics: [{ filter: 'lab/+/calibration' }],
          records: [
            { ...cartMapping('lab'), trigger: { message: 'shop/+/calibration' } },
            { ...cartMapping('lab'), read: { found: '$.readings[*.found', topic: '$.t' } },
            { kind: 'usage', trigger: { message: 'lab/#' }, fields: { event: 'cycle' } },
          ],
        },
      ],
    };
    let problems: string[] = [];
    try {
      validateConfig(cfg);
    } catch (err) {
      problems = (err as EdgeError).problems;
    }
    expect(problems).toEqual(
      expect.arrayContaining([
        'sources[0].records[0].trigger.message: no message on "shop/+/calibration" can arrive (no subscription or device ACL of this source covers it)',
        "sources[0].records[1].read.found: expected [n], [*] or ['name'] at position 11",
        'sources[0].records[1].read.topic: the name is reserved (topic, levels, trigger, i, n)',
        'sources[0].records[2].fields.equipment: required for an MQTT source (a constant, or a value such as =at(levels, 2) for the third topic level)',
      ]),
    );
    expect(problems).toHaveLength(4);
  });
});
