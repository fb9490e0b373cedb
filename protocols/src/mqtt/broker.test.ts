import { connectAsync } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedBroker } from './broker.js';
import { MqttConfigError } from './errors.js';
import { hashDevicePassword } from './password.js';
import { connectBytes, publishBytes, RawClient, remainingLength } from './testing/raw-client.js';
import { mosquittoPub, mosquittoSub, recorder, sleep, testDevice, waitUntil } from './testing/peers.js';
import type { InboundMessage, RefusedMessage } from './types.js';

// The embedded broker against independent peers: Debian's mosquitto_pub / mosquitto_sub, MQTT.js,
// and a raw TCP client where the timing of single packets matters.

const T = 'rigtrace/plant-1/STN-01/inspection';
const STN = ['-u', 'stn', '-P', 'stn-secret'];
const WATCH = ['-u', 'watcher', '-P', 'watch-secret'];

async function devices() {
  return [
    await testDevice('stn', 'stn-secret', {
      publish: ['rigtrace/plant-1/STN-01/#'],
      subscribe: ['rigtrace/plant-1/STN-01/error', 'rigtrace/plant-1/STN-01/control'],
    }),
    await testDevice('watcher', 'watch-secret', { subscribe: ['rigtrace/plant-1/+/inspection'] }),
  ];
}

describe('EmbeddedBroker with mosquitto_pub and mosquitto_sub', () => {
  let broker: EmbeddedBroker;
  let port: number;
  const rec = recorder();
  const refused: RefusedMessage[] = [];

  beforeAll(async () => {
    broker = new EmbeddedBroker({
      host: '127.0.0.1',
      port: 0,
      devices: await devices(),
      onMessage: rec.onMessage,
      onRefused: (m) => {
        refused.push(m);
        return Promise.resolve();
      },
    });
    ({ port } = await broker.start());
  });
  afterAll(() => broker.stop());

  it('a device publishes at QoS 1: onMessage gets it with the device identity, a subscriber at QoS 1', async () => {
    const sub = await mosquittoSub(port, [
      ...WATCH,
      '-t',
      'rigtrace/plant-1/+/inspection',
      '-q',
      '1',
      '-i',
      'watch-1',
    ]);
    try {
      expect(sub.granted).toEqual([1]);
      const payload = JSON.stringify({ partSerial: 'NZB-1', n: Date.now() });
      const r = await mosquittoPub(port, [...STN, '-i', 'stn-01', '-t', T, '-m', payload, '-q', '1']);
      expect(r).toMatchObject({ code: 0, stderr: '' });
      expect(rec.messages.at(-1)).toMatchObject({
        clientId: 'stn-01',
        username: 'stn',
        topic: T,
        qos: 1,
        retain: false,
      } satisfies Partial<InboundMessage>);
      expect(rec.messages.at(-1)!.payload.toString()).toBe(payload);
      expect(await sub.waitForLines(1)).toEqual([`${T} ${payload}`]);
      expect(sub.qos).toEqual([1]);
      expect(broker.stats()).toMatchObject({ messagesIn: 1, messagesAcked: 1 });
    } finally {
      await sub.stop();
    }
  });

  it('a bad password and an unknown user get CONNACK 5 (not authorised); nothing goes through', async () => {
    const before = broker.stats();
    const count = rec.messages.length;
    const wrong = await mosquittoPub(port, ['-u', 'stn', '-P', 'guess', '-t', T, '-m', 'x', '-q', '1']);
    const unknown = await mosquittoPub(port, [
      '-u',
      'mallory',
      '-P',
      'stn-secret',
      '-t',
      T,
      '-m',
      'x',
      '-q',
      '1',
    ]);
    const anonymous = await mosquittoPub(port, ['-t', T, '-m', 'x', '-q', '1']);
    for (const r of [wrong, unknown, anonymous]) {
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/not authori[sz]ed/u);
    }
    expect(broker.stats().authFailures).toBe(before.authFailures + 3);
    expect(rec.messages.length).toBe(count);
  });

  it('ACL: a publish outside the device topics is acknowledged and dropped: onRefused, reaches nobody, no disconnect', async () => {
    const before = broker.stats();
    const count = rec.messages.length;
    const sub = await mosquittoSub(port, [...WATCH, '-t', 'rigtrace/plant-1/+/inspection', '-q', '1']);
    try {
      // mosquitto_pub exits 0 only once its QoS 1 message was acknowledged and it disconnected cleanly
      const r = await mosquittoPub(port, [
        ...STN,
        '-t',
        'rigtrace/plant-1/STN-02/inspection',
        '-m',
        'not mine',
        '-q',
        '1',
      ]);
      expect(r).toMatchObject({ code: 0, stderr: '' });
      expect(broker.stats()).toMatchObject({
        aclDenied: before.aclDenied + 1,
        messagesRefused: before.messagesRefused + 1,
        messagesIn: before.messagesIn,
      });
      expect(refused.at(-1)).toMatchObject({
        username: 'stn',
        topic: 'rigtrace/plant-1/STN-02/inspection',
        reason: 'acl',
        bytes: 8,
      });
      expect(refused.at(-1)!.payload.toString()).toBe('not mine');
      expect(rec.messages.length).toBe(count);
      await sleep(200);
      expect(sub.lines).toEqual([]);
    } finally {
      await sub.stop();
    }
  });

  it('ACL: subscriptions outside the device filters get 0x80, the others their QoS', async () => {
    const sub = await mosquittoSub(port, [
      ...STN,
      '-q',
      '1',
      '-t',
      'rigtrace/plant-1/STN-01/error',
      '-t',
      'rigtrace/plant-1/+/error',
      '-t',
      '#',
    ]);
    await sub.stop();
    expect(sub.granted).toEqual([1, 128, 128]);
  });

  it('broker.publish reaches a device; QoS 1 replies are queued while it is offline (persistent session)', async () => {
    const args = [...STN, '-t', 'rigtrace/plant-1/STN-01/error', '-q', '1', '-i', 'stn-01-replies', '-c'];
    const first = await mosquittoSub(port, args);
    await broker.publish('rigtrace/plant-1/STN-01/error', '{"n":1}', 1);
    expect(await first.waitForLines(1)).toEqual(['rigtrace/plant-1/STN-01/error {"n":1}']);
    await first.stop();
    await waitUntil(() => broker.stats().clients === 0, 2000, 'the subscriber to leave');
    await broker.publish('rigtrace/plant-1/STN-01/error', '{"n":2}', 1);
    const second = await mosquittoSub(port, args);
    try {
      expect(await second.waitForLines(1)).toEqual(['rigtrace/plant-1/STN-01/error {"n":2}']);
    } finally {
      await second.stop();
    }
  });

  it('broker.publish refuses invalid topics', async () => {
    await expect(broker.publish('a/#', 'x')).rejects.toThrow(/wildcards/u);
    await expect(broker.publish('$SYS/x', 'x')).rejects.toThrow(/\$/u);
  });
});

describe('acknowledged only once durable', () => {
  let broker: EmbeddedBroker;
  let port: number;
  let behaviour: { delayMs: number; fail: (m: InboundMessage, n: number) => boolean };
  let rec: ReturnType<typeof recorder>;
  const clients: RawClient[] = [];
  const refused: RefusedMessage[] = [];

  beforeAll(async () => {
    behaviour = { delayMs: 0, fail: () => false };
    rec = recorder(behaviour);
    broker = new EmbeddedBroker({
      host: '127.0.0.1',
      port: 0,
      devices: await devices(),
      onMessage: (m) => rec.onMessage(m),
      onRefused: (m) => {
        refused.push(m);
        return Promise.resolve();
      },
      maxPayloadBytes: 1024,
    });
    ({ port } = await broker.start());
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.destroy();
    behaviour.delayMs = 0;
    behaviour.fail = () => false;
  });
  afterAll(() => broker.stop());

  async function stn(clientId?: string): Promise<RawClient> {
    const c = await RawClient.connected(port, {
      username: 'stn',
      password: 'stn-secret',
      ...(clientId ? { clientId } : {}),
    });
    clients.push(c);
    return c;
  }

  it('PUBACK comes only after onMessage resolved', async () => {
    behaviour.delayMs = 300;
    const resolvedAt: number[] = [];
    const original = rec.onMessage;
    rec.onMessage = async (m) => {
      await original(m);
      resolvedAt.push(performance.now());
    };
    try {
      const c = await stn();
      const sentAt = performance.now();
      c.write(publishBytes({ topic: T, payload: 'durable?', qos: 1, messageId: 41 }));
      const ack = await c.next('puback', (p) => p.messageId === 41);
      expect(resolvedAt).toHaveLength(1);
      expect(ack.at).toBeGreaterThanOrEqual(resolvedAt[0]!);
      expect(ack.at - sentAt).toBeGreaterThanOrEqual(295);
    } finally {
      rec.onMessage = original;
    }
  });

  it('messages of a connection are handled one at a time, in order, each acked after its own onMessage', async () => {
    const order: string[] = [];
    const original = rec.onMessage;
    rec.onMessage = async (m) => {
      const n = Number(m.payload.toString());
      order.push(`start ${n}`);
      await sleep(60 - n * 10); // later messages would finish first if they ran in parallel
      order.push(`end ${n}`);
      await original(m);
    };
    try {
      const c = await stn();
      c.write(
        Buffer.concat(
          [1, 2, 3, 4, 5].map((n) => publishBytes({ topic: T, payload: String(n), qos: 1, messageId: n })),
        ),
      );
      await waitUntil(() => c.packets.filter((p) => p.cmd === 'puback').length === 5, 3000, '5 PUBACKs');
      expect(c.packets.filter((p) => p.cmd === 'puback').map((p) => p.messageId)).toEqual([1, 2, 3, 4, 5]);
      expect(order).toEqual([1, 2, 3, 4, 5].flatMap((n) => [`start ${n}`, `end ${n}`]));
    } finally {
      rec.onMessage = original;
    }
  });

  it('onMessage throws: no PUBACK, client disconnected; MQTT.js resends after reconnecting; nothing lost', async () => {
    const prefix = `redeliver-${Date.now()}-`;
    let failures = 0;
    behaviour.fail = (m) => m.payload.toString() === `${prefix}3` && failures++ === 0;
    const before = broker.stats();
    const client = await connectAsync(`mqtt://127.0.0.1:${port}`, {
      clientId: 'stn-mqttjs',
      username: 'stn',
      password: 'stn-secret',
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: 100,
    });
    let reconnects = 0;
    client.on('connect', () => reconnects++);
    try {
      const payloads = Array.from({ length: 8 }, (_, i) => `${prefix}${i + 1}`);
      await Promise.all(payloads.map((p) => client.publishAsync(T, p, { qos: 1 })));
      const got = rec.messages.map((m) => m.payload.toString()).filter((p) => p.startsWith(prefix));
      expect(new Set(got)).toEqual(new Set(payloads));
      expect(reconnects).toBeGreaterThanOrEqual(1);
      expect(broker.stats().handlerFailures).toBe(before.handlerFailures + 1);
    } finally {
      await client.endAsync(true);
    }
  });

  it('a payload over maxPayloadBytes is acknowledged, dropped and counted, the connection stays; one at the limit is accepted', async () => {
    const before = broker.stats();
    const refusedBefore = refused.length;
    const c = await stn();
    c.write(publishBytes({ topic: T, payload: Buffer.alloc(1024, 0x61), qos: 1, messageId: 1 }));
    await c.next('puback');
    // just over the limit (parsed whole), far over it (skipped as it streams in), then a normal one
    c.write(publishBytes({ topic: T, payload: Buffer.alloc(1025, 0x61), qos: 1, messageId: 2 }));
    const big = publishBytes({ topic: T, payload: Buffer.alloc(400 * 1024, 0x62), qos: 1, messageId: 3 });
    for (let i = 0; i < big.length; i += 16_384) c.write(big.subarray(i, i + 16_384));
    c.write(publishBytes({ topic: T, payload: 'after', qos: 1, messageId: 4 }));
    await c.next('puback', (p) => p.messageId === 4);
    expect(c.isOpen).toBe(true);
    expect(c.packets.filter((p) => p.cmd === 'puback').map((p) => p.messageId)).toEqual([1, 2, 3, 4]);
    expect(broker.stats()).toMatchObject({
      oversized: before.oversized + 2,
      messagesRefused: before.messagesRefused + 2,
      messagesIn: before.messagesIn + 2,
    });
    expect(refused.slice(refusedBefore).map((m) => [m.reason, m.bytes, m.payload.length, m.topic])).toEqual([
      ['size', 1025, 0, T],
      ['size', 400 * 1024, 0, T],
    ]);
    expect(rec.messages.at(-1)!.payload.toString()).toBe('after');
  });

  it('a CONNECT with a protocol level other than 3 or 4 gets CONNACK 1 and is closed [MQTT-3.1.2-2]', async () => {
    const before = broker.stats().unsupportedProtocol;
    for (const level of [5, 6, 2]) {
      const c = await RawClient.open(port);
      clients.push(c);
      c.write(connectBytes({ username: 'stn', password: 'stn-secret', protocolLevel: level }));
      expect((await c.next('connack')).returnCode).toBe(1);
      expect(await c.closesWithin(2000)).toBe(true);
    }
    // an MQTT 5 client library is told so, instead of seeing the connection drop
    const v5 = await mosquittoPub(port, ['-u', 'stn', '-P', 'stn-secret', '-V', '5', '-t', T, '-m', 'x']);
    expect(v5.code).not.toBe(0);
    expect(v5.stderr).toMatch(/Connection error: Unsupported Protocol Version/iu);
    expect(broker.stats().unsupportedProtocol).toBe(before + 4);
    // MQTT 3.1 (MQIsdp, level 3) is still spoken
    const c = await RawClient.open(port);
    clients.push(c);
    c.write(
      connectBytes({ username: 'stn', password: 'stn-secret', protocolName: 'MQIsdp', protocolLevel: 3 }),
    );
    expect((await c.next('connack')).returnCode).toBe(0);
  });

  it('a packet announcing 200 MB is refused from its header, before its body is sent', async () => {
    const before = broker.stats().oversized;
    const c = await stn();
    c.write(
      Buffer.concat([
        Buffer.from([0x32]),
        remainingLength(200 * 1024 * 1024),
        Buffer.from([0x00, 0x01, 0x61]),
      ]),
    );
    expect(await c.closesWithin(2000)).toBe(true);
    expect(broker.stats().oversized).toBe(before + 1);
  });

  it('an unauthenticated peer cannot make the broker buffer a huge CONNECT either', async () => {
    const before = broker.stats().oversized;
    const c = await RawClient.open(port);
    clients.push(c);
    const connect = connectBytes({ username: 'stn', password: 'x'.repeat(60_000) });
    c.write(Buffer.concat([connect.subarray(0, 1), remainingLength(100 * 1024 * 1024)]));
    expect(await c.closesWithin(2000)).toBe(true);
    expect(broker.stats().oversized).toBe(before + 1);
  });
});

describe('EmbeddedBroker options', () => {
  it('lists every problem, path by path', async () => {
    const good = await testDevice('a', 'b', { publish: ['x/#'] });
    let error: unknown;
    try {
      new EmbeddedBroker({
        host: '',
        port: 70000,
        onMessage: undefined as never,
        maxPayloadBytes: 0,
        devices: [
          good,
          { ...good, passwordHash: 'plaintext' },
          { ...good, username: 'c', publish: ['a/#/b', '$SYS/#'], subscribe: ['ok/+'] },
        ],
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(MqttConfigError);
    expect((error as MqttConfigError).problems).toEqual([
      { path: 'host', message: 'must be a non-empty string' },
      { path: 'port', message: 'must be an integer 0..65535' },
      { path: 'onMessage', message: 'must be a function' },
      { path: 'maxPayloadBytes', message: 'must be an integer 1..268435455' },
      { path: 'devices[1].username', message: 'is given twice' },
      {
        path: 'devices[1].passwordHash',
        message: expect.stringMatching(/^must be an argon2id encoded hash/u) as string,
      },
      { path: 'devices[2].publish[0]', message: '# must be a whole level and the last one [MQTT-4.7.1-2]' },
      { path: 'devices[2].publish[1]', message: 'devices never publish to $ topics' },
    ]);
  });

  it('hashDevicePassword uses argon2id with m=19 MiB, t=2, p=1 (OWASP minimum)', async () => {
    const h = await hashDevicePassword('a device password');
    expect(h).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/u);
    await expect(hashDevicePassword('')).rejects.toThrow(/empty/u);
  });

  it('start() fails when the port is taken, and stop() is safe to call twice', async () => {
    const a = new EmbeddedBroker({ host: '127.0.0.1', port: 0, devices: [], onMessage: async () => {} });
    const { port } = await a.start();
    const b = new EmbeddedBroker({ host: '127.0.0.1', port, devices: [], onMessage: async () => {} });
    await expect(b.start()).rejects.toThrow(/EADDRINUSE/u);
    await a.stop();
    await a.stop();
  });
});
