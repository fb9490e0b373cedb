import type { RigRecord } from '@rigtrace/protocols';

/** A verified batch's new records, as stored: its tenant, edge and site, the records in seq order. */
export interface StoredBatch {
  tenantId: string;
  edgeId: string;
  siteId: string;
  records: readonly RigRecord[];
}

/**
 * What the cloud derives from records once a batch of them is stored (calibrations and the
 * traceability index, tag-out alerts, SPC, the live floor, metrics). `server.ts` declares the
 * list once; `IngestService` runs it for every batch that adds records, in the list's order:
 *
 * - `inTransaction`, inside the batch's transaction after its records are written: it must be
 *   idempotent, and if it throws the batch is not stored (the edge's log does not move, the edge
 *   retries);
 * - `afterCommit`, once that transaction has committed (never for one that rolled back): for work
 *   that must not hold the batch up or roll it back. It must not throw; an error is logged and the
 *   next projection's step still runs.
 */
export interface Projection {
  /** Its name, for logs and cloud/src/README.md's list. */
  readonly name: string;
  readonly inTransaction?: (batch: StoredBatch) => Promise<void>;
  readonly afterCommit?: (batch: StoredBatch) => void;
}
