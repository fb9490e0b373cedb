import { existsSync, mkdirSync, renameSync } from 'node:fs';
import path from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import {
  CompactRange,
  MAX_BATCH_RECORDS,
  RECORD_FORMAT_VERSION,
  buildRecord,
  invalidRecordEvent,
  leafHash,
  signCheckpoint,
  type CompactRangeState,
  type RigRecord,
  type SchemaIssue,
} from '@rigtrace/protocols';
import { EdgeError } from '../errors.js';
import { LogRange, textLeaf } from './log-range.js';
import {
  damagedRecordEvent,
  describeDamaged,
  findDamaged,
  type BufferedRow,
  type DamagedRecord,
  type Suspect,
} from './damaged-records.js';
import { SqliteConnection, type PreparedStatement } from './sqlite.js';

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
  /** UTF-8 bytes of the records held in the buffer (all of them are unacknowledged). */
  bufferedBytes: number;
  oldestUnsentAt: number | null;
  appendedTotal: number;
  ackedTotal: number;
}

/** What happened when the buffer file was found damaged at start. */
export interface BufferRecovery {
  corruptFile: string;
  reason: string;
  keptUpToSeq: number;
  lostRecords: number;
}

interface PreparedTx {
  take: Pending[];
  firstSeq: number;
  lastSeq: number;
  /** Parameters of each multi-row INSERT (see insertRecordsSql), ROWS_PER_INSERT rows at most. */
  chunks: (string | number | Buffer)[][];
  bytes: number;
  state: Record<string, string>;
  note: string | null;
  range: LogRange;
  rangeJson: string;
  now: number;
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
  bytes INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  leaf BLOB
);
CREATE TABLE IF NOT EXISTS damaged_records (
  seq INTEGER NOT NULL,
  id TEXT NOT NULL,
  kind TEXT NOT NULL,
  json TEXT NOT NULL,
  signed_leaf BLOB,
  reason TEXT NOT NULL,
  event_id TEXT NOT NULL,
  found_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
  size INTEGER PRIMARY KEY,
  note TEXT NOT NULL,
  range TEXT NOT NULL,
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

const BUFFER_FILE = 'buffer.sqlite';

/** Rows per multi-row INSERT (2,002 bound parameters, well inside SQLite's 32,766). */
const ROWS_PER_INSERT = 500;
/** Records prepared between two turns of the event loop while a transaction is being written (~0.2 ms). */
const PREPARE_SLICE = 16;
/** Transactions prepared ahead of the one being written (each holds up to a batch's worth of rows). */
const PREPARE_AHEAD = 2;
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Multi-row insert sizes other than ROWS_PER_INSERT vary with load: keep this many statements compiled. */
const MAX_STATEMENTS = 24;
const INSERT_CHECKPOINT = 'INSERT INTO checkpoints (size, note, range, created_at) VALUES (?, ?, ?, ?)';
const UPDATE_HEAD = 'UPDATE log_state SET size = ?, range = ? WHERE id = 1';
const UPSERT_STATE =
  'INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value';
/** The acknowledgement's statements (one acknowledgement per batch the cloud commits). */
const ACKED_BYTES = 'SELECT SUM(bytes) AS b FROM records WHERE seq <= ?';
const SET_ACKED = 'UPDATE log_state SET acked = ? WHERE id = 1';
const PRUNE_RECORDS = 'DELETE FROM records WHERE seq <= ?';
const PRUNE_CHECKPOINTS =
  'DELETE FROM checkpoints WHERE size < (SELECT MAX(size) FROM checkpoints WHERE size <= ?)';

const insertSqlCache = new Map<number, string>();
/** Values bound per record row: id, kind, JSON, leaf hash. */
const ROW_PARAMS = 4;

/**
 * The insert of n consecutive records, cached (the same sizes recur). Its parameters are the first
 * seq, the creation time, then id, kind, JSON and leaf hash of each record: seq, byte length and
 * time are derived in SQL, so each row binds 4 values instead of 7 (binding runs on the main
 * thread, and costs per value). The leaf hash is the one the checkpoints were signed over: before
 * a record is sent, its text is checked against it (see nextBatch).
 */
function insertRecordsSql(n: number): string {
  let sql = insertSqlCache.get(n);
  if (!sql) {
    const rows = Array.from({ length: n }, (_, k) => {
      const p = ROW_PARAMS * k + 3;
      const json = `?${p + 2}`;
      return `(?1+${k},?${p},?${p + 1},${json},length(CAST(${json} AS BLOB)),?2,?${p + 3})`;
    });
    sql = `INSERT INTO records (seq, id, kind, json, bytes, created_at, leaf) VALUES ${rows.join(',')}`;
    if (insertSqlCache.size > 64) insertSqlCache.clear();
    insertSqlCache.set(n, sql);
  }
  return sql;
}

class CorruptBuffer extends Error {}

function isCorruption(err: unknown): boolean {
  if (err instanceof CorruptBuffer) return true;
  const code = (err as { code?: string }).code;
  return code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB';
}

/**
 * The edge's append-only record log, durable in SQLite (WAL, synchronous=FULL).
 *
 * `append()` resolves only after the records and the signed checkpoint that covers them are
 * committed in one transaction, so a record acknowledged to a device survives kill -9 and power
 * loss. Appends that arrive while a commit is in flight share the next transaction (group commit;
 * `commitIntervalMs` adds a linger before each commit). Readers use
 * a second connection and see committed data only. Each checkpoint row keeps the compact range
 * at its size, so a damaged buffer can be cut back to its last intact checkpoint.
 */
export class EdgeLog {
  private range: LogRange;
  private size: number;
  private acked: number;
  private bytes: number;
  private appendedTotal = 0;
  private ackedTotal = 0;
  private queue: Pending[] = [];
  private flushTimer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly listeners = new Set<() => void>();
  /** Prepared statements of the writer connection, by SQL, least recently used first. */
  private readonly statements = new Map<string, PreparedStatement>();
  /** Serializes transactions on the writer connection (log writes and acknowledgements). */
  private writerTail: Promise<unknown> = Promise.resolve();
  /** Set when the buffer was damaged at start and cut back; see BufferRecovery. */
  recovery: BufferRecovery | null = null;
  /** Drafts the record format refused since start (each logged as a RECORD_INVALID event instead). */
  refusedDrafts = 0;
  /** Called for each draft the record format refused, with its problems (for the operator's log). */
  onRefused: ((draft: RecordDraft, issues: SchemaIssue[]) => void) | null = null;
  /** Asset tag of the RECORD_INVALID event when the draft's own is not valid. */
  fallbackEquipment = 'EDGE';

  private constructor(
    private readonly writer: SqliteConnection,
    private readonly reader: SqliteConnection,
    private readonly identity: EdgeIdentity,
    private readonly commitIntervalMs: number,
    state: { size: number; range: string; acked: number; bytes: number },
  ) {
    this.range = LogRange.fromState(JSON.parse(state.range) as CompactRangeState);
    this.size = state.size;
    this.acked = state.acked;
    this.bytes = state.bytes;
  }

  /**
   * Opens (or creates) the buffer in `dataDir`. A buffer that fails SQLite's integrity check or
   * its own continuity checks is moved aside, its intact records up to the last good checkpoint
   * are carried into a fresh buffer, and `recovery` says what was kept and what was lost.
   */
  static async open(dataDir: string, identity: EdgeIdentity, opts: { commitIntervalMs?: number } = {}) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const file = path.join(dataDir, BUFFER_FILE);
    try {
      return await EdgeLog.openChecked(file, identity, opts.commitIntervalMs ?? 0);
    } catch (err) {
      if (!isCorruption(err)) throw err;
      const recovery = await salvage(file, identity, (err as Error).message);
      const log = await EdgeLog.openChecked(file, identity, opts.commitIntervalMs ?? 0);
      log.recovery = recovery;
      return log;
    }
  }

  private static async openChecked(file: string, identity: EdgeIdentity, commitIntervalMs: number) {
    const writer = await SqliteConnection.open(file);
    try {
      await writer.exec('PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;');
      const check = await writer.all<{ quick_check: string }>('PRAGMA quick_check');
      if (check[0]?.quick_check !== 'ok')
        throw new CorruptBuffer(`integrity check: ${check[0]?.quick_check ?? '?'}`);
      await writer.exec(SCHEMA);
      // Buffers written before records kept their leaf hash: add the column (old rows stay NULL).
      const cols = await writer.all<{ name: string }>('PRAGMA table_info(records)');
      if (!cols.some((c) => c.name === 'leaf')) await writer.exec('ALTER TABLE records ADD COLUMN leaf BLOB');
      const state = await writer.get<{ size: number; range: string; acked: number }>(
        'SELECT size, range, acked FROM log_state WHERE id = 1',
      );
      if (!state) throw new CorruptBuffer('log_state row is missing');
      const rows = await writer.get<{
        n: number;
        lo: number | null;
        hi: number | null;
        bytes: number | null;
      }>('SELECT COUNT(*) AS n, MIN(seq) AS lo, MAX(seq) AS hi, SUM(bytes) AS bytes FROM records');
      const n = rows?.n ?? 0;
      const rangeSize = (JSON.parse(state.range) as CompactRangeState).size;
      if (rangeSize !== state.size)
        throw new CorruptBuffer(`log range size ${rangeSize} ≠ log size ${state.size}`);
      if (
        n > 0 &&
        (rows?.lo !== state.acked + 1 || rows.hi !== state.size || n !== state.size - state.acked)
      ) {
        throw new CorruptBuffer(
          `records ${rows?.lo}..${rows?.hi} (${n}) do not fill ${state.acked + 1}..${state.size}`,
        );
      }
      if (n === 0 && state.size !== state.acked)
        throw new CorruptBuffer(`records ${state.acked + 1}..${state.size} missing`);
      const reader = await SqliteConnection.open(file);
      await reader.exec('PRAGMA busy_timeout=5000; PRAGMA query_only=1;');
      return new EdgeLog(writer, reader, identity, commitIntervalMs, { ...state, bytes: rows?.bytes ?? 0 });
    } catch (err) {
      await writer.close().catch(() => undefined);
      throw err;
    }
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

  /** Bytes of records waiting in the buffer. */
  get bufferedBytes(): number {
    return this.bytes;
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

  /** Takes whole appends from the queue, up to one batch's worth (so every checkpoint fits one batch). */
  private take(): Pending[] {
    const take: Pending[] = [];
    let n = 0;
    while (this.queue.length > 0) {
      const next = this.queue[0]!;
      if (take.length > 0 && n + next.drafts.length > MAX_BATCH_RECORDS) break;
      take.push(this.queue.shift()!);
      n += next.drafts.length;
    }
    return take;
  }

  /**
   * Commits the queue, one transaction per batch's worth, in order. The CPU work for the next
   * transactions (canonical JSON, hashes, signature) is done while SQLite writes and syncs the
   * current one, up to PREPARE_AHEAD transactions ahead: the current one's statements are handed
   * to SQLite first, and the work yields to the event loop every few records so each statement
   * and the COMMIT go out as soon as the one before is done. Appends are answered only after
   * their transaction has committed.
   */
  private async flush(): Promise<void> {
    let writing: { tx: PreparedTx; done: Promise<void>; finished: boolean } | null = null;
    const ready: PreparedTx[] = [];
    for (;;) {
      if (writing && (writing.finished || this.queue.length === 0 || ready.length >= PREPARE_AHEAD)) {
        try {
          await writing.done;
          this.settle(writing.tx);
        } catch (err) {
          for (const p of writing.tx.take) p.reject(err);
          // What was prepared on top of the failed transaction is void: give its seqs back.
          for (const tx of ready.splice(0)) for (const p of tx.take) p.reject(err);
          this.prepared = { size: this.size, range: this.range.clone() };
        }
        writing = null;
      }
      if (!writing && ready.length > 0) {
        const tx = ready.shift()!;
        const w = { tx, done: this.write(tx), finished: false };
        const finish = () => {
          w.finished = true;
        };
        w.done.then(finish, finish);
        writing = w;
      }
      if (this.queue.length > 0 && ready.length < PREPARE_AHEAD) {
        const take = this.take();
        try {
          ready.push(await this.prepare(take, writing !== null));
        } catch (err) {
          // A record that cannot be canonicalized fails its transaction's appends, not the log.
          for (const p of take) p.reject(err);
        }
      } else if (!writing) return;
    }
  }

  /** Head of the log including transactions prepared but not yet committed. */
  private prepared: { size: number; range: LogRange } | null = null;

  /**
   * Builds the next transaction: seq, id, canonical JSON, leaf hash and row of each record, and
   * the signed checkpoint of the new head. With a write in flight (`yielding`), it lets the event
   * loop run before every PREPARE_SLICE records, so SQLite's callbacks (and the COMMIT that
   * follows them) are not held up behind this work.
   */
  private async prepare(take: Pending[], yielding: boolean): Promise<PreparedTx> {
    const head = this.prepared ?? { size: this.size, range: this.range.clone() };
    const range = head.range.clone();
    const firstSeq = head.size + 1;
    const edge = this.identity.edgeId;
    let seq = head.size;
    let bytes = 0;
    const now = Date.now();
    const chunks: (string | number | Buffer)[][] = [];
    let rows: (string | number | Buffer)[] = [];
    const state: Record<string, string> = {};
    let sinceYield = PREPARE_SLICE;
    for (const p of take) {
      Object.assign(state, p.state);
      for (const d of p.drafts) {
        if (yielding && sinceYield-- === 0) {
          sinceYield = PREPARE_SLICE - 1;
          await yieldToEventLoop();
        }
        seq += 1;
        // Keys in canonical order, so the builder can serialize without copying.
        const id = uuidv7();
        const record = {
          body: d.body,
          edge,
          equipment: d.equipment,
          id,
          kind: d.kind,
          observedAt: d.observedAt,
          receivedAt: d.receivedAt,
          seq,
          source: d.source,
          v: RECORD_FORMAT_VERSION,
        };
        let kind: string = d.kind;
        let built = buildRecord(record);
        if (!built.ok) {
          // Never sign what the cloud would refuse (it would block every later record): the
          // draft's place in the log goes to an event naming each field, value and rule.
          const issues = built.issues;
          built = buildRecord(
            invalidRecordEvent(
              record,
              issues,
              { v: RECORD_FORMAT_VERSION, id, edge, seq },
              this.fallbackEquipment,
            ),
          );
          if (!built.ok)
            throw new Error(`the record builder refused its own event: ${JSON.stringify(built.issues)}`);
          kind = 'event';
          this.refusedDrafts += 1;
          this.onRefused?.(d, issues);
        }
        const json = built.text;
        const size = range.appendText(json);
        bytes += size;
        if (rows.length === 2 + ROWS_PER_INSERT * ROW_PARAMS) {
          chunks.push(rows);
          rows = [];
        }
        if (rows.length === 0) rows.push(seq, now);
        rows.push(id, kind, json, Buffer.from(range.lastLeaf, 'latin1'));
      }
    }
    if (rows.length > 0) chunks.push(rows);
    const note =
      seq > head.size
        ? signCheckpoint(
            { origin: edge, size: seq, root: range.root(), extensions: [] },
            edge,
            this.identity.privateKeyPem,
          )
        : null;
    this.prepared = { size: seq, range };
    return {
      take,
      firstSeq,
      lastSeq: seq,
      chunks,
      bytes,
      state,
      note,
      range,
      rangeJson: JSON.stringify(range.toState()),
      now,
    };
  }

  /** Runs `fn` when no other transaction is open on the writer connection. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.writerTail.then(fn);
    this.writerTail = run.catch(() => undefined);
    return run;
  }

  private write(tx: PreparedTx): Promise<void> {
    return this.exclusive(() => this.writeNow(tx));
  }

  /**
   * One transaction: BEGIN, the multi-row inserts, the checkpoint and log head, the collectors'
   * state, COMMIT. Statements are prepared once and reused. Each one starts only after the one
   * before it succeeded: after an error that makes SQLite roll the transaction back (disk full,
   * I/O error), nothing further may run, or it would commit on its own.
   */
  private async writeNow(tx: PreparedTx): Promise<void> {
    await this.writer.exec('BEGIN IMMEDIATE');
    try {
      for (const chunk of tx.chunks)
        await (await this.statement(insertRecordsSql((chunk.length - 2) / ROW_PARAMS))).run(chunk);
      if (tx.note) {
        await (await this.statement(INSERT_CHECKPOINT)).run([tx.lastSeq, tx.note, tx.rangeJson, tx.now]);
        await (await this.statement(UPDATE_HEAD)).run([tx.lastSeq, tx.rangeJson]);
      }
      for (const [k, v] of Object.entries(tx.state)) await (await this.statement(UPSERT_STATE)).run([k, v]);
      await this.writer.exec('COMMIT');
    } catch (err) {
      await this.writer.exec('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  /** The writer's prepared statement for `sql`, compiled on first use (least recently used ones are let go). */
  private async statement(sql: string): Promise<PreparedStatement> {
    let stmt = this.statements.get(sql);
    if (stmt) {
      this.statements.delete(sql);
      this.statements.set(sql, stmt);
      return stmt;
    }
    stmt = await this.writer.prepare(sql);
    this.statements.set(sql, stmt);
    if (this.statements.size > MAX_STATEMENTS) {
      const [oldest, old] = this.statements.entries().next().value!;
      this.statements.delete(oldest);
      await old.finalize();
    }
    return stmt;
  }

  /** A transaction is committed: advance the log and answer its appends. */
  private settle(tx: PreparedTx): void {
    this.range = tx.range;
    this.size = tx.lastSeq;
    this.bytes += tx.bytes;
    this.appendedTotal += tx.lastSeq - tx.firstSeq + 1;
    if (this.prepared && this.prepared.size === this.size) this.prepared = null;
    let seq = tx.firstSeq;
    for (const p of tx.take) {
      p.resolve({ firstSeq: seq, lastSeq: seq + p.drafts.length - 1 });
      seq += p.drafts.length;
    }
    if (tx.lastSeq >= tx.firstSeq) for (const cb of this.listeners) cb();
  }

  /**
   * The next batch to send: the records after the acknowledged seq (or after `after`, a seq the
   * cloud has acknowledged whose acknowledgement is still being written here; it must end at a
   * checkpoint, as every batch does) up to a checkpoint that covers them exactly (the largest one
   * within `maxRecords`, else the first one after them).
   *
   * Each record's text is checked first against the leaf hash recorded when it was signed, and the
   * texts against the signed checkpoints' roots. A record found damaged is set aside (see
   * setAside) and the batch is read again, so one damaged row never blocks the log.
   */
  async nextBatch(maxRecords: number, after = this.acked): Promise<PendingBatch | null> {
    let lastDamagedSeq = 0;
    for (;;) {
      const acked = Math.max(after, this.acked);
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
      const rows = await this.reader.all<BufferedRow>(
        'SELECT seq, id, kind, json, leaf FROM records WHERE seq > ? AND seq <= ? ORDER BY seq',
        [acked, cp.size],
      );
      if (rows.length !== cp.size - acked || rows[0]?.seq !== acked + 1) {
        throw new EdgeError(
          'EDGE_BUFFER_CORRUPT',
          `records ${acked + 1}..${cp.size} are not all in the buffer`,
        );
      }
      const found = await this.check(rows, acked, cp.size);
      if (found.length === 0) {
        return {
          records: rows.map((r) => r.json),
          firstSeq: acked + 1,
          lastSeq: cp.size,
          checkpoint: cp.note,
        };
      }
      // Each pass must get further, or the repair itself is not holding: stop rather than spin.
      if (found[0]!.seq <= lastDamagedSeq)
        throw new EdgeError(
          'EDGE_BUFFER_CORRUPT',
          `record ${found[0]!.seq} is still damaged after it was set aside`,
        );
      lastDamagedSeq = found[found.length - 1]!.seq;
      await this.setAside(found);
    }
  }

  /**
   * Re-hashes every unsent record against the leaf hash recorded when it was signed and the signed
   * checkpoints, a checkpoint interval at a time (about `window` records per read), and sets aside
   * each damaged one as nextBatch would (named through onDamaged, its text kept in damaged_records,
   * an EDGE_RECORD_DAMAGED event in its place). Run at start, so damage is found and reported before
   * the cloud is reachable, not only when its batch is about to be sent.
   */
  async verifyUnsent(window = 5000): Promise<DamagedRecord[]> {
    const out: DamagedRecord[] = [];
    let from = this.acked;
    let lastDamagedSeq = 0;
    for (;;) {
      const cp =
        (await this.reader.get<{ size: number }>(
          'SELECT size FROM checkpoints WHERE size > ? AND size <= ? ORDER BY size DESC LIMIT 1',
          [from, from + window],
        )) ??
        (await this.reader.get<{ size: number }>(
          'SELECT size FROM checkpoints WHERE size > ? ORDER BY size ASC LIMIT 1',
          [from],
        ));
      if (!cp) return out;
      const rows = await this.reader.all<BufferedRow>(
        'SELECT seq, id, kind, json, leaf FROM records WHERE seq > ? AND seq <= ? ORDER BY seq',
        [from, cp.size],
      );
      if (rows.length !== cp.size - from || rows[0]?.seq !== from + 1)
        throw new EdgeError(
          'EDGE_BUFFER_CORRUPT',
          `records ${from + 1}..${cp.size} are not all in the buffer`,
        );
      const found = await this.check(rows, from, cp.size);
      if (found.length === 0) {
        from = cp.size;
        continue;
      }
      if (found[0]!.seq <= lastDamagedSeq)
        throw new EdgeError(
          'EDGE_BUFFER_CORRUPT',
          `record ${found[0]!.seq} is still damaged after it was set aside`,
        );
      lastDamagedSeq = found[found.length - 1]!.seq;
      out.push(...(await this.setAside(found)));
    }
  }

  /**
   * The cloud answers that it already holds every record up to `seq`: a batch it committed whose
   * acknowledgement never arrived. Records in (acked, seq] that this edge set aside as damaged
   * meanwhile are, in the cloud, the originals: the log goes back to the leaf hashes they were
   * signed with (kept in damaged_records), the later checkpoints are signed again over them, and
   * everything up to `seq` is acknowledged, in one transaction, so the records after `seq` continue
   * the cloud's log instead of forking it. Returns how many set-aside records the cloud held.
   */
  resumeAfter(seq: number, opts: { onlyIfSetAside?: boolean } = {}): Promise<number> {
    if (seq > this.size)
      return Promise.reject(
        new EdgeError('EDGE_BUFFER_CORRUPT', `cloud holds seq ${seq}, beyond log size ${this.size}`),
      );
    const run = this.flushing.then(() =>
      this.exclusive(() => this.resumeAfterNow(seq, opts.onlyIfSetAside ?? false)),
    );
    this.flushing = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async resumeAfterNow(seq: number, onlyIfSetAside: boolean): Promise<number> {
    if (seq <= this.acked) return 0;
    const aside = await this.writer.all<{ seq: number; signed_leaf: Buffer | null }>(
      `SELECT d.seq, d.signed_leaf FROM damaged_records d
        WHERE d.seq > ? AND d.seq <= ? AND d.rowid = (SELECT MIN(rowid) FROM damaged_records e WHERE e.seq = d.seq)
        ORDER BY d.seq`,
      [this.acked, seq],
    );
    if (aside.length === 0) {
      if (!onlyIfSetAside) await this.acknowledgeNow(seq);
      return 0;
    }
    const unknown = aside.find((a) => a.signed_leaf === null);
    if (unknown)
      throw new EdgeError(
        'EDGE_BUFFER_CORRUPT',
        `the cloud holds record ${unknown.seq}, set aside here as damaged, and this edge no longer has the leaf hash it was signed with`,
      );
    const first = aside[0]!.seq;
    const baseRow = await this.writer.get<{ size: number; range: string }>(
      'SELECT size, range FROM checkpoints WHERE size < ? ORDER BY size DESC LIMIT 1',
      [first],
    );
    if (!baseRow && this.acked > 0)
      throw new EdgeError('EDGE_BUFFER_CORRUPT', `no checkpoint before the set-aside record ${first}`);
    const range = baseRow
      ? LogRange.fromState(JSON.parse(baseRow.range) as CompactRangeState)
      : LogRange.fromState({ size: 0, hashes: [] });
    const original = new Map(aside.map((a) => [a.seq, a.signed_leaf!.toString('latin1')]));
    const notes = await this.resignFrom(range, (seq) => original.get(seq));
    let freed = 0;
    await this.writer.exec('BEGIN IMMEDIATE');
    try {
      for (const [note, rangeJson, size] of notes)
        await this.writer.run('UPDATE checkpoints SET note = ?, range = ? WHERE size = ?', [
          note,
          rangeJson,
          size,
        ]);
      const r = await this.writer.get<{ b: number | null }>(
        'SELECT SUM(bytes) AS b FROM records WHERE seq <= ?',
        [seq],
      );
      freed = r?.b ?? 0;
      await this.writer.run('UPDATE log_state SET range = ?, acked = ? WHERE id = 1', [
        JSON.stringify(range.toState()),
        seq,
      ]);
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
    this.range = range;
    this.prepared = null;
    this.ackedTotal += seq - this.acked;
    this.acked = seq;
    this.bytes -= freed;
    return aside.length;
  }

  /** The rows of a batch that do not match what was signed (fixing a damaged leaf column on the way). */
  /**
   * Rebuilds the log from `range` (the state at a checkpoint) to the head with each record's
   * leaf, or the one `leafOf` gives for it, and signs every later checkpoint again. `range` ends
   * at the head; the checkpoints' new notes and range states are returned, not yet written.
   */
  private async resignFrom(
    range: LogRange,
    leafOf: (seq: number) => string | undefined,
  ): Promise<[string, string, number][]> {
    const leaves = await this.writer.all<{ seq: number; leaf: Buffer | null; json: string | null }>(
      'SELECT seq, leaf, CASE WHEN leaf IS NULL THEN json END AS json FROM records WHERE seq > ? ORDER BY seq',
      [range.size],
    );
    if (leaves.length !== this.size - range.size || leaves[0]?.seq !== range.size + 1)
      throw new EdgeError(
        'EDGE_BUFFER_CORRUPT',
        `records ${range.size + 1}..${this.size} are not all in the buffer`,
      );
    const sizes = await this.writer.all<{ size: number }>(
      'SELECT size FROM checkpoints WHERE size > ? ORDER BY size',
      [range.size],
    );
    const edge = this.identity.edgeId;
    const notes: [string, string, number][] = [];
    let c = 0;
    for (const r of leaves) {
      range.appendHash(leafOf(r.seq) ?? (r.leaf ? r.leaf.toString('latin1') : textLeaf(r.json ?? '')));
      if (sizes[c]?.size === r.seq) {
        c += 1;
        const note = signCheckpoint(
          { origin: edge, size: r.seq, root: range.root(), extensions: [] },
          edge,
          this.identity.privateKeyPem,
        );
        notes.push([note, JSON.stringify(range.toState()), r.seq]);
        if (notes.length % 256 === 0) await yieldToEventLoop();
      }
    }
    return notes;
  }

  private async check(rows: BufferedRow[], acked: number, size: number): Promise<Suspect[]> {
    let base: LogRange | null = null;
    if (acked === 0) base = LogRange.fromState({ size: 0, hashes: [] });
    else {
      const row = await this.reader.get<{ range: string }>('SELECT range FROM checkpoints WHERE size = ?', [
        acked,
      ]);
      if (row) base = LogRange.fromState(JSON.parse(row.range) as CompactRangeState);
    }
    const checkpoints = await this.reader.all<{ size: number; note: string }>(
      'SELECT size, note FROM checkpoints WHERE size > ? AND size <= ? ORDER BY size',
      [acked, size],
    );
    const { damaged, wrongLeaf } = findDamaged(rows, base, checkpoints);
    if (wrongLeaf.length > 0) {
      const bySeq = new Map(rows.map((r) => [r.seq, r]));
      await this.exclusive(async () => {
        for (const seq of wrongLeaf)
          await this.writer.run('UPDATE records SET leaf = ? WHERE seq = ?', [
            Buffer.from(textLeaf(bySeq.get(seq)!.json), 'latin1'),
            seq,
          ]);
      });
    }
    return damaged;
  }

  /** Called for each record set aside as damaged (for the operator's log). */
  onDamaged: ((d: DamagedRecord) => void) | null = null;

  /**
   * Sets damaged records aside: each one's text moves to the damaged_records table and an
   * EDGE_RECORD_DAMAGED event naming it takes its seq; the checkpoints from there to the head are
   * signed again over the new leaves (the cloud has seen none of them: all are after the
   * acknowledged seq). Runs between commits, never beside one.
   */
  private setAside(found: Suspect[]): Promise<DamagedRecord[]> {
    const run = this.flushing.then(() => this.exclusive(() => this.setAsideNow(found)));
    this.flushing = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async setAsideNow(found: Suspect[]): Promise<DamagedRecord[]> {
    const first = found[0]!.seq;
    if (first <= this.acked)
      throw new EdgeError('EDGE_BUFFER_CORRUPT', `record ${first} is already acknowledged`);
    const baseRow = await this.writer.get<{ size: number; range: string }>(
      'SELECT size, range FROM checkpoints WHERE size < ? ORDER BY size DESC LIMIT 1',
      [first],
    );
    if (!baseRow && this.acked > 0)
      throw new EdgeError('EDGE_BUFFER_CORRUPT', `no checkpoint before the damaged record ${first}`);
    const range = baseRow
      ? LogRange.fromState(JSON.parse(baseRow.range) as CompactRangeState)
      : LogRange.fromState({ size: 0, hashes: [] });
    const reasons = new Map(found.map((f) => [f.seq, f.reason]));
    const seqs = [...reasons.keys()];
    const damagedRows = await this.writer.all<BufferedRow & { bytes: number }>(
      `SELECT seq, id, kind, json, leaf, bytes FROM records WHERE seq IN (${seqs.map(() => '?').join(',')}) ORDER BY seq`,
      seqs,
    );
    const replaced = new Map<number, { id: string; json: string; leaf: string; bytes: number }>();
    const infos: DamagedRecord[] = [];
    const now = Date.now();
    for (const row of damagedRows) {
      const { event, info } = damagedRecordEvent(
        row,
        reasons.get(row.seq)!,
        { id: uuidv7(), edge: this.identity.edgeId },
        this.fallbackEquipment,
        new Date(now),
      );
      const built = buildRecord(event);
      if (!built.ok)
        throw new Error(`the record builder refused its own event: ${JSON.stringify(built.issues)}`);
      replaced.set(row.seq, {
        id: info.eventId,
        json: built.text,
        leaf: textLeaf(built.text),
        bytes: Buffer.byteLength(built.text, 'utf8'),
      });
      infos.push(info);
    }
    // Leaves from the base checkpoint to the head: as signed, except the replaced ones.
    const notes = await this.resignFrom(range, (seq) => replaced.get(seq)?.leaf);
    let freed = 0;
    await this.writer.exec('BEGIN IMMEDIATE');
    try {
      for (const row of damagedRows) {
        const rep = replaced.get(row.seq)!;
        await this.writer.run(
          'INSERT INTO damaged_records (seq, id, kind, json, signed_leaf, reason, event_id, found_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
          [row.seq, row.id, row.kind, row.json, row.leaf, reasons.get(row.seq)!, rep.id, now],
        );
        await this.writer.run(
          "UPDATE records SET id = ?, kind = 'event', json = ?, bytes = ?, leaf = ? WHERE seq = ?",
          [rep.id, rep.json, rep.bytes, Buffer.from(rep.leaf, 'latin1'), row.seq],
        );
        freed += row.bytes - rep.bytes;
      }
      for (const [note, rangeJson, size] of notes)
        await this.writer.run('UPDATE checkpoints SET note = ?, range = ? WHERE size = ?', [
          note,
          rangeJson,
          size,
        ]);
      await this.writer.run('UPDATE log_state SET range = ? WHERE id = 1', [JSON.stringify(range.toState())]);
      await this.writer.exec('COMMIT');
    } catch (err) {
      await this.writer.exec('ROLLBACK').catch(() => undefined);
      throw err;
    }
    this.range = range;
    this.prepared = null;
    this.bytes -= freed;
    for (const info of infos) this.onDamaged?.(info);
    return infos;
  }

  /** Records set aside as damaged over the buffer's life: how many, and the latest. */
  async damaged(): Promise<{ total: number; last: DamagedRecord | null }> {
    const n = await this.reader.get<{ n: number }>('SELECT COUNT(*) AS n FROM damaged_records');
    const row = await this.reader.get<{
      seq: number;
      id: string;
      kind: string;
      json: string;
      reason: string;
      event_id: string;
      found_at: number;
    }>(
      'SELECT seq, id, kind, json, reason, event_id, found_at FROM damaged_records ORDER BY rowid DESC LIMIT 1',
    );
    if (!row) return { total: n?.n ?? 0, last: null };
    return {
      total: n?.n ?? 0,
      last: {
        seq: row.seq,
        id: row.id,
        kind: row.kind,
        ...describeDamaged(row.json),
        reason: row.reason,
        eventId: row.event_id,
        foundAt: new Date(row.found_at).toISOString(),
      },
    };
  }

  /**
   * Records that the cloud has committed everything up to `seq`, then prunes those rows.
   * Checkpoints older than the newest acknowledged one are pruned too.
   */
  async acknowledge(seq: number): Promise<void> {
    if (seq <= this.acked) return;
    if (seq > this.size) {
      throw new EdgeError(
        'EDGE_BUFFER_CORRUPT',
        `cloud acknowledged seq ${seq} beyond log size ${this.size}`,
      );
    }
    await this.exclusive(() => this.acknowledgeNow(seq));
  }

  private async acknowledgeNow(seq: number): Promise<void> {
    if (seq <= this.acked) return;
    let freed = 0;
    await this.writer.exec('BEGIN IMMEDIATE');
    try {
      // Prepared once and reused, as the appends' statements are: not compiled again per batch.
      const [r] = await (await this.statement(ACKED_BYTES)).all<{ b: number | null }>([seq]);
      freed = r?.b ?? 0;
      await (await this.statement(SET_ACKED)).run([seq]);
      await (await this.statement(PRUNE_RECORDS)).run([seq]);
      await (await this.statement(PRUNE_CHECKPOINTS)).run([seq]);
      await this.writer.exec('COMMIT');
    } catch (err) {
      await this.writer.exec('ROLLBACK').catch(() => undefined);
      throw err;
    }
    this.ackedTotal += seq - this.acked;
    this.acked = seq;
    this.bytes -= freed;
  }

  /** The newest signed checkpoint (the log's current head), if any. */
  async latestCheckpoint(): Promise<string | undefined> {
    const row = await this.reader.get<{ note: string }>(
      'SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1',
    );
    return row?.note;
  }

  async stats(): Promise<LogStats> {
    const oldest = await this.reader.get<{ t: number | null }>('SELECT MIN(created_at) AS t FROM records');
    return {
      size: this.size,
      acked: this.acked,
      unsent: this.size - this.acked,
      bufferedBytes: this.bytes,
      oldestUnsentAt: oldest?.t ?? null,
      appendedTotal: this.appendedTotal,
      ackedTotal: this.ackedTotal,
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
    await this.writerTail;
    for (const stmt of this.statements.values()) await stmt.finalize();
    this.statements.clear();
    await this.reader.close();
    await this.writer.close();
  }
}

/**
 * Reads rows in key order until the first one that cannot be read (a damaged page), keeping
 * everything before it. A chunk that fails is retried in halves, down to single rows.
 */
async function readWhileIntact<T>(
  db: SqliteConnection,
  sql: string /* with two parameters: after-key and limit */,
  key: (row: T) => number,
): Promise<T[]> {
  const out: T[] = [];
  let after = -1;
  let limit = 512;
  for (;;) {
    let rows: T[];
    try {
      rows = await db.all<T>(sql, [after, limit]);
    } catch {
      if (limit === 1) return out;
      limit = Math.max(1, Math.floor(limit / 2));
      continue;
    }
    if (rows.length === 0) return out;
    out.push(...rows);
    after = key(rows[rows.length - 1]!);
  }
}

/**
 * Moves a damaged buffer aside and writes a fresh one with what can be trusted: the records
 * after the acknowledged seq that still read back, up to the newest intact checkpoint they
 * reach (re-signed if needed), plus the collectors' state.
 */
async function salvage(file: string, identity: EdgeIdentity, reason: string): Promise<BufferRecovery> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const corruptFile = file.replace(/\.sqlite$/, `.corrupt-${stamp}.sqlite`);
  renameSync(file, corruptFile);
  for (const ext of ['-wal', '-shm']) if (existsSync(file + ext)) renameSync(file + ext, corruptFile + ext);

  const old = await SqliteConnection.open(corruptFile);
  let acked = 0;
  let kv: { key: string; value: string }[] = [];
  let claimedSize = 0;
  try {
    const st = await old.get<{ acked: number; size: number }>(
      'SELECT acked, size FROM log_state WHERE id = 1',
    );
    acked = st?.acked ?? 0;
    claimedSize = st?.size ?? 0;
  } catch {
    /* unreadable: fall back to what the checkpoints say */
  }
  try {
    kv = await old.all('SELECT key, value FROM kv');
  } catch {
    /* collectors start from scratch */
  }
  const checkpoints = await readWhileIntact<{ size: number; note: string; range: string }>(
    old,
    'SELECT size, note, range FROM checkpoints WHERE size > ? ORDER BY size LIMIT ?',
    (r) => r.size,
  );
  const records = await readWhileIntact<{
    seq: number;
    id: string;
    kind: string;
    json: string;
    bytes: number;
    created_at: number;
  }>(
    old,
    'SELECT seq, id, kind, json, bytes, created_at FROM records WHERE seq > ? ORDER BY seq LIMIT ?',
    (r) => r.seq,
  );
  await old.close();

  // Base: the newest readable checkpoint whose range we have, at or below the contiguous record run.
  let contiguousTo = acked;
  for (const r of records) {
    if (r.seq === contiguousTo + 1) contiguousTo = r.seq;
    else if (r.seq > contiguousTo + 1) break;
  }
  const usable = checkpoints.filter((c) => c.size <= contiguousTo && c.size >= Math.min(acked, contiguousTo));
  const base = usable.at(-1) ?? checkpoints.filter((c) => c.size <= contiguousTo).at(-1);
  if (!base && contiguousTo > 0) {
    throw new EdgeError(
      'EDGE_BUFFER_CORRUPT',
      `the buffer ${file} is damaged (${reason}) and no intact checkpoint remains; moved to ${corruptFile}. Re-enroll this edge.`,
    );
  }
  const range = base
    ? CompactRange.fromState(JSON.parse(base.range) as CompactRangeState)
    : CompactRange.empty();
  const kept = records.filter((r) => r.seq > acked && r.seq <= contiguousTo);
  // Records between the base checkpoint and the end of the intact run are carried over and re-covered
  // (their leaf hash is kept with them; those under the base checkpoint are checked against its root).
  const baseSize = range.size;
  for (const r of kept) if (r.seq > range.size) range.append(leafHash(Buffer.from(r.json, 'utf8')));
  const size = range.size;
  const newAcked = Math.min(acked, size);

  const fresh = await SqliteConnection.open(file);
  try {
    await fresh.exec('PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;');
    await fresh.exec(SCHEMA);
    await fresh.exec('BEGIN IMMEDIATE');
    for (const r of kept.filter((k) => k.seq <= size)) {
      await fresh.run(
        'INSERT INTO records (seq, id, kind, json, bytes, created_at, leaf) VALUES (?, ?, ?, ?, ?, ?, ?)',
        [
          r.seq,
          r.id,
          r.kind,
          r.json,
          r.bytes,
          r.created_at,
          r.seq > baseSize ? Buffer.from(textLeaf(r.json), 'latin1') : null,
        ],
      );
    }
    const rangeJson = JSON.stringify(range.toState());
    if (size > 0) {
      const note =
        base && base.size === size
          ? base.note
          : signCheckpoint(
              { origin: identity.edgeId, size, root: range.root(), extensions: [] },
              identity.edgeId,
              identity.privateKeyPem,
            );
      await fresh.run('INSERT INTO checkpoints (size, note, range, created_at) VALUES (?, ?, ?, ?)', [
        size,
        note,
        rangeJson,
        Date.now(),
      ]);
    }
    await fresh.run('UPDATE log_state SET size = ?, range = ?, acked = ? WHERE id = 1', [
      size,
      rangeJson,
      newAcked,
    ]);
    for (const { key, value } of kv)
      await fresh.run('INSERT INTO kv (key, value) VALUES (?, ?)', [key, value]);
    await fresh.exec('COMMIT');
  } finally {
    await fresh.close();
  }
  return { corruptFile, reason, keptUpToSeq: size, lostRecords: Math.max(0, claimedSize - size) };
}
