import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Db, SqlParam } from '../platform/db/db.js';
import { insertChunked } from '../platform/db/insert-chunked.js';
import type { Caller, Viewer } from '../access/index.js';
import type { AuditService } from '../audit/index.js';

/**
 * Export control (ITAR / EAR). Equipment may carry `exportControl: { regime, eccn? }`; that flag
 * covers the equipment itself and everything made with it or about it: its calibrations and
 * certificates, and the usage and inspection records whose equipment (or one of whose gauges)
 * it is. Flagged data is served only to users marked `usPerson`; anyone else gets 404 for a
 * flagged item and lists without it. API tokens are never cleared (secure default). Every
 * served flagged object is written to `export_access_log` and summarised on the audit trail.
 */

export const EXPORT_REGIMES = ['ITAR', 'EAR'] as const;
export type ExportRegime = (typeof EXPORT_REGIMES)[number];

/**
 * Export Control Classification Number: a digit (category 0–9), a letter (product group A–E),
 * three digits, then optional sub-paragraphs (`3A001`, `9E610.a`, `3A001.b.2.a`, `5A992.c`);
 * `EAR99` for items subject to the EAR but not on the Commerce Control List.
 */
export const ECCN = /^(?:[0-9][A-E][0-9]{3}(?:\.[a-z0-9]{1,3}){0,4}|EAR99)$/;

export const exportControlSchema = z.strictObject({
  regime: z.enum(EXPORT_REGIMES),
  eccn: z.string().regex(ECCN, 'an ECCN such as 3A001 or 9E610.a (or EAR99)').optional(),
});
export type ExportControl = z.output<typeof exportControlSchema>;

export interface ExportFlag {
  regime: ExportRegime;
  eccn: string | null;
}

/**
 * One request that reads export-controlled data: access's `Caller` (the request's `Viewer`, its
 * audit actor and address) and the route the access log names (e.g. "GET /equipment/{tag}").
 * Routes build it with `exportCallerOf` (export-control.routes.ts); it is a `Viewer`, so the same
 * object goes to the repositories' reads.
 */
export type ExportCaller = Caller & { route: string };

/** The caller as the access log names it: `user:<id>` or `api-token`. */
const principalOf = (v: Viewer): string => (v.kind === 'user' ? `user:${v.id}` : 'api-token');

export interface AccessedObject {
  /** 'record': a raw record (`/records`, evidence bundles), id `<edge>:<seq>`. */
  type: 'equipment' | 'calibration' | 'usage' | 'inspection' | 'suspect-records' | 'yield' | 'record';
  id: string;
  flag: ExportFlag;
}

export interface ExportAccessRow {
  tenant_id: string;
  id: string;
  at: string;
  user_id: string | null;
  principal: string;
  object_type: string;
  object_id: string;
  regime: string;
  eccn: string | null;
  address: string | null;
  route: string;
}

/** The most objects named one by one in the summarising audit entry (the table has them all). */
const AUDIT_OBJECTS = 50;

export class ExportControlService {
  constructor(
    private readonly db: Db,
    private readonly audit: AuditService,
  ) {}

  /** The tenant's flagged equipment by tag (a small set: one indexed scan). */
  async flags(tenantId: string): Promise<Map<string, ExportFlag>> {
    const rows = await this.db.withTenantStatement(tenantId, () =>
      this.db.all<{ tag: string; export_regime: ExportRegime; export_eccn: string | null }>(
        'SELECT tag, export_regime, export_eccn FROM equipment WHERE tenant_id = ? AND export_regime IS NOT NULL',
        [tenantId],
      ),
    );
    return new Map(rows.map((r) => [r.tag, { regime: r.export_regime, eccn: r.export_eccn }]));
  }

  async flagOf(tenantId: string, tag: string): Promise<ExportFlag | null> {
    const row = await this.db.withTenant(tenantId, () =>
      this.db.get<{ export_regime: ExportRegime | null; export_eccn: string | null }>(
        'SELECT export_regime, export_eccn FROM equipment WHERE tenant_id = ? AND tag = ?',
        [tenantId, tag],
      ),
    );
    return row?.export_regime ? { regime: row.export_regime, eccn: row.export_eccn } : null;
  }

  /**
   * Logs that `viewer` was served `objects` (all flagged): one export_access_log row each and
   * one audit entry for the request, in one transaction. Nothing when the list is empty.
   */
  async logAccess(viewer: ExportCaller, objects: readonly AccessedObject[]): Promise<void> {
    if (objects.length === 0) return;
    const at = new Date().toISOString();
    await this.db.transaction(async () => {
      await this.db.withTenant(viewer.tenantId, async () => {
        await insertChunked(
          this.db,
          'export_access_log',
          'tenant_id, id, at, user_id, principal, object_type, object_id, regime, eccn, address, route',
          objects.map((o): SqlParam[] => [
            viewer.tenantId,
            randomUUID(),
            at,
            viewer.kind === 'user' ? viewer.id : null,
            principalOf(viewer),
            o.type,
            o.id,
            o.flag.regime,
            o.flag.eccn,
            viewer.address,
            viewer.route,
          ]),
          { rowsPerStatement: 100 },
        );
      });
      const regimes = [...new Set(objects.map((o) => o.flag.regime))].sort();
      await this.audit.record({
        tenantId: viewer.tenantId,
        action: 'export.access',
        outcome: 'success',
        actor: viewer.actor,
        address: viewer.address,
        detail: `${objects.length} export-controlled object(s) (${regimes.join(', ')}) served by ${viewer.route}`,
        after: {
          route: viewer.route,
          count: objects.length,
          objects: objects
            .slice(0, AUDIT_OBJECTS)
            .map((o) => ({ type: o.type, id: o.id, regime: o.flag.regime, eccn: o.flag.eccn })),
        },
      });
    });
  }

  /** An uncleared caller asked for a flagged item by its id (answered 404): a security event. */
  async refused(viewer: ExportCaller, object: AccessedObject): Promise<void> {
    await this.audit.record({
      tenantId: viewer.tenantId,
      action: 'export.access',
      outcome: 'failure',
      actor: viewer.actor,
      address: viewer.address,
      target: { type: object.type, id: object.id },
      detail: `${object.flag.regime}-controlled ${object.type} refused to a caller who is not cleared (answered 404) by ${viewer.route}`,
    });
  }

  /** The access log, oldest first, paged by (at, id). */
  async list(
    tenantId: string,
    q: {
      from?: string | undefined;
      to?: string | undefined;
      after?: { at: string; id: string } | undefined;
      limit: number;
    },
  ): Promise<{ items: ExportAccessRow[]; next: string | null }> {
    const where = ['tenant_id = ?'];
    const params: SqlParam[] = [tenantId];
    if (q.from) {
      where.push('at >= ?');
      params.push(q.from);
    }
    if (q.to) {
      where.push('at < ?');
      params.push(q.to);
    }
    if (q.after) {
      where.push('(at > ? OR (at = ? AND id > ?))');
      params.push(q.after.at, q.after.at, q.after.id);
    }
    params.push(q.limit);
    const items = await this.db.withTenant(tenantId, () =>
      this.db.all<ExportAccessRow>(
        `SELECT * FROM export_access_log WHERE ${where.join(' AND ')} ORDER BY at, id LIMIT ?`,
        params,
      ),
    );
    const last = items.at(-1);
    return { items, next: items.length === q.limit && last ? `${last.at}~${last.id}` : null };
  }
}

export function decodeAccessCursor(c: string): { at: string; id: string } | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)~([0-9a-f-]{36})$/.exec(c);
  return m ? { at: m[1]!, id: m[2]! } : undefined;
}

export function accessView(r: ExportAccessRow) {
  return {
    id: r.id,
    at: r.at,
    userId: r.user_id,
    principal: r.principal,
    objectType: r.object_type,
    objectId: r.object_id,
    regime: r.regime,
    eccn: r.eccn,
    address: r.address,
    route: r.route,
  };
}

/** The flag a stored record (its JSON text) inherits; see `recordFlag`. */
export function flagOfStoredRecord(json: string, flags: ReadonlyMap<string, ExportFlag>): ExportFlag | null {
  if (flags.size === 0) return null;
  const record = JSON.parse(json) as { equipment?: unknown };
  return recordFlag(typeof record.equipment === 'string' ? record.equipment : '', record, flags);
}

/**
 * The flag a usage or inspection record inherits: its equipment's, else that of the first
 * flagged gauge it names (an inspection's `gauges`, or a characteristic's `gauge`).
 */
export function recordFlag(
  equipment: string,
  record: unknown,
  flags: ReadonlyMap<string, ExportFlag>,
): ExportFlag | null {
  if (flags.size === 0) return null;
  const own = flags.get(equipment);
  if (own) return own;
  const body = (record as { body?: { gauges?: unknown; characteristics?: unknown } } | null)?.body;
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? (v as unknown[]) : []);
  const gauges: unknown[] = [
    ...list(body?.gauges),
    ...list(body?.characteristics).map((c) => (c as { gauge?: unknown } | null)?.gauge),
  ];
  for (const g of gauges) {
    const f = typeof g === 'string' ? flags.get(g) : undefined;
    if (f) return f;
  }
  return null;
}
