import { fail } from './errors.js';

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const HEX_RE = /^(?:[0-9a-f]{2})*$/;

/** Standard base64 (RFC 4648 section 4) with padding. */
export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/**
 * Strict standard base64: only the canonical encoding of some byte string is accepted (padding
 * required, no whitespace, no URL alphabet, unused pad bits zero). Strictness matters for tamper
 * evidence: with a lenient decoder, flipping a pad bit of a signature or hash would go unnoticed.
 * Throws RecordFormatError BASE64_INVALID.
 */
export function fromBase64(text: string): Uint8Array {
  const bytes = tryFromBase64(text);
  if (bytes === undefined)
    fail('BASE64_INVALID', `not canonical standard base64: ${JSON.stringify(text.slice(0, 60))}`);
  return bytes;
}

/** Like fromBase64, but returns undefined instead of throwing. */
export function tryFromBase64(text: string): Uint8Array | undefined {
  if (!BASE64_RE.test(text)) return undefined;
  const buf = Buffer.from(text, 'base64');
  if (buf.toString('base64') !== text) return undefined;
  return new Uint8Array(buf);
}

/** Lowercase hexadecimal. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Strict lowercase hexadecimal (even length). Throws RecordFormatError HEX_INVALID. */
export function fromHex(text: string): Uint8Array {
  if (!HEX_RE.test(text))
    fail('HEX_INVALID', `not lowercase hexadecimal: ${JSON.stringify(text.slice(0, 60))}`);
  return new Uint8Array(Buffer.from(text, 'hex'));
}

/** Byte-wise equality (not constant-time; use it for public values such as hashes). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
