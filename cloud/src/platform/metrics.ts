import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Router, type Request, type RequestHandler } from 'express';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ProblemError } from './errors.js';

/**
 * Prometheus metrics of one cloud process (prom-client), served as text (exposition format 0.0.4)
 * at GET /metrics. Each cloud has its own registry: several clouds in one process (tests) never
 * share a series, and prom-client's global default registry is not used. Label values come from a
 * bounded set (route templates, status codes, error codes, record kinds), never from ids or user
 * input. The metric names are part of the product (dashboards and alerts use them): API.md lists
 * them, and they do not change.
 *
 * Per process on purpose: each process of a scaled-out cloud is scraped on its own address
 * (SAAS.md), and the verification worker threads keep no metrics.
 */

/** Where the scrape-time gauges read from; each is optional. */
export interface MetricsSources {
  /** Connections of the database pool (PostgreSQL), read at scrape time. */
  dbPool?: () => { total: number; idle: number; waiting: number; max: number } | undefined;
  /** socket.io connections to this process. */
  liveSockets?: () => number;
}

/**
 * Sample values as the format spells them: prom-client writes NaN as "Nan" (an event-loop
 * histogram without samples) and a value below 1e-6 in exponent form ("5.11e-7"); both are
 * written here as NaN and plain decimals, which every reader of the text format takes.
 */
function plainNumbers(text: string): string {
  return text
    .replace(/ Nan$/gmu, ' NaN')
    .replace(
      / (-?)(\d)(?:\.(\d+))?e-(\d+)$/gmu,
      (_all, sign: string, int: string, frac: string | undefined, exp: string) =>
        ` ${sign}0.${'0'.repeat(Number(exp) - 1)}${int}${frac ?? ''}`,
    );
}

export class Metrics {
  readonly registry = new Registry();
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 20 });
  private sources: MetricsSources = {};

  readonly httpRequests = new Counter({
    name: 'rigtrace_http_requests_total',
    help: 'HTTP requests by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'rigtrace_http_request_duration_seconds',
    help: 'HTTP request duration by method and route template',
    labelNames: ['method', 'route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly ingestBatches = new Counter({
    name: 'rigtrace_ingest_batches_total',
    help: 'Ingest batches by result: "accepted", or the problem code of the refusal',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly ingestRecords = new Counter({
    name: 'rigtrace_ingest_records_total',
    help: 'Records stored by verified ingest, by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly liveMessages = new Counter({
    name: 'rigtrace_live_messages_total',
    help: 'Live updates sent to socket.io rooms, by event',
    labelNames: ['event'] as const,
    registers: [this.registry],
  });

  constructor() {
    const sources = () => this.sources;
    new Gauge({
      name: 'rigtrace_live_sockets',
      help: 'socket.io connections to this process',
      registers: [this.registry],
      collect() {
        this.set(sources().liveSockets?.() ?? 0);
      },
    });
    new Gauge({
      name: 'rigtrace_db_pool_connections',
      help: 'Database pool connections by state (PostgreSQL; total, idle, waiting clients, max)',
      labelNames: ['state'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        const p = sources().dbPool?.();
        if (!p) return;
        this.set({ state: 'total' }, p.total);
        this.set({ state: 'idle' }, p.idle);
        this.set({ state: 'waiting' }, p.waiting);
        this.set({ state: 'max' }, p.max);
      },
    });
    // Not among prom-client's defaults (those give nodejs_eventloop_lag_*): kept as it was.
    const loopDelay = this.loopDelay;
    new Gauge({
      name: 'nodejs_eventloop_delay_seconds',
      help: 'Event loop delay since the previous scrape (p50, p99, max)',
      labelNames: ['quantile'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        if (loopDelay.count === 0) return;
        this.set({ quantile: '0.5' }, loopDelay.percentile(50) / 1e9);
        this.set({ quantile: '0.99' }, loopDelay.percentile(99) / 1e9);
        this.set({ quantile: 'max' }, loopDelay.max / 1e9);
        loopDelay.reset();
      },
    });
    this.loopDelay.enable();
    // prom-client's default process_* and nodejs_* metrics (CPU, memory, file descriptors, heap,
    // event-loop lag, GC), from the start so that the first scrape's event-loop figures cover
    // time already run. (The cloud counts requests from its first one, so prom-client is loaded
    // anyway; unlike the edge, nothing is saved by waiting for a scrape.)
    collectDefaultMetrics({ register: this.registry });
  }

  /** Sets where scrape-time gauges read from (the composition root knows the pool and sockets). */
  setSources(s: MetricsSources): void {
    this.sources = { ...this.sources, ...s };
  }

  /** The content type of render(): text/plain; version=0.0.4; charset=utf-8. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text. */
  async render(): Promise<string> {
    return plainNumbers(await this.registry.metrics());
  }

  /** Stops the event loop monitor (on close). */
  stop(): void {
    this.loopDelay.disable();
  }
}

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
  r.get('/metrics', async (_req, res) => {
    const text = await deps.metrics.render();
    res.type(deps.metrics.contentType).send(text);
  });
  return r;
}

/** Counts a committed batch's records, by kind (the metrics projection's after-commit step). */
export function countStoredRecords(metrics: Metrics, records: readonly { kind: string }[]): void {
  for (const r of records) metrics.ingestRecords.inc({ kind: r.kind });
}
