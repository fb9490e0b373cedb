import { describe, expect, it } from 'vitest';
import { MissingValue, Unavailable, compileValue, type Scope } from './expressions.js';

/** What evaluating gives: the value, or the error's kind and message. */
function outcome(f: () => unknown): unknown {
  try {
    return { value: f() };
  } catch (err) {
    const e = err as Error;
    return {
      error: e.constructor.name,
      message: e.message,
      ...(e instanceof MissingValue ? { absent: e.absent, unread: e.unread } : {}),
    };
  }
}

describe('expressions: a bare name and a name with a number are evaluated as filtrex does', () => {
  // The same expressions in parentheses go the whole way through filtrex: the reference.
  const simple = [
    'x',
    "'flow-rate'",
    'a.b',
    'x * 0.1',
    'x*10',
    'x / 4',
    'x + 273.15',
    'x - 1',
    "'flow-rate' * 60",
    'a.b - 0.5',
    'toString',
    'constructor * 2',
    "'__proto__'",
  ];
  const values: unknown[] = [
    170,
    0,
    -3.5,
    1e300,
    Number.NaN,
    '12',
    'abc',
    '',
    true,
    false,
    null,
    [5],
    [1, 2],
    new Date(0),
    new Unavailable('x', 'could not be read (timeout)'),
    Unavailable.unread('x', 'could not be read (no reply)'),
    new Unavailable('x', 'is not in the message', true),
  ];
  const scopes: Scope[] = [
    {},
    ...values.flatMap((v) => [{ x: v, 'flow-rate': v, 'a.b': v }]),
    { x: 2, other: 3 },
    // Names an object inherits are no values of the source.
    { toString: 1, constructor: 2 },
    Object.assign(Object.create(null) as Scope, { x: 4 }),
  ];

  for (const src of simple)
    it(`=${src}`, () => {
      const fast = compileValue(`=${src}`);
      const full = compileValue(`=(${src})`);
      expect(fast.source).toBe(src);
      for (const scope of scopes) {
        const a = outcome(() => fast.evaluate(scope));
        const b = outcome(() => full.evaluate(scope));
        expect(a, `${src} over ${JSON.stringify(scope)}`).toEqual(b);
      }
    });

  it('keeps the arithmetic exact: r17 = 170 times 0.1 is 17, as filtrex gives', () => {
    expect(compileValue('=r17 * 0.1').evaluate({ r17: 170 })).toBe(17);
    expect(compileValue('=r17 * 0.1').evaluate({ r17: 3 })).toBe(3 * 0.1);
  });

  it('gives each mapping its own lookup tables (the functions are made once per set of tables)', () => {
    const a = { t: { '1': 'running' } };
    const b = { t: { '1': 'idle' } };
    expect(compileValue('=lookup("t", x)', a).evaluate({ x: 1 })).toBe('running');
    expect(compileValue('=lookup("t", x)', b).evaluate({ x: 1 })).toBe('idle');
    expect(compileValue('=lookup("t", x)', a).evaluate({ x: 1 })).toBe('running');
    expect(() => compileValue('=lookup("t", x)').evaluate({ x: 1 })).toThrow(/no lookup table/);
  });

  it('leaves every other expression to filtrex (functions, two names, keywords as names)', () => {
    expect(compileValue('=round(x * 0.1, 1)').evaluate({ x: 173 })).toBe(17.3);
    expect(compileValue('=x * y').evaluate({ x: 2, y: 3 })).toBe(6);
    expect(compileValue('=x == 1').evaluate({ x: 1 })).toBe(true);
    expect(() => compileValue('=x * 0.1 +')).toThrow();
  });
});
