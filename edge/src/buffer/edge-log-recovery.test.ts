import { existsSync, mkdtempSync, openSync, readdirSync, statSync, writeSync, closeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateKeyPair, merkleRoot, recordLeafHash, verifyCheckpoint } from '@rigtrace/protocols';
import { EdgeLog, type RecordDraft } from './edge-log.js';
import { SqliteConnection } from './sqlite.js';

const keys = generateKeyPair();
const identity = { edgeId: 'edge-recover', privateKeyPem: keys.privateKeyPem };

function drafts(n: number, from: number): RecordDraft[] {
  const at = new Date().toISOString();
  return Array.from({ length: n }, (_, i) => ({
    kind: 'inspection' as const,
    equipment: 'RIG-01',
    observedAt: at,
    receivedAt: at,
    source: { protocol: 'modbus' as const, endpoint: 'modbus-tcp://127.0.0.1:1' },
    body: {
      partSerial: `INJ${String(from + i).padStart(8, '0')}`,
      result: 'pass' as const,
      characteristics: [
        { name: 'qty', measured: 60 + i / 1000, lsl: 58, usl: 62, unit: 'mm3', result: 'pass' as const },
      ],
    },
  }));
}

/** Every record in the buffer, in order, checked against its newest signed checkpoint. */
async function verifyBuffer(dir: string) {
  const db = await SqliteConnection.open(path.join(dir, 'buffer.sqlite'));
  const rows = await db.all<{ seq: number; json: string }>('SELECT seq, json FROM records ORDER BY seq');
  const cp = await db.get<{ size: number; note: string }>(
    'SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1',
  );
  await db.close();
  const v = verifyCheckpoint(cp!.note, identity.edgeId, keys.publicKey);
  if (!v.ok) throw new Error(v.message);
  expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: rows.length }, (_, i) => i + 1));
  expect(v.checkpoint.size).toBe(rows.length);
  expect(
    Buffer.from(merkleRoot(rows.map((r) => recordLeafHash(JSON.parse(r.json))))).equals(
      Buffer.from(v.checkpoint.root),
    ),
  ).toBe(true);
  return rows.length;
}

describe('EdgeLog recovery', () => {
  it('starts on a buffer whose tail is damaged, keeps the intact records and says what it lost', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-corrupt-'));
    let log = await EdgeLog.open(dir, identity, { commitIntervalMs: 1 });
    for (let i = 0; i < 60; i++) await log.append(drafts(50, i * 50));
    expect(log.lastSeq).toBe(3000);
    await log.close(); // checkpoints the WAL into the main file
    const file = path.join(dir, 'buffer.sqlite');
    expect(existsSync(`${file}-wal`)).toBe(false);

    // Overwrite the last 64 KiB of the database file with garbage.
    const size = statSync(file).size;
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(64 * 1024, 0xa5), 0, 64 * 1024, size - 64 * 1024);
    closeSync(fd);

    log = await EdgeLog.open(dir, identity, { commitIntervalMs: 1 });
    try {
      expect(log.recovery).not.toBeNull();
      const r = log.recovery!;
      expect(r.keptUpToSeq).toBe(log.lastSeq);
      expect(r.keptUpToSeq + r.lostRecords).toBe(3000);
      expect(r.keptUpToSeq).toBeGreaterThan(1000);
      expect(readdirSync(dir).some((f) => /^buffer\.corrupt-.*\.sqlite$/.test(f))).toBe(true);
      // The log goes on from what was kept, and stays verifiable end to end.
      const more = await log.append(drafts(5, 9000));
      expect(more.firstSeq).toBe(r.keptUpToSeq + 1);
    } finally {
      await log.close();
    }
    expect(await verifyBuffer(dir)).toBe(log.lastSeq);
  });

  it('opens an intact buffer without recovery', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-intact-'));
    let log = await EdgeLog.open(dir, identity, { commitIntervalMs: 1 });
    await log.append(drafts(10, 0));
    await log.close();
    log = await EdgeLog.open(dir, identity);
    expect(log.recovery).toBeNull();
    expect(log.lastSeq).toBe(10);
    await log.close();
  });
});
