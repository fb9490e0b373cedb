import { randomBytes } from 'node:crypto';
import { argon2id, hash, verify } from 'argon2';

/**
 * argon2id parameters of device password hashes: m = 19 MiB (19456 KiB), t = 2, p = 1 — the
 * OWASP Password Storage Cheat Sheet minimum for argon2id. About 40 ms and 19 MiB per hash or
 * check on a small edge box; the broker runs at most MAX_CONCURRENT_CHECKS checks at once.
 */
export const DEVICE_PASSWORD_HASH_OPTIONS = Object.freeze({
  type: argon2id,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
});

/** argon2id hash of a device password, with DEVICE_PASSWORD_HASH_OPTIONS (m=19 MiB, t=2, p=1). */
export async function hashDevicePassword(password: string): Promise<string> {
  if (typeof password !== 'string' || password.length === 0)
    throw new TypeError('password must not be empty');
  return hash(password, DEVICE_PASSWORD_HASH_OPTIONS);
}

export interface Argon2Params {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

const ENCODED_RE = /^\$argon2id\$v=19\$([a-z]=\d+(?:,[a-z]=\d+)*)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;

/** The parameters of an argon2id encoded hash ($argon2id$v=19$m=..,t=..,p=..$salt$hash), or null. */
export function argon2idParams(encoded: string): Argon2Params | null {
  const m = ENCODED_RE.exec(encoded);
  if (!m) return null;
  const values: Record<string, number> = {};
  for (const pair of (m[1] ?? '').split(',')) {
    const [k, v] = pair.split('=');
    if (k !== undefined && v !== undefined) values[k] = Number(v);
  }
  const { m: memoryCost, t: timeCost, p: parallelism } = values;
  if (memoryCost === undefined || timeCost === undefined || parallelism === undefined) return null;
  return { memoryCost, timeCost, parallelism };
}

/** Password checks running at once; more wait in a queue of MAX_QUEUED_CHECKS, beyond it: busy. */
export const MAX_CONCURRENT_CHECKS = 2;
export const MAX_QUEUED_CHECKS = 64;

/**
 * Checks device passwords with a bounded number of argon2 runs at once (each takes its memory cost
 * in RAM, so a flood of CONNECTs must not take the edge down). A user name that does not exist is
 * checked against a dummy hash with the same parameters as the real ones, so that the answer takes
 * about as long as for a wrong password.
 */
export class PasswordChecker {
  private dummy: string | undefined;
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly dummyParams: Argon2Params) {}

  async init(): Promise<void> {
    this.dummy ??= await hash(randomBytes(32), { type: argon2id, ...this.dummyParams });
  }

  /** true only when `encoded` is given and the password matches; 'busy' when too many checks are queued. */
  async check(encoded: string | undefined, password: Buffer | undefined): Promise<boolean | 'busy'> {
    if (this.running < MAX_CONCURRENT_CHECKS) this.running++;
    else if (this.waiting.length >= MAX_QUEUED_CHECKS) return 'busy';
    // The slot is handed over by the check that ends (release), so `running` never overshoots.
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      await this.init();
      const digest = encoded ?? this.dummy ?? '';
      const ok = await verify(digest, password ?? Buffer.alloc(0));
      return ok && encoded !== undefined && password !== undefined;
    } catch {
      return false;
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
