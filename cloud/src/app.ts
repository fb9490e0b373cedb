import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { Db } from './platform/db/db.js';
import { ProblemError } from './platform/errors.js';
import { keepRawJson, refuseNul } from './platform/http/validation.js';
import {
  type EvidenceService,
  type RecordsRepository,
  type IngestService,
  recordsRoutes,
} from './records/index.js';
import {
  type TenancyRepository,
  type EnrollmentService,
  type TenancyService,
  enrollmentRoutes,
  tenancyRoutes,
} from './tenancy/index.js';
import type { Witness } from './platform/witness.js';
import { openApiDocument } from './openapi.js';
import { mount } from './platform/http/contract.js';
import { platformApi } from './platform/http/platform-api.js';
import { type Accounts, authRoutes, usersRoutes } from './access/index.js';
import { auditRoutes } from './audit/index.js';
import {
  calibrationRoutes,
  certificateRoutes,
  chainRoutes,
  type CalibrationService,
  type CertificateService,
  type TraceabilityService,
  type TraceReviewRepository,
} from './calibration/index.js';
import { spcRoutes, type SpcService } from './spc/index.js';
import { remindersRoutes, type ReminderService } from './reminders/index.js';
import type { DomainEventBus } from './platform/events.js';
import { httpMetrics, opsRoutes, type Metrics, type OpsDeps } from './platform/metrics.js';
import { liveRoutes, type LiveService } from './live/index.js';
import { reportsRoutes, type ReportsModule } from './reports/index.js';
import { ootRoutes, type OotService } from './oot/index.js';
import { maintenanceRoutes, type MaintenanceService } from './maintenance/index.js';
import { type OperatorService, operatorRoutes } from './operator/index.js';
import { type ExportControlService, exportControlRoutes } from './export-control/index.js';

export interface AppDeps {
  db: Db;
  tenancy: TenancyRepository;
  records: RecordsRepository;
  ingest: IngestService;
  /** Evidence bundles of an edge's records. */
  evidence: EvidenceService;
  enrollment: EnrollmentService;
  /** The tenant's administration: sites, enrollment tokens, edges, API tokens. */
  tenancyAdmin: TenancyService;
  witness: Witness;
  calibration: CalibrationService;
  traceability: TraceabilityService;
  /** Certificate files of calibrations (server.ts wires them with the configured size limit). */
  certificates?: CertificateService;
  /** The standards each calibration used (the suspect chain of a failed standard). */
  traceReviews?: TraceReviewRepository;
  /** SPC charts, baselines and alerts. */
  spc: SpcService;
  accounts: Accounts;
  /** Export control (ITAR/EAR): flags, and the log of every access to flagged data. */
  exportControl: ExportControlService;
  /** The cloud operator's console (tenants across the cloud). */
  operator: OperatorService;
  /** Calibration reminders: settings, send-now, the delivery log. */
  reminders: ReminderService;
  /** Committed changes, for live updates, alerts and reminders. */
  events: DomainEventBus;
  /** Live snapshot (GET /sites/{siteId}/live); the socket.io side is attached to the server. */
  live?: LiveService;
  /** Compliance reports and the clause map (server.ts wires them). */
  reports?: ReportsModule;
  /** Out-of-tolerance cases (server.ts wires them). */
  oot?: OotService;
  /** Maintenance events, preventive-maintenance plans, out of service (server.ts wires them). */
  maintenance?: MaintenanceService;
  /** Prometheus metrics, /healthz, /readyz (with these readiness checks) and /metrics at the root. */
  metrics?: Metrics;
  readiness?: OpsDeps['checks'];
  logger: Logger;
  maxBodyBytes: number;
  /** Express "trust proxy" (config trustProxy); default loopback. */
  trustProxy?: string;
  /** RIGTRACE_PUBLIC_URL, the cloud's address for line PCs (the enrollment command). */
  publicUrl?: string | undefined;
}

/**
 * The built portal (`npm run build -w @rigtrace/portal`), found from this file (cloud/src or
 * cloud/dist), not from the working directory.
 */
export const PORTAL_DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../portal/dist');

/** The portal's page: its own scripts and styles only, nothing framed, nothing inline. */
const PORTAL_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/**
 * Serves the single-page portal when it has been built: hashed assets cached for a year,
 * index.html (never cached) for every other GET outside /api, so the portal's hash routes and
 * deep links load.
 */
function servePortal(app: express.Express, dir: string) {
  const index = path.join(dir, 'index.html');
  app.use(
    express.static(dir, {
      index: false,
      setHeaders: (res, file) => {
        res.setHeader(
          'cache-control',
          file.includes(`${path.sep}assets${path.sep}`) ? 'public, max-age=31536000, immutable' : 'no-store',
        );
        if (file.endsWith('.html')) res.setHeader('content-security-policy', PORTAL_CSP);
      },
    }),
  );
  app.use((req, res, next) => {
    const page = req.method === 'GET' || req.method === 'HEAD';
    // A missing file (a path with an extension) or an API path stays a problem+json 404.
    if (!page || /^\/api(\/|$)/.test(req.path) || /\.[A-Za-z0-9]+$/.test(req.path)) return next();
    res.setHeader('content-security-policy', PORTAL_CSP);
    res.setHeader('x-frame-options', 'DENY');
    res.setHeader('referrer-policy', 'same-origin');
    res.sendFile(index, (err) => {
      if (err) next(err);
    });
  });
}

function sendProblem(res: Response, err: ProblemError, instance: string) {
  res.locals.problemCode = err.code;
  res
    .status(err.status)
    .type('application/problem+json')
    .send(JSON.stringify(err.toProblem(instance)));
}

/** The API document's paths as patterns, with the methods each answers. */
let documented: { pattern: RegExp; methods: string[] }[] | undefined;
/** Built on first use: the document imports the features' routes, which load after this module. */
const DOCUMENTED = () =>
  (documented ??= Object.entries(
    openApiDocument.paths as unknown as Record<string, Record<string, unknown>>,
  ).map(([p, ops]) => ({
    pattern: new RegExp(`^/api/v1${p.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+')}$`),
    methods: Object.keys(ops)
      .filter((m) => ['get', 'post', 'put', 'delete', 'patch'].includes(m))
      .map((m) => m.toUpperCase()),
  })));

/** The methods the API answers on `p` (empty: no such path), HEAD with GET. */
function methodsOf(p: string): string[] {
  const d = DOCUMENTED().find((x) => x.pattern.test(p));
  if (!d) return [];
  return d.methods.includes('GET') ? [...d.methods, 'HEAD'] : d.methods;
}

interface RouteLayer {
  slash?: boolean;
  rawPath?: string;
  route?: { path: string; methods: Record<string, boolean> };
  handle: { stack?: RouteLayer[] };
}

/** Every route the app answers, as `{ method, path }` with `{param}` placeholders (the API document's form). */
export function routesOf(app: express.Express): { method: string; path: string }[] {
  const out: { method: string; path: string }[] = [];
  const walk = (stack: readonly RouteLayer[], prefix: string) => {
    for (const l of stack) {
      if (l.route)
        for (const m of Object.keys(l.route.methods))
          out.push({ method: m.toUpperCase(), path: `${prefix}${l.route.path}`.replace(/:(\w+)/g, '{$1}') });
      else if (l.handle.stack) walk(l.handle.stack, l.slash ? prefix : `${prefix}${l.rawPath ?? ''}`);
    }
  };
  walk((app as unknown as { router: { stack: RouteLayer[] } }).router.stack, '');
  return out;
}

/** The HTTP API. Every error leaves as RFC 7807 problem+json; none carries a stack trace. */
export function createApp(deps: AppDeps, portalDir: string = PORTAL_DIST): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // Every answer is `no-store` (below): an ETag would never be asked for again, and computing one
  // hashes the whole body (some 20 ms for a tenant's 30-day yield of 8 MB).
  app.set('etag', false);
  const trust = deps.trustProxy ?? 'loopback';
  app.set('trust proxy', /^\d+$/.test(trust) ? Number(trust) : trust);
  if (deps.metrics) app.use(httpMetrics(deps.metrics));
  app.use((req, res, next) => {
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('cache-control', 'no-store');
    if (
      ['POST', 'PUT', 'PATCH'].includes(req.method) &&
      req.headers['content-length'] !== '0' &&
      !req.is('application/json')
    ) {
      return sendProblem(res, new ProblemError('CLOUD_UNSUPPORTED_MEDIA_TYPE'), req.originalUrl);
    }
    next();
  });
  if (deps.metrics) app.use(opsRoutes({ metrics: deps.metrics, checks: deps.readiness ?? {} }));
  app.use(express.json({ limit: deps.maxBodyBytes, strict: true, verify: keepRawJson }));
  app.use(refuseNul);
  app.use(
    '/api/v1',
    authRoutes(deps.accounts),
    usersRoutes(deps.accounts),
    auditRoutes(deps.accounts, deps.exportControl),
  );
  const own = express.Router();
  mount(own, platformApi.health, (_req, res) => {
    res.json({ status: 'ok' });
  });
  mount(own, platformApi.document, (_req, res) => {
    res.json(openApiDocument);
  });
  app.use('/api/v1', own);
  app.use('/api/v1', enrollmentRoutes(deps));
  app.use('/api/v1', recordsRoutes(deps));
  app.use('/api/v1', calibrationRoutes(deps));
  app.use('/api/v1', exportControlRoutes(deps));
  if (deps.certificates) app.use('/api/v1', certificateRoutes({ ...deps, certificates: deps.certificates }));
  if (deps.traceReviews) app.use('/api/v1', chainRoutes(deps));
  app.use('/api/v1', spcRoutes(deps));
  app.use('/api/v1', tenancyRoutes(deps));
  app.use('/api/v1', remindersRoutes(deps));
  if (deps.live) app.use('/api/v1', liveRoutes({ ...deps, live: deps.live }));
  if (deps.reports) app.use('/api/v1', reportsRoutes({ accounts: deps.accounts, reports: deps.reports }));
  if (deps.oot) app.use('/api/v1', ootRoutes({ accounts: deps.accounts, oot: deps.oot }));
  if (deps.maintenance)
    app.use(
      '/api/v1',
      maintenanceRoutes({
        accounts: deps.accounts,
        maintenance: deps.maintenance,
      }),
    );
  app.use('/api/v1', operatorRoutes(deps));
  if (existsSync(path.join(portalDir, 'index.html'))) servePortal(app, portalDir);
  app.use((req: Request, res: Response) => {
    const allowed = methodsOf(req.path);
    if (allowed.length > 0) {
      res.setHeader('allow', allowed.join(', '));
      return sendProblem(
        res,
        new ProblemError(
          'CLOUD_METHOD_NOT_ALLOWED',
          `${req.path} answers ${allowed.join(', ')}, not ${req.method}`,
        ),
        req.originalUrl,
      );
    }
    sendProblem(
      res,
      new ProblemError('CLOUD_NOT_FOUND', `no route for ${req.method} ${req.path}`),
      req.originalUrl,
    );
  });
  // Express recognises an error handler by its four parameters.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof ProblemError) return sendProblem(res, err, req.originalUrl);
    const e = err as { type?: string; status?: number; message?: string };
    if (e.type === 'entity.parse.failed')
      return sendProblem(res, new ProblemError('CLOUD_MALFORMED_JSON', e.message), req.originalUrl);
    if (e.type === 'entity.too.large')
      return sendProblem(
        res,
        new ProblemError('CLOUD_PAYLOAD_TOO_LARGE', `the limit is ${deps.maxBodyBytes} bytes`),
        req.originalUrl,
      );
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500)
      return sendProblem(res, new ProblemError('CLOUD_VALIDATION', e.message), req.originalUrl);
    deps.logger.error({ err, method: req.method, url: req.originalUrl }, 'request failed');
    sendProblem(
      res,
      new ProblemError('CLOUD_INTERNAL', 'an internal error occurred; it has been logged'),
      req.originalUrl,
    );
  });
  return app;
}
