import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  cosignCheckpoint,
  generateKeyPair,
  publicKeyFromPrivatePem,
  signCheckpoint,
  toBase64,
  type Checkpoint,
} from '@rigtrace/protocols';

/**
 * The cloud's witness key. Every checkpoint the cloud accepts is countersigned with it
 * (C2SP tlog-cosignature), so neither the edge nor the cloud can later rewrite history alone.
 */
export class Witness {
  private constructor(
    readonly name: string,
    private readonly privateKeyPem: string,
    readonly publicKey: Uint8Array,
  ) {}

  /**
   * Loads the key from `dataDir/witness-key.pem`, creating it (mode 0600) on first start; or,
   * with `keyFile` (RIGTRACE_WITNESS_KEY_FILE: processes sharing one PostgreSQL share one key),
   * from that file, which must exist: a missing shared key is an error, never a new key.
   */
  static load(dataDir: string, name: string, keyFile?: string): Witness {
    if (keyFile) {
      let pem: string;
      try {
        pem = readFileSync(keyFile, 'utf8');
      } catch (err) {
        throw new Error(`the witness key file ${keyFile} cannot be read: ${(err as Error).message}`);
      }
      try {
        return new Witness(name, pem, publicKeyFromPrivatePem(pem));
      } catch {
        throw new Error(`the witness key file ${keyFile} does not hold an Ed25519 private key (PEM)`);
      }
    }
    const file = path.join(dataDir, 'witness-key.pem');
    if (!existsSync(file)) {
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      const tmp = `${file}.tmp-${process.pid}`;
      writeFileSync(tmp, generateKeyPair().privateKeyPem, { mode: 0o600 });
      chmodSync(tmp, 0o600);
      // link, not rename: if another process starting on the same folder won the race, its key
      // stays and this one is discarded, so every process signs with the key on disk.
      try {
        linkSync(tmp, file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      } finally {
        unlinkSync(tmp);
      }
    }
    const pem = readFileSync(file, 'utf8');
    return new Witness(name, pem, publicKeyFromPrivatePem(pem));
  }

  cosign(note: string, now = new Date()): string {
    return cosignCheckpoint(note, this.name, this.privateKeyPem, Math.floor(now.getTime() / 1000));
  }

  /** Signs a checkpoint of a log the cloud itself keeps (the audit log), as the key named `name`. */
  sign(cp: Checkpoint): string {
    return signCheckpoint(cp, this.name, this.privateKeyPem);
  }

  describe(): { name: string; publicKey: string } {
    return { name: this.name, publicKey: toBase64(this.publicKey) };
  }
}
