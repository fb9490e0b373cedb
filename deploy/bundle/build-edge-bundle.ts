// `npm run bundle:edge [-- --out DIR]`: the edge agent as one archive for a line PC without
// internet. It holds the edge compiled to JavaScript (runs on plain `node`), the production
// dependencies of the edge and of @rigtrace/protocols only (not the cloud, not the portal) with
// the native modules compiled on this machine, the systemd unit, an install script and a SHA-256
// list of every file; a `.sha256` file beside the archive checks the transfer. Installing it needs
// Node.js and nothing else (see docs/INSTALL-PLANT.md).
//
// The archive is for the platform this runs on (`linux-x64` on an x64 Linux machine): the native
// modules (sqlite3 above all) are the ones built here. A bundle for another platform is made on
// that platform.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const here = import.meta.dirname;

/** The workspace packages the edge is made of, where they go in the bundle's `app/` folder. */
const WORKSPACES: Record<string, { dir: string; to: string }> = {
  '@rigtrace/edge': { dir: 'edge', to: 'edge' },
  '@rigtrace/protocols': { dir: 'protocols', to: 'node_modules/@rigtrace/protocols' },
};

/** ELF machine numbers of the architectures a bundle can be for. */
const ELF_MACHINE: Record<string, number> = { x64: 62, arm64: 183, arm: 40, ia32: 3 };

interface PackageJson {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  [key: string]: unknown;
}

const readJson = <T>(file: string) => JSON.parse(readFileSync(file, 'utf8')) as T;

function run(cmd: string, args: string[], opts: { cwd?: string } = {}): string {
  const r = spawnSync(cmd, args, { cwd: opts.cwd ?? repoRoot, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** Where Node would find `name` for code in `fromDir` (a real directory), or null. */
function resolvePackage(name: string, fromDir: string): string | null {
  for (let dir = fromDir; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (dir === repoRoot || path.dirname(dir) === dir) return null;
  }
}

/**
 * Every package the edge needs at run time, walked from the edge's and the protocols' production
 * dependencies the way Node resolves them in this checkout: the checkout's path of each (relative
 * to the repository) and where it goes in the bundle. Development dependencies, the cloud and the
 * portal are never reached.
 */
function productionPackages(): Map<string, string> {
  const out = new Map<string, string>(); // checkout path (relative) → bundle path (relative to app/)
  const bundlePathOf = (rel: string) => {
    for (const w of Object.values(WORKSPACES)) {
      if (rel === w.dir) return w.to;
      if (rel.startsWith(`${w.dir}/`)) return `${w.to}${rel.slice(w.dir.length)}`;
    }
    return rel;
  };
  const queue: string[] = [WORKSPACES['@rigtrace/edge']!.dir];
  out.set(queue[0]!, bundlePathOf(queue[0]!));
  while (queue.length > 0) {
    const rel = queue.shift()!;
    const dir = realpathSync(path.join(repoRoot, rel));
    const pkg = readJson<PackageJson>(path.join(dir, 'package.json'));
    const wanted = [
      ...Object.keys(pkg.dependencies ?? {}).map((n) => ({ n, optional: false })),
      ...Object.keys(pkg.optionalDependencies ?? {}).map((n) => ({ n, optional: true })),
      ...Object.keys(pkg.peerDependencies ?? {}).map((n) => ({
        n,
        optional: true, // an installed peer comes along; a missing one is the package's own choice
      })),
    ];
    for (const { n, optional } of wanted) {
      const found = resolvePackage(n, dir);
      if (!found) {
        if (optional) continue;
        throw new Error(`${pkg.name} needs ${n}, which is not installed: run npm ci first`);
      }
      const real = realpathSync(found);
      let depRel = path.relative(repoRoot, found);
      const workspace = Object.entries(WORKSPACES).find(([, w]) => real === path.join(repoRoot, w.dir));
      if (workspace) depRel = workspace[1].dir;
      else if (n.startsWith('@rigtrace/'))
        throw new Error(`${pkg.name} depends on ${n}, which does not belong in the edge bundle`);
      if (out.has(depRel)) continue;
      out.set(depRel, bundlePathOf(depRel));
      queue.push(depRel);
    }
  }
  return out;
}

/** Copies a package without its own node_modules (its nested dependencies are copied one by one). */
function copyPackage(from: string, to: string): void {
  const skip = path.join(from, 'node_modules');
  cpSync(from, to, {
    recursive: true,
    dereference: true, // a link would point into this checkout
    filter: (src) => src !== skip && !src.endsWith(`${path.sep}.bin`),
  });
}

/** Everything that only serves building a native module (object files, sources) goes. */
function pruneNative(pkgDir: string, platformArch: string): void {
  const release = path.join(pkgDir, 'build', 'Release');
  if (existsSync(release)) {
    for (const e of readdirSync(release)) {
      if (!e.endsWith('.node')) rmSync(path.join(release, e), { recursive: true, force: true });
    }
    for (const e of readdirSync(path.join(pkgDir, 'build'))) {
      if (e !== 'Release') rmSync(path.join(pkgDir, 'build', e), { recursive: true, force: true });
    }
  }
  // Prebuilt binaries for other platforms are of no use on this one.
  const prebuilds = path.join(pkgDir, 'prebuilds');
  if (existsSync(prebuilds)) {
    for (const e of readdirSync(prebuilds)) {
      if (e !== platformArch && !e.startsWith(`${platformArch}-`) && !e.startsWith(`${platformArch}+`))
        rmSync(path.join(prebuilds, e), { recursive: true, force: true });
    }
  }
}

function* files(dir: string, base = dir): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* files(p, base);
    else yield path.relative(base, p);
  }
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** The ELF machine of a native module, to check it is for the bundle's architecture. */
function elfMachine(file: string): number | null {
  const head = readFileSync(file).subarray(0, 20);
  if (head.readUInt32BE(0) !== 0x7f454c46) return null;
  return head[5] === 1 ? head.readUInt16LE(18) : head.readUInt16BE(18);
}

/** The newest glibc symbol version a native module needs (the line PC needs that glibc or later). */
function glibcNeeded(file: string): string | null {
  let best: number[] | null = null;
  for (const m of readFileSync(file)
    .toString('latin1')
    .matchAll(/GLIBC_(\d+)\.(\d+)/g)) {
    const v = [Number(m[1]), Number(m[2])];
    if (!best || v[0]! > best[0]! || (v[0] === best[0] && v[1]! > best[1]!)) best = v;
  }
  return best ? best.join('.') : null;
}

/** The systemd unit with the install's paths as placeholders the install script fills in. */
function unitTemplate(): string {
  const text = readFileSync(path.join(repoRoot, 'deploy/systemd/rigtrace-edge.service'), 'utf8');
  const body = text.slice(text.indexOf('[Unit]'));
  for (const s of ['/usr/bin/node ', '/opt/rigtrace/edge/dist/cli.js', 'User=rigtrace', 'Group=rigtrace'])
    if (!body.includes(s)) throw new Error(`deploy/systemd/rigtrace-edge.service no longer has "${s}"`);
  return `# RigTrace edge agent, installed from the edge bundle by install.sh (docs/INSTALL-PLANT.md).
# Config: /etc/rigtrace/edge.yaml; enroll once with
#   sudo -u @USER@ rigtrace-edge enroll --config /etc/rigtrace/edge.yaml --cloud URL --token TOKEN
# then: systemctl enable --now rigtrace-edge
${body
  .replaceAll('/usr/bin/node ', '@NODE@ ')
  .replaceAll('/opt/rigtrace/edge/dist/cli.js', '@PREFIX@/edge/dist/cli.js')
  .replaceAll('file:///opt/rigtrace/edge/CONFIG.md', 'file://@PREFIX@/docs/CONFIG.md')
  .replace('User=rigtrace', 'User=@USER@')
  .replace('Group=rigtrace', 'Group=@USER@')}`;
}

export interface EdgeBundle {
  archive: string;
  checksumFile: string;
  sha256: string;
  bytes: number;
  platform: string;
  /** The unpacked tree it was made from (removed unless `keepTree`). */
  tree: string | null;
}

/** Builds the bundle into `outDir`; returns where it is. */
export function buildEdgeBundle(opts: { outDir: string; keepTree?: boolean }): EdgeBundle {
  if (process.platform !== 'linux')
    throw new Error(
      `the edge bundle is made on Linux (this is ${process.platform}); see docs/INSTALL-PLANT.md for Windows`,
    );
  const platformArch = `${process.platform}-${process.arch}`;
  const elf = ELF_MACHINE[process.arch];
  if (elf === undefined) throw new Error(`no bundle for the architecture ${process.arch}`);
  const edgePkg = readJson<PackageJson>(path.join(repoRoot, 'edge/package.json'));
  const name = `rigtrace-edge-${edgePkg.version}-${platformArch}`;
  const work = mkdtempSync(path.join(os.tmpdir(), 'rt-edge-bundle-'));
  const top = path.join(work, name);
  const app = path.join(top, 'app');
  try {
    // 1. The packages' JavaScript, compiled from the sources (into the bundle, never into the
    //    checkout's dist/ folders, which the checkout's commands would then run instead of the sources).
    const tsc = path.join(repoRoot, 'node_modules/typescript/bin/tsc');
    for (const w of Object.values(WORKSPACES)) {
      run(process.execPath, [
        tsc,
        '-p',
        path.join(repoRoot, w.dir, 'tsconfig.build.json'),
        '--outDir',
        path.join(app, w.to, 'dist'),
        '--declaration',
        'false',
        '--sourceMap',
        'false',
        // Emit only: the types are checked by `npm run typecheck`, and the output is the same.
        '--noCheck',
      ]);
    }
    // 2. Their package.json files, as a run needs them: no scripts, no source condition, no bin
    //    (the install script makes the command).
    for (const [pkgName, w] of Object.entries(WORKSPACES)) {
      const pkg = readJson<PackageJson>(path.join(repoRoot, w.dir, 'package.json'));
      if (pkg.name !== pkgName) throw new Error(`${w.dir}/package.json is ${pkg.name}`);
      delete pkg.scripts;
      delete pkg.devDependencies;
      delete pkg.bin;
      const exp = JSON.stringify(pkg.exports ?? null).replace(/"rigtrace-source":"[^"]*",?/g, '');
      if (pkg.exports) pkg.exports = JSON.parse(exp) as unknown;
      writeFileSync(path.join(app, w.to, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
    }
    // 3. The production dependencies, laid out as in the checkout, so each resolves to the same version.
    const packages = productionPackages();
    for (const [rel, to] of packages) {
      if (Object.values(WORKSPACES).some((w) => w.dir === rel)) continue;
      copyPackage(path.join(repoRoot, rel), path.join(app, to));
      pruneNative(path.join(app, to), platformArch);
    }
    // 4. Native modules: every one is for this architecture, and the ones the edge loads load.
    const natives = [...files(app)].filter((f) => f.endsWith('.node'));
    for (const f of natives) {
      const m = elfMachine(path.join(app, f));
      if (m !== null && m !== elf) rmSync(path.join(app, f)); // e.g. a prebuilt for another libc/arch variant
    }
    const nativeModules = [...files(app)].filter((f) => f.endsWith('.node'));
    if (!nativeModules.some((f) => f.includes('sqlite3')))
      throw new Error('node_modules/sqlite3 has no compiled module: run npm ci (with its build) first');
    run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { createRequire } from 'node:module';
         const require = createRequire(${JSON.stringify(path.join(app, 'edge/dist/cli.js'))});
         const sqlite3 = require('sqlite3');
         const db = new sqlite3.Database(':memory:');
         db.get('select sqlite_version() as v', (err) => { if (err) throw err; db.close(); });
         const argon2 = require(require.resolve('argon2', { paths: [${JSON.stringify(path.join(app, 'node_modules/@rigtrace/protocols'))}] }));
         await argon2.hash('x', { type: argon2.argon2id, timeCost: 2, memoryCost: 1024 });`,
      ],
      { cwd: work },
    );
    // 5. The unit, the install script, an example config and the docs.
    mkdirSync(path.join(top, 'share'), { recursive: true });
    writeFileSync(path.join(top, 'share/rigtrace-edge.service.in'), unitTemplate());
    copyFileSync(path.join(here, 'edge.yaml.example'), path.join(top, 'share/edge.yaml.example'));
    copyFileSync(path.join(here, 'install-edge.sh'), path.join(top, 'install.sh'));
    chmodSync(path.join(top, 'install.sh'), 0o755);
    mkdirSync(path.join(top, 'docs'));
    for (const [from, to] of [
      ['docs/INSTALL-PLANT.md', 'INSTALL-PLANT.md'],
      ['edge/CONFIG.md', 'CONFIG.md'],
      ['protocols/RECORDS.md', 'RECORDS.md'],
    ] as const)
      copyFileSync(path.join(repoRoot, from), path.join(top, 'docs', to));
    writeFileSync(
      path.join(top, 'README.txt'),
      `RigTrace edge agent ${edgePkg.version} for ${platformArch}

Needs Node.js 20.19 or later on this PC, nothing else (no compiler, no network).

  sudo ./install.sh             installs into /opt/rigtrace-edge, puts rigtrace-edge on PATH,
                                creates the service user and the systemd unit (not started)
  ./install.sh --help           every option

Then follow docs/INSTALL-PLANT.md from "The configuration file".
`,
    );
    let commit: string | null = null;
    try {
      commit = run('git', ['rev-parse', 'HEAD']).trim();
      if (run('git', ['status', '--porcelain', '--untracked-files=no']).trim() !== '') commit += '+changes';
    } catch {
      // Not a git checkout.
    }
    // sqlite3 and argon2 are compiled here: a line PC needs this machine's glibc or a later one.
    const glibc = nativeModules
      .map((f) => glibcNeeded(path.join(app, f)))
      .filter((v): v is string => v !== null)
      .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
      .at(-1);
    const manifest = {
      name: 'rigtrace-edge',
      version: edgePkg.version,
      platform: platformArch,
      node: { builtWith: process.versions.node, napi: process.versions.napi, required: '>=20.19' },
      glibc: glibc ? `>=${glibc}` : null,
      nativeModules,
      packages: packages.size - Object.keys(WORKSPACES).length,
      commit,
      builtAt: new Date().toISOString(),
    };
    writeFileSync(path.join(top, 'bundle.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    // 6. The SHA-256 of every file (the install script checks them before it copies anything).
    const list = [...files(top)]
      .filter((f) => f !== 'SHA256SUMS')
      .sort()
      .map((f) => {
        if (/[\n\\]/.test(f)) throw new Error(`a file name the checksum list cannot hold: ${f}`);
        return `${sha256(path.join(top, f))}  ${f}`;
      });
    writeFileSync(path.join(top, 'SHA256SUMS'), `${list.join('\n')}\n`);
    // 7. The archive and its checksum.
    mkdirSync(opts.outDir, { recursive: true });
    const archive = path.join(opts.outDir, `${name}.tar.gz`);
    rmSync(archive, { force: true });
    run('tar', ['-czf', archive, '--owner=0', '--group=0', '--numeric-owner', '-C', work, name]);
    const digest = sha256(archive);
    const checksumFile = `${archive}.sha256`;
    writeFileSync(checksumFile, `${digest}  ${path.basename(archive)}\n`);
    return {
      archive,
      checksumFile,
      sha256: digest,
      bytes: statSync(archive).size,
      platform: platformArch,
      tree: opts.keepTree ? top : null,
    };
  } finally {
    if (!opts.keepTree) rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && realpathSync(process.argv[1]) === realpathSync(import.meta.filename)) {
  const { values } = parseArgs({
    options: { out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(`usage: npm run bundle:edge [-- --out DIR]

Builds rigtrace-edge-<version>-<platform>.tar.gz and its .sha256 into DIR (default dist/bundles)
for the platform this runs on. See docs/INSTALL-PLANT.md.
`);
    process.exit(0);
  }
  const outDir = path.resolve(values.out ?? path.join(repoRoot, 'dist/bundles'));
  const started = Date.now();
  const b = buildEdgeBundle({ outDir });
  process.stdout.write(
    `${JSON.stringify({ event: 'bundled', ...b, tree: undefined, seconds: (Date.now() - started) / 1000 })}\n`,
  );
}
