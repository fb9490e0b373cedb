import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import QRCode from 'qrcode';
import { SqliteDb } from '../src/platform/db/sqlite.js';
import { afterAll, describe, expect, it } from 'vitest';
import { openSocket } from './helpers/live.js';
import { createAccounts } from '../src/access/accounts.js';
import { base32Decode, totp } from '../src/access/totp.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { Witness } from '../src/platform/witness.js';
import { asOwner, BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

/** A browser-like client: keeps cookies, echoes the CSRF token on state-changing requests. */
class Client {
  readonly jar = new Map<string, string>();
  csrf = '';
  constructor(private readonly base: string) {}

  async req(method: string, p: string, body?: unknown, headers: Record<string, string> = {}) {
    const h: Record<string, string> = { ...headers };
    if (this.jar.size > 0) h.cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    if (body !== undefined) h['content-type'] = 'application/json';
    if (method !== 'GET' && this.csrf && !('x-csrf-token' in h)) h['x-csrf-token'] = this.csrf;
    const res = await fetch(`${this.base}/api/v1${p}`, {
      method,
      headers: h,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const cookies = res.headers.getSetCookie();
    for (const c of cookies) {
      const nv = c.split(';')[0]!;
      const i = nv.indexOf('=');
      const value = nv.slice(i + 1);
      if (value === '') this.jar.delete(nv.slice(0, i));
      else this.jar.set(nv.slice(0, i), value);
    }
    const text = await res.text();
    const json =
      (res.headers.get('content-type') ?? '').includes('json') && text ? JSON.parse(text) : undefined;
    if (typeof json?.csrfToken === 'string') this.csrf = json.csrfToken;
    return { status: res.status, body: json, cookies, headers: res.headers };
  }

  login(email: string, password: string, headers: Record<string, string> = {}) {
    return this.req('POST', '/auth/login', { tenant: 'acme', email, password }, headers);
  }
}

const ADMIN_PW = 'calibrated flow bench 42';
const TECH_PW = 'torque wrench on shelf 3';

describe.each(BACKENDS)('accounts on %s', (backend) => {
  let storage: TestStorage;
  let cloud: RunningCloud;
  const client = () => new Client(cloud.url);

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    const cfg = loadCloudConfig({}, storage.overrides);
    const store = await openStore(cfg);
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createSite('acme', 'plant-1', 'Plant 1');
    const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
    const cli = { actor: { type: 'system' as const, id: 'test' }, address: null };
    const mk = (email: string, role: 'admin' | 'manager' | 'technician' | 'auditor', password: string) =>
      accounts.users.create(cli, 'acme', { email, role, password, mustChangePassword: false });
    await mk('admin@acme.example', 'admin', ADMIN_PW);
    await mk('tech@acme.example', 'technician', TECH_PW);
    await mk('victim@acme.example', 'auditor', TECH_PW);
    await mk('manager@acme.example', 'manager', TECH_PW);
    await mk('qr@acme.example', 'auditor', TECH_PW);
    await mk('copycat@acme.example', 'auditor', TECH_PW);
    await store.db.close();
    cloud = await startCloud(
      loadCloudConfig({}, { ...storage.overrides, port: '0' }),
      pino({ level: 'silent' }),
    );
  });
  afterAll(async () => {
    await cloud?.close();
    await storage?.cleanup();
  });

  it('keeps a server-side session in HttpOnly SameSite cookies, checks CSRF, and logs out everywhere', async () => {
    const a = client();
    const b = client();
    const login = await a.login('ADMIN@acme.example', ADMIN_PW);
    expect(login.status).toBe(200);
    expect(login.body).toMatchObject({
      state: 'active',
      user: { email: 'admin@acme.example', role: 'admin' },
    });
    const session = login.cookies.find((c) => c.startsWith('rt_session='))!;
    expect(session).toMatch(/HttpOnly/i);
    expect(session).toMatch(/SameSite=Strict/i);
    expect(session).not.toMatch(/Secure/i); // plain HTTP to 127.0.0.1 only
    expect(session).toMatch(/^rt_session=acme\.[A-Za-z0-9_-]{43};/);
    expect(login.cookies.find((c) => c.startsWith('rt_csrf='))).not.toMatch(/HttpOnly/i);
    expect((await b.login('admin@acme.example', ADMIN_PW)).status).toBe(200);

    const me = await a.req('GET', '/auth/session');
    expect(me.body).toMatchObject({ state: 'active', csrfToken: a.csrf, user: { role: 'admin' } });
    expect((await a.req('GET', '/edges')).status).toBe(200);

    // A state-changing request without the session's CSRF token is refused, whatever it carries.
    const noCsrf = await a.req('POST', '/auth/logout-all', undefined, { 'x-csrf-token': '' });
    expect(noCsrf).toMatchObject({ status: 403, body: { code: 'CLOUD_CSRF' } });
    const wrong = await a.req('POST', '/auth/logout-all', undefined, { 'x-csrf-token': b.csrf });
    expect(wrong.body.code).toBe('CLOUD_CSRF');
    expect((await b.req('GET', '/auth/session')).status).toBe(200);

    const all = await a.req('POST', '/auth/logout-all');
    expect(all).toMatchObject({ status: 200, body: { revoked: 2 } });
    expect(a.jar.has('rt_session')).toBe(false);
    // b's cookie is still in b's jar, but the server revoked its session.
    expect(b.jar.has('rt_session')).toBe(true);
    expect(await b.req('GET', '/auth/session')).toMatchObject({
      status: 401,
      body: { code: 'CLOUD_UNAUTHENTICATED' },
    });
  });

  it('sets Secure __Host- cookies when the browser is not on localhost', async () => {
    const res = await client().login('admin@acme.example', ADMIN_PW, {
      'x-forwarded-host': 'cloud.plant.example',
    });
    expect(res.status).toBe(200);
    const session = res.cookies.find((c) => c.startsWith('__Host-rt_session='));
    expect(session).toMatch(/; Secure/i);
    expect(session).toMatch(/Path=\//);
  });

  it('over HTTPS reads only the __Host- session cookie, not a plain rt_session beside it', async () => {
    // From an address of its own: sign-in requests are rate-limited per address.
    const https = { 'x-forwarded-host': 'cloud.plant.example', 'x-forwarded-for': '10.77.0.9' };
    const res = await client().login('admin@acme.example', ADMIN_PW, https);
    const value = res.cookies
      .find((c) => c.startsWith('__Host-rt_session='))!
      .split(';')[0]!
      .split('=')[1]!;
    const session = (cookie: string) =>
      fetch(`${cloud.url}/api/v1/auth/session`, { headers: { ...https, cookie } });
    expect((await session(`__Host-rt_session=${value}`)).status).toBe(200);
    const plain = await session(`rt_session=${value}`);
    expect(plain.status).toBe(401);
    expect(((await plain.json()) as { code: string }).code).toBe('CLOUD_UNAUTHENTICATED');
    // The live socket reads cookies the same way.
    await expect(openSocket(cloud.url, `rt_session=${value}`, https)).rejects.toThrow();
    const ok = await openSocket(cloud.url, `__Host-rt_session=${value}`, https);
    ok.close();
  });

  it('answers an unknown account exactly like a wrong password, after the same argon2 work', async () => {
    const time = async (email: string) => {
      const t = performance.now();
      const r = await client().login(email, 'not the password at all');
      return { ms: performance.now() - t, r };
    };
    const known = await time('tech@acme.example');
    const unknown = await time('nobody@acme.example');
    const noTenant = await client().req('POST', '/auth/login', {
      tenant: 'nope',
      email: 'x@y.z',
      password: 'whatever pw',
    });
    for (const r of [known.r, unknown.r, noTenant]) {
      expect(r.status).toBe(401);
      expect(r.body).toMatchObject({
        code: 'CLOUD_LOGIN_FAILED',
        detail: 'the tenant, email or password is wrong',
      });
    }
    // Both verified a hash with the same parameters: neither answer is fast.
    expect(unknown.ms).toBeGreaterThan(known.ms * 0.4);
  });

  it('locks an account after five failures, existing or not, and says when to retry', async () => {
    for (const email of ['victim@acme.example', 'ghost@acme.example']) {
      for (let i = 0; i < 5; i++)
        expect((await client().login(email, 'wrong password here')).status).toBe(401);
      const locked = await client().login(email, TECH_PW);
      expect(locked.status).toBe(429);
      expect(locked.body.code).toBe('CLOUD_RATE_LIMITED');
      expect(Number(locked.headers.get('retry-after'))).toBeGreaterThanOrEqual(29);
    }
    // Another account from the same address is not affected.
    expect((await client().login('tech@acme.example', TECH_PW)).status).toBe(200);
  });

  it('refuses weak new passwords, ends other sessions on change, and forces a change after an admin reset', async () => {
    const tech = client();
    const other = client();
    await tech.login('tech@acme.example', TECH_PW);
    await other.login('tech@acme.example', TECH_PW);
    const weak = await tech.req('POST', '/auth/password', {
      currentPassword: TECH_PW,
      newPassword: 'Password2024!',
    });
    expect(weak).toMatchObject({ status: 400, body: { code: 'CLOUD_PASSWORD_REJECTED' } });
    const badCurrent = await tech.req('POST', '/auth/password', {
      currentPassword: 'nope nope nope',
      newPassword: 'a much better passphrase',
    });
    expect(badCurrent.body.code).toBe('CLOUD_REAUTH_FAILED');
    const changed = await tech.req('POST', '/auth/password', {
      currentPassword: TECH_PW,
      newPassword: 'a much better passphrase',
    });
    expect(changed).toMatchObject({ status: 200, body: { state: 'active' } });
    expect((await tech.req('GET', '/edges')).status).toBe(200); // the rotated session works
    expect((await other.req('GET', '/edges')).status).toBe(401);

    const admin = client();
    await admin.login('admin@acme.example', ADMIN_PW);
    const users = await admin.req('GET', '/users');
    const techId = users.body.items.find((u: { email: string }) => u.email === 'tech@acme.example').id;
    const reset = await admin.req('POST', `/users/${techId}/reset-password`);
    expect(reset.status).toBe(200);
    expect(reset.body.temporaryPassword).toMatch(/^[A-Za-z0-9]{20}$/);
    expect(reset.body.user.mustChangePassword).toBe(true);
    expect((await tech.req('GET', '/edges')).status).toBe(401); // reset ends the user's sessions

    const again = client();
    const first = await again.login('tech@acme.example', reset.body.temporaryPassword);
    expect(first.body).toMatchObject({ state: 'change_password', user: null });
    expect((await again.req('GET', '/edges')).body).toMatchObject({
      code: 'CLOUD_SESSION_INCOMPLETE',
      state: 'change_password',
    });
    const done = await again.req('POST', '/auth/password', {
      currentPassword: reset.body.temporaryPassword,
      newPassword: TECH_PW + ' again',
    });
    expect(done.body.state).toBe('active');
    expect((await again.req('GET', '/edges')).status).toBe(200);
  });

  it('enrolls TOTP, signs in in two steps, uses each backup code once, and disables only after re-authentication', async () => {
    const pw = TECH_PW + ' again';
    const tech = client();
    expect((await tech.login('tech@acme.example', pw)).body.state).toBe('active');
    expect((await tech.req('POST', '/auth/mfa/totp/enroll', { password: 'wrong one' })).status).toBe(403);
    const enroll = await tech.req('POST', '/auth/mfa/totp/enroll', { password: pw });
    expect(enroll.body.otpauthUri).toMatch(
      /^otpauth:\/\/totp\/RigTrace:acme%2Ftech%40acme\.example\?secret=[A-Z2-7]{32}&/,
    );
    const secret = base32Decode(enroll.body.secret);
    const now = Date.now() / 1000;
    expect(
      (
        await tech.req('POST', '/auth/mfa/totp/confirm', {
          code: '000000' === totp(secret, now) ? '111111' : '000000',
        })
      ).status,
    ).toBe(400);
    const confirm = await tech.req('POST', '/auth/mfa/totp/confirm', { code: totp(secret, now) });
    expect(confirm.status).toBe(200);
    const codes: string[] = confirm.body.backupCodes;
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    expect(codes[0]).toMatch(/^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$/);
    await tech.req('POST', '/auth/logout');

    const two = client();
    const step1 = await two.login('tech@acme.example', pw);
    expect(step1.body).toMatchObject({ state: 'mfa', user: null });
    expect((await two.req('GET', '/edges')).body.code).toBe('CLOUD_SESSION_INCOMPLETE');
    // The code used to confirm cannot be replayed.
    expect((await two.req('POST', '/auth/login/mfa', { code: totp(secret, now) })).status).toBe(401);
    const step2 = await two.req('POST', '/auth/login/mfa', { code: codes[0]!.toLowerCase() });
    expect(step2.body.state).toBe('active');
    expect((await two.req('GET', '/auth/session')).body.backupCodesLeft).toBe(9);
    expect((await two.req('GET', '/edges')).status).toBe(200);

    const three = client();
    await three.login('tech@acme.example', pw);
    expect((await three.req('POST', '/auth/login/mfa', { code: codes[0] })).status).toBe(401);
    expect((await three.req('POST', '/auth/login/mfa', { code: totp(secret, now + 30) })).body.state).toBe(
      'active',
    );

    const noReauth = await three.req('POST', '/auth/mfa/totp/disable', {
      password: 'not it at all',
      code: codes[1],
    });
    expect(noReauth.body.code).toBe('CLOUD_REAUTH_FAILED');
    const regen = await three.req('POST', '/auth/mfa/backup-codes', { password: pw, code: codes[1] });
    expect(regen.body.backupCodes).toHaveLength(10);
    expect(regen.body.backupCodes).not.toContain(codes[2]);
    expect((await three.req('POST', '/auth/mfa/totp/disable', { password: pw, code: codes[2] })).status).toBe(
      403,
    );
    expect(
      (await three.req('POST', '/auth/mfa/totp/disable', { password: pw, code: regen.body.backupCodes[0] }))
        .status,
    ).toBe(204);
    expect((await client().login('tech@acme.example', pw)).body.state).toBe('active');
  });

  it('returns a QR code of the otpauth URI and keeps TOTP secrets encrypted at rest', async () => {
    const sqlite = () => SqliteDb.open(path.join(storage.dataDir, 'cloud.sqlite'));
    const userRow = async (email: string) => {
      if (backend === 'postgres')
        return (
          await asOwner<any>(
            storage.databaseUrl!,
            'SELECT totp_secret, totp_pending FROM users WHERE email = $1',
            [email],
          )
        )[0];
      const db = await sqlite();
      try {
        return await db.get<any>('SELECT totp_secret, totp_pending FROM users WHERE email = ?', [email]);
      } finally {
        await db.close();
      }
    };
    const setSecret = async (email: string, value: string | null, enabled: boolean) => {
      const at = enabled ? new Date().toISOString() : null;
      if (backend === 'postgres') {
        await asOwner(
          storage.databaseUrl!,
          'UPDATE users SET totp_secret = $1, totp_enabled_at = $2 WHERE email = $3',
          [value, at, email],
        );
        return;
      }
      const db = await sqlite();
      try {
        await db.run('UPDATE users SET totp_secret = ?, totp_enabled_at = ? WHERE email = ?', [
          value,
          at,
          email,
        ]);
      } finally {
        await db.close();
      }
    };
    // Its own client address (trust proxy: loopback), so the per-address sign-in rate of the
    // other tests is not used up here.
    const OWN_ADDRESS = { 'x-forwarded-for': '10.77.0.1' };
    const u = client();
    expect((await u.login('qr@acme.example', TECH_PW, OWN_ADDRESS)).body.state).toBe('active');
    const enroll = await u.req('POST', '/auth/mfa/totp/enroll', { password: TECH_PW });
    expect(enroll.status).toBe(200);
    expect(enroll.body.qrSvg).toMatch(/^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    // The QR code is exactly that of the otpauth:// URI (the same encoder, the same options).
    expect(enroll.body.qrSvg).toBe(
      await QRCode.toString(enroll.body.otpauthUri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 }),
    );
    expect(enroll.body.qrSvg).not.toBe(
      await QRCode.toString('otpauth://totp/other', { type: 'svg', errorCorrectionLevel: 'M', margin: 2 }),
    );
    const secret = enroll.body.secret as string;
    const pending = await userRow('qr@acme.example');
    expect(pending.totp_pending).toMatch(/^v1:/);
    expect(pending.totp_pending).not.toContain(secret);
    const now = Date.now() / 1000;
    expect(
      (await u.req('POST', '/auth/mfa/totp/confirm', { code: totp(base32Decode(secret), now) })).status,
    ).toBe(200);
    const row = await userRow('qr@acme.example');
    expect(row.totp_secret).toMatch(/^v1:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]+$/);
    expect(JSON.stringify(row)).not.toContain(secret);
    const keyFile = path.join(storage.dataDir, 'secrets-key');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(keyFile, 'utf8').trim()).toMatch(/^[A-Za-z0-9+/]{43}=$/);

    // A sealed secret copied onto another user's row does not decrypt there: its codes fail.
    await setSecret('copycat@acme.example', row.totp_secret, true);
    const copycat = client();
    expect((await copycat.login('copycat@acme.example', TECH_PW, OWN_ADDRESS)).body.state).toBe('mfa');
    const stolen = await copycat.req('POST', '/auth/login/mfa', {
      code: totp(base32Decode(secret), now + 30),
    });
    expect(stolen.status).toBe(401);
    await setSecret('copycat@acme.example', null, false);

    // A secret stored in clear (before encryption at rest) still works, and is sealed at that use.
    await setSecret('qr@acme.example', secret, true);
    const again = client();
    expect((await again.login('qr@acme.example', TECH_PW, OWN_ADDRESS)).body.state).toBe('mfa');
    const mfa = await again.req('POST', '/auth/login/mfa', { code: totp(base32Decode(secret), now + 30) });
    expect(mfa.body.state).toBe('active');
    const resealed = await userRow('qr@acme.example');
    expect(resealed.totp_secret).toMatch(/^v1:/);
    expect(resealed.totp_secret).not.toBe(row.totp_secret); // a fresh IV
  });

  it('makes a role enrol MFA at sign-in when the tenant requires it, and keeps it from disabling it', async () => {
    const admin = client();
    await admin.login('admin@acme.example', ADMIN_PW);
    expect((await admin.req('GET', '/auth/session')).body.idleTimeoutSeconds).toBe(900);
    const policy = { mfaRequiredRoles: ['manager'], idleTimeoutSeconds: 600, absoluteTimeoutSeconds: 43200 };
    expect((await admin.req('PUT', '/security/policy', policy)).body).toEqual(policy);
    // The session tells the portal the tenant's idle timeout, so it warns before the cloud ends it.
    expect((await admin.req('GET', '/auth/session')).body.idleTimeoutSeconds).toBe(600);

    const m = client();
    expect((await m.login('manager@acme.example', TECH_PW)).body.state).toBe('enroll_mfa');
    expect((await m.req('GET', '/edges')).body.code).toBe('CLOUD_SESSION_INCOMPLETE');
    const enroll = await m.req('POST', '/auth/mfa/totp/enroll', {});
    const confirm = await m.req('POST', '/auth/mfa/totp/confirm', {
      code: totp(base32Decode(enroll.body.secret), Date.now() / 1000),
    });
    expect(confirm.body.state).toBe('active');
    expect((await m.req('GET', '/edges')).status).toBe(200);
    const disable = await m.req('POST', '/auth/mfa/totp/disable', {
      password: TECH_PW,
      code: confirm.body.backupCodes[0],
    });
    expect(disable).toMatchObject({ status: 403, body: { code: 'CLOUD_FORBIDDEN' } });
  });

  it('ends a session after the inactivity timeout', async () => {
    const a = client();
    await a.login('admin@acme.example', ADMIN_PW);
    expect((await a.req('GET', '/edges')).status).toBe(200);
    const store = await openStore(loadCloudConfig({}, storage.overrides));
    try {
      const past = new Date(Date.now() - 16 * 60_000).toISOString();
      await store.db.withTenant('acme', () =>
        store.db.run('UPDATE sessions SET last_seen_at = ? WHERE tenant_id = ? AND revoked_at IS NULL', [
          past,
          'acme',
        ]),
      );
    } finally {
      await store.db.close();
    }
    expect(await a.req('GET', '/edges')).toMatchObject({
      status: 401,
      body: { detail: 'the session has ended; sign in again' },
    });
  });
});
