import { describe, expect, it } from 'vitest';
import { TenantScopeError, assertSameTenant, toPgPlaceholders } from './db.js';
import { describeDatabaseUrl, pgConnectionConfig } from './postgres.js';

describe('toPgPlaceholders', () => {
  it('numbers ? placeholders in order', () => {
    expect(toPgPlaceholders('SELECT * FROM t WHERE a = ? AND (b, c) > (?, ?) LIMIT ?', 4)).toBe(
      'SELECT * FROM t WHERE a = $1 AND (b, c) > ($2, $3) LIMIT $4',
    );
  });

  it('leaves ? alone inside literals, quoted identifiers, comments and dollar quotes', () => {
    const sql = `SELECT '?', 'it''s ?', E'\\'?', "col?", $$?$$, $fn$ ? $fn$, x -- what?
/* really? */ FROM t WHERE y = ?`;
    expect(toPgPlaceholders(sql, 1)).toBe(sql.replace(/= \?$/, '= $1'));
  });

  it('does not take $1 or a column named like a tag for a dollar quote', () => {
    expect(toPgPlaceholders('SELECT a$b, ? FROM t', 1)).toBe('SELECT a$b, $1 FROM t');
  });

  it('refuses a statement whose placeholders and parameters do not match', () => {
    expect(() => toPgPlaceholders('SELECT ?, ?', 1)).toThrow('2 placeholders but 1 parameters');
    expect(() => toPgPlaceholders("SELECT '?'", 1)).toThrow('0 placeholders but 1 parameters');
  });
});

describe('tenant scope', () => {
  it('allows the same tenant or none, and refuses another', () => {
    expect(() => assertSameTenant(undefined, 'a')).not.toThrow();
    expect(() => assertSameTenant('a', 'a')).not.toThrow();
    expect(() => assertSameTenant('a', 'b')).toThrow(TenantScopeError);
  });
});

describe('PostgreSQL connection settings', () => {
  it("appends our server options to the URL's own instead of losing either", () => {
    expect(pgConnectionConfig('postgres://u@h/db', ['-c role=app'])).toEqual({
      connectionString: 'postgres://u@h/db',
      options: '-c role=app',
    });
    const c = pgConnectionConfig(
      'postgres://u@h:5433/db?options=-c%20statement_timeout%3D5s&sslmode=require',
      ['-c role=app'],
    );
    expect(c.options).toBe('-c statement_timeout=5s -c role=app');
    expect(c.connectionString).toBe('postgres://u@h:5433/db?sslmode=require');
  });

  it('describes a database without its password', () => {
    expect(describeDatabaseUrl('postgres://rt:s3cret@db.example:6432/rigtrace')).toBe(
      'postgres://db.example:6432/rigtrace',
    );
  });
});
