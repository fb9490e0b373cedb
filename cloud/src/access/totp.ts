import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * TOTP (RFC 6238) over HOTP (RFC 4226), written against node:crypto: the algorithm is a dozen
 * lines and the RFC's test vectors pin it (auth-totp.test.ts). Authenticator apps use SHA-1,
 * 6 digits and 30-second steps; those are the defaults.
 */
export type TotpAlgorithm = 'sha1' | 'sha256' | 'sha512';

export interface TotpOptions {
  digits?: number;
  stepSeconds?: number;
  algorithm?: TotpAlgorithm;
}

export function hotp(
  secret: Uint8Array,
  counter: number,
  digits = 6,
  algorithm: TotpAlgorithm = 'sha1',
): string {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(algorithm, secret).update(msg).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  const bin = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(bin % 10 ** digits).padStart(digits, '0');
}

export function totpStep(unixSeconds: number, stepSeconds = 30): number {
  return Math.floor(unixSeconds / stepSeconds);
}

export function totp(secret: Uint8Array, unixSeconds: number, opts: TotpOptions = {}): string {
  return hotp(secret, totpStep(unixSeconds, opts.stepSeconds), opts.digits, opts.algorithm);
}

/**
 * Checks `code` against the steps `now - window … now + window` (clock drift) and returns the
 * step it matched, or undefined. The caller refuses a step not greater than the last one used,
 * so a code cannot be replayed.
 */
export function verifyTotp(
  secret: Uint8Array,
  code: string,
  unixSeconds: number,
  window = 1,
  opts: TotpOptions = {},
): number | undefined {
  const digits = opts.digits ?? 6;
  if (!new RegExp(`^\\d{${digits}}$`).test(code)) return undefined;
  const now = totpStep(unixSeconds, opts.stepSeconds);
  let matched: number | undefined;
  for (let s = now - window; s <= now + window; s++) {
    const expected = hotp(secret, s, digits, opts.algorithm);
    // Compare every candidate in constant time and keep going, so timing tells nothing.
    if (timingSafeEqual(Buffer.from(expected), Buffer.from(code)) && matched === undefined) matched = s;
  }
  return matched;
}

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 without padding, as otpauth:// URIs carry secrets. */
export function base32Encode(bytes: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}

export function base32Decode(text: string): Uint8Array {
  const clean = text.replace(/=+$/, '').toUpperCase();
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const c of clean) {
    const i = B32.indexOf(c);
    if (i < 0) throw new Error('not base32');
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Uint8Array.from(out);
}

/** A new 160-bit secret (RFC 4226's recommended length for SHA-1), base32. */
export function newTotpSecret(): string {
  return base32Encode(randomBytes(20));
}

/** The otpauth:// URI an authenticator app reads (from a QR code or typed in). */
export function otpauthUri(issuer: string, account: string, secretBase32: string): string {
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(account)}`;
  const q = new URLSearchParams({
    secret: secretBase32,
    issuer,
    algorithm: 'SHA1',
    digits: '6',
    period: '30',
  });
  return `otpauth://totp/${label}?${q.toString()}`;
}
