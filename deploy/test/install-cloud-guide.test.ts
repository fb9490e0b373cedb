import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { freePort, repoRoot } from '@rigtrace/protocols/testing';
import {
  guideCommands,
  marker,
  outputOf,
  readUnit,
  runScript,
  stopScript,
  type ScriptRun,
} from './helpers/guide.js';

// Compiling the cloud (emit only) and starting it twice: well under two minutes, but a loaded
// machine gets room.
vi.setConfig({ testTimeout: 300_000, hookTimeout: 300_000 });

/**
 * docs/INSTALL-CLOUD.md followed as written on this machine. The commands of its ```sh blocks (and
 * the two inline ones it tells the reader to run: the `ln -s` link and `token enroll`) run in one
 * bash script, with only these mechanical changes:
 *
 * - The paths /etc/rigtrace, /etc/systemd/system, /var/lib/rigtrace-cloud, /var/backups,
 *   /opt/rigtrace and /usr/local/bin are folders under one temp folder T (/usr/local/bin on PATH).
 * - /opt/rigtrace is T/opt/rigtrace, made by the test before the script: the cloud's two packages
 *   compiled there from this checkout with tsc (emit only; `npm run typecheck` checks the types),
 *   their package.json, bin/ and src/ files, the launcher, the unit file and a node_modules whose
 *   entries link to the checkout's (@rigtrace/* to the copies). That stands for
 *   `git clone … && npm ci && npm run build` (no network here, and a build in the checkout would
 *   leave dist/ folders its own commands would then run). Nothing in the checkout is written.
 * - The PostgreSQL roles and database (rigtrace, rigtrace_app) get names unique to the run and
 *   are dropped afterwards; `sudo -u postgres psql` is `psql -h 127.0.0.1 -U postgres` (this
 *   machine's PostgreSQL, trust auth) stopping at the first error.
 * - `sudo -u rigtrace CMD` is `env -i PATH="$PATH" CMD` (sudo's clean environment, as root: there is
 *   no service user here), and the settings file's group is root instead of rigtrace.
 * - `systemctl enable --now rigtrace-cloud` starts the unit's own ExecStart line, with the unit's
 *   Environment= lines and nothing else in the environment, in the background (after making its
 *   StateDirectory, mode 0700, as systemd does); `systemctl restart` stops it and does the same.
 * - Port 8080 is a free port.
 * - Skipped, as listed in SKIPPED below: package installs, the service user, the clone, systemd
 *   and journal bookkeeping, Caddy, the upgrade's git checkout and rebuild. A command in the
 *   guide that is in none of the lists fails the test until it is classified here.
 */

const GUIDE = path.join(repoRoot, 'docs/INSTALL-CLOUD.md');
const UNIT = path.join(repoRoot, 'deploy/systemd/rigtrace-cloud.service');

/** Commands of the guide not run here, exactly as written (without a trailing comment). */
const SKIPPED = new Map<string, string>([
  [
    'apt-get install -y --no-install-recommends git ca-certificates python3 make g++',
    'the CI image has them',
  ],
  [
    'useradd --system --home-dir /var/lib/rigtrace-cloud --shell /usr/sbin/nologin rigtrace',
    'runs as root here',
  ],
  ['git clone https://git.example.com/rigtrace.git /opt/rigtrace', 'the test lays out /opt/rigtrace'],
  ['apt-get install -y postgresql', "the machine's PostgreSQL"],
  ['systemctl daemon-reload', 'no systemd'],
  ['journalctl -u rigtrace-cloud -n 20', 'the test reads the service log'],
  ['apt-get install -y caddy', 'no proxy here'],
  ["cat > /etc/caddy/Caddyfile <<'EOF'", 'no proxy here'],
  ['systemctl reload caddy', 'no proxy here'],
  ['cd /opt/rigtrace && git fetch && git checkout <release tag>', 'same code'],
  ['npm ci && npm run build', 'same code'],
]);
/** Commands run as written, with the rewrites (by how they start). */
const RUN = [
  /^sudo -u postgres psql <<'SQL'$/,
  /^install -d -m 0755 \/etc\/rigtrace$/,
  /^install -m 0640 -o root -g rigtrace \/dev\/null \/etc\/rigtrace\/cloud\.env$/,
  /^cat > \/etc\/rigtrace\/cloud\.env <<'EOF'$/,
  /^cp \/opt\/rigtrace\/deploy\/systemd\/rigtrace-cloud\.service \/etc\/systemd\/system\/$/,
  /^curl -s http:\/\/127\.0\.0\.1:8080\/readyz$/,
  /^sudo -u rigtrace rigtrace-cloud (tenant|site|user|token) /,
  /^ln -s \/opt\/rigtrace\/node_modules\/\.bin\/rigtrace-cloud \/usr\/local\/bin\/$/,
  /^pg_dump -Fc -d "postgres:\/\/rigtrace:owner-password-here@127\.0\.0\.1:5432\/rigtrace" -f \/var\/backups\/rigtrace-.+\.dump$/,
];

const psql = (sql: string) =>
  spawnSync('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-v', 'ON_ERROR_STOP=1', '-qAt', '-c', sql], {
    encoding: 'utf8',
  });

/** T/opt/rigtrace as `git clone` + `npm ci` + `npm run build` would leave it, for the cloud. */
function layOutOpt(opt: string): void {
  const tsc = path.join(repoRoot, 'node_modules/typescript/bin/tsc');
  for (const w of ['protocols', 'cloud']) {
    for (const f of ['package.json', 'tsconfig.build.json', 'src', 'bin'])
      if (existsSync(path.join(repoRoot, w, f)))
        cpSync(path.join(repoRoot, w, f), path.join(opt, w, f), { recursive: true });
    const r = spawnSync(
      process.execPath,
      [
        tsc,
        '-p',
        path.join(repoRoot, w, 'tsconfig.build.json'),
        '--outDir',
        path.join(opt, w, 'dist'),
        '--declaration',
        'false',
        '--sourceMap',
        'false',
        '--noCheck',
      ],
      { encoding: 'utf8' },
    );
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  }
  for (const f of ['tsconfig.base.json', 'scripts/bin', 'deploy/systemd'])
    cpSync(path.join(repoRoot, f), path.join(opt, f), { recursive: true });
  if (existsSync(path.join(repoRoot, 'portal/dist'))) {
    mkdirSync(path.join(opt, 'portal'));
    symlinkSync(path.join(repoRoot, 'portal/dist'), path.join(opt, 'portal/dist'));
  }
  const nm = path.join(opt, 'node_modules');
  mkdirSync(path.join(nm, '@rigtrace'), { recursive: true });
  mkdirSync(path.join(nm, '.bin'));
  for (const e of readdirSync(path.join(repoRoot, 'node_modules')))
    if (e !== '@rigtrace' && e !== '.bin')
      symlinkSync(path.join(repoRoot, 'node_modules', e), path.join(nm, e));
  symlinkSync('../../protocols', path.join(nm, '@rigtrace/protocols'));
  symlinkSync('../../cloud', path.join(nm, '@rigtrace/cloud'));
  symlinkSync('../@rigtrace/cloud/bin/rigtrace-cloud.js', path.join(nm, '.bin/rigtrace-cloud'));
}

describe('docs/INSTALL-CLOUD.md followed as written (PostgreSQL, the systemd unit, the admin commands, backups)', () => {
  const T = mkdtempSync(path.join(os.tmpdir(), 'rt-install-cloud-'));
  const run = `rt_guide_${process.pid}_${Date.now().toString(36)}`;
  const owner = run;
  const app = `${run}_app`;
  const db = run;
  const restored = `${run}_restored`;
  const opt = path.join(T, 'opt/rigtrace');
  const serviceLog = path.join(T, 'service.log');
  let port = 0;
  let guide!: ScriptRun;

  const rewrite = (s: string) =>
    s
      .replace(
        /(?<![\w./-])(\/etc\/rigtrace|\/etc\/systemd\/system|\/var\/lib\/rigtrace-cloud|\/var\/backups|\/opt\/rigtrace|\/usr\/local\/bin)(?![\w-])/g,
        `${T}$1`,
      )
      .replaceAll('sudo -u postgres psql', 'psql -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1')
      .replaceAll('sudo -u rigtrace ', 'env -i PATH="$PATH" ')
      .replaceAll('-g rigtrace ', '-g root ')
      .replace(/\brigtrace_app\b/g, app)
      .replace(/\b(ROLE|DATABASE|OWNER) rigtrace\b/g, `$1 ${owner}`)
      .replaceAll('postgres://rigtrace:', `postgres://${owner}:`)
      .replace(/:5432\/rigtrace\b/g, `:5432/${db}`)
      .replaceAll('8080', String(port));

  /** What `systemctl enable --now` does with the unit: its ExecStart, its environment only. */
  function startService(): string[] {
    const unit = readUnit(UNIT);
    return [
      rewrite(`mkdir -p -m ${unit.stateDirectoryMode} /var/lib/${unit.stateDirectory}`),
      `env -i PATH=/usr/bin:/bin ${unit.environment.map(rewrite).join(' ')} ${rewrite(unit.execStart)} >> ${serviceLog} 2>&1 &`,
      `echo $! > ${T}/service.pid`,
      `for _ in $(seq 1 900); do curl -sf http://127.0.0.1:${port}/readyz > /dev/null && break; kill -0 $(cat ${T}/service.pid) || { echo "the service exited"; cat ${serviceLog}; exit 1; }; sleep 0.2; done`,
    ];
  }
  const stopService = () => [
    `kill $(cat ${T}/service.pid)`,
    `while kill -0 $(cat ${T}/service.pid) 2> /dev/null; do sleep 0.2; done`,
  ];

  beforeAll(async () => {
    port = await freePort();
    for (const d of ['etc/systemd/system', 'var/lib', 'var/backups', 'usr/local/bin'])
      mkdirSync(path.join(T, d), { recursive: true });
    layOutOpt(opt);
    const script = [`export PATH=${T}/usr/local/bin:$PATH`, `cd ${T}`];
    const unclassified: string[] = [];
    const commands = guideCommands(GUIDE, [
      // The inline commands: the link in section 1, the enrollment token in section 6.
      /`(ln -s \/opt\/rigtrace\/node_modules\/\.bin\/rigtrace-cloud [^`]*)`/,
      /`((?:sudo -u rigtrace )?rigtrace-cloud token enroll [^`]*)`/,
    ]);
    for (const c of commands) {
      script.push(marker(c));
      if (c.first === 'cd /opt/rigtrace && npm ci && npm run build') script.push(rewrite('cd /opt/rigtrace'));
      else if (c.first === 'systemctl enable --now rigtrace-cloud') script.push(...startService());
      else if (c.first === 'systemctl restart rigtrace-cloud')
        script.push(...stopService(), ...startService());
      else if (SKIPPED.has(c.first)) continue;
      else if (RUN.some((re) => re.test(c.first))) script.push(rewrite(c.text));
      else unclassified.push(c.first);
    }
    expect(unclassified, 'commands in the guide this test does not know: classify them').toEqual([]);
    guide = await runScript(T, script, { ...process.env, HOME: T, npm_config_update_notifier: 'false' });
  });

  afterAll(() => {
    stopScript(guide);
    for (const d of [db, restored]) psql(`DROP DATABASE IF EXISTS "${d}" WITH (FORCE)`);
    for (const r of [owner, app]) psql(`DROP ROLE IF EXISTS "${r}"`);
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
    // Section 7's restore over a database that holds the cloud: `pg_restore --clean` as the owner.
    const again = spawnSync('pg_restore', ['--clean', '--exit-on-error', '-d', url, dumpFile], {
      encoding: 'utf8',
    });
    expect(again.status, again.stderr).toBe(0);
    const users = spawnSync(
      'psql',
      ['-qAt', '-d', url, '-c', "SELECT email FROM users WHERE tenant_id = 'acme'"],
      { encoding: 'utf8' },
    );
    expect(users.stdout.trim(), users.stderr).toBe('admin@acme.example');
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
});
