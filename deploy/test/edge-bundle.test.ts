import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
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
import {
  buildEdgeBundles,
  checkNativeModules,
  hostPlatform,
  type EdgeBundle,
} from '../bundle/build-edge-bundle.js';

// Building the bundles compiles two packages and copies ~300 of them twice: a minute or two on a
// busy machine; cross-compiling sqlite3 for arm64 (when node_modules/.cache does not hold it from
// an earlier build) adds about 1.5 minutes of CPU.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 600_000 });

/** The platform the test cross-builds for (CI and this project's build machines are x64). */
const CROSS = 'linux-arm64';
const crossBuilt = hostPlatform === 'linux-x64';
const outDir = mkdtempSync(path.join(os.tmpdir(), 'rt-edge-bundles-'));
// RIGTRACE_TEST_EDGE_BUNDLE=…/rigtrace-edge-….tar.gz checks an archive built before (a release's)
// for this platform; the arm64 one is then built here.
const given = process.env.RIGTRACE_TEST_EDGE_BUNDLE;
let built: EdgeBundle[] | undefined;
/** Both bundles, built once for the file (the JavaScript is compiled once for both). */
const bundles = () =>
  (built ??= buildEdgeBundles({
    outDir,
    platforms: [...(given ? [] : [hostPlatform]), ...(crossBuilt ? [CROSS] : [])],
  }));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

const ELF_AARCH64 = 183;
const elfMachine = (file: string) => {
  const head = readFileSync(file).subarray(0, 20);
  expect(head.subarray(0, 4).toString('latin1'), file).toBe('\x7fELF');
  return head.readUInt16LE(18);
};
const filesUnder = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)));

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
  const procs: Stoppable[] = [];

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
    bundle = given
      ? {
          archive: given,
          checksumFile: `${given}.sha256`,
          sha256: '',
          bytes: 0,
          platform: '',
          crossCompiled: {},
          tree: null,
        }
      : bundles().find((b) => b.platform === hostPlatform)!;
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

    const { cloudUrl, tokens, configFile } = await rigAndCloud(work, procs);
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

    await expectRecordsOf(cloudUrl, tokens.apiToken, edgeId!);
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

/**
 * The linux-arm64 bundle, made on this x64 machine: sqlite3 and argon2 are cross-compiled with
 * Debian's aarch64 compiler, the serial port brings its arm64 prebuilt binary. It runs on arm64
 * under emulation: Debian's arm64 Node.js 20.19 (Debian 13's package) under qemu-user, both from
 * Debian's packages (`.ci/run` sets them up: `deploy/bundle/debian-arm64-node.sh`): its native
 * modules, then the agent itself, which enrolls and reports a rig's records to a cloud. install.sh
 * is not run there (it would start arm64 programs from an x64 shell).
 */
describe.runIf(crossBuilt)(`the ${CROSS} edge bundle, cross-built on x64`, () => {
  const work = mkdtempSync(path.join(os.tmpdir(), 'rt-edge-bundle-arm64-'));
  const arm64Root = process.env.RIGTRACE_ARM64_NODE_ROOT ?? '/opt/debian-arm64-node';
  const node = path.join(arm64Root, 'usr/bin/node');
  /** qemu-aarch64's arguments that run `args` with the arm64 Node.js. */
  const onArm64 = (args: string[]) => ['-L', arm64Root, node, ...args];
  let bundle: EdgeBundle;
  let dir: string;
  const procs: Stoppable[] = [];

  beforeAll(() => {
    bundle = bundles().find((b) => b.platform === CROSS)!;
    const r = spawnSync('tar', ['-xzf', bundle.archive, '-C', work], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    dir = path.join(work, path.basename(bundle.archive, '.tar.gz'));
  });
  afterAll(async () => {
    for (const p of procs.reverse()) await p.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('holds native modules for arm64 only: sqlite3 and argon2 cross-compiled, the prebuilt arm64 serial port', () => {
    expect(path.basename(bundle.archive)).toBe(`rigtrace-edge-0.1.0-${CROSS}.tar.gz`);
    const digest = createHash('sha256').update(readFileSync(bundle.archive)).digest('hex');
    expect(readFileSync(bundle.checksumFile, 'utf8')).toBe(`${digest}  ${path.basename(bundle.archive)}\n`);
    const sums = spawnSync('sha256sum', ['--strict', '-c', 'SHA256SUMS'], { cwd: dir, encoding: 'utf8' });
    expect(sums.status, sums.stdout + sums.stderr).toBe(0);

    const manifest = JSON.parse(readFileSync(path.join(dir, 'bundle.json'), 'utf8'));
    expect(manifest.platform).toBe(CROSS);
    expect(Object.keys(manifest.crossCompiled).sort()).toEqual(['argon2', 'sqlite3']);
    for (const compiler of Object.values(manifest.crossCompiled))
      expect(compiler).toMatch(/^aarch64-linux-gnu-g\+\+ /);
    expect(manifest.glibc).toMatch(/^>=2\.\d+$/);

    const natives = filesUnder(path.join(dir, 'app'))
      .filter((f) => f.endsWith('.node'))
      .sort();
    expect(natives).toEqual(manifest.nativeModules);
    expect(natives).toEqual([
      'node_modules/@serialport/bindings-cpp/prebuilds/linux-arm64/@serialport+bindings-cpp.armv8.glibc.node',
      'node_modules/@serialport/bindings-cpp/prebuilds/linux-arm64/@serialport+bindings-cpp.armv8.musl.node',
      'node_modules/argon2/build/Release/argon2.node',
      'node_modules/sqlite3/build/Release/node_sqlite3.node',
    ]);
    // Every one is an AArch64 object: no x64 build of this machine came along.
    for (const f of natives) expect(elfMachine(path.join(dir, 'app', f)), f).toBe(ELF_AARCH64);
    // The same agent as the x64 bundle: only the native modules differ.
    const x64 = bundles().find((b) => b.platform === hostPlatform);
    if (x64) {
      const list = (archive: string) =>
        spawnSync('tar', ['-tzf', archive], { encoding: 'utf8', maxBuffer: 64 << 20 })
          .stdout.split('\n')
          .map((l) => l.slice(l.indexOf('/') + 1))
          .filter((l) => l.startsWith('app/edge/dist/') && l.endsWith('.js'))
          .sort();
      expect(list(bundle.archive)).toEqual(list(x64.archive));
      expect(list(bundle.archive).length).toBeGreaterThan(10);
    }
  });

  it('runs on arm64 (emulated): the bundled sqlite3 writes and reads a database, argon2 hashes, the serial port binding loads', () => {
    expect(
      existsSync(node),
      `${node}: Debian's arm64 Node.js is missing; run deploy/bundle/debian-arm64-node.sh (as .ci/run does)`,
    ).toBe(true);
    const app = path.join(dir, 'app');
    const dbFile = path.join(work, 'arm64.db');
    const script = `
      const { createRequire } = require('node:module');
      const fs = require('node:fs');
      const path = require('node:path');
      const [app, dbFile] = process.argv.slice(1);
      const req = createRequire(path.join(app, 'edge/dist/cli.js'));
      const fromProtocols = (name) => req(req.resolve(name, { paths: [path.join(app, 'node_modules/@rigtrace/protocols')] }));
      const sqlite3 = req('sqlite3');
      const argon2 = fromProtocols('argon2');
      const serial = require(path.join(path.dirname(req.resolve('@serialport/bindings-cpp', { paths: [path.join(app, 'node_modules/modbus-serial')] })), 'serialport-bindings.js'));
      const db = new sqlite3.Database(dbFile);
      db.serialize(() => {
        db.run('create table t (id integer primary key, what text)');
        db.run('insert into t (what) values (?)', ['written on ' + process.arch]);
        db.get('select id, what, sqlite_version() as version from t', async (err, row) => {
          if (err) throw err;
          db.close();
          const hash = await argon2.hash('pw', { type: argon2.argon2id, timeCost: 2, memoryCost: 1024 });
          const maps = fs.readFileSync('/proc/self/maps', 'utf8');
          console.log(JSON.stringify({
            arch: process.arch,
            node: process.versions.node,
            row,
            hash,
            verified: await argon2.verify(hash, 'pw'),
            wrong: await argon2.verify(hash, 'other'),
            serialOpen: typeof serial.binding.open,
            loaded: [...new Set(maps.split('\\n').map((l) => l.split(/\\s+/)[5]).filter((f) => f && f.endsWith('.node')))],
          }));
        });
      });`;
    const r = spawnSync('qemu-aarch64', onArm64(['-e', script, app, dbFile]), {
      encoding: 'utf8',
      timeout: 150_000,
    });
    expect(r.error, 'qemu-aarch64 (Debian: qemu-user)').toBeUndefined();
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.arch).toBe('arm64');
    expect(out.row).toMatchObject({ id: 1, what: 'written on arm64' });
    expect(out.row.version).toMatch(/^3\.\d+\.\d+$/);
    expect(out.hash).toMatch(/^\$argon2id\$/);
    expect([out.verified, out.wrong]).toEqual([true, false]);
    expect(out.serialOpen).toBe('function');
    expect(out.loaded.sort()).toEqual(
      [
        'node_modules/sqlite3/build/Release/node_sqlite3.node',
        'node_modules/argon2/build/Release/argon2.node',
        'node_modules/@serialport/bindings-cpp/prebuilds/linux-arm64/@serialport+bindings-cpp.armv8.glibc.node',
      ]
        .map((f) => path.join(app, f))
        .sort(),
    );

    // The file is a real SQLite database: this machine's sqlite3 reads the arm64 row back.
    const read = spawnSync(
      process.execPath,
      [
        '-e',
        `const sqlite3 = require(process.argv[1]);
         new sqlite3.Database(process.argv[2], sqlite3.OPEN_READONLY).all('select what from t', (err, rows) => {
           if (err) throw err; console.log(JSON.stringify(rows));
         });`,
        path.join(repoRoot, 'node_modules/sqlite3'),
        dbFile,
      ],
      { encoding: 'utf8' },
    );
    expect(read.status, read.stderr).toBe(0);
    expect(JSON.parse(read.stdout)).toEqual([{ what: 'written on arm64' }]);
  });

  it("runs the agent on arm64 (emulated Node.js 20.19): it enrolls, and the rig's records reach the cloud", async () => {
    const version = spawnSync('qemu-aarch64', onArm64(['-p', '`${process.versions.node} ${process.arch}`']), {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(version.status, version.stderr).toBe(0);
    const [major, minor] = version.stdout.split('.').map(Number);
    // The agent's own floor (install.sh refuses older): the arm64 Node.js is one it supports.
    expect(major! > 20 || (major === 20 && minor! >= 19), version.stdout).toBe(true);
    expect(version.stdout.trim()).toMatch(/ arm64$/);

    const { cloudUrl, tokens, configFile } = await rigAndCloud(work, procs);
    const cli = path.join(dir, 'app/edge/dist/cli.js');
    const env = { PATH: process.env.PATH, HOME: work };
    const enrolled = spawnSync(
      'qemu-aarch64',
      onArm64([
        cli,
        'enroll',
        '--config',
        configFile,
        '--cloud',
        cloudUrl,
        '--token',
        tokens.enrollmentToken,
      ]),
      { env, encoding: 'utf8', timeout: 240_000 },
    );
    expect(enrolled.status, enrolled.stderr).toBe(0);
    const edgeId = /^enrolled as edge (\S+) /m.exec(enrolled.stdout)?.[1];
    expect(edgeId).toBeDefined();

    const agent = await startInstalled(
      'qemu-aarch64',
      onArm64([cli, 'run', '--config', configFile]),
      env,
      300_000,
    );
    procs.push(agent);
    // The agent runs on the arm64 Node.js with the bundle's arm64 sqlite3.
    const maps = readFileSync(`/proc/${agent.child.pid}/maps`, 'utf8');
    expect(maps).toContain(path.join(arm64Root, 'usr/lib/aarch64-linux-gnu/libnode.so'));
    expect(maps).toContain(path.join(dir, 'app/node_modules/sqlite3/build/Release/node_sqlite3.node'));
    await expectRecordsOf(cloudUrl, tokens.apiToken, edgeId!, 180_000);
    expect(await agent.stop()).toBe(0);
  }, 900_000);

  it('is refused by install.sh on this x64 PC before anything is copied', () => {
    const prefix = path.join(work, 'opt/rigtrace-edge');
    const r = spawnSync(
      'sh',
      [
        './install.sh',
        '--prefix',
        prefix,
        '--bin-dir',
        path.join(work, 'bin'),
        '--no-unit',
        '--no-service-user',
      ],
      { cwd: dir, encoding: 'utf8' },
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`this bundle is for ${CROSS}, this PC is ${hostPlatform}`);
    expect(existsSync(prefix)).toBe(false);
  });
});

describe('the bundle builder', () => {
  it('refuses native modules for another CPU', () => {
    const app = mkdtempSync(path.join(os.tmpdir(), 'rt-edge-bundle-elf-'));
    try {
      const to = path.join(app, 'node_modules/sqlite3/build/Release');
      mkdirSync(to, { recursive: true });
      copyFileSync(
        path.join(repoRoot, 'node_modules/sqlite3/build/Release/node_sqlite3.node'),
        path.join(to, 'node_sqlite3.node'),
      );
      expect(checkNativeModules(app, hostPlatform)).toEqual([
        'node_modules/sqlite3/build/Release/node_sqlite3.node',
      ]);
      const other = hostPlatform === 'linux-x64' ? 'linux-arm64' : 'linux-x64';
      expect(() => checkNativeModules(app, other)).toThrow(
        `native modules that are not for ${other} (ELF machine ${other === 'linux-x64' ? 62 : 183}): node_modules/sqlite3/build/Release/node_sqlite3.node (ELF machine ${other === 'linux-x64' ? '183, arm64' : '62, x64'})`,
      );
      writeFileSync(path.join(to, 'stray.node'), 'MZ not an ELF object');
      expect(() => checkNativeModules(app, hostPlatform)).toThrow('stray.node (not an ELF object)');
      expect(() => checkNativeModules(app, 'win32-x64')).toThrow('no bundle for the platform win32-x64');
    } finally {
      rmSync(app, { recursive: true, force: true });
    }
  });
});

/** Started processes, stopped in reverse order after the file's tests. */
type Stoppable = Proc | { stop(): Promise<unknown> };

/**
 * The plant around the line PC: a flow rig, a cloud with the demo's tenant, site and tokens, and
 * the line PC's config for that rig (the demo's first rig, its data in `work`).
 */
async function rigAndCloud(work: string, procs: Stoppable[]) {
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
  return { cloudUrl, tokens, configFile };
}

/** The rig's inspection and telemetry records reach the cloud from the edge, in log order. */
async function expectRecordsOf(cloudUrl: string, apiToken: string, edgeId: string, timeoutMs = 60_000) {
  const api = async (p: string): Promise<any> => {
    const res = await fetch(`${cloudUrl}/api/v1${p}`, { headers: { authorization: `Bearer ${apiToken}` } });
    expect(res.status, p).toBe(200);
    return res.json();
  };
  const records = await waitFor(
    async () => {
      const page = await api(`/records?edge=${edgeId}&limit=1000`);
      const kinds = new Set(page.items.map((i: any) => i.record.kind));
      return kinds.has('inspection') && kinds.has('telemetry') ? page.items : undefined;
    },
    timeoutMs,
    "the rig's inspection and telemetry records in the cloud",
  );
  expect(records.map((r: any) => r.seq)).toEqual(records.map((_: unknown, i: number) => i + 1));
  expect(records.find((r: any) => r.record.kind === 'inspection').record.equipment).toBe('RIG-01');
}

/** Starts an installed command (not a node script) and waits until the agent says it runs. */
async function startInstalled(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 60_000,
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
      reject(new Error(`${cmd} not running after ${timeoutMs / 1000} s:\n${lines.slice(-20).join('\n')}`));
    }, timeoutMs);
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
