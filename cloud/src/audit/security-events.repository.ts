import { visibleSql, type Viewer } from '../access/index.js';
import type { Db } from '../platform/db/db.js';

export interface SecurityEvent {
  tenantId: string | null;
  code: string;
  edgeId?: string | null;
  address?: string | null;
  detail: string;
}

export interface SecurityEventRow {
  at: string;
  code: string;
  edge_id: string | null;
  address: string | null;
  detail: string;
}

/**
 * Refused ingests, forks and failed enrollments, kept for the tenant's security review. Events
 * no tenant owns (an unknown edge, an unknown enrollment token) go to system_security_events,
 * which the app can append to but not read: they are for the operator.
 */
export class SecurityEventsRepository {
  constructor(private readonly db: Db) {}

  private readonly listeners: ((e: SecurityEvent) => Promise<void>)[] = [];

  /** Hands every tenant's event to `fn` too, after storing it (the audit trail subscribes). */
  onRecord(fn: (e: SecurityEvent) => Promise<void>): void {
    this.listeners.push(fn);
  }

  async record(e: SecurityEvent): Promise<void> {
    const at = new Date().toISOString();
    const rest = [at, e.code, e.edgeId ?? null, e.address ?? null, e.detail];
    if (e.tenantId === null) {
      await this.db.run(
        'INSERT INTO system_security_events (at, code, edge_id, address, detail) VALUES (?, ?, ?, ?, ?)',
        rest,
      );
      return;
    }
    const tenantId = e.tenantId;
    await this.db.withTenant(tenantId, () =>
      this.db.run(
        'INSERT INTO security_events (tenant_id, at, code, edge_id, address, detail) VALUES (?, ?, ?, ?, ?, ?)',
        [tenantId, ...rest],
      ),
    );
    for (const fn of this.listeners) await fn(e);
  }

  /** The newest events first. They are on the tenant's audit trail too: a reader limited to sites sees none. */
  async list(v: Pick<Viewer, 'tenantId' | 'sites' | 'cleared'>, limit = 100): Promise<SecurityEventRow[]> {
    const scope = visibleSql(v, { everySite: true });
    return this.db.withTenant(v.tenantId, () =>
      this.db.all<SecurityEventRow>(
        `SELECT at, code, edge_id, address, detail FROM security_events WHERE tenant_id = ? AND ${scope.sql}
          ORDER BY id DESC LIMIT ?`,
        [v.tenantId, ...scope.params, limit],
      ),
    );
  }
}
