import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The key file in the data folder, made (mode 0600) on first start when no key is configured. */
export const SECRET_KEY_FILE = 'secrets-key';
const PREFIX = 'v1:';

/**
 * AES-256-GCM for small secrets kept in the database (TOTP seeds): the key lives outside the
 * database (configuration `RIGTRACE_SECRETS_KEY`, or `<dataDir>/secrets-key`), so a copy of the
 * database alone does not give the second factor away. Each value is bound to where it belongs
 * by the additional authenticated data (tenant, user, purpose): a ciphertext copied onto
 * another user's row does not decrypt. Stored as `v1:<iv>:<ciphertext+tag>` (base64url).
 */
export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  static fromKey(key: Uint8Array): SecretBox {
    if (key.length !== 32) throw new Error('the secrets key must be 32 bytes (AES-256)');
    return new SecretBox(Buffer.from(key));
  }

  /** A base64 (or base64url) text of 32 bytes, as RIGTRACE_SECRETS_KEY holds it. */
  static fromText(text: string): SecretBox {
    const key = Buffer.from(text.trim(), 'base64');
    if (key.length !== 32) throw new Error('RIGTRACE_SECRETS_KEY must be 32 bytes, base64-encoded');
    return SecretBox.fromKey(key);
  }

  /**
   * The configured key, else `<dataDir>/secrets-key`, created with 32 random bytes (mode 0600)
   * on first start, the same way as the witness key: processes that share one PostgreSQL must
   * share this key too (configure it, or copy the file).
   */
  static load(dataDir: string, configured?: string): SecretBox {
    if (configured) return SecretBox.fromText(configured);
    const file = path.join(dataDir, SECRET_KEY_FILE);
    if (!existsSync(file)) {
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      const tmp = `${file}.tmp-${process.pid}`;
      writeFileSync(tmp, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
      chmodSync(tmp, 0o600);
      try {
        linkSync(tmp, file); // another process that won the race keeps its key
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      } finally {
        unlinkSync(tmp);
      }
    }
    return SecretBox.fromText(readFileSync(file, 'utf8'));
  }

  static isSealed(value: string): boolean {
    return value.startsWith(PREFIX);
  }

  seal(plain: string, context: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    c.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([c.update(plain, 'utf8'), c.final(), c.getAuthTag()]);
    return `${PREFIX}${iv.toString('base64url')}:${body.toString('base64url')}`;
  }

  /** Opens a sealed value; a value stored before encryption (no prefix) is returned as it is. */
  open(stored: string, context: string): string {
    if (!SecretBox.isSealed(stored)) return stored;
    const [ivText, bodyText] = stored.slice(PREFIX.length).split(':');
    const iv = Buffer.from(ivText ?? '', 'base64url');
    const body = Buffer.from(bodyText ?? '', 'base64url');
    if (iv.length !== 12 || body.length < 17) throw new Error('a sealed secret is malformed');
    const d = createDecipheriv('aes-256-gcm', this.key, iv);
    d.setAAD(Buffer.from(context, 'utf8'));
    d.setAuthTag(body.subarray(body.length - 16));
    return Buffer.concat([d.update(body.subarray(0, body.length - 16)), d.final()]).toString('utf8');
  }
}

export const totpContext = (tenantId: string, userId: string) => `rigtrace/totp/${tenantId}/${userId}`;
