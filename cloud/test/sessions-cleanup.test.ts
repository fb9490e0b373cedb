import path from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '@rigtrace/protocols/testing';
import { createAccounts } from '../src/access/accounts.js';
import { purgeSessions } from '../src/access/session-cleanup.js';
import { DEFAULT_THROTTLE } from '../src/access/throttle.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { SqliteDb } from '../src/platform/db/sqlite.js';
import { SessionsRepository } from '../src/access/sessions.repository.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { Witness } from '../src/platform/witness.js';
import { apiCall, signIn } from './helpers/signed-in.js';
import { asOwner, BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

const PW = 'session sweeper passphrase';
const H = 3600_000;
const ago = (ms: number) => new Date(Date.now() - ms).toISOString();

describe.each(BACKENDS)('session cleanup on %s', (backend) => {
  let storage: TestStorage;
  let cloud: RunningCloud | undefined;
  const userIds: Record<string, string> = {};

  async function sql<T = Record<string, unknown>>(
    q: string,
    params: (string | number | null)[] = [],
  ): Promise<T[]> {
    if (backend === 'postgres') {
      let n = 0;
      return asOwner(
        storage.databaseUrl!,
        q.replace(/\?/g, () => `$${++n}`),
        params,
      ) as Promise<T[]>;
    }
    const db = await SqliteDb.open(path.join(storage.dataDir, 'cloud.sqlite'));
    try {
      return await db.all<T>(q, params);
    } finally {
      await db.close();
    }
  }

  /** Rows that must go (old) and rows that must stay (recent, live, or locked), in two tenants. */
  async function seedStale() {
    const session = (
      tenant: string,
      id: string,
      o: { expires: string; revoked: string | null; seen: string },
    ) =>
      sql(
        `INSERT INTO sessions (tenant_id, id_hash, user_id, state, csrf_token, created_at, last_seen_at, expires_at, revoked_at)
         VALUES (?, ?, ?, 'active', 'x', ?, ?, ?, ?)`,
        [tenant, id, userIds[tenant]!, ago(10 * 24 * H), o.seen, o.expires, o.revoked],
      );
    for (const t of ['acme', 'other']) {
      await session(t, `${t}-expired-long-ago`, { expires: ago(48 * H), revoked: null, seen: ago(49 * H) });
      await session(t, `${t}-revoked-long-ago`, {
        expires: ago(-5 * H),
        revoked: ago(30 * H),
        seen: ago(30 * H),
      });
      await session(t, `${t}-idle-for-days`, { expires: ago(-5 * H), revoked: null, seen: ago(60 * H) });
      await session(t, `${t}-revoked-recently`, { expires: ago(-5 * H), revoked: ago(H), seen: ago(H) });
      await session(t, `${t}-expired-recently`, { expires: ago(H), revoked: null, seen: ago(2 * H) });
    }
    const throttle = (key: string, windowStart: string, lockedUntil: string | null) =>
      sql('INSERT INTO auth_throttle (key, count, window_start, locked_until) VALUES (?, 3, ?, ?)', [
        key,
        windowStart,
        lockedUntil,
      ]);
    await throttle('acct:stale', ago(2 * H), null);
    await throttle('acct:stale-lock-over', ago(2 * H), ago(H));
    await throttle('acct:locked', ago(2 * H), ago(-10 * 60_000));
    await throttle('acct:fresh', ago(60_000), null);
  }
  const sessionIds = async () =>
    (
      await sql<{ id_hash: string }>("SELECT id_hash FROM sessions WHERE id_hash LIKE '%-%' ORDER BY id_hash")
    ).map((r) => r.id_hash);
  const throttleKeys = async () =>
    (await sql<{ key: string }>("SELECT key FROM auth_throttle WHERE key LIKE 'acct:%' ORDER BY key")).map(
      (r) => r.key,
    );
  const KEPT_SESSIONS = [
    'acme-expired-recently',
    'acme-revoked-recently',
    'other-expired-recently',
    'other-revoked-recently',
  ];
  const KEPT_THROTTLE = ['acct:fresh', 'acct:locked'];

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    const cfg = loadCloudConfig({}, storage.overrides);
    const store = await openStore(cfg);
    const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
    for (const t of ['acme', 'other']) {
      await store.tenancy.createTenant(t, t);
      const u = await accounts.users.create({ actor: { type: 'system', id: 'test' }, address: null }, t, {
        email: `user@${t}.example`,
        role: 'auditor',
        password: PW,
        mustChangePassword: false,
      });
      userIds[t] = u.user.id;
    }
    await store.db.close();
  });
  afterAll(async () => {
    await cloud?.close();
    await storage?.cleanup();
  });

  it('purges ended sessions of every tenant and stale throttle rows, keeping recent and live ones', async () => {
    await seedStale();
    const store = await openStore(loadCloudConfig({}, storage.overrides));
    try {
      const out = await purgeSessions(new SessionsRepository(store.db), DEFAULT_THROTTLE);
      expect(out).toEqual({ sessions: 6, throttle: 2 });
    } finally {
      await store.db.close();
    }
    expect(await sessionIds()).toEqual(KEPT_SESSIONS);
    expect(await throttleKeys()).toEqual(KEPT_THROTTLE);
  });

  it('runs on a timer in the cloud process and stops with it', async () => {
    await sql("DELETE FROM sessions WHERE id_hash LIKE '%-%'");
    await sql("DELETE FROM auth_throttle WHERE key LIKE 'acct:%'");
    await seedStale();
    cloud = await startCloud(
      loadCloudConfig({}, { ...storage.overrides, port: '0', sessionCleanupSeconds: '1' }),
      pino({ level: 'silent' }),
    );
    const live = await signIn(cloud.url, 'acme', 'user@acme.example', PW);
    await waitFor(
      async () => (await sessionIds()).length === KEPT_SESSIONS.length,
      20_000,
      'the cleanup job to run',
    );
    expect(await sessionIds()).toEqual(KEPT_SESSIONS);
    await waitFor(
      async () => (await throttleKeys()).length === KEPT_THROTTLE.length,
      20_000,
      'throttle rows purged',
    );
    expect(await throttleKeys()).toEqual(KEPT_THROTTLE);
    // The signed-in session is untouched.
    expect((await apiCall(cloud.url, live, 'GET', '/auth/session')).status).toBe(200);
    await cloud.close();
    cloud = undefined;
  });
});
