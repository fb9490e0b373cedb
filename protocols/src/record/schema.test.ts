import { describe, expect, it } from 'vitest';
import { RECORD_KINDS, parseRecord, recordSchema, type RigRecord } from './schema.js';
import { exampleRecords } from './testing.js';

const EDGE = 'edge-1';
const examples = exampleRecords(EDGE, 1, 5);
const byKind = (kind: string): RigRecord => structuredClone(examples.find((r) => r.kind === kind)!);

/** A deep copy of the record with `path` (dot/bracket free: an array of keys) set to value (undefined deletes). */
function withField(record: unknown, path: (string | number)[], value: unknown): unknown {
  const copy = structuredClone(record) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  if (value === undefined) delete node[last];
  else node[last] = value;
  return copy;
}

function issues(value: unknown): { path: string; message: string }[] {
  const r = parseRecord(value);
  return r.ok ? [] : r.issues;
}

describe('record schema', () => {
  it('accepts the examples, one of each kind, and returns them unchanged', () => {
    expect(examples.map((r) => r.kind).sort()).toEqual([...RECORD_KINDS].sort());
    for (const r of examples) {
      const parsed = parseRecord(JSON.parse(JSON.stringify(r)));
      expect(parsed, r.kind).toEqual({ ok: true, record: r });
    }
    expect(recordSchema.safeParse(examples[0]).success).toBe(true);
  });

  it('accepts minimal bodies and the boundaries', () => {
    const t = byKind('telemetry');
    const minimal: unknown[] = [
      withField(t, ['source'], { protocol: 'edge', endpoint: 'x' }),
      withField(t, ['body', 'points'], [{ name: 'x', value: '', quality: 'bad' }]),
      withField(
        t,
        ['body', 'points'],
        Array.from({ length: 500 }, (_, i) => ({ name: `p${i}`, value: i, quality: 'good' })),
      ),
      withField(t, ['equipment'], `A${'b'.repeat(63)}`),
      withField(t, ['edge'], 'x'.repeat(128)),
      withField(t, ['seq'], Number.MAX_SAFE_INTEGER),
      withField(t, ['observedAt'], '2024-02-29T23:59:59Z'),
      withField(t, ['observedAt'], '2026-11-23T05:51:12.123456789Z'),
      withField(byKind('usage'), ['body'], { event: 'start' }),
      withField(byKind('event'), ['body'], { severity: 'info', code: 'A', message: 'm' }),
      withField(
        byKind('event'),
        ['body', 'details'],
        Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, i % 2 ? null : 'v'])),
      ),
      withField(byKind('calibration'), ['body'], {
        standards: [],
        points: [
          {
            name: 'p',
            nominal: 1,
            unit: 'V',
            asFound: 1,
            lowerTolerance: 0,
            upperTolerance: 0,
            asFoundResult: 'pass',
          },
        ],
        adjusted: false,
        asFoundResult: 'pass',
        calibratedAt: '2026-01-01T00:00:00Z',
      }),
      withField(byKind('inspection'), ['body'], {
        partSerial: 'P',
        result: 'fail',
        characteristics: [{ name: 'c', measured: -1.5e-9, unit: 'mm', result: 'fail' }],
      }),
    ];
    for (const [i, v] of minimal.entries()) expect(issues(v), `case ${i}`).toEqual([]);
  });

  it('refuses wrong types, missing fields, non-finite numbers, oversized strings, unknown keys, bad timestamps and ids', () => {
    const t = byKind('telemetry');
    const c = byKind('calibration');
    const ins = byKind('inspection');
    const e = byKind('event');
    const cases: [string, unknown, string][] = [
      ['not an object', 'record', ''],
      ['null', null, ''],
      ['version 2', withField(t, ['v'], 2), 'v'],
      ['version as string', withField(t, ['v'], '1'), 'v'],
      ['missing id', withField(t, ['id'], undefined), 'id'],
      ['uuid v4', withField(t, ['id'], '0195b8e4-5b3a-4c7d-9f00-0123456789ab'), 'id'],
      ['uppercase uuid', withField(t, ['id'], t.id.toUpperCase()), 'id'],
      ['not a uuid', withField(t, ['id'], 'abc'), 'id'],
      ['bad uuid variant', withField(t, ['id'], `${t.id.slice(0, 19)}c${t.id.slice(20)}`), 'id'],
      ['edge with a space', withField(t, ['edge'], 'edge 1'), 'edge'],
      ['edge too long', withField(t, ['edge'], 'x'.repeat(129)), 'edge'],
      ['seq 0', withField(t, ['seq'], 0), 'seq'],
      ['seq fraction', withField(t, ['seq'], 1.5), 'seq'],
      ['seq unsafe', withField(t, ['seq'], 2 ** 53), 'seq'],
      ['seq as string', withField(t, ['seq'], '1'), 'seq'],
      ['unknown kind', withField(t, ['kind'], 'maintenance'), 'kind'],
      ['missing kind', withField(t, ['kind'], undefined), 'kind'],
      ['asset tag with a space', withField(t, ['equipment'], 'RIG 01'), 'equipment'],
      ['asset tag too long', withField(t, ['equipment'], 'A'.repeat(65)), 'equipment'],
      ['asset tag starting with -', withField(t, ['equipment'], '-RIG'), 'equipment'],
      ['timestamp with offset', withField(t, ['observedAt'], '2026-11-23T06:51:12.123+01:00'), 'observedAt'],
      ['timestamp without zone', withField(t, ['observedAt'], '2026-11-23T05:51:12.123'), 'observedAt'],
      ['timestamp lowercase z', withField(t, ['observedAt'], '2026-11-23T05:51:12.123z'), 'observedAt'],
      ['timestamp with a space', withField(t, ['observedAt'], '2026-11-23 05:51:12Z'), 'observedAt'],
      ['timestamp without seconds', withField(t, ['observedAt'], '2026-11-23T05:51Z'), 'observedAt'],
      ['timestamp Feb 30', withField(t, ['observedAt'], '2026-02-30T00:00:00Z'), 'observedAt'],
      ['timestamp Feb 29 2025', withField(t, ['observedAt'], '2025-02-29T00:00:00Z'), 'observedAt'],
      ['timestamp hour 24', withField(t, ['observedAt'], '2026-11-23T24:00:00Z'), 'observedAt'],
      ['timestamp as number', withField(t, ['receivedAt'], 1795413072123), 'receivedAt'],
      ['unknown envelope key', withField(t, ['tenant'], 'acme'), 'tenant'],
      ['unknown source key', withField(t, ['source', 'port'], 4840), 'source.port'],
      ['unknown body key', withField(t, ['body', 'extra'], 1), 'body.extra'],
      ['unknown point key', withField(t, ['body', 'points', 0, 'ts'], 1), 'body.points[0].ts'],
      ['bad protocol', withField(t, ['source', 'protocol'], 'http'), 'source.protocol'],
      ['endpoint too long', withField(t, ['source', 'endpoint'], 'x'.repeat(257)), 'source.endpoint'],
      ['status too long', withField(t, ['source', 'status'], 'x'.repeat(65)), 'source.status'],
      ['empty endpoint', withField(t, ['source', 'endpoint'], ''), 'source.endpoint'],
      ['control char in a label', withField(t, ['source', 'endpoint'], 'a\u0007b'), 'source.endpoint'],
      ['lone surrogate in a label', withField(t, ['source', 'endpoint'], 'a\ud800b'), 'source.endpoint'],
      ['NaN value', withField(t, ['body', 'points', 0, 'value'], NaN), 'body.points[0].value'],
      ['Infinity value', withField(t, ['body', 'points', 0, 'value'], Infinity), 'body.points[0].value'],
      ['-Infinity value', withField(t, ['body', 'points', 0, 'value'], -Infinity), 'body.points[0].value'],
      ['object value', withField(t, ['body', 'points', 0, 'value'], { v: 1 }), 'body.points[0].value'],
      ['null value', withField(t, ['body', 'points', 0, 'value'], null), 'body.points[0].value'],
      [
        'value string too long',
        withField(t, ['body', 'points', 0, 'value'], 'x'.repeat(257)),
        'body.points[0].value',
      ],
      [
        'point name too long',
        withField(t, ['body', 'points', 0, 'name'], 'x'.repeat(65)),
        'body.points[0].name',
      ],
      ['unit too long', withField(t, ['body', 'points', 0, 'unit'], 'x'.repeat(17)), 'body.points[0].unit'],
      ['bad quality', withField(t, ['body', 'points', 0, 'quality'], 'Good'), 'body.points[0].quality'],
      ['no points', withField(t, ['body', 'points'], []), 'body.points'],
      [
        '501 points',
        withField(
          t,
          ['body', 'points'],
          Array.from({ length: 501 }, () => ({ name: 'p', value: 1, quality: 'good' })),
        ),
        'body.points',
      ],
      ['missing body', withField(t, ['body'], undefined), 'body'],
      ['body of another kind', withField(t, ['body'], byKind('usage').body), 'body.points'],
      [
        'inspection NaN measured',
        withField(ins, ['body', 'characteristics', 0, 'measured'], NaN),
        'body.characteristics[0].measured',
      ],
      [
        'inspection lsl > usl',
        withField(ins, ['body', 'characteristics', 0, 'lsl'], 99),
        'body.characteristics[0].lsl',
      ],
      [
        'inspection pass with a failing characteristic',
        withField(ins, ['body', 'characteristics', 1, 'result'], 'fail'),
        'body.result',
      ],
      ['trim code lowercase', withField(ins, ['body', 'trimCode'], '3f0a9c21d4e87b65'), 'body.trimCode'],
      ['trim code too short', withField(ins, ['body', 'trimCode'], '3F0A9C21D4E87B6'), 'body.trimCode'],
      ['gauge not an asset tag', withField(ins, ['body', 'gauges', 0], 'flow cell'), 'body.gauges[0]'],
      ['part serial too long', withField(ins, ['body', 'partSerial'], 'x'.repeat(65)), 'body.partSerial'],
      ['usage negative cycles', withField(byKind('usage'), ['body', 'cycles'], -1), 'body.cycles'],
      ['usage fractional cycles', withField(byKind('usage'), ['body', 'cycles'], 1.5), 'body.cycles'],
      ['usage bad event', withField(byKind('usage'), ['body', 'event'], 'pause'), 'body.event'],
      [
        'calibration tolerance reversed',
        withField(c, ['body', 'points', 0, 'lowerTolerance'], 5),
        'body.points[0].lowerTolerance',
      ],
      [
        'calibration pass with a failing point',
        withField(c, ['body', 'points', 0, 'asFoundResult'], 'fail'),
        'body.asFoundResult',
      ],
      [
        'calibration as-left result without reading',
        withField(c, ['body', 'points', 0, 'asLeftResult'], 'pass'),
        'body.points[0].asLeftResult',
      ],
      ['calibration bad due date', withField(c, ['body', 'nextDue'], '2027-13-01'), 'body.nextDue'],
      [
        'calibration due date with time',
        withField(c, ['body', 'nextDue'], '2027-05-23T00:00:00Z'),
        'body.nextDue',
      ],
      [
        'calibration standard bad tag',
        withField(c, ['body', 'standards', 0, 'id'], ''),
        'body.standards[0].id',
      ],
      [
        'calibration certificate hash uppercase',
        withField(c, ['body', 'certificate', 'sha256'], 'A'.repeat(64)),
        'body.certificate.sha256',
      ],
      [
        'calibration humidity over 100',
        withField(c, ['body', 'environment', 'humidityPct'], 101),
        'body.environment.humidityPct',
      ],
      ['calibration missing adjusted', withField(c, ['body', 'adjusted'], undefined), 'body.adjusted'],
      [
        'calibration negative uncertainty',
        withField(c, ['body', 'points', 0, 'uncertainty'], -0.1),
        'body.points[0].uncertainty',
      ],
      ['event lowercase code', withField(e, ['body', 'code'], 'source_down'), 'body.code'],
      ['event code too long', withField(e, ['body', 'code'], `A${'B'.repeat(64)}`), 'body.code'],
      ['event message too long', withField(e, ['body', 'message'], 'x'.repeat(1025)), 'body.message'],
      ['event bad severity', withField(e, ['body', 'severity'], 'fatal'), 'body.severity'],
      ['event nested detail', withField(e, ['body', 'details', 'x'], { a: 1 }), 'body.details.x'],
      ['event NaN detail', withField(e, ['body', 'details', 'x'], NaN), 'body.details.x'],
      [
        'event 51 details',
        withField(
          e,
          ['body', 'details'],
          Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, i])),
        ),
        'body.details',
      ],
      [
        'event detail key with a space',
        withField(e, ['body', 'details'], { 'a b': 1 }),
        'body.details["a b"]',
      ],
    ];
    for (const [name, value, path] of cases) {
      const found = issues(value);
      expect(found.length, name).toBeGreaterThan(0);
      expect(
        found.map((i) => i.path),
        `${name}: ${JSON.stringify(found)}`,
      ).toContain(path);
      for (const i of found) expect(i.message.length, name).toBeGreaterThan(0);
    }
  });

  it('refuses a JSON "__proto__" detail key instead of changing the prototype', () => {
    const e = byKind('event');
    const value = JSON.parse(
      JSON.stringify(e).replace('"details":{', '"details":{"__proto__":"x",'),
    ) as unknown;
    expect(issues(value).map((i) => i.path)).toContain('body.details.__proto__');
  });

  it('names every problem at once, with paths', () => {
    const t = byKind('telemetry');
    const bad = withField(
      withField(withField(t, ['seq'], -1), ['body', 'points', 0, 'value'], NaN),
      ['zzz'],
      1,
    );
    expect(
      issues(bad)
        .map((i) => i.path)
        .sort(),
    ).toEqual(['body.points[0].value', 'seq', 'zzz']);
  });
});

describe('telemetry values that could not be read', () => {
  const base = {
    v: 1,
    id: '019ab2f0-0000-7000-8000-000000000001',
    edge: 'edge-1',
    seq: 1,
    kind: 'telemetry',
    equipment: 'RIG-01',
    observedAt: '2026-11-23T06:00:00.000Z',
    receivedAt: '2026-11-23T06:00:00.000Z',
    source: { protocol: 'modbus', endpoint: 'modbus-tcp://127.0.0.1:502' },
  };
  it('carry null with quality bad, and null is refused for a good point', () => {
    const bad = parseRecord({ ...base, body: { points: [{ name: 'p', value: null, quality: 'bad' }] } });
    expect(bad.ok).toBe(true);
    const good = parseRecord({ ...base, body: { points: [{ name: 'p', value: null, quality: 'good' }] } });
    expect(good.ok).toBe(false);
    if (!good.ok) expect(good.issues[0]?.path).toBe('body.points[0].value');
  });
});

describe('a telemetry record carrying its source’s signal dictionary', () => {
  const t = byKind('telemetry');
  const signals = [
    {
      name: 'state',
      label: 'Rig state',
      codes: [
        { code: 0, word: 'Idle' },
        { code: 1, word: 'Testing' },
      ],
    },
    { name: 'testPoint', label: 'Test point', codes: [{ code: 3, word: 'Idle 350 bar' }] },
    { name: 'energizingTime', label: 'Energizing time', unit: 'µs', when: { signal: 'state', codes: [1] } },
    { name: 'mode', codes: [{ code: 'AUTO', word: 'Automatic' }] },
  ];

  it('is accepted, and a record without one is unchanged', () => {
    expect(parseRecord(withField(t, ['body', 'signals'], signals)).ok).toBe(true);
    expect(parseRecord(t)).toEqual({ ok: true, record: t });
    expect('signals' in t.body).toBe(false);
  });

  it('is checked like the rest of the record', () => {
    const cases: [unknown, string][] = [
      [withField(t, ['body', 'signals'], []), 'body.signals'],
      [withField(t, ['body', 'signals'], [{ name: 'x', label: 'l'.repeat(65) }]), 'body.signals[0].label'],
      [withField(t, ['body', 'signals'], [{ name: 'x', unit: 'u'.repeat(17) }]), 'body.signals[0].unit'],
      [withField(t, ['body', 'signals'], [{ name: 'x', colour: 'red' }]), 'body.signals[0].colour'],
      [
        withField(t, ['body', 'signals'], [{ name: 'x', codes: [{ code: NaN, word: 'w' }] }]),
        'body.signals[0].codes[0].code',
      ],
      [
        withField(t, ['body', 'signals'], [{ name: 'x', codes: [{ code: 1, word: '' }] }]),
        'body.signals[0].codes[0].word',
      ],
      [
        withField(t, ['body', 'signals'], [{ name: 'x', when: { signal: 'state', codes: [] } }]),
        'body.signals[0].when.codes',
      ],
    ];
    for (const [value, path] of cases)
      expect(
        issues(value).map((i) => i.path),
        path,
      ).toContain(path);
  });

  it('may stand alone, with no points (a station that sends results, not values), and only then', () => {
    const alone = withField(withField(t, ['body', 'points'], []), ['body', 'signals'], signals);
    expect(parseRecord(alone).ok).toBe(true);
    const empty = withField(t, ['body', 'points'], []);
    expect(issues(empty)).toEqual([{ path: 'body.points', message: 'must have at least 1 point' }]);
  });
});
