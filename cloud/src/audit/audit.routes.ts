import { Router, type Request } from 'express';
import { z } from 'zod';
import { type Accounts, actorOfRequest, principalOf } from '../access/index.js';
import { parseOrProblem } from '../platform/errors.js';
import { AuditService } from './audit.service.js';

const pageQuery = z.strictObject({
  afterSeq: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
const exportQuery = z.strictObject({ afterSeq: z.coerce.number().int().min(0).default(0) });

function query<T extends z.ZodType>(schema: T, req: Request): z.output<T> {
  return parseOrProblem(schema, req.query, 'query parameters are not valid');
}

/** The tenant's audit trail: pages, verification, and a JSON-lines export for a SIEM (audit:read). */
export function auditRoutes(accounts: Accounts): Router {
  const r = Router();
  const guard = accounts.require('audit:read');
  const audit = accounts.audit;

  /** Entries naming export-controlled equipment are withheld from readers not cleared (ACCOUNTS.md). */
  const withholdFor = (req: Request) => {
    const p = principalOf(req);
    return audit.withholdFor(p.tenantId, p.kind === 'user' && p.usPerson === true);
  };

  r.get('/audit', guard, async (req, res) => {
    const q = query(pageQuery, req);
    const rows = await audit.page(principalOf(req).tenantId, q.afterSeq, q.limit);
    const withhold = (await withholdFor(req)) ?? undefined;
    const items = rows.map((row) => AuditService.view(row, withhold));
    res.json({ items, next: items.length === q.limit ? items.at(-1)!.seq : null });
  });

  r.get('/audit/verify', guard, async (req, res) => {
    res.json(await audit.verify(principalOf(req).tenantId));
  });

  /**
   * JSON lines, one entry per line with its leaf hash and signed checkpoint, from `afterSeq` on:
   * a SIEM polls with the last seq it has. The export itself is audited.
   */
  r.get('/audit/export', guard, async (req, res) => {
    const q = query(exportQuery, req);
    const tenantId = principalOf(req).tenantId;
    await audit.record({
      tenantId,
      action: 'audit.export',
      outcome: 'success',
      actor: actorOfRequest(req),
      address: req.ip ?? null,
      detail: `after seq ${q.afterSeq}`,
    });
    const withhold = (await withholdFor(req)) ?? undefined;
    res.type('application/x-ndjson');
    let after = q.afterSeq;
    for (;;) {
      const rows = await audit.page(tenantId, after, 1000);
      for (const row of rows) res.write(`${JSON.stringify(AuditService.view(row, withhold))}\n`);
      if (rows.length < 1000) break;
      after = rows.at(-1)!.seq;
    }
    res.end();
  });

  return r;
}
