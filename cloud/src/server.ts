import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import { createApp } from './app.js';
import type { CloudConfig } from './config.js';
import type { Db } from './db/db.js';
import { migratePostgres, migrateSqlite } from './db/migrations.js';
import { PostgresDb } from './db/postgres.js';
import { SqliteDb } from './db/sqlite.js';
import { CalibrationRepository } from './repositories/calibration.repository.js';
import { EquipmentRepository } from './repositories/equipment.repository.js';
import { InspectionRepository } from './repositories/inspection.repository.js';
import { RecordsRepository } from './repositories/records.repository.js';
import { SecurityEventsRepository } from './repositories/security-events.repository.js';
import { TenancyRepository } from './repositories/tenancy.repository.js';
import { EnrollmentService } from './services/enrollment.service.js';
import { CalibrationService } from './services/calibration.service.js';
import { IngestService } from './services/ingest.service.js';
import { TraceabilityService } from './services/traceability.service.js';
import { Witness } from './services/witness.js';
import { DomainEventBus } from './services/events.js';
import { createAccounts } from './auth/accounts.js';

export type StoreConfig = Pick<
  CloudConfig,
  'dataDir' | 'databaseUrl' | 'databaseOwnerUrl' | 'dbAppRole' | 'dbPoolMax'
>;

/**
 * Opens the store and applies pending migrations: PostgreSQL when `databaseUrl` is set (the
 * migrations as the owner: `databaseOwnerUrl`, else `databaseUrl`'s own role; the queries as
 * the app role), else `cloud.sqlite` in the data folder.
 */
export async function openStore(cfg: StoreConfig, logger?: Logger) {
  let db: Db;
  if (cfg.databaseUrl) {
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
      await migrateSqlite(sqlite);
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
  close(): Promise<void>;
}

/** The composition root: wires repositories, services and routes, and listens. */
export async function startCloud(cfg: CloudConfig, logger: Logger): Promise<RunningCloud> {
  // The witness key lives in the data folder on either backend; processes sharing one
  // PostgreSQL must share this key too, or their countersignatures name different witnesses.
  const witness = Witness.load(cfg.dataDir, cfg.witnessName);
  const store = await openStore(cfg, logger);
  const events = new DomainEventBus();
  const calibration = new CalibrationService(
    store.db,
    store.tenancy,
    store.equipment,
    store.calibrations,
    store.inspections,
  );
  const traceability = new TraceabilityService(calibration, store.calibrations, store.inspections);
  const ingest = new IngestService(
    store.db,
    store.tenancy,
    store.records,
    store.security,
    witness,
    logger.child({ component: 'ingest' }),
    (tenantId, edge, records) => calibration.onRecordsStored(tenantId, edge, records),
  );
  const enrollment = new EnrollmentService(store.db, store.tenancy, store.security, witness);
  const accounts = createAccounts({ ...store, witness });
  // Refused ingests, forks and bad enrollments also go to the tenant's tamper-evident audit trail.
  store.security.onRecord((e) => accounts.audit.securityEvent(e));
  const app = createApp({
    ...store,
    ingest,
    enrollment,
    witness,
    calibration,
    traceability,
    accounts,
    events,
    logger,
    maxBodyBytes: cfg.maxBodyBytes,
  });
  const server = app.listen(cfg.port, cfg.host);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
  } catch (err) {
    await store.db.close();
    throw err;
  }
  const addr = server.address() as AddressInfo;
  const host = addr.address.includes(':') ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}`,
    port: addr.port,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await store.db.close();
    },
  };
}
