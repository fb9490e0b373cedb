import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EdgeError } from '../errors.js';
import { loadConfig, validateConfig } from './config.js';

const valid = {
  version: 1,
  cloud: { url: 'http://127.0.0.1:9' },
  sources: [
    {
      id: 'rig-1',
      protocol: 'modbus',
      equipment: 'RIG-01',
      host: '127.0.0.1',
      port: 15020,
      points: [
        { name: 'pressure', address: 4, type: 'float32', unit: 'bar' },
        { name: 'seq', address: 100, type: 'uint32' },
        { name: 'overall', address: 102, type: 'uint16' },
        { name: 'serial', address: 103, type: 'string', length: 10 },
        { name: 'qty', address: 146, type: 'float32' },
      ],
      inspection: {
        trigger: 'seq',
        partSerial: 'serial',
        result: { point: 'overall', pass: 1 },
        characteristics: [{ name: 'qty', measured: 'qty', lsl: 58, usl: 62, unit: 'mm3/stroke' }],
      },
    },
  ],
};

function problemsOf(raw: unknown): string[] {
  try {
    validateConfig(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(EdgeError);
    return (err as EdgeError).problems;
  }
  throw new Error('expected the config to be refused');
}

describe('edge config', () => {
  it('accepts a valid config and fills defaults', () => {
    const cfg = validateConfig(structuredClone(valid), '/srv/edge');
    const src = cfg.sources[0]!;
    if (src.protocol !== 'modbus') throw new Error('expected a modbus source');
    expect(src.intervalMs).toBe(1000);
    expect(src.points[0]!.area).toBe('holding');
    expect(cfg.cloud.batchSize).toBe(500);
    expect(cfg.edge.dataDir).toBe('/srv/edge/data/edge');
    expect(Object.isFrozen(src.points)).toBe(true);
  });

  it('lists every problem at once, each with its path', () => {
    const bad = structuredClone(valid) as Record<string, any>;
    bad.version = 2;
    bad.cloud.url = 'not a url';
    bad.sources[0].port = 70000;
    bad.sources[0].points[0].type = 'float16';
    bad.sources[0].points[1].address = -1;
    bad.sources[0].bogus = true;
    const p = problemsOf(bad);
    expect(p.some((l) => l.startsWith('version:'))).toBe(true);
    expect(p.some((l) => l.startsWith('cloud.url:'))).toBe(true);
    expect(p.some((l) => l.startsWith('sources[0].port:'))).toBe(true);
    expect(p.some((l) => l.startsWith('sources[0].points[0].type:'))).toBe(true);
    expect(p.some((l) => l.startsWith('sources[0].points[1].address:'))).toBe(true);
    expect(p.some((l) => l.startsWith('sources[0]') && l.includes('bogus'))).toBe(true);
    expect(p.length).toBeGreaterThanOrEqual(6);
  });

  it('checks references between fields', () => {
    const bad = structuredClone(valid) as Record<string, any>;
    bad.sources[0].inspection.trigger = 'nope';
    bad.sources[0].inspection.characteristics[0].measured = 'missing';
    bad.sources[0].points.push({ name: 'pressure', address: 9, type: 'bool' });
    bad.sources[0].points.push({ name: 'label', address: 50, type: 'string' });
    const p = problemsOf(bad);
    expect(p).toContain('sources[0].inspection.trigger: no point named "nope" in this source');
    expect(p).toContain(
      'sources[0].inspection.characteristics[0].measured: no point named "missing" in this source',
    );
    expect(p).toContain('sources[0].points[5].name: duplicate point "pressure"');
    expect(p).toContain('sources[0].points[5].type: bool cannot be read from holding registers');
    expect(p).toContain('sources[0].points[6].length: required for type string');
  });

  it('refuses plain http to a non-loopback cloud unless told to allow it', () => {
    const bad = structuredClone(valid) as Record<string, any>;
    bad.cloud.url = 'http://cloud.example.com';
    expect(problemsOf(bad)[0]).toMatch(/^cloud\.url: plain http to cloud\.example\.com is refused/);
    bad.cloud.allowInsecureHttp = true;
    expect(validateConfig(bad).cloud.url).toBe('http://cloud.example.com');
  });

  it('reports YAML syntax errors and duplicate keys with the file name', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-cfg-'));
    const f = path.join(dir, 'edge.yaml');
    writeFileSync(f, 'version: 1\nversion: 1\ncloud: [\n');
    try {
      loadConfig(f);
      throw new Error('expected a failure');
    } catch (err) {
      expect((err as EdgeError).code).toBe('EDGE_CONFIG_INVALID');
      expect((err as EdgeError).problems.length).toBeGreaterThanOrEqual(1);
      expect((err as EdgeError).problems[0]).toContain(f);
    }
  });

  it('takes RIGTRACE_EDGE_<SECTION>_<KEY> environment overrides, typed, and validates them too', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-cfg-'));
    const f = path.join(dir, 'edge.yaml');
    writeFileSync(f, 'version: 1\ncloud:\n  url: http://localhost:1\n');
    const cfg = loadConfig(f, {
      RIGTRACE_EDGE_CLOUD_URL: 'https://cloud.example.com',
      RIGTRACE_EDGE_BUFFER_QUOTAMB: '64',
      RIGTRACE_EDGE_LOG_LEVEL: 'debug',
    });
    expect(cfg.cloud.url).toBe('https://cloud.example.com');
    expect(cfg.buffer.quotaMb).toBe(64);
    expect(cfg.log.level).toBe('debug');
    expect(() => loadConfig(f, { RIGTRACE_EDGE_BUFFER_QUOTAMB: 'lots' })).toThrow(EdgeError);
  });

  it('resolves the data folder relative to the config file', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-cfg-'));
    const f = path.join(dir, 'edge.yaml');
    writeFileSync(f, 'version: 1\nedge:\n  dataDir: ./buf\ncloud:\n  url: http://localhost:1\n');
    expect(loadConfig(f).edge.dataDir).toBe(path.join(dir, 'buf'));
  });
});

describe('record mappings in the config', () => {
  it('lists every problem of a mapping by path: trigger, names, expressions, register types', () => {
    const src = valid.sources[0]!;
    const problems = problemsOf({
      ...valid,
      sources: [
        {
          ...src,
          records: [
            {
              kind: 'inspection',
              trigger: { counter: 'nope' },
              read: { qty: { address: 200, type: 'float32' }, flag: { address: 3, type: 'bool' } },
              handshake: { address: 300, value: '=trigger +' },
              fields: {
                partSerial: '=serial',
                characteristics: [{ name: 'q', measured: '=qty * (', unit: 'mm3/stroke' }],
              },
            },
          ],
        },
      ],
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^sources\[0\]\.records\[0\]\.trigger: no point named "nope"/),
        expect.stringMatching(/^sources\[0\]\.records\[0\]\.read\.qty: the name is already taken/),
        expect.stringMatching(
          /^sources\[0\]\.records\[0\]\.read\.flag\.type: bool cannot be read from holding registers/,
        ),
        expect.stringMatching(
          /^sources\[0\]\.records\[0\]\.fields\.characteristics\[0\]\.measured: the expression does not parse/,
        ),
        expect.stringMatching(/^sources\[0\]\.records\[0\]\.handshake\.value: the expression does not parse/),
      ]),
    );
  });

  it('lists the problems of an Alarms & Conditions handshake by path', () => {
    const mapping = {
      kind: 'calibration',
      read: { asFound: 'ns=1;s=Found' },
      fields: {
        equipment: 'PT-101',
        points: [{ name: 'p', nominal: 100, unit: 'bar', asFound: '=asFound', tolerance: 0.5 }],
      },
    };
    const opcua = (records: unknown[]) => ({
      ...valid,
      sources: [
        {
          id: 'bench',
          protocol: 'opcua',
          equipment: 'BENCH-1',
          endpointUrl: 'opc.tcp://127.0.0.1:4840',
          items: [{ name: 'done', nodeId: 'ns=1;s=Done' }],
          records,
        },
      ],
    });
    const event = { event: { type: 'i=2915', node: 'i=2253' } };
    expect(
      validateConfig(
        opcua([
          { ...mapping, trigger: event, handshake: { acknowledgeCondition: true } },
          { ...mapping, trigger: event, handshake: { acknowledgeCondition: true, confirmCondition: true } },
        ]),
      ).sources,
    ).toHaveLength(1);
    const problems = problemsOf(
      opcua([
        { ...mapping, trigger: { counter: 'done' }, handshake: { acknowledgeCondition: true } },
        { ...mapping, trigger: event, handshake: { acknowledgeCondition: true, comment: '=asFound *' } },
        { ...mapping, trigger: event, handshake: { acknowledgeCondition: false } },
        { ...mapping, trigger: event, handshake: { acknowledgeCondition: true, node: 'ns=1;s=Ack' } },
        { ...mapping, trigger: event, handshake: { acknowledgeCondition: true, confirmCondition: 'yes' } },
        { ...mapping, trigger: event, handshake: { confirmCondition: true } },
        { ...mapping, trigger: event, handshake: { node: 'ns=1;s=Ack', confirmCondition: true } },
      ]),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^sources\[0\]\.records\[2\]\.handshake: must be \{ node, .* or \{ acknowledgeCondition: true, confirmCondition\?/,
        ),
        expect.stringMatching(/^sources\[0\]\.records\[3\]\.handshake: must be \{ node, /),
        expect.stringMatching(/^sources\[0\]\.records\[4\]\.handshake: must be \{ node, /),
        expect.stringMatching(/^sources\[0\]\.records\[5\]\.handshake: must be \{ node, /),
        expect.stringMatching(/^sources\[0\]\.records\[6\]\.handshake: Unrecognized key: "confirmCondition"/),
      ]),
    );
    // The schema's problems come first; the checks of the mappings then (once the schema holds).
    const second = problemsOf(
      opcua([
        { ...mapping, trigger: { counter: 'done' }, handshake: { acknowledgeCondition: true } },
        { ...mapping, trigger: event, handshake: { acknowledgeCondition: true, comment: '=asFound *' } },
      ]),
    );
    expect(second).toEqual([
      expect.stringMatching(
        /^sources\[0\]\.records\[0\]\.handshake\.acknowledgeCondition: needs an event trigger/,
      ),
      expect.stringMatching(/^sources\[0\]\.records\[1\]\.handshake\.comment: the expression does not parse/),
    ]);
  });

  it('accepts a mapping with constants, expressions and a repeated group', () => {
    const src = valid.sources[0]!;
    expect(
      validateConfig({
        ...valid,
        sources: [
          {
            ...src,
            records: [
              {
                kind: 'calibration',
                trigger: { rising: 'overall' },
                read: { asFound: { address: 300, type: 'float32', repeat: 4, stride: 10 } },
                tables: { names: { '0': 'rail', '1': 'flow', '2': 'temp', '3': 'timing' } },
                fields: {
                  equipment: 'PT-101',
                  nextDue: '=addDays(timestamp(1764979200), 365)',
                  points: {
                    each: 4,
                    name: '=lookup("names", i)',
                    nominal: 100,
                    unit: 'bar',
                    asFound: '=at(asFound, i)',
                    tolerance: 0.5,
                  },
                },
              },
            ],
          },
        ],
      }),
    ).toBeTruthy();
  });
});
