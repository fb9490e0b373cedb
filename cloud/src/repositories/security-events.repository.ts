import type { SqliteDb } from '../db/sqlite.js';

export interface SecurityEvent {
  tenantId: string | null;
  code: string;
  edgeId?: string | null;
  address?: string | null;
  detail: string;
}

/** Refused ingests, forks and failed enrollments, kept for the tenant's security review. */
export class SecurityEventsRepository {
  constructor(private readonly db: SqliteDb) {}

  async record(e: SecurityEvent): Promise<void> {
    await this.db.run(
      'INSERT INTO security_events (tenant_id, at, code, edge_id, address, detail) VALUES (?, ?, ?, ?, ?, ?)',
      [e.tenantId, new Date().toISOString(), e.code, e.edgeId ?? null, e.address ?? null, e.detail],
    );
  }

  async list(
    tenantId: string,
    limit = 100,
  ): Promise<{ at: string; code: string; edge_id: string | null; address: string | null; detail: string }[]> {
    return this.db.all(
      'SELECT at, code, edge_id, address, detail FROM security_events WHERE tenant_id = ? ORDER BY id DESC LIMIT ?',
      [tenantId, limit],
    );
  }
}
