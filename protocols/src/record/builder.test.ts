import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildRecord, invalidRecordEvent, printable, valueAtPath } from './builder.js';
import { canonicalJson } from './canonical.js';
import { recordSchema, surelyValid } from './schema.js';

const envelope = (seq: number) => ({
  v: 1 as const,
  id: '019ab2f0-0000-7000-8000-000000000001',
  edge: 'edge-1',
  seq,
});
const base = {
  ...envelope(7),
  equipment: 'RIG-01',
  observedAt: '2026-11-23T05:51:12.123Z',
  receivedAt: '2026-11-23T05:51:12.130Z',
  source: { endpoint: 'modbus-tcp://10.0.0.5:502', protocol: 'modbus' as const },
};

describe('buildRecord', () => {
  it('returns the canonical text of a valid record', () => {
    const r = { ...base, kind: 'telemetry', body: { points: [{ name: 'p', quality: 'good', value: 1.5 }] } };
    const built = buildRecord(r);
    expect(built.ok).toBe(true);
    if (built.ok) expect(built.text).toBe(canonicalJson(r));
  });

  it('refuses an inspection that claims pass while a characteristic fails, naming the field', () => {
    const r = {
      ...base,
      kind: 'inspection',
      body: {
        partSerial: 'INJ-1',
        result: 'pass',
        characteristics: [{ name: 'q', measured: 63, usl: 61.8, lsl: 58.2, unit: 'mm3', result: 'fail' }],
      },
    };
    const built = buildRecord(r);
    expect(built.ok).toBe(false);
    if (built.ok) return;
    expect(built.issues).toEqual([
      { path: 'body.result', message: 'must be "fail" when a characteristic fails' },
    ]);
    const ev = invalidRecordEvent(r, built.issues, envelope(7), 'EDGE');
    expect(buildRecord(ev).ok).toBe(true);
    expect(ev.equipment).toBe('RIG-01');
    expect(ev.body.code).toBe('RECORD_INVALID');
    expect(ev.body.message).toContain('body.result = "pass": must be "fail" when a characteristic fails');
    expect(ev.body.details).toMatchObject({
      kind: 'inspection',
      'problem0.path': 'body.result',
      'problem0.value': '"pass"',
    });
  });

  it('names each field of an OPC UA calibration with a long unit, a bad standard id and a long string', () => {
    const r = {
      ...base,
      source: { endpoint: 'opc.tcp://bench:4840', protocol: 'opcua' },
      kind: 'calibration',
      body: {
        standards: [{ id: 'Fluke 8508A #2' }],
        points: [
          {
            name: 'p1',
            nominal: 1,
            unit: 'millimetres per stroke',
            asFound: 1,
            lowerTolerance: -1,
            upperTolerance: 1,
            asFoundResult: 'pass',
          },
        ],
        technician: 'x'.repeat(300),
        adjusted: false,
        asFoundResult: 'pass',
        calibratedAt: '2026-11-23T05:51:12Z',
      },
    };
    const built = buildRecord(r);
    expect(built.ok).toBe(false);
    if (built.ok) return;
    expect(built.issues.map((i) => i.path).sort()).toEqual([
      'body.points[0].unit',
      'body.standards[0].id',
      'body.technician',
    ]);
    const ev = invalidRecordEvent(r, built.issues, envelope(7), 'EDGE');
    expect(buildRecord(ev).ok).toBe(true);
    expect(ev.body.message).toContain(
      'body.points[0].unit = "millimetres per stroke": must be at most 16 characters',
    );
    expect(ev.body.message).toContain('body.standards[0].id = "Fluke 8508A #2"');
    expect(ev.source).toEqual({ endpoint: 'opc.tcp://bench:4840', protocol: 'opcua' });
  });

  it('refuses a record larger than 64 KiB', () => {
    const points = Array.from({ length: 500 }, (_, i) => ({
      name: `p${i}`,
      quality: 'good',
      value: 'x'.repeat(200),
    }));
    const built = buildRecord({ ...base, kind: 'telemetry', body: { points } });
    expect(built.ok).toBe(false);
    if (!built.ok) expect(built.issues[0]!.message).toMatch(/bytes, more than 65536/);
  });

  it('turns even a draft with nothing valid into a valid event', () => {
    for (const junk of [
      null,
      42,
      'text',
      { kind: 'calibration', equipment: 'bad tag!', source: 7, observedAt: 'yesterday' },
    ]) {
      const built = buildRecord(junk);
      expect(built.ok).toBe(false);
      if (built.ok) continue;
      const ev = invalidRecordEvent(junk, built.issues, envelope(3), 'EDGE-1');
      const again = buildRecord(ev);
      expect(again.ok, JSON.stringify(again)).toBe(true);
      expect(ev.equipment).toBe('EDGE-1');
    }
  });
});

describe('the quick check', () => {
  it('takes the telemetry and event records the edge writes', () => {
    expect(
      surelyValid({
        ...base,
        kind: 'telemetry',
        body: {
          points: [
            { name: 'a', quality: 'bad', value: null },
            { name: 'b', quality: 'good', unit: 'bar', value: 'x' },
          ],
        },
      }),
    ).toBe(true);
    expect(
      surelyValid({
        ...base,
        kind: 'event',
        body: {
          severity: 'info',
          code: 'SOURCE_CONNECTED',
          message: 'connected',
          details: { source: 'rig-1', n: 3, ok: true, none: null },
        },
      }),
    ).toBe(true);
    // Compiled from the record schema: every kind is covered.
    expect(surelyValid({ ...base, kind: 'usage', body: { event: 'start' } })).toBe(true);
    expect(surelyValid({ ...base, kind: 'usage', body: { event: 'start', extra: 1 } })).toBe(false);
  });

  it('accepts nothing the record schema refuses', () => {
    const odd = fc.oneof(
      fc.anything(),
      fc.string(),
      fc.constantFrom(
        '',
        'a\u0000b',
        '\uD800',
        'x'.repeat(300),
        'é',
        'RIG 01',
        '2026-02-29T00:00:00Z',
        '2024-02-29T00:00:00Z',
        NaN,
        -1,
        0,
        1.5,
        null,
        undefined,
        '__proto__',
      ),
    );
    const maybeOdd = <T>(arb: fc.Arbitrary<T>) =>
      fc.oneof({ weight: 15, arbitrary: arb }, { weight: 1, arbitrary: odd });
    const point = fc
      .record(
        {
          name: maybeOdd(fc.constantFrom('p', 'r0', 'ölTemp')),
          value: maybeOdd(
            fc.oneof(fc.double(), fc.boolean(), fc.string({ maxLength: 300 }), fc.constant(null)),
          ),
          unit: fc.option(maybeOdd(fc.constantFrom('bar', 'mm³/stroke')), { nil: undefined, freq: 2 }),
          quality: maybeOdd(fc.constantFrom('good', 'uncertain', 'bad')),
        },
        { requiredKeys: ['name', 'value', 'quality', 'unit'] },
      )
      .chain((p) => fc.constantFrom(p, p, p, p, { ...p, extra: 1 }));
    const telemetryBody = fc.record({ points: maybeOdd(fc.array(point, { minLength: 0, maxLength: 3 })) });
    const eventBody = fc.record(
      {
        severity: maybeOdd(fc.constantFrom('info', 'error')),
        code: maybeOdd(fc.constantFrom('A_B', 'x')),
        message: maybeOdd(fc.string({ maxLength: 20 })),
        details: maybeOdd(
          fc.dictionary(
            fc.oneof(fc.constantFrom('a', 'b.c', '_x'), fc.string({ maxLength: 5 })),
            maybeOdd(fc.oneof(fc.string(), fc.double(), fc.boolean())),
            { maxKeys: 3 },
          ),
        ),
      },
      { requiredKeys: ['severity', 'code', 'message'] },
    );
    const record = (kind: string, body: fc.Arbitrary<unknown>) =>
      fc.record({
        v: maybeOdd(fc.constant(1)),
        id: maybeOdd(fc.constant(base.id)),
        edge: maybeOdd(fc.constant('edge-1')),
        seq: maybeOdd(fc.integer({ min: 1, max: 10 })),
        kind: maybeOdd(fc.constant(kind)),
        equipment: maybeOdd(fc.constant('RIG-01')),
        observedAt: maybeOdd(fc.constant(base.observedAt)),
        receivedAt: maybeOdd(fc.constant(base.receivedAt)),
        source: maybeOdd(
          fc.record(
            {
              protocol: maybeOdd(fc.constant('modbus')),
              endpoint: maybeOdd(fc.constant('x')),
              address: maybeOdd(fc.constant('hr:1')),
            },
            { requiredKeys: ['protocol', 'endpoint'] },
          ),
        ),
        body,
      });
    let accepted = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          record('telemetry', telemetryBody),
          record('event', eventBody),
          record('event', telemetryBody),
        ),
        (r) => {
          if (!surelyValid(r)) return true;
          accepted++;
          return recordSchema.safeParse(r).success;
        },
      ),
      { numRuns: 5000 },
    );
    expect(accepted).toBeGreaterThan(10);
  });
});

describe('helpers', () => {
  it('finds values by path and prints them safely', () => {
    const d = { body: { points: [{ unit: 'x' }], 'odd key': 1 } };
    expect(valueAtPath(d, 'body.points[0].unit')).toBe('x');
    expect(valueAtPath(d, 'body["odd key"]')).toBe(1);
    expect(valueAtPath(d, 'body.nothing[3]')).toBeUndefined();
    expect(printable('a\u0000b\uD800', 20)).toBe('a\\u0000b\\ud800');
    expect(printable('😀😀😀', 4)).toBe('😀…');
  });
});
