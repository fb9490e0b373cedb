import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generateKeyPair, toBase64 } from '@rigtrace/protocols';
import { EdgeError } from './errors.js';

/** What enrollment leaves in the data folder. The private key is in its own 0600 file. */
export interface StoredIdentity {
  edgeId: string;
  tenantId: string;
  siteId: string;
  cloudUrl: string;
  enrolledAt: string;
  /** The cloud's witness key (signed-note verifier key), to check its cosignatures. */
  witnessKey?: string;
}

const IDENTITY_FILE = 'identity.json';
const KEY_FILE = 'edge-key.pem';

export function identityPaths(dataDir: string) {
  return { identity: path.join(dataDir, IDENTITY_FILE), key: path.join(dataDir, KEY_FILE) };
}

export function loadIdentity(dataDir: string): { identity: StoredIdentity; privateKeyPem: string } {
  const p = identityPaths(dataDir);
  if (!existsSync(p.identity) || !existsSync(p.key)) {
    throw new EdgeError(
      'EDGE_NOT_ENROLLED',
      `no edge identity in ${dataDir}; run: rigtrace-edge enroll --config FILE --cloud URL --token TOKEN`,
    );
  }
  return {
    identity: JSON.parse(readFileSync(p.identity, 'utf8')) as StoredIdentity,
    privateKeyPem: readFileSync(p.key, 'utf8'),
  };
}

function writeAtomic(file: string, data: string, mode: number) {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}

/**
 * Enrolls this edge: generates an Ed25519 key pair here (the private key never leaves the
 * machine), registers the public key with the cloud using a one-time site token, and stores the
 * identity the cloud assigns.
 */
export async function enroll(opts: {
  dataDir: string;
  cloudUrl: string;
  token: string;
  name: string;
  fetchImpl?: typeof fetch;
}): Promise<StoredIdentity> {
  const p = identityPaths(opts.dataDir);
  if (existsSync(p.identity)) {
    throw new EdgeError('EDGE_ALREADY_ENROLLED', `${p.identity} exists; this edge is already enrolled`);
  }
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const keys = generateKeyPair();
  const url = new URL('/api/v1/edges/enroll', opts.cloudUrl);
  let res: Response;
  try {
    res = await (opts.fetchImpl ?? fetch)(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: opts.token, publicKey: toBase64(keys.publicKey), name: opts.name }),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (err) {
    throw new EdgeError('EDGE_ENROLL_FAILED', `cannot reach ${url.origin}: ${(err as Error).message}`);
  }
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) {
    const detail =
      typeof body.detail === 'string' ? body.detail : typeof body.title === 'string' ? body.title : '';
    throw new EdgeError('EDGE_ENROLL_REFUSED', `the cloud refused the enrollment (${res.status}): ${detail}`);
  }
  const identity: StoredIdentity = {
    edgeId: String(body.edgeId),
    tenantId: String(body.tenantId),
    siteId: String(body.siteId),
    cloudUrl: opts.cloudUrl,
    enrolledAt: new Date().toISOString(),
    ...(typeof body.witnessKey === 'string' ? { witnessKey: body.witnessKey } : {}),
  };
  writeAtomic(p.key, keys.privateKeyPem, 0o600);
  writeAtomic(p.identity, JSON.stringify(identity, null, 2) + '\n', 0o600);
  return identity;
}
