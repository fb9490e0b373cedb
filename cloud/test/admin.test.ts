import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { toBase64 } from '@rigtrace/protocols';
import { createAccounts } from '../src/access/accounts.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { Witness } from '../src/platform/witness.js';
import { TestEdge } from './helpers/edge.js';
import { asOwner, BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

/**
 * The admin API against a real cloud on both backends: sites, enrollment tokens shown once and
 * listed by state, the edges' health with the backlog the edge reports on ingest, verifying an
 * edge's stored log (and naming the first tampered record), API tokens created, used and revoked,
 * every action on the audit trail, and nothing across tenants.
 */

const PW = 'fleet console passphrase';
type Store = Awaited<ReturnType<typeof openStore>>;

describe.each(BACKENDS)('admin API on %s', (backend) => {
  let storage: TestStorage;
  let cloud: RunningCloud;
  let store: Store;
  const sessions = new Map<string, { cookie: string; csrf: string }>();
  let edge: TestEdge;
  let edgeId = '';

  async function as(
    who: string,
    method: string,
    p: string,
    body?: unknown,
    extra: Record<string, string> = {},
  ) {
    const headers: Record<string, string> = { ...extra };
    const s = sessions.get(who);
    if (s) {
      headers.cookie = s.cookie;
      headers['x-csrf-token'] = s.csrf;
    }
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${cloud.url}/api/v1${p}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }
  const bearer = (token: string, p: string) =>
    fetch(`${cloud.url}/api/v1${p}`, { headers: { authorization: `Bearer ${token}` } });
  const auditActions = async () => {
    const r = await as('admin', 'GET', '/audit?limit=1000');
    return (r.body.items as { entry: { action: string; outcome: string; target?: { id: string } } }[]).map(
      (i) => i.entry,
    );
  };
  /** Sends the edge's next batch of `n` records, with an optional backlog header. */
  async function ingest(n: number, backlog?: string) {
    const r = await edge.send(
      edge.examples(n, { kinds: ['telemetry', 'event'] }),
      undefined,
      backlog !== undefined ? { 'x-rigtrace-backlog': backlog } : {},
    );
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  }
  /** The owner's view (bypasses the app role's append-only grants): for tampering on purpose. */
  const tamper = async (sql: string, params: unknown[]) => {
    let n = 0;
    if (backend === 'postgres')
      await asOwner(
        storage.databaseUrl!,
        sql.replace(/\?/g, () => `$${++n}`),
        params,
      );
    else await store.db.run(sql, params as string[]);
  };

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    const cfg = loadCloudConfig({}, storage.overrides);
    store = await openStore(cfg);
    const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
    const by = { actor: { type: 'system' as const, id: 'test' }, address: null };
    for (const tenant of ['acme', 'other']) {
      await store.tenancy.createTenant(tenant, tenant);
      await store.tenancy.createSite(tenant, 'plant-1', 'Plant 1');
      await accounts.users.create(by, tenant, {
        email: `admin@${tenant}.example`,
        role: 'admin',
        password: PW,
        mustChangePassword: false,
      });
    }
    for (const role of ['auditor', 'manager'] as const)
      await accounts.users.create(by, 'acme', {
        email: `${role}@acme.example`,
        role,
        password: PW,
        mustChangePassword: false,
      });
    cloud = await startCloud(
      loadCloudConfig({}, { ...storage.overrides, port: '0', publicUrl: 'https://rt.acme.example/' }),
      pino({ level: 'silent' }),
    );
    for (const [who, tenant, email] of [
      ['admin', 'acme', 'admin@acme.example'],
      ['auditor', 'acme', 'auditor@acme.example'],
      ['manager', 'acme', 'manager@acme.example'],
      ['other', 'other', 'admin@other.example'],
    ] as const) {
      const res = await fetch(`${cloud.url}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ tenant, email, password: PW }),
      });
      const body = (await res.json()) as { csrfToken: string; state: string };
      expect(body.state).toBe('active');
      sessions.set(who, { cookie: res.headers.getSetCookie()[0]!.split(';')[0]!, csrf: body.csrfToken });
    }
  });
  afterAll(async () => {
    await cloud?.close();
    await store?.db.close();
    await storage?.cleanup();
  });

  it('creates and lists sites, refusing a bad id and a duplicate without changing anything', async () => {
    const created = await as('admin', 'POST', '/sites', { id: 'plant-2', name: 'Plant 2 — assembly' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: 'plant-2', name: 'Plant 2 — assembly', edges: 0 });
    expect((await as('admin', 'POST', '/sites', { id: 'Plant 3', name: 'x' })).body.code).toBe(
      'CLOUD_VALIDATION',
    );
    const dup = await as('admin', 'POST', '/sites', { id: 'plant-2', name: 'again' });
    expect([dup.status, dup.body.code]).toEqual([409, 'CLOUD_CONFLICT']);
    const list = await as('admin', 'GET', '/sites');
    expect(list.body.items.map((s: { id: string; name: string }) => [s.id, s.name])).toEqual([
      ['plant-1', 'Plant 1'],
      ['plant-2', 'Plant 2 — assembly'],
    ]);
    // The other tenant sees only its own site.
    expect((await as('other', 'GET', '/sites')).body.items.map((s: { id: string }) => s.id)).toEqual([
      'plant-1',
    ]);
    expect((await as('manager', 'GET', '/sites')).body.code).toBe('CLOUD_FORBIDDEN');
    const audit = await auditActions();
    expect(audit.filter((e) => e.action === 'site.create').map((e) => e.target?.id)).toEqual(['plant-2']);
  });

  it('shows an enrollment token once, lists tokens by state without the token, and the token enrolls an edge once', async () => {
    const made = await as('admin', 'POST', '/sites/plant-1/enrollment-tokens', { expiresInHours: 2 });
    expect(made.status).toBe(201);
    expect(made.body.token).toMatch(/^rt_enr_[A-Za-z0-9_-]{43}$/);
    // What to run on the line PC: the edge's service user, and the cloud's public URL (not this
    // test's loopback address).
    expect(made.body.command).toBe(
      `sudo -u rigtrace rigtrace-edge enroll --config /etc/rigtrace/edge.yaml --cloud https://rt.acme.example --token ${made.body.token}`,
    );
    const hours = (Date.parse(made.body.expiresAt) - Date.now()) / 3600_000;
    expect(hours).toBeGreaterThan(1.9);
    expect(hours).toBeLessThanOrEqual(2);
    await store.tenancy.createEnrollmentToken('acme', 'plant-1', -60_000); // already expired
    expect(
      (await as('admin', 'POST', '/sites/plant-1/enrollment-tokens', { expiresInHours: 0 })).status,
    ).toBe(400);
    expect((await as('admin', 'POST', '/sites/nowhere/enrollment-tokens', {})).status).toBe(404);

    edge = await new TestEdge(cloud.url).enroll(made.body.token, 'line-1'); // anything but 201 throws
    edgeId = edge.id;

    const list = await as('admin', 'GET', '/sites/plant-1/enrollment-tokens');
    expect(list.status).toBe(200);
    expect(JSON.stringify(list.body)).not.toContain(made.body.token);
    expect(list.body.items.map((t: { state: string }) => t.state).sort()).toEqual(['expired', 'used']);
    const used = list.body.items.find((t: { id: string }) => t.id === made.body.id);
    expect(used).toMatchObject({ state: 'used', usedByEdge: edgeId, siteId: 'plant-1' });
    // Another tenant's admin cannot list this site's tokens: its plant-1 is its own.
    expect((await as('other', 'GET', '/sites/plant-1/enrollment-tokens')).body.items).toEqual([]);
    expect((await auditActions()).filter((e) => e.action === 'enrollment_token.create')).toHaveLength(1);
  });

  it("shows each edge's last contact, acknowledged seq, records in the last hour and reported backlog", async () => {
    const before = await as('admin', 'GET', '/admin/edges');
    expect(before.body.items).toEqual([
      expect.objectContaining({
        id: edgeId,
        lastAckedSeq: 0,
        recordsLastHour: 0,
        backlog: null,
        lastContactAt: null,
      }),
    ]);
    await ingest(5, '42');
    await ingest(3, 'not a number');
    const after = (await as('admin', 'GET', '/admin/edges')).body.items[0];
    expect(after).toMatchObject({
      id: edgeId,
      siteId: 'plant-1',
      name: 'line-1',
      lastAckedSeq: 8,
      recordsLastHour: 8,
    });
    // A header that is not a count is ignored: the last good report stays.
    expect(after.backlog).toBe(42);
    expect(Date.now() - Date.parse(after.lastContactAt)).toBeLessThan(60_000);
    await ingest(2, '7');
    expect((await as('admin', 'GET', '/admin/edges')).body.items[0]).toMatchObject({
      lastAckedSeq: 10,
      backlog: 7,
    });
    // A refused batch (wrong key) changes nothing, header or not.
    const forged = edge.forge(edge.examples(1, { from: 11 }));
    const refused = await edge.post(forged.batch, undefined, { 'x-rigtrace-backlog': '999' });
    expect(refused.status).toBe(422);
    expect((await as('admin', 'GET', '/admin/edges')).body.items[0]).toMatchObject({
      lastAckedSeq: 10,
      backlog: 7,
    });
    expect((await as('admin', 'GET', '/admin/edges?site=plant-2')).body.items).toEqual([]);
    expect((await as('other', 'GET', '/admin/edges')).body.items).toEqual([]);
    expect((await as('auditor', 'GET', '/admin/edges')).body.code).toBe('CLOUD_FORBIDDEN');
  });

  it('verifies a stored log, and names the first record changed behind its back', async () => {
    const good = await as('auditor', 'POST', `/edges/${edgeId}/verify`);
    expect(good.status).toBe(200);
    expect(good.body).toMatchObject({
      ok: true,
      edgeId,
      size: 10,
      verifiedRecords: 10,
      verifiedCheckpoints: 3,
    });
    expect(good.body.root).toBe(toBase64(edge.state!.root));
    expect((await as('other', 'POST', `/edges/${edgeId}/verify`)).status).toBe(404);
    expect((await as('manager', 'POST', `/edges/${edgeId}/verify`)).body.code).toBe('CLOUD_FORBIDDEN');

    // Someone with database access edits record 7's JSON.
    const row = (
      await store.db.withTenant('acme', () =>
        store.db.all<{ json: string }>(
          'SELECT json FROM records WHERE tenant_id = ? AND edge_id = ? AND seq = 7',
          ['acme', edgeId],
        ),
      )
    )[0]!;
    const original = row.json;
    const changed = original.replace('"seq":7', '"seq":7,"x":1');
    expect(changed).not.toBe(original);
    await tamper('UPDATE records SET json = ? WHERE tenant_id = ? AND edge_id = ? AND seq = ?', [
      changed,
      'acme',
      edgeId,
      7,
    ]);
    const bad = await as('admin', 'POST', `/edges/${edgeId}/verify`);
    expect(bad.body).toMatchObject({ ok: false, verifiedRecords: 6, verifiedCheckpoints: 1 });
    expect(bad.body.problem.seq).toBe(7);
    expect(['RECORD_NOT_CANONICAL', 'LEAF_HASH_MISMATCH']).toContain(bad.body.problem.code);

    // Canonical and with a matching leaf hash, but not what was signed: the root is wrong.
    const { canonicalJson, leafHashOfText } = await import('@rigtrace/protocols');
    const canonical = canonicalJson({ ...JSON.parse(original), observedAt: '2020-01-01T00:00:00.000Z' });
    const leaf = Buffer.from(leafHashOfText(canonical));
    await tamper(
      'UPDATE records SET json = ?, leaf_hash = ? WHERE tenant_id = ? AND edge_id = ? AND seq = ?',
      [canonical, leaf, 'acme', edgeId, 7],
    );
    // On PostgreSQL the log's leaves are kept apart from the monthly records (record_log): with
    // only the record's own leaf_hash changed, the stored leaf no longer matches the JSON.
    if (backend === 'postgres') {
      const leafOnly = await as('admin', 'POST', `/edges/${edgeId}/verify`);
      expect(leafOnly.body.problem).toMatchObject({ code: 'LEAF_HASH_MISMATCH', seq: 7 });
      await tamper('UPDATE record_log SET leaf_hash = ? WHERE tenant_id = ? AND edge_id = ? AND seq = ?', [
        leaf,
        'acme',
        edgeId,
        7,
      ]);
    }
    const wrongRoot = await as('admin', 'POST', `/edges/${edgeId}/verify`);
    expect(wrongRoot.body).toMatchObject({ ok: false, verifiedCheckpoints: 1 });
    expect(wrongRoot.body.problem).toMatchObject({ code: 'ROOT_MISMATCH', checkpointSize: 8 });

    const verifies = (await auditActions()).filter((e) => e.action === 'edge.verify');
    expect(verifies.map((e) => e.outcome)).toEqual(
      backend === 'postgres'
        ? ['success', 'failure', 'failure', 'failure']
        : ['success', 'failure', 'failure'],
    );
  });

  it('creates an API token shown once, lists it without the token, and revokes it at once', async () => {
    const made = await as('admin', 'POST', '/api-tokens', { name: 'SIEM export' });
    expect(made.status).toBe(201);
    expect(made.body.token).toMatch(/^rt_api_/);
    expect(made.body.id).toMatch(/^[0-9a-f]{16}$/);
    expect((await bearer(made.body.token, '/edges')).status).toBe(200);
    const list = await as('admin', 'GET', '/api-tokens');
    expect(JSON.stringify(list.body)).not.toContain(made.body.token);
    expect(list.body.items).toEqual([
      expect.objectContaining({ id: made.body.id, name: 'SIEM export', revokedAt: null }),
    ]);
    // An API token is a read-only auditor: it cannot mint tokens.
    const minted = await fetch(`${cloud.url}/api/v1/api-tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${made.body.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'sneaky' }),
    });
    expect(minted.status).toBe(403);
    expect((await as('admin', 'POST', '/api-tokens', { name: '' })).status).toBe(400);
    // Another tenant's admin cannot revoke it.
    expect((await as('other', 'DELETE', `/api-tokens/${made.body.id}`)).status).toBe(404);
    expect((await bearer(made.body.token, '/edges')).status).toBe(200);

    expect((await as('admin', 'DELETE', `/api-tokens/${made.body.id}`)).status).toBe(204);
    expect((await bearer(made.body.token, '/edges')).status).toBe(401);
    expect((await as('admin', 'DELETE', `/api-tokens/${made.body.id}`)).status).toBe(404);
    expect((await as('admin', 'GET', '/api-tokens')).body.items[0].revokedAt).not.toBeNull();
    const audit = await auditActions();
    expect(audit.filter((e) => e.action.startsWith('api_token.')).map((e) => e.action)).toEqual([
      'api_token.create',
      'api_token.revoke',
    ]);
    // The trail, with all these entries, still verifies.
    expect((await as('admin', 'GET', '/audit/verify')).body.ok).toBe(true);
  });
  it('gives a site a time zone, refusing one that is not an IANA zone', async () => {
    expect((await as('admin', 'GET', '/sites')).body.items[0]).toMatchObject({
      id: 'plant-1',
      timeZone: 'UTC',
    });
    const bad = await as('admin', 'PUT', '/sites/plant-1', { timeZone: 'Mars/Olympus' });
    expect([bad.status, bad.body.errors?.[0]?.path]).toEqual([400, 'timeZone']);
    const set = await as('admin', 'PUT', '/sites/plant-1', { timeZone: 'Europe/Berlin' });
    expect(set.body).toMatchObject({ id: 'plant-1', name: 'Plant 1', timeZone: 'Europe/Berlin' });
    const made = await as('admin', 'POST', '/sites', {
      id: 'plant-3',
      name: 'Plant 3',
      timeZone: 'America/Chicago',
    });
    expect(made.body.timeZone).toBe('America/Chicago');
    // The session tells every user the time zones of the sites they see.
    const session = await as('manager', 'GET', '/auth/session');
    expect(session.body.sites).toEqual(
      expect.arrayContaining([{ id: 'plant-1', name: 'Plant 1', timeZone: 'Europe/Berlin' }]),
    );
    expect((await as('manager', 'PUT', '/sites/plant-1', { timeZone: 'UTC' })).body.code).toBe(
      'CLOUD_FORBIDDEN',
    );
    expect((await as('other', 'PUT', '/sites/plant-3', { timeZone: 'UTC' })).status).toBe(404);
    const audit = (await auditActions()).filter((e) => e.action === 'site.update');
    expect(audit.map((e) => e.target?.id)).toEqual(['plant-1']);
  });

  it('revokes an unused enrollment token: it no longer enrolls; a used one cannot be revoked', async () => {
    const made = await as('admin', 'POST', '/sites/plant-1/enrollment-tokens', { expiresInHours: 2 });
    const revoked = await as('admin', 'DELETE', `/sites/plant-1/enrollment-tokens/${made.body.id}`);
    expect(revoked.status).toBe(204);
    const listed = (await as('admin', 'GET', '/sites/plant-1/enrollment-tokens')).body.items.find(
      (t: { id: string }) => t.id === made.body.id,
    );
    expect(listed).toMatchObject({ state: 'revoked' });
    expect(Date.now() - Date.parse(listed.revokedAt)).toBeLessThan(60_000);
    await expect(new TestEdge(cloud.url).enroll(made.body.token, 'x')).rejects.toThrow(
      /^enrollment failed: 403 /,
    );
    expect((await as('admin', 'DELETE', `/sites/plant-1/enrollment-tokens/${made.body.id}`)).status).toBe(
      409,
    );
    const used = (await as('admin', 'GET', '/sites/plant-1/enrollment-tokens')).body.items.find(
      (t: { state: string }) => t.state === 'used',
    );
    expect((await as('admin', 'DELETE', `/sites/plant-1/enrollment-tokens/${used.id}`)).status).toBe(409);
    expect((await as('other', 'DELETE', `/sites/plant-1/enrollment-tokens/${made.body.id}`)).status).toBe(
      404,
    );
    expect(
      (await as('manager', 'DELETE', `/sites/plant-1/enrollment-tokens/${made.body.id}`)).body.code,
    ).toBe('CLOUD_FORBIDDEN');
    expect(
      (await auditActions()).filter((e) => e.action === 'enrollment_token.revoke').map((e) => e.target?.id),
    ).toEqual([made.body.id]);
  });

  it('retires an edge: its key is refused from then on, its records stay', async () => {
    const before = (await as('admin', 'GET', `/edges/${edgeId}`)).body;
    expect((await as('other', 'POST', `/admin/edges/${edgeId}/retire`)).status).toBe(404);
    expect((await as('manager', 'POST', `/admin/edges/${edgeId}/retire`)).body.code).toBe('CLOUD_FORBIDDEN');
    const retired = await as('admin', 'POST', `/admin/edges/${edgeId}/retire`);
    expect(retired.status).toBe(200);
    expect(retired.body).toMatchObject({ id: edgeId, siteId: 'plant-1' });
    expect((await as('admin', 'POST', `/admin/edges/${edgeId}/retire`)).status).toBe(409);
    expect((await as('admin', 'GET', '/admin/edges')).body.items[0].retiredAt).toBe(retired.body.retiredAt);
    // A correctly signed next batch is refused now, as a security event.
    const refused = await edge.send(edge.examples(1, { from: 11, kinds: ['telemetry'] }));
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('CLOUD_EDGE_RETIRED');
    const after = (await as('admin', 'GET', `/edges/${edgeId}`)).body;
    expect(after.log.size).toBe(before.log.size);
    expect((await as('admin', 'GET', `/records?edge=${edgeId}&limit=1000`)).body.items.length).toBe(
      before.log.size,
    );
    const audit = await auditActions();
    expect(audit.filter((e) => e.action === 'edge.retire').map((e) => e.target?.id)).toEqual([edgeId]);
    expect(audit.some((e) => e.action === 'security.ingest_retired_edge' && e.outcome === 'failure')).toBe(
      true,
    );
  });
});
