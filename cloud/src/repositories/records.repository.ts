import type { Db } from '../db/db.js';

export interface StoredRecordRow {
  edge_id: string;
  seq: number;
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
 * its WHERE clause, and (on PostgreSQL) row-level security through `withTenant`.
 */
export class RecordsRepository {
  constructor(private readonly db: Db) {}

  async leafHashes(tenantId: string, edgeId: string, seqs: number[]): Promise<Map<number, Uint8Array>> {
    return this.db.withTenant(tenantId, async () => {
      const out = new Map<number, Uint8Array>();
      for (let i = 0; i < seqs.length; i += 500) {
        const chunk = seqs.slice(i, i + 500);
        const rows = await this.db.all<{ seq: number; leaf_hash: Buffer }>(
          `SELECT seq, leaf_hash FROM records WHERE tenant_id = ? AND edge_id = ? AND seq IN (${chunk.map(() => '?').join(',')})`,
          [tenantId, edgeId, ...chunk],
        );
        for (const r of rows) out.set(r.seq, new Uint8Array(r.leaf_hash));
      }
      return out;
    });
  }

  /** Every leaf hash of an edge's log up to `size`, in order (for proofs). */
  async allLeafHashes(tenantId: string, edgeId: string, size: number): Promise<Uint8Array[]> {
    const rows = await this.db.withTenant(tenantId, () =>
      this.db.all<{ leaf_hash: Buffer }>(
        'SELECT leaf_hash FROM records WHERE tenant_id = ? AND edge_id = ? AND seq <= ? ORDER BY seq',
        [tenantId, edgeId, size],
      ),
    );
    return rows.map((r) => new Uint8Array(r.leaf_hash));
  }

  async insertRecords(tenantId: string, edgeId: string, rows: NewRecordRow[], now: string): Promise<void> {
    const per = 11;
    await this.db.withTenant(tenantId, async () => {
      for (let i = 0; i < rows.length; i += 200) {
        const chunk = rows.slice(i, i + 200);
        const params = chunk.flatMap((r) => [
          tenantId,
          edgeId,
          r.seq,
          r.id,
          r.kind,
          r.equipment,
          r.observedAt,
          r.json,
          Buffer.from(r.leafHash),
          now,
          r.replayed ? 1 : 0,
        ]);
        const ph = chunk.map(() => `(${Array(per).fill('?').join(',')})`).join(',');
        await this.db.run(
          `INSERT INTO records (tenant_id, edge_id, seq, id, kind, equipment, observed_at, json, leaf_hash, ingested_at, replayed) VALUES ${ph}`,
          params,
        );
      }
    });
  }

  async insertCheckpoint(
    tenantId: string,
    edgeId: string,
    cp: { size: number; root: Uint8Array; note: string; cosignedNote: string },
    now: string,
  ): Promise<void> {
    await this.db.withTenant(tenantId, () =>
      this.db.run(
        'INSERT INTO checkpoints (tenant_id, edge_id, size, root, note, cosigned_note, accepted_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
        [tenantId, edgeId, cp.size, Buffer.from(cp.root), cp.note, cp.cosignedNote, now],
      ),
    );
  }

  async updateEdgeLog(
    tenantId: string,
    edgeId: string,
    s: { size: number; root: Uint8Array; range: string; checkpoint: string },
    now: string,
  ): Promise<void> {
    await this.db.withTenant(tenantId, () =>
      this.db.run(
        'UPDATE edges SET log_size = ?, log_root = ?, log_range = ?, last_checkpoint = ?, last_contact_at = ? WHERE tenant_id = ? AND id = ?',
        [s.size, Buffer.from(s.root), s.range, s.checkpoint, now, tenantId, edgeId],
      ),
    );
  }

  async touchEdge(tenantId: string, edgeId: string, now: string): Promise<void> {
    await this.db.withTenant(tenantId, () =>
      this.db.run('UPDATE edges SET last_contact_at = ? WHERE tenant_id = ? AND id = ?', [
        now,
        tenantId,
        edgeId,
      ]),
    );
  }

  async latestCheckpoint(
    tenantId: string,
    edgeId: string,
  ): Promise<{ size: number; cosigned_note: string } | undefined> {
    return this.db.withTenant(tenantId, () =>
      this.db.get<{ size: number; cosigned_note: string }>(
        'SELECT size, cosigned_note FROM checkpoints WHERE tenant_id = ? AND edge_id = ? ORDER BY size DESC LIMIT 1',
        [tenantId, edgeId],
      ),
    );
  }

  async checkpointAt(
    tenantId: string,
    edgeId: string,
    size: number,
  ): Promise<{ size: number; root: Buffer; cosigned_note: string } | undefined> {
    return this.db.withTenant(tenantId, () =>
      this.db.get<{ size: number; root: Buffer; cosigned_note: string }>(
        'SELECT size, root, cosigned_note FROM checkpoints WHERE tenant_id = ? AND edge_id = ? AND size = ?',
        [tenantId, edgeId, size],
      ),
    );
  }

  async list(tenantId: string, q: RecordQuery): Promise<StoredRecordRow[]> {
    const where = ['tenant_id = ?'];
    const params: (string | number)[] = [tenantId];
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
        `SELECT edge_id, seq, json, ingested_at, replayed FROM records WHERE ${where.join(' AND ')} ORDER BY edge_id, seq LIMIT ?`,
        params,
      ),
    );
  }

  async get(tenantId: string, edgeId: string, seq: number): Promise<StoredRecordRow | undefined> {
    return this.db.withTenant(tenantId, () =>
      this.db.get<StoredRecordRow>(
        'SELECT edge_id, seq, json, ingested_at, replayed FROM records WHERE tenant_id = ? AND edge_id = ? AND seq = ?',
        [tenantId, edgeId, seq],
      ),
    );
  }

  async count(tenantId: string, edgeId: string): Promise<number> {
    const r = await this.db.withTenant(tenantId, () =>
      this.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM records WHERE tenant_id = ? AND edge_id = ?', [
        tenantId,
        edgeId,
      ]),
    );
    return r?.n ?? 0;
  }
}
