import { describe, expect, it } from 'vitest';
import { inspectionRecordSchema } from '../record/index.js';
import {
  errorReplyPayload,
  errorReplyTopic,
  MAX_STATION_PAYLOAD_BYTES,
  parseStationMessage,
  parseStationTopic,
  peekMessageId,
} from './station.js';

const T_INSPECTION = 'rigtrace/plant-1/STN-01/inspection';
const T_USAGE = 'rigtrace/plant-1/STN-01/usage';

const part = (): Record<string, unknown> => ({
  id: 'STN-01-lx1-000042',
  observedAt: '2026-11-23T05:51:12.123Z',
  partSerial: 'NZB-00012345',
  workOrder: 'WO-100231',
  operator: 'OP-1042',
  gauge: 'GA-0101',
  characteristics: [
    { name: 'guide-bore.diameter', nominal: 4, lsl: 3.998, usl: 4.002, measured: 4.0007, unit: 'mm' },
    {
      name: 'needle-lift',
      nominal: 0.25,
      lsl: 0.24,
      usl: 0.26,
      measured: 0.2463,
      unit: 'mm',
      gauge: 'GA-0102',
    },
    { name: 'seat.runout', usl: 0.002, measured: 0.0011, unit: 'mm', gauge: 'GA-0103' },
  ],
});
const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

function inspectionBody(r: ReturnType<typeof parseStationMessage>) {
  if (!r.ok || r.message.kind !== 'inspection')
    throw new Error(`expected an inspection, got ${JSON.stringify(r)}`);
  return r.message.body;
}

function problemsOf(topic: string, payload: Buffer): { path: string; message: string }[] {
  const r = parseStationMessage(topic, payload);
  if (r.ok) throw new Error(`expected a refusal, got ${JSON.stringify(r.message)}`);
  return r.problems;
}

describe('parseStationMessage: inspection', () => {
  it('turns a good payload into a record body: results computed, gauges gathered', () => {
    const r = parseStationMessage(T_INSPECTION, json(part()));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.message).toEqual({
      kind: 'inspection',
      site: 'plant-1',
      equipment: 'STN-01',
      id: 'STN-01-lx1-000042',
      observedAt: '2026-11-23T05:51:12.123Z',
      body: {
        partSerial: 'NZB-00012345',
        workOrder: 'WO-100231',
        operator: 'OP-1042',
        result: 'pass',
        characteristics: [
          {
            name: 'guide-bore.diameter',
            nominal: 4,
            lsl: 3.998,
            usl: 4.002,
            measured: 4.0007,
            unit: 'mm',
            gauge: 'GA-0101',
            result: 'pass',
          },
          {
            name: 'needle-lift',
            nominal: 0.25,
            lsl: 0.24,
            usl: 0.26,
            measured: 0.2463,
            unit: 'mm',
            gauge: 'GA-0102',
            result: 'pass',
          },
          { name: 'seat.runout', usl: 0.002, measured: 0.0011, unit: 'mm', gauge: 'GA-0103', result: 'pass' },
        ],
        gauges: ['GA-0101', 'GA-0102', 'GA-0103'],
      },
    });
    // the body is a valid record body
    const record = {
      v: 1,
      id: '019a7b2c-1d2e-7f00-8a00-000000000001',
      edge: 'edge-1',
      seq: 1,
      kind: 'inspection',
      equipment: r.message.equipment,
      observedAt: r.message.observedAt,
      receivedAt: '2026-11-23T05:51:12.200Z',
      source: { protocol: 'mqtt', endpoint: 'mqtt://127.0.0.1:18830', address: T_INSPECTION },
      body: r.message.body,
    };
    expect(inspectionRecordSchema.safeParse(record).success).toBe(true);
  });

  it('computes fail from the limits, and fail overall when one characteristic fails', () => {
    const p = part();
    (p.characteristics as Record<string, unknown>[])[0]!.measured = 4.0031;
    const body = inspectionBody(parseStationMessage(T_INSPECTION, json(p)));
    expect(body.characteristics.map((c) => c.result)).toEqual(['fail', 'pass', 'pass']);
    expect(body.result).toBe('fail');
  });

  it('keeps a station "fail" inside the limits (guard band) but refuses "pass" outside them', () => {
    const p = part();
    const cs = p.characteristics as Record<string, unknown>[];
    cs[0]!.result = 'fail';
    expect(inspectionBody(parseStationMessage(T_INSPECTION, json(p))).result).toBe('fail');
    cs[0]!.result = 'pass';
    cs[0]!.measured = 3.9;
    expect(problemsOf(T_INSPECTION, json(p))).toEqual([
      { path: 'characteristics[0].result', message: 'must not be "pass": measured is outside lsl..usl' },
    ]);
  });

  it('refuses an overall "pass" when a characteristic fails', () => {
    const p: Record<string, unknown> = { ...part(), result: 'pass' };
    (p.characteristics as Record<string, unknown>[])[1]!.measured = 0.3;
    expect(problemsOf(T_INSPECTION, json(p))).toEqual([
      { path: 'result', message: 'must be "fail" when a characteristic fails' },
    ]);
  });

  it('needs a result when a characteristic has no limits', () => {
    const p = part();
    (p.characteristics as Record<string, unknown>[]).push({ name: 'visual', measured: 1, unit: 'ok' });
    expect(problemsOf(T_INSPECTION, json(p))).toEqual([
      { path: 'characteristics[3].result', message: 'is required when neither lsl nor usl is given' },
    ]);
  });

  it('refuses garbage with a problem per path', () => {
    expect(problemsOf(T_INSPECTION, Buffer.from('{"partSerial": "X", '))).toEqual([
      { path: '', message: expect.stringMatching(/^payload must be JSON: /u) as string },
    ]);
    expect(problemsOf(T_INSPECTION, Buffer.from('{"measured": NaN}'))[0]!.message).toMatch(/must be JSON/u);
    expect(problemsOf(T_INSPECTION, Buffer.from([0x7b, 0xff, 0x7d]))).toEqual([
      { path: '', message: 'payload must be UTF-8 text' },
    ]);
    expect(problemsOf(T_INSPECTION, json([1, 2]))).toEqual([
      { path: '', message: 'payload must be a JSON object' },
    ]);
    expect(problemsOf(T_INSPECTION, json(null))).toEqual([
      { path: '', message: 'payload must be a JSON object' },
    ]);

    const wrong = part();
    const cs = wrong.characteristics as Record<string, unknown>[];
    cs[0]!.measured = '4.0007';
    cs[1]!.lsl = 0.27;
    delete wrong.partSerial;
    wrong.colour = 'blue';
    expect(problemsOf(T_INSPECTION, json(wrong))).toEqual(
      expect.arrayContaining([
        { path: 'partSerial', message: 'is required' },
        { path: 'characteristics[0].measured', message: 'must be a finite number' },
        { path: 'colour', message: 'unknown field' },
      ]),
    );
    const lsl = part();
    (lsl.characteristics as Record<string, unknown>[])[1]!.lsl = 0.27;
    expect(problemsOf(T_INSPECTION, json(lsl))).toEqual([
      { path: 'characteristics[1].lsl', message: 'lsl must not be greater than usl' },
    ]);
  });

  it('refuses non-finite numbers, huge and control-character strings, too many items, bad timestamps', () => {
    const inf = Buffer.from(JSON.stringify(part()).replace('4.0007', '1e999'));
    expect(problemsOf(T_INSPECTION, inf)).toEqual([
      { path: 'characteristics[0].measured', message: 'must be a finite number' },
    ]);
    expect(problemsOf(T_INSPECTION, json({ ...part(), partSerial: 'x'.repeat(10_000) }))).toEqual([
      { path: 'partSerial', message: 'must be at most 64 characters' },
    ]);
    expect(problemsOf(T_INSPECTION, json({ ...part(), operator: 'OP\u0007' }))).toEqual([
      { path: 'operator', message: 'must not contain control characters' },
    ]);
    expect(problemsOf(T_INSPECTION, json({ ...part(), observedAt: '2026-11-23 05:51:12' }))[0]!.path).toBe(
      'observedAt',
    );
    expect(problemsOf(T_INSPECTION, json({ ...part(), characteristics: [] }))).toEqual([
      { path: 'characteristics', message: 'must have at least 1 characteristic' },
    ]);
    const many = {
      ...part(),
      characteristics: Array.from({ length: 201 }, () => (part().characteristics as unknown[])[0]),
    };
    expect(problemsOf(T_INSPECTION, json(many))).toEqual([
      { path: 'characteristics', message: 'must have at most 200 characteristics' },
    ]);
    expect(problemsOf(T_INSPECTION, Buffer.alloc(MAX_STATION_PAYLOAD_BYTES + 1, 0x20))).toEqual([
      { path: '', message: `payload must be at most ${MAX_STATION_PAYLOAD_BYTES} bytes` },
    ]);
    expect(
      problemsOf(T_INSPECTION, Buffer.from('{"__proto__": {"polluted": true}, "partSerial": "A"}')),
    ).toEqual([{ path: '["__proto__"]', message: 'unknown field' }]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('parseStationMessage: usage', () => {
  it('accepts start/stop/cycle with the usage body fields', () => {
    const r = parseStationMessage(
      T_USAGE,
      json({ id: 'u-1', event: 'cycle', cycles: 10, operator: 'OP-1042' }),
    );
    expect(r).toEqual({
      ok: true,
      message: {
        kind: 'usage',
        site: 'plant-1',
        equipment: 'STN-01',
        id: 'u-1',
        body: { event: 'cycle', cycles: 10, operator: 'OP-1042' },
      },
    });
  });

  it('refuses wrong events, negative or fractional cycles, missing event', () => {
    expect(problemsOf(T_USAGE, json({ event: 'pause' }))[0]!.path).toBe('event');
    expect(problemsOf(T_USAGE, json({ event: 'cycle', cycles: -1 }))).toEqual([
      { path: 'cycles', message: 'must be a non-negative integer' },
    ]);
    expect(problemsOf(T_USAGE, json({ event: 'cycle', cycles: 1.5 }))[0]!.path).toBe('cycles');
    expect(problemsOf(T_USAGE, json({ cycles: 3 }))[0]!.path).toBe('event');
  });
});

describe('topics and replies', () => {
  it('parses the topic convention and refuses anything else', () => {
    expect(parseStationTopic(T_INSPECTION)).toEqual({
      ok: true,
      site: 'plant-1',
      equipment: 'STN-01',
      kind: 'inspection',
    });
    for (const bad of [
      'rigtrace/plant-1/STN-01',
      'other/plant-1/STN-01/usage',
      'rigtrace/p 1/STN-01/usage',
      'rigtrace/p/-X/usage',
      'rigtrace/p/X/telemetry',
      'rigtrace/p/X/usage/extra',
    ])
      expect(parseStationTopic(bad).ok, bad).toBe(false);
    expect(problemsOf('rigtrace/plant-1/STN-01/error', json({}))).toEqual([
      { path: 'topic', message: 'kind must be inspection or usage' },
    ]);
    expect(problemsOf('rigtrace/plant-1/STN-01', json({}))[0]!.path).toBe('topic');
  });

  it('answers on the error topic of the same equipment, with the problems as JSON', () => {
    expect(errorReplyTopic(T_INSPECTION)).toBe('rigtrace/plant-1/STN-01/error');
    expect(errorReplyTopic('rigtrace/plant-1/STN-01/whatever')).toBe('rigtrace/plant-1/STN-01/error');
    expect(errorReplyTopic('somewhere/else')).toBeNull();
    const problems = Array.from({ length: 60 }, (_, i) => ({
      path: `characteristics[${i}].unit`,
      message: 'x',
    }));
    const reply = JSON.parse(
      errorReplyPayload({
        topic: T_INSPECTION,
        problems,
        receivedAt: new Date('2026-11-23T05:00:00Z'),
        id: 'm-1',
      }).toString(),
    );
    expect(reply).toMatchObject({
      topic: T_INSPECTION,
      id: 'm-1',
      receivedAt: '2026-11-23T05:00:00.000Z',
      truncated: 10,
    });
    expect(reply.problems).toHaveLength(50);
    expect(peekMessageId(json({ id: 'm-9', partSerial: 1 }))).toBe('m-9');
    expect(peekMessageId(Buffer.from('nope'))).toBeUndefined();
  });
});
