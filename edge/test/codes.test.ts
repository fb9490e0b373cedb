import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RECORD_ERROR_CODES } from '@rigtrace/protocols';
import { EDGE_ERRORS, EDGE_EVENTS } from '../src/errors.js';

/**
 * The edge's catalogue of error and event codes is complete: every code the agent's source uses
 * is in it, every code in it is used, and every one is explained to the operator in CONFIG.md.
 */

const EDGE = fileURLToPath(new URL('../', import.meta.url));
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [p] : [];
  });
}
const code = sources(path.join(EDGE, 'src'))
  .filter((f) => path.basename(f) !== 'errors.ts')
  .map((f) => readFileSync(f, 'utf8'))
  .join('\n');
const catalogue = { ...EDGE_ERRORS, ...EDGE_EVENTS } as Record<string, string>;
/** Codes of other catalogues the edge passes on or reads: SQLite's own, and the record format's (protocols). */
const recordCodes = new Set<string>(RECORD_ERROR_CODES);
const FOREIGN = { test: (c: string) => c.startsWith('SQLITE_') || recordCodes.has(c) };

describe('the edge catalogue of codes', () => {
  it('has an explanation for every code, and no code twice', () => {
    const all = [...Object.keys(EDGE_ERRORS), ...Object.keys(EDGE_EVENTS)];
    expect(new Set(all).size).toBe(all.length);
    for (const c of all) {
      expect(c).toMatch(/^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$/);
      expect(catalogue[c]!.length, c).toBeGreaterThan(15);
    }
  });

  it('lists every code the agent uses, and only those', () => {
    const used = new Set(
      [...code.matchAll(/'([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)'/g)]
        .map((m) => m[1]!)
        .filter((c) => !FOREIGN.test(c)),
    );
    expect([...used].filter((c) => !(c in catalogue)).sort()).toEqual([]);
    expect(Object.keys(catalogue).filter((c) => !used.has(c))).toEqual([]);
  });

  it('explains every code to the operator in CONFIG.md, with the builder’s RECORD_INVALID', () => {
    const doc = readFileSync(path.join(EDGE, 'CONFIG.md'), 'utf8');
    const missing = [...Object.keys(catalogue), 'RECORD_INVALID'].filter(
      (c) => !new RegExp(`^\\| \`${c}\` \\|`, 'm').test(doc),
    );
    expect(missing).toEqual([]);
  });
});
