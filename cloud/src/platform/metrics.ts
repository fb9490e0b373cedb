import { readdirSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Router, type Request, type RequestHandler } from 'express';
import { ProblemError } from './errors.js';
import type { DomainEventBus } from './events.js';

/**
 * Prometheus metrics of one cloud process, served as text (exposition format 0.0.4) at GET
 * /metrics. Small on purpose: counters, gauges and histograms with labels, and gauges read at
 * scrape time. Label values come from a bounded set (route templates, status codes, error codes,
 * record kinds), never from ids or user input.
 */
type Labels = Record<string, string>;

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const escapeHelp = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function labelText(names: readonly string[], values: readonly string[], extra = ''): string {
  const parts = names.map((n, i) => `${n}="${escapeLabel(values[i] ?? '')}"`);
  if (extra) parts.push(extra);
  return parts.length ? `{${parts.join(',')}}` : '';
}

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

interface Metric {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  render(): string[];
}

class LabelledValues {
  protected readonly values = new Map<string, { labels: string[]; value: number }>();
  constructor(readonly labelNames: readonly string[]) {}

  protected key(labels: Labels): string[] {
    return this.labelNames.map((n) => labels[n] ?? '');
  }

  protected entry(labels: Labels) {
    const vals = this.key(labels);
    const k = vals.join('\u0000');
    let e = this.values.get(k);
    if (!e) {
      e = { labels: vals, value: 0 };
      this.values.set(k, e);
    }
    return e;
  }
}

export class Counter extends LabelledValues implements Metric {
  readonly type = 'counter' as const;
  constructor(
    readonly name: string,
    readonly help: string,
    labelNames: readonly string[] = [],
  ) {
    super(labelNames);
  }

  inc(labels: Labels = {}, by = 1): void {
    this.entry(labels).value += by;
  }

  get(labels: Labels = {}): number {
    return this.values.get(this.key(labels).join('\u0000'))?.value ?? 0;
  }

  render(): string[] {
    return [...this.values.values()].map(
      (e) => `${this.name}${labelText(this.labelNames, e.labels)} ${num(e.value)}`,
    );
  }
}

export class Gauge extends LabelledValues implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    labelNames: readonly string[] = [],
    /** Sets the values at scrape time, when given. */
    private readonly collect?: (g: Gauge) => void,
    /** A total read at scrape time (CPU seconds) is exposed as a counter. */
    readonly type: 'gauge' | 'counter' = 'gauge',
  ) {
    super(labelNames);
  }

  set(labels: Labels, value: number): void {
    this.entry(labels).value = value;
  }

  inc(labels: Labels = {}, by = 1): void {
    this.entry(labels).value += by;
  }

  dec(labels: Labels = {}, by = 1): void {
    this.entry(labels).value -= by;
  }

  get(labels: Labels = {}): number {
    return this.values.get(this.key(labels).join('\u0000'))?.value ?? 0;
  }

  render(): string[] {
    if (this.collect) {
      this.values.clear();
      this.collect(this);
    }
    return [...this.values.values()].map(
      (e) => `${this.name}${labelText(this.labelNames, e.labels)} ${num(e.value)}`,
    );
  }
}

export class Histogram implements Metric {
  readonly type = 'histogram' as const;
  private readonly series = new Map<
    string,
    { labels: string[]; counts: number[]; sum: number; count: number }
  >();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    readonly buckets: readonly number[],
  ) {}

  observe(labels: Labels, value: number): void {
    const vals = this.labelNames.map((n) => labels[n] ?? '');
    const k = vals.join('\u0000');
    let s = this.series.get(k);
    if (!s) {
      s = { labels: vals, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(k, s);
    }
    for (let i = 0; i < this.buckets.length; i += 1) if (value <= this.buckets[i]!) s.counts[i]! += 1;
    s.sum += value;
    s.count += 1;
  }

  render(): string[] {
    const out: string[] = [];
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) =>
        out.push(
          `${this.name}_bucket${labelText(this.labelNames, s.labels, `le="${num(b)}"`)} ${s.counts[i]}`,
        ),
      );
      out.push(`${this.name}_bucket${labelText(this.labelNames, s.labels, 'le="+Inf"')} ${s.count}`);
      out.push(`${this.name}_sum${labelText(this.labelNames, s.labels)} ${num(s.sum)}`);
      out.push(`${this.name}_count${labelText(this.labelNames, s.labels)} ${s.count}`);
    }
    return out;
  }
}

/** Where the process metrics and the database pool come from; each is optional. */
export interface MetricsSources {
  /** Connections of the database pool (PostgreSQL), read at scrape time. */
  dbPool?: () => { total: number; idle: number; waiting: number; max: number } | undefined;
  /** socket.io connections to this process. */
  liveSockets?: () => number;
}

export class Metrics {
  private readonly all: Metric[] = [];
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 20 });
  private sources: MetricsSources = {};

  readonly httpRequests = this.add(
    new Counter('rigtrace_http_requests_total', 'HTTP requests by method, route template and status', [
      'method',
      'route',
      'status',
    ]),
  );
  readonly httpDuration = this.add(
    new Histogram(
      'rigtrace_http_request_duration_seconds',
      'HTTP request duration by method and route template',
      ['method', 'route'],
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    ),
  );
  readonly ingestBatches = this.add(
    new Counter(
      'rigtrace_ingest_batches_total',
      'Ingest batches by result: "accepted", or the problem code of the refusal',
      ['result'],
    ),
  );
  readonly ingestRecords = this.add(
    new Counter('rigtrace_ingest_records_total', 'Records stored by verified ingest, by kind', ['kind']),
  );
  readonly liveMessages = this.add(
    new Counter('rigtrace_live_messages_total', 'Live updates sent to socket.io rooms, by event', ['event']),
  );
  readonly liveSockets = this.add(
    new Gauge('rigtrace_live_sockets', 'socket.io connections to this process', [], (g) =>
      g.set({}, this.sources.liveSockets?.() ?? 0),
    ),
  );
  readonly dbPool = this.add(
    new Gauge(
      'rigtrace_db_pool_connections',
      'Database pool connections by state (PostgreSQL; total, idle, waiting clients, max)',
      ['state'],
      (g) => {
        const p = this.sources.dbPool?.();
        if (!p) return;
        g.set({ state: 'total' }, p.total);
        g.set({ state: 'idle' }, p.idle);
        g.set({ state: 'waiting' }, p.waiting);
        g.set({ state: 'max' }, p.max);
      },
    ),
  );

  constructor() {
    const started = Date.now() / 1000 - process.uptime();
    this.add(
      new Gauge(
        'process_cpu_user_seconds_total',
        'User CPU time spent in seconds',
        [],
        (g) => g.set({}, process.cpuUsage().user / 1e6),
        'counter',
      ),
    );
    this.add(
      new Gauge(
        'process_cpu_system_seconds_total',
        'System CPU time spent in seconds',
        [],
        (g) => g.set({}, process.cpuUsage().system / 1e6),
        'counter',
      ),
    );
    this.add(
      new Gauge('process_resident_memory_bytes', 'Resident memory size in bytes', [], (g) =>
        g.set({}, process.memoryUsage.rss()),
      ),
    );
    this.add(
      new Gauge('nodejs_heap_size_used_bytes', 'V8 heap used in bytes', [], (g) =>
        g.set({}, process.memoryUsage().heapUsed),
      ),
    );
    this.add(
      new Gauge('process_start_time_seconds', 'Start time of the process since the Unix epoch', [], (g) =>
        g.set({}, Math.round(started)),
      ),
    );
    this.add(
      new Gauge('process_open_fds', 'Open file descriptors', [], (g) => {
        try {
          g.set({}, readdirSync('/proc/self/fd').length);
        } catch {
          // not Linux: left out
        }
      }),
    );
    this.add(
      new Gauge(
        'nodejs_eventloop_delay_seconds',
        'Event loop delay since the previous scrape (p50, p99, max)',
        ['quantile'],
        (g) => {
          if (this.loopDelay.count === 0) return;
          g.set({ quantile: '0.5' }, this.loopDelay.percentile(50) / 1e9);
          g.set({ quantile: '0.99' }, this.loopDelay.percentile(99) / 1e9);
          g.set({ quantile: 'max' }, this.loopDelay.max / 1e9);
          this.loopDelay.reset();
        },
      ),
    );
    this.loopDelay.enable();
  }

  private add<M extends Metric>(m: M): M {
    this.all.push(m);
    return m;
  }

  /** Sets where scrape-time gauges read from (the composition root knows the pool and sockets). */
  setSources(s: MetricsSources): void {
    this.sources = { ...this.sources, ...s };
  }

  /** The exposition text. Content type: text/plain; version=0.0.4; charset=utf-8. */
  render(): string {
    const lines: string[] = [];
    for (const m of this.all) {
      const samples = m.render();
      lines.push(`# HELP ${m.name} ${escapeHelp(m.help)}`, `# TYPE ${m.name} ${m.type}`, ...samples);
    }
    return `${lines.join('\n')}\n`;
  }

  /** Stops the event loop monitor (on close). */
  stop(): void {
    this.loopDelay.disable();
  }
}

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

// ---------------------------------------------------------------------------------------------
// HTTP: request metrics, and the operational endpoints at the root (not under /api/v1).

/**
 * The matched route's template with its mount path, e.g. /api/v1/edges/:edgeId; "unmatched" when
 * no route matched. req.baseUrl is gone once an error has left the router, so the mount path is
 * the request path less as many segments as the template has (parameters never span a "/").
 */
function routeTemplate(req: Request): string {
  const tpl = (req.route as { path?: unknown } | undefined)?.path;
  if (typeof tpl !== 'string') return 'unmatched';
  if (tpl.includes('*')) return `*${tpl}`;
  const segments = tpl.split('/').filter(Boolean).length;
  const path = (req.originalUrl.split('?')[0] ?? '').split('/').filter(Boolean);
  const mount = path.slice(0, Math.max(0, path.length - segments)).join('/');
  return `${mount ? `/${mount}` : ''}${tpl === '/' ? '' : tpl}` || '/';
}

/** Counts every response by method, route template (never the raw path) and status. */
export function httpMetrics(metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const route = routeTemplate(req);
      const labels = { method: req.method, route };
      metrics.httpRequests.inc({ ...labels, status: String(res.statusCode) });
      metrics.httpDuration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
      if (req.method === 'POST' && route === '/api/v1/ingest') {
        const code = (res.locals as { problemCode?: unknown }).problemCode;
        metrics.ingestBatches.inc({
          result:
            res.statusCode < 300 ? 'accepted' : typeof code === 'string' ? code : String(res.statusCode),
        });
      }
    });
    next();
  };
}

export interface OpsDeps {
  metrics: Metrics;
  /** Readiness checks by name; each throws when its dependency is not usable. */
  checks: Record<string, (() => Promise<void>) | undefined>;
}

const READY_TIMEOUT_MS = 3000;

async function timed(check: () => Promise<void>): Promise<void> {
  let t: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise<never>((_, reject) => {
        t = setTimeout(() => reject(new Error(`no answer within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
      }),
    ]);
  } finally {
    clearTimeout(t);
  }
}

/**
 * GET /healthz: the process is up and serving. GET /readyz: it can do its work (the database
 * answers; Redis too when configured); 503 problem+json naming what is not, so a load balancer
 * stops sending it traffic. GET /metrics: Prometheus text. No credentials and no tenant data in
 * any of them; expose them to the monitoring network only (API.md).
 */
export function opsRoutes(deps: OpsDeps): Router {
  const r = Router();
  r.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  r.get('/readyz', async (req, res) => {
    const checks: Record<string, string> = {};
    const failed: string[] = [];
    for (const [name, check] of Object.entries(deps.checks)) {
      if (!check) {
        checks[name] = 'not configured';
        continue;
      }
      try {
        await timed(check);
        checks[name] = 'ok';
      } catch (err) {
        checks[name] = 'unavailable';
        failed.push(`${name}: ${(err as Error).message}`);
      }
    }
    if (failed.length === 0) return void res.json({ status: 'ready', checks });
    // The message names the dependency and the driver's error (no URL, no credentials).
    throw new ProblemError('CLOUD_NOT_READY', failed.join('; '), { checks });
  });
  r.get('/metrics', (_req, res) => {
    res.type(METRICS_CONTENT_TYPE).send(deps.metrics.render());
  });
  return r;
}

/** Counts the records of every committed batch, by kind. */
export function countStoredRecords(metrics: Metrics, events: DomainEventBus): void {
  events.on('records.stored', (e) => {
    for (const r of e.records) metrics.ingestRecords.inc({ kind: r.kind });
  });
}
