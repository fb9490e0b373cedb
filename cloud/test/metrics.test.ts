import pino from 'pino';
import { Gauge } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCloudConfig } from '../src/platform/config.js';
import { Metrics } from '../src/platform/metrics.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { TestEdge } from './helpers/live.js';
import { BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

/** The exposition, line by line: HELP and TYPE per family, and every sample line. */
function parse(text: string) {
  const help = new Map<string, number>();
  const type = new Map<string, string>();
  const typeCount = new Map<string, number>();
  const samples: { name: string; labels: string; value: string }[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/u.exec(line);
    if (m) {
      help.set(m[1]!, (help.get(m[1]!) ?? 0) + 1);
      continue;
    }
    m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/u.exec(line);
    if (m) {
      type.set(m[1]!, m[2]!);
      typeCount.set(m[1]!, (typeCount.get(m[1]!) ?? 0) + 1);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/u.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    samples.push({ name: m[1]!, labels: m[2] ?? '', value: m[3]! });
  }
  const value = (name: string, labels = '') =>
    samples
      .filter((s) => s.name === name && s.labels.includes(labels))
      .reduce((n, s) => n + Number(s.value), 0);
  return { help, type, typeCount, samples, value };
}

/** The product's metrics (API.md): name and type. */
const CLOUD_METRICS: [string, string][] = [
  ['rigtrace_http_requests_total', 'counter'],
  ['rigtrace_http_request_duration_seconds', 'histogram'],
  ['rigtrace_ingest_batches_total', 'counter'],
  ['rigtrace_ingest_records_total', 'counter'],
  ['rigtrace_live_sockets', 'gauge'],
  ['rigtrace_live_messages_total', 'counter'],
  ['rigtrace_db_pool_connections', 'gauge'],
  ['process_cpu_user_seconds_total', 'counter'],
  ['process_cpu_system_seconds_total', 'counter'],
  ['process_resident_memory_bytes', 'gauge'],
  ['process_open_fds', 'gauge'],
  ['process_start_time_seconds', 'gauge'],
  ['nodejs_heap_size_used_bytes', 'gauge'],
  ['nodejs_eventloop_delay_seconds', 'gauge'],
];

describe('cloud metrics (prom-client)', () => {
  it('writes every sample value as the text format spells it (no "Nan", no negative exponent)', async () => {
    const m = new Metrics();
    try {
      new Gauge({ name: 'tiny', help: 'tiny', registers: [m.registry] }).set(5.11e-7);
      new Gauge({ name: 'tinier', help: 'tinier', registers: [m.registry] }).set(-3e-9);
      new Gauge({ name: 'nothing', help: 'nothing', registers: [m.registry] }).set(NaN);
      const text = await m.render();
      expect(text).toContain('\ntiny 0.000000511\n');
      expect(text).toContain('\ntinier -0.000000003\n');
      expect(text).toContain('\nnothing NaN\n');
      for (const s of parse(text).samples) expect(s.value, s.name).toMatch(/^(-?[0-9.e+]+|NaN|\+Inf|-Inf)$/u);
    } finally {
      m.stop();
    }
  });

  it('keeps one registry per instance: the same names twice in one process, counted apart', async () => {
    const a = new Metrics();
    const b = new Metrics();
    try {
      a.ingestRecords.inc({ kind: 'telemetry' }, 3);
      expect(parse(await a.render()).value('rigtrace_ingest_records_total', 'kind="telemetry"')).toBe(3);
      expect(parse(await b.render()).value('rigtrace_ingest_records_total')).toBe(0);
    } finally {
      a.stop();
      b.stop();
    }
  });
});

describe.each(BACKENDS)('the cloud /metrics exposition on %s', (backend) => {
  let storage: TestStorage;
  let overrides: Record<string, string>;
  let enrollToken = '';
  const clouds: RunningCloud[] = [];

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    overrides = { ...storage.overrides, port: '0', remindersScheduler: 'off' };
    const store = await openStore(loadCloudConfig({}, overrides));
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createSite('acme', 'plant-1', 'Plant 1');
    enrollToken = (await store.tenancy.createEnrollmentToken('acme', 'plant-1', 3600_000)).token;
    await store.db.close();
  });
  afterAll(async () => {
    for (const c of clouds) await c.close();
    await storage?.cleanup();
  });

  it('names every metric with its TYPE and HELP once, and counts an ingest in its own cloud only', async () => {
    const start = async () => {
      const c = await startCloud(loadCloudConfig({}, overrides), pino({ level: 'silent' }));
      clouds.push(c);
      return c;
    };
    // Two clouds in one process: each has its own registry.
    const cloud = await start();
    const other = await start();
    const scrape = async (c: RunningCloud) => {
      const res = await fetch(`${c.url}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      return parse(await res.text());
    };

    const before = await scrape(cloud);
    for (const [name, type] of CLOUD_METRICS) {
      expect(before.type.get(name), name).toBe(type);
      expect(before.help.get(name), `HELP of ${name}`).toBe(1);
    }
    // prom-client's default metrics are there beside them, and no family is written twice.
    for (const name of [
      'process_cpu_seconds_total',
      'process_max_fds',
      'nodejs_eventloop_lag_seconds',
      'nodejs_gc_duration_seconds',
      'nodejs_version_info',
    ])
      expect(before.type.has(name), name).toBe(true);
    for (const [name, n] of before.typeCount) expect(n, `TYPE lines of ${name}`).toBe(1);
    // Every sample belongs to a family with a TYPE line.
    for (const s of before.samples)
      expect(
        before.type.has(s.name) || before.type.has(s.name.replace(/_(bucket|sum|count)$/u, '')),
        s.name,
      ).toBe(true);
    expect(before.value('rigtrace_ingest_records_total')).toBe(0);
    expect(before.value('rigtrace_ingest_batches_total')).toBe(0);

    const edge = await new TestEdge(cloud.url).enroll(enrollToken, 'line-1');
    const now = Date.now();
    const sent = await edge.send([
      edge.telemetry('RIG-1', new Date(now - 2000).toISOString(), { p: 1 }),
      edge.telemetry('RIG-1', new Date(now - 1000).toISOString(), { p: 2 }),
    ]);
    expect(sent.status).toBe(200);

    const after = await scrape(cloud);
    expect(after.value('rigtrace_ingest_records_total', 'kind="telemetry"')).toBe(2);
    expect(after.value('rigtrace_ingest_batches_total', 'result="accepted"')).toBe(1);
    expect(after.value('rigtrace_http_requests_total', 'route="/api/v1/ingest"')).toBe(1);
    expect(after.value('process_cpu_user_seconds_total')).toBeGreaterThanOrEqual(
      before.value('process_cpu_user_seconds_total'),
    );

    const again = await edge.send([edge.telemetry('RIG-1', new Date(now - 500).toISOString(), { p: 3 })]);
    expect(again.status).toBe(200);
    const third = await scrape(cloud);
    expect(third.value('rigtrace_ingest_records_total', 'kind="telemetry"')).toBe(3);
    expect(third.value('rigtrace_ingest_batches_total', 'result="accepted"')).toBe(2);

    // The other cloud in this process saw no ingest.
    const apart = await scrape(other);
    expect(apart.value('rigtrace_ingest_records_total')).toBe(0);
    expect(apart.value('rigtrace_http_requests_total', 'route="/api/v1/ingest"')).toBe(0);
  });
});
