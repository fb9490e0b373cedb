import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { repoRoot } from '@rigtrace/protocols/testing';
import { createAccounts } from '../src/access/accounts.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { openStore } from '../src/server.js';
import { Witness } from '../src/platform/witness.js';
import { BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

// Every test here runs CLI processes one after another, each loading its TypeScript sources:
// seconds apiece on a busy machine.
vi.setConfig({ testTimeout: 120_000 });

/** `rigtrace-cloud user create` and the demo users of `seed-demo`, against each backend. */
describe.each(BACKENDS)('user commands on %s', (backend) => {
  let storage: TestStorage;
  const cli = (args: string[], input?: string) =>
    spawnSync(
      process.execPath,
      [
        '--conditions=rigtrace-source',
        '--import',
        'tsx',
        'cloud/src/cli.ts',
        ...args,
        '--data-dir',
        storage.dataDir,
      ],
      {
        cwd: repoRoot,
        encoding: 'utf8',
        timeout: 30_000,
        env: { ...process.env, ...storage.env },
        input: input ?? '',
      },
    );
  async function signIn(tenant: string, email: string, password: string) {
    const cfg = loadCloudConfig({}, storage.overrides);
    const store = await openStore(cfg);
    try {
      const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
      return (
        await accounts.auth.login({ tenant, email, password }, { address: '127.0.0.1', userAgent: null })
      ).issued.state;
    } finally {
      await store.db.close();
    }
  }

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
  });
  afterAll(() => storage?.cleanup());

  it('bootstraps the first admin with a one-time password that must be changed', async () => {
    expect(cli(['tenant', 'create', '--id', 'plant', '--name', 'Plant', '--create-database']).status).toBe(0);
    const r = cli([
      'user',
      'create',
      '--tenant',
      'plant',
      '--email',
      'First@plant.example',
      '--role',
      'admin',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ tenant: 'plant', email: 'first@plant.example', role: 'admin', sites: null });
    expect(out.initialPassword).toMatch(/^[A-Za-z0-9]{20}$/);
    expect(await signIn('plant', 'first@plant.example', out.initialPassword)).toBe('change_password');

    const weak = cli(
      [
        'user',
        'create',
        '--tenant',
        'plant',
        '--email',
        'b@plant.example',
        '--role',
        'auditor',
        '--password-stdin',
      ],
      'password123\n',
    );
    expect(weak.status).toBe(1);
    expect(weak.stderr).toMatch(/at least 12 characters/);
    const own = cli(
      [
        'user',
        'create',
        '--tenant',
        'plant',
        '--email',
        'b@plant.example',
        '--role',
        'auditor',
        '--password-stdin',
      ],
      'metrology lab key ring\n',
    );
    expect(own.status, own.stderr).toBe(0);
    expect(JSON.parse(own.stdout).initialPassword).toBeUndefined();
    expect(await signIn('plant', 'b@plant.example', 'metrology lab key ring')).toBe('change_password');
    expect(
      cli(['user', 'create', '--tenant', 'plant', '--email', 'c@plant.example', '--role', 'root']).status,
    ).toBe(2);
    expect(
      cli(['user', 'create', '--tenant', 'nope', '--email', 'c@plant.example', '--role', 'admin']).status,
    ).toBe(2);
  });

  it('seed-demo prints four demo logins that work, and new ones on every run', async () => {
    const first = cli(['seed-demo']);
    expect(first.status, first.stderr).toBe(0);
    const users = JSON.parse(first.stdout).users as { email: string; role: string; password: string }[];
    expect(users.map((u) => u.role)).toEqual(['admin', 'manager', 'technician', 'auditor']);
    const again = JSON.parse(cli(['seed-demo']).stdout).users as typeof users;
    expect(again[0]!.password).not.toBe(users[0]!.password);
    expect(await signIn('demo', again[0]!.email, again[0]!.password)).toBe('active');
    expect(await signIn('demo', again[3]!.email, again[3]!.password)).toBe('active');
  });
});
