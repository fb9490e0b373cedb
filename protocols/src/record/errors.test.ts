import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RECORD_ERROR_CATALOGUE, RECORD_ERROR_CODES, RecordFormatError } from './errors.js';

const DIR = fileURLToPath(new URL('./', import.meta.url));
const sources = readdirSync(DIR)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && f !== 'testing.ts')
  .map((f) => readFileSync(`${DIR}${f}`, 'utf8'))
  .join('\n');

describe('error catalogue', () => {
  it('has a message for every code, and codes in UPPER_SNAKE_CASE', () => {
    expect(RECORD_ERROR_CODES.length).toBeGreaterThan(40);
    for (const code of RECORD_ERROR_CODES) {
      expect(code).toMatch(/^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$/);
      expect(RECORD_ERROR_CATALOGUE[code].length, code).toBeGreaterThan(10);
    }
  });

  it('lists every code the library uses, and only those', () => {
    const used = new Set([...sources.matchAll(/'([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|FORK)'/g)].map((m) => m[1]!));
    expect([...used].filter((c) => !(c in RECORD_ERROR_CATALOGUE))).toEqual([]);
    expect(RECORD_ERROR_CODES.filter((c) => !used.has(c))).toEqual([]);
  });

  it('RecordFormatError carries the code and defaults its message to the catalogue', () => {
    const e = new RecordFormatError('BASE64_INVALID');
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('RecordFormatError');
    expect(e.code).toBe('BASE64_INVALID');
    expect(e.message).toBe(RECORD_ERROR_CATALOGUE.BASE64_INVALID);
    expect(new RecordFormatError('X_Y', 'custom').message).toBe('custom');
  });
});
