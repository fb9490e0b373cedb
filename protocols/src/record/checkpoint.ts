import { bytesEqual, fromHex, toBase64, toHex, tryFromBase64 } from './base64.js';
import { RecordFormatError, fail } from './errors.js';
import { publicKeyFromPrivatePem, signEd25519, verifyEd25519 } from './keys.js';
import { HASH_SIZE, sha256 } from './merkle.js';

/**
 * Checkpoints: the C2SP tlog-checkpoint body (https://c2sp.org/tlog-checkpoint) inside a C2SP signed
 * note (https://c2sp.org/signed-note), signed with Ed25519, and C2SP tlog-cosignature (cosignature/v1)
 * witness cosignatures.
 *
 *     <origin>\n<tree size>\n<base64 root>\n[<extension line>\n ...]\n
 *     — <key name> <base64(4-byte key id || 64-byte Ed25519 signature over the body)>\n
 */

/** Largest note accepted (UTF-8 bytes). A checkpoint with a few signatures is about 200 bytes. */
export const MAX_CHECKPOINT_BYTES = 16 * 1024;
/** Most signature lines accepted in one note (C2SP requires accepting at least 16). */
export const MAX_NOTE_SIGNATURES = 100;

export interface Checkpoint {
  origin: string;
  size: number;
  root: Uint8Array;
  extensions: string[];
}

export interface NoteSignature {
  keyName: string;
  /** The 4-byte key id at the front of the decoded signature. */
  keyId: Uint8Array;
  /** The decoded signature after the key id (64 bytes for Ed25519, 8 + 64 for a cosignature). */
  signature: Uint8Array;
}

export interface SignedCheckpoint {
  checkpoint: Checkpoint;
  /** The note text that signatures cover: the body, including its final newline. */
  body: string;
  signatures: NoteSignature[];
  /** The whole note as given. */
  text: string;
}

const SIG_PREFIX = '\u2014 '; // em dash, space
const SIG_TYPE_ED25519 = 0x01;
const SIG_TYPE_COSIGNATURE_V1 = 0x04;
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
// Go's unicode.IsSpace (which C2SP implementations use) is JavaScript's \s plus U+0085.
const SPACE_OR_PLUS = /[\s\u0085+]/u;

/** Index of the first ASCII control character other than newline, or -1. */
function controlIndex(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 && c !== 0x0a) return i;
  }
  return -1;
}
const DECIMAL = /^(?:0|[1-9][0-9]*)$/;
const utf8 = new TextEncoder();

/** A signed-note key name (and a checkpoint origin): non-empty, no Unicode space, no "+", no control character. */
export function isValidKeyName(name: string): boolean {
  return (
    name.length > 0 &&
    !SPACE_OR_PLUS.test(name) &&
    controlIndex(name) < 0 &&
    !name.includes('\n') &&
    !LONE_SURROGATE.test(name)
  );
}

function checkKeyName(name: string): void {
  if (typeof name !== 'string' || !isValidKeyName(name)) {
    fail('KEY_NAME_INVALID', `key name ${JSON.stringify(name)} must be non-empty, without spaces or "+"`);
  }
}

function checkPublicKey(publicKey: Uint8Array): void {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) {
    fail('KEY_INVALID', 'an Ed25519 public key is 32 bytes');
  }
}

function keyId(keyName: string, type: number, publicKey: Uint8Array): Uint8Array {
  checkKeyName(keyName);
  checkPublicKey(publicKey);
  return sha256(utf8.encode(keyName), Uint8Array.of(0x0a, type), publicKey).slice(0, 4);
}

/** Signed-note Ed25519 key id: SHA-256(keyName || 0x0A || 0x01 || publicKey)[0..4]. */
export function ed25519KeyId(keyName: string, publicKey: Uint8Array): Uint8Array {
  return keyId(keyName, SIG_TYPE_ED25519, publicKey);
}

/** tlog-cosignature/v1 key id: SHA-256(name || 0x0A || 0x04 || publicKey)[0..4]. */
export function cosignatureKeyId(witnessName: string, publicKey: Uint8Array): Uint8Array {
  return keyId(witnessName, SIG_TYPE_COSIGNATURE_V1, publicKey);
}

/** Signed-note verifier key: `<keyName>+<8 hex digits of key id>+<base64(0x01 || publicKey)>`. */
export function formatVerifierKey(keyName: string, publicKey: Uint8Array): string {
  const id = ed25519KeyId(keyName, publicKey);
  const material = new Uint8Array(33);
  material[0] = SIG_TYPE_ED25519;
  material.set(publicKey, 1);
  return `${keyName}+${toHex(id)}+${toBase64(material)}`;
}

/** Parses a verifier key made by formatVerifierKey. Throws RecordFormatError VERIFIER_KEY_INVALID. */
export function parseVerifierKey(vkey: string): {
  keyName: string;
  keyId: Uint8Array;
  publicKey: Uint8Array;
} {
  const bad = (why: string): never => fail('VERIFIER_KEY_INVALID', `verifier key: ${why}`);
  if (typeof vkey !== 'string') return bad('not a string');
  // The name has no '+' and the key id is hex, but the base64 key may contain '+': split at the first two.
  const a = vkey.indexOf('+');
  const b = a < 0 ? -1 : vkey.indexOf('+', a + 1);
  if (b < 0) return bad('expected <name>+<key id>+<key>');
  const keyName = vkey.slice(0, a);
  const hexId = vkey.slice(a + 1, b);
  const b64 = vkey.slice(b + 1);
  if (!isValidKeyName(keyName)) return bad(`invalid key name ${JSON.stringify(keyName)}`);
  if (!/^[0-9a-f]{8}$/.test(hexId)) return bad('the key id must be 8 lowercase hex digits');
  const material = tryFromBase64(b64);
  if (material?.length !== 33 || material[0] !== SIG_TYPE_ED25519) {
    return bad('the key must be base64 of 0x01 followed by a 32-byte Ed25519 public key');
  }
  const publicKey = material.slice(1);
  const id = ed25519KeyId(keyName, publicKey);
  if (!bytesEqual(id, fromHex(hexId))) return bad(`key id ${hexId} does not match the key (${toHex(id)})`);
  return { keyName, keyId: id, publicKey };
}

/** The checkpoint body (the signed note text): origin, size, base64 root, extension lines, each ending in \n. */
export function formatCheckpointBody(cp: Checkpoint): string {
  if (typeof cp.origin !== 'string' || !isValidKeyName(cp.origin)) {
    fail(
      'CHECKPOINT_BAD_ORIGIN',
      `origin ${JSON.stringify(cp.origin)} must be non-empty, without spaces or "+"`,
    );
  }
  if (!Number.isSafeInteger(cp.size) || cp.size < 0) {
    fail('CHECKPOINT_BAD_SIZE', `tree size ${cp.size} must be a non-negative safe integer`);
  }
  if (!(cp.root instanceof Uint8Array) || cp.root.length !== HASH_SIZE) {
    fail('CHECKPOINT_BAD_ROOT', 'root must be 32 bytes');
  }
  for (const ext of cp.extensions) {
    if (
      typeof ext !== 'string' ||
      ext === '' ||
      ext.includes('\n') ||
      controlIndex(ext) >= 0 ||
      LONE_SURROGATE.test(ext)
    ) {
      fail(
        'CHECKPOINT_BAD_EXTENSION',
        'extension lines must be non-empty single lines without control characters',
      );
    }
  }
  return [cp.origin, String(cp.size), toBase64(cp.root), ...cp.extensions].map((l) => `${l}\n`).join('');
}

function signatureLine(keyName: string, bytes: Uint8Array): string {
  return `${SIG_PREFIX}${keyName} ${toBase64(bytes)}\n`;
}

/** Signs the checkpoint with an Ed25519 key and returns the whole signed note. Deterministic. */
export function signCheckpoint(cp: Checkpoint, keyName: string, privateKeyPem: string): string {
  const body = formatCheckpointBody(cp);
  const id = ed25519KeyId(keyName, publicKeyFromPrivatePem(privateKeyPem));
  const sig = signEd25519(privateKeyPem, utf8.encode(body));
  const bytes = new Uint8Array(4 + sig.length);
  bytes.set(id, 0);
  bytes.set(sig, 4);
  return `${body}\n${signatureLine(keyName, bytes)}`;
}

function where(text: string, index: number): string {
  const line = text.slice(0, index).split('\n').length;
  return `line ${line}`;
}

/**
 * Parses a signed checkpoint note without verifying any signature. Throws RecordFormatError with the
 * precise CHECKPOINT_* code of the first malformation found.
 */
export function parseSignedCheckpoint(text: string): SignedCheckpoint {
  if (typeof text !== 'string') fail('CHECKPOINT_NOT_UTF8', 'the note must be a string');
  if (LONE_SURROGATE.test(text))
    fail('CHECKPOINT_NOT_UTF8', 'the note contains a lone surrogate (not valid UTF-8)');
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_CHECKPOINT_BYTES)
    fail('CHECKPOINT_TOO_LARGE', `the note is ${bytes} bytes, over ${MAX_CHECKPOINT_BYTES}`);
  const ctl = controlIndex(text);
  if (ctl >= 0) {
    const code = text.charCodeAt(ctl);
    const c = code === 0x0d ? 'CR (U+000D)' : `U+${code.toString(16).padStart(4, '0').toUpperCase()}`;
    fail('CHECKPOINT_CONTROL_CHAR', `control character ${c} at ${where(text, ctl)}`);
  }
  // The body is separated from the signatures by the last blank line.
  const split = text.lastIndexOf('\n\n');
  if (split < 0) fail('CHECKPOINT_NO_BLANK_LINE', 'no blank line between the body and the signatures');
  const body = text.slice(0, split + 1);
  const sigBlock = text.slice(split + 2);
  if (sigBlock === '') fail('CHECKPOINT_NO_SIGNATURES', 'no signature line after the blank line');
  if (!sigBlock.endsWith('\n'))
    fail('CHECKPOINT_NO_FINAL_NEWLINE', 'the last signature line does not end with a newline');

  const sigLines = sigBlock.slice(0, -1).split('\n');
  if (sigLines.length > MAX_NOTE_SIGNATURES) {
    fail(
      'CHECKPOINT_TOO_MANY_SIGNATURES',
      `${sigLines.length} signature lines, more than ${MAX_NOTE_SIGNATURES}`,
    );
  }
  const signatures = sigLines.map((line, i): NoteSignature => {
    const n = i + 1;
    if (!line.startsWith(SIG_PREFIX)) {
      fail('CHECKPOINT_BAD_SIGNATURE_LINE', `signature line ${n} does not start with an em dash and a space`);
    }
    const rest = line.slice(SIG_PREFIX.length);
    const sp = rest.indexOf(' ');
    const keyName = sp < 0 ? rest : rest.slice(0, sp);
    const b64 = sp < 0 ? '' : rest.slice(sp + 1);
    if (!isValidKeyName(keyName))
      fail('CHECKPOINT_BAD_SIGNATURE_LINE', `signature line ${n} has an invalid key name`);
    const sig = tryFromBase64(b64);
    if (sig === undefined || sig.length < 5) {
      fail(
        'CHECKPOINT_BAD_SIGNATURE_LINE',
        `signature line ${n} is not canonical base64 of a key id and a signature`,
      );
    }
    return { keyName, keyId: sig.slice(0, 4), signature: sig.slice(4) };
  });

  const lines = body.slice(0, -1).split('\n');
  if (lines.length < 3)
    fail(
      'CHECKPOINT_TOO_FEW_LINES',
      `the body has ${lines.length} line(s); origin, size and root are required`,
    );
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  if (!isValidKeyName(origin)) {
    fail(
      'CHECKPOINT_BAD_ORIGIN',
      `origin ${JSON.stringify(origin.slice(0, 80))} must be non-empty, without spaces or "+"`,
    );
  }
  const size = DECIMAL.test(sizeText) ? Number(sizeText) : NaN;
  if (!Number.isSafeInteger(size)) {
    fail(
      'CHECKPOINT_BAD_SIZE',
      `tree size ${JSON.stringify(sizeText.slice(0, 30))} is not a decimal safe integer without leading zeros`,
    );
  }
  const root = tryFromBase64(rootText);
  if (root?.length !== HASH_SIZE)
    fail('CHECKPOINT_BAD_ROOT', 'the root line is not canonical base64 of 32 bytes');
  extensions.forEach((ext, i) => {
    if (ext === '') fail('CHECKPOINT_BAD_EXTENSION', `extension line ${i + 1} (body line ${i + 4}) is empty`);
  });
  return { checkpoint: { origin, size, root, extensions }, body, signatures, text };
}

export type CheckpointVerification =
  { ok: true; checkpoint: Checkpoint } | { ok: false; code: string; message: string; reason?: string };

function malformed(err: unknown): { ok: false; code: string; message: string; reason: string } {
  if (err instanceof RecordFormatError) {
    return {
      ok: false,
      code: 'CHECKPOINT_MALFORMED',
      message: `${err.code}: ${err.message}`,
      reason: err.code,
    };
  }
  throw err;
}

/**
 * Parses the note, finds the signature lines with this key name and Ed25519 key id and verifies them over
 * the body. Codes: CHECKPOINT_MALFORMED (with `reason`, the precise parse code), CHECKPOINT_UNSIGNED (no
 * signature by this key; signatures by other keys are ignored), CHECKPOINT_BAD_SIGNATURE (a signature by
 * this key fails: the whole note is refused, as C2SP recommends).
 */
export function verifyCheckpoint(
  text: string,
  keyName: string,
  publicKey: Uint8Array,
): CheckpointVerification {
  let parsed: SignedCheckpoint;
  try {
    parsed = parseSignedCheckpoint(text);
  } catch (err) {
    return malformed(err);
  }
  const id = ed25519KeyId(keyName, publicKey);
  const mine = parsed.signatures.filter((s) => s.keyName === keyName && bytesEqual(s.keyId, id));
  if (mine.length === 0) {
    const sameName = parsed.signatures.find((s) => s.keyName === keyName);
    const hint = sameName
      ? ` (there is one by ${keyName} with key id ${toHex(sameName.keyId)}: another key)`
      : '';
    return {
      ok: false,
      code: 'CHECKPOINT_UNSIGNED',
      message: `no signature by ${keyName} with key id ${toHex(id)}${hint}`,
    };
  }
  const message = utf8.encode(parsed.body);
  for (const s of mine) {
    if (!verifyEd25519(publicKey, message, s.signature)) {
      return {
        ok: false,
        code: 'CHECKPOINT_BAD_SIGNATURE',
        message: `the signature by ${keyName} does not verify`,
      };
    }
  }
  return { ok: true, checkpoint: parsed.checkpoint };
}

function cosignedMessage(body: string, timestamp: number): Uint8Array {
  return utf8.encode(`cosignature/v1\ntime ${timestamp}\n${body}`);
}

/**
 * Adds a tlog-cosignature/v1 line by a witness: Ed25519 over "cosignature/v1\ntime <t>\n" + body, line
 * `— <witness> base64(keyId || uint64be(t) || signature)`. Check the log's own signature (verifyCheckpoint)
 * and the consistency of the checkpoint before cosigning: a cosignature states "this is the largest
 * consistent tree I have seen for this origin".
 */
export function cosignCheckpoint(
  signedNoteText: string,
  witnessName: string,
  privateKeyPem: string,
  timestampSeconds: number,
): string {
  const parsed = parseSignedCheckpoint(signedNoteText);
  if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) {
    fail(
      'COSIGNATURE_MALFORMED',
      `timestamp ${timestampSeconds} must be a non-negative safe integer (seconds)`,
    );
  }
  if (parsed.signatures.length >= MAX_NOTE_SIGNATURES) {
    fail('CHECKPOINT_TOO_MANY_SIGNATURES', `the note already has ${parsed.signatures.length} signatures`);
  }
  const id = cosignatureKeyId(witnessName, publicKeyFromPrivatePem(privateKeyPem));
  const sig = signEd25519(privateKeyPem, cosignedMessage(parsed.body, timestampSeconds));
  const bytes = new Uint8Array(4 + 8 + 64);
  bytes.set(id, 0);
  new DataView(bytes.buffer).setBigUint64(4, BigInt(timestampSeconds));
  bytes.set(sig, 12);
  const out = signedNoteText + signatureLine(witnessName, bytes);
  if (Buffer.byteLength(out, 'utf8') > MAX_CHECKPOINT_BYTES) {
    fail('CHECKPOINT_TOO_LARGE', `the cosigned note would exceed ${MAX_CHECKPOINT_BYTES} bytes`);
  }
  return out;
}

/**
 * Verifies the witness's cosignature(s) on the note. Returns the cosigning time (the latest, if the witness
 * cosigned more than once). Codes: CHECKPOINT_MALFORMED, COSIGNATURE_MISSING, COSIGNATURE_MALFORMED,
 * COSIGNATURE_BAD_SIGNATURE.
 */
export function verifyCosignature(
  signedNoteText: string,
  witnessName: string,
  publicKey: Uint8Array,
): { ok: true; timestamp: number } | { ok: false; code: string; message: string } {
  let parsed: SignedCheckpoint;
  try {
    parsed = parseSignedCheckpoint(signedNoteText);
  } catch (err) {
    return malformed(err);
  }
  const id = cosignatureKeyId(witnessName, publicKey);
  const mine = parsed.signatures.filter((s) => s.keyName === witnessName && bytesEqual(s.keyId, id));
  if (mine.length === 0) {
    return {
      ok: false,
      code: 'COSIGNATURE_MISSING',
      message: `no cosignature by ${witnessName} (key id ${toHex(id)})`,
    };
  }
  let latest = -1;
  for (const s of mine) {
    if (s.signature.length !== 8 + 64) {
      return {
        ok: false,
        code: 'COSIGNATURE_MALFORMED',
        message: `the cosignature by ${witnessName} is not 8 + 64 bytes`,
      };
    }
    const t = new DataView(s.signature.buffer, s.signature.byteOffset, 8).getBigUint64(0);
    if (t > BigInt(Number.MAX_SAFE_INTEGER)) {
      return { ok: false, code: 'COSIGNATURE_MALFORMED', message: `cosignature timestamp ${t} is too large` };
    }
    const timestamp = Number(t);
    if (!verifyEd25519(publicKey, cosignedMessage(parsed.body, timestamp), s.signature.slice(8))) {
      return {
        ok: false,
        code: 'COSIGNATURE_BAD_SIGNATURE',
        message: `the cosignature by ${witnessName} does not verify`,
      };
    }
    latest = Math.max(latest, timestamp);
  }
  return { ok: true, timestamp: latest };
}
