import { existsSync, mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import { createApp, routesOf } from './app.js';
import type { CloudConfig } from './platform/config.js';
import type { Db } from './platform/db/db.js';
import { MIGRATIONS, migratePostgres, migrateSqlite } from './platform/db/migrations.js';
import { describeDatabaseUrl, pgConnectionConfig, PostgresDb } from './platform/db/postgres.js';
import pg from 'pg';
import { SqliteDb } from './platform/db/sqlite.js';
import {
  CalibrationRepository,
  EquipmentRepository,
  CalibrationService,
  TraceabilityService,
  CertificateRepository,
  CertificateService,
  TraceReviewRepository,
} from './calibration/index.js';
import { InspectionRepository } from './production/index.js';
import {
  RecordsRepository,
  IngestService,
  EvidenceService,
  createIngestLimiter,
  OFF_LOOP_MIN_RECORDS,
  VerifyPool,
  type Projection,
  type StoredBatch,
} from './records/index.js';
import { SecurityEventsRepository } from './audit/index.js';
import { TenancyRepository, EnrollmentService, TenancyService } from './tenancy/index.js';
import { Witness } from './platform/witness.js';
import { DomainEventBus } from './platform/events.js';
import { createAccounts, SecretBox, startSessionCleanup, SessionsRepository } from './access/index.js';
import { AlertsRepository, SpcRepository, SpcService, caseOfAlert } from './spc/index.js';
import { RemindersRepository, ReminderService, type Clock } from './reminders/index.js';
import { setListenerErrorHandler } from './platform/after-commit.js';
import { LiveRepository, LiveService, attachLiveServer, type LiveServer } from './live/index.js';
import { countStoredRecords, Metrics } from './platform/metrics.js';
import { createReports } from './reports/index.js';
import { OotRepository, OotService } from './oot/index.js';
import { MaintenanceRepository, MaintenanceService } from './maintenance/index.js';
import { ExportControlService } from './export-control/index.js';
import { OperatorService } from './operator/index.js';
import { KEEP_ALIVE_MS } from './platform/http/keep-alive.js';

export type StoreConfig = Pick<
  CloudConfig,
  'dataDir' | 'databaseUrl' | 'databaseOwnerUrl' | 'dbAppRole' | 'dbPoolMax'
>;

export type Store = {
  db: Db;
  tenancy: TenancyRepository;
  records: RecordsRepository;
  security: SecurityEventsRepository;
  equipment: EquipmentRepository;
  calibrations: CalibrationRepository;
  inspections: InspectionRepository;
};

/** A store that was never set up, where one was required to exist. */
export class MissingDatabaseError extends Error {
  constructor(readonly where: string) {
    super(
      `no RigTrace database at ${where}: check --config, RIGTRACE_DATA_DIR or DATABASE_URL ` +
        '(start the service once with `rigtrace-cloud serve`, or pass --create-database to create it here)',
    );
    this.name = 'MissingDatabaseError';
  }
}

async function assertStoreExists(cfg: StoreConfig): Promise<void> {
  if (!cfg.databaseUrl) {
    const file = path.join(cfg.dataDir, 'cloud.sqlite');
    if (!existsSync(file)) throw new MissingDatabaseError(file);
    return;
  }
  const client = new pg.Client(pgConnectionConfig(cfg.databaseOwnerUrl ?? cfg.databaseUrl, []));
  try {
    await client.connect();
  } catch (err) {
    // A misspelt database name in the URL: PostgreSQL's invalid_catalog_name.
    if ((err as { code?: unknown }).code === '3D000')
      throw new MissingDatabaseError(describeDatabaseUrl(cfg.databaseUrl));
    throw err;
  }
  try {
    const r = await client.query<{ ok: boolean }>(
      "SELECT to_regclass('public.schema_migrations') IS NOT NULL AS ok",
    );
    if (!r.rows[0]?.ok) throw new MissingDatabaseError(describeDatabaseUrl(cfg.databaseUrl));
  } finally {
    await client.end();
  }
}

/**
 * Refuses a store whose schema is behind this code (migrations not yet applied), without
 * changing it: for a command that must only read.
 */
async function assertMigrated(cfg: StoreConfig, where: string): Promise<void> {
  let versions: number[];
  if (cfg.databaseUrl) {
    const client = new pg.Client(pgConnectionConfig(cfg.databaseOwnerUrl ?? cfg.databaseUrl, []));
    await client.connect();
    try {
      versions = (await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map(
        (r) => Number(r.version),
      );
    } finally {
      await client.end();
    }
  } else {
    const sqlite = await SqliteDb.open(path.join(cfg.dataDir, 'cloud.sqlite'));
    try {
      versions = (await sqlite.all<{ version: number }>('SELECT version FROM schema_migrations')).map((r) =>
        Number(r.version),
      );
    } finally {
      await sqlite.close();
    }
  }
  const done = new Set(versions);
  const pending = MIGRATIONS.filter((m) => !done.has(m.version)).map((m) => m.version);
  if (pending.length > 0)
    throw new Error(
      `the database at ${where} is older than this version (migrations ${pending.join(', ')} not applied): start the service once, which applies them, then run this again`,
    );
}

/**
 * Opens the store and applies pending migrations: PostgreSQL when `databaseUrl` is set (the
 * migrations as the owner: `databaseOwnerUrl`, else `databaseUrl`'s own role; the queries as
 * the app role), else `cloud.sqlite` in the data folder.
 */
export async function openStore(
  cfg: StoreConfig,
  logger?: Logger,
  /**
   * mustExist: refuse (MissingDatabaseError) a store that was never set up, rather than create
   * an empty one: the admin commands, so that a wrong data folder or URL is an error, not a
   * second cloud. `serve` creates it.
   * migrate: false for a command that must change nothing (a dry run): no migration, no new
   * partition; a store behind this code's migrations is refused instead.
   */
  options: { mustExist?: boolean; migrate?: boolean } = {},
): Promise<Store> {
  if (options.mustExist || options.migrate === false) await assertStoreExists(cfg);
  const migrate = options.migrate !== false;
  if (!migrate)
    await assertMigrated(
      cfg,
      cfg.databaseUrl ? describeDatabaseUrl(cfg.databaseUrl) : path.join(cfg.dataDir, 'cloud.sqlite'),
    );
  let db: Db;
  if (cfg.databaseUrl) {
    if (migrate)
      await migratePostgres(cfg.databaseOwnerUrl ?? cfg.databaseUrl, cfg.dbAppRole, {
        ownerSwitchesRole: !cfg.databaseOwnerUrl,
      });
    db = await PostgresDb.connect(cfg.databaseUrl, {
      appRole: cfg.dbAppRole,
      poolMax: cfg.dbPoolMax,
      onIdleError: (err) => logger?.warn({ err }, 'idle PostgreSQL connection failed'),
    });
  } else {
    mkdirSync(cfg.dataDir, { recursive: true, mode: 0o700 });
    const sqlite = await SqliteDb.open(path.join(cfg.dataDir, 'cloud.sqlite'));
    try {
      if (migrate) await migrateSqlite(sqlite);
    } catch (err) {
      await sqlite.close().catch(() => undefined);
      throw err;
    }
    db = sqlite;
  }
  return {
    db,
    tenancy: new TenancyRepository(db),
    records: new RecordsRepository(db),
    security: new SecurityEventsRepository(db),
    equipment: new EquipmentRepository(db),
    calibrations: new CalibrationRepository(db),
    inspections: new InspectionRepository(db),
  };
}

export interface RunningCloud {
  url: string;
  port: number;
  /** The reminder scheduler of this process (tests run passes with `runOnce`). */
  reminders: ReminderService;
  /** Every route the process answers (the API contract test compares them with the API document). */
  routes: readonly { method: string; path: string }[];
  close(): Promise<void>;
}

const DAY_MS = 24 * 3600_000;

/** The composition root: wires repositories, services and routes, and listens. */
export async function startCloud(
  cfg: CloudConfig,
  logger: Logger,
  /** `clock`: the time the reminder scheduler and calibration "today" read (tests); default the system clock. */
  options: { clock?: Clock } = {},
): Promise<RunningCloud> {
  // The witness key lives in the data folder on either backend; processes sharing one
  // PostgreSQL must share this key too, or their countersignatures name different witnesses.
  // RIGTRACE_WITNESS_KEY_FILE names one shared file instead (STORAGE.md).
  const witness = Witness.load(cfg.dataDir, cfg.witnessName, cfg.witnessKeyFile);
  const store = await openStore(cfg, logger);
  const events = new DomainEventBus();
  setListenerErrorHandler(events, (err, event) =>
    logger.error({ err, event }, 'domain event listener failed'),
  );
  const metrics = new Metrics();
  // TOTP secrets are encrypted at rest with a key kept outside the database.
  const accounts = createAccounts({
    ...store,
    witness,
    secrets: SecretBox.load(cfg.dataDir, cfg.secretsKey),
  });
  const exportControl = new ExportControlService(store.db, accounts.audit);
  const liveRepo = new LiveRepository(store.db);
  const live = new LiveService(
    liveRepo,
    store.inspections,
    exportControl,
    logger.child({ component: 'live' }),
    metrics,
  );
  live.listen(events);
  const calibration = new CalibrationService(
    store.db,
    store.tenancy,
    store.equipment,
    store.calibrations,
    store.inspections,
    accounts.audit,
    exportControl,
    events,
    options.clock,
  );
  const traceReviews = new TraceReviewRepository(store.db);
  const traceability = new TraceabilityService(
    calibration,
    store.calibrations,
    store.inspections,
    traceReviews,
    accounts.audit,
  );
  const certificates = new CertificateService(
    store.db,
    new CertificateRepository(store.db),
    accounts.audit,
    exportControl,
    cfg.certificateMaxBytes,
  );
  const maintenance = new MaintenanceService(
    store.db,
    new MaintenanceRepository(store.db),
    store.equipment,
    accounts.audit,
    exportControl,
    store.tenancy,
    options.clock,
    events,
  );
  const oot = new OotService({
    db: store.db,
    repo: new OotRepository(store.db),
    calibrations: store.calibrations,
    traceability,
    inspections: store.inspections,
    alerts: new AlertsRepository(store.db),
    audit: accounts.audit,
    events,
    // Out of service (maintenance) tags equipment out too: its use raises the same alert.
    outOfService: maintenance,
    tenancy: store.tenancy,
  });
  // A failed calibration opens its case in the same transaction that stores it.
  calibration.setHooks({
    stored: async (tenantId, c) => {
      // The calibrations made with a standard are re-evaluated when its history changes.
      await traceability.onCalibrationStored(tenantId, c);
      await oot.onCalibrationStored(tenantId, c);
    },
    voided: async (tenantId, c) => {
      await traceability.onCalibrationVoided(tenantId, c);
      await oot.onCalibrationVoided(tenantId, c);
    },
  });
  const spc = new SpcService(store.db, new SpcRepository(store.db), new AlertsRepository(store.db), {
    logger: logger.child({ component: 'spc' }),
    events,
    audit: accounts.audit,
  });
  const ingestLimiter = createIngestLimiter({
    redisUrl: cfg.redisUrl,
    redisKeyPrefix: cfg.redisKeyPrefix,
    policy: {
      perSecond: cfg.ingestBatchesPerSecond,
      burst: cfg.ingestBurst,
      maxDelayMs: cfg.ingestMaxDelayMs,
    },
    logger: logger.child({ component: 'ingest' }),
  });
  const verifyPool = cfg.verifyWorkers > 0 ? new VerifyPool(cfg.verifyWorkers) : undefined;
  // What runs after a batch adds records, in this order (cloud/src/README.md, "After a batch").
  const edgeOf = (b: StoredBatch) => ({ id: b.edgeId, siteId: b.siteId });
  const projections: Projection[] = [
    {
      // Calibrations from calibration records, and the traceability index (records by gauge,
      // part and position) that the next projections and a calibration's hooks read.
      name: 'calibration',
      inTransaction: (b) => calibration.onRecordsStored(b.tenantId, edgeOf(b), b.records),
    },
    {
      // Use of tagged-out equipment raises a tag-out alert.
      name: 'out-of-tolerance',
      inTransaction: (b) => oot.onRecordsStored(b.tenantId, edgeOf(b), b.records),
    },
    {
      // Measurements and their summaries in the transaction; the run rules once it committed.
      name: 'spc',
      inTransaction: (b) => spc.onRecordsStored(b.tenantId, edgeOf(b), b.records),
      afterCommit: (b) => spc.evaluateAfterCommit(b),
    },
    {
      // The live floor's points and rig states; what changed is pushed once committed.
      name: 'live',
      inTransaction: (b) => live.onRecordsStored(b.tenantId, edgeOf(b), b.records),
    },
    { name: 'metrics', afterCommit: (b) => countStoredRecords(metrics, b.records) },
  ];
  const ingest = new IngestService(
    store.db,
    store.tenancy,
    store.records,
    store.security,
    witness,
    logger.child({ component: 'ingest' }),
    projections,
    ingestLimiter,
    verifyPool ? { pool: verifyPool, minRecords: OFF_LOOP_MIN_RECORDS } : undefined,
  );
  const enrollment = new EnrollmentService(store.db, store.tenancy, store.security, witness);
  const tenancyAdmin = new TenancyService({
    db: store.db,
    tenancy: store.tenancy,
    records: store.records,
    witness,
    audit: accounts.audit,
    calibration,
  });
  // Refused ingests, forks and bad enrollments also go to the tenant's tamper-evident audit trail.
  store.security.onRecord((e) => accounts.audit.securityEvent(e));
  const reminders = new ReminderService({
    db: store.db,
    repo: new RemindersRepository(store.db),
    equipment: store.equipment,
    calibration,
    readers: (tenantId, emails) => accounts.viewersByEmail(tenantId, emails),
    maintenance,
    audit: accounts.audit,
    config: cfg,
    logger: logger.child({ component: 'reminders' }),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const reports = createReports({
    db: store.db,
    tenancy: store.tenancy,
    records: store.records,
    traceability,
    oot,
    audit: accounts.audit,
    witness,
    exportControl,
    logger: logger.child({ component: 'reports' }),
    clock: options.clock,
  });
  const app = createApp({
    ...store,
    exportControl,
    evidence: new EvidenceService({ db: store.db, records: store.records, exportControl }),
    operator: new OperatorService({ db: store.db, tenancy: store.tenancy, accounts }),
    certificates,
    traceReviews,
    reports,
    oot,
    maintenance,
    ingest,
    enrollment,
    tenancyAdmin,
    witness,
    calibration,
    traceability,
    spc,
    accounts,
    reminders,
    events,
    logger,
    maxBodyBytes: cfg.maxBodyBytes,
    trustProxy: cfg.trustProxy,
    publicUrl: cfg.publicUrl,
    live,
    metrics,
    readiness: {
      database: () => liveRepo.ping(),
      redis: cfg.redisUrl
        ? () => liveServer?.checkRedis() ?? Promise.reject(new Error('starting'))
        : undefined,
    },
  });
  const server = app.listen(cfg.port, cfg.host);
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  // A request's headers may take as long as ever (60 s), but never longer than an idle wait.
  server.headersTimeout = Math.max(server.headersTimeout, KEEP_ALIVE_MS + 1000);
  let liveServer: LiveServer | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    liveServer = attachLiveServer(server, {
      accounts,
      tenancy: store.tenancy,
      live,
      logger: logger.child({ component: 'live' }),
      metrics,
      redisUrl: cfg.redisUrl,
      redisKeyPrefix: cfg.redisKeyPrefix,
      recheckMs: cfg.liveRecheckSeconds * 1000,
    });
  } catch (err) {
    server.close();
    metrics.stop();
    await ingestLimiter.close();
    await verifyPool?.close();
    await store.db.close();
    throw err;
  }
  const pool = store.db instanceof PostgresDb ? store.db : undefined;
  metrics.setSources({
    liveSockets: () => liveServer?.sockets() ?? 0,
    ...(pool ? { dbPool: () => pool.poolStats() } : {}),
  });
  // The latest open alerts of a site, for the live snapshot.
  const alertsForLive = new AlertsRepository(store.db);
  live.setOpenAlertsProvider(async (viewer, siteId, limit) =>
    (await alertsForLive.list(viewer, { siteId, state: 'open', limit })).map((a) => ({
      siteId: a.site_id,
      id: a.id,
      kind: a.kind,
      severity: a.severity,
      message: a.message,
      at: a.at,
      ...(a.tag !== null ? { tag: a.tag } : {}),
      ...caseOfAlert(a.detail),
    })),
  );
  // A gauge's calibration status, for the live snapshot.
  live.setCalibrationProvider((tenantId, tags) => calibration.statusesOf(tenantId, tags));
  // A gauge tagged out (the out-of-tolerance module's rule), for the live snapshot's "Do not use".
  live.setTagOutProvider((tenantId, tags) => oot.tagOuts(tenantId, tags));
  const cleanup = startSessionCleanup({
    sessions: new SessionsRepository(store.db),
    throttle: accounts.throttle.policy,
    intervalMs: cfg.sessionCleanupSeconds * 1000,
    logger: logger.child({ component: 'session-cleanup' }),
  });
  reminders.start();
  // PostgreSQL: next month's partition of records exists before the month starts (migrations
  // create it at start; a process that runs for weeks does it daily). A record of a month
  // without one lands in the default partition meanwhile: ingest never waits for this.
  const monthsAhead = setInterval(() => {
    store.records
      .partitionsAhead(new Date())
      .catch((err: unknown) => logger.warn({ err }, 'creating the partitions of records failed'));
  }, DAY_MS);
  monthsAhead.unref();
  const addr = server.address() as AddressInfo;
  const host = addr.address.includes(':') ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}`,
    port: addr.port,
    reminders,
    routes: routesOf(app),
    async close() {
      clearInterval(monthsAhead);
      await liveServer?.close();
      metrics.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // close() waits for every connection to end: one whose client stopped reading would hold
      // the stop for ever. Requests in flight get a few seconds, then the rest are cut.
      const cut = setTimeout(() => server.closeAllConnections(), 5000);
      await closed;
      clearTimeout(cut);
      server.closeAllConnections();
      await cleanup.stop();
      await reminders.stop();
      // SPC rule checks started by the last ingests finish before the store closes.
      await spc.idle();
      await reports.service.close();
      await ingestLimiter.close();
      await verifyPool?.close();
      await store.db.close();
    },
  };
}
