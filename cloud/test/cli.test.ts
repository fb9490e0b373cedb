import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '@rigtrace/protocols/testing';

const cloud = (...args: string[]) => runCli('cloud/src/cli.ts', args);

describe('rigtrace-cloud command line', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-cloud-cli-'));

  it('refuses unknown flags and commands with exit code 2', () => {
    const r = cloud('serve', '--prot', '80');
    expect(r.status).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe("rigtrace-cloud: Unknown option '--prot'");
    expect(cloud('launch').status).toBe(2);
    expect(cloud().status).toBe(2);
  });

  it('lists every invalid setting, named by its environment variable', () => {
    const r = runCli('cloud/src/cli.ts', ['serve', '--port', '99999', '--data-dir', dir]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('RIGTRACE_PORT:');
  });

  it('creates a tenant, a site and tokens, and refuses an unknown site', () => {
    expect(cloud('tenant', 'create', '--id', 'acme', '--name', 'Acme', '--data-dir', dir).status).toBe(0);
    expect(
      cloud('site', 'create', '--tenant', 'acme', '--id', 'plant-1', '--name', 'P1', '--data-dir', dir)
        .status,
    ).toBe(0);
    const t = cloud(
      'token',
      'enroll',
      '--tenant',
      'acme',
      '--site',
      'plant-1',
      '--ttl-hours',
      '2',
      '--data-dir',
      dir,
    );
    expect(t.status, t.stderr).toBe(0);
    const token = JSON.parse(t.stdout) as { token: string; expiresAt: string };
    expect(token.token).toMatch(/^rt_enr_[A-Za-z0-9_-]{43}$/);
    expect(Date.parse(token.expiresAt) - Date.now()).toBeGreaterThan(7000_000);
    const bad = cloud('token', 'enroll', '--tenant', 'acme', '--site', 'plant-9', '--data-dir', dir);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('no site plant-9 in tenant acme');
    expect(cloud('tenant', 'create', '--id', 'Bad Id', '--name', 'x', '--data-dir', dir).status).toBe(2);
  });
});
