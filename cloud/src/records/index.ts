// Records: verified ingest of edge batches, the stored logs, evidence bundles and log verification.
// The feature's public surface: other modules import from here, never from its files.

export { verifyEdgeLog } from './edge-log-verifier.js';
export { EvidenceService } from './evidence.service.js';
export { IngestService } from './ingest.service.js';
export type { Projection, StoredBatch } from './projection.js';
export { RecordsRepository } from './records.repository.js';
export { recordsApi, recordsRoutes } from './records.routes.js';
export { createIngestLimiter, type IngestLimiter, type IngestLimitPolicy } from './ingest-limit.js';
export { VerifyPool, OFF_LOOP_MIN_RECORDS } from './verify-pool.js';
export {
  parseMonth,
  planRetention,
  RecordsRetention,
  SQLITE_KEEPS_LEAVES,
  type OpenCase,
  type RecordMonth,
  type RetentionHold,
  type RetentionPlan,
} from './retention.js';
