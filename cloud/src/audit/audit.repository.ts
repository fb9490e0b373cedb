import { visibleSql, type Viewer } from '../access/index.js';
import type { Db } from '../platform/db/db.js';

export interface AuditRow {
  tenant_id: string;
  seq: number;
  at: string;
  action: string;
  actor: string;
  outcome: string;
  /** The entry's canonical JSON (RFC 8785): the bytes of its Merkle leaf. */
  entry: string;
  leaf_hash: Buffer;
  /** The tenant's audit-log checkpoint after this entry, signed with the witness key. */
  checkpoint: string;
}

/**
 * The tenant's audit log: append-only (the database refuses UPDATE and DELETE on audit_log)
 * and a Merkle log whose compact range is kept in audit_heads, one row per tenant, locked by
 * each append so that appends from every cloud process take turns.
 */
export class AuditRepository {
  constructor(private readonly db: Db) {}

  /** The head, locked until the surrounding transaction ends. Call inside a transaction. */
  async lockHead(tenantId: string): Promise<{ size: number; range: string }> {
    return this.db.withTenant(tenantId, async () => {
      await this.db.run(
        `INSERT INTO audit_heads (tenant_id, size, range) VALUES (?, 0, '{"size":0,"hashes":[]}') ON CONFLICT (tenant_id) DO NOTHING`,
        [tenantId],
      );
      const lock = this.db.dialect === 'postgres' ? ' FOR UPDATE' : '';
      const row = await this.db.get<{ size: number; range: string }>(
        `SELECT size, range FROM audit_heads WHERE tenant_id = ?${lock}`,
        [tenantId],
      );
      return row!;
    });
  }

  async append(row: AuditRow, range: string): Promise<void> {
    await this.db.withTenant(row.tenant_id, async () => {
      await this.db.run(
        'INSERT INTO audit_log (tenant_id, seq, at, action, actor, outcome, entry, leaf_hash, checkpoint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [
          row.tenant_id,
          row.seq,
          row.at,
          row.action,
          row.actor,
          row.outcome,
          row.entry,
          row.leaf_hash,
          row.checkpoint,
        ],
      );
      await this.db.run('UPDATE audit_heads SET size = ?, range = ? WHERE tenant_id = ?', [
        row.seq,
        range,
        row.tenant_id,
      ]);
    });
  }

  /** The log's size: read by verification, the product's own work (`wholeTenant(…)`). */
  async head(v: Pick<Viewer, 'tenantId'>): Promise<number> {
    const row = await this.db.withTenant(v.tenantId, () =>
      this.db.get<{ size: number }>('SELECT size FROM audit_heads WHERE tenant_id = ?', [v.tenantId]),
    );
    return row?.size ?? 0;
  }

  /**
   * Entries after `afterSeq`, in order. One log of every site's actions: a reader limited to
   * sites sees none (audit:read is never a site-scoped caller's).
   */
  page(
    v: Pick<Viewer, 'tenantId' | 'sites' | 'cleared'>,
    afterSeq: number,
    limit: number,
  ): Promise<AuditRow[]> {
    const scope = visibleSql(v, { everySite: true });
    return this.db.withTenant(v.tenantId, () =>
      this.db.all<AuditRow>(
        `SELECT * FROM audit_log WHERE tenant_id = ? AND seq > ? AND ${scope.sql} ORDER BY seq LIMIT ?`,
        [v.tenantId, afterSeq, ...scope.params, limit],
      ),
    );
  }
}
