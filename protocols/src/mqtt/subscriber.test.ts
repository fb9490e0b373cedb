import net from 'node:net';
import { Aedes } from 'aedes';
import { connectAsync } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { MqttConfigError } from './errors.js';
import { MqttSubscriber } from './subscriber.js';
import { mosquittoPub, recorder, sleep, waitUntil } from './testing/peers.js';
import type { MqttClientOptions } from './types.js';

// The subscriber against the machine's Mosquitto on 127.0.0.1:1883 (unique topic prefix and client
// id per test, session wiped afterwards) and against aedes instances on port 0.

const MOSQUITTO = 1883;
const unique = (): string => `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
const started: MqttSubscriber[] = [];
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  await Promise.allSettled(started.splice(0).map((s) => s.stop()));
  for (const c of cleanups.splice(0)) await c();
});

function subscriber(
  opts: Partial<MqttClientOptions> & Pick<MqttClientOptions, 'url' | 'clientId' | 'topics' | 'onMessage'>,
): MqttSubscriber {
  const s = new MqttSubscriber({ reconnect: { initialMs: 100, maxMs: 800 }, ...opts });
  started.push(s);
  return s;
}

/** Removes a persistent session from Mosquitto: connect once with CleanSession 1. */
function wipeSession(clientId: string): () => Promise<void> {
  return async () => {
    const c = await connectAsync(`mqtt://127.0.0.1:${MOSQUITTO}`, {
      clientId,
      clean: true,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    await c.endAsync();
  };
}

async function plainAedes(port = 0): Promise<{ aedes: Aedes; port: number; close(): Promise<void> }> {
  const aedes = await Aedes.createBroker();
  const server = net.createServer((socket) => aedes.handle(socket));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    aedes,
    port: (server.address() as net.AddressInfo).port,
    async close() {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const publishOn = (aedes: Aedes, topic: string, payload: string): Promise<void> =>
  new Promise((resolve, reject) =>
    aedes.publish(
      { cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain: false, dup: false },
      (err) => (err ? reject(err) : resolve()),
    ),
  );

describe('MqttSubscriber against Mosquitto (127.0.0.1:1883)', () => {
  it('persistent session: messages published while it was stopped arrive after it starts again', async () => {
    const prefix = `rigtrace-test/${unique()}`;
    const clientId = `rt-sub-${unique()}`;
    cleanups.push(wipeSession(clientId));
    const rec1 = recorder();
    const s1 = subscriber({
      url: `mqtt://127.0.0.1:${MOSQUITTO}`,
      clientId,
      topics: [{ filter: `${prefix}/#`, qos: 1 }],
      onMessage: rec1.onMessage,
    });
    await s1.start();
    expect(s1.stats().connected).toBe(true);
    // the SUBSCRIBE is on its way: publish probes until one arrives
    for (let i = 0; i < 25 && rec1.messages.length === 0; i++) {
      await mosquittoPub(MOSQUITTO, ['-t', `${prefix}/probe`, '-m', 'p', '-q', '1']);
      await sleep(100);
    }
    expect(rec1.messages.map((m) => m.topic)).toContain(`${prefix}/probe`);
    await s1.stop();
    for (const n of [1, 2, 3]) {
      const r = await mosquittoPub(MOSQUITTO, [
        '-t',
        `${prefix}/offline`,
        '-m',
        `while-stopped-${n}`,
        '-q',
        '1',
      ]);
      expect(r.code).toBe(0);
    }
    const rec2 = recorder();
    const s2 = subscriber({
      url: `mqtt://127.0.0.1:${MOSQUITTO}`,
      clientId,
      topics: [{ filter: `${prefix}/#`, qos: 1 }],
      onMessage: rec2.onMessage,
    });
    await s2.start();
    await waitUntil(() => rec2.messages.length >= 3, 5000, 'the queued messages');
    expect(rec2.messages.map((m) => [m.topic, m.payload.toString(), m.qos])).toEqual(
      [1, 2, 3].map((n) => [`${prefix}/offline`, `while-stopped-${n}`, 1]),
    );
  });

  it('onMessage throws: not acknowledged, reconnects, Mosquitto redelivers; nothing lost, in order', async () => {
    const prefix = `rigtrace-test/${unique()}`;
    const clientId = `rt-sub-${unique()}`;
    cleanups.push(wipeSession(clientId));
    let failed = 0;
    const rec = recorder({ fail: (m) => m.payload.toString() === 'm2' && failed++ === 0 });
    const s = subscriber({
      url: `mqtt://127.0.0.1:${MOSQUITTO}`,
      clientId,
      topics: [{ filter: `${prefix}/#`, qos: 1 }],
      onMessage: rec.onMessage,
    });
    const events: string[] = [];
    s.on('connected', () => events.push('connected'));
    s.on('disconnected', (reason) => events.push(`disconnected: ${reason}`));
    await s.start();
    await sleep(200); // SUBACK
    for (const n of [1, 2, 3, 4, 5])
      await mosquittoPub(MOSQUITTO, ['-t', `${prefix}/x`, '-m', `m${n}`, '-q', '1']);
    await waitUntil(() => rec.messages.length >= 5, 8000, 'all five messages');
    expect(rec.messages.map((m) => m.payload.toString())).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
    expect(s.stats()).toMatchObject({ handlerFailures: 1, messages: 5, connects: 2 });
    expect(events.slice(0, 3)).toEqual(['connected', 'disconnected: onMessage failed', 'connected']);
  });
});

describe('MqttSubscriber against aedes', () => {
  it('PUBACK is sent only after onMessage resolved', async () => {
    const b = await plainAedes();
    cleanups.push(() => b.close());
    const ackAt: number[] = [];
    b.aedes.on('ack', (packet) => {
      if (packet?.cmd === 'publish') ackAt.push(performance.now());
    });
    const resolvedAt: number[] = [];
    const rec = recorder({ delayMs: 300 });
    const s = subscriber({
      url: `mqtt://127.0.0.1:${b.port}`,
      clientId: 'ack-timing',
      topics: [{ filter: 't/#', qos: 1 }],
      onMessage: async (m) => {
        await rec.onMessage(m);
        resolvedAt.push(performance.now());
      },
    });
    await s.start();
    await sleep(100);
    const sentAt = performance.now();
    await publishOn(b.aedes, 't/a', 'slow');
    await waitUntil(() => ackAt.length === 1, 3000, 'the PUBACK');
    expect(resolvedAt).toHaveLength(1);
    expect(ackAt[0]!).toBeGreaterThanOrEqual(resolvedAt[0]!);
    expect(ackAt[0]! - sentAt).toBeGreaterThanOrEqual(295);
  });

  it('broker killed and restarted on the same port: reconnects by itself and subscribes again', async () => {
    const b1 = await plainAedes();
    const port = b1.port;
    const rec = recorder();
    const s = subscriber({
      url: `mqtt://127.0.0.1:${port}`,
      clientId: 'survivor',
      topics: [{ filter: 'plant/#', qos: 1 }],
      onMessage: rec.onMessage,
    });
    const events: string[] = [];
    s.on('connected', () => events.push('connected'));
    s.on('disconnected', () => events.push('disconnected'));
    await s.start();
    await sleep(100);
    await publishOn(b1.aedes, 'plant/a', 'before');
    await waitUntil(() => rec.messages.length === 1, 3000, 'the first message');
    await b1.close();
    await waitUntil(() => !s.stats().connected, 3000, 'the disconnect');
    await sleep(700); // a few refused attempts with backoff
    const b2 = await plainAedes(port); // new broker, no session: the subscription must be made again
    cleanups.push(() => b2.close());
    await waitUntil(() => s.stats().connected, 5000, 'the reconnect');
    await waitUntil(
      () =>
        (b2.aedes as unknown as { clients: Record<string, { subscriptions: Record<string, unknown> }> })
          .clients.survivor?.subscriptions['plant/#'] !== undefined,
      3000,
      'the new subscription',
    );
    await publishOn(b2.aedes, 'plant/a', 'after');
    await waitUntil(() => rec.messages.length === 2, 3000, 'the message after the restart');
    expect(rec.messages.map((m) => m.payload.toString())).toEqual(['before', 'after']);
    expect(events).toEqual(['connected', 'disconnected', 'connected']);
    expect(s.stats().connects).toBe(2);
  });

  it('start() resolves while the broker is down and keeps trying', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const rec = recorder();
    const s = subscriber({
      url: `mqtt://127.0.0.1:${port}`,
      clientId: 'early-bird',
      topics: [{ filter: 'x/#', qos: 1 }],
      onMessage: rec.onMessage,
    });
    await s.start();
    expect(s.stats().connected).toBe(false);
    expect(s.stats().lastError).toMatch(/ECONNREFUSED/u);
    const b = await plainAedes(port);
    cleanups.push(() => b.close());
    await waitUntil(() => s.stats().connected, 5000, 'the late connection');
    await sleep(100);
    await publishOn(b.aedes, 'x/1', 'late');
    await waitUntil(() => rec.messages.length === 1, 3000, 'the message');
  });
});

describe('MqttSubscriber options', () => {
  it('lists every problem, path by path', () => {
    let error: unknown;
    try {
      new MqttSubscriber({
        url: 'http://broker',
        clientId: '',
        password: 'p',
        cert: 'PEM',
        topics: [{ filter: 'a/#/b', qos: 2 as 1 }],
        reconnect: { initialMs: 1000, maxMs: 10 },
        onMessage: async () => {},
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(MqttConfigError);
    expect((error as MqttConfigError).problems.map((p) => p.path)).toEqual([
      'url',
      'clientId',
      'password',
      'key',
      'topics[0].filter',
      'topics[0].qos',
      'reconnect.maxMs',
    ]);
  });
});
