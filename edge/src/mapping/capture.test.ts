import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RecordDraft } from '../buffer/edge-log.js';
import { validateConfig } from '../config/config.js';
import type { RecordSink } from '../records/record-sink.js';
import { captureFor, conditionAckOf, type BlockRead } from './capture.js';
import { Unavailable, compileValue, type Scope } from './expressions.js';

/**
 * ResultCapture with a scripted block read (fake timers): a value the device did not give is read
 * again after RETRY_MS while the result is shown; when the reads run out, or for a flag that
 * dropped meanwhile, the result is RESULT_NOT_MAPPED (acknowledged with failValue) as any result
 * that does not fit — never lost silently, never holding the device.
 */
const rig = (trigger: object) => ({
  version: 1,
  cloud: { url: 'http://127.0.0.1:9' },
  sources: [
    {
      id: 'rig',
      protocol: 'modbus',
      equipment: 'RIG-01',
      host: '127.0.0.1',
      port: 502,
      points: [
        { name: 'done', address: 0, type: 'uint16' },
        { name: 'ready', address: 1, type: 'uint16' },
      ],
      records: [
        {
          kind: 'inspection',
          trigger,
          read: { qty: { address: 10, type: 'float32' } },
          handshake: { address: 20, value: 1, failValue: 2 },
          fields: {
            partSerial: 'S-1',
            characteristics: [{ name: 'qty', measured: '=qty', lsl: 58, usl: 62, unit: 'mm3' }],
          },
        },
      ],
    },
  ],
});

function harness(trigger: object, block: (reads: number) => Scope) {
  const cfg = validateConfig(rig(trigger));
  const src = cfg.sources[0];
  if (src?.protocol !== 'modbus') throw new Error('expected modbus');
  const written: RecordDraft[] = [];
  const acks: unknown[] = [];
  let reads = 0;
  const sink = {
    write: (_id: string, drafts: RecordDraft[]) => Promise.resolve(void written.push(...drafts)),
  } as unknown as RecordSink;
  const capture = captureFor(
    src,
    0,
    src.records![0]!,
    { sink, logger: pino({ level: 'silent' }), source: () => ({ endpoint: 'x', protocol: 'modbus' }) },
    {
      readBlock: (t): Promise<BlockRead> => Promise.resolve({ scope: block(++reads), trigger: t }),
      acknowledge: (v) => Promise.resolve(void acks.push(v)),
    },
    src.records!,
    'inspection',
  );
  return { capture, written, acks, reads: () => reads };
}

const unread = () => ({ qty: Unavailable.unread('qty', 'could not be read (exception 6 (server busy))') });
const codes = (w: RecordDraft[]) =>
  w.map((d) => (d.kind === 'event' ? (d.body as { code: string }).code : d.kind));

afterEach(() => vi.useRealTimers());

describe('a value the device did not give', () => {
  it('is read again after the backoff until it is given: one record, acknowledged as a result', async () => {
    vi.useFakeTimers();
    const h = harness({ counter: 'done' }, (n) => (n < 4 ? unread() : { qty: 60.5 }));
    h.capture.observe(1);
    await vi.advanceTimersByTimeAsync(0);
    expect(h.written).toEqual([]);
    // The polls showing the result meanwhile wait for the backoff (500, 1000, 2000 ms).
    for (let t = 0; t < 3400; t += 100) {
      h.capture.observe(1);
      await vi.advanceTimersByTimeAsync(100);
    }
    expect(h.reads()).toBe(3);
    expect(h.written).toEqual([]);
    await vi.advanceTimersByTimeAsync(200);
    expect(h.reads()).toBe(4);
    expect(codes(h.written)).toEqual(['inspection']);
    expect(h.written[0]!.body).toMatchObject({ characteristics: [{ measured: 60.5 }] });
    expect(h.acks).toEqual([1]);
  });

  it('becomes RESULT_NOT_MAPPED once the reads run out (about 50 s), acknowledged with failValue', async () => {
    vi.useFakeTimers();
    const h = harness({ counter: 'done' }, unread);
    h.capture.observe(7);
    await vi.advanceTimersByTimeAsync(48_000);
    expect(h.written).toEqual([]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(h.reads()).toBe(7);
    expect(codes(h.written)).toEqual(['RESULT_NOT_MAPPED']);
    expect(h.written[0]!.body).toMatchObject({
      code: 'RESULT_NOT_MAPPED',
      message: expect.stringMatching(
        /^inspection result done=7 could not be read completely in 7 reads over 49 s: .*qty could not be read \(exception 6/,
      ),
      details: { trigger: '7', reads: 7 },
    });
    expect(h.acks).toEqual([2]);
  });

  it('with block reads failing in between: the reads still run out (never held for ever)', async () => {
    vi.useFakeTimers();
    // Every other read of the block fails outright (a timeout); the others lack a value.
    const h = harness({ counter: 'done' }, (n) => {
      if (n % 2 === 1) throw new Error('timed out');
      return unread();
    });
    for (let t = 0; t < 600_000 && h.written.length === 0; t += 1000) {
      h.capture.observe(3);
      await vi.advanceTimersByTimeAsync(1000);
    }
    expect(codes(h.written)).toEqual(['RESULT_NOT_MAPPED']);
    expect(h.written[0]!.body).toMatchObject({ details: { trigger: '3', reads: 7 } });
    expect(h.acks).toEqual([2]);
  });

  it('of a flag that dropped meanwhile: RESULT_NOT_MAPPED at the next read', async () => {
    vi.useFakeTimers();
    const h = harness({ rising: 'ready' }, unread);
    h.capture.observe(1);
    await vi.advanceTimersByTimeAsync(0);
    h.capture.observe(0);
    expect(h.written).toEqual([]);
    await vi.advanceTimersByTimeAsync(600);
    expect(h.reads()).toBe(2);
    expect(codes(h.written)).toEqual(['RESULT_NOT_MAPPED']);
    expect(h.written[0]!.body).toMatchObject({ code: 'RESULT_NOT_MAPPED', details: { reads: 2 } });
  });

  it('while the counter moves on: the newer result is taken, the older counted as missed', async () => {
    vi.useFakeTimers();
    const h = harness({ counter: 'done' }, (n) => (n < 3 ? unread() : { qty: 61 }));
    await h.capture.init(() => Promise.resolve(JSON.stringify({ value: 1, at: new Date().toISOString() })));
    h.capture.observe(2);
    await vi.advanceTimersByTimeAsync(0);
    h.capture.observe(3); // at once, not after the backoff of 2
    await vi.advanceTimersByTimeAsync(0);
    expect(h.reads()).toBe(2);
    await vi.advanceTimersByTimeAsync(500);
    expect(codes(h.written)).toEqual(['RESULTS_MISSED', 'inspection']);
    expect(h.written[0]!.body).toMatchObject({
      code: 'RESULTS_MISSED',
      details: { from: 1, to: 3, missed: 1 },
    });
  });
});

describe('a result waiting to be read again when the connection is cut and comes back', () => {
  it('is read at once when the connection is back, not at the backoff step reached meanwhile', async () => {
    vi.useFakeTimers();
    let given = false;
    const h = harness({ rising: 'ready' }, () => (given ? { qty: 60.5 } : unread()));
    h.capture.observe(1);
    // Reads at 0, 0.5, 1.5, 3.5, 8.5 and 18.5 s: the next one is 30 s later.
    await vi.advanceTimersByTimeAsync(18_600);
    expect(h.reads()).toBe(6);
    h.capture.connectionLost();
    await vi.advanceTimersByTimeAsync(5000);
    expect(h.reads()).toBe(6);
    given = true;
    h.capture.connectionRestored();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.reads()).toBe(7);
    expect(codes(h.written)).toEqual(['inspection']);
    expect(h.acks).toEqual([1]);
  });

  it('a failed block read of a held flag: retried at once when the connection is back', async () => {
    vi.useFakeTimers();
    let down = true;
    const cfg = validateConfig(rig({ rising: 'ready' }));
    const src = cfg.sources[0];
    if (src?.protocol !== 'modbus') throw new Error('expected modbus');
    const written: RecordDraft[] = [];
    let reads = 0;
    const capture = captureFor(
      src,
      0,
      src.records![0]!,
      {
        sink: { write: (_: string, d: RecordDraft[]) => Promise.resolve(void written.push(...d)) } as never,
        logger: pino({ level: 'silent' }),
        source: () => ({ endpoint: 'x', protocol: 'modbus' }),
      },
      {
        readBlock: (t): Promise<BlockRead> => {
          reads++;
          return down
            ? Promise.reject(new Error('not connected'))
            : Promise.resolve({ scope: { qty: 60 }, trigger: t });
        },
        acknowledge: () => Promise.resolve(),
      },
      src.records!,
      'inspection',
    );
    capture.observe(1);
    capture.connectionLost();
    await vi.advanceTimersByTimeAsync(20_000); // retries at 0.5, 1.5, 3.5, 8.5, 18.5 s; next 30 s later
    expect(reads).toBe(6);
    down = false;
    capture.connectionRestored();
    await vi.advanceTimersByTimeAsync(0);
    expect(reads).toBe(7);
    expect(codes(written)).toEqual(['inspection']);
  });

  it('reads while the connection is down do not count: a long cut does not make it RESULT_NOT_MAPPED', async () => {
    vi.useFakeTimers();
    let given = false;
    const h = harness({ rising: 'ready' }, () => (given ? { qty: 61 } : unread()));
    h.capture.observe(1);
    await vi.advanceTimersByTimeAsync(3600); // 4 reads counted
    expect(h.reads()).toBe(4);
    h.capture.connectionLost();
    // Longer than the whole budget (about 50 s): the reads made meanwhile are not counted.
    await vi.advanceTimersByTimeAsync(120_000);
    expect(h.reads()).toBeGreaterThan(6);
    expect(h.written).toEqual([]);
    h.capture.connectionRestored();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.written).toEqual([]);
    // Still not given over the working connection: that was its 5th read, 2 are left, on the
    // backoff from its first step (0.5 s, then 1 s).
    const before = h.reads();
    await vi.advanceTimersByTimeAsync(600);
    expect(h.reads()).toBe(before + 1);
    expect(h.written).toEqual([]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(h.reads()).toBe(before + 2);
    expect(codes(h.written)).toEqual(['RESULT_NOT_MAPPED']);
    expect(h.written[0]!.body).toMatchObject({ details: { reads: 7 } });
    expect(h.acks).toEqual([2]);
    given = true; // too late: it was reported
  });
});

describe('an event trigger', () => {
  const bench = {
    version: 1,
    cloud: { url: 'http://127.0.0.1:9' },
    sources: [
      {
        id: 'bench',
        protocol: 'opcua',
        equipment: 'BENCH-1',
        endpointUrl: 'opc.tcp://127.0.0.1:4840',
        items: [{ name: 'temp', nodeId: 'ns=1;s=T' }],
        records: [
          {
            kind: 'inspection',
            trigger: { event: { type: 'ns=1;i=1000', select: ['1:Serial'] } },
            read: { qty: 'ns=1;s=Qty' },
            fields: {
              partSerial: '=event.Serial',
              characteristics: [{ name: 'qty', measured: '=qty', lsl: 58, usl: 62, unit: 'mm3' }],
            },
          },
        ],
      },
    ],
  };

  function eventHarness(
    block: (reads: number) => Scope,
    handshake?: { value: string; fails?: () => boolean },
    sequence?: string,
  ) {
    const m = bench.sources[0]!.records[0]!;
    const cfg = validateConfig(
      handshake || sequence
        ? {
            ...bench,
            sources: [
              {
                ...bench.sources[0]!,
                records: [
                  {
                    ...m,
                    ...(handshake ? { handshake: { node: 'ns=1;s=Ack', value: handshake.value } } : {}),
                    ...(sequence ? { trigger: { event: { ...m.trigger.event, sequence } } } : {}),
                  },
                ],
              },
            ],
          }
        : bench,
    );
    const acks: unknown[] = [];
    const src = cfg.sources[0];
    if (src?.protocol !== 'opcua') throw new Error('expected opcua');
    const written: RecordDraft[] = [];
    const states: Record<string, string>[] = [];
    let reads = 0;
    const sink = {
      write: (_id: string, drafts: RecordDraft[], state?: Record<string, string>) => {
        written.push(...drafts);
        if (state) states.push(state);
        return Promise.resolve();
      },
    } as unknown as RecordSink;
    const make = () =>
      captureFor(
        src,
        0,
        src.records![0]!,
        { sink, logger: pino({ level: 'silent' }), source: () => ({ endpoint: 'x', protocol: 'opcua' }) },
        {
          readBlock: (t): Promise<BlockRead> => Promise.resolve({ scope: block(++reads), trigger: t }),
          acknowledge: (v) =>
            handshake?.fails?.()
              ? Promise.reject(new Error('not connected'))
              : Promise.resolve(void acks.push(v)),
        },
        src.records!,
        'calibration',
      );
    return { make, written, states, acks, reads: () => reads };
  }
  const serials = (w: RecordDraft[]) =>
    w.filter((d) => d.kind === 'inspection').map((d) => (d.body as { partSerial: string }).partSerial);

  it('each event is one result, in order; one delivered twice (also after a restart) is taken once', async () => {
    const h = eventHarness(() => ({ qty: 60 }));
    const c = h.make();
    for (const n of [1, 2, 3]) c.observeEvent({ id: `id-${n}`, fields: { 'event.Serial': `S${n}` } });
    c.observeEvent({ id: 'id-2', fields: { 'event.Serial': 'S2' } });
    await vi.waitFor(() => expect(serials(h.written)).toEqual(['S1', 'S2', 'S3']));
    c.observeEvent({ id: 'id-3', fields: { 'event.Serial': 'S3' } });
    c.stop();
    // A new run with the state saved with the last record.
    const saved = h.states.at(-1)!;
    const again = h.make();
    await again.init((k) => Promise.resolve(saved[k]));
    again.observeEvent({ id: 'id-3', fields: { 'event.Serial': 'S3' } });
    again.observeEvent({ id: 'id-4', fields: { 'event.Serial': 'S4' } });
    await vi.waitFor(() => expect(serials(h.written)).toEqual(['S1', 'S2', 'S3', 'S4']));
    expect(h.reads()).toBe(4);
  });

  it('a value not given is read again until the next event; then that result is RESULT_NOT_MAPPED', async () => {
    vi.useFakeTimers();
    const h = eventHarness((n) => (n < 3 ? unread() : { qty: 61 }));
    const c = h.make();
    c.observeEvent({ id: 'a', fields: { 'event.Serial': 'SA' } });
    await vi.advanceTimersByTimeAsync(600);
    expect(h.reads()).toBe(2);
    expect(h.written).toEqual([]);
    c.observeEvent({ id: 'b', fields: { 'event.Serial': 'SB' } });
    await vi.advanceTimersByTimeAsync(0);
    expect(codes(h.written)).toEqual(['RESULT_NOT_MAPPED', 'inspection']);
    expect(h.written[0]!.body).toMatchObject({ details: { trigger: 'a', reads: 2 } });
    expect(serials(h.written)).toEqual(['SB']);
  });

  it('with a handshake: the last result announced again (its acknowledge lost) is acknowledged again, not recorded again', async () => {
    vi.useFakeTimers();
    let down = true;
    const h = eventHarness(() => ({ qty: 60 }), { value: '=event.Serial', fails: () => down });
    const c = h.make();
    c.observeEvent({ id: 'a', fields: { 'event.Serial': 'SA' } });
    await vi.advanceTimersByTimeAsync(1000); // the acknowledge fails 3 times: HANDSHAKE_FAILED
    expect(codes(h.written)).toEqual(['inspection', 'HANDSHAKE_FAILED']);
    expect(h.acks).toEqual([]);
    down = false;
    // The device still holds SA and announces it again (the same event id).
    c.observeEvent({ id: 'a', fields: { 'event.Serial': 'SA' } });
    await vi.advanceTimersByTimeAsync(0);
    expect(h.acks).toEqual(['SA']);
    c.observeEvent({ id: 'b', fields: { 'event.Serial': 'SB' } });
    await vi.advanceTimersByTimeAsync(0);
    expect(h.acks).toEqual(['SA', 'SB']);
    // After a restart (the edge stopped between SB's record and its acknowledge): acknowledged
    // again when announced again; an older event delivered again is not acknowledged.
    c.stop();
    const again = h.make();
    const saved = h.states.at(-1)!;
    await again.init((k) => Promise.resolve(saved[k]));
    again.observeEvent({ id: 'a', fields: { 'event.Serial': 'SA' } });
    again.observeEvent({ id: 'b', fields: { 'event.Serial': 'SB' } });
    await vi.advanceTimersByTimeAsync(0);
    expect(h.acks).toEqual(['SA', 'SB', 'SB']);
    expect(serials(h.written)).toEqual(['SA', 'SB']);
    expect(h.reads()).toBe(2);
  });
  it('an acknowledge value from the result block: the block is read again to acknowledge again', async () => {
    let qty = 60;
    const h = eventHarness(() => ({ qty }), { value: '=qty' });
    const c = h.make();
    c.observeEvent({ id: 'a', fields: { 'event.Serial': 'SA' } });
    await vi.waitFor(() => expect(h.acks).toEqual([60]));
    qty = 61; // not a new result: the value as the block shows it now
    c.observeEvent({ id: 'a', fields: { 'event.Serial': 'SA' } });
    await vi.waitFor(() => expect(h.acks).toEqual([60, 61]));
    expect(serials(h.written)).toEqual(['SA']);
  });

  const ev = (id: string, n: number) => ({
    id,
    fields: { 'event.Serial': `S${n}`, 'event.Sequence': n },
  });

  it('with a sequence: a result announced again with a new EventId gives no second record, and is acknowledged again', async () => {
    const h = eventHarness(() => ({ qty: 60 }), { value: '=event.Serial' }, '=event.Sequence');
    const c = h.make();
    c.observeEvent(ev('a', 1));
    await vi.waitFor(() => expect(h.acks).toEqual(['S1']));
    c.observeEvent(ev('a-again', 1)); // the device announces S1 again, with a new EventId
    await vi.waitFor(() => expect(h.acks).toEqual(['S1', 'S1']));
    c.observeEvent(ev('b', 2));
    c.observeEvent(ev('b-again', 2)); // while S2 is being captured
    await vi.waitFor(() => expect(h.acks).toEqual(['S1', 'S1', 'S2']));
    await new Promise((r) => setTimeout(r, 20));
    expect(serials(h.written)).toEqual(['S1', 'S2']);
    expect(h.reads()).toBe(2);
    // The last sequence taken is saved with the record.
    expect(JSON.parse(h.states.at(-1)!['source:bench:records[0]:inspection']!)).toMatchObject({ value: 2 });
  });

  it('with a sequence: a jump while the edge was stopped is RESULTS_MISSED, a step back RESULT_COUNTER_RESET', async () => {
    const h = eventHarness(() => ({ qty: 60 }), undefined, '=event.Sequence');
    const c = h.make();
    c.observeEvent(ev('a', 1));
    await vi.waitFor(() => expect(serials(h.written)).toEqual(['S1']));
    c.stop();
    // Results 2 and 3 were announced while the edge was stopped.
    const again = h.make();
    const saved = h.states.at(-1)!;
    await again.init((k) => Promise.resolve(saved[k]));
    again.observeEvent(ev('a-again', 1)); // announced again after the restart: not a new result
    again.observeEvent(ev('d', 4));
    await vi.waitFor(() => expect(serials(h.written)).toEqual(['S1', 'S4']));
    expect(codes(h.written)).toEqual(['inspection', 'RESULTS_MISSED', 'inspection']);
    expect(h.written[1]!.body).toMatchObject({
      severity: 'warning',
      details: { trigger: 'event.Sequence', from: 1, to: 4, missed: 2 },
    });
    again.observeEvent(ev('e', 1)); // the device restarted its numbering
    await vi.waitFor(() => expect(serials(h.written)).toEqual(['S1', 'S4', 'S1']));
    expect(codes(h.written).slice(3)).toEqual(['RESULT_COUNTER_RESET', 'inspection']);
  });

  it('a sequence anywhere but in an event trigger is refused saying where it belongs', () => {
    const withCounter = {
      ...bench,
      sources: [
        {
          ...bench.sources[0]!,
          records: [
            { ...bench.sources[0]!.records[0]!, trigger: { counter: 'temp', sequence: '=event.Sequence' } },
          ],
        },
      ],
    };
    expect(() => validateConfig(withCounter)).toThrow(
      expect.objectContaining({
        problems: [
          expect.stringMatching(
            /^sources\[0\]\.records\[0\]\.trigger: .*sequence is taken only by an OPC UA event trigger/,
          ),
        ],
      }),
    );
    const constant = {
      ...bench,
      sources: [
        {
          ...bench.sources[0]!,
          records: [
            {
              ...bench.sources[0]!.records[0]!,
              trigger: { event: { type: 'ns=1;i=1000', sequence: 7 } },
            },
          ],
        },
      ],
    };
    expect(() => validateConfig(constant)).toThrow(
      expect.objectContaining({
        problems: [expect.stringMatching(/trigger\.event\.sequence: must be an expression/)],
      }),
    );
  });
});

describe('an acknowledge that failed because the connection was cut', () => {
  it('is written again when the connection is back (the device holds that result)', async () => {
    vi.useFakeTimers();
    const cfg = validateConfig(rig({ counter: 'done' }));
    const src = cfg.sources[0];
    if (src?.protocol !== 'modbus') throw new Error('expected modbus');
    const written: RecordDraft[] = [];
    const acks: unknown[] = [];
    let down = false;
    let shown = 1;
    let reads = 0;
    const capture = captureFor(
      src,
      0,
      src.records![0]!,
      {
        sink: { write: (_: string, d: RecordDraft[]) => Promise.resolve(void written.push(...d)) } as never,
        logger: pino({ level: 'silent' }),
        source: () => ({ endpoint: 'x', protocol: 'modbus' }),
      },
      {
        // The link is cut as the block has been read: the acknowledge cannot be written.
        readBlock: (t): Promise<BlockRead | null> => {
          if (++reads === 1) down = true;
          return Promise.resolve(shown === t ? { scope: { qty: 60 }, trigger: t } : null);
        },
        acknowledge: (v) =>
          down ? Promise.reject(new Error('not connected')) : Promise.resolve(void acks.push(v)),
      },
      src.records!,
      'inspection',
    );
    capture.observe(1);
    capture.connectionLost();
    await vi.advanceTimersByTimeAsync(1000);
    expect(codes(written)).toEqual(['inspection', 'HANDSHAKE_FAILED']);
    expect(acks).toEqual([]);
    down = false;
    capture.connectionRestored();
    await vi.advanceTimersByTimeAsync(0);
    expect(acks).toEqual([1]);
    // The same counter seen again: neither recorded nor acknowledged once more.
    capture.observe(1);
    await vi.advanceTimersByTimeAsync(0);
    expect(acks).toEqual([1]);
    expect(codes(written)).toEqual(['inspection', 'HANDSHAKE_FAILED']);

    // Result 2's acknowledge fails too, but the device took it (its answer was lost) and moved on:
    // the acknowledge of 2 is not written again over result 3.
    shown = 2;
    reads = 0;
    capture.observe(2);
    capture.connectionLost();
    await vi.advanceTimersByTimeAsync(1000);
    expect(codes(written)).toEqual(['inspection', 'HANDSHAKE_FAILED', 'inspection', 'HANDSHAKE_FAILED']);
    down = false;
    shown = 3;
    capture.connectionRestored();
    await vi.advanceTimersByTimeAsync(0);
    expect(acks).toEqual([1]);
  });
});

describe('conditionAckOf (the Acknowledge of an Alarms & Conditions handshake)', () => {
  const compile = (spec: unknown) => compileValue(spec, {}).evaluate;
  const scope = { 'event.ConditionId': 'ns=1;s=C', trigger: 'AAEC', report: 'TQ-7' };

  it('names the condition, the event and the comment; failComment for a result not mapped', () => {
    const ack = conditionAckOf({ comment: '=report' }, compile);
    expect(ack(true, scope)).toEqual({ conditionId: 'ns=1;s=C', eventId: 'AAEC', comment: 'TQ-7' });
    expect(ack(false, scope).comment).toMatch(/^not recorded/);
    expect(conditionAckOf({}, compile)(true, scope).comment).toBe('recorded by RigTrace');
  });

  it('refuses an event that names no condition or has no EventId', () => {
    const ack = conditionAckOf({}, compile);
    expect(() => ack(true, { ...scope, 'event.ConditionId': null })).toThrow(/names no condition/);
    expect(() => ack(true, { ...scope, trigger: '' })).toThrow(/no EventId/);
  });
});
