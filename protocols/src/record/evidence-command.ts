import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { bytesEqual, fromHex, toBase64, toHex, tryFromBase64 } from './base64.js';
import {
  cosignatureKeyId,
  formatVerifierKey,
  isValidKeyName,
  parseSignedCheckpoint,
  parseVerifierKey,
} from './checkpoint.js';
import { RecordFormatError } from './errors.js';
import { verifyEvidence } from './evidence.js';

/**
 * `verify-evidence`, the same command in rigtrace-cloud and rigtrace-edge: an auditor's offline
 * check of an evidence bundle against the edge's key and the cloud witness's key, both obtained
 * from a source the auditor trusts (RECORDS.md section 7).
 */
export const VERIFY_EVIDENCE_USAGE = `verify-evidence BUNDLE.json --edge-key KEY --witness-key KEY
      check an evidence bundle offline (protocols/RECORDS.md section 7): every record is in the
      edge's signed log, the checkpoint is signed by the edge's key and cosigned by the witness.
      --edge-key: the edge's verifier key (<edge>+<key id>+<key>, as in the bundle) or its base64
        public key (the edges list of the API); --witness-key: the witness's key,
        <name>+<key id>+<key> or the JSON of GET /api/v1/witness. Either may be given as a file.
      exit 0: verified (one line); 1: not verified (one line per problem); 2: usage or unreadable input`;

const SIG_TYPE_COSIGNATURE_V1 = 0x04;

/** The witness's key as a C2SP vkey: `<name>+<8 hex digits of cosignature key id>+<base64(0x04 || key)>`. */
export function formatWitnessKey(name: string, publicKey: Uint8Array): string {
  const material = new Uint8Array(33);
  material[0] = SIG_TYPE_COSIGNATURE_V1;
  material.set(publicKey, 1);
  return `${name}+${toHex(cosignatureKeyId(name, publicKey))}+${toBase64(material)}`;
}

/** A witness key: formatWitnessKey's text, or `{ "name", "publicKey" }` (GET /api/v1/witness). */
export function parseWitnessKey(text: string): { name: string; publicKey: Uint8Array } {
  const bad = (why: string): never => {
    throw new RecordFormatError('VERIFIER_KEY_INVALID', `witness key: ${why}`);
  };
  const t = text.trim();
  if (t.startsWith('{')) {
    let j: unknown;
    try {
      j = JSON.parse(t);
    } catch {
      return bad('not valid JSON');
    }
    const { name, publicKey } = (j ?? {}) as { name?: unknown; publicKey?: unknown };
    if (typeof name !== 'string' || !isValidKeyName(name)) return bad('"name" is not a key name');
    const pk = typeof publicKey === 'string' ? tryFromBase64(publicKey) : undefined;
    if (pk?.length !== 32) return bad('"publicKey" is not a base64 Ed25519 public key (32 bytes)');
    return { name, publicKey: pk };
  }
  const [name, hexId, b64, ...more] = t.split('+');
  // The base64 key may itself contain '+': rejoin the rest.
  const key = [b64, ...more].join('+');
  if (!name || !isValidKeyName(name) || hexId === undefined || !b64)
    return bad('expected <name>+<key id>+<key> or the JSON of GET /api/v1/witness');
  if (!/^[0-9a-f]{8}$/.test(hexId)) return bad('the key id must be 8 lowercase hex digits');
  const material = tryFromBase64(key);
  if (material?.length !== 33 || material[0] !== SIG_TYPE_COSIGNATURE_V1)
    return bad('the key must be base64 of 0x04 followed by a 32-byte Ed25519 public key');
  const publicKey = material.slice(1);
  if (!bytesEqual(cosignatureKeyId(name, publicKey), fromHex(hexId)))
    return bad(`key id ${hexId} does not match the key`);
  return { name, publicKey };
}

/** A flag's value, or the contents of the file it names. */
function valueOrFile(v: string): string {
  try {
    if (existsSync(v) && statSync(v).isFile()) return readFileSync(v, 'utf8').trim();
  } catch {
    // Not readable as a file: taken as the value itself.
  }
  return v.trim();
}

export interface VerifyEvidenceOutcome {
  /** 0 verified, 1 not verified, 2 usage or input problem. */
  code: 0 | 1 | 2;
  /** For stdout (code 0) or stderr. */
  lines: string[];
}

/** Runs the check; the caller prints the lines and exits with the code. */
export function verifyEvidenceCommand(args: {
  bundleFile: string;
  edgeKey: string;
  witnessKey: string;
}): VerifyEvidenceOutcome {
  const name = path.basename(args.bundleFile);
  const usage = (why: string): VerifyEvidenceOutcome => ({ code: 2, lines: [`${name}: ${why}`] });
  let text: string;
  try {
    text = readFileSync(args.bundleFile, 'utf8');
  } catch (err) {
    return usage(`cannot read ${args.bundleFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let witness: { name: string; publicKey: Uint8Array };
  try {
    witness = parseWitnessKey(valueOrFile(args.witnessKey));
  } catch (err) {
    return usage(`--witness-key: ${(err as Error).message}`);
  }
  const notVerified = (problems: string[]): VerifyEvidenceOutcome => ({
    code: 1,
    lines: problems.map((p) => `${name}: NOT VERIFIED: ${p}`),
  });
  let bundle: unknown;
  try {
    bundle = JSON.parse(text);
  } catch {
    return notVerified(['EVIDENCE_SCHEMA: the file is not JSON']);
  }
  const edge = (bundle as { edge?: unknown } | null)?.edge;
  // The trusted key, as the bundle would name it (its own verifierKey must equal this).
  let trusted: string;
  const edgeKey = valueOrFile(args.edgeKey);
  try {
    if (edgeKey.includes('+')) trusted = formatVerifierKey(...nameAndKey(parseVerifierKey(edgeKey)));
    else {
      const pk = tryFromBase64(edgeKey);
      if (pk?.length !== 32)
        return usage('--edge-key: expected <edge>+<key id>+<key> or a base64 Ed25519 public key (32 bytes)');
      if (typeof edge !== 'string') return notVerified(['EVIDENCE_SCHEMA: the bundle names no edge']);
      trusted = formatVerifierKey(edge, pk);
    }
  } catch (err) {
    if (err instanceof RecordFormatError) return usage(`--edge-key: ${err.message}`);
    throw err;
  }
  const r = verifyEvidence(bundle, { trustedVerifierKey: trusted, witness });
  if (!r.ok) {
    return notVerified(
      r.problems.map((p) => {
        const at = [
          p.seq !== undefined ? `seq ${p.seq}` : null,
          p.index !== undefined ? `record ${p.index}` : null,
          p.path !== undefined ? p.path : null,
        ].filter((x) => x !== null);
        return `${p.code}${at.length ? ` (${at.join(', ')})` : ''}: ${p.message}`;
      }),
    );
  }
  const b = bundle as { edge: string; checkpoint: string };
  const cp = parseSignedCheckpoint(b.checkpoint).checkpoint;
  return {
    code: 0,
    lines: [
      `${name}: verified: ${r.verified} record${r.verified === 1 ? '' : 's'} of edge ${b.edge} in its log ` +
        `of ${cp.size} (root ${toBase64(cp.root)}), signed by ${trusted.split('+').slice(0, 2).join('+')}, ` +
        `cosigned by witness ${witness.name}`,
    ],
  };
}

const nameAndKey = (k: { keyName: string; publicKey: Uint8Array }): [string, Uint8Array] => [
  k.keyName,
  k.publicKey,
];
