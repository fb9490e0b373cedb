import { z } from 'zod';
import { toBase64, tryFromBase64 } from './base64.js';
import { MAX_REPORTED_PROBLEMS, recordLeafHash, type BatchProblem } from './batch.js';
import {
  MAX_CHECKPOINT_BYTES,
  formatVerifierKey,
  parseSignedCheckpoint,
  parseVerifierKey,
  verifyCheckpoint,
  verifyCosignature,
} from './checkpoint.js';
import { RecordFormatError, type RecordErrorCode } from './errors.js';
import { inclusionProof, verifyInclusion } from './merkle.js';
import { edgeIdSchema, parseRecord, schemaIssues } from './schema.js';

/**
 * Evidence: an offline-verifiable bundle proving that chosen records are in an edge's signed log, without
 * disclosing the other records. Each record comes with its inclusion proof to the checkpoint root.
 */
export interface EvidenceBundle {
  v: 1;
  edge: string;
  /** formatVerifierKey(edge, publicKey). Compare it with the key enrolled for the edge before trusting the bundle. */
  verifierKey: string;
  /** Signed checkpoint note (may carry witness cosignatures). */
  checkpoint: string;
  records: {
    record: unknown;
    index: number /* 0-based leaf index = seq - 1 */;
    proof: string[]; /* base64 */
  }[];
}

/** Most records in one bundle. */
export const MAX_EVIDENCE_RECORDS = 100_000;

export const evidenceBundleSchema = z.strictObject({
  v: z.literal(1, { error: 'must be 1' }),
  edge: edgeIdSchema,
  verifierKey: z.string().max(512, 'must be at most 512 characters'),
  checkpoint: z.string().max(MAX_CHECKPOINT_BYTES, `must be at most ${MAX_CHECKPOINT_BYTES} characters`),
  records: z
    .array(
      z.strictObject({
        record: z.unknown(),
        index: z.int('must be a non-negative integer').nonnegative('must be a non-negative integer'),
        proof: z.array(z.string().max(64)).max(64, 'must have at most 64 hashes'),
      }),
    )
    .min(1, 'must hold at least 1 record')
    .max(MAX_EVIDENCE_RECORDS, `must hold at most ${MAX_EVIDENCE_RECORDS} records`),
});

export interface VerifyEvidenceOptions {
  /** Pin the edge's key: the bundle's verifierKey must be exactly this (from the cloud's enrollment record). */
  trustedVerifierKey?: string;
  /** Require a valid tlog-cosignature/v1 by this witness (e.g. the cloud) on the checkpoint. */
  witness?: { name: string; publicKey: Uint8Array };
}

/**
 * Verifies an evidence bundle offline: the checkpoint is signed by the bundle's verifier key, which is named
 * after the edge; the checkpoint origin is the edge; each record passes the schema, belongs to the edge, sits
 * at index seq - 1, and its inclusion proof leads from its leaf hash to the checkpoint root. Problems name
 * the record (seq, index) and the reason. With no options, the bundle proves consistency with ITS OWN key:
 * pass trustedVerifierKey to tie it to the enrolled edge.
 */
export function verifyEvidence(
  bundle: unknown,
  opts: VerifyEvidenceOptions = {},
): { ok: true; verified: number } | { ok: false; problems: BatchProblem[] } {
  const problems: BatchProblem[] = [];
  const add = (
    code: RecordErrorCode,
    message: string,
    extra: Omit<BatchProblem, 'code' | 'message'> = {},
  ): void => {
    if (problems.length < MAX_REPORTED_PROBLEMS) problems.push({ code, message, ...extra });
    else if (problems.at(-1)?.code !== 'PROBLEMS_TRUNCATED') {
      problems.push({ code: 'PROBLEMS_TRUNCATED', message: `more than ${MAX_REPORTED_PROBLEMS} problems` });
    }
  };

  const parsed = evidenceBundleSchema.safeParse(bundle);
  if (!parsed.success) {
    for (const issue of schemaIssues(parsed.error))
      add('EVIDENCE_SCHEMA', issue.message, { path: issue.path });
    return { ok: false, problems };
  }
  const b = parsed.data;

  let key: ReturnType<typeof parseVerifierKey>;
  try {
    key = parseVerifierKey(b.verifierKey);
  } catch (err) {
    if (!(err instanceof RecordFormatError)) throw err;
    add('VERIFIER_KEY_INVALID', err.message, { path: 'verifierKey' });
    return { ok: false, problems };
  }
  if (key.keyName !== b.edge)
    add('EVIDENCE_KEY_MISMATCH', `verifier key is named ${key.keyName}, not the edge ${b.edge}`);
  if (opts.trustedVerifierKey !== undefined && b.verifierKey !== opts.trustedVerifierKey) {
    add('EVIDENCE_KEY_MISMATCH', 'the verifier key is not the trusted key of the edge');
  }

  const cv = verifyCheckpoint(b.checkpoint, key.keyName, key.publicKey);
  if (!cv.ok) {
    add(cv.code as RecordErrorCode, cv.message, { path: 'checkpoint' });
    return { ok: false, problems };
  }
  const cp = cv.checkpoint;
  if (cp.origin !== b.edge)
    add('CHECKPOINT_ORIGIN', `checkpoint origin ${cp.origin} is not the edge ${b.edge}`);
  if (opts.witness) {
    const w = verifyCosignature(b.checkpoint, opts.witness.name, opts.witness.publicKey);
    if (!w.ok) add('EVIDENCE_WITNESS', `${w.code}: ${w.message}`, { path: 'checkpoint' });
  }

  b.records.forEach((entry, index) => {
    const r = parseRecord(entry.record);
    const seq = r.ok ? r.record.seq : undefined;
    const at = { index, ...(seq !== undefined ? { seq } : {}) };
    if (!r.ok) {
      for (const issue of r.issues) add('RECORD_SCHEMA', issue.message, { ...at, path: issue.path });
      return;
    }
    if (r.record.edge !== b.edge)
      add('RECORD_EDGE_MISMATCH', `record edge ${r.record.edge} is not ${b.edge}`, at);
    if (entry.index !== r.record.seq - 1) {
      add('EVIDENCE_INDEX_MISMATCH', `index ${entry.index} is not seq ${r.record.seq} - 1`, at);
      return;
    }
    const proof: Uint8Array[] = [];
    for (const [i, h] of entry.proof.entries()) {
      const bytes = tryFromBase64(h);
      if (!bytes) {
        add('EVIDENCE_PROOF_INVALID', `proof hash ${i} is not canonical base64`, {
          ...at,
          path: `records[${index}].proof[${i}]`,
        });
        return;
      }
      proof.push(bytes);
    }
    let hash: Uint8Array;
    try {
      hash = recordLeafHash(entry.record);
    } catch (err) {
      if (!(err instanceof RecordFormatError)) throw err;
      add('RECORD_NOT_CANONICALIZABLE', err.message, at);
      return;
    }
    const v = verifyInclusion(entry.index, cp.size, hash, proof, cp.root);
    if (!v.ok) add('EVIDENCE_PROOF_INVALID', `seq ${r.record.seq}: ${v.code}: ${v.message}`, at);
  });

  return problems.length === 0 ? { ok: true, verified: b.records.length } : { ok: false, problems };
}

/**
 * Builds an evidence bundle. leafHashes are the leaves of the log in seq order, at least up to the
 * checkpoint's size; records are the chosen records, as stored. The checkpoint must cover them
 * (seq <= its size), else RecordFormatError MERKLE_BAD_INDEX.
 */
export function buildEvidence(opts: {
  edge: string;
  publicKey: Uint8Array;
  checkpoint: string;
  leafHashes: readonly Uint8Array[];
  records: readonly { seq: number }[];
}): EvidenceBundle {
  const size = parseSignedCheckpoint(opts.checkpoint).checkpoint.size;
  return {
    v: 1,
    edge: opts.edge,
    verifierKey: formatVerifierKey(opts.edge, opts.publicKey),
    checkpoint: opts.checkpoint,
    records: opts.records.map((record) => ({
      record,
      index: record.seq - 1,
      proof: inclusionProof(opts.leafHashes, record.seq - 1, size).map(toBase64),
    })),
  };
}
