import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { freePort, repoRoot } from '@rigtrace/protocols/testing';

// Every command here is a real `npx` process loading its TypeScript sources: seconds apiece.
vi.setConfig({ testTimeout: 240_000 });

/** The ```sh blocks of README's "Running it for real", as written (without the list indent). */
function readmeLines(): string[] {
  const text = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const start = text.indexOf('## Running it for real');
  const end = text.indexOf('\n## ', start + 1);
  expect(start).toBeGreaterThan(0);
  const section = text.slice(start, end);
  const lines: string[] = [];
  for (const m of section.matchAll(/^( *)```sh\n([\s\S]*?)^\1```$/gm)) {
    const indent = m[1]!.length;
    for (const l of m[2]!.split('\n')) if (l.trim() !== '') lines.push(l.slice(indent));
  }
  return lines;
}

/**
 * The README's lines as one bash script: a line marked `# leave it running` is started in the
 * background and waited for until it says it is listening or running (each command prints one
 * JSON line for that), as a person would wait before typing the next.
 */
function asScript(lines: string[], logDir: string): string {
  const out = ['set -euo pipefail'];
  let n = 0;
  for (const line of lines) {
    const bg = /^(.*?)\s+# leave it running\s*$/.exec(line);
    if (!bg) {
      out.push(line);
      continue;
    }
    const log = path.join(logDir, `background-${++n}.log`);
    out.push(
      `${bg[1]} > ${log} 2>&1 &`,
      `for _ in $(seq 1 600); do grep -qE '"event":"(listening|running)"' ${log} && break; sleep 0.2; done`,
      `grep -qE '"event":"(listening|running)"' ${log} || { echo "not ready: ${bg[1]}"; cat ${log}; exit 1; }`,
    );
  }
  return `${out.join('\n')}\n`;
}

describe("README's Running it for real", () => {
  it('runs as written: cloud, tenant, site, first admin, tokens, an enrolled edge that reports', async () => {
    const lines = readmeLines();
    // The README uses the commands of the checkout, never a registry package.
    const text = lines.join('\n');
    expect(text.match(/\brigtrace-(cloud|edge) /g)?.length).toBe(
      text.match(/\bnpx rigtrace-(cloud|edge) /g)?.length,
    );
    const home = mkdtempSync(path.join(os.tmpdir(), 'rt-readme-'));
    const script = path.join(home, 'readme.sh');
    writeFileSync(script, asScript(lines, home));
    const port = await freePort();
    // Its own process group, so that everything it left running is stopped with it.
    const child = spawn('bash', [script], {
      cwd: repoRoot,
      env: { ...process.env, HOME: home, CLOUD_PORT: String(port), npm_config_update_notifier: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      expect(code, `${stdout}\n${stderr}`).toBe(0);
      expect(stdout).toContain('tenant acme created');
      expect(stdout).toContain('site plant-1 created in tenant acme');
      const admin = JSON.parse(stdout.split('\n').find((l) => l.includes('"initialPassword"'))!) as {
        email: string;
        role: string;
        initialPassword: string;
      };
      expect(admin).toMatchObject({ email: 'admin@acme.example', role: 'admin' });
      expect(admin.initialPassword.length).toBeGreaterThanOrEqual(12);
      expect(stdout).toMatch(/^rt_api_\S+$/m);
      expect(stdout).toMatch(/valid \(0 sources\)/);
      const edgeId = /enrolled as edge (\S+) \(tenant acme, site plant-1\)/.exec(stdout)?.[1];
      expect(edgeId).toBeDefined();
      // The edge's status, from the running agent: the enrolled edge, nothing queued.
      const status = JSON.parse(stdout.slice(stdout.lastIndexOf('\n{\n') + 1)) as {
        edgeId: string;
        buffer: { unsent: number };
      };
      expect(status.edgeId).toBe(edgeId);
      expect(status.buffer.unsent).toBe(0);
      // Everything is where the settings file says, in the temp home, not in the checkout.
      expect(existsSync(path.join(home, 'rigtrace/cloud/cloud.sqlite'))).toBe(true);
      expect(existsSync(path.join(home, 'rigtrace/edge/data/edge-key.pem'))).toBe(true);
    } finally {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // Already gone.
      }
    }
  });
});

describe('the commands from a checkout (npx)', () => {
  const npx = (args: string[]) =>
    spawnSync('npx', args, { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });

  it('answer --help and help <command> for every command, on stdout with exit code 0', () => {
    const cloud = npx(['rigtrace-cloud', '--help']);
    expect(cloud.status, cloud.stderr).toBe(0);
    expect(cloud.stdout).toMatch(/^usage: rigtrace-cloud <command>/);
    for (const c of ['serve', 'token', 'verify-evidence']) {
      const r = npx(['rigtrace-cloud', 'help', c]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^usage: rigtrace-cloud ${c}\\b`));
    }
    const sub = npx(['rigtrace-cloud', 'tenant', 'create', '--help']);
    expect(sub.stdout).toMatch(/^usage: rigtrace-cloud tenant create --id ID --name NAME/);
    const edge = npx(['rigtrace-edge', '-h']);
    expect(edge.status, edge.stderr).toBe(0);
    expect(edge.stdout).toMatch(/^usage: rigtrace-edge <command>/);
    const enroll = npx(['rigtrace-edge', 'enroll', '--help']);
    expect(enroll.stdout).toMatch(/^usage: rigtrace-edge enroll --config FILE --cloud URL --token TOKEN/);
    expect(npx(['rigtrace-cloud', 'help', 'launch']).status).toBe(2);
  });

  it('refuse to start a second, empty cloud: an admin command where there is no database names the path', () => {
    // From another folder, as an admin on the cloud host would run it (the installed command).
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-nodb-'));
    const installed = (args: string[]) =>
      spawnSync(path.join(repoRoot, 'node_modules/.bin/rigtrace-cloud'), args, {
        cwd: dir,
        encoding: 'utf8',
        timeout: 60_000,
      });
    const r = installed(['tenant', 'create', '--id', 'acme', '--name', 'Acme']);
    expect(r.status).toBe(2);
    const expected = path.join(dir, 'data/cloud/cloud.sqlite');
    expect(r.stderr).toContain(`no RigTrace database at ${expected}`);
    expect(existsSync(expected)).toBe(false);
    // Told to, it creates one there.
    const made = installed(['tenant', 'create', '--id', 'acme', '--name', 'Acme', '--create-database']);
    expect(made.status, made.stderr).toBe(0);
    expect(existsSync(expected)).toBe(true);
  });
});
