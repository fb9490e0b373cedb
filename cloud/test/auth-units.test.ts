import argon2 from 'argon2';
import { describe, expect, it } from 'vitest';
import {
  ARGON2_PARAMS,
  commonPasswords,
  generatePassword,
  hashPassword,
  needsRehash,
  passwordProblems,
  verifyPassword,
} from '../src/access/password.js';
import { ROLE_PERMISSIONS } from '../src/access/policy.js';
import {
  base32Decode,
  base32Encode,
  hotp,
  totp,
  verifyTotp,
  type TotpAlgorithm,
} from '../src/access/totp.js';

describe('TOTP (RFC 6238)', () => {
  // RFC 6238 Appendix B: 8 digits, 30 s steps, one seed per hash.
  const seeds: Record<TotpAlgorithm, Buffer> = {
    sha1: Buffer.from('12345678901234567890'),
    sha256: Buffer.from('12345678901234567890123456789012'),
    sha512: Buffer.from('1234567890123456789012345678901234567890123456789012345678901234'),
  };
  const vectors: [number, string, TotpAlgorithm][] = [
    [59, '94287082', 'sha1'],
    [59, '46119246', 'sha256'],
    [59, '90693936', 'sha512'],
    [1111111109, '07081804', 'sha1'],
    [1111111109, '68084774', 'sha256'],
    [1111111109, '25091201', 'sha512'],
    [1111111111, '14050471', 'sha1'],
    [1111111111, '67062674', 'sha256'],
    [1111111111, '99943326', 'sha512'],
    [1234567890, '89005924', 'sha1'],
    [1234567890, '91819424', 'sha256'],
    [1234567890, '93441116', 'sha512'],
    [2000000000, '69279037', 'sha1'],
    [2000000000, '90698825', 'sha256'],
    [2000000000, '38618901', 'sha512'],
    [20000000000, '65353130', 'sha1'],
    [20000000000, '77737706', 'sha256'],
    [20000000000, '47863826', 'sha512'],
  ];
  it.each(vectors)('at T=%i gives %s with %s', (t, code, algorithm) => {
    expect(totp(seeds[algorithm], t, { digits: 8, algorithm })).toBe(code);
  });

  it('matches RFC 4226 HOTP vectors and round-trips base32', () => {
    const secret = Buffer.from('12345678901234567890');
    expect([0, 1, 9].map((c) => hotp(secret, c))).toEqual(['755224', '287082', '520489']);
    expect(base32Encode(Buffer.from('foobar'))).toBe('MZXW6YTBOI'); // RFC 4648 section 10
    expect(Buffer.from(base32Decode('MZXW6YTBOI')).toString()).toBe('foobar');
  });

  it('accepts one step of drift either way and nothing further, and returns the matched step', () => {
    const secret = Buffer.from('12345678901234567890');
    const now = 1_700_000_000;
    const step = Math.floor(now / 30);
    expect(verifyTotp(secret, totp(secret, now), now)).toBe(step);
    expect(verifyTotp(secret, totp(secret, now - 30), now)).toBe(step - 1);
    expect(verifyTotp(secret, totp(secret, now + 30), now)).toBe(step + 1);
    expect(verifyTotp(secret, totp(secret, now + 90), now)).toBeUndefined();
    expect(verifyTotp(secret, 'abcdef', now)).toBeUndefined();
  });
});

describe('passwords', () => {
  it('hashes with argon2id and the documented parameters, and verifies', async () => {
    const h = await hashPassword('a long enough passphrase');
    expect(h).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
    expect(await verifyPassword(h, 'a long enough passphrase')).toBe(true);
    expect(await verifyPassword(h, 'a long enough passphrasE')).toBe(false);
    expect(needsRehash(h)).toBe(false);
    const weaker = await argon2.hash('x', { ...ARGON2_PARAMS, timeCost: 1 });
    expect(needsRehash(weaker)).toBe(true);
  });

  it('refuses short, common, padded-common, repetitive and self-naming passwords', () => {
    expect(commonPasswords().size).toBeGreaterThan(3000);
    expect(passwordProblems('Xq7#pL2v')).toEqual([expect.stringContaining('at least 12')]);
    expect(passwordProblems('qwertyuiop12')).toEqual([expect.stringContaining('common')]);
    expect(passwordProblems('Password2024!')).toEqual([expect.stringContaining('common')]);
    expect(passwordProblems('abcabcabcabc')).toEqual([expect.stringContaining('repetitive')]);
    expect(passwordProblems('jane.doe-is-great', { email: 'jane.doe@plant.example' })).toEqual([
      expect.stringContaining('account name'),
    ]);
    expect(passwordProblems('injector rig 7 calibrates')).toEqual([]);
    const g = generatePassword();
    expect(g).toHaveLength(20);
    expect(passwordProblems(g)).toEqual([]);
  });

  it('gives the roles the documented permissions', () => {
    const table = Object.fromEntries(Object.entries(ROLE_PERMISSIONS).map(([r, p]) => [r, [...p].sort()]));
    expect(table).toEqual({
      admin: [
        'alerts:acknowledge',
        'audit:read',
        'calibrations:approve',
        'calibrations:disposition',
        'calibrations:write',
        'evidence:read',
        'export-access:read',
        'maintenance:write',
        'records:read',
        'reminders:deliveries',
        'reminders:manage',
        'reminders:read',
        'reports:generate',
        'reports:read',
        'sites:manage',
        'spc:baseline',
        'tenant:manage',
        'users:manage',
      ],
      manager: [
        'alerts:acknowledge',
        'calibrations:approve',
        'calibrations:disposition',
        'evidence:read',
        'maintenance:write',
        'records:read',
        'reminders:deliveries',
        'reminders:read',
        'spc:baseline',
      ],
      technician: [
        'alerts:acknowledge',
        'calibrations:approve',
        'calibrations:write',
        'maintenance:write',
        'records:read',
      ],
      auditor: [
        'audit:read',
        'evidence:read',
        'export-access:read',
        'records:read',
        'reminders:deliveries',
        'reports:generate',
        'reports:read',
      ],
    });
  });
});
