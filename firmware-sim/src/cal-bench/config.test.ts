import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CAL_BENCH_DEFAULTS, parseCalBenchArgs } from './config.js';

describe('parseCalBenchArgs', () => {
  it('applies the defaults and a random (reported) seed', () => {
    const r = parseCalBenchArgs([], () => 1234);
    expect(r).toEqual({ ok: true, seedWasRandom: true, config: { ...CAL_BENCH_DEFAULTS, seed: 1234 } });
  });

  it('reads every flag, in both forms', () => {
    const r = parseCalBenchArgs([
      '--port',
      '0',
      '--asset=BENCH-07',
      '--cycle-seconds',
      '2.5',
      '--seed',
      '9',
      '--security',
      'all',
      '--pki-dir',
      '/tmp/pki',
      '--faults',
      'drift,overdue-standard',
      '--slow-delay-ms',
      '300',
      '--disconnect-every-seconds',
      '4',
      '--user',
      'tech:pa:ss',
      '--host',
      '0.0.0.0',
      '--time-zone',
      'Asia/Kolkata',
    ]);
    expect(r).toEqual({
      ok: true,
      seedWasRandom: false,
      config: {
        host: '0.0.0.0',
        port: 0,
        asset: 'BENCH-07',
        cycleSeconds: 2.5,
        seed: 9,
        security: 'all',
        pkiDir: '/tmp/pki',
        faults: ['drift', 'overdue-standard'],
        slowDelayMs: 300,
        disconnectEverySeconds: 4,
        user: { username: 'tech', password: 'pa:ss' },
        timeZone: 'Asia/Kolkata',
      },
    });
  });

  it('lists every problem, one per line', () => {
    const r = parseCalBenchArgs([
      '--port',
      '70000',
      '--cycle-seconds',
      '0',
      '--security',
      'encrypt',
      '--faults',
      'drift,melt',
      '--user',
      'nopassword',
      '--time-zone',
      'Mars/Olympus',
      '--colour',
      'red',
      'stray',
      '--seed',
    ]);
    expect(r).toEqual({
      ok: false,
      problems: [
        'unknown flag --colour',
        'unexpected argument "stray"',
        '--seed needs a value',
        '--port: must be an integer 0..65535, got "70000"',
        '--cycle-seconds: must be a number 0.2..86400, got "0"',
        '--security: must be one of none, sign, all, got "encrypt"',
        '--faults: unknown fault "melt" (known: drift, overdue-standard, bad-status, uncertain, freeze, disconnect, slow)',
        '--user: must be NAME:PASSWORD',
        '--time-zone: unknown time zone "Mars/Olympus" (an IANA name such as Europe/Berlin)',
      ],
    });
  });

  it('merges a YAML file under the flags', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rigtrace-cal-bench-config-'));
    const file = join(dir, 'bench.yaml');
    writeFileSync(file, 'asset: BENCH-09\ncycleSeconds: 3\nfaults: [slow]\nport: 15000\ncolour: red\n');
    expect(parseCalBenchArgs(['--config', file, '--port', '0'], () => 5)).toEqual({
      ok: false,
      problems: [`${file}: colour: unknown setting`],
    });
    writeFileSync(file, 'asset: BENCH-09\ncycleSeconds: 3\nfaults: [slow]\nport: 15000\n');
    const r = parseCalBenchArgs(['--config', file, '--port', '0'], () => 5);
    rmSync(dir, { recursive: true, force: true });
    expect(r).toMatchObject({
      ok: true,
      config: { asset: 'BENCH-09', cycleSeconds: 3, faults: ['slow'], port: 0 },
    });
  });

  it('answers --help', () => {
    expect(parseCalBenchArgs(['--port', '1', '--help'])).toEqual({ help: true });
  });
});
