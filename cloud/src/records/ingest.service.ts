import {
  batchEnvelopeSchema,
  emptyLogState,
  type BatchProblem,
  type BatchVerification,
  type CompactRangeState,
} from '@rigtrace/protocols';
import type { Logger } from 'pino';
import { wholeTenant } from '../access/index.js';
import type { Db } from '../platform/db/db.js';
import { ProblemError, validationProblem } from '../platform/errors.js';
import type { RecordsRepository } from './records.repository.js';
import type { SecurityEventsRepository } from '../audit/index.js';
import type { EdgeRow, TenancyRepository } from '../tenancy/index.js';
import type { Witness } from '../platform/witness.js';
import { afterCommit, committed } from '../platform/after-commit.js';
import { settled } from '../platform/settled.js';
import { addressLimitKey, edgeLimitKey, type IngestLimiter } from './ingest-limit.js';
import { verifyHere, type VerifyInput, type VerifyPool } from './verify-pool.js';
import type { Projection, StoredBatch } from './projection.js';

export interface IngestResult {
  ackedSeq: number;
  accepted: number;
  duplicates: number;
  /** The checkpoint as accepted, countersigned by this cloud. */
  checkpoint: string;
}

/** Edges whose tenant IngestService keeps in memory at most. */
const MAX_CACHED_EDGES = 100_000;

/** A record that reaches the cloud this long after the edge received it is marked as replayed. */
export const REPLAYED_AFTER_MS = 60_000;

type Outcome =
  | { ok: true; result: IngestResult }
  | { ok: false; problems: BatchProblem[]; expectedSeq?: number; fork?: boolean };

/** A verification and the edge row (log state and key) it was made against. */
interface Verified {
  edge: EdgeRow;
  v: BatchVerification;
}

/** The same key and the same log (size, root and compact range): a verification against one holds for the other. */
function sameLog(a: EdgeRow, b: EdgeRow): boolean {
  return (
    a.log_size === b.log_size &&
    a.log_range === b.log_range &&
    (a.log_root === null ? b.log_root === null : b.log_root !== null && a.log_root.equals(b.log_root)) &&
    a.public_key.equals(b.public_key)
  );
}

/**
 * Verified ingest: a batch is stored only if its checkpoint is signed by the edge's enrolled
 * key, its records continue the stored log exactly, and the recomputed root equals the
 * checkpoint's. Re-sent records are acknowledged without being stored twice. Every refusal is
 * kept as a security event.
 */
export class IngestService {
  /** Edge id → tenant id (see edgeRow). */
  private readonly tenantOfEdge = new Map<string, string>();

  constructor(
    private readonly db: Db,
    private readonly tenancy: TenancyRepository,
    private readonly records: RecordsRepository,
    private readonly security: SecurityEventsRepository,
    private readonly witness: Witness,
    private readonly logger: Logger,
    /**
     * What runs after a batch adds records (`projection.ts`): each one's `inTransaction` step in
     * this order inside the batch's transaction, then each one's `afterCommit` step in this order.
     */
    private readonly projections: readonly Projection[],
    /** The ingest rate limit (ingest-limit.ts); none: unlimited. */
    private readonly limiter?: IngestLimiter,
    /**
     * Worker threads for verification (verify-pool.ts), used for batches of at least
     * `minRecords` records; none: every batch is verified on the event loop.
     */
    private readonly verifier?: { pool: VerifyPool; minRecords: number },
  ) {}

  /**
   * Takes the batch's turn in the budget of its edge when `edge` is enrolled and not retired,
   * else in the budget of the sending address: waits when the turn is near, throws 429 with
   * `retryAfter` (seconds) when it is not. True when it waited.
   */
  private async pace(edge: EdgeRow | undefined, address: string): Promise<boolean> {
    if (!this.limiter) return false;
    const key = edge && !edge.retired_at ? edgeLimitKey(edge.id) : addressLimitKey(address);
    const turn = await this.limiter.take(key);
    if (turn.ok) {
      if (turn.delayMs === 0) return false;
      await new Promise((resolve) => setTimeout(resolve, turn.delayMs));
      return true;
    }
    throw new ProblemError(
      'CLOUD_RATE_LIMITED',
      edge ? `too many batches from edge ${edge.id}` : 'too many batches from this address',
      { retryAfter: Math.max(1, Math.ceil(turn.retryAfterMs / 1000)), retryAfterMs: turn.retryAfterMs },
    );
  }

  /**
   * `backlog`: the records the edge says it still holds unsent (header X-RigTrace-Backlog),
   * stored on the edge row only when the batch verifies and adds records. The edge's last
   * contact, likewise, moves only with a batch that adds records. `text`: the UTF-8 JSON that
   * `body` was parsed from, if the caller has it (a verify worker then parses it itself).
   */
  async ingest(
    body: unknown,
    address: string,
    opts: { backlog?: number; text?: Uint8Array } = {},
  ): Promise<IngestResult> {
    // The limit comes before the batch is parsed: only the edge it names is read.
    const named = (body as { edge?: unknown } | null)?.edge;
    const known = typeof named === 'string' && named.length <= 128 ? await this.edgeRow(named) : undefined;
    const waited = await this.pace(known, address);
    const env = batchEnvelopeSchema.safeParse(body);
    if (!env.success) throw validationProblem(env.error, 'not a batch');
    // Read again after a wait: the log may have moved on meanwhile.
    const edge = known?.id === env.data.edge && !waited ? known : await this.edgeRow(env.data.edge);
    if (!edge) {
      await this.security.record({
        tenantId: null,
        code: 'INGEST_UNKNOWN_EDGE',
        address,
        detail: `batch for unknown edge ${env.data.edge}`,
      });
      throw new ProblemError('CLOUD_EDGE_UNKNOWN', `edge ${env.data.edge} is not enrolled`);
    }
    if (edge.retired_at) {
      await this.security.record({
        tenantId: edge.tenant_id,
        code: 'INGEST_RETIRED_EDGE',
        edgeId: edge.id,
        address,
        detail: `batch from edge ${edge.id}, retired at ${edge.retired_at}`,
      });
      throw new ProblemError('CLOUD_EDGE_RETIRED', `edge ${edge.id} was retired at ${edge.retired_at}`);
    }
    // The batch is verified here, outside the write transaction, against the edge's log as read
    // now: that CPU work (canonical JSON, hashes, signature, schema) then runs while other
    // batches write, instead of holding SQLite's single writer or the edge's row lock. The
    // transaction re-reads the edge under its lock and uses this verification only if the key
    // and log are still exactly the ones verified against; otherwise it verifies again there.
    let pre: Verified | undefined;
    try {
      pre = { edge, v: await this.verify(edge, body, opts.text ?? true) };
    } catch {
      pre = undefined; // verified (and failing the same way, if it must) under the lock
    }
    // Bound to the edge's tenant before the transaction opens, so that on PostgreSQL BEGIN and
    // the tenant setting travel together.
    const outcome = await this.db.bindTenant(edge.tenant_id, () =>
      committed(this.db, () => this.verifyAndStore(edge.tenant_id, edge.id, body, pre, opts.backlog)),
    );
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

  /**
   * Verifies `body` against `edge`'s key and log. Reads only what cannot change once written
   * (the stored leaf hashes and checkpoints up to the edge's log size), so it may run outside
   * the transaction; the caller decides whether `edge` is still the current log. `offLoop`: a
   * large enough batch is verified on a worker thread (if the pool fails, this rejects); given
   * as the UTF-8 JSON text `body` was parsed from, the worker is sent that text.
   */
  private async verify(
    edge: EdgeRow,
    body: unknown,
    offLoop: boolean | Uint8Array = false,
  ): Promise<BatchVerification> {
    const raw = (body as { records: unknown[] }).records;
    const resent = raw
      .map((r) => (r && typeof r === 'object' ? (r as { seq?: unknown }).seq : undefined))
      .filter(
        (s): s is number => typeof s === 'number' && Number.isSafeInteger(s) && s >= 1 && s <= edge.log_size,
      );
    const known =
      resent.length > 0
        ? await this.records.leafHashes(wholeTenant(edge.tenant_id), edge.id, resent)
        : new Map<number, Uint8Array>();
    // A batch of only re-sent records carries an older checkpoint: check it against the one accepted then.
    const lastResent = resent.length === raw.length ? Math.max(...resent) : undefined;
    const earlier =
      lastResent !== undefined && lastResent < edge.log_size
        ? await this.records.checkpointAt(wholeTenant(edge.tenant_id), edge.id, lastResent)
        : undefined;
    const input: VerifyInput = {
      body,
      publicKey: new Uint8Array(edge.public_key),
      state: edge.log_root
        ? {
            size: edge.log_size,
            root: new Uint8Array(edge.log_root),
            range: JSON.parse(edge.log_range) as CompactRangeState,
          }
        : emptyLogState(),
      known,
      earlier: earlier ? { size: earlier.size, root: new Uint8Array(earlier.root) } : undefined,
    };
    return offLoop !== false && this.verifier && raw.length >= this.verifier.minRecords
      ? this.verifier.pool.verify(offLoop === true ? input : { ...input, text: offLoop })
      : verifyHere(input);
  }

  /**
   * The edge's row. Its tenant is fixed at enrollment (edges are never moved or deleted), so it
   * is kept in memory after the first lookup and the row is read directly in that tenant.
   */
  private async edgeRow(id: string): Promise<EdgeRow | undefined> {
    const tenantId = this.tenantOfEdge.get(id);
    if (tenantId !== undefined) {
      const e = await this.tenancy.edgeForTenant(wholeTenant(tenantId), id);
      if (e) return e;
      this.tenantOfEdge.delete(id);
    }
    const e = await this.tenancy.edgeById(id);
    if (e && this.tenantOfEdge.size < MAX_CACHED_EDGES) this.tenantOfEdge.set(e.id, e.tenant_id);
    return e;
  }

  private async verifyAndStore(
    tenantId: string,
    edgeId: string,
    body: unknown,
    pre: Verified | undefined,
    backlog: number | undefined,
  ): Promise<Outcome> {
    // Re-read and lock inside the transaction: another request, in this process or another one
    // sharing the database, may just have advanced the log; until we commit, it waits for us.
    const edge = await this.tenancy.lockEdge(wholeTenant(tenantId), edgeId);
    if (!edge) throw new ProblemError('CLOUD_EDGE_UNKNOWN', `edge ${edgeId} is not enrolled`);
    // Retired while this batch was on its way: refused like any later one.
    if (edge.retired_at)
      throw new ProblemError('CLOUD_EDGE_RETIRED', `edge ${edge.id} was retired at ${edge.retired_at}`);
    const v = pre && sameLog(pre.edge, edge) ? pre.v : await this.verify(edge, body);
    if (!v.ok) return v;
    const now = new Date();
    const nowIso = now.toISOString();
    if (v.records.length === 0) {
      const latest = await this.records.latestCheckpoint(wholeTenant(edge.tenant_id), edge.id);
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
    const note = (body as { checkpoint: string }).checkpoint;
    const cosigned = this.witness.cosign(note, now);
    // The batch's writes (records, checkpoint, log state: one statement on PostgreSQL), issued
    // before the derived rows; all settle before the transaction ends.
    const writes = [
      this.records.storeBatch(
        edge.tenant_id,
        edge.id,
        v.records.map((record, i) => ({
          seq: record.seq,
          id: record.id,
          kind: record.kind,
          equipment: record.equipment,
          observedAt: record.observedAt,
          // The canonical JSON verifyBatch hashed: these bytes are the leaf's bytes.
          json: v.canonical[i]!,
          leafHash: v.leafHashes[i]!,
          replayed: now.getTime() - Date.parse(record.receivedAt) > REPLAYED_AFTER_MS,
        })),
        { size: v.checkpoint.size, root: v.checkpoint.root, note, cosignedNote: cosigned },
        {
          size: v.newState.size,
          root: v.newState.root,
          range: JSON.stringify(v.newState.range),
          checkpoint: note,
          // Only a batch that adds records tells something about the edge: a replay of one
          // already stored (anyone may send it again) leaves its health fields as they are.
          backlog,
        },
        nowIso,
      ),
    ];
    const batch: StoredBatch = {
      tenantId: edge.tenant_id,
      edgeId: edge.id,
      siteId: edge.site_id,
      records: v.records,
    };
    const derive = async () => {
      for (const p of this.projections) await p.inTransaction?.(batch);
    };
    if (this.db.statementsInOrder) {
      // The derived rows' statements queue behind these writes on the transaction's connection,
      // in the order they would have run after awaiting them: the hooks' own work (building rows)
      // overlaps the records INSERT instead of following it.
      await settled([...writes, Promise.resolve().then(derive)]);
    } else {
      await settled(writes);
      await derive();
    }
    afterCommit(() => this.afterCommitSteps(batch));
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

  /** Each projection's after-commit step, in the list's order; one that throws does not stop the rest. */
  private afterCommitSteps(batch: StoredBatch): void {
    for (const p of this.projections) {
      if (!p.afterCommit) continue;
      try {
        p.afterCommit(batch);
      } catch (err) {
        this.logger.error(
          { err, projection: p.name, tenant: batch.tenantId, edge: batch.edgeId },
          'projection failed after commit',
        );
      }
    }
  }
}
