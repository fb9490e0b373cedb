import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { io as connectSocket, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { generateKeyPair, toBase64 } from '@rigtrace/protocols';
import { buildBatch, deterministicUuidV7, freePort, repoRoot, waitFor } from '@rigtrace/protocols/testing';
import { MIGRATIONS } from '../../cloud/src/platform/db/migrations.js';
import {
  git,
  guideCommands,
  marker,
  npmSettings,
  outputOf,
  readUnit,
  securityOf,
  runScript,
  snapshotRepository,
  startUnitLines,
  stopScript,
  verifyUnit,
  type ScriptRun,
} from './helpers/guide.js';

// `npm ci` (sqlite3 and argon2 compiled from source) and `npm run build` twice, the service
// started twice: several minutes, and a loaded machine gets room.
vi.setConfig({ testTimeout: 300_000, hookTimeout: 1_500_000 });

/**
 * docs/INSTALL-CLOUD.md followed as written on this machine. The commands of its ```sh blocks (and
 * the two inline ones it tells the reader to run: the `ln -s` link and `token enroll`) run in one
 * bash script, with only these mechanical changes:
 *
 * - The paths /etc/rigtrace, /etc/systemd/system, /var/lib/rigtrace-cloud, /var/backups,
 *   /opt/rigtrace, /usr/local/bin, /etc/nginx and /etc/ssl/rigtrace are folders under one temp
 *   folder T (/usr/local/bin on PATH).
 * - The repository (https://git.example.com/rigtrace.git) is T/git/rigtrace.git, made by the test:
 *   this checkout's files as they are (tracked and new, not ignored) committed on `main`, and a next
 *   release on a branch of its own, tagged v0.2.0 (`<release tag>`). The guide's `git clone`,
 *   `npm ci` and `npm run build` then run as written, as root, in T/opt/rigtrace: npm with HOME=T
 *   but this machine's npm cache and `nodedir` (npmSettings), so packages come from the cache or
 *   the registry and sqlite3 and argon2 compile from source as on a new machine. Nothing in the
 *   checkout is written.
 * - The PostgreSQL roles and database (rigtrace, rigtrace_app) get names unique to the run and
 *   are dropped afterwards; `sudo -u postgres psql` is `psql -h 127.0.0.1 -U postgres` (this
 *   machine's PostgreSQL, trust auth) stopping at the first error.
 * - The service user is made by the guide's `useradd`, run for real (as root) with a name unique to
 *   the run instead of `rigtrace` (its group too), and removed afterwards (`userdel`): `sudo -u
 *   rigtrace CMD` is CMD as that user with no other groups and sudo's clean environment
 *   (`env -i PATH="$PATH"`; no sudo here). So a missing chown or mode in the guide fails here.
 * - `systemctl enable --now rigtrace-cloud` does what systemd would with the unit the guide
 *   installed (startUnitLines): its StateDirectory made, its ExecStart line run as the service
 *   user in / with its UMask= and only the environment systemd gives a service, in the background;
 *   `systemctl restart` stops it and does the same. `systemd-analyze verify` and `security` check
 *   the unit file itself (systemd is not running here).
 * - Caddy (the Debian package, which .ci/run installs): the guide's Caddyfile is written as given
 *   (into T/etc/caddy); `systemctl reload caddy` checks and starts, in the background, that
 *   Caddyfile with only the test's own lines added: a global options block (its ports 443 and 80
 *   as free ports, no admin endpoint, its storage under T) and, in the site, `tls` with a local
 *   self-signed certificate for rigtrace.example.com instead of one from Let's Encrypt.
 * - nginx (the Debian package, which .ci/run installs): the certificate "you already have" is a
 *   self-signed one for rigtrace.example.com made with openssl into /etc/ssl/rigtrace; the main
 *   configuration /etc/nginx/nginx.conf is a minimal one standing for Debian's (it includes
 *   sites-enabled/*, logs and temp folders under T); `nginx -t && systemctl reload nginx` tests
 *   it the same way and then starts nginx in the background. Its ports 443 and 80 are free ports
 *   (on all addresses, as the guide's `listen`), reached from this machine's non-loopback address
 *   so that the client is not on loopback, as a browser or line PC would not be.
 * - The upgrade (section 8) runs as written: `git fetch && git checkout v0.2.0` takes the next
 *   release (one migration more: the next version number; it makes a table from the tenants'
 *   rows), `npm ci && npm run build` installs and builds it again. The restart that follows must
 *   apply the migration, over the data the pre-upgrade dump holds.
 * - Port 8080 is a free port.
 * - Skipped, as listed in SKIPPED below: package installs, systemd and journal bookkeeping. A command in the guide that is
 *   in none of the lists fails the test until it is classified here.
 */

const GUIDE = path.join(repoRoot, 'docs/INSTALL-CLOUD.md');
/** The service user (and its group) the guide's useradd makes, named for this run. */
const SERVICE = `rtguide${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
/** `sudo -u rigtrace` (no sudo here): as the service user, no other groups. */
const AS_SERVICE = `setpriv --reuid=${SERVICE} --regid=${SERVICE} --clear-groups`;
/** This machine's first non-loopback IPv4 address: the proxy's clients come from it. */
const OUTSIDE = Object.values(os.networkInterfaces())
  .flat()
  .find((a) => a?.family === 'IPv4' && !a.internal)?.address;
const UNIT = path.join(repoRoot, 'deploy/systemd/rigtrace-cloud.service');

/** Commands of the guide not run here, exactly as written (without a trailing comment). */
const SKIPPED = new Map<string, string>([
  [
    'apt-get install -y --no-install-recommends git ca-certificates python3 make g++',
    'the CI image has them',
  ],
  ['apt-get install -y postgresql', "the machine's PostgreSQL"],
  ['systemctl daemon-reload', 'no systemd'],
  ['journalctl -u rigtrace-cloud -n 20', 'the test reads the service log'],
  ['apt-get install -y caddy', '.ci/run installs it'],
  ['apt-get install -y nginx', '.ci/run installs it'],
]);
/** Commands run as written, with the rewrites (by how they start). */
const RUN = [
  /^git clone https:\/\/git\.example\.com\/rigtrace\.git \/opt\/rigtrace$/,
  /^cd \/opt\/rigtrace && npm ci && npm run build$/,
  /^cd \/opt\/rigtrace && git fetch && git checkout <release tag>$/,
  /^npm ci && npm run build$/,
  /^useradd --system --user-group --home-dir \/var\/lib\/rigtrace-cloud --shell \/usr\/sbin\/nologin rigtrace$/,
  /^sudo -u postgres psql <<'SQL'$/,
  /^install -d -m 0755 \/etc\/rigtrace$/,
  /^install -m 0640 -o root -g rigtrace \/dev\/null \/etc\/rigtrace\/cloud\.env$/,
  /^cat > \/etc\/rigtrace\/cloud\.env <<'EOF'$/,
  /^cp \/opt\/rigtrace\/deploy\/systemd\/rigtrace-cloud\.service \/etc\/systemd\/system\/$/,
  /^curl -s http:\/\/127\.0\.0\.1:8080\/readyz$/,
  /^sudo -u rigtrace rigtrace-cloud (tenant|site|user|token|records) /,
  /^ln -s \/opt\/rigtrace\/node_modules\/\.bin\/rigtrace-cloud \/usr\/local\/bin\/$/,
  /^cat > \/etc\/caddy\/Caddyfile <<'EOF'$/,
  /^cat > \/etc\/nginx\/sites-available\/rigtrace <<'EOF'$/,
  /^ln -s \/etc\/nginx\/sites-available\/rigtrace \/etc\/nginx\/sites-enabled\/$/,
  /^pg_dump -Fc -d "postgres:\/\/rigtrace:owner-password-here@127\.0\.0\.1:5432\/rigtrace" -f \/var\/backups\/rigtrace-.+\.dump$/,
];

const psql = (sql: string) =>
  spawnSync('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-v', 'ON_ERROR_STOP=1', '-qAt', '-c', sql], {
    encoding: 'utf8',
  });

/** The next release's version: this checkout's last migration's, plus one. */
const NEXT_MIGRATION = Math.max(...MIGRATIONS.map((m) => m.version)) + 1;
/** Its file in the next release (cloud/src/platform/db/migrations/, without the extension). */
const NEXT_MIGRATION_FILE = `${String(NEXT_MIGRATION).padStart(4, '0')}-guide-upgrade`;
/** The next release's tag in the repository the guide clones. */
const RELEASE_TAG = 'v0.2.0';

/**
 * The repository the guide clones, at `dir`: this checkout's files on `main`, and on a branch of
 * its own a next release, tagged RELEASE_TAG: the same with one migration more (NEXT_MIGRATION, a
 * table made from the tenants' rows).
 */
function makeRepository(dir: string): void {
  snapshotRepository(dir);
  git(dir, ['checkout', '-q', '-b', 'release']);
  // A migration is a file of its own and a line in the list (cloud/src/README.md).
  const folder = path.join(dir, 'cloud/src/platform/db/migrations');
  const name = `m${String(NEXT_MIGRATION).padStart(4, '0')}`;
  const sql = 'CREATE TABLE guide_upgrade AS SELECT id AS tenant_id FROM tenants;';
  writeFileSync(
    path.join(folder, `${NEXT_MIGRATION_FILE}.ts`),
    [
      "import type { Migration } from './migration.js';",
      '',
      'export const migration: Migration = {',
      `  version: ${NEXT_MIGRATION},`,
      "  name: 'guide upgrade',",
      `  sqlite: '${sql}',`,
      `  postgres: '${sql}',`,
      '};',
      '',
    ].join('\n'),
  );
  const index = path.join(folder, 'index.ts');
  const text = readFileSync(index, 'utf8');
  const start = 'export const MIGRATIONS: readonly Migration[] = [\n';
  expect(text).toContain(start);
  const [head, list] = [text.slice(0, text.indexOf(start)), text.slice(text.indexOf(start))];
  writeFileSync(
    index,
    `import { migration as ${name} } from './${NEXT_MIGRATION_FILE}.js';\n${head}` +
      list.replace('\n];\n', `\n  ${name},\n];\n`),
  );
  git(dir, ['add', '-A']);
  git(dir, ['commit', '-q', '-a', '-m', `RigTrace ${RELEASE_TAG}`]);
  git(dir, ['tag', RELEASE_TAG]);
  git(dir, ['checkout', '-q', 'main']);
}

describe('docs/INSTALL-CLOUD.md followed as written (the service user, PostgreSQL, the systemd unit, Caddy and nginx in front, the admin commands, backups, the upgrade)', () => {
  const T = mkdtempSync(path.join(os.tmpdir(), 'rt-install-cloud-'));
  const run = `rt_guide_${process.pid}_${Date.now().toString(36)}`;
  const owner = run;
  const app = `${run}_app`;
  const db = run;
  const restored = `${run}_restored`;
  const beforeUpgrade = `${run}_before_upgrade`;
  const opt = path.join(T, 'opt/rigtrace');
  const serviceLog = path.join(T, 'service.log');
  let port = 0;
  /** nginx's stand-ins for 443 and 80. */
  let tlsPort = 0;
  let httpPort = 0;
  /** Caddy's. */
  let caddyTlsPort = 0;
  let caddyHttpPort = 0;
  let guide!: ScriptRun;

  const rewrite = (s: string) =>
    s
      .replace(
        /(?<![\w./-])(\/etc\/rigtrace|\/etc\/systemd\/system|\/var\/lib\/rigtrace-cloud|\/var\/backups|\/opt\/rigtrace|\/usr\/local\/bin|\/etc\/nginx|\/etc\/caddy|\/etc\/ssl\/rigtrace)(?![\w-])/g,
        `${T}$1`,
      )
      .replaceAll('sudo -u postgres psql', 'psql -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1')
      .replaceAll('sudo -u rigtrace ', `${AS_SERVICE} env -i PATH="$PATH" `)
      .replaceAll('-g rigtrace ', `-g ${SERVICE} `)
      .replace(/^(useradd .*) rigtrace$/, `$1 ${SERVICE}`)
      .replace(/\blisten 443 ssl\b/g, `listen ${tlsPort} ssl`)
      .replace(/\blisten 80;/g, `listen ${httpPort};`)
      .replace(/\brigtrace_app\b/g, app)
      .replace(/\b(ROLE|DATABASE|OWNER) rigtrace\b/g, `$1 ${owner}`)
      .replaceAll('postgres://rigtrace:', `postgres://${owner}:`)
      .replace(/:5432\/rigtrace\b/g, `:5432/${db}`)
      .replaceAll('https://git.example.com/rigtrace.git', `${T}/git/rigtrace.git`)
      .replaceAll('<release tag>', RELEASE_TAG)
      .replaceAll('8080', String(port));

  /** What `systemctl enable --now` does with the unit the guide installed: its lines, its environment only. */
  function startService(): string[] {
    const unit = readUnit(UNIT);
    expect([unit.user, unit.group]).toEqual(['rigtrace', 'rigtrace']);
    return [
      ...startUnitLines(unit, {
        user: SERVICE,
        group: SERVICE,
        stateRoot: path.join(T, 'var/lib'),
        rewrite,
        log: serviceLog,
        pidFile: `${T}/service.pid`,
      }),
      `for _ in $(seq 1 900); do curl -sf http://127.0.0.1:${port}/readyz > /dev/null && break; kill -0 $(cat ${T}/service.pid) || { echo "the service exited"; cat ${serviceLog}; exit 1; }; sleep 0.2; done`,
    ];
  }
  const stopService = () => [
    `kill $(cat ${T}/service.pid)`,
    `while kill -0 $(cat ${T}/service.pid) 2> /dev/null; do sleep 0.2; done`,
  ];

  /**
   * nginx as Debian installs it: /etc/nginx with sites-available, sites-enabled and a main
   * configuration that includes sites-enabled/* (here a minimal one, its logs and temp folders under T).
   */
  function layOutNginx(): void {
    for (const d of [
      'etc/nginx/sites-available',
      'etc/nginx/sites-enabled',
      'var/log/nginx',
      'var/lib/nginx',
      'run',
    ])
      mkdirSync(path.join(T, d), { recursive: true });
    const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(
      (t) => `    ${t}_temp_path ${T}/var/lib/nginx/${t};`,
    );
    writeFileSync(
      path.join(T, 'etc/nginx/nginx.conf'),
      [
        'user nobody nogroup;',
        'worker_processes 1;',
        `pid ${T}/run/nginx.pid;`,
        `error_log ${T}/var/log/nginx/error.log;`,
        'events { worker_connections 256; }',
        'http {',
        `    access_log ${T}/var/log/nginx/access.log;`,
        ...temp,
        `    include ${T}/etc/nginx/sites-enabled/*;`,
        '}',
        '',
      ].join('\n'),
    );
  }
  const nginx = `nginx -c ${T}/etc/nginx/nginx.conf`;
  /** `nginx -t && systemctl reload nginx`: the same test, then nginx started, until it answers. */
  const startNginx = () => [
    `${nginx} -t`,
    `(exec ${nginx} -g 'daemon off;') >> ${T}/nginx.log 2>&1 &`,
    `for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/${tlsPort}) 2> /dev/null && break; sleep 0.1; done`,
  ];
  /** A self-signed certificate for the public name, its key as `key` and itself as `cert`. */
  const selfSigned = (key: string, cert: string) =>
    `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=rigtrace.example.com -addext subjectAltName=DNS:rigtrace.example.com -keyout ${key} -out ${cert} 2> /dev/null`;
  /** "The certificate you already have". */
  const makeCertificate = () => [
    selfSigned(`${T}/etc/ssl/rigtrace/privkey.pem`, `${T}/etc/ssl/rigtrace/fullchain.pem`),
  ];
  /** Caddy's certificate in this test (the guide's Caddy gets its own from Let's Encrypt). */
  const caddyCert = path.join(T, 'caddy-test/cert.pem');
  /**
   * `systemctl reload caddy`: the guide's Caddyfile with the test's lines added (global options:
   * the ports, no admin endpoint, storage under T; `tls` with a local certificate in the site),
   * checked by `caddy validate`, then run in the background until it answers.
   */
  const startCaddy = () => {
    const dir = `${T}/caddy-test`;
    const env = `HOME=${dir} XDG_DATA_HOME=${dir}/data XDG_CONFIG_HOME=${dir}/config`;
    const global = [
      '{',
      `\thttp_port ${caddyHttpPort}`,
      `\thttps_port ${caddyTlsPort}`,
      '\tadmin off',
      `\tstorage file_system ${dir}/storage`,
      '}',
    ].join('\\n');
    return [
      `mkdir -p -m 0700 ${dir}`,
      selfSigned(`${dir}/key.pem`, caddyCert),
      `{ printf '${global}\\n'; sed 's|^rigtrace\\.example\\.com {$|&\\n\\ttls ${caddyCert} ${dir}/key.pem|' ${T}/etc/caddy/Caddyfile; } > ${dir}/Caddyfile`,
      `grep -q '^\ttls ${caddyCert} ' ${dir}/Caddyfile`,
      `env ${env} caddy validate --config ${dir}/Caddyfile --adapter caddyfile > ${T}/caddy.log 2>&1 || { cat ${T}/caddy.log; exit 1; }`,
      `(exec env ${env} caddy run --config ${dir}/Caddyfile --adapter caddyfile) >> ${T}/caddy.log 2>&1 &`,
      `for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/${caddyTlsPort}) 2> /dev/null && break; sleep 0.1; done`,
    ];
  };

  beforeAll(async () => {
    chmodSync(T, 0o755);
    expect(OUTSIDE, 'a non-loopback IPv4 address on this machine').toBeDefined();
    port = await freePort();
    tlsPort = await freePort();
    httpPort = await freePort();
    caddyTlsPort = await freePort();
    caddyHttpPort = await freePort();
    for (const d of ['etc/systemd/system', 'etc/caddy', 'var/lib', 'var/backups', 'usr/local/bin'])
      mkdirSync(path.join(T, d), { recursive: true });
    makeRepository(path.join(T, 'git/rigtrace.git'));
    layOutNginx();
    const script = [`export PATH=${T}/usr/local/bin:$PATH`, `cd ${T}`];
    const unclassified: string[] = [];
    const commands = guideCommands(GUIDE, [
      // The inline commands: the link in section 1, the enrollment token in section 6.
      /`(ln -s \/opt\/rigtrace\/node_modules\/\.bin\/rigtrace-cloud [^`]*)`/,
      /`((?:sudo -u rigtrace )?rigtrace-cloud token enroll [^`]*)`/,
    ]);
    for (const c of commands) {
      script.push(marker(c));
      if (c.first === 'systemctl enable --now rigtrace-cloud') script.push(...startService());
      else if (c.first === 'systemctl restart rigtrace-cloud')
        script.push(...stopService(), ...startService());
      else if (c.first === 'install -d -m 0700 /etc/ssl/rigtrace')
        script.push(rewrite(c.text), ...makeCertificate());
      else if (c.first === 'nginx -t && systemctl reload nginx') script.push(...startNginx());
      else if (c.first === 'systemctl reload caddy') script.push(...startCaddy());
      else if (SKIPPED.has(c.first)) continue;
      else if (RUN.some((re) => re.test(c.first))) script.push(rewrite(c.text));
      else unclassified.push(c.first);
    }
    expect(unclassified, 'commands in the guide this test does not know: classify them').toEqual([]);
    const started = Date.now();
    guide = await runScript(T, script, {
      ...process.env,
      HOME: T,
      ...npmSettings(),
      npm_config_update_notifier: 'false',
    });
    console.log(`the guide's commands ran in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  });

  afterAll(() => {
    stopScript(guide);
    for (const d of [db, restored, beforeUpgrade]) psql(`DROP DATABASE IF EXISTS "${d}" WITH (FORCE)`);
    for (const r of [owner, app]) psql(`DROP ROLE IF EXISTS "${r}"`);
    spawnSync('userdel', [SERVICE]);
    spawnSync('groupdel', [SERVICE]);
    rmSync(T, { recursive: true, force: true });
  });

  const out = (prefix: string) => outputOf(guide, prefix);

  it('runs to the end; the service answers /readyz and logged that it listens', async () => {
    expect(
      guide.code,
      `${guide.stdout}\n${guide.stderr}\n${existsSync(serviceLog) ? readFileSync(serviceLog, 'utf8') : ''}`,
    ).toBe(0);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(200);
    expect(out('curl -s http://127.0.0.1:8080/readyz').trim()).not.toBe('');
    // The journal line the guide shows.
    expect(readFileSync(serviceLog, 'utf8')).toContain('"msg":"cloud listening"');
    // The keys in the state folder, as section 3 says.
    for (const f of ['witness-key.pem', 'secrets-key'])
      expect(existsSync(path.join(T, 'var/lib/rigtrace-cloud', f)), f).toBe(true);
    // On the service's PostgreSQL database, owned by the owner role.
    expect(
      psql(`SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '${db}'`).stdout.trim(),
    ).toBe(owner);
  });

  it('installs a unit that systemd-analyze accepts, whose command, user, folders and settings file the guide made; the service runs as that user in /, the code read-only to it', () => {
    const installed = path.join(T, 'etc/systemd/system/rigtrace-cloud.service');
    expect(readFileSync(installed, 'utf8')).toBe(readFileSync(UNIT, 'utf8'));
    // Every directive known to this systemd (a misspelt one is only a warning there), ExecStart's
    // program executable.
    expect(verifyUnit(installed)).toEqual({ status: 0, output: '' });
    // "hardened": systemd's own rating of the sandbox, at most 2.0 of 10 ("OK").
    const security = securityOf(installed);
    expect(security.status, security.stdout + security.stderr).toBe(0);
    expect(security.stdout).toMatch(/Overall exposure level for rigtrace-cloud\.service: [01]\.\d OK/);
    // What the unit names exists after the guide's steps: the files on ExecStart, the user, the
    // writable folder.
    const unit = readUnit(installed);
    const paths = unit.execStart.split(/\s+/).filter((a) => a.startsWith('/'));
    expect(paths).toEqual(['/usr/bin/node', '/opt/rigtrace/cloud/dist/cli.js', '/etc/rigtrace/cloud.env']);
    for (const p of paths) expect(existsSync(rewrite(p)), p).toBe(true);
    for (const p of unit.readWritePaths) expect(statSync(rewrite(p)).isDirectory(), p).toBe(true);
    expect(unit.workingDirectory).toBeUndefined();
    expect(unit.environmentFiles).toEqual([]);
    expect(spawnSync('getent', ['passwd', SERVICE]).status).toBe(0);
    // The running service: the unit's user, in / (no WorkingDirectory=), as systemd starts it.
    const pid = readFileSync(path.join(T, 'service.pid'), 'utf8').trim();
    expect(readlinkSync(`/proc/${pid}/cwd`)).toBe('/');
    const uid = Number(spawnSync('id', ['-u', SERVICE], { encoding: 'utf8' }).stdout);
    expect(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]).toBe(String(uid));
    // Built as root: nothing under /opt/rigtrace is writable by the service user.
    const writable = spawnSync(
      'setpriv',
      [
        `--reuid=${SERVICE}`,
        `--regid=${SERVICE}`,
        '--clear-groups',
        'find',
        opt,
        '-writable',
        '-print',
        '-quit',
      ],
      { encoding: 'utf8' },
    );
    expect(writable.status, writable.stderr).toBe(0);
    expect(writable.stdout).toBe('');
  });

  it('upgrades as section 8 says: the new release built, its migration applied by the restart, every row from before kept', () => {
    // `npm run build` compiled the unpacked release: the service runs its code.
    expect(
      readFileSync(path.join(opt, `cloud/dist/platform/db/migrations/${NEXT_MIGRATION_FILE}.js`), 'utf8'),
    ).toContain(`version: ${NEXT_MIGRATION}`);
    // Restarted (the log says it listened twice) and migrated on start, over the tenants' rows.
    expect(readFileSync(serviceLog, 'utf8').match(/"msg":"cloud listening"/g)).toHaveLength(2);
    const sql = (database: string, query: string) => {
      const r = spawnSync(
        'psql',
        ['-qAt', '-d', `postgres://${owner}:owner-password-here@127.0.0.1:5432/${database}`, '-c', query],
        { encoding: 'utf8' },
      );
      expect(r.status, r.stderr).toBe(0);
      return r.stdout.trim().split('\n').filter(Boolean);
    };
    expect(sql(db, `SELECT name FROM schema_migrations WHERE version = ${NEXT_MIGRATION}`)).toEqual([
      'guide upgrade',
    ]);
    const tenants = sql(db, 'SELECT id FROM tenants ORDER BY 1');
    expect(tenants).toContain('acme');
    expect(sql(db, 'SELECT tenant_id FROM guide_upgrade ORDER BY 1')).toEqual(tenants);
    // The dump taken before the upgrade (restored aside): without the migration, and each of its
    // rows is still in the upgraded database.
    expect(psql(`CREATE DATABASE "${beforeUpgrade}" OWNER "${owner}"`).status).toBe(0);
    const r = spawnSync(
      'pg_restore',
      [
        '--exit-on-error',
        '-d',
        `postgres://${owner}:owner-password-here@127.0.0.1:5432/${beforeUpgrade}`,
        path.join(T, 'var/backups/rigtrace-before-upgrade.dump'),
      ],
      { encoding: 'utf8' },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(
      sql(beforeUpgrade, `SELECT count(*) FROM schema_migrations WHERE version = ${NEXT_MIGRATION}`),
    ).toEqual(['0']);
    for (const table of ['tenants', 'sites', 'users', 'enrollment_tokens', 'audit_log']) {
      const rows = (database: string) => sql(database, `SELECT t::text FROM ${table} t ORDER BY 1`);
      const before = rows(beforeUpgrade);
      expect(before.length, table).toBeGreaterThan(0);
      expect(rows(db), table).toEqual(expect.arrayContaining(before));
    }
  });

  it('makes the first tenant, site and admin on the same database; the admin signs in with the printed password and must change it', async () => {
    expect(out('sudo -u rigtrace rigtrace-cloud tenant create')).toContain('tenant acme created');
    expect(out('sudo -u rigtrace rigtrace-cloud site create')).toContain(
      'site plant-1 created in tenant acme',
    );
    const admin = JSON.parse(out('sudo -u rigtrace rigtrace-cloud user create').trim()) as {
      email: string;
      role: string;
      initialPassword: string;
    };
    expect(admin).toMatchObject({ email: 'admin@acme.example', role: 'admin' });
    const inDb = spawnSync(
      'psql',
      [
        '-qAt',
        '-d',
        `postgres://${owner}:owner-password-here@127.0.0.1:5432/${db}`,
        '-c',
        "SELECT count(*) FROM tenants WHERE id = 'acme'",
      ],
      {
        encoding: 'utf8',
      },
    );
    expect(inDb.stdout.trim(), inDb.stderr).toBe('1');

    const base = `http://127.0.0.1:${port}/api/v1`;
    const login = await fetch(`${base}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenant: 'acme', email: admin.email, password: admin.initialPassword }),
    });
    expect(login.status, await login.clone().text()).toBe(200);
    const session = (await login.json()) as { state: string; csrfToken: string };
    expect(session.state).toBe('change_password');
    const cookie = login.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const changed = await fetch(`${base}/auth/password`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie, 'x-csrf-token': session.csrfToken },
      body: JSON.stringify({
        currentPassword: admin.initialPassword,
        newPassword: 'Kiln-Ferrous-Quartet-8817',
      }),
    });
    expect(changed.status, await changed.clone().text()).toBe(200);
    // Signed in: TOTP is not asked for until the tenant's policy requires it (section 6).
    const after = (await changed.json()) as { state: string; csrfToken: string };
    expect(after.state).toBe('active');
    const newCookie = changed.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const me = await fetch(`${base}/auth/session`, { headers: { cookie: newCookie } });
    expect(me.status).toBe(200);
    expect(
      ((await me.json()) as { user: { email: string; mustChangePassword: boolean } }).user,
    ).toMatchObject({
      email: admin.email,
      mustChangePassword: false,
    });
  });

  it('prints an edge enrollment token and the command for the line PC', () => {
    const printed = JSON.parse(out('sudo -u rigtrace rigtrace-cloud token enroll').trim()) as {
      token: string;
      command: string;
    };
    expect(printed.token).toMatch(/^rt_enr_/);
    expect(printed.command).toContain(`--cloud https://rigtrace.example.com --token ${printed.token}`);
  });

  it('backs up with pg_dump into a dump that pg_restore restores into another database', () => {
    const dumps = readdirSync(path.join(T, 'var/backups')).sort();
    // Section 7's daily one (named by `date +%F`) and section 8's before the upgrade.
    expect(dumps).toHaveLength(2);
    expect(dumps[0]).toMatch(/^rigtrace-\d{4}-\d{2}-\d{2}\.dump$/);
    expect(dumps[1]).toBe('rigtrace-before-upgrade.dump');
    const dumpFile = path.join(T, 'var/backups', dumps[0]!);
    expect(psql(`CREATE DATABASE "${restored}" OWNER "${owner}"`).status).toBe(0);
    const url = `postgres://${owner}:owner-password-here@127.0.0.1:5432/${restored}`;
    const r = spawnSync('pg_restore', ['--exit-on-error', '-d', url, dumpFile], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    // Section 7's restore over a database that holds the cloud: dropped and made again, empty,
    // for its owner, then restored into. `pg_restore --clean` over it stops half-way (PostgreSQL
    // refuses to drop a partition's inherited key), which is why the guide does not use it.
    const clean = spawnSync('pg_restore', ['--clean', '--exit-on-error', '-d', url, dumpFile], {
      encoding: 'utf8',
    });
    expect(clean.status).not.toBe(0);
    expect(clean.stderr).toContain('cannot drop inherited constraint');
    expect(psql(`DROP DATABASE "${restored}" WITH (FORCE)`).status).toBe(0);
    expect(psql(`CREATE DATABASE "${restored}" OWNER "${owner}"`).status).toBe(0);
    const again = spawnSync('pg_restore', ['--exit-on-error', '-d', url, dumpFile], { encoding: 'utf8' });
    expect(again.status, again.stderr).toBe(0);
    const users = spawnSync(
      'psql',
      ['-qAt', '-d', url, '-c', "SELECT email FROM users WHERE tenant_id = 'acme'"],
      { encoding: 'utf8' },
    );
    expect(users.stdout.trim(), users.stderr).toBe('admin@acme.example');
  });

  it('lists the months of records and what the retention cutoff would drop, dropping nothing without --drop', () => {
    const lines = out('sudo -u rigtrace rigtrace-cloud records retention')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const thisMonth = new Date().toISOString().slice(0, 7);
    // The partitions made at start (one per month on PostgreSQL): this month's is listed and kept.
    expect(lines).toContainEqual(expect.objectContaining({ month: thisMonth, drop: false }));
    expect(lines.at(-1)).toEqual({ dryRun: true, before: '2025-12', wouldDrop: [], records: 0, refused: [] });
  });

  it('an admin command pointed at no cloud stops with "no RigTrace database at …" and exit code 2', () => {
    const cmd = path.join(T, 'usr/local/bin/rigtrace-cloud');
    const env = { PATH: process.env.PATH! };
    // A missing --config: the default folder under the current one.
    const noConfig = spawnSync(cmd, ['tenant', 'create', '--id', 'acme2', '--name', 'Acme 2'], {
      cwd: T,
      env,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(noConfig.status, noConfig.stderr).toBe(2);
    expect(noConfig.stderr).toContain(`no RigTrace database at ${path.join(T, 'data/cloud/cloud.sqlite')}`);
    // A settings file naming a database with no cloud in it, or one misspelt.
    const settings = readFileSync(path.join(T, 'etc/rigtrace/cloud.env'), 'utf8');
    for (const [name, other] of [
      ['postgres', '5432/postgres'],
      ['misspelt', `5432/${db}x`],
    ] as const) {
      const file = path.join(T, `etc/rigtrace/${name}.env`);
      writeFileSync(file, settings.replaceAll(`5432/${db}\n`, `${other}\n`));
      const r = spawnSync(cmd, ['tenant', 'create', '--config', file, '--id', 'acme2', '--name', 'Acme 2'], {
        cwd: T,
        env,
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(r.status, `${name}: ${r.stderr}`).toBe(2);
      expect(r.stderr, name).toContain(`no RigTrace database at postgres://127.0.0.1:${other}:`);
    }
    // A misspelt settings file: named, and nothing is created.
    const typo = spawnSync(
      cmd,
      [
        'tenant',
        'create',
        '--config',
        path.join(T, 'etc/rigtrace/cloud.evn'),
        '--id',
        'acme2',
        '--name',
        'Acme 2',
      ],
      {
        cwd: T,
        env,
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    expect(typo.status, typo.stderr).toBe(2);
    expect(typo.stderr).toContain(`${path.join(T, 'etc/rigtrace/cloud.evn')}: cannot read (no such file)`);
  });

  it('makes the service user with useradd: a system account with its own group and no shell, owning the state folder', () => {
    const passwd = spawnSync('getent', ['passwd', SERVICE], { encoding: 'utf8' }).stdout.trim().split(':');
    expect(passwd[0]).toBe(SERVICE);
    expect(Number(passwd[2])).toBeLessThan(1000);
    expect(passwd.slice(5)).toEqual([path.join(T, 'var/lib/rigtrace-cloud'), '/usr/sbin/nologin']);
    const group = spawnSync('getent', ['group', SERVICE], { encoding: 'utf8' }).stdout.trim().split(':');
    expect(group[0]).toBe(SERVICE);
    expect(group[2]).toBe(passwd[3]);
    const owner = (p: string) => {
      const st = statSync(path.join(T, p));
      return { mode: (st.mode & 0o777).toString(8), uid: st.uid, gid: st.gid };
    };
    expect(owner('etc/rigtrace/cloud.env')).toEqual({ mode: '640', uid: 0, gid: Number(passwd[3]) });
    expect(owner('var/lib/rigtrace-cloud')).toEqual({
      mode: '700',
      uid: Number(passwd[2]),
      gid: Number(passwd[3]),
    });
    // Its files are its own, unreadable to others (UMask=0077).
    expect(owner('var/lib/rigtrace-cloud/secrets-key')).toEqual({
      mode: '600',
      uid: Number(passwd[2]),
      gid: Number(passwd[3]),
    });
  });

  /**
   * Section 5's proxy in front, reached from another address as a browser or line PC would: the
   * portal, sign-in, cookies, the client's address, the live WebSocket and an edge's batch.
   */
  const behindProxy = (
    name: 'nginx' | 'Caddy',
    proxy: {
      tlsPort: () => number;
      httpPort: () => number;
      /** The certificate the proxy serves. */
      cert: () => string;
      /** How plain HTTP is redirected. */
      redirect: number;
      /** An enrollment token for the edge that sends through it. */
      token: () => string;
    },
  ) =>
    describe(`behind ${name} as section 5 sets it up, from another address`, () => {
      const PUBLIC = 'rigtrace.example.com';
      /** Every name resolves to this machine's outside address: the proxy's public name in DNS. */
      const lookup = ((_host: string, opts: { all?: boolean }, cb: (...a: unknown[]) => void) =>
        opts.all
          ? cb(null, [{ address: OUTSIDE, family: 4 }])
          : cb(null, OUTSIDE, 4)) as unknown as LookupFunction;
      let agent!: https.Agent;
      const origin = () => `https://${PUBLIC}:${proxy.tlsPort()}`;
      const email = `${name.toLowerCase()}@acme.example`;

      /** One request through the proxy as a browser or edge on another machine would make it. */
      function call(
        method: string,
        url: string,
        opts: { headers?: Record<string, string>; body?: unknown; plain?: boolean } = {},
      ): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
        const data = opts.body === undefined ? undefined : JSON.stringify(opts.body);
        const mod = opts.plain ? http : https;
        return new Promise((resolve, reject) => {
          const req = mod.request(
            {
              hostname: PUBLIC,
              port: opts.plain ? proxy.httpPort() : proxy.tlsPort(),
              path: url,
              method,
              agent: opts.plain ? new http.Agent({ lookup }) : agent,
              headers: { ...(data ? { 'content-type': 'application/json' } : {}), ...opts.headers },
            },
            (res) => {
              let text = '';
              res.setEncoding('utf8');
              res.on('data', (d: string) => (text += d));
              res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
            },
          );
          req.on('error', reject);
          req.end(data);
        });
      }
      const cookiesOf = (h: http.IncomingHttpHeaders) => h['set-cookie'] ?? [];
      const cookieHeader = (h: http.IncomingHttpHeaders) =>
        cookiesOf(h)
          .map((c) => c.split(';')[0])
          .join('; ');

      let session = { cookie: '', csrf: '' };
      const sockets: Socket[] = [];

      beforeAll(async () => {
        expect(guide.code, `${guide.stdout}\n${guide.stderr}`).toBe(0);
        const ca = readFileSync(proxy.cert());
        expect(new X509Certificate(ca).subject).toBe(`CN=${PUBLIC}`);
        agent = new https.Agent({ ca, lookup });
        // An admin made as section 6 makes one, who signs in through the proxy below.
        const made = spawnSync(
          `${T}/usr/local/bin/rigtrace-cloud`,
          [
            'user',
            'create',
            '--config',
            `${T}/etc/rigtrace/cloud.env`,
            '--tenant',
            'acme',
            '--email',
            email,
            '--role',
            'admin',
          ],
          { encoding: 'utf8', env: { PATH: process.env.PATH! }, timeout: 60_000 },
        );
        expect(made.status, made.stderr).toBe(0);
        const password = (JSON.parse(made.stdout) as { initialPassword: string }).initialPassword;
        // A client that claims another address in X-Forwarded-For: the proxy adds the real one (nginx) or sets only it (Caddy).
        const login = await call('POST', '/api/v1/auth/login', {
          headers: { 'x-forwarded-for': '203.0.113.9' },
          body: { tenant: 'acme', email: email, password },
        });
        expect(login.status, login.text).toBe(200);
        const pending = {
          cookie: cookieHeader(login.headers),
          csrf: (JSON.parse(login.text) as { csrfToken: string }).csrfToken,
        };
        const changed = await call('POST', '/api/v1/auth/password', {
          headers: { cookie: pending.cookie, 'x-csrf-token': pending.csrf },
          body: { currentPassword: password, newPassword: 'Tundra-Bellows-Ochre-4412' },
        });
        expect(changed.status, changed.text).toBe(200);
        session = {
          cookie: cookieHeader(changed.headers),
          csrf: (JSON.parse(changed.text) as { csrfToken: string }).csrfToken,
        };
      });
      afterAll(() => {
        for (const s of sockets) s.close();
        agent?.destroy();
      });

      it('serves the portal over HTTPS with the certificate and HSTS, hides the operations endpoints; plain HTTP is redirected', async () => {
        const portal = await call('GET', '/');
        expect(portal.status).toBe(200);
        expect(portal.headers['content-type']).toMatch(/^text\/html/);
        expect(portal.headers['content-security-policy']).toContain("default-src 'self'");
        expect(portal.text).toContain('<title>RigTrace</title>');
        const script = /<script[^>]* src="([^"]+)"/.exec(portal.text)?.[1];
        expect(script, 'the portal page names its script').toBeDefined();
        const js = await call('GET', script!);
        expect(js.status).toBe(200);
        expect(js.headers['content-type']).toMatch(/javascript/);
        expect(js.text.length).toBeGreaterThan(1000);

        const page = await call('GET', '/api/v1/auth/session');
        expect(page.status).toBe(401);
        expect(page.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
        for (const ops of ['/readyz', '/healthz', '/metrics'])
          expect((await call('GET', ops)).status, ops).toBe(404);
        const plain = await call('GET', '/portal/?x=1', { plain: true });
        expect(plain.status).toBe(proxy.redirect);
        expect(plain.headers.location).toBe(`https://${PUBLIC}/portal/?x=1`);
      });

      it('signs in with __Host- cookies (Secure) over HTTPS; the session works through the proxy and only under that name', async () => {
        expect(session.cookie).toMatch(/^__Host-rt_session=[^;]+; __Host-rt_csrf=/);
        const me = await call('GET', '/api/v1/auth/session', { headers: { cookie: session.cookie } });
        expect(me.status, me.text).toBe(200);
        expect((JSON.parse(me.text) as { user: { email: string } }).user.email).toBe(email);
        // Set Secure, Path=/, no Domain, as the prefix requires of a browser.
        const again = await call('POST', '/api/v1/auth/login', {
          body: { tenant: 'acme', email: email, password: 'Tundra-Bellows-Ochre-4412' },
        });
        for (const c of cookiesOf(again.headers)) {
          expect(c).toMatch(/^__Host-/);
          expect(c).toMatch(/; Secure/i);
          expect(c).toMatch(/; Path=\//i);
          expect(c).not.toMatch(/; Domain=/i);
        }
        // The same value under the plain name is no session over HTTPS.
        const plainName = session.cookie.replace('__Host-rt_session=', 'rt_session=');
        expect((await call('GET', '/api/v1/auth/session', { headers: { cookie: plainName } })).status).toBe(
          401,
        );
      });

      it(`records the client address ${name} forwards (RIGTRACE_TRUST_PROXY=loopback), not one the client claims`, () => {
        const r = spawnSync(
          'psql',
          [
            '-qAt',
            '-d',
            `postgres://${owner}:owner-password-here@127.0.0.1:5432/${db}`,
            '-c',
            "SELECT entry FROM audit_log WHERE tenant_id = 'acme' AND action = 'auth.login' ORDER BY seq",
          ],
          { encoding: 'utf8' },
        );
        const entries = r.stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { actor: { email?: string }; address: string | null })
          .filter((e) => e.actor.email === email);
        expect(entries.length, r.stderr).toBeGreaterThan(0);
        for (const e of entries) expect(e.address).toBe(OUTSIDE);
      });

      it(`carries the live updates over a WebSocket (upgrade through ${name}) and an edge enrolls and sends a signed batch through it`, async () => {
        const socket = connectSocket(origin(), {
          path: '/socket.io',
          transports: ['websocket'],
          reconnection: false,
          forceNew: true,
          agent: agent as unknown as string,
          extraHeaders: { cookie: session.cookie, origin: origin() },
        });
        sockets.push(socket);
        const received: { event: string; payload: Record<string, unknown> }[] = [];
        socket.onAny((event: string, payload: Record<string, unknown>) => received.push({ event, payload }));
        await new Promise<void>((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('connect_error', reject);
        });
        expect(socket.io.engine.transport.name).toBe('websocket');
        expect(await socket.timeout(10_000).emitWithAck('subscribe', { siteId: 'plant-1' })).toEqual({
          ok: true,
        });

        // The line PC's side: enrollment with the token section 6 printed, then a batch.
        const token = proxy.token();
        const keys = generateKeyPair();
        const enrolled = await call('POST', '/api/v1/edges/enroll', {
          body: { token, publicKey: toBase64(keys.publicKey), name: 'line-pc-1' },
        });
        expect(enrolled.status, enrolled.text).toBe(201);
        const edge = (JSON.parse(enrolled.text) as { edgeId: string }).edgeId;
        const observedAt = new Date(Date.now() - 5_000).toISOString();
        const { batch } = buildBatch({
          edge,
          privateKeyPem: keys.privateKeyPem,
          records: [
            {
              v: 1,
              id: deterministicUuidV7(Date.parse(observedAt), new TextEncoder().encode(`${edge}:1`)),
              edge,
              seq: 1,
              observedAt,
              receivedAt: observedAt,
              kind: 'telemetry',
              equipment: 'RIG-1',
              source: { protocol: 'opcua', endpoint: 'opc.tcp://rig.plant.local:4840' },
              body: { points: [{ name: 'railPressure', value: 1600.5, unit: 'bar', quality: 'good' }] },
            },
          ],
        });
        const sent = await call('POST', '/api/v1/ingest', { body: batch });
        expect(sent.status, sent.text).toBe(200);
        const pushed = await waitFor(
          () => Promise.resolve(received.find((r) => r.event === 'telemetry' && r.payload.edgeId === edge)),
          15_000,
          'the telemetry pushed over the socket',
        );
        expect(pushed.payload).toMatchObject({
          siteId: 'plant-1',
          edgeId: edge,
          items: [{ equipment: 'RIG-1', point: 'railPressure', value: 1600.5, observedAt }],
        });
      });
    });

  behindProxy('nginx', {
    tlsPort: () => tlsPort,
    httpPort: () => httpPort,
    cert: () => path.join(T, 'etc/ssl/rigtrace/fullchain.pem'),
    redirect: 301,
    // The token section 6 printed.
    token: () =>
      (
        JSON.parse(outputOf(guide, 'sudo -u rigtrace rigtrace-cloud token enroll').trim()) as {
          token: string;
        }
      ).token,
  });
  behindProxy('Caddy', {
    tlsPort: () => caddyTlsPort,
    httpPort: () => caddyHttpPort,
    cert: () => caddyCert,
    redirect: 308,
    // Another token, made with section 6's command.
    token: () => {
      const r = spawnSync(
        `${T}/usr/local/bin/rigtrace-cloud`,
        [
          'token',
          'enroll',
          '--config',
          `${T}/etc/rigtrace/cloud.env`,
          '--tenant',
          'acme',
          '--site',
          'plant-1',
        ],
        { encoding: 'utf8', env: { PATH: process.env.PATH! }, timeout: 60_000 },
      );
      expect(r.status, r.stderr).toBe(0);
      return (JSON.parse(r.stdout.trim()) as { token: string }).token;
    },
  });
});
