import { randomBytes } from 'node:crypto';
import pg from 'pg';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '@rigtrace/protocols/testing';
import { createAccounts } from '../src/access/accounts.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { Witness } from '../src/platform/witness.js';
import { openSocket, signIn, TestEdge, type TestSocket } from './helpers/live.js';
import { BACKENDS, PG_ADMIN_URL, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

const PW = 'operability passphrase';

/** Every sample line of a Prometheus text exposition, parsed; throws on a line that is not one. */
function parseMetrics(text: string) {
  const samples: { name: string; labels: Record<string, string>; value: number }[] = [];
  const help = new Set<string>();
  const type = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+$/.exec(line);
    if (m) {
      help.add(m[1]!);
      continue;
    }
    m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (m) {
      type.set(m[1]!, m[2]!);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+]+|NaN|\+Inf|-Inf)$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]!] = l[2]!;
    const family = m[1]!.replace(/_(bucket|sum|count)$/, '');
    if (!type.has(m[1]!) && !type.has(family)) throw new Error(`no TYPE before ${m[1]}`);
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  const value = (name: string, labels: Record<string, string> = {}) =>
    samples
      .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      .reduce((n, s) => n + s.value, 0);
  const has = (name: string) => samples.some((s) => s.name === name);
  return { samples, help, type, value, has };
}

describe.each(BACKENDS)('operability on %s', (backend) => {
  let storage: TestStorage;
  let cloud: RunningCloud;
  let overrides: Record<string, string>;
  let enrollToken = '';
  let cookie = '';
  const sockets: TestSocket[] = [];
  const others: RunningCloud[] = [];

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    overrides = { ...storage.overrides, port: '0', remindersScheduler: 'off' };
    const cfg = loadCloudConfig({}, overrides);
    const store = await openStore(cfg);
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createSite('acme', 'plant-1', 'Plant 1');
    enrollToken = (await store.tenancy.createEnrollmentToken('acme', 'plant-1', 3600_000)).token;
    const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
    await accounts.users.create({ actor: { type: 'system', id: 'test' }, address: null }, 'acme', {
      email: 'admin@acme.example',
      role: 'admin',
      password: PW,
      mustChangePassword: false,
    });
    await store.db.close();
    cloud = await startCloud(loadCloudConfig({}, overrides), pino({ level: 'silent' }));
    cookie = (await signIn(cloud.url, 'acme', 'admin@acme.example', PW)).cookie;
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    for (const c of others) await c.close();
    await cloud?.close();
    await storage?.cleanup();
  });

  it('answers /healthz and /readyz at the root', async () => {
    const h = await fetch(`${cloud.url}/healthz`);
    expect(h.status).toBe(200);
    expect(await h.json()).toEqual({ status: 'ok' });
    const r = await fetch(`${cloud.url}/readyz`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ status: 'ready', checks: { database: 'ok', redis: 'not configured' } });
    // Not under the API prefix.
    expect((await fetch(`${cloud.url}/api/v1/readyz`)).status).toBe(404);
  });

  it('is not ready while a configured Redis is unreachable, and ready once it is', async () => {
    const down = await startCloud(
      loadCloudConfig({}, { ...overrides, redisUrl: 'redis://127.0.0.1:1', redisKeyPrefix: 'rt-ops-down' }),
      pino({ level: 'silent' }),
    );
    others.push(down);
    const r = await fetch(`${down.url}/readyz`);
    expect(r.status).toBe(503);
    expect(r.headers.get('content-type')).toContain('application/problem+json');
    const body = (await r.json()) as { code: string; checks: Record<string, string>; detail: string };
    expect(body.code).toBe('CLOUD_NOT_READY');
    expect(body.checks).toEqual({ database: 'ok', redis: 'unavailable' });
    expect(body.detail).toMatch(/^redis: /);
    expect((await fetch(`${down.url}/healthz`)).status).toBe(200);

    const up = await startCloud(
      loadCloudConfig(
        {},
        {
          ...overrides,
          redisUrl: 'redis://127.0.0.1:6379',
          redisKeyPrefix: `rt-ops-${randomBytes(4).toString('hex')}`,
        },
      ),
      pino({ level: 'silent' }),
    );
    others.push(up);
    const ready = await waitFor(
      async () => {
        const res = await fetch(`${up.url}/readyz`);
        return res.status === 200 ? ((await res.json()) as { checks: unknown }) : undefined;
      },
      10_000,
      'readiness with Redis',
    );
    expect(ready.checks).toEqual({ database: 'ok', redis: 'ok' });
  });

  if (backend === 'postgres') {
    it('is not ready while the database refuses connections', async () => {
      const name = new URL(storage.databaseUrl!).pathname.slice(1);
      const admin = async (sql: string) => {
        const c = new pg.Client({ connectionString: PG_ADMIN_URL });
        await c.connect();
        try {
          await c.query(sql);
        } finally {
          await c.end();
        }
      };
      await admin(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
      try {
        await admin(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}' AND pid <> pg_backend_pid()`,
        );
        const r = await fetch(`${cloud.url}/readyz`);
        expect(r.status).toBe(503);
        const body = (await r.json()) as { code: string; checks: Record<string, string> };
        expect(body).toMatchObject({ code: 'CLOUD_NOT_READY', checks: { database: 'unavailable' } });
        expect(JSON.stringify(body)).not.toContain('postgres://');
      } finally {
        await admin(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
      }
      await waitFor(async () => (await fetch(`${cloud.url}/readyz`)).status === 200, 10_000, 'ready again');
    });
  }

  it('exposes Prometheus metrics: requests, ingest, live sockets, pool, process', async () => {
    const edge = await new TestEdge(cloud.url).enroll(enrollToken, 'line-1');
    const now = Date.now();
    const ok = await edge.send([
      edge.telemetry('RIG-1', new Date(now - 2000).toISOString(), { p: 1 }),
      edge.telemetry('RIG-1', new Date(now - 1000).toISOString(), { p: 2 }),
      edge.usage('RIG-1', new Date(now - 500).toISOString(), 'start'),
    ]);
    expect(ok.status).toBe(200);
    const bad = await fetch(`${cloud.url}/api/v1/ingest`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ v: 1, edge: edge.id, records: [], checkpoint: 'x' }),
    });
    expect(bad.status).toBe(400);
    expect((await fetch(`${cloud.url}/api/v1/edges/nope`, { headers: { cookie } })).status).toBe(404);
    expect((await fetch(`${cloud.url}/no/such/file.json`)).status).toBe(404);
    sockets.push(await openSocket(cloud.url, cookie));

    const res = await fetch(`${cloud.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const m = parseMetrics(await res.text());
    for (const t of m.type.keys()) expect(m.help.has(t), `HELP for ${t}`).toBe(true);

    expect(m.value('rigtrace_http_requests_total', { route: '/api/v1/edges/:edgeId', status: '404' })).toBe(
      1,
    );
    expect(m.value('rigtrace_http_requests_total', { route: '/api/v1/ingest', status: '200' })).toBe(1);
    expect(
      m.value('rigtrace_http_requests_total', { route: 'unmatched', status: '404' }),
    ).toBeGreaterThanOrEqual(1);
    // Raw paths never become labels (an id would make one series per edge).
    expect(m.samples.some((s) => s.labels.route?.includes(edge.id))).toBe(false);
    expect(m.value('rigtrace_http_request_duration_seconds_count', { route: '/api/v1/ingest' })).toBe(2);
    expect(m.value('rigtrace_ingest_batches_total', { result: 'accepted' })).toBe(1);
    expect(m.value('rigtrace_ingest_batches_total', { result: 'CLOUD_VALIDATION' })).toBe(1);
    expect(m.value('rigtrace_ingest_records_total', { kind: 'telemetry' })).toBe(2);
    expect(m.value('rigtrace_ingest_records_total', { kind: 'usage' })).toBe(1);
    expect(m.value('rigtrace_live_sockets')).toBe(1);
    // One telemetry update, sent to two rooms: the cleared sockets' and (without flagged items) the others'.
    expect(m.value('rigtrace_live_messages_total', { event: 'telemetry' })).toBe(2);
    expect(m.value('process_resident_memory_bytes')).toBeGreaterThan(10_000_000);
    expect(m.has('process_cpu_user_seconds_total')).toBe(true);
    expect(m.type.get('process_cpu_user_seconds_total')).toBe('counter');
    expect(m.has('process_start_time_seconds')).toBe(true);
    if (backend === 'postgres') {
      expect(m.value('rigtrace_db_pool_connections', { state: 'max' })).toBe(10);
      expect(m.value('rigtrace_db_pool_connections', { state: 'total' })).toBeGreaterThanOrEqual(1);
    } else expect(m.has('rigtrace_db_pool_connections')).toBe(false);
  });
});
