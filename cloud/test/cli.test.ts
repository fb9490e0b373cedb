import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { runCli, startProcess } from '@rigtrace/protocols/testing';
import { loadCloudConfig } from '../src/platform/config.js';
import { describeDatabaseUrl } from '../src/platform/db/postgres.js';
import { openStore } from '../src/server.js';
import { BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';
import { wholeTenant } from '../src/access/index.js';

// Every test here runs CLI processes one after another, each loading its TypeScript sources:
// seconds apiece on a busy machine.
vi.setConfig({ testTimeout: 120_000 });

const cloud = (...args: string[]) => runCli('cloud/src/cli.ts', args);

/**
 * Runs `start` with extra environment variables, for children it spawns (they inherit this
 * process's environment at spawn time, which is synchronous).
 */
function withEnv<T>(env: Record<string, string>, start: () => T): T {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return start();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
const cloudWithEnv = (env: Record<string, string>, ...args: string[]) => withEnv(env, () => cloud(...args));

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
    const r = cloudWithEnv(
      { RIGTRACE_DB_APP_ROLE: 'App Role' },
      'serve',
      '--port',
      '99999',
      '--data-dir',
      dir,
      '--database-url',
      'mysql://root@localhost/rigtrace',
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('RIGTRACE_PORT:');
    expect(r.stderr).toContain('DATABASE_URL: must be a postgres:// or postgresql:// URL');
    expect(r.stderr).toContain('RIGTRACE_DB_APP_ROLE:');
    const admin = cloud('tenant', 'create', '--id', 'a', '--name', 'A', '--database-url', 'postgres://');
    expect(admin.status).toBe(2);
    expect(admin.stderr).toContain('DATABASE_URL:');
  });

  it('reads the settings file the service reads (--config), names each bad line, and flags override it', () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'rt-cloud-config-'));
    const file = path.join(home, 'cloud.env');
    writeFileSync(
      file,
      `# the cloud's settings\nRIGTRACE_DATA_DIR=${path.join(home, 'db')}\nRIGTRACE_PUBLIC_URL="https://rt.example.com"\n`,
    );
    // The environment names another folder: the file wins, as for the service.
    const env = { RIGTRACE_DATA_DIR: path.join(home, 'elsewhere') };
    const made = cloudWithEnv(
      env,
      'tenant',
      'create',
      '--config',
      file,
      '--id',
      'acme',
      '--name',
      'A',
      '--create-database',
    );
    expect(made.status, made.stderr).toBe(0);
    expect(existsSync(path.join(home, 'db/cloud.sqlite'))).toBe(true);
    expect(existsSync(path.join(home, 'elsewhere'))).toBe(false);
    expect(
      cloudWithEnv(env, 'site', 'create', '--config', file, '--tenant', 'acme', '--id', 'p1', '--name', 'P1')
        .status,
    ).toBe(0);
    const t = cloudWithEnv(env, 'token', 'enroll', '--config', file, '--tenant', 'acme', '--site', 'p1');
    expect(t.status, t.stderr).toBe(0);
    const token = JSON.parse(t.stdout) as { token: string; command: string };
    expect(token.command).toBe(
      `sudo -u rigtrace rigtrace-edge enroll --config /etc/rigtrace/edge.yaml --cloud https://rt.example.com --token ${token.token}`,
    );
    // A flag beats the file: this folder has no database, and nothing is created there.
    const other = path.join(home, 'other');
    const refused = cloud(
      'site',
      'create',
      '--config',
      file,
      '--data-dir',
      other,
      '--tenant',
      'acme',
      '--id',
      'p2',
      '--name',
      'P2',
    );
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain(`no RigTrace database at ${path.join(other, 'cloud.sqlite')}`);
    expect(existsSync(path.join(other, 'cloud.sqlite'))).toBe(false);

    const bad = path.join(home, 'bad.env');
    writeFileSync(bad, 'RIGTRACE_PORT=8080\nRIGTRACE_PROT=80\njust words\nRIGTRACE_PORT=9090\n');
    const r = cloud('tenant', 'create', '--config', bad, '--id', 'b', '--name', 'B');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${bad}:2: RIGTRACE_PROT is not a RigTrace cloud setting`);
    expect(r.stderr).toContain(`${bad}:3: expected NAME=value`);
    expect(r.stderr).toContain(`${bad}:4: RIGTRACE_PORT is set twice`);
    const missing = cloud('serve', '--config', path.join(home, 'nope.env'));
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain(`${path.join(home, 'nope.env')}: cannot read (no such file)`);
  });

  it('fails with exit code 1 and the cause when the database cannot be reached', () => {
    const r = cloud(
      'tenant',
      'create',
      '--id',
      'acme',
      '--name',
      'Acme',
      '--data-dir',
      dir,
      '--database-url',
      'postgres://nobody:secret-pw@127.0.0.1:1/rigtrace',
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('ECONNREFUSED');
    expect(r.stderr).not.toContain('secret-pw');
  });
});

describe.each(BACKENDS)('rigtrace-cloud admin commands on %s', (backend) => {
  let storage: TestStorage;
  let apiToken = '';
  setupOrFailEach(async () => {
    storage = await testStorage(backend);
  });
  afterAll(async () => {
    await storage?.cleanup();
  });

  it('creates a tenant, a site and tokens in the chosen store, and refuses an unknown site', async () => {
    const { dataDir, env } = storage;
    // PostgreSQL is named once by flag and otherwise by DATABASE_URL; both must reach it.
    const flag = storage.databaseUrl ? ['--database-url', storage.databaseUrl] : [];
    const run = (...args: string[]) => cloudWithEnv(env, ...args, '--data-dir', dataDir);
    const created = cloudWithEnv(
      { RIGTRACE_DB_APP_ROLE: env.RIGTRACE_DB_APP_ROLE ?? 'rigtrace_app' },
      'tenant',
      'create',
      '--id',
      'acme',
      '--name',
      'Acme',
      '--data-dir',
      dataDir,
      ...flag,
      // A new store: the admin commands create one only when told to.
      '--create-database',
    );
    expect(created.status, created.stderr).toBe(0);
    const site = run('site', 'create', '--tenant', 'acme', '--id', 'plant-1', '--name', 'P1');
    expect(site.status, site.stderr).toBe(0);
    const t = run('token', 'enroll', '--tenant', 'acme', '--site', 'plant-1', '--ttl-hours', '2');
    expect(t.status, t.stderr).toBe(0);
    const token = JSON.parse(t.stdout) as { token: string; expiresAt: string };
    expect(token.token).toMatch(/^rt_enr_[A-Za-z0-9_-]{43}$/);
    expect(Date.parse(token.expiresAt) - Date.now()).toBeGreaterThan(7000_000);
    const api = run('token', 'api', '--tenant', 'acme', '--name', 'reports');
    expect(api.status, api.stderr).toBe(0);
    apiToken = api.stdout.trim();
    const bad = run('token', 'enroll', '--tenant', 'acme', '--site', 'plant-9');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('no site plant-9 in tenant acme');
    expect(run('tenant', 'create', '--id', 'Bad Id', '--name', 'x').status).toBe(2);

    // What the commands wrote is in the backend they were pointed at, and only there.
    expect(existsSync(path.join(dataDir, 'cloud.sqlite'))).toBe(backend === 'sqlite');
    const store = await openStore(loadCloudConfig({}, storage.overrides));
    try {
      expect(await store.tenancy.tenantExists('acme')).toBe(true);
      expect(await store.tenancy.siteExists(wholeTenant('acme'), 'plant-1')).toBe(true);
      expect(await store.tenancy.siteExists(wholeTenant('acme'), 'plant-9')).toBe(false);
      expect(await store.tenancy.tenantForApiToken(api.stdout.trim())).toBe('acme');
      const enrolled = await store.db.transaction(() =>
        store.tenancy.consumeEnrollmentToken(token.token, 'edge-x'),
      );
      expect(enrolled).toEqual({ tenant_id: 'acme', site_id: 'plant-1' });
    } finally {
      await store.db.close();
    }
  });

  it('serves the API from the same store', async () => {
    const proc = await withEnv(storage.env, () =>
      startProcess('cloud/src/cli.ts', ['serve', '--port', '0', '--data-dir', storage.dataDir], (l) =>
        l.includes('"event":"listening"'),
      ),
    );
    try {
      const { url } = JSON.parse(proc.readyLine) as { url: string };
      const res = await fetch(`${url}/api/v1/edges`, { headers: { authorization: `Bearer ${apiToken}` } });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ items: [] });
      const started = proc.lines.find((l) => l.includes('cloud listening'));
      expect(started).toContain(
        `"storage":"${storage.databaseUrl ? describeDatabaseUrl(storage.databaseUrl) : 'sqlite'}"`,
      );
    } finally {
      expect(await proc.stop()).toBe(0);
    }
  });
});
