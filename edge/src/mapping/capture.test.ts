import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RecordDraft } from '../buffer/edge-log.js';
import { validateConfig } from '../config/config.js';
import type { RecordSink } from '../records/record-sink.js';
import { captureFor, type BlockRead } from './capture.js';
import { Unavailable, type Scope } from './expressions.js';

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
