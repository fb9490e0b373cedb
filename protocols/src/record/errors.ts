/**
 * The one catalogue of record-format codes. Every code thrown in a RecordFormatError or returned as a
 * problem (proof results, checkpoint verification, batch and evidence verification) is listed here with
 * what it means. Codes are stable: clients and the cloud's problem+json replies match on them, so a
 * code is never renamed or reused; new ones are added. A test checks that each one is documented in
 * protocols/RECORDS.md.
 */
export const RECORD_ERROR_CATALOGUE = {
  // Encoding
  RECORD_NOT_CANONICALIZABLE:
    'The value cannot be written as RFC 8785 canonical JSON (NaN, Infinity, undefined, a function, a BigInt, a symbol, a cycle, a lone surrogate, or an object that is not a plain object or array).',
  BASE64_INVALID: 'Not canonical standard base64 (RFC 4648 section 4, with padding and zero pad bits).',
  HEX_INVALID: 'Not an even-length lowercase hexadecimal string.',
  KEY_INVALID: 'The key is not a usable Ed25519 key (a PKCS#8 PEM private key, or a 32-byte public key).',
  KEY_NAME_INVALID: 'A signed-note key name must be non-empty and contain no Unicode space and no "+".',
  VERIFIER_KEY_INVALID:
    'The verifier key is not "<name>+<8 hex key id>+<base64(0x01 || 32-byte Ed25519 public key)>" with a matching key id.',

  // Merkle tree
  MERKLE_BAD_HASH: 'A leaf or node hash is not 32 bytes.',
  MERKLE_BAD_INDEX: 'A leaf index or tree size is out of range for the leaves given.',
  COMPACT_RANGE_INVALID:
    'A compact range state is invalid: size must be a non-negative safe integer and there must be one 32-byte base64 hash per set bit of size.',
  LOG_STATE_INVALID:
    "The verifier's log state is inconsistent: its compact range does not match its size and root.",
  PROOF_BAD_SIZE:
    'The tree size or leaf index of a proof is not valid (negative, not an integer, index >= size, size1 > size2).',
  PROOF_BAD_HASH: 'A hash given to a proof verifier (leaf, root or proof element) is not 32 bytes.',
  PROOF_WRONG_LENGTH: 'The proof has the wrong number of hashes for the tree sizes.',
  PROOF_ROOT_MISMATCH: 'The root recomputed from the proof differs from the expected root.',

  // Checkpoint note parsing (precise reasons; verifiers report them under CHECKPOINT_MALFORMED)
  CHECKPOINT_TOO_LARGE: 'The checkpoint note is larger than MAX_CHECKPOINT_BYTES.',
  CHECKPOINT_NOT_UTF8: 'The checkpoint note is not valid UTF-8 (it contains a lone surrogate).',
  CHECKPOINT_CONTROL_CHAR:
    'The checkpoint note contains an ASCII control character other than newline (CR included).',
  CHECKPOINT_NO_BLANK_LINE: 'The checkpoint note has no blank line separating the body from the signatures.',
  CHECKPOINT_NO_SIGNATURES: 'The checkpoint note has no signature lines after the blank line.',
  CHECKPOINT_NO_FINAL_NEWLINE: 'The checkpoint note does not end with a newline.',
  CHECKPOINT_BAD_SIGNATURE_LINE:
    'A signature line is not "— <key name> <base64(4-byte key id || signature)>" with a valid key name.',
  CHECKPOINT_TOO_MANY_SIGNATURES: 'The checkpoint note has more than MAX_NOTE_SIGNATURES signature lines.',
  CHECKPOINT_TOO_FEW_LINES: 'The checkpoint body has fewer than three lines (origin, size, root).',
  CHECKPOINT_BAD_ORIGIN: 'The origin line is empty or contains a Unicode space or "+".',
  CHECKPOINT_BAD_SIZE:
    'The tree size line is not a decimal safe integer without leading zeros (or too large to be exact).',
  CHECKPOINT_BAD_ROOT: 'The root hash line is not canonical base64 of 32 bytes.',
  CHECKPOINT_BAD_EXTENSION: 'An extension line is empty.',

  // Checkpoint verification
  CHECKPOINT_MALFORMED: 'The checkpoint note could not be parsed; the message names the precise reason.',
  CHECKPOINT_UNSIGNED: 'The checkpoint note has no signature by the expected key (name and key id).',
  CHECKPOINT_BAD_SIGNATURE: 'A signature by the expected key does not verify over the checkpoint body.',
  CHECKPOINT_ORIGIN: "The checkpoint's origin is not the edge id.",
  CHECKPOINT_SIZE: "The checkpoint's tree size is not the seq of the batch's last record.",
  COSIGNATURE_MISSING: 'The note has no cosignature by the expected witness (name and key id).',
  COSIGNATURE_MALFORMED:
    'A cosignature line by the witness is not 4 + 8 + 64 bytes or its timestamp is too large.',
  COSIGNATURE_BAD_SIGNATURE: 'A cosignature by the expected witness does not verify.',

  // Records and batches
  BATCH_SCHEMA: 'The batch envelope is not { v: 1, edge, records: 1..MAX_BATCH_RECORDS, checkpoint }.',
  RECORD_SCHEMA: 'A record does not match the record schema; path names the field.',
  RECORD_INVALID:
    'Event code: a draft the record builder refused. The edge logs this error event in its place, naming each field, its value and the rule it broke, and signs nothing invalid.',
  RECORD_EDGE_MISMATCH: "A record's edge is not the batch's edge.",
  RECORD_TOO_LARGE: "A record's canonical JSON is larger than MAX_RECORD_BYTES.",
  RECORD_ID_DUPLICATE: 'Two records in one batch carry the same id.',
  RECORD_REPLAYED_CHANGED:
    'A re-sent record (seq already in the log) differs from the record stored under that seq.',
  RECORD_REPLAYED_UNKNOWN:
    'A re-sent record (seq already in the log) cannot be compared: no stored leaf hash for its seq.',
  SEQ_GAP: 'A seq is missing: the record does not continue the log or the previous record.',
  SEQ_DUPLICATE: 'The same seq appears twice in the batch.',
  SEQ_ORDER: 'A seq appears after a higher one: the records are out of order.',
  ROOT_MISMATCH:
    "The root recomputed from the verifier's log plus the batch's records differs from the checkpoint root.",
  FORK: 'The edge signed a different root for a tree size the verifier already holds: two histories (a security event).',
  PROBLEMS_TRUNCATED: 'More problems were found than MAX_REPORTED_PROBLEMS; the rest are not listed.',

  // Evidence bundles
  EVIDENCE_SCHEMA:
    'The evidence bundle is not { v: 1, edge, verifierKey, checkpoint, records: [{ record, index, proof }] }.',
  EVIDENCE_KEY_MISMATCH: "The bundle's verifier key is not named after the edge, or is not the trusted key.",
  EVIDENCE_INDEX_MISMATCH: "A record's index is not its seq - 1.",
  EVIDENCE_PROOF_INVALID: "A record's inclusion proof does not lead to the checkpoint root.",
  EVIDENCE_WITNESS: 'The checkpoint lacks a valid cosignature by the required witness.',
} as const satisfies Record<string, string>;

export type RecordErrorCode = keyof typeof RECORD_ERROR_CATALOGUE;

/** Every code of the catalogue, in catalogue order. */
export const RECORD_ERROR_CODES = Object.keys(RECORD_ERROR_CATALOGUE) as RecordErrorCode[];

/** Thrown by the record-format library for malformed input; `code` is a key of RECORD_ERROR_CATALOGUE. */
export class RecordFormatError extends Error {
  readonly code: string;

  constructor(code: string, message?: string) {
    super(message ?? (RECORD_ERROR_CATALOGUE as Record<string, string>)[code] ?? code);
    this.name = 'RecordFormatError';
    this.code = code;
  }
}

/** Throws a catalogued RecordFormatError (typed so that only catalogued codes can be used inside the library). */
export function fail(code: RecordErrorCode, message: string): never {
  throw new RecordFormatError(code, message);
}
