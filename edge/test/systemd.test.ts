import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '@rigtrace/protocols/testing';

const units = ['rigtrace-edge.service', 'rigtrace-cloud.service'].map((u) =>
  path.join(repoRoot, 'deploy/systemd', u),
);

describe('systemd units', () => {
  it('pass systemd-analyze verify', () => {
    const r = spawnSync('systemd-analyze', ['verify', ...units], { encoding: 'utf8' });
    expect(r.error, 'systemd-analyze must be installed (Debian: systemd)').toBeUndefined();
    // verify warns about the service user and paths that do not exist on a build machine; anything else fails.
    const complaints = `${r.stdout}${r.stderr}`
      .split('\n')
      .filter((l) => l.trim() !== '' && !/user|group|\/opt\/rigtrace|\/etc\/rigtrace/i.test(l));
    expect(complaints).toEqual([]);
  });

  it('run unprivileged with the hardening options set', () => {
    for (const u of units) {
      const text = readFileSync(u, 'utf8');
      for (const opt of [
        'NoNewPrivileges=yes',
        'ProtectSystem=strict',
        'PrivateTmp=yes',
        'CapabilityBoundingSet=',
        'User=rigtrace',
        'RestartPreventExitStatus=2',
      ])
        expect(text, `${path.basename(u)}: ${opt}`).toContain(opt);
    }
  });
});
