import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { emptyLogState, recordLeafHash, verifyBatch } from './batch.js';
import { canonicalBytes, canonicalJson } from './canonical.js';
import { merkleRoot } from './merkle.js';
import { parseRecord, recordSchema, surelyValid, type RigRecord } from './schema.js';
import { TEST_EDGE_KEY, buildBatch, deterministicUuidV7 } from './testing.js';

// ---- arbitraries for valid records of every kind ----------------------------------------------------

const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
const label = (max: number) =>
  fc
    .string({ minLength: 1, maxLength: max, unit: 'grapheme' })
    .filter((s) => s.length >= 1 && s.length <= max && /^[^\p{Cc}]*$/u.test(s) && !LONE_SURROGATE.test(s));
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const finite = fc.double({ noNaN: true, noDefaultInfinity: true });
const nonNegative = fc.double({ noNaN: true, noDefaultInfinity: true, min: 0 });
const result = fc.constantFrom('pass' as const, 'fail' as const);
const assetTag = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$/);
const timestamp = fc
  .tuple(
    fc.date({
      min: new Date('1970-01-01T00:00:00Z'),
      max: new Date('9999-12-31T23:59:59Z'),
      noInvalidDate: true,
    }),
    fc.boolean(),
  )
  .map(([d, ms]) => (ms ? d.toISOString() : d.toISOString().replace(/\.\d{3}Z$/, 'Z')));
const date = timestamp.map((t) => t.slice(0, 10));

/** Drops the keys whose value is undefined, as JSON would. */
function clean<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

const source = fc
  .record({
    protocol: fc.constantFrom(
      'modbus' as const,
      'opcua' as const,
      'mqtt' as const,
      'manual' as const,
      'edge' as const,
    ),
    endpoint: label(256),
    address: maybe(label(256)),
    status: maybe(label(64)),
  })
  .map(clean);

const telemetry = fc.record({
  kind: fc.constant('telemetry' as const),
  body: fc.record({
    points: fc.array(
      fc
        .record({
          name: label(64),
          value: fc.oneof(
            finite,
            fc.boolean(),
            fc.string({ maxLength: 256 }).filter((s) => /^[^\p{Cc}]*$/u.test(s) && !LONE_SURROGATE.test(s)),
          ),
          unit: maybe(label(16)),
          quality: fc.constantFrom('good' as const, 'uncertain' as const, 'bad' as const),
          position: maybe(label(64)),
        })
        .map(clean),
      { minLength: 1, maxLength: 20 },
    ),
  }),
});

const usage = fc.record({
  kind: fc.constant('usage' as const),
  body: fc
    .record({
      event: fc.constantFrom('start' as const, 'stop' as const, 'cycle' as const),
      cycles: maybe(fc.nat()),
      operator: maybe(label(128)),
      workOrder: maybe(label(64)),
      partSerial: maybe(label(64)),
      durationS: maybe(nonNegative),
    })
    .map(clean),
});

const inspection = fc.record({
  kind: fc.constant('inspection' as const),
  body: fc
    .record({
      partSerial: label(64),
      workOrder: maybe(label(64)),
      operator: maybe(label(128)),
      testPlan: maybe(label(128)),
      overall: result,
      characteristics: fc.array(
        fc
          .record({
            name: label(64),
            nominal: maybe(finite),
            limits: maybe(fc.tuple(finite, finite).map(([a, b]) => (a <= b ? [a, b] : [b, a]))),
            measured: finite,
            unit: label(16),
            position: maybe(label(64)),
            result,
          })
          .map(({ limits, ...c }) => clean({ ...c, lsl: limits?.[0], usl: limits?.[1] })),
        { minLength: 1, maxLength: 10 },
      ),
      gauges: maybe(fc.array(assetTag, { maxLength: 5 })),
      trimCode: maybe(fc.stringMatching(/^[0-9A-F]{16,20}$/)),
    })
    .map(({ overall, ...b }) =>
      clean({
        ...b,
        result: b.characteristics.some((c) => c.result === 'fail') ? ('fail' as const) : overall,
      }),
    ),
});

const calibrationPoint = fc
  .record({
    name: label(64),
    nominal: finite,
    unit: label(16),
    asFound: finite,
    asLeft: maybe(fc.tuple(finite, fc.option(result, { nil: undefined }))),
    tolerance: fc.tuple(finite, finite).map(([a, b]) => (a <= b ? [a, b] : [b, a])),
    uncertainty: maybe(nonNegative),
    asFoundResult: result,
  })
  .map(({ asLeft, tolerance, ...p }) =>
    clean({
      ...p,
      asLeft: asLeft?.[0],
      asLeftResult: asLeft?.[1],
      lowerTolerance: tolerance[0]!,
      upperTolerance: tolerance[1]!,
    }),
  );

const calibration = fc.record({
  kind: fc.constant('calibration' as const),
  body: fc
    .record({
      procedure: maybe(fc.record({ id: label(64), revision: maybe(label(32)) }).map(clean)),
      technician: maybe(label(128)),
      standards: fc.array(
        fc
          .record({
            id: assetTag,
            certificate: maybe(label(64)),
            dueDate: maybe(date),
            uncertainty: maybe(nonNegative),
          })
          .map(clean),
        { maxLength: 3 },
      ),
      environment: maybe(
        fc
          .record({
            temperatureC: maybe(finite),
            humidityPct: maybe(fc.double({ min: 0, max: 100, noNaN: true })),
          })
          .map(clean),
      ),
      points: fc.array(calibrationPoint, { minLength: 1, maxLength: 6 }),
      adjusted: fc.boolean(),
      found: result,
      left: maybe(result),
      calibratedAt: timestamp,
      nextDue: maybe(date),
      decisionRule: maybe(label(256)),
    })
    .map(({ found, left, ...b }) => {
      const anyFoundFail = b.points.some((p) => p.asFoundResult === 'fail');
      const anyLeftFail = b.points.some((p) => (p.asLeftResult ?? p.asFoundResult) === 'fail');
      return clean({
        ...b,
        asFoundResult: anyFoundFail ? ('fail' as const) : found,
        asLeftResult: left === 'pass' && anyLeftFail ? ('fail' as const) : left,
      });
    }),
});

const event = fc.record({
  kind: fc.constant('event' as const),
  body: fc
    .record({
      severity: fc.constantFrom('info' as const, 'warning' as const, 'error' as const, 'critical' as const),
      code: fc.stringMatching(/^[A-Z][A-Z0-9_]{0,63}$/),
      message: label(1024),
      details: maybe(
        fc.dictionary(
          fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/).filter((k) => k !== '__proto__'),
          fc.oneof(label(1024), finite, fc.boolean(), fc.constant(null)),
          { maxKeys: 50 },
        ),
      ),
    })
    .map(clean),
});

const edgeId = fc.stringMatching(/^[A-Za-z0-9._-]{1,128}$/);

/** A valid record of any kind; edge and seq are set by the caller. */
const recordArb = fc
  .record({
    id: fc.uuid({ version: 7 }),
    equipment: assetTag,
    observedAt: timestamp,
    receivedAt: timestamp,
    source,
    kindAndBody: fc.oneof(telemetry, usage, inspection, calibration, event),
  })
  .map(({ kindAndBody, ...rest }): RigRecord => ({
    v: 1 as const,
    edge: 'edge',
    seq: 1,
    ...rest,
    ...kindAndBody,
  }));

/** Deep copy with the members of every object re-inserted in an order chosen by `seed`. */
function shuffleKeys(value: unknown, seed: number): unknown {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (typeof v !== 'object' || v === null) return v;
    const entries = Object.entries(v);
    for (let i = entries.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [entries[i], entries[j]] = [entries[j]!, entries[i]!];
    }
    return Object.fromEntries(entries.map(([k, x]) => [k, walk(x)]));
  };
  return walk(value);
}

describe('properties', () => {
  it('random records are valid, and their canonical bytes are stable under key reordering and JSON round trips', () => {
    fc.assert(
      fc.property(
        recordArb,
        edgeId,
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        fc.integer(),
        (base, edge, seq, seed) => {
          const record = { ...base, edge, seq };
          const parsed = parseRecord(record);
          expect(parsed.ok, JSON.stringify(parsed)).toBe(true);
          const bytes = canonicalBytes(record);
          expect(canonicalBytes(shuffleKeys(record, seed))).toEqual(bytes);
          const text = canonicalJson(record);
          expect(canonicalJson(JSON.parse(text))).toBe(text);
          expect(parseRecord(JSON.parse(JSON.stringify(shuffleKeys(record, seed + 1)))).ok).toBe(true);
          expect(recordLeafHash(shuffleKeys(record, seed))).toEqual(recordLeafHash(record));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('verifyBatch accepts correctly built batches of random length, split at a random point', () => {
    fc.assert(
      fc.property(fc.array(recordArb, { minLength: 1, maxLength: 60 }), fc.nat(), (bases, cut) => {
        const edge = 'edge-prop';
        const records = bases.map((r, i) => ({
          ...r,
          edge,
          seq: i + 1,
          id: deterministicUuidV7(1_700_000_000_000 + i, Uint8Array.of(i & 0xff, i >> 8)),
        }));
        const k = 1 + (cut % records.length);
        const first = buildBatch({
          edge,
          privateKeyPem: TEST_EDGE_KEY.privateKeyPem,
          records: records.slice(0, k),
        });
        const v1 = verifyBatch(JSON.parse(JSON.stringify(first.batch)), {
          publicKey: TEST_EDGE_KEY.publicKey,
          state: emptyLogState(),
        });
        expect(v1.ok, JSON.stringify(v1.ok ? '' : v1.problems)).toBe(true);
        if (!v1.ok) return;
        expect(v1.newState).toEqual(first.state);
        if (k === records.length) return;
        const second = buildBatch({
          edge,
          privateKeyPem: TEST_EDGE_KEY.privateKeyPem,
          records: records.slice(k),
          before: first.state,
        });
        const v2 = verifyBatch(JSON.parse(JSON.stringify(second.batch)), {
          publicKey: TEST_EDGE_KEY.publicKey,
          state: v1.newState,
        });
        expect(v2.ok, JSON.stringify(v2.ok ? '' : v2.problems)).toBe(true);
        expect(v2.ok && v2.newState.root).toEqual(merkleRoot(records.map(recordLeafHash)));
      }),
      { numRuns: 60 },
    );
  });
});

describe('the quick check compiled from the record schema', () => {
  /** Every path to a value inside `v` (objects and arrays), the root first. */
  const pathsOf = (v: unknown, at: (string | number)[] = []): (string | number)[][] => {
    if (typeof v !== 'object' || v === null) return [at];
    const keys: (string | number)[] = Array.isArray(v) ? v.map((_, i) => i) : Object.keys(v);
    return [at, ...keys.flatMap((k) => pathsOf((v as Record<string | number, unknown>)[k], [...at, k]))];
  };
  const odd = fc.oneof(
    fc.anything(),
    fc.constantFrom(
      '',
      'a\u0000b',
      '\uD800',
      'x'.repeat(3000),
      'RIG 01',
      '2026-02-29T00:00:00Z',
      NaN,
      -1,
      0,
      1.5,
      2 ** 60,
      null,
      true,
      [],
      {},
      'pass',
      'fail',
      'bad',
      '__proto__',
    ),
  );
  /** A record with one change: a value replaced, a key removed or a key added. */
  const mutated = fc
    .tuple(recordArb, fc.nat(), fc.constantFrom('replace', 'remove', 'add'), odd)
    .map(([record, pick, how, value]) => {
      const copy = structuredClone(record) as unknown as Record<string | number, unknown>;
      const paths = pathsOf(copy);
      const path = paths[pick % paths.length]!;
      if (path.length === 0) return how === 'replace' ? value : copy;
      let parent = copy;
      for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
      const last = path.at(-1)!;
      if (how === 'replace') parent[last] = value;
      else if (how === 'remove') delete parent[last];
      else if (!Array.isArray(parent)) parent[`${String(last)}_x`] = value;
      else parent.push(value);
      return JSON.parse(JSON.stringify(copy) ?? 'null') as unknown;
    });

  it('takes every valid record of every kind (they skip zod)', () => {
    fc.assert(
      fc.property(recordArb, (record) => {
        expect(surelyValid(record), JSON.stringify(record)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts nothing the record schema refuses', () => {
    let refused = 0;
    fc.assert(
      fc.property(mutated, (m) => {
        const zod = recordSchema.safeParse(m).success;
        if (!zod) refused++;
        if (surelyValid(m)) expect(zod, JSON.stringify(m)).toBe(true);
      }),
      { numRuns: 5000 },
    );
    expect(refused).toBeGreaterThan(1000);
  });
});
