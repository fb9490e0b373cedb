import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { repoRoot, runCli, startProcess, waitFor, type Proc } from '@rigtrace/protocols/testing';
import { buildEdgeBundle, type EdgeBundle } from '../bundle/build-edge-bundle.js';

// Building the bundle compiles two packages and copies ~300 of them: a minute or two on a busy machine.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 420_000 });

/**
 * `npm run bundle:edge` as a line PC without internet gets it: the archive is unpacked into an
 * empty folder and installed with its script where PATH holds Node.js and the basic shell tools
 * only (no npm, no compiler, no python, and npm told to stay offline); the installed command
 * checks a config, enrolls with a cloud started here and runs, and the rig's records arrive in
 * the cloud. The bundle is built once for the file, into the OS temp folder.
 */
describe('the edge bundle (npm run bundle:edge)', () => {
  const work = mkdtempSync(path.join(os.tmpdir(), 'rt-edge-bundle-test-'));
  let bundle: EdgeBundle;
  /** PATH for the line PC: node and what a minimal Debian has in /bin, nothing that builds. */
  const lineBin = path.join(work, 'line-pc-bin');
  const lineEnv = () => ({ PATH: lineBin, HOME: path.join(work, 'home'), npm_config_offline: 'true' });
  const procs: (Proc | { stop(): Promise<unknown> })[] = [];

  const unpack = (into: string) => {
    mkdirSync(into, { recursive: true });
    const r = spawnSync('tar', ['-xzf', bundle.archive, '-C', into], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    return path.join(into, path.basename(bundle.archive, '.tar.gz'));
  };
  const install = (dir: string, prefix: string, extra: string[] = []) =>
    spawnSync(
      path.join(lineBin, 'sh'),
      [
        './install.sh',
        '--prefix',
        prefix,
        '--bin-dir',
        path.join(work, 'usr-local-bin'),
        '--unit-dir',
        path.join(work, 'systemd'),
        '--no-service-user',
        ...extra,
      ],
      { cwd: dir, env: lineEnv(), encoding: 'utf8', timeout: 120_000 },
    );
  const edgeCmd = () => path.join(work, 'usr-local-bin/rigtrace-edge');
  const edge = (args: string[]) =>
    spawnSync(edgeCmd(), args, { env: lineEnv(), encoding: 'utf8', timeout: 60_000 });

  beforeAll(() => {
    mkdirSync(lineBin);
    mkdirSync(path.join(work, 'home'));
    symlinkSync(process.execPath, path.join(lineBin, 'node'));
    for (const tool of [
      'sh',
      'dirname',
      'cp',
      'mv',
      'rm',
      'mkdir',
      'ln',
      'chmod',
      'sed',
      'sha256sum',
      'id',
      'cat',
    ]) {
      const where = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
      expect(where, tool).toMatch(/^\//);
      symlinkSync(where, path.join(lineBin, tool));
    }
    // RIGTRACE_TEST_EDGE_BUNDLE=…/rigtrace-edge-….tar.gz checks an archive built before (a release's).
    const given = process.env.RIGTRACE_TEST_EDGE_BUNDLE;
    bundle = given
      ? { archive: given, checksumFile: `${given}.sha256`, sha256: '', bytes: 0, platform: '', tree: null }
      : buildEdgeBundle({ outDir: path.join(work, 'out') });
  });

  afterAll(async () => {
    for (const p of procs.reverse()) await p.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('is one archive for this platform with a SHA-256 file, holding the edge and its production dependencies only', () => {
    expect(path.basename(bundle.archive)).toBe(
      `rigtrace-edge-0.1.0-${process.platform}-${process.arch}.tar.gz`,
    );
    const digest = createHash('sha256').update(readFileSync(bundle.archive)).digest('hex');
    expect(readFileSync(bundle.checksumFile, 'utf8')).toBe(`${digest}  ${path.basename(bundle.archive)}\n`);
    // The archive's own check, as on the line PC.
    const check = spawnSync('sha256sum', ['-c', path.basename(bundle.checksumFile)], {
      cwd: path.dirname(bundle.archive),
      encoding: 'utf8',
    });
    expect(check.stdout, check.stderr).toContain(': OK');

    const list = spawnSync('tar', ['-tzf', bundle.archive], { encoding: 'utf8', maxBuffer: 64 << 20 })
      .stdout.split('\n')
      .filter(Boolean)
      .map((l) => l.slice(l.indexOf('/') + 1));
    for (const f of [
      'install.sh',
      'SHA256SUMS',
      'bundle.json',
      'share/rigtrace-edge.service.in',
      'share/edge.yaml.example',
      'docs/INSTALL-PLANT.md',
      'app/edge/dist/cli.js',
      'app/node_modules/@rigtrace/protocols/dist/index.js',
      'app/node_modules/sqlite3/build/Release/node_sqlite3.node',
      'app/node_modules/node-opcua/package.json',
    ])
      expect(list, f).toContain(f);
    const packages = new Set(
      list.flatMap((f) => [...f.matchAll(/node_modules\/((?:@[^/]+\/)?[^/]+)/g)].map((m) => m[1]!)),
    );
    // Not the cloud, not the portal, no build or test tools.
    for (const p of [
      '@rigtrace/cloud',
      '@rigtrace/portal',
      '@rigtrace/firmware-sim',
      'express',
      'svelte',
      'vite',
      'typescript',
      'tsx',
      'esbuild',
      'vitest',
      'playwright-core',
      'pg',
    ])
      expect(packages.has(p), p).toBe(false);
    // Compiled JavaScript, no TypeScript sources of ours.
    expect(list.filter((f) => /^app\/(edge|node_modules\/@rigtrace\/protocols)\/.*\.ts$/.test(f))).toEqual(
      [],
    );
  });

  it('installs from an empty folder with Node.js alone, and the installed agent enrolls and reports to a cloud', async () => {
    // Nothing on the line PC's PATH can build or fetch anything.
    for (const t of ['npm', 'npx', 'gcc', 'cc', 'g++', 'make', 'python3', 'node-gyp', 'tsc', 'tsx', 'git'])
      expect(
        spawnSync(path.join(lineBin, 'sh'), ['-c', `command -v ${t}`], { env: lineEnv() }).status,
        t,
      ).not.toBe(0);
    const dir = unpack(path.join(work, 'unpacked'));
    const prefix = path.join(work, 'opt/rigtrace-edge');
    const r = install(dir, prefix);
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain(`rigtrace-edge 0.1.0 installed in ${prefix}`);
    expect(r.stdout).toContain('not started');

    // The command on PATH runs the installed copy with this Node.js.
    expect(lstatSync(edgeCmd()).isSymbolicLink()).toBe(true);
    expect(readlinkSync(edgeCmd())).toBe(path.join(prefix, 'bin/rigtrace-edge'));
    const help = edge(['--help']);
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^usage: rigtrace-edge <command>/);

    // The unit, written with the install's paths, not started, and valid for systemd.
    const unitFile = path.join(work, 'systemd/rigtrace-edge.service');
    const unit = readFileSync(unitFile, 'utf8');
    expect(unit).toContain(
      `ExecStart=${process.execPath} --max-semi-space-size=4 --max-old-space-size=64 ${prefix}/edge/dist/cli.js run --config /etc/rigtrace/edge.yaml`,
    );
    expect(unit).toContain(`ExecStartPre=${process.execPath} ${prefix}/edge/dist/cli.js check-config`);
    expect(unit).toContain('User=rigtrace');
    expect(unit).not.toMatch(/@[A-Z]+@/);
    const verify = spawnSync('systemd-analyze', ['verify', unitFile], { encoding: 'utf8' });
    if (!verify.error) {
      const complaints = `${verify.stdout}${verify.stderr}`
        .split('\n')
        .filter((l) => l.trim() !== '' && !/user|group|\/etc\/rigtrace/i.test(l));
      expect(complaints).toEqual([]);
    }

    // A rig, a cloud with a tenant, a site and a one-time token.
    const rig = await startProcess(
      'firmware-sim/src/cli.ts',
      ['flow-rig', '--port', '0', '--asset', 'RIG-01', '--test-seconds', '1', '--idle-seconds', '0.2'],
      (l) => l.includes('"event":"listening"'),
    );
    procs.push(rig);
    const cloudDir = path.join(work, 'cloud');
    const cloud = await startProcess(
      'cloud/src/cli.ts',
      ['serve', '--port', '0', '--data-dir', cloudDir],
      (l) => l.includes('"event":"listening"'),
      60_000,
    );
    procs.push(cloud);
    const cloudUrl = `http://127.0.0.1:${(JSON.parse(cloud.readyLine) as { port: number }).port}`;
    const seed = runCli('cloud/src/cli.ts', ['seed-demo', '--data-dir', cloudDir]);
    expect(seed.status, seed.stderr).toBe(0);
    const tokens = JSON.parse(seed.stdout) as { apiToken: string; enrollmentToken: string };

    // The line PC's config: the demo's first rig.
    const edgeData = path.join(work, 'edge-data');
    const configFile = path.join(work, 'edge.yaml');
    writeFileSync(
      configFile,
      readFileSync(path.join(repoRoot, 'deploy/demo/edge.yaml.template'), 'utf8')
        .replaceAll('${EDGE_DATA_DIR}', edgeData)
        .replaceAll('${CLOUD_URL}', cloudUrl)
        .replaceAll('${EDGE_STATUS_PORT}', '0')
        .replaceAll('${RIG1_PORT}', String((JSON.parse(rig.readyLine) as { port: number }).port))
        .replace(/\n {2}- id: flow-rig-02[\s\S]*$/, '\n'),
    );
    const checked = edge(['check-config', configFile]);
    expect(checked.status, checked.stderr).toBe(0);
    expect(checked.stdout).toBe(`${configFile}: valid (1 source)\n`);
    const example = edge(['check-config', path.join(prefix, 'share/edge.yaml.example')]);
    expect(example.status, example.stderr).toBe(0);

    const enrolled = edge([
      'enroll',
      '--config',
      configFile,
      '--cloud',
      cloudUrl,
      '--token',
      tokens.enrollmentToken,
    ]);
    expect(enrolled.status, enrolled.stderr).toBe(0);
    const edgeId = /^enrolled as edge (\S+) \(tenant \S+, site \S+\)$/m.exec(enrolled.stdout)?.[1];
    expect(edgeId).toBeDefined();

    const agent = await startInstalled(edgeCmd(), ['run', '--config', configFile], lineEnv());
    procs.push(agent);
    // The process is the installed copy, with the installed native module.
    const maps = readFileSync(`/proc/${agent.child.pid}/maps`, 'utf8');
    expect(maps).toContain(path.join(prefix, 'node_modules/sqlite3/build/Release/node_sqlite3.node'));
    expect(maps).not.toContain(path.join(repoRoot, 'node_modules'));

    const api = async (p: string): Promise<any> => {
      const res = await fetch(`${cloudUrl}/api/v1${p}`, {
        headers: { authorization: `Bearer ${tokens.apiToken}` },
      });
      expect(res.status, p).toBe(200);
      return res.json();
    };
    const records = await waitFor(
      async () => {
        const page = await api(`/records?edge=${edgeId}&limit=1000`);
        const kinds = new Set(page.items.map((i: any) => i.record.kind));
        return kinds.has('inspection') && kinds.has('telemetry') ? page.items : undefined;
      },
      60_000,
      "the rig's inspection and telemetry records in the cloud",
    );
    expect(records.map((r: any) => r.seq)).toEqual(records.map((_: unknown, i: number) => i + 1));
    expect(records.find((r: any) => r.record.kind === 'inspection').record.equipment).toBe('RIG-01');
    expect(await agent.stop()).toBe(0);
  });

  it('has every install option documented in INSTALL-PLANT.md', () => {
    const dir = unpack(path.join(work, 'help'));
    const help = spawnSync(path.join(lineBin, 'sh'), ['./install.sh', '--help'], {
      cwd: dir,
      env: lineEnv(),
      encoding: 'utf8',
    });
    expect(help.status, help.stderr).toBe(0);
    const options = [...new Set(help.stdout.match(/--[a-z-]+/g))];
    expect(options.length).toBeGreaterThan(6);
    const guide = readFileSync(path.join(repoRoot, 'docs/INSTALL-PLANT.md'), 'utf8');
    for (const o of options) expect(guide, o).toContain(`\`${o}`);
    // The bundle carries the guide it is installed by.
    expect(readFileSync(path.join(dir, 'docs/INSTALL-PLANT.md'), 'utf8')).toBe(guide);
  });

  it('refuses a damaged bundle before it installs anything, and keeps the earlier install on upgrade', () => {
    const dir = unpack(path.join(work, 'damaged'));
    appendFileSync(path.join(dir, 'app/edge/dist/agent.js'), '\n// changed\n');
    const prefix = path.join(work, 'opt/damaged');
    const r = install(dir, prefix, ['--no-unit']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('the bundle is damaged');
    expect(existsSync(prefix)).toBe(false);

    // Installing again over an install: the new one in place, the earlier one kept beside it.
    const again = unpack(path.join(work, 'again'));
    const target = path.join(work, 'opt/upgrade');
    expect(install(again, target, ['--no-unit']).status).toBe(0);
    writeFileSync(path.join(target, 'marker'), 'first');
    const second = install(again, target, ['--no-unit']);
    expect(second.status, second.stderr).toBe(0);
    expect(readFileSync(path.join(`${target}.previous`, 'marker'), 'utf8')).toBe('first');
    expect(existsSync(path.join(target, 'marker'))).toBe(false);
    expect(existsSync(path.join(target, 'edge/dist/cli.js'))).toBe(true);
  });
});

/** Starts an installed command (not a node script) and waits until the agent says it runs. */
async function startInstalled(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ child: ChildProcess; lines: string[]; stop(): Promise<number | null> }> {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const stop = () =>
    new Promise<number | null>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
      child.once('exit', (code) => resolve(code));
      child.kill('SIGTERM');
    });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} not running after 60 s:\n${lines.slice(-20).join('\n')}`));
    }, 60_000);
    const onLine = (l: string) => {
      lines.push(l);
      if (l.includes('"event":"running"')) {
        clearTimeout(timer);
        resolve();
      }
    };
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', onLine);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} exited (${code}):\n${lines.slice(-20).join('\n')}`));
    });
  });
  return { child, lines, stop };
}
