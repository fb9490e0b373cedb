// `npm run bundle:edge [-- --platform P] [-- --out DIR]`: the edge agent as one archive per
// platform for a line PC without internet. It holds the edge compiled to JavaScript (runs on plain `node`), the production
// dependencies of the edge and of @rigtrace/protocols only (not the cloud, not the portal) with
// the native modules compiled on this machine, the systemd unit, an install script and a SHA-256
// list of every file; a `.sha256` file beside the archive checks the transfer. Installing it needs
// Node.js and nothing else (see docs/INSTALL-PLANT.md).
//
// Platforms: linux-x64 and linux-arm64 (PLATFORMS). For the platform this runs on, the native
// modules are the ones `npm ci` built here. For the other one, the modules `npm ci` compiled from
// source here (sqlite3, argon2) are compiled again with node-gyp and the GNU cross compiler
// (Debian: `g++-aarch64-linux-gnu`) in the bundle's own copy, never in the checkout's
// node_modules; a module npm did not compile brings its prebuilt binary for the platform (the
// serial port). Every .node file of a bundle is checked to be an ELF object for the bundle's CPU.
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
  renameSync,
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

/** The platforms a bundle is made for, with the GNU triple of the compiler that builds for each. */
export const PLATFORMS: Record<string, { arch: string; triple: string; debianCompiler: string }> = {
  'linux-x64': { arch: 'x64', triple: 'x86_64-linux-gnu', debianCompiler: 'g++-x86-64-linux-gnu' },
  'linux-arm64': { arch: 'arm64', triple: 'aarch64-linux-gnu', debianCompiler: 'g++-aarch64-linux-gnu' },
};

/** Where cross-compiled native modules are kept between builds (untracked, beside npm's own caches). */
const crossCache = path.join(repoRoot, 'node_modules/.cache/rigtrace-edge-bundle');

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

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd ?? repoRoot,
    env: opts.env ?? process.env,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
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

/**
 * Refuses native modules that are not for the platform's CPU: every `.node` file under `appDir`
 * must be an ELF object of the platform's architecture (a bundle with an x64 sqlite3 in an arm64
 * bundle would install and then fail on the line PC). Returns the files, relative to `appDir`.
 */
export function checkNativeModules(appDir: string, platform: string): string[] {
  const want = ELF_MACHINE[PLATFORMS[platform]?.arch ?? ''];
  if (want === undefined) throw new Error(`no bundle for the platform ${platform}`);
  const natives = [...files(appDir)].filter((f) => f.endsWith('.node')).sort();
  const wrong = natives.flatMap((f) => {
    const m = elfMachine(path.join(appDir, f));
    if (m === want) return [];
    const arch = Object.entries(ELF_MACHINE).find(([, n]) => n === m)?.[0];
    return [`${f} (${m === null ? 'not an ELF object' : `ELF machine ${m}${arch ? `, ${arch}` : ''}`})`];
  });
  if (wrong.length > 0)
    throw new Error(`native modules that are not for ${platform} (ELF machine ${want}): ${wrong.join(', ')}`);
  return natives;
}

/** The directory node-gyp takes Node.js's headers from (no download: the build may be offline). */
function nodeHeadersDir(): string {
  const fromNpm = process.env.npm_config_nodedir;
  if (fromNpm && existsSync(path.join(fromNpm, 'include/node/common.gypi'))) return fromNpm;
  const beside = path.resolve(path.dirname(process.execPath), '..');
  if (existsSync(path.join(beside, 'include/node/common.gypi'))) return beside;
  throw new Error(
    `cross-compiling needs Node.js's headers (include/node/common.gypi), found neither in ${beside} nor in npm_config_nodedir`,
  );
}

/**
 * Compiles the native module of the package copied at `pkgDir` for `platform` with node-gyp and
 * the GNU cross compiler; returns the compiler's version line. The result is kept in `crossCache`
 * under a key of everything it is made from (the package's version and build file, the compiler,
 * Node's headers), so a second bundle of the same release does not compile again.
 */
function crossCompile(pkgDir: string, platform: string, opts: { rebuild: boolean }): string {
  const { arch, triple, debianCompiler } = PLATFORMS[platform]!;
  const cxx = `${triple}-g++`;
  const probe = spawnSync(cxx, ['--version'], { encoding: 'utf8' });
  const pkg = readJson<PackageJson>(path.join(pkgDir, 'package.json'));
  if (probe.error || probe.status !== 0)
    throw new Error(
      `${pkg.name} is compiled from source and has no binary for ${platform}: cross-compiling it needs ${cxx} (Debian: apt-get install ${debianCompiler}), or make this bundle on a ${platform} machine`,
    );
  const compiler = probe.stdout.split('\n')[0]!.trim();
  const headers = nodeHeadersDir();
  const nodeVersion = [
    ...readFileSync(path.join(headers, 'include/node/node_version.h'), 'utf8').matchAll(
      /#define NODE_(?:MAJOR|MINOR|PATCH)_VERSION (\d+)/g,
    ),
  ]
    .map((m) => m[1])
    .join('.');
  const key = createHash('sha256')
    .update(JSON.stringify([pkg.name, pkg.version, platform, compiler, nodeVersion]))
    .update(readFileSync(path.join(pkgDir, 'binding.gyp')))
    .digest('hex')
    .slice(0, 16);
  const cached = path.join(crossCache, `${pkg.name.replace('/', '+')}-${pkg.version}-${platform}-${key}`);
  const release = path.join(pkgDir, 'build/Release');
  rmSync(path.join(pkgDir, 'build'), { recursive: true, force: true });
  if (opts.rebuild || !existsSync(cached)) {
    const gyp = [
      path.join(repoRoot, 'node_modules/node-gyp/bin/node-gyp.js'),
      path.resolve(
        path.dirname(process.execPath),
        '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
      ),
    ].find((f) => existsSync(f));
    if (!gyp) throw new Error('node-gyp is not installed: run npm ci first');
    run(
      process.execPath,
      [gyp, 'rebuild', `--arch=${arch}`, `--nodedir=${headers}`, `--jobs=${os.availableParallelism()}`],
      {
        cwd: pkgDir,
        env: {
          ...process.env,
          // The module's build file runs `node` (node-addon-api's include path): this one.
          PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}`,
          CC: `${triple}-gcc`,
          CXX: cxx,
          LINK: cxx,
          AR: `${triple}-ar`,
        },
      },
    );
    const built = readdirSync(release).filter((f) => f.endsWith('.node'));
    if (built.length === 0) throw new Error(`node-gyp built no .node file for ${pkg.name}`);
    const staging = `${cached}.${process.pid}`;
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { recursive: true });
    for (const f of built) copyFileSync(path.join(release, f), path.join(staging, f));
    rmSync(cached, { recursive: true, force: true });
    renameSync(staging, cached);
    rmSync(path.join(pkgDir, 'build'), { recursive: true, force: true });
  }
  mkdirSync(release, { recursive: true });
  for (const f of readdirSync(cached)) copyFileSync(path.join(cached, f), path.join(release, f));
  return compiler;
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
  .replace('Group=rigtrace', 'Group=@GROUP@')}`;
}

export interface EdgeBundle {
  archive: string;
  checksumFile: string;
  sha256: string;
  bytes: number;
  platform: string;
  /** The native modules compiled for this bundle by the cross compiler, with its version line. */
  crossCompiled: Record<string, string>;
  /** The unpacked tree it was made from (removed unless `keepTree`). */
  tree: string | null;
}

export interface EdgeBundleOptions {
  outDir: string;
  /** Default: the platform this runs on. */
  platforms?: string[];
  keepTree?: boolean;
  /** Cross-compile native modules again even when the cache holds them. */
  rebuild?: boolean;
}

/** The platform this machine is (the one whose native modules `npm ci` built here). */
export const hostPlatform = `${process.platform}-${process.arch}`;

/** Builds one bundle per platform into `outDir` (the JavaScript is compiled once for all). */
export function buildEdgeBundles(opts: EdgeBundleOptions): EdgeBundle[] {
  if (process.platform !== 'linux')
    throw new Error(
      `the edge bundle is made on Linux (this is ${process.platform}); see docs/INSTALL-PLANT.md for Windows`,
    );
  const platforms = opts.platforms ?? [hostPlatform];
  for (const p of platforms)
    if (!PLATFORMS[p])
      throw new Error(
        `no edge bundle for ${p}: the platforms are ${Object.keys(PLATFORMS).join(', ')} (docs/INSTALL-PLANT.md says why not Windows)`,
      );
  const work = mkdtempSync(path.join(os.tmpdir(), 'rt-edge-bundle-'));
  try {
    // 1. The packages' JavaScript, compiled from the sources (into the work folder, never into the
    //    checkout's dist/ folders, which the checkout's commands would then run instead of the sources).
    //    The tree every platform's bundle starts from is made once; each bundle is a hard-linked
    //    copy of it whose native modules are then chosen (files are only removed or added there,
    //    never changed in place).
    const common = path.join(work, '.common/app');
    const tsc = path.join(repoRoot, 'node_modules/typescript/bin/tsc');
    for (const w of Object.values(WORKSPACES)) {
      run(process.execPath, [
        tsc,
        '-p',
        path.join(repoRoot, w.dir, 'tsconfig.build.json'),
        '--outDir',
        path.join(common, w.to, 'dist'),
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
      writeFileSync(path.join(common, w.to, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
    }
    // 3. The production dependencies, laid out as in the checkout, so each resolves to the same version.
    const packages = productionPackages();
    for (const [rel, to] of packages) {
      if (Object.values(WORKSPACES).some((w) => w.dir === rel)) continue;
      copyPackage(path.join(repoRoot, rel), path.join(common, to));
    }
    return [...new Set(platforms)].map((p) => bundleFor(p, { ...opts, work, common, packages }));
  } finally {
    if (!opts.keepTree) rmSync(work, { recursive: true, force: true });
  }
}

/** Builds the bundle for one platform (default: this one) into `outDir`; returns where it is. */
export function buildEdgeBundle(
  opts: Omit<EdgeBundleOptions, 'platforms'> & { platform?: string },
): EdgeBundle {
  return buildEdgeBundles({ ...opts, platforms: [opts.platform ?? hostPlatform] })[0]!;
}

function bundleFor(
  platform: string,
  opts: EdgeBundleOptions & { work: string; common: string; packages: Map<string, string> },
): EdgeBundle {
  const { work, packages } = opts;
  const { arch } = PLATFORMS[platform]!;
  const cross = arch !== process.arch;
  const edgePkg = readJson<PackageJson>(path.join(repoRoot, 'edge/package.json'));
  const name = `rigtrace-edge-${edgePkg.version}-${platform}`;
  const top = path.join(work, name);
  const app = path.join(top, 'app');
  mkdirSync(top);
  run('cp', ['-al', opts.common, app]);
  for (const [rel, to] of packages)
    if (!Object.values(WORKSPACES).some((w) => w.dir === rel)) pruneNative(path.join(app, to), platform);
  // 4. Native modules. A package with a build file needs a binary for the platform. On this
  //    platform: the one `npm ci` built here, or a prebuilt one it ships. For another platform:
  //    what `npm ci` compiled here (sqlite3, argon2) is compiled again for it with the cross
  //    compiler (argon2's own arm64 prebuilt binary crashes as it loads under emulation, so it is
  //    not the one relied on), and a package that npm did not compile brings its prebuilt binary
  //    for the platform (the serial port) or is compiled too when it has none. Then every .node
  //    file must be for the platform's CPU, and on this platform the ones the edge loads must load.
  const crossCompiled: Record<string, string> = {};
  for (const [rel, to] of packages) {
    const dir = path.join(app, to);
    if (!existsSync(path.join(dir, 'binding.gyp'))) continue;
    const pkgName = readJson<PackageJson>(path.join(dir, 'package.json')).name;
    const release = path.join(repoRoot, rel, 'build/Release');
    const compiledHere = existsSync(release) && readdirSync(release).some((f) => f.endsWith('.node'));
    if (!cross) {
      if (![...files(dir)].some((f) => f.endsWith('.node')))
        throw new Error(`${rel} has no compiled module: run npm ci (with its build) first`);
      continue;
    }
    // What `npm ci` compiled here is for this machine's CPU.
    rmSync(path.join(dir, 'build'), { recursive: true, force: true });
    const prebuilt = [...files(dir)].some(
      (f) => f.endsWith('.node') && elfMachine(path.join(dir, f)) === ELF_MACHINE[arch],
    );
    if (prebuilt && !compiledHere) continue;
    crossCompiled[pkgName] = crossCompile(dir, platform, { rebuild: opts.rebuild ?? false });
    // The compiled module is the one loaded (build/ comes first); a prebuilt one would only mislead.
    rmSync(path.join(dir, 'prebuilds'), { recursive: true, force: true });
    pruneNative(dir, platform);
  }
  const nativeModules = checkNativeModules(app, platform);
  if (!nativeModules.some((f) => f.includes('sqlite3')))
    throw new Error('node_modules/sqlite3 has no compiled module: run npm ci (with its build) first');
  if (!cross)
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
    `RigTrace edge agent ${edgePkg.version} for ${platform}

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
  // The native modules' newest glibc symbol: a line PC needs that glibc or a later one.
  const glibc = nativeModules
    .map((f) => glibcNeeded(path.join(app, f)))
    .filter((v): v is string => v !== null)
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    .at(-1);
  const manifest = {
    name: 'rigtrace-edge',
    version: edgePkg.version,
    platform: platform,
    node: { builtWith: process.versions.node, napi: process.versions.napi, required: '>=20.19' },
    glibc: glibc ? `>=${glibc}` : null,
    nativeModules,
    // Modules compiled for this bundle with a cross compiler (they were not loaded at build time).
    crossCompiled,
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
  run('tar', [
    '-czf',
    archive,
    '--hard-dereference',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '-C',
    work,
    name,
  ]);
  const digest = sha256(archive);
  const checksumFile = `${archive}.sha256`;
  writeFileSync(checksumFile, `${digest}  ${path.basename(archive)}\n`);
  return {
    archive,
    checksumFile,
    sha256: digest,
    bytes: statSync(archive).size,
    platform: platform,
    crossCompiled,
    tree: opts.keepTree ? top : null,
  };
}

if (process.argv[1] && realpathSync(process.argv[1]) === realpathSync(import.meta.filename)) {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      platform: { type: 'string', multiple: true },
      rebuild: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`usage: npm run bundle:edge [-- [--platform P]... [--out DIR] [--rebuild]]

Builds rigtrace-edge-<version>-<platform>.tar.gz and its .sha256 for each platform into DIR
(default dist/bundles).

  --platform P   ${Object.keys(PLATFORMS).join(' or ')}; repeat for several (default: all of them).
                 This machine is ${hostPlatform}: its bundle has the native modules npm ci built
                 here. For the other one, sqlite3 and argon2 are cross-compiled with node-gyp and
                 the GNU cross compiler (Debian: ${Object.entries(PLATFORMS)
                   .filter(([p]) => p !== hostPlatform)
                   .map(([, d]) => `apt-get install ${d.debianCompiler}`)
                   .join(', ')});
                 the serial port brings its prebuilt binary.
                 There is no Windows bundle: see docs/INSTALL-PLANT.md.
  --out DIR      where the archives go
  --rebuild      cross-compile again instead of taking the modules from
                 node_modules/.cache/rigtrace-edge-bundle

See docs/INSTALL-PLANT.md.
`);
    process.exit(0);
  }
  const outDir = path.resolve(values.out ?? path.join(repoRoot, 'dist/bundles'));
  const started = Date.now();
  const bundles = buildEdgeBundles({
    outDir,
    platforms: values.platform ?? Object.keys(PLATFORMS),
    rebuild: values.rebuild ?? false,
  });
  for (const b of bundles)
    process.stdout.write(
      `${JSON.stringify({ event: 'bundled', ...b, tree: undefined, seconds: (Date.now() - started) / 1000 })}\n`,
    );
}
