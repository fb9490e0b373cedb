import { spawn } from 'node:child_process';
import pino from 'pino';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { repoRoot } from '@rigtrace/protocols/testing';
import { base32Decode, totp } from '../src/access/totp.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { apiCall, signIn, type Session } from './helpers/signed-in.js';
import { BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

// The CLI runs as its own process, loading its TypeScript sources: seconds apiece on a busy machine.
vi.setConfig({ testTimeout: 120_000 });

const OPERATOR_PW = 'operator passphrase for the cloud host';
const REALM = '_operators';

/**
 * Cloud operators (ACCOUNTS.md, "Cloud operators"): made with the CLI only, a second factor at
 * the first sign-in, then the tenant list and tenant creation with a first admin, audited in both
 * logs; nothing of a tenant's data (403), and the operator routes are not there for anyone else (404).
 */
describe.each(BACKENDS)('cloud operators on %s', (backend) => {
  let storage: TestStorage;
  let cloud: RunningCloud;
  let operator: Session;
  let acmeAdmin: Session;
  let apiToken = '';

  /**
   * The CLI as its own process while the cloud in this process keeps serving (never spawnSync: it
   * would block the event loop, and a kept-alive connection could then be closed under the next
   * request).
   */
  const cli = (args: string[], input = '') =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(
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
        { cwd: repoRoot, env: { ...process.env, ...storage.env } },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', reject);
      child.on('close', (status) => resolve({ status, stdout, stderr }));
      child.stdin.end(input);
    });
  const call = async (who: string | Session | null, method: string, p: string, body?: unknown) => {
    if (who !== null) return apiCall(cloud.url, who, method, p, body);
    const r = await fetch(`${cloud.url}/api/v1${p}`, { method });
    const text = await r.text();
    return {
      status: r.status,
      type: r.headers.get('content-type') ?? '',
      text,
      body: JSON.parse(text),
    };
  };

  /** A TOTP code of a step not used yet (the cloud refuses a replayed step). */
  let lastStep = 0;
  async function freshCode(secret: Uint8Array): Promise<string> {
    for (;;) {
      const step = Math.floor(Date.now() / 30_000);
      if (step > lastStep) {
        lastStep = step;
        return totp(secret, step * 30);
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  const cookieOf = (res: Response) =>
    res.headers
      .getSetCookie()
      .find((c) => c.startsWith('rt_session='))!
      .split(';')[0]!;

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    const op = await cli(
      ['operator', 'create', '--email', 'op@cloud.example', '--create-database'],
      OPERATOR_PW,
    );
    expect(op.status, op.stderr).toBe(0);
    expect(JSON.parse(op.stdout)).toMatchObject({ email: 'op@cloud.example', role: 'operator' });
    const t = await cli([
      'tenant',
      'create',
      '--id',
      'acme',
      '--name',
      'Acme',
      '--admin-email',
      'admin@acme.example',
    ]);
    expect(t.status, t.stderr).toBe(0);
    const made = JSON.parse(t.stdout) as { admin: { initialPassword: string } };
    const store = await openStore(loadCloudConfig({}, storage.overrides));
    await store.tenancy.createSite('acme', 'plant-1', 'Plant 1');
    apiToken = await store.tenancy.createApiToken('acme', 'reader');
    await store.db.close();
    cloud = await startCloud(
      loadCloudConfig({}, { ...storage.overrides, port: '0' }),
      pino({ level: 'silent' }),
    );
    // The CLI's admin chooses a password at the first sign-in.
    const login = await fetch(`${cloud.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        tenant: 'acme',
        email: 'admin@acme.example',
        password: made.admin.initialPassword,
      }),
    });
    const pending = {
      cookie: cookieOf(login),
      csrf: ((await login.json()) as { csrfToken: string }).csrfToken,
    };
    const changed = await call(pending, 'POST', '/auth/password', {
      currentPassword: made.admin.initialPassword,
      newPassword: 'stormy harbour lantern',
    });
    expect(changed.status).toBe(200);
    acmeAdmin = await signIn(cloud.url, 'acme', 'admin@acme.example', 'stormy harbour lantern');
    // Two CLI processes and a cloud start: about 20 s on a loaded 2-core machine.
  }, 120_000);
  afterAll(async () => {
    await cloud?.close();
    await storage?.cleanup();
  });

  it('signs an operator in only after a second factor is set up', async () => {
    const login = await fetch(`${cloud.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenant: REALM, email: 'op@cloud.example', password: OPERATOR_PW }),
    });
    const first = (await login.json()) as { state: string; csrfToken: string };
    expect(first.state).toBe('enroll_mfa');
    const pending = { cookie: cookieOf(login), csrf: first.csrfToken };
    expect((await call(pending, 'GET', '/operator/tenants')).body.code).toBe('CLOUD_SESSION_INCOMPLETE');
    const enrol = await call(pending, 'POST', '/auth/mfa/totp/enroll', {});
    expect(enrol.status).toBe(200);
    const secret = base32Decode(enrol.body.secret as string);
    const confirm = await fetch(`${cloud.url}/api/v1/auth/mfa/totp/confirm`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: pending.cookie, 'x-csrf-token': pending.csrf },
      body: JSON.stringify({ code: await freshCode(secret) }),
    });
    const confirmed = (await confirm.json()) as { state: string; csrfToken: string; backupCodes: string[] };
    expect(confirmed.state).toBe('active');
    expect(confirmed.backupCodes).toHaveLength(10);
    operator = { cookie: cookieOf(confirm), csrf: confirmed.csrfToken };
    const session = (await call(operator, 'GET', '/auth/session')).body;
    expect(session.user.role).toBe('operator');
    expect(session.permissions).toEqual(['tenants:operate']);
    expect(session.sites).toEqual([]);
    // The second factor stays: an operator cannot turn it off.
    const off = await call(operator, 'POST', '/auth/mfa/totp/disable', {
      password: OPERATOR_PW,
      code: await freshCode(secret),
    });
    expect(off.status).toBe(403);
  });

  it('lists the tenants with their counts, not the operator realm', async () => {
    const r = await call(operator, 'GET', '/operator/tenants');
    expect(r.status).toBe(200);
    expect(r.body.items).toEqual([
      { id: 'acme', name: 'Acme', createdAt: expect.any(String), sites: 1, users: 1, edges: 0 },
    ]);
  });

  it('creates a tenant with its first admin, who signs in with the one-time password; both logs say who and when', async () => {
    const before = Date.now();
    const r = await call(operator, 'POST', '/operator/tenants', {
      id: 'globex',
      name: 'Globex',
      admin: { email: 'boss@globex.example', name: 'Hank Scorpio' },
    });
    expect(r.status, r.text).toBe(201);
    expect(r.body.tenant).toMatchObject({ id: 'globex', name: 'Globex', sites: 0, users: 1, edges: 0 });
    expect(r.body.admin.user).toMatchObject({ email: 'boss@globex.example', role: 'admin', sites: null });
    expect(r.body.admin.user.mustChangePassword).toBe(true);
    const initial = r.body.admin.initialPassword as string;
    expect(initial).toHaveLength(20);
    expect((await call(operator, 'GET', '/operator/tenants')).body.items.map((t: any) => t.id)).toEqual([
      'acme',
      'globex',
    ]);

    const login = await fetch(`${cloud.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenant: 'globex', email: 'boss@globex.example', password: initial }),
    });
    const first = (await login.json()) as { state: string; csrfToken: string };
    expect(first.state).toBe('change_password');
    const pending = { cookie: cookieOf(login), csrf: first.csrfToken };
    expect(
      (
        await call(pending, 'POST', '/auth/password', {
          currentPassword: initial,
          newPassword: 'copper kettle meadow',
        })
      ).status,
    ).toBe(200);
    const boss = await signIn(cloud.url, 'globex', 'boss@globex.example', 'copper kettle meadow');
    // The new tenant's log begins with its creation, by the operator, then its admin's.
    const audit = (await call(boss, 'GET', '/audit?limit=10')).body.items as { entry: any }[];
    expect(audit[0]!.entry).toMatchObject({
      seq: 1,
      action: 'tenant.create',
      outcome: 'success',
      actor: { type: 'user', email: 'op@cloud.example', role: 'operator' },
      target: { type: 'tenant', id: 'globex' },
      after: { id: 'globex', name: 'Globex', admin: 'boss@globex.example' },
    });
    expect(Date.parse(audit[0]!.entry.at)).toBeGreaterThanOrEqual(before - 1000);
    expect(audit[1]!.entry).toMatchObject({ action: 'user.create', actor: { email: 'op@cloud.example' } });
    // The operators' own log holds it too (the CLI's tenant as well, by "system cli").
    const store = await openStore(loadCloudConfig({}, storage.overrides));
    try {
      const rows = await store.db.withTenant(REALM, () =>
        store.db.all<{ action: string; entry: string }>(
          "SELECT action, entry FROM audit_log WHERE tenant_id = ? AND action = 'tenant.create' ORDER BY seq",
          [REALM],
        ),
      );
      expect(
        rows.map((x) => JSON.parse(x.entry)).map((e: any) => [e.target.id, e.actor.email ?? e.actor.id]),
      ).toEqual([
        ['acme', 'cli'],
        ['globex', 'op@cloud.example'],
      ]);
    } finally {
      await store.db.close();
    }
  });

  it('refuses a taken or malformed tenant id, and a tenant without its admin, with problem+json', async () => {
    const taken = await call(operator, 'POST', '/operator/tenants', {
      id: 'acme',
      name: 'Acme again',
      admin: { email: 'x@acme.example' },
    });
    expect(taken.status).toBe(409);
    expect(taken.body.code).toBe('CLOUD_CONFLICT');
    expect(taken.type).toContain('application/problem+json');
    for (const body of [
      { id: '_operators', name: 'Realm', admin: { email: 'x@y.example' } },
      { id: 'Upper', name: 'Upper', admin: { email: 'x@y.example' } },
      { id: 'no-admin', name: 'No admin' },
      { id: 'bad-mail', name: 'Bad mail', admin: { email: 'not an email' } },
    ]) {
      const r = await call(operator, 'POST', '/operator/tenants', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.code).toBe('CLOUD_VALIDATION');
    }
    expect((await call(operator, 'GET', '/operator/tenants')).body.items).toHaveLength(2);
  });

  it("answers an operator 403 on a tenant's routes: it reads nothing of any tenant", async () => {
    for (const p of [
      '/edges',
      '/records',
      '/equipment',
      '/calibrations',
      '/due-list',
      '/maintenance',
      '/users',
      '/audit',
      '/sites',
      '/api-tokens',
      '/oot-cases',
      '/reports',
      '/sites/plant-1/live',
    ]) {
      const r = await call(operator, 'GET', p);
      expect(r.status, p).toBe(403);
      expect(r.body.code, p).toBe('CLOUD_FORBIDDEN');
    }
    const write = await call(operator, 'POST', '/users', { email: 'sneak@acme.example', role: 'admin' });
    expect(write.status).toBe(403);
  });

  it('answers everyone else 404 on the operator routes, as for a path that does not exist', async () => {
    const absent = await call(acmeAdmin, 'GET', '/operator/nothing-here');
    expect(absent.status).toBe(404);
    for (const who of [acmeAdmin, apiToken]) {
      for (const [method, body] of [
        ['GET', undefined],
        ['POST', { id: 'evil', name: 'Evil', admin: { email: 'e@evil.example' } }],
      ] as const) {
        const r = await call(who, method, '/operator/tenants', body);
        expect(r.status, `${method} as ${typeof who}`).toBe(404);
        expect(r.body.code).toBe('CLOUD_NOT_FOUND');
        expect(r.body.detail).toBe(`no route for ${method} /api/v1/operator/tenants`);
      }
    }
    expect((await call(null, 'GET', '/operator/tenants')).status).toBe(401);
    // Nothing was made, and a tenant's admin cannot make an operator.
    expect((await call(operator, 'GET', '/operator/tenants')).body.items.map((t: any) => t.id)).not.toContain(
      'evil',
    );
    const role = await call(acmeAdmin, 'POST', '/users', { email: 'op2@acme.example', role: 'operator' });
    expect(role.status).toBe(400);
  });

  it("reads the operators' own audit log, paged, and nobody else can; an operator cannot read a tenant's", async () => {
    const seen: any[] = [];
    let after = 0;
    for (let i = 0; i < 50; i++) {
      const r = await call(operator, 'GET', `/operator/audit?limit=2&afterSeq=${after}`);
      expect(r.status, r.text).toBe(200);
      expect(r.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...r.body.items);
      if (r.body.next === null) break;
      expect(r.body.next).toBe(r.body.items.at(-1).seq);
      after = r.body.next;
    }
    expect(seen.length).toBeGreaterThan(2);
    expect(seen.map((x) => x.seq)).toEqual(seen.map((_x, i) => i + 1));
    // Only the realm's own entries: never a line of a tenant's log.
    expect(new Set(seen.map((x) => x.entry.tenant))).toEqual(new Set([REALM]));
    expect(seen[0].entry).toMatchObject({
      action: 'user.create',
      actor: { type: 'system', id: 'cli' },
      after: { email: 'op@cloud.example', role: 'operator' },
    });
    expect(seen.map((x) => x.entry.action)).toContain('tenant.create');
    expect(seen[0].leafHash).toEqual(expect.any(String));
    expect((await call(operator, 'GET', '/operator/audit?limit=0')).status).toBe(400);
    // A tenant's admin and API token: no such route. Without credentials: 401.
    for (const who of [acmeAdmin, apiToken]) {
      const r = await call(who, 'GET', '/operator/audit');
      expect(r.status).toBe(404);
      expect(r.body.detail).toBe('no route for GET /api/v1/operator/audit');
    }
    expect((await call(null, 'GET', '/operator/audit')).status).toBe(401);
    // The operator reads nothing of a tenant's log.
    for (const p of ['/audit', '/audit/verify', '/audit/export']) {
      const r = await call(operator, 'GET', p);
      expect(r.status, p).toBe(403);
    }
  });

  it('disables, enables and resets the second factor of operators on the CLI: sessions end, all audited', async () => {
    /** By email: op2@ sorts before op@. */
    const listed = async () =>
      (await cli(['operator', 'list'])).stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
    expect(await listed()).toEqual([
      {
        email: 'op@cloud.example',
        name: expect.any(String),
        enabled: true,
        mfa: true,
        createdAt: expect.any(String),
      },
    ]);
    // The last enabled operator is not disabled by accident.
    const last = await cli(['operator', 'disable', '--email', 'op@cloud.example']);
    expect(last.status).toBe(2);
    expect(last.stderr).toMatch(/last enabled cloud operator.*--force/);
    expect((await call(operator, 'GET', '/operator/tenants')).status).toBe(200);
    const unknown = await cli(['operator', 'reset-mfa', '--email', 'nobody@cloud.example']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/no cloud operator nobody@cloud.example/);
    // A tenant's user is not an operator, even with the same email.
    expect((await cli(['operator', 'disable', '--email', 'admin@acme.example'])).status).toBe(2);

    // A lost authenticator: the sessions end, and the next sign-in sets up a second factor again.
    const reset = await cli(['operator', 'reset-mfa', '--email', 'op@cloud.example']);
    expect(reset.status, reset.stderr).toBe(0);
    expect(JSON.parse(reset.stdout)).toEqual({
      email: 'op@cloud.example',
      enabled: true,
      mfa: false,
      done: 'mfa reset',
    });
    expect((await call(operator, 'GET', '/operator/tenants')).status).toBe(401);
    const login = await fetch(`${cloud.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenant: REALM, email: 'op@cloud.example', password: OPERATOR_PW }),
    });
    const first = (await login.json()) as { state: string; csrfToken: string };
    expect(first.state).toBe('enroll_mfa');
    const pending = { cookie: cookieOf(login), csrf: first.csrfToken };
    const enrol = await call(pending, 'POST', '/auth/mfa/totp/enroll', {});
    const confirm = await fetch(`${cloud.url}/api/v1/auth/mfa/totp/confirm`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: pending.cookie, 'x-csrf-token': pending.csrf },
      body: JSON.stringify({ code: await freshCode(base32Decode(enrol.body.secret as string)) }),
    });
    const confirmed = (await confirm.json()) as { state: string; csrfToken: string };
    expect(confirmed.state).toBe('active');
    operator = { cookie: cookieOf(confirm), csrf: confirmed.csrfToken };
    expect((await call(operator, 'GET', '/operator/tenants')).status).toBe(200);

    // With a second operator, the first is disabled: its session ends and it cannot sign in.
    expect((await cli(['operator', 'create', '--email', 'op2@cloud.example'], OPERATOR_PW)).status).toBe(0);
    const off = await cli(['operator', 'disable', '--email', 'op@cloud.example']);
    expect(off.status, off.stderr).toBe(0);
    expect(JSON.parse(off.stdout)).toMatchObject({ enabled: false, done: 'disabled' });
    expect((await call(operator, 'GET', '/operator/tenants')).status).toBe(401);
    const refused = await fetch(`${cloud.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenant: REALM, email: 'op@cloud.example', password: OPERATOR_PW }),
    });
    expect(refused.status).toBe(401);
    // op2 is now the last enabled one: only --force disables it.
    expect((await cli(['operator', 'disable', '--email', 'op2@cloud.example'])).status).toBe(2);
    expect((await cli(['operator', 'disable', '--email', 'op2@cloud.example', '--force'])).status).toBe(0);
    expect((await listed()).map((o) => [o.email, o.enabled])).toEqual([
      ['op2@cloud.example', false],
      ['op@cloud.example', false],
    ]);
    const on = await cli(['operator', 'enable', '--email', 'op@cloud.example']);
    expect(on.status, on.stderr).toBe(0);
    expect(JSON.parse(on.stdout)).toMatchObject({ enabled: true, mfa: true, done: 'enabled' });
    expect((await listed()).map((o) => [o.email, o.enabled])).toEqual([
      ['op2@cloud.example', false],
      ['op@cloud.example', true],
    ]);

    // Each action is on the operators' audit trail, by the person at the host.
    const store = await openStore(loadCloudConfig({}, storage.overrides));
    try {
      const rows = await store.db.withTenant(REALM, () =>
        store.db.all<{ entry: string }>(
          "SELECT entry FROM audit_log WHERE tenant_id = ? AND action IN ('user.mfa.reset', 'user.disable', 'user.enable') ORDER BY seq",
          [REALM],
        ),
      );
      expect(
        rows
          .map((x) => JSON.parse(x.entry))
          .map((e: any) => [e.action, e.after.email, e.actor.type, e.actor.id]),
      ).toEqual([
        ['user.mfa.reset', 'op@cloud.example', 'system', 'cli'],
        ['user.disable', 'op@cloud.example', 'system', 'cli'],
        ['user.disable', 'op2@cloud.example', 'system', 'cli'],
        ['user.enable', 'op@cloud.example', 'system', 'cli'],
      ]);
    } finally {
      await store.db.close();
    }
  });

  it('explains the operator commands in help', async () => {
    for (const args of [
      ['help', 'operator'],
      ['operator', '--help'],
    ]) {
      const h = await cli(args);
      expect(h.status).toBe(0);
      for (const c of [
        'operator list',
        'operator disable --email E [--force]',
        'operator enable --email E',
        'operator reset-mfa --email E',
      ])
        expect(h.stdout).toContain(c);
    }
    expect((await cli(['operator', 'enable', '--email', 'op@cloud.example', '--force'])).status).toBe(2);
  });

  it('refuses a weak operator password and a second operator with the same email on the CLI', async () => {
    const weak = await cli(['operator', 'create', '--email', 'weak@cloud.example'], 'password123');
    expect(weak.status).toBe(2);
    expect(weak.stderr).toMatch(/password/);
    const again = await cli(['operator', 'create', '--email', 'op@cloud.example'], OPERATOR_PW);
    expect(again.status).toBe(2);
  });
});
