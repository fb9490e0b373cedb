import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EMPTY_ROOT, generateKeyPair, verifyBatch, type LogState } from '@rigtrace/protocols';
import type { DamagedRecord } from './damaged-records.js';
import { Forwarder } from '../forwarder/forwarder.js';
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

describe('unsent records re-hashed at start', () => {
  it('names and sets aside every damaged record before any batch is read, in every checkpoint interval', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-dmg-'));
    const state = await logWithAckedBatch(dir);
    const db = await SqliteConnection.open(path.join(dir, 'buffer.sqlite'));
    const rows = await db.all<{ seq: number; id: string; json: string }>(
      'SELECT seq, id, json FROM records ORDER BY seq',
    );
    await db.close();
    // Records 3 (checkpoint 3) and 5 (checkpoint 5) are changed: two intervals, one pass at start.
    await alter(dir, 'UPDATE records SET json = ? WHERE seq = 3', [rows[0]!.json.replace('1803', '7')]);
    await alter(dir, 'UPDATE records SET json = ? WHERE seq = 5', [rows[2]!.json.replace('1805', '7')]);
    const log = await openLog(dir);
    const named: DamagedRecord[] = [];
    log.onDamaged = (d) => named.push(d);
    const found = await log.verifyUnsent();
    expect(found.map((d) => [d.seq, d.id])).toEqual([
      [3, rows[0]!.id],
      [5, rows[2]!.id],
    ]);
    expect(named.map((d) => d.seq)).toEqual([3, 5]);
    expect((await log.damaged()).total).toBe(2);
    // A second pass finds nothing more; the batch is the repaired log and the cloud takes it.
    expect(await log.verifyUnsent()).toEqual([]);
    const batch = await log.nextBatch(500);
    expect(batch!.records.map((r) => (JSON.parse(r) as { kind: string }).kind)).toEqual([
      'event',
      'telemetry',
      'event',
    ]);
    expect(verify(batch!, state).ok).toBe(true);
  });

  it('is not stuck when the cloud had committed the damaged record and its acknowledgement was lost', async () => {
    // A cloud that verifies like the real one (the verifier of @rigtrace/protocols, stored leaves
    // and roots, 409 with expectedSeq for a fork or a gap, 422 with the problems otherwise), and
    // that loses its first acknowledgement after committing the batch.
    let cloudState: LogState = EMPTY;
    const leaves = new Map<number, Uint8Array>();
    const roots = new Map<number, Uint8Array>();
    let loseNext = true;
    let away = false;
    const refusals: string[] = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        if (away) {
          res.statusCode = 503;
          res.end('{"detail":"away"}');
          return;
        }
        const v = verifyBatch(JSON.parse(body), {
          publicKey: keys.publicKey,
          state: cloudState,
          knownLeafHash: (s) => leaves.get(s),
          knownRoot: (s) => roots.get(s),
        });
        if (v.ok) {
          v.records.forEach((r, i) => leaves.set(r.seq, v.leafHashes[i]!));
          roots.set(v.checkpoint.size, v.checkpoint.root);
          cloudState = v.newState;
          if (loseNext) {
            loseNext = false;
            away = true; // and goes away until the edge restarts
            res.destroy(); // committed, but the answer never reaches the edge
            return;
          }
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ ackedSeq: cloudState.size }));
          return;
        }
        refusals.push(v.problems.map((p) => p.code).join(','));
        const continuity = v.problems.every((p) => p.code.startsWith('SEQ_'));
        res.statusCode = v.fork || continuity ? 409 : 422;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ detail: 'refused', problems: v.problems, expectedSeq: v.expectedSeq }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const forwarder = (log: EdgeLog) =>
      new Forwarder(
        log,
        {
          cloudUrl: url,
          batchSize: 500,
          timeoutMs: 5000,
          retry: { initialMs: 20, maxMs: 100 },
          maxRecordsPerSecond: 100_000,
        },
        pino({ level: 'silent' }),
      );
    try {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-dmg-'));
      let log = await openLog(dir);
      await log.append([draft(1), draft(2)]);
      await log.append([draft(3)]);
      await log.append([draft(4), draft(5)]);
      let fwd = forwarder(log);
      fwd.start();
      await vi.waitFor(() => expect(cloudState.size).toBe(5), { timeout: 10_000 });
      await fwd.stop();
      await log.close();
      open.splice(open.indexOf(log), 1);
      // The edge never heard that 1..5 were committed; then record 4 is damaged in its buffer.
      const db = await SqliteConnection.open(path.join(dir, 'buffer.sqlite'));
      const original = (await db.get<{ json: string }>('SELECT json FROM records WHERE seq = 4'))!.json;
      await db.close();
      await alter(dir, 'UPDATE records SET json = ? WHERE seq = 4', [original.replace('1804', '9')]);

      away = false;
      log = await openLog(dir);
      expect(log.ackedSeq).toBe(0);
      expect((await log.verifyUnsent()).map((d) => d.seq)).toEqual([4]);
      await log.append([draft(6)]);
      fwd = forwarder(log);
      fwd.start();
      await vi.waitFor(() => expect(log.ackedSeq).toBe(6), { timeout: 10_000 });
      await log.append([draft(7), draft(8)]);
      await vi.waitFor(() => expect(log.ackedSeq).toBe(8), { timeout: 10_000 });
      await fwd.stop();
      // The cloud keeps the original record 4 (the edge's copy was damaged, not the cloud's), its
      // log grew on from there, and the edge said once why it skipped ahead.
      expect(cloudState.size).toBe(8);
      expect(Buffer.from(leaves.get(4)!).toString('latin1')).toBe(textLeaf(original));
      expect(refusals).toHaveLength(1);
      expect(refusals[0]).toContain('RECORD_REPLAYED_CHANGED');
      expect(fwd.stats().consecutiveFailures).toBe(0);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
