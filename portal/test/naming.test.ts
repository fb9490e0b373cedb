import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nameOf, quantityName, unitOf } from '../src/lib/live-model.js';
import * as units from '../src/lib/units.js';

const src = fileURLToPath(new URL('../src', import.meta.url));
const files = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : /\.(ts|svelte)$/.test(e.name) ? [join(dir, e.name)] : [],
  );

// A rig whose edge sent no signal dictionary: the built-in naming rule applies.
const noDictionary = { signals: [] };

describe('one naming rule for signals and units', () => {
  it('names signals and units the same on the case page and on the live floor', () => {
    const signals: [string, string][] = [
      ['deliveredQty', 'Delivered quantity'],
      ['energizingTime', 'Energizing time'],
      ['backLeak', 'Back leak'],
      ['railPressure', 'Rail pressure'],
      ['fullLoad.deliveredQty', 'Full load · delivered quantity'],
    ];
    for (const [name, text] of signals) {
      // The case page's characteristic names (CasePage.svelte) and the live floor's (nameOf).
      expect(units.signalLabel(name)).toBe(text);
      expect(nameOf(noDictionary, name)).toBe(text);
      expect(quantityName(noDictionary, { name, quantity: name })).toBe(text);
    }
    const unitsOf: [string, string][] = [
      ['degC', '°C'],
      ['us', 'µs'],
      ['mm3/stroke', 'mm³/stroke'],
      ['deg', '°'],
      ['deg C', '°C'],
      ['m^3', 'm³'],
    ];
    for (const [unit, text] of unitsOf) {
      expect(units.unitLabel(unit)).toBe(text);
      expect(unitOf(noDictionary, 'x', unit)).toBe(text);
    }
  });

  it('has one copy of the rule, imported by every page that names a signal or a unit', () => {
    expect(Object.keys(units).sort()).toEqual(['signalLabel', 'unitLabel']);
    const users: string[] = [];
    for (const file of files(src)) {
      const text = readFileSync(file, 'utf8');
      if (file.endsWith(join('lib', 'units.ts'))) continue;
      // No second definition of the rule anywhere else.
      expect(text, file).not.toMatch(
        /function (signalLabel|unitLabel|words|unitText)\b|const (UNIT_TOKENS|SYMBOLS)\b/,
      );
      if (/\b(signalLabel|unitLabel)\(/.test(text)) {
        expect(text, file).toMatch(
          /import \{[^}]*\b(signalLabel|unitLabel)\b[^}]*\} from '[./]+(lib\/)?units(\.js)?'/,
        );
        users.push(file.slice(src.length + 1));
      }
    }
    // The case page, the live floor's cards and SPC all name through it.
    expect(users).toEqual(
      expect.arrayContaining([
        join('lib', 'components', 'oot', 'CasePage.svelte'),
        join('lib', 'components', 'dashboard', 'RigCard.svelte'),
        join('lib', 'components', 'spc', 'SpcPage.svelte'),
        join('lib', 'live-model.ts'),
      ]),
    );
  });
});
