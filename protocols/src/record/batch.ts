import { z } from 'zod';
import { bytesEqual, toBase64 } from './base64.js';
import { canonicalBytes, canonicalJson } from './canonical.js';
import { MAX_CHECKPOINT_BYTES, verifyCheckpoint, type Checkpoint } from './checkpoint.js';
import { RecordFormatError, fail, type RecordErrorCode } from './errors.js';
import { CompactRange, leafHash, leafHashOfText, type CompactRangeState } from './merkle.js';
import { MAX_RECORD_BYTES, edgeIdSchema, parseRecord, schemaIssues, type RigRecord } from './schema.js';

/** What the edge sends and the cloud verifies: consecutive records and the signed checkpoint covering them. */
export interface Batch {
  v: 1;
  edge: string;
  records: unknown[];
  /** Signed note text (see checkpoint.ts). */
  checkpoint: string;
}

export const MAX_BATCH_RECORDS = 1000;
/** verifyBatch and verifyEvidence list at most this many problems, then PROBLEMS_TRUNCATED. */
export const MAX_REPORTED_PROBLEMS = 100;

export const batchEnvelopeSchema = z.strictObject({
  v: z.literal(1, { error: 'must be 1' }),
  edge: edgeIdSchema,
  records: z
    .array(z.unknown())
    .min(1, 'must hold at least 1 record')
    .max(MAX_BATCH_RECORDS, `must hold at most ${MAX_BATCH_RECORDS} records`),
  checkpoint: z.string().max(MAX_CHECKPOINT_BYTES, `must be at most ${MAX_CHECKPOINT_BYTES} characters`),
});

/** The verifier's copy of an edge's log before a batch (size 0 = new log). */
export interface LogState {
  size: number;
  root: Uint8Array;
  range: CompactRangeState;
}

export interface BatchProblem {
  code: string;
  message: string;
  seq?: number;
  /** 0-based position of the record in the batch (or bundle). */
  index?: number;
  /** Field path inside the record (or the envelope), e.g. "body.points[0].value". */
  path?: string;
}

export type BatchVerification =
  | {
      ok: true;
      /** The new records as received (validated), in seq order; re-sent duplicates excluded. */
      records: RigRecord[];
      /** Their leaf hashes, in the same order. */
      leafHashes: Uint8Array[];
      /** Their canonical JSON, in the same order: the text whose UTF-8 bytes each leaf hash covers (store these). */
      canonical: string[];
      checkpoint: Checkpoint;
      /** The log after the batch (unchanged when every record was a duplicate). */
      newState: LogState;
      /** Re-sent records identical to the stored ones, acknowledged and skipped. */
      duplicateCount: number;
    }
  | { ok: false; problems: BatchProblem[]; expectedSeq?: number; fork?: boolean };

export interface VerifyBatchOptions {
  /** The edge's enrolled Ed25519 public key (32 bytes); the key name is the edge id. */
  publicKey: Uint8Array;
  state: LogState;
  /** Stored leaf hash of a seq already in the log (seq <= state.size), or undefined if unknown. */
  knownLeafHash?: (seq: number) => Uint8Array | undefined;
  /**
   * Root of a checkpoint accepted earlier for a size below state.size, if kept. Used only when a batch of
   * re-sent records carries such an old checkpoint: a different root for that size is a FORK.
   */
  knownRoot?: (size: number) => Uint8Array | undefined;
}

/** leafHash(canonicalBytes(record)): the leaf of a record in its edge's log. */
export function recordLeafHash(record: unknown): Uint8Array {
  return leafHash(canonicalBytes(record));
}

class Problems {
  readonly list: BatchProblem[] = [];
  #truncated = false;

  add(code: RecordErrorCode, message: string, extra: Omit<BatchProblem, 'code' | 'message'> = {}): void {
    if (this.list.length < MAX_REPORTED_PROBLEMS) {
      this.list.push({ code, message, ...extra });
    } else if (!this.#truncated) {
      this.#truncated = true;
      this.list.push({
        code: 'PROBLEMS_TRUNCATED',
        message: `more than ${MAX_REPORTED_PROBLEMS} problems; the rest are not listed`,
      });
    }
  }

  has(code: RecordErrorCode): boolean {
    return this.list.some((p) => p.code === code);
  }
}

/** Opens a LogState as a CompactRange, checking it is self-consistent (a verifier bug otherwise). */
export function openLogState(state: LogState): CompactRange {
  let range: CompactRange;
  try {
    range = CompactRange.fromState(state.range);
  } catch (err) {
    if (err instanceof RecordFormatError) fail('LOG_STATE_INVALID', `log state range: ${err.message}`);
    throw err;
  }
  if (range.size !== state.size)
    fail('LOG_STATE_INVALID', `log state size ${state.size} but its range has ${range.size}`);
  if (!(state.root instanceof Uint8Array) || !bytesEqual(range.root(), state.root)) {
    fail('LOG_STATE_INVALID', 'log state root is not the root of its range');
  }
  return range;
}

/** The log state of an empty log. */
export function emptyLogState(): LogState {
  const range = CompactRange.empty();
  return { size: 0, root: range.root(), range: range.toState() };
}

function rawSeq(value: unknown): number | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const seq = (value as { seq?: unknown }).seq;
  return typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 1 ? seq : undefined;
}

/**
 * Verifies a batch against the verifier's current copy of the edge's log.
 *
 * - Envelope: batchEnvelopeSchema (BATCH_SCHEMA).
 * - Each record: the record schema (RECORD_SCHEMA, one problem per field, with path), canonical JSON
 *   (RECORD_NOT_CANONICALIZABLE) of at most MAX_RECORD_BYTES (RECORD_TOO_LARGE), edge = batch.edge
 *   (RECORD_EDGE_MISMATCH), ids unique in the batch (RECORD_ID_DUPLICATE).
 * - Sequence: the seqs are consecutive, and the first one not in the log is state.size + 1 (SEQ_GAP,
 *   SEQ_DUPLICATE, SEQ_ORDER, naming seq and index; expectedSeq = state.size + 1). Records with
 *   seq <= state.size are re-sent: identical to knownLeafHash(seq) → counted in duplicateCount and
 *   skipped; different → RECORD_REPLAYED_CHANGED; no stored hash → RECORD_REPLAYED_UNKNOWN.
 * - Checkpoint: signed by the edge's key under the edge id (CHECKPOINT_MALFORMED / _UNSIGNED /
 *   _BAD_SIGNATURE), origin = edge id (CHECKPOINT_ORIGIN), size = last record's seq (CHECKPOINT_SIZE),
 *   root = root of state.range plus the new leaves (ROOT_MISMATCH). A checkpoint for state.size whose root
 *   is not state.root (or for an older size whose root knownRoot gives differently) is a FORK (fork: true).
 *   Because the root is recomputed from the verifier's own range, an accepted checkpoint is necessarily
 *   consistent with every checkpoint accepted before it.
 *
 * Every problem found is listed (up to MAX_REPORTED_PROBLEMS); hashing stops once the sequence is broken.
 * Throws RecordFormatError LOG_STATE_INVALID if `state` is not self-consistent.
 */
export function verifyBatch(batch: unknown, opts: VerifyBatchOptions): BatchVerification {
  const { state } = opts;
  const range = openLogState(state);
  const expectedSeq = state.size + 1;
  const problems = new Problems();

  const env = batchEnvelopeSchema.safeParse(batch);
  if (!env.success) {
    for (const issue of schemaIssues(env.error))
      problems.add('BATCH_SCHEMA', issue.message, { path: issue.path });
    return { ok: false, problems: problems.list, expectedSeq };
  }
  const { edge, records: raw, checkpoint: note } = env.data;

  // Checkpoint signature first: nothing it says counts until it verifies.
  const cv = verifyCheckpoint(note, edge, opts.publicKey);
  let checkpoint: Checkpoint | undefined;
  if (cv.ok) {
    checkpoint = cv.checkpoint;
    if (checkpoint.origin !== edge) {
      problems.add(
        'CHECKPOINT_ORIGIN',
        `checkpoint origin ${JSON.stringify(checkpoint.origin)} is not the edge id ${edge}`,
      );
    }
  } else {
    problems.add(cv.code as RecordErrorCode, cv.message);
  }

  const records: RigRecord[] = [];
  const newLeaves: Uint8Array[] = [];
  const newTexts: string[] = [];
  let duplicateCount = 0;
  let sequenceBroken = false;
  let allHashed = true;
  let prev: number | undefined;
  const seen = new Set<number>();
  const ids = new Map<string, number>();

  raw.forEach((value, index) => {
    // Canonical JSON and leaf hash of the record as sent (what the edge hashed). The text is
    // well-formed (canonicalJson refuses lone surrogates), so its UTF-8 bytes are canonicalBytes.
    let text: string | undefined;
    try {
      text = canonicalJson(value);
    } catch (err) {
      if (!(err instanceof RecordFormatError)) throw err;
      problems.add('RECORD_NOT_CANONICALIZABLE', err.message, { index, seq: rawSeq(value) });
    }
    const byteLength = text === undefined ? 0 : Buffer.byteLength(text, 'utf8');
    if (byteLength > MAX_RECORD_BYTES) {
      problems.add('RECORD_TOO_LARGE', `canonical record is ${byteLength} bytes, over ${MAX_RECORD_BYTES}`, {
        index,
        seq: rawSeq(value),
      });
    }

    const parsed = parseRecord(value);
    const seq = parsed.ok ? parsed.record.seq : rawSeq(value);
    if (!parsed.ok) {
      for (const issue of parsed.issues)
        problems.add('RECORD_SCHEMA', issue.message, { index, seq, path: issue.path });
    } else {
      const r = parsed.record;
      if (r.edge !== edge) {
        problems.add('RECORD_EDGE_MISMATCH', `record edge ${r.edge} is not the batch edge ${edge}`, {
          index,
          seq,
        });
      }
      const other = ids.get(r.id);
      if (other !== undefined) {
        problems.add('RECORD_ID_DUPLICATE', `id ${r.id} is also the id of the record at index ${other}`, {
          index,
          seq,
        });
      } else {
        ids.set(r.id, index);
      }
    }

    // Sequence.
    if (seq === undefined) {
      sequenceBroken = true; // already reported as RECORD_SCHEMA
    } else {
      if (seen.has(seq)) {
        problems.add('SEQ_DUPLICATE', `seq ${seq} appears twice in the batch`, { index, seq });
        sequenceBroken = true;
      } else if (prev === undefined && seq > expectedSeq) {
        problems.add(
          'SEQ_GAP',
          `the log has ${state.size} records: expected seq ${expectedSeq} (or lower, re-sent), got ${seq}`,
          {
            index,
            seq,
          },
        );
        sequenceBroken = true;
      } else if (prev !== undefined && seq < prev) {
        problems.add('SEQ_ORDER', `seq ${seq} comes after seq ${prev}`, { index, seq });
        sequenceBroken = true;
      } else if (prev !== undefined && seq > prev + 1) {
        problems.add('SEQ_GAP', `seq ${seq} follows seq ${prev}: ${seq - prev - 1} missing`, { index, seq });
        sequenceBroken = true;
      }
      seen.add(seq);
      prev = prev === undefined ? seq : Math.max(prev, seq);
    }

    if (text === undefined || seq === undefined) {
      allHashed = false;
      return;
    }
    if (sequenceBroken) return;
    const hash = leafHashOfText(text);
    if (seq <= state.size) {
      const known = opts.knownLeafHash?.(seq);
      if (known === undefined) {
        problems.add(
          'RECORD_REPLAYED_UNKNOWN',
          `seq ${seq} is already in the log but its stored leaf hash is not available`,
          {
            index,
            seq,
          },
        );
      } else if (!bytesEqual(known, hash)) {
        problems.add(
          'RECORD_REPLAYED_CHANGED',
          `seq ${seq} was re-sent with different content than the stored record`,
          {
            index,
            seq,
          },
        );
      } else {
        duplicateCount++;
      }
      return;
    }
    newLeaves.push(hash);
    newTexts.push(text);
    // Return the object that was hashed (validated by the schema), so that what the caller stores is
    // byte for byte what the edge signed, whatever the schema library does to its output.
    if (parsed.ok) records.push(value as RigRecord);
  });

  const lastSeq = rawSeq(raw[raw.length - 1]);
  if (checkpoint) {
    if (lastSeq !== undefined && checkpoint.size !== lastSeq) {
      problems.add(
        'CHECKPOINT_SIZE',
        `checkpoint size ${checkpoint.size} is not the last record's seq ${lastSeq}`,
      );
    }
    let fork = false;
    if (checkpoint.size === state.size && !bytesEqual(checkpoint.root, state.root)) fork = true;
    if (checkpoint.size < state.size) {
      const old = opts.knownRoot?.(checkpoint.size);
      if (old !== undefined && !bytesEqual(old, checkpoint.root)) fork = true;
    }
    if (fork) {
      problems.add(
        'FORK',
        `the edge signed root ${toBase64(checkpoint.root)} for size ${checkpoint.size}, which the verifier holds with a different root`,
      );
    }
    if (!sequenceBroken && allHashed && checkpoint.size > state.size && checkpoint.size === lastSeq) {
      const next = range.clone();
      for (const h of newLeaves) next.append(h);
      const root = next.root();
      if (next.size !== checkpoint.size || !bytesEqual(root, checkpoint.root)) {
        // Which record changed cannot be told from one signed root: name the records it covers.
        const from = state.size + 1;
        problems.add(
          'ROOT_MISMATCH',
          `records ${from}..${next.size} (the first one new to the log is id ${records[0]?.id ?? '?'}) do not reach the root the edge signed: the log with them has root ${toBase64(root)} at size ${next.size}; the checkpoint says ${toBase64(checkpoint.root)}. A record changed after the edge signed it; the edge names it when it checks its buffer before sending`,
          { seq: from },
        );
      } else if (problems.list.length === 0) {
        return {
          ok: true,
          records,
          leafHashes: newLeaves,
          canonical: newTexts,
          checkpoint,
          newState: { size: next.size, root, range: next.toState() },
          duplicateCount,
        };
      }
    }
  }

  if (problems.list.length === 0 && checkpoint && checkpoint.size <= state.size) {
    // Every record was re-sent and matched the stored one.
    return {
      ok: true,
      records,
      leafHashes: newLeaves,
      canonical: newTexts,
      checkpoint,
      newState: { size: state.size, root: state.root, range: range.toState() },
      duplicateCount,
    };
  }
  if (problems.list.length === 0) {
    // Unreachable by construction; never accept silently.
    problems.add('ROOT_MISMATCH', 'the batch could not be checked against the checkpoint');
  }
  return { ok: false, problems: problems.list, expectedSeq, ...(problems.has('FORK') ? { fork: true } : {}) };
}
