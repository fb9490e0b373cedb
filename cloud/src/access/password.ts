import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import argon2 from 'argon2';

/**
 * Password hashing: argon2id, m = 19 MiB, t = 2, p = 1 (OWASP Password Storage Cheat Sheet's
 * baseline for argon2id; about 30-60 ms per hash on a server core). A stored hash made with
 * other parameters is re-hashed at the next successful sign-in.
 */
export const ARGON2_PARAMS = {
  type: argon2.argon2id,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
} as const;

export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 256;

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, ARGON2_PARAMS);
}

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    return await argon2.verify(hash, password);
  } catch {
    return false;
  }
}

export function needsRehash(hash: string): boolean {
  return argon2.needsRehash(hash, ARGON2_PARAMS);
}

let dummy: Promise<string> | undefined;
/**
 * A hash of a random password with the production parameters. Sign-in for an unknown or
 * disabled account verifies against it, so the answer takes as long as for a real account.
 */
export function dummyHash(): Promise<string> {
  dummy ??= hashPassword(randomBytes(24).toString('base64url'));
  return dummy;
}

let common: Set<string> | undefined;
/** The shipped list of the most common passwords (lower case), read once. */
export function commonPasswords(): Set<string> {
  if (!common) {
    // Beside this file in src/; from a build in dist/access/, the same file in src/access/.
    const here = new URL('./common-passwords.txt', import.meta.url);
    const file = existsSync(here) ? here : new URL('../../src/access/common-passwords.txt', import.meta.url);
    const text = readFileSync(file, 'utf8');
    common = new Set(
      text
        .split('\n')
        .map((l) => l.trim().toLowerCase())
        .filter((l) => l !== '' && !l.startsWith('#')),
    );
  }
  return common;
}

/**
 * NIST SP 800-63B style checks: a minimum length, no composition rules, and refusal of
 * passwords that are common, a common word padded with digits or symbols ("Password2024!"),
 * one short chunk repeated, or the account's own email. Returns the problems, empty if none.
 */
export function passwordProblems(password: string, context: { email?: string } = {}): string[] {
  const problems: string[] = [];
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) problems.push(`must be at least ${PASSWORD_MIN_LENGTH} characters`);
  if (length > PASSWORD_MAX_LENGTH) problems.push(`must be at most ${PASSWORD_MAX_LENGTH} characters`);
  const lower = password.toLowerCase();
  const list = commonPasswords();
  const core = lower.replace(/^[^a-z]+/, '').replace(/[^a-z]+$/, '');
  if (list.has(lower) || (core.length >= 3 && list.has(core))) {
    problems.push('is a commonly used password (or one padded with digits or symbols)');
  } else if (/^(.{1,4})\1+$/.test(lower) || new Set(lower).size <= 3) {
    problems.push('is too repetitive');
  }
  const email = context.email?.toLowerCase();
  const local = email?.split('@')[0] ?? '';
  if (email && (lower.includes(email) || (local.length >= 3 && lower.includes(local)))) {
    problems.push('must not contain the account name');
  }
  return problems;
}

const ALPHABET = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
/** A random one-time password: 20 characters from a 57-symbol alphabet (about 116 bits). */
export function generatePassword(length = 20): string {
  const out: string[] = [];
  while (out.length < length) {
    for (const b of randomBytes(length * 2)) {
      // Rejection sampling keeps every symbol equally likely.
      if (b < 256 - (256 % ALPHABET.length) && out.length < length) out.push(ALPHABET[b % ALPHABET.length]!);
    }
  }
  return out.join('');
}
