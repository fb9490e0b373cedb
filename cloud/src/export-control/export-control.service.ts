import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Db } from '../platform/db/db.js';
import { ProblemError } from '../platform/errors.js';
import { type Caller, type Viewer, wholeTenant } from '../access/index.js';
import type { AuditService } from '../audit/index.js';
import { type ExportAccessRow, ExportControlRepository } from './export-control.repository.js';

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

export type { ExportAccessRow };

/** The most objects named one by one in the summarising audit entry (the table has them all). */
const AUDIT_OBJECTS = 50;

export class ExportControlService {
  constructor(
    /** Only for the transaction that writes an access's log rows and its audit entry together. */
    private readonly db: Db,
    private readonly audit: AuditService,
    private readonly repo: ExportControlRepository = new ExportControlRepository(db),
  ) {}

  /**
   * The tenant's flagged equipment by tag. Read for the whole tenant whoever asks: it is what
   * screens a caller's answer, and a gauge flagged at another site flags the records that name it.
   */
  async flags(tenantId: string): Promise<Map<string, ExportFlag>> {
    const rows = await this.repo.flags(wholeTenant(tenantId));
    return new Map(rows.map((r) => [r.tag, { regime: r.export_regime, eccn: r.export_eccn }]));
  }

  /**
   * For a reader not cleared for export-controlled data: a test of whether a text (an audit
   * entry) names any of the tenant's flagged equipment as a whole word, from `flags` (every
   * site's: an entry may name equipment of a site the reader does not see). Null for a cleared
   * reader, or when nothing is flagged.
   */
  async namesFlagged(v: Pick<Viewer, 'tenantId' | 'cleared'>): Promise<((text: string) => boolean) | null> {
    if (v.cleared) return null;
    const tags = [...(await this.flags(v.tenantId)).keys()];
    if (tags.length === 0) return null;
    const escaped = tags.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    const named = new RegExp(`(?<![A-Za-z0-9_-])(?:${escaped.join('|')})(?![A-Za-z0-9_-])`);
    return (text) => named.test(text);
  }

  /** One register entry's flag (null: not flagged, or no such entry), read as `flags` is. */
  async flagOf(tenantId: string, tag: string): Promise<ExportFlag | null> {
    const row = await this.repo.flagOf(wholeTenant(tenantId), tag);
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
      await this.repo.insertAccess(
        viewer.tenantId,
        objects.map((o) => ({
          id: randomUUID(),
          at,
          user_id: viewer.kind === 'user' ? viewer.id : null,
          principal: principalOf(viewer),
          object_type: o.type,
          object_id: o.id,
          regime: o.flag.regime,
          eccn: o.flag.eccn,
          address: viewer.address,
          route: viewer.route,
        })),
      );
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

  /**
   * Logs the usage and inspection records `viewer` is served that involve export-controlled
   * equipment (the record's own, or a gauge it names: `recordFlag`), together with `also` (other
   * flagged objects the same answer serves), in one entry. Which records a reader is served is
   * decided in the query (`recordVisibleSql`): a reader not cleared is never served one, so only
   * a cleared reader's answer is logged here.
   */
  async logRecordsServed(
    viewer: ExportCaller,
    items: readonly { edge: string; seq: number; kind: string; equipment: string; record: unknown }[],
    also: readonly AccessedObject[] = [],
  ): Promise<void> {
    const flags = await this.flags(viewer.tenantId);
    if (flags.size === 0) return;
    const served: AccessedObject[] = [...also];
    for (const i of items) {
      const flag = recordFlag(i.equipment, i.record, flags);
      if (flag) served.push({ type: i.kind as 'usage' | 'inspection', id: `${i.edge}:${i.seq}`, flag });
    }
    await this.logAccess(viewer, served);
  }

  /**
   * Export control for one piece of equipment a caller names (a path's `{tag}`, or the equipment
   * of a calibration named by id), before the feature reads it: flagged and the caller not
   * cleared, the refusal is audited (`refused`) and the answer is 404 as for an absent tag (or,
   * with `calibrationId`, as for an absent calibration); flagged and cleared, the access is logged
   * (the equipment, and the calibration when one is named, in one entry). Returns the flag (null:
   * not flagged, or no such entry, which the feature's own read answers).
   */
  async equipmentNamed(
    caller: ExportCaller,
    tag: string,
    calibrationId?: string,
  ): Promise<ExportFlag | null> {
    const flag = await this.flagOf(caller.tenantId, tag);
    if (!flag) return null;
    if (!caller.cleared) {
      await this.refused(caller, { type: 'equipment', id: tag, flag });
      throw calibrationId === undefined
        ? new ProblemError('CLOUD_NOT_FOUND', 'no such equipment')
        : new ProblemError('CLOUD_NOT_FOUND', 'no such calibration');
    }
    await this.logAccess(caller, [
      { type: 'equipment', id: tag, flag },
      ...(calibrationId === undefined ? [] : [{ type: 'calibration' as const, id: calibrationId, flag }]),
    ]);
    return flag;
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

  /**
   * The access log, oldest first, paged by (at, id). It names export-controlled objects: only a
   * reader cleared for them may read it (403 to any other; API tokens never are).
   */
  async list(
    reader: Viewer,
    q: {
      from?: string | undefined;
      to?: string | undefined;
      after?: { at: string; id: string } | undefined;
      limit: number;
    },
  ): Promise<{ items: ExportAccessRow[]; next: string | null }> {
    mustReadAccessLog(reader);
    const items = await this.repo.list(reader, q);
    const last = items.at(-1);
    return { items, next: items.length === q.limit && last ? `${last.at}~${last.id}` : null };
  }
}

/**
 * Who may read the export-access log, through `GET /export-access` or as a report: it names
 * export-controlled objects (tag, regime, ECCN), so only a reader cleared for them (a US person;
 * never an API token). 403 to any other.
 */
export function mayReadAccessLog(reader: { cleared: boolean }): boolean {
  return reader.cleared;
}

/** `mayReadAccessLog`, or 403. */
export function mustReadAccessLog(reader: { cleared: boolean }): void {
  if (!mayReadAccessLog(reader))
    throw new ProblemError(
      'CLOUD_FORBIDDEN',
      'the export-access log names export-controlled equipment: only users cleared for it (US persons) may read it',
    );
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
