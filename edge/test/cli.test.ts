import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
function edge(...args: string[]) {
  const r = spawnSync(process.execPath, ['--conditions=rigtrace-source', '--import', 'tsx', cli, ...args], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('rigtrace-edge command line', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-cli-'));

  it('refuses an unknown flag with exit code 2 and the usage', () => {
    const r = edge('run', '--config', 'x.yaml', '--colour', 'blue');
    expect(r.status).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe("rigtrace-edge: Unknown option '--colour'");
    expect(r.stderr).toContain('usage: rigtrace-edge');
  });

  it('refuses an unknown command and a missing required flag with exit code 2', () => {
    expect(edge('fly').status).toBe(2);
    const r = edge('enroll', '--cloud', 'http://127.0.0.1:1');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--config is required');
  });

  it('lists every problem of a broken config, one line each, and exits 2', () => {
    const f = path.join(dir, 'broken.yaml');
    writeFileSync(
      f,
      [
        'version: 1',
        'cloud:',
        '  url: ftp://cloud',
        'sources:',
        '  - id: rig',
        '    protocol: modbus',
        '    equipment: RIG 01',
        '    host: 127.0.0.1',
        '    port: 0',
        '    points:',
        '      - { name: p, address: 1, type: float16 }',
      ].join('\n'),
    );
    const r = edge('check-config', f);
    expect(r.status).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toBe('rigtrace-edge: The configuration file has problems');
    const problems = lines.slice(1).map((l) => l.trim().split(':')[0]);
    expect(problems).toEqual(
      expect.arrayContaining([
        'cloud.url',
        'sources[0].equipment',
        'sources[0].port',
        'sources[0].points[0].type',
      ]),
    );
    expect(lines.length).toBe(5);
  });

  it('says a missing config file cannot be read, exit 2', () => {
    const r = edge('check-config', path.join(dir, 'nope.yaml'));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/nope\.yaml: ENOENT/);
  });

  it('accepts a valid config', () => {
    const f = path.join(dir, 'ok.yaml');
    writeFileSync(f, 'version: 1\ncloud:\n  url: https://cloud.example.com\n');
    const r = edge('check-config', f);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${f}: valid (0 sources)\n`);
  });

  it('hashes a device password read on stdin, and refuses a short one', () => {
    const ok = spawnSync(
      process.execPath,
      ['--conditions=rigtrace-source', '--import', 'tsx', cli, 'hash-password'],
      {
        input: 'correct horse battery\n',
        encoding: 'utf8',
      },
    );
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$\S+\n$/);
    const short = spawnSync(
      process.execPath,
      ['--conditions=rigtrace-source', '--import', 'tsx', cli, 'hash-password'],
      {
        input: 'short\n',
        encoding: 'utf8',
      },
    );
    expect(short.status).toBe(2);
  });

  it('refuses to run before enrollment with a clear message', () => {
    const f = path.join(dir, 'unenrolled.yaml');
    writeFileSync(
      f,
      `version: 1\nedge:\n  dataDir: ${path.join(dir, 'data')}\ncloud:\n  url: http://127.0.0.1:1\n`,
    );
    const r = edge('run', '--config', f);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('rigtrace-edge enroll');
  });
});
