import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashDevicePassword, parseStationMessage } from '@rigtrace/protocols/mqtt';
import { parseRecord } from '@rigtrace/protocols';
import type { Proc } from '@rigtrace/protocols/testing';
import { SqliteConnection } from '../src/buffer/sqlite.js';
import { edgeStatus, startEdge, writeIdentity } from './helpers/edge-fixture.js';

/**
 * Whatever a station publishes into the edge's embedded broker: random bytes, random JSON, valid
 * payloads with random edits, on any kind of topic under the station's ACL. Each message is
 * acknowledged (PUBACK) once handled; a valid one becomes exactly the record the parser says, an
 * invalid one is counted and becomes a STATION_MESSAGE_INVALID event, never an inspection or usage
 * record; the agent keeps running and keeps accepting good messages.
 */
describe('edge MQTT collector fuzzing', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-fuzz-mqtt-'));
  const dataDir = path.join(dir, 'edge');
  const password = 'station-secret-fuzz-1';
  let edge: Proc;
  let client: MqttClient;
  let n = 0;

  const counters = async (): Promise<{
    messages: number;
    records: number;
    duplicates: number;
    invalid: number;
  }> => (await edgeStatus(dataDir)).sources[0].details;

  beforeAll(async () => {
    writeIdentity(dataDir);
    edge = await startEdge(path.join(dir, 'edge.yaml'), {
      version: 1,
      edge: { dataDir },
      cloud: { url: 'http://127.0.0.1:9' }, // no cloud: every record stays in the buffer
      log: { level: 'error' },
      sources: [
        {
          id: 'stations',
          protocol: 'mqtt-broker',
          host: '127.0.0.1',
          port: 0,
          maxPayloadBytes: 65536,
          devices: [
            {
              username: 'stn-01',
              passwordHash: await hashDevicePassword(password),
              publish: ['rigtrace/plant-1/STN-01/#'],
              subscribe: ['rigtrace/plant-1/STN-01/error'],
            },
          ],
        },
      ],
    });
    const port = Number(new URL((await edgeStatus(dataDir)).sources[0].details.listen as string).port);
    client = await connectAsync(`mqtt://127.0.0.1:${port}`, {
      clientId: 'stn-01-fuzz',
      username: 'stn-01',
      password,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
  }, 60_000);

  afterAll(async () => {
    await client?.endAsync();
    await edge?.stop();
  });

  const inspection = () => ({
    id: `fz-${++n}`,
    observedAt: new Date(Date.UTC(2025, 0, 1, 8, 0, n % 60)).toISOString(),
    partSerial: `NZB-${String(n).padStart(8, '0')}`,
    workOrder: 'WO-100231',
    operator: 'A. Tech',
    gauge: 'GA-0101',
    characteristics: [
      { name: 'guide-bore.diameter', nominal: 4, lsl: 3.998, usl: 4.002, measured: 4.0007, unit: 'mm' },
      { name: 'seat.runout', usl: 0.01, measured: 0.004, unit: 'mm', gauge: 'GA-0102' },
    ],
  });
  const usage = () => ({ id: `fz-${++n}`, event: 'cycle', cycles: 3, operator: 'A. Tech' });

  /** A JSON value with one random edit at a random place (set, delete, rename). */
  const edited = (base: () => Record<string, unknown>) =>
    fc
      .tuple(
        fc.nat(),
        fc.oneof(
          fc.record({ op: fc.constant('set' as const), v: fc.jsonValue({ maxDepth: 2 }) }),
          fc.record({ op: fc.constant('delete' as const) }),
          fc.record({ op: fc.constant('rename' as const), to: fc.string({ maxLength: 10 }) }),
        ),
      )
      .map(([pick, e]) => {
        const obj = base();
        const slots: [Record<string, unknown> | unknown[], string | number][] = [];
        const walk = (o: unknown) => {
          if (Array.isArray(o)) {
            o.forEach((x, i) => {
              slots.push([o, i]);
              walk(x);
            });
          } else if (o && typeof o === 'object') {
            for (const [k, x] of Object.entries(o)) {
              slots.push([o as Record<string, unknown>, k]);
              walk(x);
            }
          }
        };
        walk(obj);
        const [parent, key] = slots[pick % slots.length]!;
        const p = parent as Record<string | number, unknown>;
        if (e.op === 'set') p[key] = e.v;
        else if (e.op === 'delete') {
          if (Array.isArray(parent)) parent.splice(Number(key), 1);
          else delete p[key];
        } else if (!Array.isArray(parent)) {
          p[e.to] = p[key];
          if (e.to !== key) delete p[key];
        }
        return Buffer.from(JSON.stringify(obj));
      });

  const topicArb = fc.oneof(
    { weight: 6, arbitrary: fc.constant('inspection') },
    { weight: 2, arbitrary: fc.constant('usage') },
    { weight: 1, arbitrary: fc.constantFrom('error', 'control', 'inspection/extra', 'Inspection', 'x') },
    // Whatever the ACL lets through after the station's prefix: control characters, emoji, length.
    {
      weight: 1,
      arbitrary: fc
        .string({
          unit: fc.oneof(
            fc.constantFrom('\u0001', '\u0004', '\u001b', '\u007f', '\u0085', '😀'),
            fc.string({ minLength: 1, maxLength: 1 }),
          ),
          minLength: 1,
          maxLength: 300,
        })
        .map((t) => t.replace(/[+#]/g, '_').replaceAll('\u0000', '_')),
    },
  );
  const payloadArb = fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
    // JSON.parse quotes the bad text in its error: control characters and emoji, cut anywhere.
    fc
      .string({ unit: fc.constantFrom('\u0004', '\n', '"', '{', '😀', 'a', '\u001f'), maxLength: 40 })
      .map((t) => Buffer.from(t)),
    fc.json({ maxDepth: 3 }).map((s) => Buffer.from(s)),
    edited(inspection),
    edited(usage),
    fc.constant(null).map(() => Buffer.from(JSON.stringify(inspection()))),
    fc.constant(null).map(() => Buffer.from(JSON.stringify(usage()))),
  );

  it('counts garbage as invalid, stores only what validates, and never stops', async () => {
    const expected: unknown[] = [];
    const seen = new Set<string>();
    let invalid = 0;
    let valid = 0;
    let before = await counters();
    await fc.assert(
      fc.asyncProperty(topicArb, payloadArb, async (kind, payload) => {
        const topic = `rigtrace/plant-1/STN-01/${kind}`;
        const oracle = parseStationMessage(topic, payload);
        // QoS 1: resolves on PUBACK, which the edge sends once the message is handled and durable.
        await client.publishAsync(topic, payload, { qos: 1 });
        const after = await counters();
        expect(after.messages).toBe(before.messages + 1);
        if (oracle.ok) {
          valid++;
          const dup = oracle.message.id !== undefined && seen.has(oracle.message.id);
          if (oracle.message.id) seen.add(oracle.message.id);
          if (!dup) expected.push({ kind: oracle.message.kind, body: oracle.message.body });
          expect(after.invalid).toBe(before.invalid);
          expect(after.records + after.duplicates).toBe(before.records + before.duplicates + 1);
        } else {
          invalid++;
          expect(after.invalid).toBe(before.invalid + 1);
          expect(after.records).toBe(before.records);
        }
        before = after;
      }),
      { numRuns: 200 },
    );
    expect(invalid).toBeGreaterThan(50);
    expect(valid).toBeGreaterThan(10);

    // Still alive and still recording a good message.
    expect(edge.child.exitCode).toBeNull();
    const last = inspection();
    await client.publishAsync('rigtrace/plant-1/STN-01/inspection', JSON.stringify(last), { qos: 1 });
    const good = parseStationMessage('rigtrace/plant-1/STN-01/inspection', Buffer.from(JSON.stringify(last)));
    if (!good.ok) throw new Error('the base payload must be valid');
    expected.push({ kind: 'inspection', body: good.message.body });

    // The buffer holds exactly the records of the valid messages, in order, and one event per refusal.
    const db = await SqliteConnection.open(path.join(dataDir, 'buffer.sqlite'));
    try {
      const rows = (await db.all<{ json: string }>('SELECT json FROM records ORDER BY seq')).map(
        (r) => JSON.parse(r.json) as { kind: string; body: { code?: string } },
      );
      // Every record is one the cloud will take: a record that fails the schema would be refused
      // with its whole batch, and every record after it would wait behind it for ever.
      for (const r of rows) expect(parseRecord(r).ok ? [] : (parseRecord(r) as any).issues).toEqual([]);
      const stored = rows.filter((r) => r.kind === 'inspection' || r.kind === 'usage');
      expect(stored.map((r) => ({ kind: r.kind, body: r.body }))).toEqual(expected);
      const refusals = rows.filter((r) => r.kind === 'event' && r.body.code === 'STATION_MESSAGE_INVALID');
      expect(refusals).toHaveLength((await counters()).invalid);
      expect(refusals.length).toBeGreaterThanOrEqual(invalid);
    } finally {
      await db.close();
    }
  }, 120_000);
});
