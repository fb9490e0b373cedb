import {
  batchEnvelopeSchema,
  canonicalJson,
  emptyLogState,
  verifyBatch,
  type BatchProblem,
  type CompactRangeState,
  type RigRecord,
} from '@rigtrace/protocols';
import type { Logger } from 'pino';
import type { Db } from '../db/db.js';
import { ProblemError } from '../errors.js';
import type { RecordsRepository } from '../repositories/records.repository.js';
import type { SecurityEventsRepository } from '../repositories/security-events.repository.js';
import type { TenancyRepository } from '../repositories/tenancy.repository.js';
import type { Witness } from './witness.js';

export interface IngestResult {
  ackedSeq: number;
  accepted: number;
  duplicates: number;
  /** The checkpoint as accepted, countersigned by this cloud. */
  checkpoint: string;
}

/**
 * Runs inside the ingest transaction right after a batch's new records are stored (the
 * calibration engine derives calibrations and its traceability index there); it must be
 * idempotent. If it throws, the batch is not stored and the edge retries.
 */
export type RecordsStoredHook = (
  tenantId: string,
  edge: { id: string; siteId: string },
  records: readonly RigRecord[],
) => Promise<void>;

/** A record that reaches the cloud this long after the edge received it is marked as replayed. */
export const REPLAYED_AFTER_MS = 60_000;

type Outcome =
  | { ok: true; result: IngestResult }
  | { ok: false; problems: BatchProblem[]; expectedSeq?: number; fork?: boolean };

/**
 * Verified ingest: a batch is stored only if its checkpoint is signed by the edge's enrolled
 * key, its records continue the stored log exactly, and the recomputed root equals the
 * checkpoint's. Re-sent records are acknowledged without being stored twice. Every refusal is
 * kept as a security event.
 */
export class IngestService {
  constructor(
    private readonly db: Db,
    private readonly tenancy: TenancyRepository,
    private readonly records: RecordsRepository,
    private readonly security: SecurityEventsRepository,
    private readonly witness: Witness,
    private readonly logger: Logger,
    private readonly onRecordsStored?: RecordsStoredHook,
  ) {}

  async ingest(body: unknown, address: string): Promise<IngestResult> {
    const env = batchEnvelopeSchema.safeParse(body);
    if (!env.success) {
      throw new ProblemError('CLOUD_VALIDATION', 'not a batch', {
        errors: env.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
      });
    }
    const edge = await this.tenancy.edgeById(env.data.edge);
    if (!edge) {
      await this.security.record({
        tenantId: null,
        code: 'INGEST_UNKNOWN_EDGE',
        address,
        detail: `batch for unknown edge ${env.data.edge}`,
      });
      throw new ProblemError('CLOUD_EDGE_UNKNOWN', `edge ${env.data.edge} is not enrolled`);
    }
    const outcome = await this.db.transaction(() => this.verifyAndStore(edge.tenant_id, edge.id, body));
    if (outcome.ok) return outcome.result;

    const detail = outcome.problems
      .slice(0, 20)
      .map((p) => `${p.code}${p.seq !== undefined ? ` (seq ${p.seq})` : ''}: ${p.message}`)
      .join('; ');
    const extensions = {
      problems: outcome.problems.slice(0, 100),
      ...(outcome.expectedSeq !== undefined ? { expectedSeq: outcome.expectedSeq } : {}),
    };
    const onlyContinuity =
      outcome.expectedSeq !== undefined &&
      outcome.problems.every((p) => ['SEQ_GAP', 'SEQ_ORDER', 'SEQ_DUPLICATE'].includes(p.code));
    if (onlyContinuity) {
      // An edge that is behind or ahead is not an attack; it is told where to resume.
      throw new ProblemError('CLOUD_BATCH_NOT_CONTINUOUS', detail, extensions);
    }
    await this.security.record({
      tenantId: edge.tenant_id,
      code: outcome.fork ? 'INGEST_FORK' : 'INGEST_REFUSED',
      edgeId: edge.id,
      address,
      detail,
    });
    this.logger.warn(
      { tenant: edge.tenant_id, edge: edge.id, problems: outcome.problems.slice(0, 5) },
      'batch refused',
    );
    if (outcome.fork) throw new ProblemError('CLOUD_BATCH_FORK', detail, extensions);
    throw new ProblemError('CLOUD_BATCH_REFUSED', detail, extensions);
  }

  private async verifyAndStore(tenantId: string, edgeId: string, body: unknown): Promise<Outcome> {
    // Re-read and lock inside the transaction: another request, in this process or another one
    // sharing the database, may just have advanced the log; until we commit, it waits for us.
    const edge = await this.tenancy.lockEdge(tenantId, edgeId);
    if (!edge) throw new ProblemError('CLOUD_EDGE_UNKNOWN', `edge ${edgeId} is not enrolled`);
    const raw = (body as { records: unknown[] }).records;
    const resent = raw
      .map((r) => (r && typeof r === 'object' ? (r as { seq?: unknown }).seq : undefined))
      .filter(
        (s): s is number => typeof s === 'number' && Number.isSafeInteger(s) && s >= 1 && s <= edge.log_size,
      );
    const known =
      resent.length > 0
        ? await this.records.leafHashes(edge.tenant_id, edge.id, resent)
        : new Map<number, Uint8Array>();
    // A batch of only re-sent records carries an older checkpoint: check it against the one accepted then.
    const lastResent = resent.length === raw.length ? Math.max(...resent) : undefined;
    const earlier =
      lastResent !== undefined && lastResent < edge.log_size
        ? await this.records.checkpointAt(edge.tenant_id, edge.id, lastResent)
        : undefined;
    const v = verifyBatch(body, {
      publicKey: new Uint8Array(edge.public_key),
      state: edge.log_root
        ? {
            size: edge.log_size,
            root: new Uint8Array(edge.log_root),
            range: JSON.parse(edge.log_range) as CompactRangeState,
          }
        : emptyLogState(),
      knownLeafHash: (seq) => known.get(seq),
      knownRoot: (size) => (earlier?.size === size ? new Uint8Array(earlier.root) : undefined),
    });
    if (!v.ok) return v;
    const now = new Date();
    const nowIso = now.toISOString();
    if (v.records.length === 0) {
      await this.records.touchEdge(edge.tenant_id, edge.id, nowIso);
      const latest = await this.records.latestCheckpoint(edge.tenant_id, edge.id);
      return {
        ok: true,
        result: {
          ackedSeq: edge.log_size,
          accepted: 0,
          duplicates: v.duplicateCount,
          checkpoint: latest?.cosigned_note ?? '',
        },
      };
    }
    await this.records.insertRecords(
      edge.tenant_id,
      edge.id,
      v.records.map((record, i) => ({
        seq: record.seq,
        id: record.id,
        kind: record.kind,
        equipment: record.equipment,
        observedAt: record.observedAt,
        // verifyBatch returns the objects it hashed, so these bytes are the leaf's bytes.
        json: canonicalJson(record),
        leafHash: v.leafHashes[i]!,
        replayed: now.getTime() - Date.parse(record.receivedAt) > REPLAYED_AFTER_MS,
      })),
      nowIso,
    );
    await this.onRecordsStored?.(edge.tenant_id, { id: edge.id, siteId: edge.site_id }, v.records);
    const note = (body as { checkpoint: string }).checkpoint;
    const cosigned = this.witness.cosign(note, now);
    await this.records.insertCheckpoint(
      edge.tenant_id,
      edge.id,
      { size: v.checkpoint.size, root: v.checkpoint.root, note, cosignedNote: cosigned },
      nowIso,
    );
    await this.records.updateEdgeLog(
      edge.tenant_id,
      edge.id,
      {
        size: v.newState.size,
        root: v.newState.root,
        range: JSON.stringify(v.newState.range),
        checkpoint: note,
      },
      nowIso,
    );
    return {
      ok: true,
      result: {
        ackedSeq: v.newState.size,
        accepted: v.records.length,
        duplicates: v.duplicateCount,
        checkpoint: cosigned,
      },
    };
  }
}
