import type { Viewer } from '../access/index.js';
import type { Db } from '../platform/db/db.js';

/**
 * Who reads. Procedures are the tenant's, of no site and never export-controlled: every reader of
 * the tenant sees them (the viewer's tenant is the only condition).
 */
type Reader = Pick<Viewer, 'tenantId'>;

/** A procedure revision as stored: what is queried is a column, the rest is `spec` (JSON). */
export interface ProcedureRow {
  tenant_id: string;
  id: string;
  revision: string;
  title: string;
  spec: string;
  created_at: string;
  created_by: string;
}

/** Calibration procedures; a revision is inserted once and never changed. */
export class ProcedureRepository {
  constructor(private readonly db: Db) {}

  async insert(row: ProcedureRow): Promise<boolean> {
    const r = await this.db.withTenant(row.tenant_id, () =>
      this.db.run(
        `INSERT INTO procedures (tenant_id, id, revision, title, spec, created_at, created_by)
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
        [row.tenant_id, row.id, row.revision, row.title, row.spec, row.created_at, row.created_by],
      ),
    );
    return r.changes === 1;
  }

  async get(v: Reader, id: string, revision: string): Promise<ProcedureRow | undefined> {
    const tenantId = v.tenantId;
    return this.db.withTenant(tenantId, () =>
      this.db.get<ProcedureRow>('SELECT * FROM procedures WHERE tenant_id = ? AND id = ? AND revision = ?', [
        tenantId,
        id,
        revision,
      ]),
    );
  }

  /** Every revision of a procedure, oldest first (the last is the current one). */
  async revisions(v: Reader, id: string): Promise<ProcedureRow[]> {
    const tenantId = v.tenantId;
    return this.db.withTenant(tenantId, () =>
      this.db.all<ProcedureRow>(
        'SELECT * FROM procedures WHERE tenant_id = ? AND id = ? ORDER BY created_at, revision',
        [tenantId, id],
      ),
    );
  }

  /** The current (latest) revision of each procedure, by id. */
  async current(v: Reader, limit: number): Promise<ProcedureRow[]> {
    const tenantId = v.tenantId;
    return this.db.withTenant(tenantId, () =>
      this.db.all<ProcedureRow>(
        `SELECT p.* FROM procedures p
         WHERE p.tenant_id = ? AND NOT EXISTS (
           SELECT 1 FROM procedures q WHERE q.tenant_id = p.tenant_id AND q.id = p.id
             AND (q.created_at > p.created_at OR (q.created_at = p.created_at AND q.revision > p.revision)))
         ORDER BY p.id LIMIT ?`,
        [tenantId, limit],
      ),
    );
  }
}
