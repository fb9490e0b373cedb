import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedBroker } from './broker.js';
import {
  connectBytes,
  disconnectBytes,
  pingreqBytes,
  publishBytes,
  pubrelBytes,
  RawClient,
  subscribeBytes,
  unsubscribeBytes,
} from './testing/raw-client.js';
import { recorder, sleep, testDevice, waitUntil } from './testing/peers.js';

// Every MQTT 3.1.1 rule the embedded broker enforces where aedes 1.2 does not, with raw packets
// (hand-built bytes, so that invalid ones can be sent at all). Each test also shows the broker keeps
// serving: the refused connection is closed, the counters say why, onMessage saw nothing.

const STN = { username: 'stn', password: 'stn-secret' };
const PEER = { username: 'peer', password: 'peer-secret' };
const ALL = { username: 'all', password: 'all-secret' };

let broker: EmbeddedBroker;
let port: number;
let rec: ReturnType<typeof recorder>;
const open: RawClient[] = [];

const login = (who: { username: string; password: string }) => ({
  username: who.username,
  password: who.password,
});

async function raw(o: Parameters<typeof connectBytes>[0] = {}): Promise<RawClient> {
  const c = await RawClient.connected(port, { ...login(STN), ...o });
  open.push(c);
  return c;
}

async function rawOpen(): Promise<RawClient> {
  const c = await RawClient.open(port);
  open.push(c);
  return c;
}

beforeAll(async () => {
  rec = recorder();
  broker = new EmbeddedBroker({
    host: '127.0.0.1',
    port: 0,
    onMessage: (m) => rec.onMessage(m),
    maxConnections: 20,
    devices: [
      await testDevice(STN.username, STN.password, {
        publish: ['rigtrace/p1/STN-01/#', 'q/#', 'r/#'],
        subscribe: ['rigtrace/p1/STN-01/#', 'q/#', 'r/#', 'ok/#'],
      }),
      await testDevice(PEER.username, PEER.password, { publish: ['q/#'], subscribe: ['q/#', 'w/#'] }),
      await testDevice(ALL.username, ALL.password, { publish: ['#'], subscribe: ['#'] }),
    ],
  });
  ({ port } = await broker.start());
});

afterEach(() => {
  for (const c of open.splice(0)) c.destroy();
});

afterAll(async () => {
  await broker.stop();
});

/** Sends bytes on a fresh authenticated connection and expects the broker to close it as a protocol error. */
async function expectClosedFor(bytes: Buffer, opts: Parameters<typeof connectBytes>[0] = {}): Promise<void> {
  const before = broker.stats();
  const messages = rec.messages.length;
  const c = await raw(opts);
  c.write(bytes);
  expect(await c.closesWithin(2000)).toBe(true);
  await waitUntil(
    () => broker.stats().protocolErrors === before.protocolErrors + 1,
    2000,
    'protocolErrors + 1',
  );
  expect(rec.messages.length).toBe(messages);
}

describe('CONNECT', () => {
  it('zero-length client id with CleanSession 0: CONNACK 2 and close [MQTT-3.1.3-8] (aedes accepts it)', async () => {
    const c = await rawOpen();
    c.write(connectBytes({ ...login(STN), clientId: '', clean: false }));
    expect((await c.next('connack')).returnCode).toBe(2);
    expect(await c.closesWithin(2000)).toBe(true);
    // with CleanSession 1 an empty client id is fine: the broker assigns one
    const ok = await rawOpen();
    ok.write(connectBytes({ ...login(STN), clientId: '', clean: true }));
    expect((await ok.next('connack')).returnCode).toBe(0);
  });

  it('a password without a user name closes the connection, no CONNACK [MQTT-3.1.2-22] (aedes accepts it)', async () => {
    const before = broker.stats().protocolErrors;
    const c = await rawOpen();
    c.write(connectBytes({ password: 'x' }));
    expect(await c.closesWithin(2000)).toBe(true);
    expect(c.packets).toEqual([]);
    expect(broker.stats().protocolErrors).toBe(before + 1);
  });

  it('ill-formed UTF-8 or U+0000 in the client id or user name closes the connection [MQTT-1.5.3-1/2]', async () => {
    for (const o of [
      { clientId: Buffer.from([0x61, 0xff]) },
      { clientId: 'a\u0000b' },
      { username: Buffer.from([0xc3, 0x28]), password: 'x' },
    ]) {
      const c = await rawOpen();
      c.write(connectBytes({ ...login(STN), ...o }));
      expect(await c.closesWithin(2000)).toBe(true);
      expect(c.packets).toEqual([]);
    }
  });

  it('a will topic with wildcards, or will QoS 3, closes the connection (aedes publishes a will to "w/#")', async () => {
    const watcher = await raw({ ...login(PEER) });
    watcher.write(subscribeBytes(1, [{ topic: 'w/#', qos: 0 }]));
    expect((await watcher.next('suback')).granted).toEqual([0]);
    for (const will of [
      { topic: 'w/#', payload: 'gone' },
      { topic: 'w/+/x', payload: 'gone' },
      { topic: 'w/a', payload: 'gone', qos: 3 },
    ]) {
      const c = await rawOpen();
      c.write(connectBytes({ ...login(ALL), will }));
      expect(await c.closesWithin(2000)).toBe(true);
      expect(c.packets).toEqual([]);
    }
    await sleep(100);
    expect(watcher.publishes()).toEqual([]);
  });

  it('a will topic outside the publish ACL: CONNACK 5', async () => {
    const before = broker.stats().aclDenied;
    const c = await rawOpen();
    c.write(connectBytes({ ...login(STN), will: { topic: 'rigtrace/p1/OTHER/status', payload: 'x' } }));
    expect((await c.next('connack')).returnCode).toBe(5);
    expect(await c.closesWithin(2000)).toBe(true);
    expect(broker.stats().aclDenied).toBe(before + 1);
  });

  it('no will on a refused CONNECT; the will of an allowed client goes out when it drops, not after DISCONNECT', async () => {
    const watcher = await raw({ ...login(PEER) });
    watcher.write(subscribeBytes(1, [{ topic: 'q/#', qos: 0 }]));
    await watcher.next('suback');
    const refused = await rawOpen();
    refused.write(
      connectBytes({
        username: STN.username,
        password: 'wrong',
        will: { topic: 'q/will-refused', payload: 'r' },
      }),
    );
    expect((await refused.next('connack')).returnCode).toBe(5);
    const polite = await raw({ will: { topic: 'q/will-polite', payload: 'p' } });
    polite.write(disconnectBytes());
    await polite.closed;
    const dropped = await raw({ will: { topic: 'q/will-dropped', payload: 'd' } });
    dropped.destroy();
    await watcher.next('publish', (p) => p.topic === 'q/will-dropped');
    await sleep(100);
    expect(watcher.publishes().map((p) => p.topic)).toEqual(['q/will-dropped']);
    // wills are device messages too: they went through onMessage
    expect(rec.messages.filter((m) => m.topic.startsWith('q/will')).map((m) => m.topic)).toEqual([
      'q/will-dropped',
    ]);
  });

  it('a second CONNECT, or any packet before CONNECT, closes the connection [MQTT-3.1.0-1/2]', async () => {
    await expectClosedFor(connectBytes({ ...login(STN) }));
    const before = broker.stats().protocolErrors;
    const c = await rawOpen();
    c.write(publishBytes({ topic: 'q/early', payload: 'x' }));
    expect(await c.closesWithin(2000)).toBe(true);
    expect(broker.stats().protocolErrors).toBe(before + 1);
  });

  it('another device cannot take over a session (CONNACK 2); the same device can (old connection closed)', async () => {
    const first = await raw({ clientId: 'station-1' });
    const thief = await rawOpen();
    thief.write(connectBytes({ ...login(PEER), clientId: 'station-1' }));
    expect((await thief.next('connack')).returnCode).toBe(2);
    first.write(pingreqBytes());
    await first.next('pingresp');
    expect(first.isOpen).toBe(true);
    await raw({ clientId: 'station-1' });
    expect(await first.closesWithin(2000)).toBe(true);
  });

  it('keep alive: the connection is closed after 1.5 × the keep alive without packets, not before [MQTT-3.1.2-24]', async () => {
    const c = await raw({ keepalive: 1 });
    const t0 = performance.now();
    const closedAt = await c.closed;
    expect(closedAt - t0).toBeGreaterThanOrEqual(1400);
    expect(closedAt - t0).toBeLessThan(2600);
  });
});

describe('PUBLISH', () => {
  it('topics with U+0000 or ill-formed UTF-8 close the connection [MQTT-4.7.3-2, MQTT-1.5.3-1] (aedes accepts them)', async () => {
    await expectClosedFor(publishBytes({ topic: Buffer.from('q/a\u0000b'), payload: 'x' }));
    await expectClosedFor(
      publishBytes({ topic: Buffer.from([0x71, 0x2f, 0xff]), payload: 'x', qos: 1, messageId: 3 }),
    );
  });

  it('wildcards or an empty topic in PUBLISH close the connection [MQTT-3.3.2-2]', async () => {
    await expectClosedFor(publishBytes({ topic: 'q/#', payload: 'x' }));
    await expectClosedFor(publishBytes({ topic: 'q/+/x', payload: 'x' }));
    await expectClosedFor(publishBytes({ topic: '', payload: 'x' }));
  });

  it('QoS 0 with DUP, and QoS 1 with packet identifier 0, close the connection [MQTT-3.3.1-2, MQTT-2.3.1-1]', async () => {
    await expectClosedFor(publishBytes({ topic: 'q/a', payload: 'x', dup: true }));
    const c = await raw();
    c.write(publishBytes({ topic: 'q/a', payload: 'x', qos: 1, messageId: 0 }));
    expect(await c.closesWithin(2000)).toBe(true);
    expect(c.packets.filter((p) => p.cmd === 'puback')).toEqual([]);
  });

  it('devices never publish to $-topics, even with "#" in their ACL (acknowledged and dropped)', async () => {
    const before = broker.stats();
    const c = await raw({ ...login(ALL) });
    c.write(publishBytes({ topic: '$SYS/fake/heartbeat', payload: 'x', qos: 1, messageId: 9 }));
    await c.next('puback', (p) => p.messageId === 9);
    expect(await c.closesWithin(300)).toBe(false);
    expect(broker.stats()).toMatchObject({
      aclDenied: before.aclDenied + 1,
      messagesRefused: before.messagesRefused + 1,
      messagesIn: before.messagesIn,
    });
  });

  it('QoS 2: a PUBLISH retransmitted before PUBREL is handed to onMessage once [MQTT-4.3.3-2]', async () => {
    const c = await raw({ clientId: 'qos2-sender' });
    const payload = `exactly-once-${Date.now()}`;
    c.write(publishBytes({ topic: 'q/two', payload, qos: 2, messageId: 77 }));
    await c.next('pubrec', (p) => p.messageId === 77);
    c.write(publishBytes({ topic: 'q/two', payload, qos: 2, messageId: 77, dup: true }));
    await waitUntil(() => c.packets.filter((p) => p.cmd === 'pubrec').length === 2, 2000, 'second PUBREC');
    c.write(pubrelBytes(77));
    await c.next('pubcomp', (p) => p.messageId === 77);
    expect(rec.messages.filter((m) => m.payload.toString() === payload)).toHaveLength(1);
  });
});

describe('SUBSCRIBE and UNSUBSCRIBE', () => {
  it('invalid filters close the connection [MQTT-4.7.1-2/3] (aedes grants "a#", "a/+b", "+a", "a+")', async () => {
    for (const filter of ['q/a#', 'q/+b', '+q', 'q+', 'q/#/x'])
      await expectClosedFor(subscribeBytes(1, [{ topic: filter, qos: 0 }]));
    await expectClosedFor(unsubscribeBytes(1, ['q/a#']));
    const c = await raw();
    c.write(subscribeBytes(1, [{ topic: 'q/+/x', qos: 1 }]));
    expect((await c.next('suback')).granted).toEqual([1]);
  });

  it('SUBSCRIBE / UNSUBSCRIBE without filters, or with packet identifier 0, close the connection', async () => {
    await expectClosedFor(Buffer.from([0x82, 0x02, 0x00, 0x01]));
    await expectClosedFor(Buffer.from([0xa2, 0x02, 0x00, 0x01]));
    await expectClosedFor(subscribeBytes(0, [{ topic: 'q/a', qos: 0 }]));
  });

  it('a filter outside the subscribe ACL gets 0x80; "#" in the ACL does not cover "$SYS/#" [MQTT-4.7.2-1]', async () => {
    const c = await raw();
    c.write(
      subscribeBytes(5, [
        { topic: 'q/#', qos: 1 },
        { topic: 'rigtrace/p1/+/error', qos: 1 },
        { topic: '#', qos: 0 },
      ]),
    );
    expect((await c.next('suback')).granted).toEqual([1, 128, 128]);
    const all = await raw({ ...login(ALL) });
    all.write(
      subscribeBytes(6, [
        { topic: '$SYS/#', qos: 0 },
        { topic: '#', qos: 0 },
      ]),
    );
    expect((await all.next('suback')).granted).toEqual([128, 0]);
  });
});

describe('delivery: QoS downgrade and ACLs on the way out', () => {
  it('a QoS 2 message reaches a QoS 1 wildcard subscription at QoS 1 [MQTT-3.8.4-6] (aedes sends QoS 2)', async () => {
    const sub = await raw({ ...login(PEER) });
    sub.write(subscribeBytes(1, [{ topic: 'q/down/+', qos: 1 }]));
    await sub.next('suback');
    const pub = await raw();
    pub.write(publishBytes({ topic: 'q/down/a', payload: 'two', qos: 2, messageId: 12 }));
    await pub.next('pubrec');
    pub.write(pubrelBytes(12));
    const got = await sub.next('publish', (p) => p.topic === 'q/down/a');
    expect(got.qos).toBe(1);
  });

  it('a retained QoS 1 message reaches a new QoS 0 wildcard subscription at QoS 0 (aedes sends QoS 1)', async () => {
    const pub = await raw();
    pub.write(publishBytes({ topic: 'r/retained/x', payload: 'kept', qos: 1, messageId: 4, retain: true }));
    await pub.next('puback');
    const sub = await raw();
    sub.write(subscribeBytes(1, [{ topic: 'r/retained/#', qos: 0 }]));
    const got = await sub.next('publish', (p) => p.topic === 'r/retained/x');
    expect(got).toMatchObject({ qos: 0, retain: true });
    expect(got.payload?.toString()).toBe('kept');
  });

  it('a refused filter of a persistent session never gets messages queued for it (aedes delivers them at reconnect)', async () => {
    const c1 = await raw({ clientId: 'leaky', clean: false });
    c1.write(
      subscribeBytes(1, [
        { topic: 'ok/x', qos: 1 },
        { topic: 'secret/#', qos: 1 },
      ]),
    );
    expect((await c1.next('suback')).granted).toEqual([1, 128]);
    c1.write(disconnectBytes());
    await c1.closed;
    await broker.publish('secret/plans', 'TOP SECRET', 1);
    await broker.publish('ok/x', 'fine', 1);
    const c2 = await raw({ clientId: 'leaky', clean: false });
    await c2.next('publish', (p) => p.topic === 'ok/x');
    await sleep(150);
    expect(c2.publishes().map((p) => `${p.topic}=${p.payload?.toString()}`)).toEqual(['ok/x=fine']);
  });
});

describe('connections', () => {
  it('beyond maxConnections: CONNACK 3 (server unavailable), counted', async () => {
    const before = broker.stats().connectionsRefused;
    const clients: RawClient[] = [];
    while (broker.stats().clients < 20) clients.push(await raw());
    const c = await rawOpen();
    c.write(connectBytes({ ...login(STN) }));
    expect((await c.next('connack')).returnCode).toBe(3);
    expect(broker.stats().connectionsRefused).toBe(before + 1);
    for (const x of clients) x.destroy();
    await waitUntil(() => broker.stats().clients === 0, 2000, 'clients to leave');
  });
});
