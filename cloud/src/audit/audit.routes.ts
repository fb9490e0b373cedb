import { Router } from 'express';
import { z } from 'zod';
import { type Accounts, type Viewer, actorOfRequest, viewerOf } from '../access/index.js';
import { NDJSON, dateTime, mount, operation } from '../platform/http/contract.js';
import { parseQuery } from '../platform/http/validation.js';
import { AuditService } from './audit.service.js';

/** What tells an audit entry that names export-controlled equipment (ExportControlService). */
export interface FlaggedNames {
  namesFlagged(v: Viewer): Promise<((text: string) => boolean) | null>;
}

/** A page of an audit log: after which seq, how many (the operators' log takes the same). */
export const pageQuery = z.strictObject({
  afterSeq: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
const exportQuery = z.strictObject({ afterSeq: z.coerce.number().int().min(0).default(0) });

/** The tenant's audit trail: pages, verification, and a JSON-lines export for a SIEM (audit:read). */
export function auditRoutes(accounts: Accounts, exportControl: FlaggedNames): Router {
  const r = Router();
  const guard = accounts.require('audit:read');
  const audit = accounts.audit;

  mount(r, auditApi.page, guard, async (req, res) => {
    const q = parseQuery(auditApi.page, req);
    const v = viewerOf(req);
    const rows = await audit.page(v, q.afterSeq, q.limit);
    // Entries naming export-controlled equipment are withheld from readers not cleared (ACCOUNTS.md).
    const withhold = (await exportControl.namesFlagged(v)) ?? undefined;
    const items = rows.map((row) => AuditService.view(row, withhold));
    res.json({ items, next: items.length === q.limit ? items.at(-1)!.seq : null });
  });

  mount(r, auditApi.verify, guard, async (req, res) => {
    res.json(await audit.verify(viewerOf(req).tenantId));
  });

  /**
   * JSON lines, one entry per line with its leaf hash and signed checkpoint, from `afterSeq` on:
   * a SIEM polls with the last seq it has. The export itself is audited.
   */
  mount(r, auditApi.export, guard, async (req, res) => {
    const q = parseQuery(auditApi.export, req);
    const v = viewerOf(req);
    const tenantId = v.tenantId;
    await audit.record({
      tenantId,
      action: 'audit.export',
      outcome: 'success',
      actor: actorOfRequest(req),
      address: req.ip ?? null,
      detail: `after seq ${q.afterSeq}`,
    });
    const withhold = (await exportControl.namesFlagged(v)) ?? undefined;
    res.type(NDJSON);
    let after = q.afterSeq;
    for (;;) {
      const rows = await audit.page(v, after, 1000);
      for (const row of rows) res.write(`${JSON.stringify(AuditService.view(row, withhold))}\n`);
      if (rows.length < 1000) break;
      after = rows.at(-1)!.seq;
    }
    res.end();
  });

  return r;
}

// ---------------------------------------------------------------------------------------------
// The routes' contracts: the API document is written from these schemas (openapi.ts).

const auditEntry = z.object({
  v: z.literal(1),
  seq: z.int(),
  tenant: z.string(),
  at: dateTime,
  action: z.string(),
  outcome: z.enum(['success', 'failure']),
  actor: z.object({
    type: z.enum(['user', 'api-token', 'system', 'edge', 'anonymous']),
    id: z.string(),
    email: z.string().optional(),
    name: z.string().optional().describe('the signer’s name, on the entries of an electronic signature'),
    role: z.string().optional(),
  }),
  address: z.string().nullable(),
  target: z.object({ type: z.string(), id: z.string() }).optional(),
  before: z.unknown().optional(),
  after: z.unknown().optional(),
  detail: z.string().optional(),
});
/** One entry of an audit log as the routes return it (the operators' log too). */
export const auditItem = z.object({
  seq: z.int(),
  entry: auditEntry.describe('the entry as stored (without target, before, after, detail when withheld)'),
  leafHash: z.string().describe('base64 of the entry’s leaf hash in the audit log'),
  checkpoint: z.string().describe('the signed checkpoint of the log after this entry'),
  withheld: z
    .literal('export-controlled')
    .optional()
    .describe('what it was done to is withheld: it names export-controlled equipment'),
});
const verification = z.union([
  z.object({ ok: z.literal(true), size: z.int(), root: z.string(), checkpoint: z.string().nullable() }),
  z.object({
    ok: z.literal(false),
    size: z.int(),
    verified: z.int(),
    firstBad: z.object({ seq: z.int(), reason: z.string() }),
  }),
]);

/** The audit routes' contracts (served by auditRoutes, documented by openapi.ts). */
export const auditApi = {
  page: operation({
    method: 'get',
    path: '/audit',
    summary: "The tenant's audit trail, oldest first (admin, auditor, API tokens)",
    query: pageQuery,
    responses: {
      '200': z.object({ items: z.array(auditItem), next: z.int().nullable() }).describe('{ items, next }'),
    },
    errors: [400, 401, 403],
  }),
  verify: operation({
    method: 'get',
    path: '/audit/verify',
    summary: 'Recompute the audit log and name the first entry that does not verify',
    responses: {
      '200': verification.describe(
        '{ ok: true, size, root, checkpoint } or { ok: false, size, verified, firstBad: { seq, reason } }',
      ),
    },
    errors: [401, 403],
  }),
  export: operation({
    method: 'get',
    path: '/audit/export',
    summary: 'The audit trail as JSON lines for a SIEM, from afterSeq on (audited)',
    query: exportQuery,
    responses: {
      '200': {
        description: 'JSON lines: one { seq, entry, leafHash, checkpoint, withheld? } per line, oldest first',
        ndjson: auditItem,
      },
    },
    errors: [400, 401, 403],
  }),
} as const;
