import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { gcra, LocalIngestLimiter, type IngestLimitPolicy } from '../src/records/ingest-limit.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { TestEdge } from './helpers/live.js';
import { testStorage, type Backend, type TestStorage } from './helpers/storage.js';
import { wholeTenant } from '../src/access/index.js';

const T0 = '2026-12-01T08:00:00.000Z';

describe('ingest limit arithmetic (GCRA)', () => {
  const policy: IngestLimitPolicy = { perSecond: 10, burst: 3, maxDelayMs: 50 };

  it('takes a burst at once, then paces within the delay and refuses beyond it', () => {
    let now = 1_000_000;
    const limiter = new LocalIngestLimiter(policy, () => now);
    expect([1, 2, 3].map(() => limiter.takeNow('edge:a'))).toEqual([
      { ok: true, delayMs: 0 },
      { ok: true, delayMs: 0 },
      { ok: true, delayMs: 0 },
    ]);
    // 10 per second: the next turn is 100 ms away, more than the 50 ms a batch may be held.
    expect(limiter.takeNow('edge:a')).toEqual({ ok: false, retryAfterMs: 100 });
    now += 60;
    // 40 ms early: held that long, then taken.
    expect(limiter.takeNow('edge:a')).toEqual({ ok: true, delayMs: 40 });
    // Another key has its own budget.
    expect(limiter.takeNow('edge:b')).toEqual({ ok: true, delayMs: 0 });
    // After a quiet second the whole burst is back.
    now += 1000;
    expect([1, 2, 3].map(() => limiter.takeNow('edge:a').ok)).toEqual([true, true, true]);
  });

  it('by default does not hold a live edge sending one batch at a time over a fast link', () => {
    // The cloud's default policy, as it starts without settings.
    const cfg = loadCloudConfig({});
    let now = 1_000_000;
    const limiter = new LocalIngestLimiter(
      { perSecond: cfg.ingestBatchesPerSecond, burst: cfg.ingestBurst, maxDelayMs: cfg.ingestMaxDelayMs },
      () => now,
    );
    // An edge keeps one batch in flight: over a 5 ms round trip (a line PC next to the cloud,
    // loopback) that is 200 batches a second, each holding what was logged meanwhile. A minute of it:
    let held = 0;
    for (let i = 0; i < 12_000; i++, now += 5) {
      const turn = limiter.takeNow('edge:a');
      if (!turn.ok || turn.delayMs > 0) held++;
    }
    expect(held).toBe(0);
  });

  it('a refused batch changes nothing in the budget', () => {
    const first = gcra(policy, 0, 0);
    let tat = first.tat;
    for (let i = 0; i < 2; i++) tat = gcra(policy, tat, 0).tat;
    const refused = gcra(policy, tat, 0);
    expect(refused.turn.ok).toBe(false);
    expect(refused.tat).toBe(tat);
  });
});

/** Real clouds, real edges (signed batches), all sending from 127.0.0.1. */
describe('ingest limit per enrolled edge', () => {
  let storage: TestStorage | undefined;
  const clouds: RunningCloud[] = [];
  afterEach(async () => {
    for (const c of clouds.splice(0)) await c.close();
    await storage?.cleanup();
    storage = undefined;
  });

  async function setUp(backend: Backend, edges: number) {
    storage = await testStorage(backend);
    const store = await openStore(loadCloudConfig({}, storage.overrides));
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createSite('acme', 'plant-1', 'Plant 1');
    const tokens: string[] = [];
    for (let i = 0; i < edges; i++)
      tokens.push((await store.tenancy.createEnrollmentToken('acme', 'plant-1', 3600_000)).token);
    await store.db.close();
    return tokens;
  }

  async function cloud(overrides: Record<string, string>): Promise<RunningCloud> {
    const c = await startCloud(
      loadCloudConfig({}, { ...storage!.overrides, port: '0', ...overrides }),
      pino({ level: 'silent' }),
    );
    clouds.push(c);
    return c;
  }

  const send = (edge: TestEdge, i: number, via?: string) =>
    edge.send([edge.telemetry('RIG-1', new Date(Date.parse(T0) + i * 1000).toISOString(), { p: i })], via);

  it('two edges behind one address are limited separately, and a 429 carries Retry-After', async () => {
    const [ta, tb] = await setUp('sqlite', 2);
    // 2 at once, then one every 10 s, never held: the third batch of an edge is refused.
    const c = await cloud({ ingestBurst: '2', ingestBatchesPerSecond: '0.1', ingestMaxDelayMs: '0' });
    const a = await new TestEdge(c.url).enroll(ta!, 'edge a');
    const b = await new TestEdge(c.url).enroll(tb!, 'edge b');
    expect((await send(a, 1)).status).toBe(200);
    expect((await send(a, 2)).status).toBe(200);
    const refused = await send(a, 3);
    expect(refused.status).toBe(429);
    expect(refused.body.code).toBe('CLOUD_RATE_LIMITED');
    const retryAfter = Number(refused.retryAfter);
    expect(retryAfter).toBeGreaterThanOrEqual(9);
    expect(retryAfter).toBeLessThanOrEqual(10);
    expect(refused.body.retryAfter).toBe(retryAfter);
    // Same address, other edge: its own budget, untouched by a's.
    expect((await send(b, 1)).status).toBe(200);
    expect((await send(b, 2)).status).toBe(200);
    expect((await send(b, 3)).status).toBe(429);
    // The refused batch stored nothing: a's log is still at 2.
    const store = await openStore(loadCloudConfig({}, storage!.overrides));
    try {
      expect((await store.tenancy.edgeForTenant(wholeTenant('acme'), a.id))?.log_size).toBe(2);
    } finally {
      await store.db.close();
    }
  });

  it('paces an edge sending back to back instead of refusing it', async () => {
    const [ta] = await setUp('sqlite', 1);
    const c = await cloud({ ingestBurst: '1', ingestBatchesPerSecond: '10', ingestMaxDelayMs: '500' });
    const a = await new TestEdge(c.url).enroll(ta!, 'edge a');
    const started = Date.now();
    const statuses: number[] = [];
    for (let i = 1; i <= 5; i++) statuses.push((await send(a, i)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    // One every 100 ms: the last of five is taken no sooner than 400 ms after the first.
    expect(Date.now() - started).toBeGreaterThanOrEqual(390);
  });

  it('two cloud processes sharing Redis share one edge budget', async () => {
    const [ta] = await setUp('postgres', 1);
    const shared = {
      ingestBurst: '3',
      ingestBatchesPerSecond: '0.1',
      ingestMaxDelayMs: '0',
      redisUrl: 'redis://127.0.0.1:6379',
      redisKeyPrefix: `rt-test-${randomBytes(6).toString('hex')}`,
    };
    const p1 = await cloud(shared);
    const p2 = await cloud(shared);
    const a = await new TestEdge(p1.url).enroll(ta!, 'edge a');
    // Alternating processes: 3 batches in all pass, the 4th is refused by whichever gets it.
    const statuses: number[] = [];
    for (let i = 1; i <= 4; i++) statuses.push((await send(a, i, i % 2 ? p1.url : p2.url)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    // The other process refuses too: one budget, not one per process.
    const again = await send(a, 4, p1.url);
    expect(again.status).toBe(429);
    expect(Number(again.retryAfter)).toBeGreaterThan(0);
  });
});
