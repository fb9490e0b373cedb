import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EMPTY_ROOT, generateKeyPair, verifyBatch, type LogState } from '@rigtrace/protocols';
import { EdgeLog, type RecordDraft } from './edge-log.js';
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

describe('EdgeLog', () => {
  it('never signs a draft the record format refuses: an event naming the fields takes its place, later records flow', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-log-'));
    const log = await openLog(dir);
    log.fallbackEquipment = 'EDGE-T';
    const refused: string[] = [];
    log.onRefused = (_d, issues) => refused.push(...issues.map((i) => i.path));
    const t = new Date(Date.UTC(2026, 10, 23, 6, 0, 0)).toISOString();
    // A rig's result register said pass while a configured limit was exceeded.
    const bad = {
      kind: 'inspection',
      equipment: 'RIG-01',
      observedAt: t,
      receivedAt: t,
      source: { protocol: 'modbus', endpoint: 'modbus-tcp://127.0.0.1:15020' },
      body: {
        partSerial: 'INJ-1',
        result: 'pass',
        characteristics: [{ name: 'q', measured: 63, usl: 61.8, unit: 'mm3/stroke', result: 'fail' }],
      },
    } as RecordDraft;
    await log.append([draft(1), bad, draft(2)]);
    expect(refused).toEqual(['body.result']);
    expect(log.refusedDrafts).toBe(1);
    const batch = await log.nextBatch(500);
    const records = batch!.records.map(
      (r) => JSON.parse(r) as { kind: string; equipment: string; body: { code?: string; message?: string } },
    );
    expect(records.map((r) => r.kind)).toEqual(['telemetry', 'event', 'telemetry']);
    expect(records[1]!.equipment).toBe('RIG-01');
    expect(records[1]!.body.code).toBe('RECORD_INVALID');
    expect(records[1]!.body.message).toContain(
      'body.result = "pass": must be "fail" when a characteristic fails',
    );
    // The whole batch passes the cloud's checks.
    const v = verifyBatch(
      { v: 1, edge: identity.edgeId, records: records as unknown[], checkpoint: batch!.checkpoint },
      { publicKey: keys.publicKey, state: EMPTY },
    );
    expect(v.ok, JSON.stringify(v)).toBe(true);
  });

  it('assigns gap-free seqs across concurrent appends and signs a checkpoint that verifies', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-log-'));
    const log = await openLog(dir);
    const results = await Promise.all([
      log.append([draft(1), draft(2)]),
      log.append([draft(3)]),
      log.append([draft(4), draft(5), draft(6)]),
    ]);
    const seqs = results.flatMap((r) =>
      Array.from({ length: r.lastSeq - r.firstSeq + 1 }, (_, i) => r.firstSeq + i),
    );
    expect(seqs.sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6]);
    const batch = await log.nextBatch(500);
    expect(batch?.firstSeq).toBe(1);
    expect(batch?.lastSeq).toBe(6);
    const v = verifyBatch(
      {
        v: 1,
        edge: identity.edgeId,
        records: batch!.records.map((r) => JSON.parse(r) as unknown),
        checkpoint: batch!.checkpoint,
      },
      { publicKey: keys.publicKey, state: EMPTY },
    );
    expect(v.ok).toBe(true);
  });

  it('prunes only acknowledged records and resumes after a reopen', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-log-'));
    let log = await openLog(dir);
    await log.append([draft(1), draft(2), draft(3)]);
    await log.append([draft(4), draft(5)]);
    const first = await log.nextBatch(3);
    expect(first?.lastSeq).toBe(3);
    await log.acknowledge(3);
    const st = await log.stats();
    expect(st.unsent).toBe(2);
    expect(st.bufferedBytes).toBeGreaterThan(300);
    expect(st.bufferedBytes).toBe(log.bufferedBytes);
    await log.close();
    open.splice(0);

    log = await openLog(dir);
    expect(log.ackedSeq).toBe(3);
    expect(log.lastSeq).toBe(5);
    const rest = await log.nextBatch(500);
    expect(rest?.firstSeq).toBe(4);
    expect(rest?.records.map((r) => (JSON.parse(r) as { seq: number }).seq)).toEqual([4, 5]);
    const more = await log.append([draft(6)]);
    expect(more.firstSeq).toBe(6);
    // Acknowledged twice more on the same connection (its statements are reused): all pruned.
    await log.acknowledge(5);
    expect(log.bufferedBytes).toBe((await log.stats()).bufferedBytes);
    await log.acknowledge(6);
    expect(log.bufferedBytes).toBe(0);
    expect(await log.nextBatch(500)).toBeNull();
  });

  it('writes collector state in the same transaction as the records', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-log-'));
    const log = await openLog(dir);
    await log.append([draft(1)], { 'source:rig:lastTrigger': '41' });
    expect(await log.getState('source:rig:lastTrigger')).toBe('41');
  });

  it('refuses an acknowledgement beyond its own log', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-log-'));
    const log = await openLog(dir);
    await log.append([draft(1)]);
    await expect(log.acknowledge(5)).rejects.toThrow(/beyond log size 1/);
    expect(log.ackedSeq).toBe(0);
  });

  it('stores thousands of concurrent appends gap-free, each row with its exact JSON, UTF-8 size and a verifying checkpoint', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-log-'));
    const log = await openLog(dir);
    const unicode = (i: number): RecordDraft => {
      const d = draft(i);
      return {
        ...d,
        body: { points: [{ name: 'Δp – 压力 😀', value: i, unit: '°C', quality: 'good' }] },
      } as RecordDraft;
    };
    // Appends of 1..37 records, more than one transaction's worth, all queued at once.
    const appends: Promise<{ firstSeq: number; lastSeq: number }>[] = [];
    let n = 0;
    for (let a = 0; n < 2_600; a++) {
      const k = 1 + (a % 37);
      appends.push(
        log.append(Array.from({ length: k }, (_, j) => (j % 3 === 0 ? unicode(n + j) : draft(n + j)))),
      );
      n += k;
    }
    const results = await Promise.all(appends);
    expect(results[0]!.firstSeq).toBe(1);
    for (let i = 1; i < results.length; i++) expect(results[i]!.firstSeq).toBe(results[i - 1]!.lastSeq + 1);
    expect(log.lastSeq).toBe(n);

    const db = await SqliteConnection.open(path.join(dir, 'buffer.sqlite'));
    const rows = await db.all<{ seq: number; json: string; bytes: number; created_at: number; kind: string }>(
      'SELECT seq, json, bytes, created_at, kind FROM records ORDER BY seq',
    );
    await db.close();
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    for (const r of rows) {
      expect(r.bytes).toBe(Buffer.byteLength(r.json, 'utf8'));
      expect((JSON.parse(r.json) as { seq: number }).seq).toBe(r.seq);
      expect(r.kind).toBe('telemetry');
      expect(r.created_at).toBeGreaterThan(Date.now() - 60_000);
    }
    expect(log.bufferedBytes).toBe(rows.reduce((t, r) => t + r.bytes, 0));

    // Every checkpoint covers its records: the whole log verifies batch by batch.
    let state = EMPTY;
    while (state.size < n) {
      const batch = await log.nextBatch(1000);
      const v = verifyBatch(
        {
          v: 1,
          edge: identity.edgeId,
          records: batch!.records.map((r) => JSON.parse(r) as unknown),
          checkpoint: batch!.checkpoint,
        },
        { publicKey: keys.publicKey, state },
      );
      expect(v.ok).toBe(true);
      if (!v.ok) break;
      state = v.newState;
      await log.acknowledge(batch!.lastSeq);
    }
    expect(state.size).toBe(n);
  });

  it('logs a record that has no canonical form as an event naming the value, and keeps logging', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-log-'));
    const log = await openLog(dir);
    const bad = { ...draft(2), body: { points: [{ name: 'p', value: NaN, unit: 'bar', quality: 'good' }] } };
    expect(await log.append([bad as RecordDraft])).toEqual({ firstSeq: 1, lastSeq: 1 });
    const ok = await log.append([draft(3)]);
    expect(ok).toEqual({ firstSeq: 2, lastSeq: 2 });
    const batch = await log.nextBatch(10);
    expect(batch?.records.length).toBe(2);
    const ev = JSON.parse(batch!.records[0]!) as { kind: string; body: { message: string } };
    expect(ev.kind).toBe('event');
    expect(ev.body.message).toMatch(/body\.points\[0\]\.value = NaN/);
  });
});
