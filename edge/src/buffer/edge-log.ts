import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import {
  CompactRange,
  MAX_BATCH_RECORDS,
  RECORD_FORMAT_VERSION,
  canonicalJson,
  leafHash,
  signCheckpoint,
  type RigRecord,
} from '@rigtrace/protocols';
import { EdgeError } from '../errors.js';
import { SqliteConnection } from './sqlite.js';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** What a collector hands to the log; the log adds v, id, edge and seq. */
export type RecordDraft = DistributiveOmit<RigRecord, 'v' | 'id' | 'edge' | 'seq'>;

export interface EdgeIdentity {
  edgeId: string;
  privateKeyPem: string;
}

export interface PendingBatch {
  /** Canonical JSON of each record, in seq order. */
  records: string[];
  firstSeq: number;
  lastSeq: number;
  checkpoint: string;
}

export interface LogStats {
  size: number;
  acked: number;
  unsent: number;
  oldestUnsentAt: number | null;
  bufferedRows: number;
}

interface Pending {
  drafts: RecordDraft[];
  state: Record<string, string>;
  resolve: (r: { firstSeq: number; lastSeq: number }) => void;
  reject: (e: unknown) => void;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS records (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  json TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
  size INTEGER PRIMARY KEY,
  note TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS log_state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  size INTEGER NOT NULL,
  range TEXT NOT NULL,
  acked INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO log_state (id, size, range, acked) VALUES (1, 0, '{"size":0,"hashes":[]}', 0);
`;

/**
 * The edge's append-only record log, durable in SQLite (WAL, synchronous=FULL).
 *
 * `append()` resolves only after the records and the signed checkpoint that covers them are
 * committed in one transaction, so a record acknowledged to a device survives kill -9 and power
 * loss. Appends arriving within `commitIntervalMs` share a transaction (group commit). Readers use
 * a second connection and see committed data only.
 */
export class EdgeLog {
  private range: CompactRange;
  private size: number;
  private acked: number;
  private queue: Pending[] = [];
  private flushTimer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly listeners = new Set<() => void>();

  private constructor(
    private readonly writer: SqliteConnection,
    private readonly reader: SqliteConnection,
    private readonly identity: EdgeIdentity,
    private readonly commitIntervalMs: number,
    state: { size: number; range: string; acked: number },
  ) {
    this.range = CompactRange.fromState(JSON.parse(state.range) as { size: number; hashes: string[] });
    this.size = state.size;
    this.acked = state.acked;
  }

  static async open(dataDir: string, identity: EdgeIdentity, opts: { commitIntervalMs?: number } = {}) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const file = path.join(dataDir, 'buffer.sqlite');
    const writer = await SqliteConnection.open(file);
    await writer.exec('PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;');
    await writer.exec(SCHEMA);
    const reader = await SqliteConnection.open(file);
    await reader.exec('PRAGMA busy_timeout=5000; PRAGMA query_only=1;');
    const state = await writer.get<{ size: number; range: string; acked: number }>(
      'SELECT size, range, acked FROM log_state WHERE id = 1',
    );
    if (!state) throw new EdgeError('EDGE_BUFFER_CORRUPT', 'log_state row is missing');
    const max = await writer.get<{ m: number | null }>('SELECT MAX(seq) AS m FROM records');
    if ((max?.m ?? 0) > state.size || (JSON.parse(state.range) as { size: number }).size !== state.size) {
      throw new EdgeError('EDGE_BUFFER_CORRUPT', `records go past the log size ${state.size}`);
    }
    return new EdgeLog(writer, reader, identity, opts.commitIntervalMs ?? 50, state);
  }

  get edgeId(): string {
    return this.identity.edgeId;
  }

  /** Highest seq in the log. */
  get lastSeq(): number {
    return this.size;
  }

  /** Highest seq the cloud has acknowledged as committed. */
  get ackedSeq(): number {
    return this.acked;
  }

  /** Called (synchronously, no arguments) after each commit that added records. */
  onAppend(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /**
   * Appends records durably. `state` entries are written in the same transaction, so a
   * collector's bookkeeping (e.g. the last result block it turned into a record) moves together
   * with the records and a crash can neither lose nor repeat a record.
   */
  append(
    drafts: RecordDraft[],
    state: Record<string, string> = {},
  ): Promise<{ firstSeq: number; lastSeq: number }> {
    if (this.closed) return Promise.reject(new Error('edge log is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ drafts, state, resolve, reject });
      if (!this.flushTimer) {
        this.flushTimer = setTimeout(() => {
          this.flushTimer = null;
          this.flushing = this.flushing.then(() => this.flush());
        }, this.commitIntervalMs);
      }
    });
  }

  async getState(key: string): Promise<string | undefined> {
    const row = await this.writer.get<{ value: string }>('SELECT value FROM kv WHERE key = ?', [key]);
    return row?.value;
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      // Take whole appends up to one batch's worth, so every checkpoint can be sent as one batch.
      const take: Pending[] = [];
      let n = 0;
      while (this.queue.length > 0) {
        const next = this.queue[0]!;
        if (take.length > 0 && n + next.drafts.length > MAX_BATCH_RECORDS) break;
        take.push(this.queue.shift()!);
        n += next.drafts.length;
      }
      try {
        const r = await this.commit(take);
        let seq = r.firstSeq;
        for (const p of take) {
          p.resolve({ firstSeq: seq, lastSeq: seq + p.drafts.length - 1 });
          seq += p.drafts.length;
        }
        if (r.lastSeq >= r.firstSeq) for (const cb of this.listeners) cb();
      } catch (err) {
        for (const p of take) p.reject(err);
      }
    }
  }

  private async commit(take: Pending[]): Promise<{ firstSeq: number; lastSeq: number }> {
    const range = this.range.clone();
    const firstSeq = this.size + 1;
    let seq = this.size;
    const now = Date.now();
    const rows: (string | number)[] = [];
    const state: Record<string, string> = {};
    for (const p of take) {
      Object.assign(state, p.state);
      for (const d of p.drafts) {
        seq += 1;
        const record = { v: RECORD_FORMAT_VERSION, id: uuidv7(), edge: this.identity.edgeId, seq, ...d };
        const json = canonicalJson(record);
        range.append(leafHash(Buffer.from(json, 'utf8')));
        rows.push(seq, record.id, d.kind, json, now);
      }
    }
    const count = seq - this.size;
    await this.writer.exec('BEGIN IMMEDIATE');
    try {
      // SQLite allows 32766 bound parameters; 5 per row keeps 1000-row inserts well inside it.
      for (let i = 0; i < rows.length; i += 5 * 500) {
        const chunk = rows.slice(i, i + 5 * 500);
        const placeholders = Array.from({ length: chunk.length / 5 }, () => '(?,?,?,?,?)').join(',');
        await this.writer.run(
          `INSERT INTO records (seq, id, kind, json, created_at) VALUES ${placeholders}`,
          chunk,
        );
      }
      if (count > 0) {
        const note = signCheckpoint(
          { origin: this.identity.edgeId, size: seq, root: range.root(), extensions: [] },
          this.identity.edgeId,
          this.identity.privateKeyPem,
        );
        await this.writer.run('INSERT INTO checkpoints (size, note, created_at) VALUES (?, ?, ?)', [
          seq,
          note,
          now,
        ]);
        await this.writer.run('UPDATE log_state SET size = ?, range = ? WHERE id = 1', [
          seq,
          JSON.stringify(range.toState()),
        ]);
      }
      for (const [k, v] of Object.entries(state)) {
        await this.writer.run(
          'INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
          [k, v],
        );
      }
      await this.writer.exec('COMMIT');
    } catch (err) {
      await this.writer.exec('ROLLBACK').catch(() => undefined);
      throw err;
    }
    this.range = range;
    this.size = seq;
    return { firstSeq, lastSeq: seq };
  }

  /**
   * The next batch to send: the records after the acknowledged seq up to a checkpoint that
   * covers them exactly (the largest one within `maxRecords`, else the first one after `acked`).
   */
  async nextBatch(maxRecords: number): Promise<PendingBatch | null> {
    const acked = this.acked;
    const cp =
      (await this.reader.get<{ size: number; note: string }>(
        'SELECT size, note FROM checkpoints WHERE size > ? AND size <= ? ORDER BY size DESC LIMIT 1',
        [acked, acked + maxRecords],
      )) ??
      (await this.reader.get<{ size: number; note: string }>(
        'SELECT size, note FROM checkpoints WHERE size > ? ORDER BY size ASC LIMIT 1',
        [acked],
      ));
    if (!cp) return null;
    const rows = await this.reader.all<{ seq: number; json: string }>(
      'SELECT seq, json FROM records WHERE seq > ? AND seq <= ? ORDER BY seq',
      [acked, cp.size],
    );
    if (rows.length !== cp.size - acked || rows[0]?.seq !== acked + 1) {
      throw new EdgeError(
        'EDGE_BUFFER_CORRUPT',
        `records ${acked + 1}..${cp.size} are not all in the buffer`,
      );
    }
    return { records: rows.map((r) => r.json), firstSeq: acked + 1, lastSeq: cp.size, checkpoint: cp.note };
  }

  /**
   * Records that the cloud has committed everything up to `seq`, then prunes those rows.
   * Checkpoints older than the newest acknowledged one are pruned too.
   */
  async acknowledge(seq: number): Promise<void> {
    if (seq <= this.acked) return;
    if (seq > this.size)
      throw new EdgeError(
        'EDGE_BUFFER_CORRUPT',
        `cloud acknowledged seq ${seq} beyond log size ${this.size}`,
      );
    await this.writer.exec('BEGIN IMMEDIATE');
    try {
      await this.writer.run('UPDATE log_state SET acked = ? WHERE id = 1', [seq]);
      await this.writer.run('DELETE FROM records WHERE seq <= ?', [seq]);
      await this.writer.run(
        'DELETE FROM checkpoints WHERE size < (SELECT MAX(size) FROM checkpoints WHERE size <= ?)',
        [seq],
      );
      await this.writer.exec('COMMIT');
    } catch (err) {
      await this.writer.exec('ROLLBACK').catch(() => undefined);
      throw err;
    }
    this.acked = seq;
  }

  /** The newest signed checkpoint (the log's current head), if any. */
  async latestCheckpoint(): Promise<string | undefined> {
    const row = await this.reader.get<{ note: string }>(
      'SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1',
    );
    return row?.note;
  }

  async stats(): Promise<LogStats> {
    const row = await this.reader.get<{ n: number; oldest: number | null }>(
      'SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM records WHERE seq > ?',
      [this.acked],
    );
    const total = await this.reader.get<{ n: number }>('SELECT COUNT(*) AS n FROM records');
    return {
      size: this.size,
      acked: this.acked,
      unsent: row?.n ?? 0,
      oldestUnsentAt: row?.oldest ?? null,
      bufferedRows: total?.n ?? 0,
    };
  }

  /** Commits what is queued, then closes both connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
      this.flushing = this.flushing.then(() => this.flush());
    }
    await this.flushing;
    await this.reader.close();
    await this.writer.close();
  }
}
