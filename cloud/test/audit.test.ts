import pg from 'pg';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { canonicalJson, fromBase64, leafHashOfText, toBase64, verifyCheckpoint } from '@rigtrace/protocols';
import { createAccounts } from '../src/access/accounts.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { Witness } from '../src/platform/witness.js';
import { TestEdge } from './helpers/edge.js';
import { asOwner, BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

const ADMIN_PW = 'audit trail is append only';

describe.each(BACKENDS)('audit trail on %s', (backend) => {
  let storage: TestStorage;
  let cloud: RunningCloud;
  let enrollToken = '';
  let apiToken = '';
  let cookie = '';
  let csrf = '';

  async function call(method: string, p: string, body?: unknown, auth: 'session' | 'token' = 'session') {
    const headers: Record<string, string> =
      auth === 'session' ? { cookie, 'x-csrf-token': csrf } : { authorization: `Bearer ${apiToken}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${cloud.url}/api/v1${p}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    const isJson =
      /json/.test(res.headers.get('content-type') ?? '') &&
      !/ndjson/.test(res.headers.get('content-type') ?? '');
    return { status: res.status, text, body: isJson ? JSON.parse(text) : undefined };
  }

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    const cfg = loadCloudConfig({}, storage.overrides);
    const store = await openStore(cfg);
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createSite('acme', 'plant-1', 'Plant 1');
    enrollToken = (await store.tenancy.createEnrollmentToken('acme', 'plant-1', 3600_000)).token;
    apiToken = await store.tenancy.createApiToken('acme', 'siem');
    const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
    await accounts.users.create({ actor: { type: 'system', id: 'cli' }, address: null }, 'acme', {
      email: 'admin@acme.example',
      role: 'admin',
      password: ADMIN_PW,
      mustChangePassword: false,
    });
    await store.db.close();
    cloud = await startCloud(
      loadCloudConfig({}, { ...storage.overrides, port: '0' }),
      pino({ level: 'silent' }),
    );
    const res = await fetch(`${cloud.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenant: 'acme', email: 'admin@acme.example', password: ADMIN_PW }),
    });
    cookie = res.headers.getSetCookie()[0]!.split(';')[0]!;
    csrf = ((await res.json()) as { csrfToken: string }).csrfToken;
  });
  afterAll(async () => {
    await cloud?.close();
    await storage?.cleanup();
  });

  it('records user actions with actor, address, before and after, and refused ingests', async () => {
    const created = await call('POST', '/users', { email: 'tech@acme.example', role: 'technician' });
    expect(created.status).toBe(201);
    expect(created.body.initialPassword).toMatch(/^[A-Za-z0-9]{20}$/);
    const id = created.body.user.id;
    expect((await call('PUT', `/users/${id}/role`, { role: 'manager', sites: ['plant-1'] })).status).toBe(
      200,
    );
    await fetch(`${cloud.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenant: 'acme', email: 'admin@acme.example', password: 'wrong wrong wrong' }),
    });
    // An enrolled edge whose batch is signed by another key: refused, and on the audit trail.
    const edge = await new TestEdge(cloud.url).enroll(enrollToken, 'line-1');
    const refused = await edge.post(edge.forge(edge.examples(2)).batch);
    expect(refused.status).toBe(422);

    const page = await call('GET', '/audit?limit=1000', undefined, 'token');
    expect(page.status).toBe(200);
    const entries = page.body.items.map((i: any) => i.entry);
    expect(entries.map((e: any) => e.seq)).toEqual(entries.map((_: unknown, i: number) => i + 1));
    expect(entries.map((e: any) => `${e.action}:${e.outcome}`)).toEqual([
      'user.create:success',
      'auth.login:success',
      'user.create:success',
      'user.role.change:success',
      'auth.login:failure',
      'security.ingest_refused:failure',
    ]);
    const change = entries[3];
    expect(change).toMatchObject({
      tenant: 'acme',
      actor: { type: 'user', email: 'admin@acme.example', role: 'admin' },
      address: expect.stringMatching(/127\.0\.0\.1/),
      target: { type: 'user', id },
      before: { role: 'technician', sites: null },
      after: { role: 'manager', sites: ['plant-1'] },
    });
    expect(Date.parse(change.at)).toBeGreaterThan(Date.now() - 60_000);
    expect(entries[5].actor).toEqual({ type: 'edge', id: edge.id });
  });

  it('verifies: every checkpoint is signed by the witness key and the recomputed root matches', async () => {
    const v = await call('GET', '/audit/verify', undefined, 'token');
    expect(v.body).toMatchObject({ ok: true, size: 6 });
    const witness = (await fetch(`${cloud.url}/api/v1/witness`).then((r) => r.json())) as {
      name: string;
      publicKey: string;
    };
    const cp = verifyCheckpoint(v.body.checkpoint, witness.name, fromBase64(witness.publicKey));
    expect(cp.ok).toBe(true);
    if (cp.ok) {
      expect(cp.checkpoint).toMatchObject({ origin: 'rigtrace-cloud/audit/acme', size: 6 });
      expect(toBase64(cp.checkpoint.root)).toBe(v.body.root);
    }

    const exp = await call('GET', '/audit/export?afterSeq=2', undefined, 'token');
    expect(exp.status).toBe(200);
    const lines = exp.text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    // Entries 3..6, then the export itself (audited before it is written).
    expect(lines.map((l) => l.seq)).toEqual([3, 4, 5, 6, 7]);
    expect(lines[4].entry).toMatchObject({
      action: 'audit.export',
      actor: { type: 'api-token', role: 'auditor' },
    });
    expect(toBase64(leafHashOfText(canonicalJson(lines[0].entry)))).toBe(lines[0].leafHash);
  });

  it('refuses UPDATE and DELETE on the audit log in the database itself', async () => {
    if (backend === 'postgres') {
      // Even the owner (a superuser here) is stopped by the trigger.
      await expect(
        asOwner(storage.databaseUrl!, "UPDATE audit_log SET action = 'x' WHERE seq = 1"),
      ).rejects.toThrow(/append-only/);
      await expect(asOwner(storage.databaseUrl!, 'DELETE FROM audit_log WHERE seq = 1')).rejects.toThrow(
        /append-only/,
      );
      await expect(asOwner(storage.databaseUrl!, 'TRUNCATE audit_log')).rejects.toThrow(/append-only/);
    }
    const store = await openStore(loadCloudConfig({}, storage.overrides));
    try {
      for (const sql of [
        "UPDATE audit_log SET action = 'x' WHERE tenant_id = ?",
        'DELETE FROM audit_log WHERE tenant_id = ?',
      ])
        await expect(store.db.withTenant('acme', () => store.db.run(sql, ['acme']))).rejects.toThrow(
          /append-only|permission denied/,
        );
    } finally {
      await store.db.close();
    }
  });

  it('names the first entry that was changed, even with its leaf hash recomputed', async () => {
    const rows = await call('GET', '/audit?afterSeq=3&limit=1', undefined, 'token');
    const entry = { ...rows.body.items[0].entry, after: { role: 'admin', sites: null } };
    const text = canonicalJson(entry);
    const leaf = Buffer.from(leafHashOfText(text));
    if (backend === 'postgres') {
      const c = new pg.Client({ connectionString: storage.databaseUrl });
      await c.connect();
      try {
        await c.query('SET session_replication_role = replica'); // an attacker with superuser: triggers off
        await c.query('UPDATE audit_log SET entry = $1, leaf_hash = $2 WHERE seq = 4', [text, leaf]);
      } finally {
        await c.end();
      }
    } else {
      const store = await openStore(loadCloudConfig({}, storage.overrides));
      try {
        await store.db.exec('DROP TRIGGER audit_log_no_update'); // an attacker with the file
        await store.db.run('UPDATE audit_log SET entry = ?, leaf_hash = ? WHERE seq = 4', [text, leaf]);
      } finally {
        await store.db.close();
      }
    }
    const v = await call('GET', '/audit/verify', undefined, 'token');
    expect(v.body).toMatchObject({
      ok: false,
      verified: 3,
      firstBad: { seq: 4, reason: 'the log up to this entry does not match its signed checkpoint' },
    });
  });
});
