import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { generateKeyPair, merkleRoot, recordLeafHash, verifyCheckpoint } from '@rigtrace/protocols';
import { SqliteConnection } from '../src/buffer/sqlite.js';
import { EdgeLog } from '../src/buffer/edge-log.js';

const fixture = fileURLToPath(new URL('./fixtures/append-forever.ts', import.meta.url));

/** Runs the appending child until it has reported `target` durable records, then SIGKILLs it. */
function runUntilKilled(dir: string, pem: string, target: number): Promise<number> {
  const child = spawn(
    process.execPath,
    ['--conditions=rigtrace-source', '--import', 'tsx', fixture, dir, 'edge-crash'],
    {
      env: { ...process.env, RT_TEST_KEY: pem },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let durable = 0;
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /^durable (\d+)$/.exec(line);
      if (m) durable = Number(m[1]);
      if (durable >= target && child.exitCode === null) child.kill('SIGKILL');
    });
    child.once('exit', (_code, signal) =>
      signal === 'SIGKILL'
        ? resolve(durable)
        : reject(new Error(`child ended without being killed (${signal})`)),
    );
  });
}

describe('edge buffer under kill -9', () => {
  it('keeps every record it reported durable, gap-free, under a checkpoint that verifies', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-crash-'));
    const keys = generateKeyPair();
    let target = 0;
    for (let round = 1; round <= 3; round++) {
      target += 200 + Math.floor(Math.random() * 200);
      const durable = await runUntilKilled(dir, keys.privateKeyPem, target);

      // The log reopens cleanly and continues past everything reported durable.
      const log = await EdgeLog.open(dir, { edgeId: 'edge-crash', privateKeyPem: keys.privateKeyPem });
      const size = log.lastSeq;
      await log.close();
      expect(size).toBeGreaterThanOrEqual(durable);

      const db = await SqliteConnection.open(path.join(dir, 'buffer.sqlite'));
      const rows = await db.all<{ seq: number; json: string }>('SELECT seq, json FROM records ORDER BY seq');
      const cp = await db.get<{ size: number; note: string }>(
        'SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1',
      );
      await db.close();
      expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: size }, (_, i) => i + 1));
      expect(cp?.size).toBe(size);
      const v = verifyCheckpoint(cp!.note, 'edge-crash', keys.publicKey);
      expect(v.ok).toBe(true);
      if (!v.ok) return;
      const leaves = rows.map((r) => recordLeafHash(JSON.parse(r.json)));
      expect(Buffer.from(merkleRoot(leaves)).equals(Buffer.from(v.checkpoint.root))).toBe(true);
    }
  }, 90_000);
});
