import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  APP_FUNCTIONS,
  APP_PRIVILEGES,
  MIGRATIONS,
  appPrivileges,
  type Migration,
} from './migrations/index.js';

const DIR = new URL('./migrations/', import.meta.url);
const FILE = /^(\d{4})-[a-z0-9]+(?:-[a-z0-9]+)*\.ts$/;

/**
 * SHA-256 of each released migration's SQLite DDL, a NUL and its PostgreSQL DDL. A released
 * migration never changes (a database that applied it would differ from a new one): this catches
 * an edit. A new migration needs no line here; add it once it is released.
 */
const RELEASED: Record<number, string> = {
  1: '785afca9a44a369a8a03328d9fddf0a53e2a51765fd5b628b93689ea22c490c7',
  2: '9494bb3089de0c78fbd46eea5f59f92b784593c5b53ba810fe300477efbad805',
  3: '4bbdcacc6c16025aa28f8f626ca022924daee454783eba91cf4030d40abc04ff',
  4: 'b89a21e3168d559aa241acf80a1590c94f3b4ff3df9a17fae9a96a1a685ff870',
  5: '34a5ae58b1188cf32df480adb8207f22d20e164d07567867d25f492309bbcd54',
  6: '4534cc6ac67aae48ded00d50aeb5884eb34c4b0f608985b1aa5203a288d8ed1e',
  7: '8012c2b3315834d0c91efbcfef35b635d0b5ad8154cd85a6045c956f696a592f',
  8: 'd7527d0d5877127666adb6471bcc6f666589e4f6f27fb563deb06929e6f48950',
  9: 'f5e8c7930c34f98a0c79e0bc019ab65182c2b7e61035f843693358838940d412',
  10: '6656c3f9f52ed175783b06bceb8b356be643244e8025e28b2293e37b913859ae',
  20: '77d682da40b0ad38acb7460a4ac11f0afbfefc27d948de57e0717690810be878',
  30: '0dc254154ae63c526b030236d1745bdd28f7445b5f72dd378c3ca05e604f2632',
  40: '0bad65695d89be47ad376ebcb54cf5e5ce2cee2553a96fd0e67205e4d75fe8ce',
  41: '0430984db6461cecc01ac9891edfe8b939ecb05280b5b6af39976dd717690079',
  42: 'b2c413084f3e4b05791acc3d2092ed793f58ba0528c219717580941e67aeae2c',
  50: '2afa60a3f626eddee30823cf49fc3ab87cb69c728c2cb3db76caa3a71d6e4873',
  55: '1eb86b7caf6bdb42e59ea2a77341c28343b593dbda34b748ec40b145d31ac6f9',
  60: '88d54e00d5a92c9680ff9955a56b23c5fc199e636b1f44797cd3489ac486f496',
  61: '9c2fd0ce9a3db0118474a83585cfdb2535399b99aa4755ea8fccde83e1312b75',
  65: '25c09a0664301f510496327701260bf1e10aecbb790bc5fcfe651b23d416db8f',
  66: '62ded00adb10bf4affbc2d7d60d0a431d58c3f7ac11db1f2d96dd7c1cbd62fff',
  70: '10c9a8eb76812c22d844896c99ef95d15d2e391f1a090d5bf29ed498fe08a5f8',
  71: '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  72: '40aa123d0cbdd6605329e1ced22779ee98a3e3fd77cfff866afef6ce1b0ab21a',
  73: '49beeb604d5bdc9697e91817c5376305ae8a378d3428f2b3055f6cfb5e7e0271',
  75: 'ef98ca553ec92e87f9cd54eba2497bcc2069fd85822b21e6b03bd980c60886b5',
  90: '66784baae55759304407a6285d72f39f90e381369e7411cf23e51cfa491d4fb7',
  91: 'ecf02b294f6e596be64ab72040b1d862a07351d02d9cfc2a302a6b7a54f69fe2',
  92: '2de0b668fd1290f5be0b2e25f9add0354ed59c1d44bdb48589d019f71e70c9f3',
  93: 'da3a6577595e74f066c87d7b2b9124638e133a51f08c0f486d817b4c874e44b9',
};

function digest(m: Migration): string {
  return createHash('sha256').update(m.sqlite).update('\0').update(m.postgres).digest('hex');
}

describe('migrations', () => {
  it('are listed once each, in ascending version order', () => {
    const versions = MIGRATIONS.map((m) => m.version);
    expect(versions.every((v, i) => Number.isInteger(v) && v > 0 && (i === 0 || v > versions[i - 1]!))).toBe(
      true,
    );
  });

  it('are one file per version, named after its version, every file listed in the index', async () => {
    const files = readdirSync(DIR).filter((f) => !['index.ts', 'migration.ts'].includes(f));
    for (const f of files) expect(f, 'a migration file is named NNNN-name.ts').toMatch(FILE);
    const fromFiles = new Map<number, Migration>();
    for (const f of files) {
      const { migration } = (await import(new URL(f, DIR).href)) as { migration: Migration };
      expect(migration.version, f).toBe(Number(FILE.exec(f)![1]));
      fromFiles.set(migration.version, migration);
    }
    expect(MIGRATIONS.length).toBe(fromFiles.size);
    for (const m of MIGRATIONS) expect(fromFiles.get(m.version), `version ${m.version}`).toBe(m);
  });

  it('state the change for both backends', () => {
    for (const m of MIGRATIONS) {
      expect(typeof m.sqlite, `${m.version} sqlite`).toBe('string');
      expect(typeof m.postgres, `${m.version} postgres`).toBe('string');
      expect(m.name.trim(), `${m.version} name`).not.toBe('');
      expect(Boolean(m.sqlite.trim() || m.postgres.trim() || m.data), `${m.version} does something`).toBe(
        true,
      );
    }
  });

  it('never change once released', () => {
    for (const m of MIGRATIONS) {
      const released = RELEASED[m.version];
      if (released) expect(digest(m), `migration ${m.version} was edited: add a new one`).toBe(released);
    }
    expect(
      Object.keys(RELEASED)
        .map(Number)
        .filter((v) => !MIGRATIONS.some((m) => m.version === v)),
    ).toEqual([]);
  });

  it('grant the app role only tables and functions that a migration creates, one grant per table', () => {
    const pg = MIGRATIONS.map((m) => m.postgres).join('\n');
    for (const { table } of APP_PRIVILEGES)
      expect(pg, table).toMatch(new RegExp(`CREATE TABLE (IF NOT EXISTS )?${table}\\b`));
    for (const fn of APP_FUNCTIONS)
      expect(pg, fn).toMatch(new RegExp(`CREATE (OR REPLACE )?FUNCTION ${fn.split('(')[0]}\\(`));
    expect(new Set(APP_PRIVILEGES.map((p) => p.table)).size).toBe(APP_PRIVILEGES.length);
  });

  it("take a table's grant from the highest version that states it", () => {
    const m = (version: number, grants: Migration['grants']): Migration => ({
      version,
      name: String(version),
      sqlite: '',
      postgres: '',
      grants,
    });
    expect(
      appPrivileges([
        m(1, [
          { table: 'a', privileges: 'SELECT' },
          { table: 'b', privileges: 'SELECT' },
        ]),
        m(2, [{ table: 'a', privileges: 'SELECT, UPDATE (x)' }]),
      ]),
    ).toEqual([
      { table: 'a', privileges: 'SELECT, UPDATE (x)' },
      { table: 'b', privileges: 'SELECT' },
    ]);
  });
});
