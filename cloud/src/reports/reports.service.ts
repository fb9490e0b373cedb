import { AsyncResource } from 'node:async_hooks';
import { createHash, randomUUID } from 'node:crypto';
import { dateSchema, timestampSchema } from '@rigtrace/protocols';
import type { Logger } from 'pino';
import { z } from 'zod';
import {
  seesSite,
  UsersRepository,
  viewerOfPrincipal,
  wholeTenant,
  type Principal,
  type Viewer,
} from '../access/index.js';
import { ProblemError, validationProblem } from '../platform/errors.js';
import type { AuditActor } from '../audit/index.js';
import { mustReadAccessLog, type ExportCaller } from '../export-control/index.js';
import { buildReport, contextOf, periodOf, reportPeriod, type ReportDeps } from './builders.js';
import { writePdf } from './pdf.js';
import { CHUNK_BYTES, type ReportRow } from './reports.repository.js';
import { writeCsv, writeJson } from './text-formats.js';
import {
  CONTENT_TYPES,
  REPORT_FORMATS,
  REPORT_TITLES,
  REPORT_TYPES,
  type BuiltReport,
  type ByteSink,
  type ProgressFn,
  type ReportContext,
  type ReportFormat,
  type ReportRequest,
  type ReportType,
} from './types.js';

const dateOrTime = z.union([dateSchema, timestampSchema], {
  error: 'a date (YYYY-MM-DD, whole days of the site’s time zone) or an RFC 3339 timestamp',
});

/** The longest period a report may cover. */
export const MAX_PERIOD_DAYS = 3660;
/** Reports a tenant may have queued or running at once. */
export const MAX_PENDING_PER_TENANT = 5;

export const reportRequestSchema = z
  .strictObject({
    type: z.enum(REPORT_TYPES),
    siteId: z.string().min(1).max(128).nullable().optional(),
    from: dateOrTime.describe(
      'a date: the period starts at midnight of that day in the site’s time zone (tenant-wide: each site’s own); or an RFC 3339 timestamp',
    ),
    to: dateOrTime.describe(
      'a date: the period ends with that day (inclusive) in the same time zone; or an RFC 3339 timestamp (exclusive)',
    ),
    format: z.enum(REPORT_FORMATS),
  })
  .superRefine((r, ctx) => {
    const p = periodOf(r.from, r.to);
    if (p.fromIso >= p.toExclusiveIso)
      ctx.addIssue({ code: 'custom', path: ['to'], message: 'must not be before from' });
    else if (Date.parse(p.toExclusiveIso) - Date.parse(p.fromIso) > MAX_PERIOD_DAYS * 86_400_000)
      ctx.addIssue({
        code: 'custom',
        path: ['to'],
        message: `the period may span at most ${MAX_PERIOD_DAYS} days`,
      });
  });

export { validationProblem };

export function parseReportRequest(raw: unknown): ReportRequest {
  const r = reportRequestSchema.safeParse(raw);
  if (!r.success) throw validationProblem(r.error);
  return {
    type: r.data.type,
    siteId: r.data.siteId ?? null,
    from: r.data.from,
    to: r.data.to,
    format: r.data.format,
    cleared: false,
  };
}

/** The access rule's clearance (a signed-in user marked as a US person; never an API token). */
const isCleared = (p: Principal): boolean => viewerOfPrincipal(p).cleared;

/**
 * Who a stored report job is read as, rebuilt when it runs: its tenant; the site it names (null:
 * every site) narrowed to the requester's sites now; cleared for export-controlled data only if the
 * requester was cleared when asking *and* still is now (a user still there, not disabled, still
 * marked as a US person). Clearance is checked at run time because a job may wait: a user whose
 * clearance was withdrawn meanwhile must not get flagged data. An API token is never cleared.
 */
export function readerOfJob(
  row: Pick<ReportRow, 'tenant_id' | 'site_id' | 'cleared' | 'requested_by'>,
  requester: { sites: string | null; us_person: number | boolean; disabled_at: string | null } | undefined,
): Viewer {
  const actor = JSON.parse(row.requested_by) as AuditActor;
  const stored = row.site_id === null ? null : [row.site_id];
  const now = requester?.sites ? (JSON.parse(requester.sites) as string[]) : null;
  const sites = stored === null ? now : now === null ? stored : stored.filter((s) => now.includes(s));
  const stillCleared =
    requester !== undefined && requester.disabled_at === null && Boolean(requester.us_person);
  return {
    kind: actor.type === 'user' ? 'user' : 'api-token',
    tenantId: row.tenant_id,
    id: actor.id,
    sites,
    cleared: actor.type === 'user' && Boolean(row.cleared) && stillCleared,
  };
}

export function reportFilename(r: {
  type: string;
  tenant: string;
  siteId: string | null;
  from: string;
  to: string;
  format: string;
}): string {
  const safe = (x: string) => x.replace(/[^A-Za-z0-9._-]/g, '_');
  return `rigtrace-${safe(r.type)}-${safe(r.tenant)}${r.siteId ? `-${safe(r.siteId)}` : ''}-${safe(r.from)}-${safe(r.to)}.${r.format}`;
}

/** Writes the built report in the chosen format. */
export async function writeReport(
  format: ReportFormat,
  report: BuiltReport,
  ctx: ReportContext,
  sink: ByteSink,
  progress: ProgressFn,
): Promise<void> {
  if (format === 'pdf') await writePdf(report, ctx, sink, progress);
  else if (format === 'csv') await writeCsv(report, ctx, sink, progress);
  else await writeJson(report, ctx, sink, progress);
}

/** SHA-256 and size of everything written through it, passed on to `inner`. */
export class HashingSink implements ByteSink {
  private readonly hash = createHash('sha256');
  size = 0;
  constructor(private readonly inner: ByteSink) {}
  async write(chunk: Buffer): Promise<void> {
    this.hash.update(chunk);
    this.size += chunk.length;
    await this.inner.write(chunk);
  }
  digest(): string {
    return this.hash.digest('hex');
  }
}

/**
 * Generates one report into `sink`: reads the checkpoints, builds, writes. Used by the job
 * runner (into the database) and the CLI (into a file).
 */
export async function generate(
  deps: ReportDeps,
  reader: ExportCaller,
  req: ReportRequest,
  sink: ByteSink,
  progress: ProgressFn,
  generatedAt = new Date().toISOString(),
): Promise<{ sha256: string; size: number; ctx: ReportContext; report: BuiltReport }> {
  // Dates are the site's local days (tenant-wide: the zone the tenant's sites share, else each
  // site's own).
  const tenantId = reader.tenantId;
  const ctx = await contextOf(
    deps,
    tenantId,
    req.siteId,
    await reportPeriod(deps.tenancy, tenantId, req.siteId, req.from, req.to),
    generatedAt,
    reader,
  );
  const report = await buildReport(deps, ctx, req.type);
  const hashing = new HashingSink(sink);
  await writeReport(req.format, report, ctx, hashing, progress);
  return { sha256: hashing.digest(), size: hashing.size, ctx, report };
}

/** Cuts the stream into chunks of at least CHUNK_BYTES, each stored as it fills. */
class ChunkSink implements ByteSink {
  private parts: Buffer[] = [];
  private buffered = 0;
  private n = 0;
  constructor(private readonly store: (n: number, data: Buffer) => Promise<void>) {}
  async write(chunk: Buffer): Promise<void> {
    this.parts.push(chunk);
    this.buffered += chunk.length;
    if (this.buffered >= CHUNK_BYTES) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.buffered === 0) return;
    const data = Buffer.concat(this.parts);
    this.parts = [];
    this.buffered = 0;
    await this.store(this.n, data);
    this.n += 1;
  }
}

export interface ReportView {
  id: string;
  type: string;
  title: string;
  siteId: string | null;
  from: string;
  to: string;
  format: string;
  state: ReportRow['state'];
  progress: { done: number; total: number };
  requestedBy: AuditActor;
  requestedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  error: string | null;
  file: { name: string; contentType: string; size: number; sha256: string; url: string } | null;
  sources: unknown;
  summary: unknown;
}

export function reportView(r: ReportRow): ReportView {
  return {
    id: r.id,
    type: r.type,
    title: REPORT_TITLES[r.type as ReportType] ?? r.type,
    siteId: r.site_id,
    from: r.period_from,
    to: r.period_to,
    format: r.format,
    state: r.state,
    progress: { done: Number(r.done), total: Number(r.total) },
    requestedBy: JSON.parse(r.requested_by) as AuditActor,
    requestedAt: r.requested_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    error: r.error,
    file:
      r.state === 'done' && r.filename && r.content_type && r.sha256
        ? {
            name: r.filename,
            contentType: r.content_type,
            size: Number(r.size),
            sha256: r.sha256,
            url: `/api/v1/reports/${r.id}/file`,
          }
        : null,
    sources: r.sources ? (JSON.parse(r.sources) as unknown) : null,
    summary: r.summary ? (JSON.parse(r.summary) as unknown) : null,
  };
}

class Aborted extends Error {}

export interface ReportServiceOptions {
  /** How often this process re-stamps the jobs it holds (default 20 s). */
  heartbeatMs?: number;
  /** A queued or running job not stamped for this long is failed as interrupted (default 120 s). */
  staleMs?: number;
  /** Progress is written to the database at most this often (default 250 ms). */
  progressEveryMs?: number;
  /**
   * The time a report is generated at: its `generatedAt`, whose local day is the "today" of its
   * figures (tests); default the system clock.
   */
  clock?: () => Date;
}

/**
 * Report jobs: requests are stored (queued), then generated one at a time by this process in
 * the background, the file streamed into the database in chunks so any process sharing it can
 * serve it. Requested, completed (with the file's SHA-256), failed and downloaded reports are
 * all on the tenant's audit trail.
 */
export class ReportService {
  private readonly queue: { tenantId: string; id: string }[] = [];
  /** Jobs this process holds (queued or running), by tenant. */
  private readonly held = new Map<string, Set<string>>();
  private pumping = false;
  private closed = false;
  private current: Promise<void> | null = null;
  private readonly heartbeat: NodeJS.Timeout;
  /** The async context of construction: jobs run in it, never in a request's (tenant-bound) one. */
  private readonly scope = new AsyncResource('rigtrace-reports');
  private readonly staleMs: number;
  private readonly progressEveryMs: number;
  private readonly clock: () => Date;
  private readonly users: UsersRepository;

  constructor(
    private readonly deps: ReportDeps & { logger: Logger },
    opts: ReportServiceOptions = {},
  ) {
    this.staleMs = opts.staleMs ?? 120_000;
    this.progressEveryMs = opts.progressEveryMs ?? 250;
    this.clock = opts.clock ?? (() => new Date());
    this.users = new UsersRepository(deps.db);
    this.heartbeat = setInterval(() => {
      this.scope.runInAsyncScope(() => void this.beat());
    }, opts.heartbeatMs ?? 20_000);
    this.heartbeat.unref();
  }

  private async beat() {
    const now = new Date().toISOString();
    for (const [tenantId, ids] of this.held) {
      await this.deps.repo.heartbeat(tenantId, [...ids], now).catch((err: unknown) => {
        this.deps.logger.warn({ err, tenantId }, 'report heartbeat failed');
      });
    }
  }

  async request(
    principal: Principal,
    actor: AuditActor,
    address: string | null,
    raw: unknown,
  ): Promise<ReportView> {
    if (this.closed) throw new ProblemError('CLOUD_CONFLICT', 'the cloud is shutting down');
    const req = { ...parseReportRequest(raw), cleared: isCleared(principal) };
    if (req.type === 'export-access') mustReadAccessLog(req);
    const tenantId = principal.tenantId;
    const viewer = viewerOfPrincipal(principal);
    if (principal.sites !== null && (req.siteId === null || !seesSite(principal, req.siteId)))
      throw new ProblemError(
        'CLOUD_FORBIDDEN',
        `a caller limited to sites (${principal.sites.join(', ')}) must name one of them in siteId`,
      );
    if (req.siteId !== null && !(await this.deps.repo.site(viewer, req.siteId)))
      throw new ProblemError('CLOUD_VALIDATION', 'the request body is not valid', {
        errors: [{ path: 'siteId', message: 'no such site' }],
      });
    const now = new Date().toISOString();
    await this.sweep(tenantId);
    // The limit is the tenant's, whoever asked: every pending job counts.
    const pending = (await this.deps.repo.list(wholeTenant(tenantId), { limit: 200 })).filter(
      (r) => r.state === 'queued' || r.state === 'running',
    ).length;
    if (pending >= MAX_PENDING_PER_TENANT)
      throw new ProblemError(
        'CLOUD_RATE_LIMITED',
        `${pending} reports are already being generated; wait for them`,
        {
          retryAfter: 10,
        },
      );
    const id = randomUUID();
    await this.deps.db.transaction(async () => {
      await this.deps.repo.insert({
        tenant_id: tenantId,
        id,
        type: req.type,
        site_id: req.siteId,
        period_from: req.from,
        period_to: req.to,
        format: req.format,
        state: 'queued',
        requested_by: JSON.stringify(actor),
        requested_at: now,
        heartbeat_at: now,
        cleared: req.cleared ? 1 : 0,
      });
      await this.deps.audit.record({
        tenantId,
        action: 'report.request',
        outcome: 'success',
        actor,
        address,
        target: { type: 'report', id },
        after: { type: req.type, siteId: req.siteId, from: req.from, to: req.to, format: req.format },
      });
    });
    this.enqueue(tenantId, id);
    return reportView((await this.deps.repo.get(viewer, id))!);
  }

  private enqueue(tenantId: string, id: string) {
    const set = this.held.get(tenantId) ?? new Set<string>();
    set.add(id);
    this.held.set(tenantId, set);
    this.queue.push({ tenantId, id });
    this.scope.runInAsyncScope(() => {
      if (!this.pumping) {
        this.pumping = true;
        setImmediate(() => void this.pump());
      }
    });
  }

  private async pump() {
    try {
      for (let job = this.queue.shift(); job && !this.closed; job = this.queue.shift()) {
        this.current = this.run(job.tenantId, job.id);
        await this.current;
        this.current = null;
        const set = this.held.get(job.tenantId);
        set?.delete(job.id);
        if (set?.size === 0) this.held.delete(job.tenantId);
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Resolves when every queued job has finished (tests, the CLI). */
  async idle(): Promise<void> {
    while (this.pumping || this.queue.length > 0) await new Promise((r) => setTimeout(r, 20));
  }

  private async run(tenantId: string, id: string): Promise<void> {
    const { repo, audit, logger, db } = this.deps;
    // Claiming the job is the product's own work; the report itself is read as `readerOfJob`.
    const row = await repo.get(wholeTenant(tenantId), id);
    if (!row || !(await repo.start(tenantId, id, new Date().toISOString()))) return;
    const actor = JSON.parse(row.requested_by) as AuditActor;
    const reader = readerOfJob(
      row,
      actor.type === 'user' ? await this.users.byId(wholeTenant(tenantId), actor.id) : undefined,
    );
    const req: ReportRequest = {
      type: row.type as ReportType,
      siteId: row.site_id,
      from: row.period_from,
      to: row.period_to,
      format: row.format as ReportFormat,
      cleared: row.cleared === 1,
    };
    let lastWrite = 0;
    let total = 0;
    const progress: ProgressFn = async (done, t) => {
      if (this.closed) throw new Aborted('the cloud is shutting down');
      total = t;
      const now = Date.now();
      if (now - lastWrite >= this.progressEveryMs || done === t) {
        lastWrite = now;
        await repo.progress(tenantId, id, done, t, new Date(now).toISOString());
      }
    };
    const chunks = new ChunkSink((n, data) => repo.addChunk(tenantId, id, n, data));
    try {
      const generatedAt = this.clock().toISOString();
      const out = await db.bindTenant(tenantId, () =>
        // Flagged records served to a cleared requester are logged as the request's.
        generate(
          this.deps,
          { ...reader, actor, address: null, route: 'POST /reports' },
          req,
          chunks,
          progress,
          generatedAt,
        ),
      );
      await chunks.flush();
      const filename = reportFilename({ ...req, tenant: tenantId });
      const finishedAt = new Date().toISOString();
      await db.transaction(async () => {
        const finished = await repo.finish(tenantId, id, {
          filename,
          contentType: CONTENT_TYPES[req.format],
          size: out.size,
          sha256: out.sha256,
          sources: JSON.stringify(out.ctx.sources),
          summary: JSON.stringify(out.report.summary),
          total,
          // A type that never shows equipment data (access review, export-access log, integrity) is not.
          exportControlled:
            out.ctx.exportScope.cleared &&
            out.ctx.exportScope.flagged.size > 0 &&
            ['calibration-register', 'due-list', 'out-of-tolerance'].includes(req.type),
          now: finishedAt,
        });
        // Failed as interrupted meanwhile (its heartbeat was late): its chunks are gone.
        if (!finished) throw new Error('the job was failed as interrupted while it ran');
        await audit.record({
          tenantId,
          action: 'report.complete',
          outcome: 'success',
          actor,
          address: null,
          target: { type: 'report', id },
          after: { sha256: out.sha256, size: out.size, filename, generatedAt: out.ctx.generatedAt },
          detail: `sha256 ${out.sha256}`,
        });
      });
    } catch (err) {
      const message =
        err instanceof Aborted
          ? 'generation was interrupted (the cloud process stopped); request it again'
          : 'generation failed; the error has been logged';
      if (!(err instanceof Aborted)) logger.error({ err, tenantId, report: id }, 'report generation failed');
      await repo.fail(tenantId, id, message, new Date().toISOString()).catch(() => undefined);
      await audit
        .record({
          tenantId,
          action: 'report.complete',
          outcome: 'failure',
          actor,
          address: null,
          target: { type: 'report', id },
          detail: message,
        })
        .catch(() => undefined);
    }
  }

  /** The report if the caller may see it (site scope and export control: the repository's). */
  private async visible(principal: Principal, id: string): Promise<ReportRow> {
    const row = /^[0-9a-f-]{36}$/.test(id)
      ? await this.deps.repo.get(viewerOfPrincipal(principal), id)
      : undefined;
    if (!row) throw new ProblemError('CLOUD_NOT_FOUND', 'no such report');
    return row;
  }

  /** Fails the tenant's interrupted jobs (upkeep, whoever's they are). */
  private async sweep(tenantId: string) {
    await this.deps.repo.failStale(
      wholeTenant(tenantId),
      new Date(Date.now() - this.staleMs).toISOString(),
      new Date().toISOString(),
    );
  }

  async get(principal: Principal, id: string): Promise<ReportView> {
    await this.sweep(principal.tenantId);
    return reportView(await this.visible(principal, id));
  }

  async list(
    principal: Principal,
    q: { before?: { at: string; id: string } | undefined; limit: number },
  ): Promise<{ items: ReportView[]; next: string | null }> {
    await this.sweep(principal.tenantId);
    const rows = await this.deps.repo.list(viewerOfPrincipal(principal), q);
    const last = rows.at(-1);
    return {
      items: rows.map(reportView),
      next: rows.length === q.limit && last ? `${last.requested_at}~${last.id}` : null,
    };
  }

  /** The finished report's description and its bytes, chunk by chunk. The download is audited. */
  async file(
    principal: Principal,
    actor: AuditActor,
    address: string | null,
    id: string,
  ): Promise<{ row: ReportRow; chunks: AsyncIterable<Buffer> }> {
    const row = await this.visible(principal, id);
    if (row.state !== 'done')
      throw new ProblemError('CLOUD_CONFLICT', `the report is ${row.state}; its file is not available`, {
        state: row.state,
      });
    await this.deps.audit.record({
      tenantId: principal.tenantId,
      action: 'report.download',
      outcome: 'success',
      actor,
      address,
      target: { type: 'report', id },
      detail: `sha256 ${row.sha256}`,
    });
    const repo = this.deps.repo;
    const viewer = viewerOfPrincipal(principal);
    return {
      row,
      chunks: (async function* () {
        for (let n = 0; ; n++) {
          const c = await repo.chunk(viewer, id, n);
          if (!c) return;
          yield c;
        }
      })(),
    };
  }

  /** Stops taking jobs; the running one stops at its next page and is failed as interrupted. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.heartbeat);
    await this.current?.catch(() => undefined);
    const now = new Date().toISOString();
    for (const [tenantId, ids] of this.held)
      for (const id of ids)
        await this.deps.repo
          .fail(tenantId, id, 'generation was interrupted (the cloud process stopped); request it again', now)
          .catch(() => undefined);
    this.held.clear();
    this.queue.length = 0;
  }
}
