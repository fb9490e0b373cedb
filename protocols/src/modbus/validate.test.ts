import { describe, expect, it } from 'vitest';
import { validatePointSpecs, validateSourceOptions } from './validate.js';

describe('validatePointSpecs', () => {
  it('accepts a valid map and returns only spec fields', () => {
    const r = validatePointSpecs([
      {
        name: 'a',
        unitId: 1,
        area: 'holding',
        address: 0,
        type: 'float32',
        wordOrder: 'little',
        scale: 2,
        unit: 'bar',
      },
      { name: 'b', unitId: 0, area: 'coil', address: 65535, type: 'bool' },
      { name: 'c', unitId: 247, area: 'input', address: 10, type: 'string', length: 4, byteOrder: 'little' },
    ]);
    expect(r).toEqual({
      ok: true,
      points: [
        {
          name: 'a',
          unitId: 1,
          area: 'holding',
          address: 0,
          type: 'float32',
          wordOrder: 'little',
          scale: 2,
          unit: 'bar',
        },
        { name: 'b', unitId: 0, area: 'coil', address: 65535, type: 'bool' },
        {
          name: 'c',
          unitId: 247,
          area: 'input',
          address: 10,
          type: 'string',
          length: 4,
          byteOrder: 'little',
        },
      ],
    });
  });

  it('lists every problem with its path', () => {
    const r = validatePointSpecs([
      { name: 'a', unitId: 1, area: 'holding', address: 0, type: 'uint16' },
      { name: 'a', unitId: 248, area: 'holdings', address: -1, type: 'int8' },
      { name: 'b', unitId: 1, area: 'coil', address: 0, type: 'uint16' },
      { name: 'c', unitId: 1, area: 'input', address: 0, type: 'bool' },
      { name: 'd', unitId: 1, area: 'holding', address: 0, type: 'string' },
      { name: 'e', unitId: 1, area: 'holding', address: 0, type: 'uint16', length: 2, wordOrder: 'little' },
      { name: 'f', unitId: 1, area: 'holding', address: 0, type: 'string', length: 2, scale: 2 },
      { name: 'g', unitId: 1, area: 'holding', address: 65535, type: 'uint32' },
      { name: 'h', unitId: 1, area: 'holding', address: 0, type: 'int32', wordorder: 'little', scale: 0 },
      'x',
      {
        name: '',
        unitId: 1.5,
        area: 'input',
        address: '3',
        type: 'uint16',
        byteOrder: 'middle',
        offset: Infinity,
      },
    ]);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.map((p) => p.path)).toEqual([
      'points[1].name',
      'points[1].unitId',
      'points[1].area',
      'points[1].address',
      'points[1].type',
      'points[2].type',
      'points[3].type',
      'points[4].length',
      'points[5].length',
      'points[5].wordOrder',
      'points[6].scale',
      'points[7].address',
      'points[8].wordorder',
      'points[8].scale',
      'points[9]',
      'points[10].name',
      'points[10].unitId',
      'points[10].address',
      'points[10].byteOrder',
      'points[10].offset',
    ]);
    expect(r.problems[0]?.message).toMatch(/duplicate name "a"/);
    expect(r.problems[12]?.message).toBe('unknown field');
  });

  it('can ignore unknown keys', () => {
    const r = validatePointSpecs(
      [{ name: 'a', unitId: 1, area: 'holding', address: 0, type: 'uint16', equipment: 'RIG-01' }],
      { allowUnknownKeys: true },
    );
    expect(r).toEqual({
      ok: true,
      points: [{ name: 'a', unitId: 1, area: 'holding', address: 0, type: 'uint16' }],
    });
  });

  it('refuses a non-array and an empty map', () => {
    expect(validatePointSpecs({})).toEqual({
      ok: false,
      problems: [{ path: 'points', message: 'must be an array, got an object' }],
    });
    expect(validatePointSpecs([])).toMatchObject({ ok: false, problems: [{ path: 'points' }] });
  });
});

describe('validateSourceOptions', () => {
  it('applies defaults', () => {
    const r = validateSourceOptions({
      host: 'h',
      port: 1502,
      intervalMs: 1000,
      timeoutMs: 500,
      points: [{ name: 'a', unitId: 1, area: 'holding', address: 0, type: 'uint16' }],
    });
    expect(r.ok && r.options).toMatchObject({
      maxQueue: 64,
      maxBlockRegisters: 120,
      maxGap: 8,
      reconnect: { initialMs: 500, maxMs: 30000 },
    });
  });

  it('lists every problem of the options and of the points', () => {
    const r = validateSourceOptions({
      host: '',
      port: 0,
      intervalMs: 0,
      timeoutMs: 'x',
      maxQueue: 0,
      maxBlockRegisters: 126,
      maxGap: -1,
      reconnect: { initialMs: 1000, maxMs: 10 },
      points: [{ name: 'a', unitId: 1, area: 'holding', address: 0, type: 'nope' }],
    });
    expect(r.ok ? [] : r.problems.map((p) => p.path)).toEqual([
      'host',
      'port',
      'intervalMs',
      'timeoutMs',
      'maxQueue',
      'maxBlockRegisters',
      'maxGap',
      'reconnect.maxMs',
      'points[0].type',
    ]);
  });
});
