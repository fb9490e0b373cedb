import {
  CompactRange,
  bytesEqual,
  canonicalJson,
  leafHashOfText,
  parseSignedCheckpoint,
  toBase64,
  verifyCheckpoint,
  verifyCosignature,
} from '@rigtrace/protocols';
import type { RecordsRepository } from './records.repository.js';
import type { EdgeRow } from '../tenancy/index.js';
import type { Witness } from '../platform/witness.js';
import { wholeTenant } from '../access/index.js';

/** What went wrong first, with where: a record's seq or a checkpoint's size. */
export interface LogProblem {
  code:
    | 'RECORD_MISSING'
    | 'RECORD_NOT_CANONICAL'
    | 'RECORD_MISMATCH'
    | 'LEAF_HASH_MISMATCH'
    | 'CHECKPOINT_SIGNATURE'
    | 'CHECKPOINT_MISMATCH'
    | 'ROOT_MISMATCH'
    | 'COSIGNATURE'
    | 'CHECKPOINT_ORDER'
    | 'RECORDS_BEYOND_CHECKPOINT'
    | 'EDGE_STATE_MISMATCH';
  message: string;
  seq?: number;
  checkpointSize?: number;
}

export type EdgeLogVerification = {
  edgeId: string;
  checkedAt: string;
  /** Records recomputed and checkpoints checked before the first problem (all of them when ok). */
  verifiedRecords: number;
  verifiedCheckpoints: number;
  size: number;
} & ({ ok: true; root: string | null } | { ok: false; problem: LogProblem });

const PAGE = 2000;

/**
 * A stored record's leaf hash recomputed from its stored JSON, or what is wrong with it: not
 * canonical JSON, naming another edge or seq, or not hashing to the stored leaf hash.
 */
function checkRecord(json: string, seq: number, edgeId: string, storedLeaf: Buffer): Uint8Array | LogProblem {
  let parsed: { seq?: unknown; edge?: unknown };
  try {
    parsed = JSON.parse(json) as { seq?: unknown; edge?: unknown };
  } catch {
    return { code: 'RECORD_NOT_CANONICAL', message: `record ${seq} is not JSON`, seq };
  }
  if (canonicalJson(parsed) !== json)
    return { code: 'RECORD_NOT_CANONICAL', message: `record ${seq} is not stored in canonical form`, seq };
  if (parsed.seq !== seq || parsed.edge !== edgeId)
    return {
      code: 'RECORD_MISMATCH',
      message: `record ${seq} names edge ${String(parsed.edge)} seq ${String(parsed.seq)}`,
      seq,
    };
  const leaf = leafHashOfText(json);
  if (!bytesEqual(leaf, new Uint8Array(storedLeaf)))
    return {
      code: 'LEAF_HASH_MISMATCH',
      message: `record ${seq} does not hash to its stored leaf hash: it was changed after it was accepted`,
      seq,
    };
  return leaf;
}

/**
 * Recomputes an edge's stored log from scratch, the way an auditor with the database would:
 * each record's leaf hash from its stored canonical JSON (equal to the stored hash), the Merkle
 * root after each accepted checkpoint's size from those leaves (equal to the checkpoint's root),
 * the edge's Ed25519 signature and the cloud witness's cosignature on each checkpoint, and the
 * edge row's log state. Because every checkpoint's root is recomputed over a prefix of one leaf
 * sequence, each checkpoint is thereby proven consistent with every earlier one (a consistency
 * proof between them could only restate that). Stops at the first problem and names it.
 */
export async function verifyEdgeLog(
  edge: EdgeRow,
  records: RecordsRepository,
  witness: Witness,
): Promise<EdgeLogVerification> {
  const checkedAt = new Date().toISOString();
  // The whole log, whoever asked for the check: every record is recomputed.
  const whole = wholeTenant(edge.tenant_id);
  const publicKey = new Uint8Array(edge.public_key);
  // Bounded by the log size read with the edge row: batches accepted while this runs are not
  // half-seen (they are checked next time).
  const checkpoints = (await records.checkpointsOf(whole, edge.id)).filter((c) => c.size <= edge.log_size);
  const range = CompactRange.empty();
  let verifiedCheckpoints = 0;
  let cpIndex = 0;
  const base = { edgeId: edge.id, checkedAt, size: edge.log_size };
  const fail = (problem: LogProblem): EdgeLogVerification => ({
    ...base,
    ok: false,
    verifiedRecords: range.size,
    verifiedCheckpoints,
    problem,
  });

  for (let i = 1; i < checkpoints.length; i++) {
    if (checkpoints[i]!.size <= checkpoints[i - 1]!.size)
      return fail({
        code: 'CHECKPOINT_ORDER',
        message: `checkpoint sizes do not grow at ${checkpoints[i]!.size}`,
        checkpointSize: checkpoints[i]!.size,
      });
  }

  const checkCheckpoint = (cp: (typeof checkpoints)[number]): LogProblem | undefined => {
    const where = { checkpointSize: cp.size };
    const signed = verifyCheckpoint(cp.note, edge.id, publicKey);
    if (!signed.ok)
      return {
        code: 'CHECKPOINT_SIGNATURE',
        message: `checkpoint ${cp.size}: ${signed.message}`,
        ...where,
      };
    if (signed.checkpoint.origin !== edge.id || signed.checkpoint.size !== cp.size)
      return {
        code: 'CHECKPOINT_MISMATCH',
        message: `checkpoint ${cp.size} is signed for origin ${signed.checkpoint.origin} size ${signed.checkpoint.size}`,
        ...where,
      };
    if (!bytesEqual(signed.checkpoint.root, new Uint8Array(cp.root)))
      return {
        code: 'CHECKPOINT_MISMATCH',
        message: `checkpoint ${cp.size}: the stored root differs from the signed note's root`,
        ...where,
      };
    if (!bytesEqual(signed.checkpoint.root, range.root()))
      return {
        code: 'ROOT_MISMATCH',
        message: `checkpoint ${cp.size}: the root recomputed from the stored records (${toBase64(range.root())}) is not the signed root (${toBase64(signed.checkpoint.root)})`,
        ...where,
      };
    const cosigned = verifyCosignature(cp.cosigned_note, witness.name, witness.publicKey);
    if (!cosigned.ok)
      return { code: 'COSIGNATURE', message: `checkpoint ${cp.size}: ${cosigned.message}`, ...where };
    if (parseSignedCheckpoint(cp.cosigned_note).body !== parseSignedCheckpoint(cp.note).body)
      return {
        code: 'COSIGNATURE',
        message: `checkpoint ${cp.size}: the cosigned note is for another checkpoint`,
        ...where,
      };
    return undefined;
  };

  const lastSize = checkpoints.at(-1)?.size ?? 0;
  for (;;) {
    const rows = await records.leafPage(whole, edge.id, range.size, edge.log_size, PAGE);
    for (const row of rows) {
      const seq = range.size + 1;
      if (row.seq !== seq) return fail({ code: 'RECORD_MISSING', message: `record ${seq} is missing`, seq });
      if (seq > lastSize)
        return fail({
          code: 'RECORDS_BEYOND_CHECKPOINT',
          message: `record ${seq} is stored but no accepted checkpoint covers it`,
          seq,
        });
      const stored = row.json === null ? null : checkRecord(row.json, seq, edge.id, row.leaf_hash);
      if (stored !== null && !(stored instanceof Uint8Array)) return fail(stored);
      // json null: its month was dropped by retention; the stored leaf still proves the checkpoints.
      const leaf = stored ?? new Uint8Array(row.leaf_hash);
      range.append(leaf);
      while (cpIndex < checkpoints.length && checkpoints[cpIndex]!.size === range.size) {
        const problem = checkCheckpoint(checkpoints[cpIndex]!);
        if (problem) return fail(problem);
        verifiedCheckpoints += 1;
        cpIndex += 1;
      }
    }
    if (rows.length < PAGE) break;
  }
  if (cpIndex < checkpoints.length) {
    const cp = checkpoints[cpIndex]!;
    return fail({
      code: 'RECORD_MISSING',
      message: `checkpoint ${cp.size} covers records up to ${cp.size}, but only ${range.size} are stored`,
      seq: range.size + 1,
      checkpointSize: cp.size,
    });
  }
  if (range.size < edge.log_size)
    return fail({
      code: 'RECORD_MISSING',
      message: `the edge's log has ${edge.log_size} records, but only ${range.size} are stored`,
      seq: range.size + 1,
    });
  const stateRoot = edge.log_root ? new Uint8Array(edge.log_root) : null;
  if (lastSize !== edge.log_size || (range.size > 0 && (!stateRoot || !bytesEqual(stateRoot, range.root()))))
    return fail({
      code: 'EDGE_STATE_MISMATCH',
      message: `the edge's log state (size ${edge.log_size}) does not match the stored log (size ${range.size})`,
    });
  return {
    ...base,
    ok: true,
    verifiedRecords: range.size,
    verifiedCheckpoints,
    root: range.size > 0 ? toBase64(range.root()) : null,
  };
}
