import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EMPTY_ROOT, generateKeyPair, verifyBatch, type LogState } from '@rigtrace/protocols';
import type { DamagedRecord } from './damaged-records.js';
import { EdgeLog, type PendingBatch, type RecordDraft } from './edge-log.js';
import { textLeaf } from './log-range.js';
import { SqliteConnection } from './sqlite.js';

const keys = generateKeyPair();
const identity = { edgeId: 'edge-test-1', privateKeyPem: keys.privateKeyPem };
const EMPTY: LogState = { size: 0, root: EMPTY_ROOT, range: { size: 0, hashes: [] } };

function draft(i: number): RecordDraft {
  const t = new Date(Date.UTC(2026, 10, 23, 6, 0, 0, i)).toISOString();
  return {
    kind: 'telemetry',
    equipment: 'RIG-01',
    observedAt: t,
    receivedAt: t,
    source: { protocol: 'modbus', endpoint: 'modbus-tcp://127.0.0.1:15020' },
    body: { points: [{ name: 'railPressure', value: 1800 + i, unit: 'bar', quality: 'good' }] },
  };
}

const open: EdgeLog[] = [];
async function openLog(dir: string) {
  const log = await EdgeLog.open(dir, identity, { commitIntervalMs: 5 });
  open.push(log);
  return log;
}
afterEach(async () => {
  for (const l of open.splice(0)) await l.close();
});

/** Changes the buffer file directly, as a disk fault or a hand edit would (the log is closed meanwhile). */
async function alter(dir: string, sql: string, params: (string | number | Buffer)[]) {
  const db = await SqliteConnection.open(path.join(dir, 'buffer.sqlite'));
  try {
    const r = await db.run(sql, params);
    expect(r.changes).toBe(1);
  } finally {
    await db.close();
  }
}

function verify(batch: PendingBatch, state: LogState) {
  return verifyBatch(
    {
      v: 1,
      edge: identity.edgeId,
      records: batch.records.map((r) => JSON.parse(r) as unknown),
      checkpoint: batch.checkpoint,
    },
    { publicKey: keys.publicKey, state },
  );
}

/** Three commits (checkpoints at 2, 3 and 5), the first batch (1..2) sent and acknowledged. */
async function logWithAckedBatch(dir: string) {
  const log = await openLog(dir);
  await log.append([draft(1), draft(2)]);
  await log.append([draft(3)]);
  await log.append([draft(4), draft(5)]);
  const first = await log.nextBatch(2);
  const v = verify(first!, EMPTY);
  if (!v.ok) throw new Error(JSON.stringify(v.problems));
  await log.acknowledge(2);
  await log.close();
  open.splice(open.indexOf(log), 1);
  return v.newState;
}

describe('damaged buffer rows', () => {
  it('names a record whose stored text was changed, sets it aside with an event in its place, and the rest flow', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-dmg-'));
    const state = await logWithAckedBatch(dir);
    const db = await SqliteConnection.open(path.join(dir, 'buffer.sqlite'));
    const before = (await db.get<{ id: string; json: string }>(
      'SELECT id, json FROM records WHERE seq = 4',
    ))!;
    await db.close();
    await alter(dir, 'UPDATE records SET json = ? WHERE seq = 4', [before.json.replace('1804', '9999')]);

    const log = await openLog(dir);
    const named: DamagedRecord[] = [];
    log.onDamaged = (d) => named.push(d);
    await log.append([draft(6)]); // records keep arriving while the damage is found
    const batch = await log.nextBatch(500);
    expect(batch).toMatchObject({ firstSeq: 3, lastSeq: 6 });
    const records = batch!.records.map((r) => JSON.parse(r));
    expect(records.map((r) => r.kind)).toEqual(['telemetry', 'event', 'telemetry', 'telemetry']);
    expect(records[1]).toMatchObject({
      seq: 4,
      equipment: 'RIG-01',
      body: {
        severity: 'error',
        code: 'EDGE_RECORD_DAMAGED',
        details: {
          seq: 4,
          recordId: before.id,
          kind: 'telemetry',
          source: 'modbus modbus-tcp://127.0.0.1:15020',
          signedLeaf: Buffer.from(textLeaf(before.json), 'latin1').toString('base64'),
        },
      },
    });
    expect(records[1].body.message).toContain(`record seq 4 (telemetry, id ${before.id}`);
    // The records around it are untouched, and the cloud's check of the batch passes.
    expect(records[0].body.points[0].value).toBe(1803);
    expect(records[2].body.points[0].value).toBe(1805);
    const v = verify(batch!, state);
    expect(v.ok, JSON.stringify(v)).toBe(true);
    expect(named).toEqual([
      expect.objectContaining({ seq: 4, id: before.id, kind: 'telemetry', eventId: records[1].id }),
    ]);
    // The damaged text is kept on the edge, and counted for /status.
    const d = await log.damaged();
    expect(d.total).toBe(1);
    expect(d.last).toMatchObject({ seq: 4, id: before.id, source: 'modbus modbus-tcp://127.0.0.1:15020' });
    await log.acknowledge(6);
    await log.append([draft(7)]);
    const next = await log.nextBatch(500);
    expect(next).toMatchObject({ firstSeq: 7, lastSeq: 7 });
    expect(verify(next!, (v as { newState: LogState }).newState).ok).toBe(true);
    await log.close();
    const check = await SqliteConnection.open(path.join(dir, 'buffer.sqlite'));
    const kept = await check.all<{ seq: number; id: string; json: string }>(
      'SELECT seq, id, json FROM damaged_records',
    );
    await check.close();
    expect(kept).toEqual([{ seq: 4, id: before.id, json: before.json.replace('1804', '9999') }]);
  });

  it('sets nothing aside when only the recorded leaf hash was damaged (the text still reaches the signed root)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-dmg-'));
    const state = await logWithAckedBatch(dir);
    await alter(dir, 'UPDATE records SET leaf = ? WHERE seq = 4', [Buffer.alloc(32)]);
    const log = await openLog(dir);
    const batch = await log.nextBatch(500);
    expect(batch!.records.map((r) => (JSON.parse(r) as { kind: string }).kind)).toEqual([
      'telemetry',
      'telemetry',
      'telemetry',
    ]);
    expect(verify(batch!, state).ok).toBe(true);
    expect((await log.damaged()).total).toBe(0);
  });

  it('sets aside the whole checkpoint interval when text and recorded leaf were both changed', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-dmg-'));
    const state = await logWithAckedBatch(dir);
    const db = await SqliteConnection.open(path.join(dir, 'buffer.sqlite'));
    const row = (await db.get<{ json: string }>('SELECT json FROM records WHERE seq = 5'))!;
    await db.close();
    const forged = row.json.replace('1805', '1');
    await alter(dir, 'UPDATE records SET json = ?, leaf = ? WHERE seq = 5', [
      forged,
      Buffer.from(textLeaf(forged), 'latin1'),
    ]);
    const log = await openLog(dir);
    const batch = await log.nextBatch(500);
    const records = batch!.records.map((r) => JSON.parse(r));
    // Record 3 (its own checkpoint) is intact; 4..5 cannot be told apart, so both are set aside.
    expect(records.map((r) => r.kind)).toEqual(['telemetry', 'event', 'event']);
    expect(records[1].body.details.reason).toBe(
      'the records 4..5 do not reach the root of the checkpoint signed at size 5',
    );
    expect(verify(batch!, state).ok).toBe(true);
    expect((await log.damaged()).total).toBe(2);
  });
});
