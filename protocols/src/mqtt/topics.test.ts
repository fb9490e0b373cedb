import { describe, expect, it } from 'vitest';
import { FrameFilter } from './guard.js';
import { argon2idParams } from './password.js';
import { filterCovers, topicFilterProblem, topicMatches, topicNameProblem } from './topics.js';

describe('topic names and filters (MQTT 3.1.1 section 4.7)', () => {
  it('accepts valid topic names and refuses wildcards, empty, U+0000 and U+FFFD', () => {
    for (const ok of ['a', 'a/b', '/', 'a//b', '$SYS/x', 'rigtrace/plant-1/STN-01/inspection', 'ü/€'])
      expect(topicNameProblem(ok), ok).toBeNull();
    expect(topicNameProblem('')).toMatch(/empty/u);
    expect(topicNameProblem('a/+')).toMatch(/wildcards/u);
    expect(topicNameProblem('a/#')).toMatch(/wildcards/u);
    expect(topicNameProblem('a\u0000b')).toMatch(/U\+0000/u);
    expect(topicNameProblem('a\uFFFDb')).toMatch(/UTF-8/u);
    expect(topicNameProblem('a\uD800')).toMatch(/UTF-8/u);
    expect(topicNameProblem('x'.repeat(65_536))).toMatch(/65535/u);
  });

  it('accepts valid filters and refuses the ones aedes lets through', () => {
    for (const ok of ['#', '+', 'a/#', 'a/+/c', '+/+', '/#', '+/', 'a/b'])
      expect(topicFilterProblem(ok), ok).toBeNull();
    for (const bad of ['a#', 'a/+b', '+a', 'a+', 'a/#/b', '##', 'a/b#', ''])
      expect(topicFilterProblem(bad), bad).not.toBeNull();
  });

  it('matches like the specification, $-topics only by literal first levels', () => {
    const cases: [string, string, boolean][] = [
      ['a/#', 'a', true],
      ['a/#', 'a/b/c', true],
      ['a/+', 'a/b', true],
      ['a/+', 'a/b/c', false],
      ['a/+', 'a', false],
      ['+/+', '/x', true],
      ['#', '$SYS/broker', false],
      ['+/broker', '$SYS/broker', false],
      ['$SYS/#', '$SYS/broker', true],
      ['a/b', 'a/b', true],
      ['a/b', 'a/c', false],
    ];
    for (const [filter, topic, expected] of cases)
      expect(topicMatches(filter, topic), `${filter} ~ ${topic}`).toBe(expected);
  });

  it('filterCovers: an allowed filter covers a requested one only if it matches all its topics', () => {
    const cases: [string, string, boolean][] = [
      ['#', '#', true],
      ['#', 'a/+/c', true],
      ['#', '$SYS/#', false],
      ['+/#', '$SYS/#', false],
      ['$SYS/#', '$SYS/+', true],
      ['a/#', 'a', true],
      ['a/#', 'a/#', true],
      ['a/+', 'a/#', false],
      ['a/+', 'a/+', true],
      ['a/+', 'a/b', true],
      ['a/b', 'a/+', false],
      ['a/b', 'a/b/c', false],
      ['rigtrace/p1/STN-01/#', 'rigtrace/p1/STN-01/control', true],
      ['rigtrace/p1/STN-01/#', 'rigtrace/p1/+/control', false],
    ];
    for (const [allowed, requested, expected] of cases)
      expect(filterCovers(allowed, requested), `${allowed} ⊇ ${requested}`).toBe(expected);
  });
});

describe('FrameFilter', () => {
  const header = (len: number[]): Buffer => Buffer.from([0x30, ...len]);
  /** Feeds `bytes` in chunks of `step`; returns what came out, pass-through bytes joined. */
  const run = (f: FrameFilter, bytes: Buffer, step: number) => {
    const out: (Buffer | { bytes: number; replacement: Buffer } | string)[] = [];
    for (let i = 0; i < bytes.length; i += step)
      for (const seg of f.feed(bytes.subarray(i, i + step))) {
        const last = out[out.length - 1];
        if (seg.kind === 'bytes') {
          if (Buffer.isBuffer(last)) out[out.length - 1] = Buffer.concat([last, seg.bytes]);
          else out.push(Buffer.from(seg.bytes));
        } else if (seg.kind === 'oversized-publish')
          out.push({ bytes: seg.bytes, replacement: seg.replacement });
        else out.push(`refuse ${seg.reason}`);
      }
    return out;
  };

  it('passes packets within the limit through unchanged, whatever the chunking', () => {
    const bytes = Buffer.concat([header([3]), Buffer.from('abc'), header([100]), Buffer.alloc(100, 7)]);
    for (const step of [1, 2, 7, 1000]) expect(run(new FrameFilter(100), bytes, step)).toEqual([bytes]);
  });

  it('cuts an oversized PUBLISH out of the stream, keeping its topic and packet identifier', () => {
    // QoS 1 PUBLISH "t/x", id 0x0102, 300 payload bytes; then a PINGREQ
    const body = Buffer.concat([
      Buffer.from([0, 3]),
      Buffer.from('t/x'),
      Buffer.from([1, 2]),
      Buffer.alloc(300, 9),
    ]);
    const big = Buffer.concat([Buffer.from([0x32, 0xb3, 0x02]), body]); // remaining length 307
    const ping = Buffer.from([0xc0, 0x00]);
    const small = Buffer.concat([header([3]), Buffer.from('abc')]);
    for (const step of [1, 3, 50, 10_000]) {
      const out = run(new FrameFilter(100), Buffer.concat([small, big, ping]), step);
      expect(out).toEqual([
        small,
        { bytes: 300, replacement: Buffer.from([0x32, 7, 0, 3, 0x74, 0x2f, 0x78, 1, 2]) },
        ping,
      ]);
    }
  });

  it('refuses from the fixed header alone: a packet other than PUBLISH over the limit, a PUBLISH over the discard limit', () => {
    expect(run(new FrameFilter(100), Buffer.from([0x82, 0xe5, 0x00]), 1)).toEqual([
      'refuse packet of 101 bytes announced',
    ]);
    // 2 097 152 announced (3 length bytes), refused before any body byte
    expect(run(new FrameFilter(100, 1_000_000), header([0x80, 0x80, 0x80, 0x01]), 2)).toEqual([
      'refuse packet of 2097152 bytes announced',
    ]);
  });

  it('refuses a fifth remaining-length byte as malformed', () => {
    expect(run(new FrameFilter(1e9), header([0xff, 0xff, 0xff, 0xff, 0x01]), 10)).toEqual([
      'refuse remaining length longer than 4 bytes',
    ]);
  });
});

describe('argon2idParams', () => {
  it('reads m, t and p in any order and refuses other encodings', () => {
    expect(argon2idParams('$argon2id$v=19$m=19456,p=1,t=2$c2FsdHNhbHQ$aGFzaA')).toEqual({
      memoryCost: 19456,
      timeCost: 2,
      parallelism: 1,
    });
    expect(argon2idParams('$argon2i$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA')).toBeNull();
    expect(argon2idParams('$2b$10$abcdefghijklmnopqrstuv')).toBeNull();
    expect(argon2idParams('$argon2id$v=19$m=19456,t=2$c2FsdA$aGFzaA')).toBeNull();
  });
});
