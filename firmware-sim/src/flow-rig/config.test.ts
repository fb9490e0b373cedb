import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FLOW_RIG_DEFAULTS, parseFlowRigArgs } from './config.js';

const dir = mkdtempSync(join(tmpdir(), 'flow-rig-config-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('parseFlowRigArgs', () => {
  it('applies defaults and draws a seed when none is given', () => {
    expect(parseFlowRigArgs([], () => 77)).toEqual({
      ok: true,
      config: { ...FLOW_RIG_DEFAULTS, seed: 77 },
      seedWasRandom: true,
    });
  });

  it('reads flags in both forms, fault names or a mask', () => {
    const r = parseFlowRigArgs([
      '--port',
      '0',
      '--unit-id=3',
      '--asset',
      'RIG-07',
      '--test-seconds',
      '1.5',
      '--seed',
      '9',
      '--faults',
      'drift,garbage',
      '--host',
      '0.0.0.0',
    ]);
    expect(r).toMatchObject({
      ok: true,
      seedWasRandom: false,
      config: {
        port: 0,
        unitId: 3,
        asset: 'RIG-07',
        testSeconds: 1.5,
        seed: 9,
        faultMode: 5,
        host: '0.0.0.0',
      },
    });
    expect(parseFlowRigArgs(['--faults', '10'])).toMatchObject({ ok: true, config: { faultMode: 10 } });
  });

  it('merges defaults < config file < flags', () => {
    const path = file(
      'rig.yaml',
      'port: 15999\nasset: RIG-09\nfaults: [slow, disconnect]\nslowDelayMs: 200\n',
    );
    expect(parseFlowRigArgs(['--config', path, '--port', '16000'])).toMatchObject({
      ok: true,
      config: { port: 16000, asset: 'RIG-09', faultMode: 10, slowDelayMs: 200, unitId: 1 },
    });
  });

  it('lists every problem, one line each', () => {
    const path = file('bad.yaml', 'prot: 1\ntestSeconds: -1\n');
    const r = parseFlowRigArgs([
      '--port',
      '70000',
      '--unit-id',
      'one',
      '--bogus',
      'x',
      '--config',
      path,
      '--faults',
      'drift,smoke',
      '--garbage-share',
      '2',
      'stray',
      '--asset',
    ]);
    expect(r).toEqual({
      ok: false,
      problems: [
        'unknown flag --bogus',
        'unexpected argument "stray"',
        '--asset needs a value',
        `${path}: prot: unknown setting`,
        '--port: must be an integer 0..65535, got "70000"',
        '--unit-id: must be an integer 0..247, got "one"',
        `${path}: testSeconds: must be a number 0.2..86400, got -1`,
        '--faults: unknown fault "smoke" (known: drift, slow, garbage, disconnect, halt)',
        '--garbage-share: must be a number 0..1, got "2"',
      ],
    });
  });

  it('reports an unreadable or malformed config file', () => {
    const missing = join(dir, 'nope.yaml');
    const r = parseFlowRigArgs(['--config', missing]);
    expect('problems' in r && r.problems[0]).toMatch(/^--config .*nope\.yaml: ENOENT/u);
    const list = file('list.yaml', '- a\n- b\n');
    expect(parseFlowRigArgs(['--config', list])).toEqual({
      ok: false,
      problems: [`--config ${list}: must be a YAML mapping`],
    });
  });

  it('answers --help', () => {
    expect(parseFlowRigArgs(['--port', '1', '--help'])).toEqual({ help: true });
  });
});
