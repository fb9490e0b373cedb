import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import { createApp } from './app.js';
import type { CloudConfig } from './config.js';
import { migrate } from './db/migrations.js';
import { SqliteDb } from './db/sqlite.js';
import { RecordsRepository } from './repositories/records.repository.js';
import { SecurityEventsRepository } from './repositories/security-events.repository.js';
import { TenancyRepository } from './repositories/tenancy.repository.js';
import { EnrollmentService } from './services/enrollment.service.js';
import { IngestService } from './services/ingest.service.js';
import { Witness } from './services/witness.js';

/** Opens the database in the data folder and applies pending migrations. */
export async function openStore(dataDir: string) {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const db = await SqliteDb.open(path.join(dataDir, 'cloud.sqlite'));
  await migrate(db);
  return {
    db,
    tenancy: new TenancyRepository(db),
    records: new RecordsRepository(db),
    security: new SecurityEventsRepository(db),
  };
}

export interface RunningCloud {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** The composition root: wires repositories, services and routes, and listens. */
export async function startCloud(cfg: CloudConfig, logger: Logger): Promise<RunningCloud> {
  const store = await openStore(cfg.dataDir);
  const witness = Witness.load(cfg.dataDir, cfg.witnessName);
  const ingest = new IngestService(
    store.db,
    store.tenancy,
    store.records,
    store.security,
    witness,
    logger.child({ component: 'ingest' }),
  );
  const enrollment = new EnrollmentService(store.db, store.tenancy, store.security, witness);
  const app = createApp({ ...store, ingest, enrollment, witness, logger, maxBodyBytes: cfg.maxBodyBytes });
  const server = app.listen(cfg.port, cfg.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
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
