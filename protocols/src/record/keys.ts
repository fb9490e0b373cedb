import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { fail } from './errors.js';

/** An edge's (or witness's) Ed25519 key pair. The private key stays where it was generated. */
export interface EdgeKeyPair {
  /** 32 raw bytes (RFC 8032 encoding). */
  publicKey: Uint8Array;
  /** PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"). */
  privateKeyPem: string;
}

// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the 32 raw key bytes follow it.
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function rawPublicKey(key: KeyObject): Uint8Array {
  const der = key.export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(SPKI_PREFIX.length));
}

/** Parsed keys by PEM text: a signer signs many checkpoints with one key, and parsing costs more than signing. */
const parsedKeys = new Map<string, KeyObject>();

function privateKey(pem: string): KeyObject {
  const cached = parsedKeys.get(pem);
  if (cached) return cached;
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    return fail('KEY_INVALID', `cannot read the private key PEM: ${(err as Error).message}`);
  }
  if (key.asymmetricKeyType !== 'ed25519')
    fail('KEY_INVALID', `the private key is ${key.asymmetricKeyType}, not ed25519`);
  if (parsedKeys.size >= 16) parsedKeys.clear();
  parsedKeys.set(pem, key);
  return key;
}

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  if (publicKey.length !== 32)
    fail('KEY_INVALID', `an Ed25519 public key is 32 bytes, got ${publicKey.length}`);
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
}

/** Generates a fresh Ed25519 key pair. */
export function generateKeyPair(): EdgeKeyPair {
  const { publicKey, privateKey: priv } = generateKeyPairSync('ed25519');
  return {
    publicKey: rawPublicKey(publicKey),
    privateKeyPem: priv.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
}

/** Raw public keys by private-key PEM: every checkpoint a signer signs names its key id. */
const publicKeys = new Map<string, Uint8Array>();

/** The raw 32-byte public key of a PKCS#8 PEM Ed25519 private key. Throws RecordFormatError KEY_INVALID. */
export function publicKeyFromPrivatePem(pem: string): Uint8Array {
  let raw = publicKeys.get(pem);
  if (raw === undefined) {
    raw = rawPublicKey(createPublicKey(privateKey(pem)));
    if (publicKeys.size >= 16) publicKeys.clear();
    publicKeys.set(pem, raw);
  }
  return raw.slice(); // the caller's own copy: the cached one stays as it is
}

/** Ed25519 signature (64 bytes, deterministic per RFC 8032) of message. Throws RecordFormatError KEY_INVALID. */
export function signEd25519(privateKeyPem: string, message: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, message, privateKey(privateKeyPem)));
}

/** True only if signature is a valid 64-byte Ed25519 signature of message by publicKey (32 raw bytes). */
export function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    return verify(null, message, publicKeyObject(publicKey), signature);
  } catch {
    return false;
  }
}
