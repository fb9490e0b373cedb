import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '@rigtrace/protocols/testing';

const units = ['rigtrace-edge.service', 'rigtrace-cloud.service'].map((u) =>
  path.join(repoRoot, 'deploy/systemd', u),
);

describe('systemd units', () => {
  // systemd-analyze verify of both units, as shipped and as installed: deploy/test/deploy.test.ts,
  // install-cloud-guide.test.ts and install-plant-guide.test.ts.
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
