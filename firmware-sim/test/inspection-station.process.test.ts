import {
  EmbeddedBroker,
  errorReplyPayload,
  hashDevicePassword,
  errorReplyTopic,
  parseStationMessage,
  peekMessageId,
  type InboundMessage,
  type StationMessage,
} from '@rigtrace/protocols/mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startDevice, type SimEvent, type SimProcess } from './helpers.js';

// The station is started as a real process, exactly as README.md says, against the protocols
// package's EmbeddedBroker (port 0) playing the edge: every message is checked with
// parseStationMessage, and refused ones are answered on the error topic.

interface Received {
  msg: InboundMessage;
  parsed: ReturnType<typeof parseStationMessage>;
}

const SITE = 'plant-1';

async function device(username: string, password: string, publish: string[], subscribe: string[] = []) {
  return { username, passwordHash: await hashDevicePassword(password), publish, subscribe };
}
const CONTROL = `rigtrace/${SITE}/STN-01/control`;
const idOf = (e: SimEvent): string => e.id as string;
const isPublished = (e: SimEvent): boolean => e.event === 'published';

describe('inspection-station process against the EmbeddedBroker', () => {
  let broker: EmbeddedBroker;
  let port: number;
  let station: SimProcess;
  const received: Received[] = [];
  const disconnects: string[] = [];

  beforeAll(async () => {
    broker = new EmbeddedBroker({
      host: '127.0.0.1',
      port: 0,
      devices: [
        await device(
          'stn-01',
          'stn-01-secret',
          [`rigtrace/${SITE}/#`],
          [CONTROL, `rigtrace/${SITE}/STN-01/error`],
        ),
      ],
      // the edge's part: parse, and answer what it refuses (never drop it silently)
      onMessage: (msg) => {
        const parsed = parseStationMessage(msg.topic, msg.payload);
        received.push({ msg, parsed });
        const replyTo = errorReplyTopic(msg.topic);
        if (!parsed.ok && replyTo) {
          const id = peekMessageId(msg.payload);
          const payload = errorReplyPayload({
            topic: msg.topic,
            problems: parsed.problems,
            receivedAt: msg.receivedAt,
            ...(id ? { id } : {}),
          });
          setImmediate(() => void broker.publish(replyTo, payload, 1));
        }
        return Promise.resolve();
      },
    });
    broker.on('client-disconnected', (e) => disconnects.push(e.clientId));
    ({ port } = await broker.start());
    station = await startDevice('inspection-station', [
      '--url',
      `mqtt://127.0.0.1:${port}`,
      '--username',
      'stn-01',
      '--password',
      'stn-01-secret',
      '--site',
      SITE,
      '--every-seconds',
      '0.1',
      '--seed',
      '11',
      '--disconnect-seconds',
      '1',
      '--disconnect-every-seconds',
      '60',
    ]);
    await station.waitFor((e) => e.event === 'connected', 15_000);
  });

  afterAll(async () => {
    if (station.child.exitCode === null) station.child.kill('SIGKILL');
    await broker.stop();
  });

  async function control(fault: string, on: boolean): Promise<number> {
    await broker.publish(CONTROL, JSON.stringify({ fault, on }), 1);
    const e = await station.waitFor((x) => x.event === 'fault-mode' && x.fault === fault && x.on === on);
    return station.events.indexOf(e);
  }

  const receivedById = (id: string): Received | undefined =>
    received.find((r) => r.parsed.ok && r.parsed.message.id === id);

  it('prints the connected line first, then one line per message the broker acknowledged; all parse', async () => {
    expect(station.events[0]).toMatchObject({
      event: 'connected',
      device: 'inspection-station',
      asset: 'STN-01',
      site: SITE,
      clientId: 'sim-STN-01',
      seed: 11,
      gauges: ['GA-0101', 'GA-0102', 'GA-0103', 'GA-0104'],
    });
    await station.waitFor(
      (e) => isPublished(e) && e.kind === 'inspection' && station.events.filter(isPublished).length >= 8,
    );
    const published = station.events.filter(isPublished);
    for (const e of published) {
      const r = receivedById(idOf(e));
      expect(r, idOf(e)).toBeDefined();
      expect(r!.msg).toMatchObject({ topic: e.topic, qos: 1, username: 'stn-01', clientId: 'sim-STN-01' });
      expect(r!.parsed.ok).toBe(true);
    }
    const first = received[0]!.parsed as { ok: true; message: StationMessage };
    expect(first.message).toMatchObject({ kind: 'usage', equipment: 'STN-01', body: { event: 'start' } });
    const inspection = received.map((r) => r.parsed).find((p) => p.ok && p.message.kind === 'inspection');
    expect(
      inspection?.ok && inspection.message.kind === 'inspection' && inspection.message.body,
    ).toMatchObject({
      partSerial: expect.stringMatching(/^NZB-\d{8}$/u) as string,
      gauges: ['GA-0101', 'GA-0102', 'GA-0103', 'GA-0104'],
      characteristics: expect.arrayContaining([
        expect.objectContaining({ name: 'nozzle-body.guide-bore.diameter', unit: 'mm', nominal: 4 }),
      ]) as unknown[],
    });
  });

  it('garbage fault: every inspection payload is refused by parseStationMessage, and the refusals come back', async () => {
    const mark = await control('garbage', true);
    await station.waitFor(
      (e) =>
        station.events.indexOf(e) > mark &&
        e.garbage !== undefined &&
        station.since(mark).filter((x) => x.garbage).length >= 8,
    );
    const off = await control('garbage', false);
    const garbage = station.events.slice(mark, off).filter((e) => isPublished(e) && e.kind === 'inspection');
    expect(garbage.length).toBeGreaterThanOrEqual(8);
    expect(new Set(garbage.map((e) => e.garbage))).toEqual(
      new Set([
        'truncated-json',
        'nan-literal',
        'wrong-types',
        'missing-fields',
        'huge-string',
        'unknown-field',
        'not-utf8',
        'empty',
      ]),
    );
    for (const e of garbage) {
      const bytes = Buffer.from(e.bytes as string, 'base64');
      const r = received.find((x) => x.msg.payload.equals(bytes) && x.msg.topic === e.topic);
      expect(r, `${e.garbage as string} reached the broker`).toBeDefined();
      expect(r!.parsed.ok, e.garbage as string).toBe(false);
    }
    // usage messages stay valid meanwhile
    for (const e of station.events.slice(mark, off).filter((x) => isPublished(x) && x.kind === 'usage'))
      expect(receivedById(idOf(e))?.parsed.ok).toBe(true);
    // the station got the edge's error replies on its error topic
    const reply = await station.waitFor((e) => e.event === 'error-reply' && station.events.indexOf(e) > mark);
    expect(reply).toMatchObject({
      topic: `rigtrace/${SITE}/STN-01/error`,
      reply: { topic: `rigtrace/${SITE}/STN-01/inspection`, problems: expect.any(Array) as unknown[] },
    });
  });

  it('drift fault: the first gauge drifts until its characteristic fails; off again, it passes', async () => {
    const mark = await control('drift', true);
    const failing = await station.waitFor((e) => {
      if (station.events.indexOf(e) <= mark || !isPublished(e) || e.kind !== 'inspection') return false;
      const r = receivedById(idOf(e));
      return (
        r?.parsed.ok === true &&
        r.parsed.message.kind === 'inspection' &&
        r.parsed.message.body.result === 'fail'
      );
    });
    const parsed = receivedById(idOf(failing))!.parsed as {
      ok: true;
      message: Extract<StationMessage, { kind: 'inspection' }>;
    };
    const bore = parsed.message.body.characteristics[0]!;
    expect(bore).toMatchObject({ name: 'nozzle-body.guide-bore.diameter', result: 'fail' });
    expect(bore.measured).toBeGreaterThan(bore.usl!);
    expect(parsed.message.body.gauges).toContain('GA-0101');
    const off = await control('drift', false);
    const next = await station.waitFor(
      (e) => station.events.indexOf(e) > off && isPublished(e) && e.kind === 'inspection',
    );
    const after = receivedById(idOf(next))!.parsed as {
      ok: true;
      message: Extract<StationMessage, { kind: 'inspection' }>;
    };
    expect(after.message.body.characteristics[0]!.measured).toBeLessThanOrEqual(bore.usl!);
  });

  it('clock-skew fault: observedAt is off by minutes from when the broker received it', async () => {
    const mark = await control('clock-skew', true);
    expect(Math.abs(station.events[mark]!.clockSkewS as number)).toBeGreaterThanOrEqual(180);
    const skewed = await station.waitFor((e) => station.events.indexOf(e) > mark && isPublished(e));
    const r = receivedById(idOf(skewed))!;
    const observed = r.parsed.ok ? Date.parse(r.parsed.message.observedAt!) : NaN;
    expect(Math.abs(observed - r.msg.receivedAt.getTime())).toBeGreaterThanOrEqual(179_000);
    const off = await control('clock-skew', false);
    const straight = await station.waitFor((e) => station.events.indexOf(e) > off && isPublished(e));
    const s = receivedById(idOf(straight))!;
    const observed2 = s.parsed.ok ? Date.parse(s.parsed.message.observedAt!) : NaN;
    expect(Math.abs(observed2 - s.msg.receivedAt.getTime())).toBeLessThan(5_000);
  });

  it('disconnect fault: the station drops off and comes back; nothing measured meanwhile is lost', async () => {
    const mark = await control('disconnect', true);
    const outage = await station.waitFor(
      (e) => station.events.indexOf(e) > mark && e.event === 'outage-started',
    );
    const back = await station.waitFor(
      (e) => station.events.indexOf(e) > mark && e.event === 'reconnected',
      10_000,
    );
    expect(disconnects).toContain('sim-STN-01');
    const off = await control('disconnect', false);
    await station.waitFor((e) => station.events.indexOf(e) > off && isPublished(e));
    // parts measured while it was away reached the broker after the reconnect
    const t0 = Date.parse(outage.time as string);
    const t1 = Date.parse(back.time as string);
    const measuredAway = received.filter(
      (r) =>
        r.parsed.ok &&
        Date.parse(r.parsed.message.observedAt!) > t0 + 100 &&
        Date.parse(r.parsed.message.observedAt!) < t1 - 100,
    );
    expect(measuredAway.length).toBeGreaterThanOrEqual(3);
    // they waited in the station (MQTT.js' queue) until the 1 s outage was over
    for (const r of measuredAway) expect(r.msg.receivedAt.getTime()).toBeGreaterThanOrEqual(t0 + 900);
    // ids end in a sequence number: the acknowledged ones are 1..n without a gap, and each reached onMessage
    const seq = (e: SimEvent): number => Number(idOf(e).split('-').at(-1));
    const published = station.events.filter(isPublished);
    expect(published.map(seq)).toEqual(Array.from({ length: published.length }, (_, i) => i + 1));
    for (const e of published) {
      const reached = e.garbage
        ? received.some((r) => r.msg.payload.equals(Buffer.from(e.bytes as string, 'base64')))
        : receivedById(idOf(e)) !== undefined;
      expect(reached, idOf(e)).toBe(true);
    }
  });

  it('SIGTERM: publishes the end of the shift, disconnects cleanly, exits 0', async () => {
    const before = received.length;
    station.child.kill('SIGTERM');
    expect(await station.exited).toBe(0);
    expect(station.events.map((e) => e.event)).toContain('stopping');
    const last = received
      .slice(before)
      .map((r) => r.parsed)
      .filter((p) => p.ok && p.message.equipment === 'STN-01' && p.message.kind === 'usage');
    expect(last.at(-1)).toMatchObject({ ok: true, message: { kind: 'usage', body: { event: 'stop' } } });
  });
});

describe('inspection-station command line', () => {
  it('bad flags: one line per problem on stderr, exit code 2', async () => {
    const r = await runCli(['inspection-station', '--url', 'ftp://x', '--every-seconds', 'often', '--bogus']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual([
      'inspection-station: --url: scheme must be mqtt: or mqtts:, got "ftp://x"',
      'inspection-station: --every-seconds: must be a number 0.05..86400, got "often"',
      'inspection-station: unknown flag --bogus',
    ]);
  });

  it('credentials refused by the broker: a message and exit code 1', async () => {
    const broker = new EmbeddedBroker({
      host: '127.0.0.1',
      port: 0,
      devices: [await device('stn-01', 'right', ['#'])],
      onMessage: async () => {},
    });
    const { port } = await broker.start();
    try {
      const r = await runCli([
        'inspection-station',
        '--url',
        `mqtt://127.0.0.1:${port}`,
        '--username',
        'stn-01',
        '--password',
        'wrong',
      ]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/refused our credentials: .*Not authorized/iu);
    } finally {
      await broker.stop();
    }
  });
});
