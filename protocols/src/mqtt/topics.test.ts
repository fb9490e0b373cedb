import { describe, expect, it } from 'vitest';
import { FrameScanner } from './guard.js';
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

describe('FrameScanner', () => {
  const header = (len: number[]): Buffer => Buffer.from([0x30, ...len]);
  it('follows packets across chunks and flags a too-long announced length from the header alone', () => {
    const s = new FrameScanner(100);
    // two packets of 3 and 100 bytes, split at awkward places
    const bytes = Buffer.concat([header([3]), Buffer.from('abc'), header([100]), Buffer.alloc(100)]);
    for (let i = 0; i < bytes.length; i += 7) expect(s.feed(bytes.subarray(i, i + 7))).toBeNull();
    // 2 097 152 announced (3 length bytes), refused before any body byte
    expect(s.feed(header([0x80, 0x80, 0x80, 0x01]))).toBe(2_097_152);
  });

  it('flags a fifth remaining-length byte as malformed', () => {
    expect(new FrameScanner(1e9).feed(header([0xff, 0xff, 0xff, 0xff, 0x01]))).toBe(-1);
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
