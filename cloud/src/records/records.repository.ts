import type { Db, SqlParam } from '../platform/db/db.js';
import { settled } from '../platform/settled.js';
import { visibleSql, type Viewer } from '../access/index.js';

/** Rows per multi-row INSERT into records. */
const INSERT_CHUNK = 1000;
const INSERT_RECORDS =
  'INSERT INTO records (tenant_id, edge_id, seq, id, kind, equipment, observed_at, json, leaf_hash, ingested_at, replayed) VALUES ';
const ROW = '(?,?,?,?,?,?,?,?,?,?,?)';
/**
 * PostgreSQL: a batch as one row per array element (insertRecords), into records (partitioned by
 * month) and record_log (the signed log's leaves, unique per edge and seq) in one statement.
 */
const RECORDS_WITH = `WITH u AS (
  SELECT * FROM unnest(?::bigint[], ?::text[], ?::text[], ?::text[], ?::text[], string_to_array(?::text, chr(30)), ?::bytea[], ?::boolean[])
    AS u (seq, id, kind, equipment, observed_at, json, leaf_hash, replayed)
), leaves AS (
  INSERT INTO record_log (tenant_id, edge_id, seq, observed_at, leaf_hash)
  SELECT ?, ?, u.seq, u.observed_at, u.leaf_hash FROM u
)`;
const RECORDS_INSERT = `INSERT INTO records (tenant_id, edge_id, seq, id, kind, equipment, observed_at, json, leaf_hash, ingested_at, replayed)
SELECT ?, ?, u.seq, u.id, u.kind, u.equipment, u.observed_at, u.json, u.leaf_hash, ?::timestamptz, u.replayed FROM u`;
const INSERT_RECORDS_UNNEST = `${RECORDS_WITH}\n${RECORDS_INSERT}`;
/**
 * The separator of the records' JSON in one text parameter: U+001E (record separator), a
 * control character JSON text never holds raw (inside a string it is escaped as \u001e). One
 * joined string costs nothing to bind, where a text[] parameter has pg escape every quote of
 * every record into an array literal.
 */
const JSON_SEPARATOR = '\u001e';
/** `(?,…),(?,…)…` for n rows, kept per n (the same few sizes recur). */
const rowsCache = new Map<number, string>();
function rowsOf(n: number): string {
  let sql = rowsCache.get(n);
  if (sql === undefined) {
    sql = Array<string>(n).fill(ROW).join(',');
    if (rowsCache.size < 64) rowsCache.set(n, sql);
  }
  return sql;
}

/** The rows' JSON as one string, JSON_SEPARATOR between them. */
function joinJson(rows: readonly NewRecordRow[]): string {
  for (const r of rows)
    if (r.json.includes(JSON_SEPARATOR)) throw new Error(`record ${r.seq}: its JSON holds a raw U+001E`);
  return rows.map((r) => r.json).join(JSON_SEPARATOR);
}

/** A view of a hash's bytes, not a copy. */
const hashBytes = (h: Uint8Array) => Buffer.from(h.buffer, h.byteOffset, h.byteLength);

/** The rows as the arrays `u` of RECORDS_WITH unnests (its first 8 parameters). */
function unnestArrays(rows: readonly NewRecordRow[]): SqlParam[] {
  return [
    rows.map((r) => r.seq),
    rows.map((r) => r.id),
    rows.map((r) => r.kind),
    rows.map((r) => r.equipment),
    rows.map((r) => r.observedAt),
    joinJson(rows),
    rows.map((r) => hashBytes(r.leafHash)),
    rows.map((r) => r.replayed),
  ];
}

const INSERT_CHECKPOINT =
  'INSERT INTO checkpoints (tenant_id, edge_id, size, root, note, cosigned_note, accepted_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING';

function checkpointParams(
  tenantId: string,
  edgeId: string,
  cp: { size: number; root: Uint8Array; note: string; cosignedNote: string },
  now: string,
): SqlParam[] {
  return [tenantId, edgeId, cp.size, Buffer.from(cp.root), cp.note, cp.cosignedNote, now];
}

const updateEdgeLog = (backlog: boolean) =>
  `UPDATE edges SET log_size = ?, log_root = ?, log_range = ?, last_checkpoint = ?, last_contact_at = ?${backlog ? ', backlog = ?, backlog_at = ?' : ''} WHERE tenant_id = ? AND id = ?`;
/** The edge log UPDATE without and with the backlog. */
const UPDATE_EDGE_LOG = [updateEdgeLog(false), updateEdgeLog(true)] as const;

/**
 * PostgreSQL, storeBatch: INSERT_RECORDS_UNNEST with the checkpoint INSERT and the edge log
 * UPDATE (without, with the backlog) as data-modifying CTEs, built once.
 */
const storeBatchSql = (update: string) =>
  `${RECORDS_WITH}, checkpoint AS (\n  ${INSERT_CHECKPOINT}\n), edge_log AS (\n  ${update}\n)\n${RECORDS_INSERT}`;
const STORE_BATCH = [storeBatchSql(UPDATE_EDGE_LOG[0]), storeBatchSql(UPDATE_EDGE_LOG[1])] as const;

/**
 * The edge's log state after a batch. The backlog the edge reported with it (X-RigTrace-Backlog),
 * if any, in the same statement: the row is written once per batch.
 */
function updateEdgeLogSql(
  s: { size: number; root: Uint8Array; range: string; checkpoint: string; backlog?: number | undefined },
  now: string,
  tenantId: string,
  edgeId: string,
): { sql: string; params: SqlParam[] } {
  return {
    sql: UPDATE_EDGE_LOG[s.backlog === undefined ? 0 : 1],
    params: [
      s.size,
      Buffer.from(s.root),
      s.range,
      s.checkpoint,
      now,
      ...(s.backlog === undefined ? [] : [s.backlog, now]),
      tenantId,
      edgeId,
    ],
  };
}

export interface StoredRecordRow {
  edge_id: string;
  seq: number;
  /** The record's observedAt, normalised (the partition key on PostgreSQL). */
  observed_at: string;
  json: string;
  ingested_at: string;
  replayed: number;
}

export interface NewRecordRow {
  seq: number;
  id: string;
  kind: string;
  equipment: string;
  observedAt: string;
  json: string;
  leafHash: Uint8Array;
  replayed: boolean;
}

/**
 * The one scope of a stored record (`r`: the alias or table name of a records row) for `v`: of
 * an edge of `v`'s sites (a record belongs to its edge's site), and, unless `v` is cleared, not
 * export-controlled: neither of flagged equipment nor naming a flagged gauge (an inspection's
 * gauges, as the traceability index holds them: traceable_records and record_gauges, written in
 * the batch's transaction). The gauge test starts from the tenant's flagged equipment (few),
 * each a point lookup of the record in record_gauges' key.
 */
function recordVisible(
  v: Pick<Viewer, 'tenantId' | 'sites' | 'cleared'>,
  r: string,
): {
  sql: string;
  params: SqlParam[];
} {
  const seen = visibleSql(v, { site: edgeSite(r), tag: `${r}.equipment` });
  if (v.cleared) return seen;
  return {
    sql: `${seen.sql} AND NOT EXISTS (SELECT 1 FROM equipment xe WHERE xe.tenant_id = ? AND xe.export_regime IS NOT NULL
      AND EXISTS (SELECT 1 FROM traceable_records xt JOIN record_gauges xg ON xg.tenant_id = xt.tenant_id
        AND xg.gauge = xe.tag AND xg.observed_at = xt.observed_at AND xg.edge_id = xt.edge_id AND xg.seq = xt.seq
        WHERE xt.tenant_id = ${r}.tenant_id AND xt.edge_id = ${r}.edge_id AND xt.seq = ${r}.seq))`,
    params: [...seen.params, v.tenantId],
  };
}

/** The site of the edge of row `r` (a record, a leaf, a checkpoint): the site the row belongs to. */
const edgeSite = (r: string) =>
  `(SELECT se.site_id FROM edges se WHERE se.tenant_id = ${r}.tenant_id AND se.id = ${r}.edge_id)`;

/**
 * The scope of the signed log's leaves and checkpoints (alias `r`) for `v`: its edge's site.
 * They hold hashes and signed notes, not what a record says, so export control does not apply:
 * an inclusion proof for a record needs every leaf of the log, flagged records' included.
 */
const logVisible = (v: Pick<Viewer, 'tenantId' | 'sites' | 'cleared'>, r: string) =>
  visibleSql(v, { site: edgeSite(r) });

export interface RecordQuery {
  edge?: string;
  kind?: string;
  equipment?: string;
  afterSeq?: number;
  /** Keyset cursor: records after (edge, seq) in (edge, seq) order. */
  after?: { edge: string; seq: number };
  limit: number;
}

/**
 * Records, checkpoints and the per-edge log state. Every statement is scoped by tenant twice:
 * its WHERE clause, and (on PostgreSQL) row-level security through `withTenant`. Reads take the
 * reader (`Viewer`): what a person asks for is read as them (`recordVisible`, `logVisible`); the
 * product's own work on the whole log (ingest, log verification, the leaves of a proof) passes
 * `wholeTenant` explicitly.
 */
export class RecordsRepository {
  /**
   * Where the signed log's leaf hashes are read: record_log on PostgreSQL (it outlives the months
   * of records dropped by retention), the records themselves on SQLite.
   */
  private readonly leaves: string;

  constructor(private readonly db: Db) {
    this.leaves = db.dialect === 'postgres' ? 'record_log' : 'records';
  }

  /** The stored leaf hashes of `seqs` of an edge's log (ingest: re-sent records), by seq. */
  async leafHashes(v: Viewer, edgeId: string, seqs: number[]): Promise<Map<number, Uint8Array>> {
    const seen = logVisible(v, 'l');
    return this.db.withTenant(v.tenantId, async () => {
      const out = new Map<number, Uint8Array>();
      for (let i = 0; i < seqs.length; i += 500) {
        const chunk = seqs.slice(i, i + 500);
        const rows = await this.db.all<{ seq: number; leaf_hash: Buffer }>(
          `SELECT l.seq, l.leaf_hash FROM ${this.leaves} l WHERE l.tenant_id = ? AND l.edge_id = ? AND l.seq IN (${chunk.map(() => '?').join(',')}) AND ${seen.sql}`,
          [v.tenantId, edgeId, ...chunk, ...seen.params],
        );
        for (const r of rows) out.set(r.seq, new Uint8Array(r.leaf_hash));
      }
      return out;
    });
  }

  /**
   * PostgreSQL: the partitions of records, and of the rows derived from them (migration 73), for
   * the month of `now` and the next, and for each month found in a default partition (moved
   * into its own); the names of records' ones. SQLite: one table, nothing to do.
   */
  async partitionsAhead(now: Date): Promise<string[]> {
    if (this.db.dialect !== 'postgres') return [];
    const rows = await this.db.all<{ name: string }>('SELECT rt_records_ahead(?::timestamptz) AS name', [
      now.toISOString(),
    ]);
    return rows.map((r) => r.name);
  }

  /**
   * Every leaf hash of an edge's log up to `size`, in order: what an inclusion proof is computed
   * from, so every leaf, flagged records' included (`logVisible`).
   */
  async allLeafHashes(v: Viewer, edgeId: string, size: number): Promise<Uint8Array[]> {
    const seen = logVisible(v, 'l');
    const rows = await this.db.withTenant(v.tenantId, () =>
      this.db.all<{ leaf_hash: Buffer }>(
        `SELECT l.leaf_hash FROM ${this.leaves} l WHERE l.tenant_id = ? AND l.edge_id = ? AND l.seq <= ? AND ${seen.sql} ORDER BY l.seq`,
        [v.tenantId, edgeId, size, ...seen.params],
      ),
    );
    return rows.map((r) => new Uint8Array(r.leaf_hash));
  }

  /**
   * One statement per batch. PostgreSQL: one row per element of 7 array parameters and of the
   * JSON split from one text (`unnest`), so the statement text and its parameters are the
   * same whatever the batch size (13 on PostgreSQL, records and record_log): nothing to parse per row. SQLite (no arrays): one multi-row
   * INSERT per `INSERT_CHUNK` rows, 11 parameters a row, inside SQLite's 32766.
   */
  async insertRecords(tenantId: string, edgeId: string, rows: NewRecordRow[], now: string): Promise<void> {
    await this.db.withTenant(tenantId, async () => {
      if (this.db.dialect === 'postgres') {
        await this.db.run(INSERT_RECORDS_UNNEST, [
          ...unnestArrays(rows),
          tenantId,
          edgeId,
          tenantId,
          edgeId,
          now,
        ]);
        return;
      }
      for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
        const chunk = rows.length <= INSERT_CHUNK ? rows : rows.slice(i, i + INSERT_CHUNK);
        const params: SqlParam[] = [];
        for (const r of chunk)
          params.push(
            tenantId,
            edgeId,
            r.seq,
            r.id,
            r.kind,
            r.equipment,
            r.observedAt,
            r.json,
            hashBytes(r.leafHash),
            now,
            r.replayed ? 1 : 0,
          );
        await this.db.run(`${INSERT_RECORDS}${rowsOf(chunk.length)}`, params);
      }
    });
  }

  /**
   * A verified batch's writes: its records, its checkpoint and the edge's new log state. On
   * PostgreSQL one statement (the checkpoint INSERT and the edge UPDATE as data-modifying CTEs of
   * the records INSERT: one round trip where there were three); on SQLite the three statements.
   * Call inside the ingest transaction, with the edge's row locked.
   */
  async storeBatch(
    tenantId: string,
    edgeId: string,
    rows: NewRecordRow[],
    cp: { size: number; root: Uint8Array; note: string; cosignedNote: string },
    log: { size: number; root: Uint8Array; range: string; checkpoint: string; backlog?: number | undefined },
    now: string,
  ): Promise<void> {
    if (this.db.dialect !== 'postgres') {
      await settled([
        this.insertRecords(tenantId, edgeId, rows, now),
        this.insertCheckpoint(tenantId, edgeId, cp, now),
        this.updateEdgeLog(tenantId, edgeId, log, now),
      ]);
      return;
    }
    const edge = updateEdgeLogSql(log, now, tenantId, edgeId);
    await this.db.withTenant(tenantId, () =>
      this.db.run(STORE_BATCH[log.backlog === undefined ? 0 : 1], [
        ...unnestArrays(rows),
        tenantId,
        edgeId,
        ...checkpointParams(tenantId, edgeId, cp, now),
        ...edge.params,
        tenantId,
        edgeId,
        now,
      ]),
    );
  }

  /** SQLite, storeBatch: the batch's checkpoint. */
  private async insertCheckpoint(
    tenantId: string,
    edgeId: string,
    cp: { size: number; root: Uint8Array; note: string; cosignedNote: string },
    now: string,
  ): Promise<void> {
    await this.db.withTenant(tenantId, () =>
      this.db.run(INSERT_CHECKPOINT, checkpointParams(tenantId, edgeId, cp, now)),
    );
  }

  /** SQLite, storeBatch: the edge's new log state. */
  private async updateEdgeLog(
    tenantId: string,
    edgeId: string,
    s: { size: number; root: Uint8Array; range: string; checkpoint: string; backlog?: number | undefined },
    now: string,
  ): Promise<void> {
    const edge = updateEdgeLogSql(s, now, tenantId, edgeId);
    await this.db.withTenant(tenantId, () => this.db.run(edge.sql, edge.params));
  }

  /** The edge's latest accepted checkpoint, if `v` sees the edge (`logVisible`). */
  async latestCheckpoint(
    v: Viewer,
    edgeId: string,
  ): Promise<{ size: number; cosigned_note: string } | undefined> {
    const seen = logVisible(v, 'c');
    return this.db.withTenant(v.tenantId, () =>
      this.db.get<{ size: number; cosigned_note: string }>(
        `SELECT c.size, c.cosigned_note FROM checkpoints c WHERE c.tenant_id = ? AND c.edge_id = ? AND ${seen.sql} ORDER BY c.size DESC LIMIT 1`,
        [v.tenantId, edgeId, ...seen.params],
      ),
    );
  }

  /** The checkpoint accepted at log size `size` (ingest: a batch of only re-sent records). */
  async checkpointAt(
    v: Viewer,
    edgeId: string,
    size: number,
  ): Promise<{ size: number; root: Buffer; cosigned_note: string } | undefined> {
    const seen = logVisible(v, 'c');
    return this.db.withTenant(v.tenantId, () =>
      this.db.get<{ size: number; root: Buffer; cosigned_note: string }>(
        `SELECT c.size, c.root, c.cosigned_note FROM checkpoints c WHERE c.tenant_id = ? AND c.edge_id = ? AND c.size = ? AND ${seen.sql}`,
        [v.tenantId, edgeId, size, ...seen.params],
      ),
    );
  }

  /**
   * The records `v` may see (`recordVisible`): of edges of its sites, and (unless cleared) not
   * export-controlled (ITAR/EAR): neither of flagged equipment nor naming a flagged gauge.
   */
  async list(v: Viewer, q: RecordQuery): Promise<StoredRecordRow[]> {
    const tenantId = v.tenantId;
    const seen = recordVisible(v, 'records');
    const where = ['tenant_id = ?', seen.sql];
    const params: SqlParam[] = [tenantId, ...seen.params];
    const filter = (sql: string, value: string | number | undefined) => {
      if (value === undefined || value === '') return;
      where.push(sql);
      params.push(value);
    };
    filter('edge_id = ?', q.edge);
    filter('kind = ?', q.kind);
    filter('equipment = ?', q.equipment);
    filter('seq > ?', q.afterSeq);
    if (q.after) {
      where.push('(edge_id, seq) > (?, ?)');
      params.push(q.after.edge, q.after.seq);
    }
    params.push(q.limit);
    return this.db.withTenant(tenantId, () =>
      this.db.all<StoredRecordRow>(
        `SELECT edge_id, seq, observed_at, json, ingested_at, replayed FROM records WHERE ${where.join(' AND ')} ORDER BY edge_id, seq LIMIT ?`,
        params,
      ),
    );
  }

  /**
   * One record, if `v` may see it (`recordVisible`); undefined also when its month was dropped by
   * retention (its leaf stays, `leafHashes`).
   */
  async get(v: Viewer, edgeId: string, seq: number): Promise<StoredRecordRow | undefined> {
    const tenantId = v.tenantId;
    const seen = recordVisible(v, 'records');
    // PostgreSQL: the record's month from record_log, so that one partition is read, not each.
    const month =
      this.db.dialect === 'postgres'
        ? ' AND observed_at = (SELECT l.observed_at FROM record_log l WHERE l.tenant_id = ? AND l.edge_id = ? AND l.seq = ?)'
        : '';
    return this.db.withTenant(tenantId, () =>
      this.db.get<StoredRecordRow>(
        `SELECT edge_id, seq, observed_at, json, ingested_at, replayed FROM records WHERE tenant_id = ? AND edge_id = ? AND seq = ?${month} AND ${seen.sql}`,
        [tenantId, edgeId, seq, ...(month ? [tenantId, edgeId, seq] : []), ...seen.params],
      ),
    );
  }

  /** How many of an edge's stored records `v` may see (`recordVisible`). */
  async count(v: Viewer, edgeId: string): Promise<number> {
    const seen = recordVisible(v, 'records');
    const r = await this.db.withTenant(v.tenantId, () =>
      this.db.get<{ n: number | string }>(
        `SELECT COUNT(*) AS n FROM records WHERE tenant_id = ? AND edge_id = ? AND ${seen.sql}`,
        [v.tenantId, edgeId, ...seen.params],
      ),
    );
    return Number(r?.n ?? 0);
  }

  /** Every accepted checkpoint of an edge, smallest first (log verification; `logVisible`). */
  async checkpointsOf(
    v: Viewer,
    edgeId: string,
  ): Promise<{ size: number; root: Buffer; note: string; cosigned_note: string }[]> {
    const seen = logVisible(v, 'c');
    return this.db.withTenant(v.tenantId, () =>
      this.db.all<{ size: number; root: Buffer; note: string; cosigned_note: string }>(
        `SELECT c.size, c.root, c.note, c.cosigned_note FROM checkpoints c WHERE c.tenant_id = ? AND c.edge_id = ? AND ${seen.sql} ORDER BY c.size`,
        [v.tenantId, edgeId, ...seen.params],
      ),
    );
  }

  /**
   * Records in (afterSeq, upToSeq] with their stored JSON and leaf hash, in seq order (log
   * verification, which recomputes every leaf: read as `wholeTenant`). json null: the record's
   * month was dropped by retention, its leaf kept. Every record's JSON, flagged ones included:
   * refused to a reader not cleared for export-controlled data (a proof of the log is not a way
   * around export control); of an edge of `v`'s sites.
   */
  async leafPage(
    v: Viewer,
    edgeId: string,
    afterSeq: number,
    upToSeq: number,
    limit: number,
  ): Promise<{ seq: number; json: string | null; leaf_hash: Buffer }[]> {
    if (!v.cleared) throw new Error('leafPage reads every record: only as a cleared reader (wholeTenant)');
    const seen = logVisible(v, 'l');
    const sql =
      this.db.dialect === 'postgres'
        ? `SELECT l.seq, r.json, l.leaf_hash FROM record_log l
             LEFT JOIN records r ON r.tenant_id = l.tenant_id AND r.edge_id = l.edge_id AND r.seq = l.seq
               AND r.observed_at = l.observed_at
            WHERE l.tenant_id = ? AND l.edge_id = ? AND l.seq > ? AND l.seq <= ? AND ${seen.sql} ORDER BY l.seq LIMIT ?`
        : `SELECT l.seq, l.json, l.leaf_hash FROM records l WHERE l.tenant_id = ? AND l.edge_id = ? AND l.seq > ? AND l.seq <= ? AND ${seen.sql} ORDER BY l.seq LIMIT ?`;
    return this.db.withTenant(v.tenantId, () =>
      this.db.all<{ seq: number; json: string | null; leaf_hash: Buffer }>(sql, [
        v.tenantId,
        edgeId,
        afterSeq,
        upToSeq,
        ...seen.params,
        limit,
      ]),
    );
  }

  /**
   * Records accepted for each edge of `v`'s sites since `since`: the log size now less the
   * largest checkpoint accepted before then (checkpoints, one per batch, are far fewer than
   * records). A count of an edge's log, not of what its records say: no export control.
   */
  async acceptedSince(v: Viewer, since: string): Promise<Map<string, number>> {
    const seen = visibleSql(v, { site: 'e.site_id' });
    const rows = await this.db.withTenant(v.tenantId, () =>
      this.db.all<{ edge_id: string; before: number | null; size: number }>(
        `SELECT e.id AS edge_id, e.log_size AS size,
           (SELECT MAX(c.size) FROM checkpoints c WHERE c.tenant_id = e.tenant_id AND c.edge_id = e.id AND c.accepted_at <= ?) AS before
         FROM edges e WHERE e.tenant_id = ? AND ${seen.sql}`,
        [since, v.tenantId, ...seen.params],
      ),
    );
    return new Map(rows.map((r) => [r.edge_id, r.size - (r.before ?? 0)]));
  }
}
