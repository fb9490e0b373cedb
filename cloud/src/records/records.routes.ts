import { Router, type Request } from 'express';
import {
  MAX_BATCH_RECORDS,
  RECORD_KINDS,
  batchEnvelopeSchema,
  recordSchema,
  toBase64,
} from '@rigtrace/protocols';
import { z } from 'zod';
import { ProblemError } from '../platform/errors.js';
import { component, dateTime, mount, operation } from '../platform/http/contract.js';
import { problem } from '../platform/http/openapi-parts.js';
import { parseQuery, rawJsonBody } from '../platform/http/validation.js';
import type { RecordsRepository } from './records.repository.js';
import type { EdgeRow, TenancyRepository } from '../tenancy/index.js';
import type { IngestService } from './ingest.service.js';
import type { EvidenceService } from './evidence.service.js';
import type { Witness } from '../platform/witness.js';
import { type Accounts, viewerOf as readerOf } from '../access/index.js';
import {
  exportCallerOf,
  flagOfStoredRecord,
  type AccessedObject,
  type ExportControlService,
  type ExportFlag,
} from '../export-control/index.js';
import type { NamedPosition, TraceabilityService } from '../calibration/index.js';

const recordsQuery = z.strictObject({
  edge: z.string().max(128).optional(),
  kind: z.enum(RECORD_KINDS).optional(),
  equipment: z.string().max(64).optional(),
  afterSeq: z.coerce.number().int().min(0).optional().describe('with edge: records after this seq'),
  after: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,128}:\d{1,15}$/, 'a cursor from a previous page (edge:seq)')
    .transform((c) => {
      const i = c.lastIndexOf(':');
      return { edge: c.slice(0, i), seq: Number(c.slice(i + 1)) };
    })
    .optional()
    .describe('cursor: the `next` of the previous page'),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

const evidenceQuery = z.strictObject({
  seq: z
    .string()
    .regex(/^\d+(,\d+)*$/, 'comma-separated seq numbers')
    .transform((s) => [...new Set(s.split(',').map(Number))])
    .refine((a) => a.length <= 1000, 'at most 1000 records per bundle'),
});

function edgeView(e: EdgeRow) {
  return {
    id: e.id,
    siteId: e.site_id,
    name: e.name,
    publicKey: toBase64(new Uint8Array(e.public_key)),
    enrolledAt: e.enrolled_at,
    lastContactAt: e.last_contact_at,
    log: { size: e.log_size, root: e.log_root ? toBase64(new Uint8Array(e.log_root)) : null },
  };
}

export function recordsRoutes(deps: {
  tenancy: TenancyRepository;
  records: RecordsRepository;
  ingest: IngestService;
  witness: Witness;
  accounts: Accounts;
  exportControl: ExportControlService;
  /** Evidence bundles (GET /edges/{edgeId}/evidence). */
  evidence: EvidenceService;
  /** Resolves the positions records name to the devices installed there (app.ts passes it). */
  traceability?: Pick<TraceabilityService, 'namedPositions'>;
}): Router {
  const r = Router();
  // API tokens read as the auditor role; users by their role, limited to their sites.
  const auth = deps.accounts.require('records:read');
  const evidenceAuth = deps.accounts.require('evidence:read');
  // Export control (ITAR/EAR) on raw records: a record is flagged when its equipment, or a gauge it
  // names, is flagged in the register (recordFlag); served only to cleared users, and logged.
  const exportControl = deps.exportControl;

  mount(r, recordsApi.witness, (_req, res) => {
    res.json(deps.witness.describe());
  });

  mount(r, recordsApi.ingest, async (req, res) => {
    // The edge's unsent-record count, for the admin's edges page; ignored unless a plain integer.
    const backlog = /^\d{1,15}$/.exec(req.get('x-rigtrace-backlog') ?? '')?.[0];
    try {
      // The body's bytes as sent go to a verify worker as they are: cheaper to hand over than the parsed batch.
      const text = rawJsonBody(req);
      res.json(
        await deps.ingest.ingest(req.body, req.ip ?? '', {
          ...(backlog ? { backlog: Number(backlog) } : {}),
          ...(text ? { text } : {}),
        }),
      );
    } catch (err) {
      // The ingest limit (ingest-limit.ts): when to send again, in whole seconds.
      if (err instanceof ProblemError && err.code === 'CLOUD_RATE_LIMITED')
        res.setHeader('retry-after', String(Number(err.extensions.retryAfter ?? 1)));
      throw err;
    }
  });

  mount(r, recordsApi.edges, auth, async (req, res) => {
    const edges = await deps.tenancy.listEdges(readerOf(req));
    res.json({ items: edges.map(edgeView) });
  });

  const edgeOr404 = async (req: Request) => {
    const e = await deps.tenancy.edgeForTenant(readerOf(req), String(req.params.edgeId));
    if (!e) throw new ProblemError('CLOUD_NOT_FOUND', 'no such edge');
    return e;
  };

  mount(r, recordsApi.edge, auth, async (req, res) => {
    const e = await edgeOr404(req);
    const cp = await deps.records.latestCheckpoint(readerOf(req), e.id);
    res.json({ ...edgeView(e), checkpoint: cp?.cosigned_note ?? null });
  });

  mount(r, recordsApi.records, auth, async (req, res) => {
    const q = parseQuery(recordsApi.records, req);
    // A named edge the caller may not see is answered as an absent one would be.
    if (q.edge !== undefined) {
      if (!(await deps.tenancy.edgeForTenant(readerOf(req), q.edge)))
        throw new ProblemError('CLOUD_NOT_FOUND', 'no such edge');
    }
    const v = exportCallerOf(req, 'GET /records');
    // Records of other sites and export-controlled ones (of flagged equipment, or naming a
    // flagged gauge) are left out in the query (`recordVisible`), so a page is full and its
    // cursor names a record served. A cleared reader's flagged records are logged.
    const rows = await deps.records.list(v, q);
    const flags = v.cleared ? await exportControl.flags(v.tenantId) : new Map<string, ExportFlag>();
    const named = deps.traceability
      ? await deps.traceability.namedPositions(
          v,
          rows.map((x) => ({ edge: x.edge_id, seq: x.seq, observedAt: x.observed_at })),
        )
      : new Map<string, NamedPosition[]>();
    const served: AccessedObject[] = [];
    const items = rows.map((row) => {
      const flag = flagOfStoredRecord(row.json, flags);
      if (flag) served.push({ type: 'record', id: `${row.edge_id}:${row.seq}`, flag });
      return {
        edge: row.edge_id,
        seq: row.seq,
        ingestedAt: row.ingested_at,
        replayed: row.replayed === 1,
        positions: named.get(`${row.edge_id}:${row.seq}`) ?? [],
        record: JSON.parse(row.json) as unknown,
      };
    });
    await exportControl.logAccess(v, served);
    const last = rows.at(-1);
    res.json({
      items,
      // The cursor for the following page (pass it as `after`); null on the last page.
      next: rows.length === q.limit && last ? `${last.edge_id}:${last.seq}` : null,
    });
  });

  /**
   * An offline-verifiable evidence bundle: the chosen records, an inclusion proof for each
   * against the edge's latest accepted checkpoint (countersigned by this cloud), and the key.
   */
  mount(r, recordsApi.evidence, evidenceAuth, async (req, res) => {
    const e = await edgeOr404(req);
    const q = parseQuery(recordsApi.evidence, req);
    res.json(await deps.evidence.bundle(exportCallerOf(req, 'GET /edges/{edgeId}/evidence'), e, q.seq));
  });

  return r;
}

// ---------------------------------------------------------------------------------------------
// The routes' contracts: the API document is written from these (openapi.ts), the records, the
// batch and the evidence bundle as named components.

/** A signed record (protocols/RECORDS.md): the envelope and each kind's body. */
const recordAnswer = component(
  'Record',
  recordSchema.describe("A signed record; see protocols/RECORDS.md for every field and each kind's body."),
);
const batchBody = component(
  'Batch',
  batchEnvelopeSchema.extend({
    records: z.array(recordAnswer).min(1).max(MAX_BATCH_RECORDS),
    checkpoint: batchEnvelopeSchema.shape.checkpoint.describe(
      'C2SP signed-note checkpoint covering exactly these records',
    ),
  }),
);
const edgeAnswer = z.object({
  id: z.string(),
  siteId: z.string(),
  name: z.string(),
  publicKey: z.string().describe('base64 Ed25519 public key'),
  enrolledAt: dateTime,
  lastContactAt: dateTime.nullable(),
  log: z.object({ size: z.int(), root: z.string().nullable().describe('base64 Merkle root') }),
});
const edgeWithCheckpoint = component(
  'Edge',
  edgeAnswer.extend({
    checkpoint: z.string().nullable().describe('the latest accepted checkpoint, countersigned by this cloud'),
  }),
);
const evidenceAnswer = component(
  'EvidenceBundle',
  z.object({
    v: z.literal(1),
    edge: z.string(),
    verifierKey: z.string().describe('signed-note verifier key of the edge'),
    checkpoint: z.string().describe('the edge-signed, cloud-countersigned checkpoint'),
    records: z.array(
      z.object({
        record: recordAnswer,
        index: z.int().describe('0-based leaf index (seq − 1)'),
        proof: z.array(z.string()).describe('inclusion proof, base64 hashes'),
      }),
    ),
  }),
);

/** The record routes' contracts (served by recordsRoutes, documented by openapi.ts). */
export const recordsApi = {
  ingest: operation({
    method: 'post',
    path: '/ingest',
    summary: 'Send a signed batch of records',
    description:
      'Accepted only if the checkpoint is signed by the edge, the records continue the stored log exactly, and the recomputed root equals the checkpoint root. Re-sent records are acknowledged without being stored twice. The edge authenticates by its signature (no credentials); `X-RigTrace-Backlog` carries its count of unsent records.',
    security: [],
    body: batchBody,
    responses: {
      '200': z
        .object({
          ackedSeq: z.int().describe('the last seq the cloud holds: the edge resumes after it'),
          accepted: z.int(),
          duplicates: z.int().describe('re-sent records acknowledged without being stored twice'),
          checkpoint: z.string().describe('the checkpoint as accepted, countersigned by this cloud'),
        })
        .describe('{ ackedSeq, accepted, duplicates, checkpoint (countersigned) }'),
      '409': {
        ...problem,
        description: 'Not continuous (expectedSeq tells where to resume) or a fork',
      },
      '422': {
        ...problem,
        description: 'Does not verify (signature, root, schema, changed re-sent record)',
      },
    },
    errors: [400, 403, 413, 429],
  }),
  witness: operation({
    method: 'get',
    path: '/witness',
    summary: "The cloud's witness key, which countersigns every accepted checkpoint",
    security: [],
    responses: {
      '200': z
        .object({ name: z.string(), publicKey: z.string().describe('base64 Ed25519 public key') })
        .describe('{ name, publicKey }'),
    },
  }),
  edges: operation({
    method: 'get',
    path: '/edges',
    summary: "The tenant's edges",
    responses: { '200': z.object({ items: z.array(edgeAnswer) }).describe('{ items }') },
    errors: [401],
  }),
  edge: operation({
    method: 'get',
    path: '/edges/{edgeId}',
    summary: 'One edge, with its log size and latest countersigned checkpoint',
    responses: { '200': edgeWithCheckpoint },
    errors: [401, 404],
  }),
  records: operation({
    method: 'get',
    path: '/records',
    summary: "The tenant's records, in (edge, seq) order",
    description:
      'Only records of edges of the caller’s sites, and of export-controlled equipment only for cleared users; an edge the caller may not see answers 404, as an absent one.',
    query: recordsQuery,
    responses: {
      '200': z
        .object({
          items: z.array(
            z.object({
              edge: z.string(),
              seq: z.int(),
              ingestedAt: dateTime,
              replayed: z.boolean().describe('stored from a replay of an earlier batch'),
              positions: z
                .array(
                  z.object({
                    position: z.string().describe('the name a telemetry point or characteristic gives'),
                    label: z.string().describe('"RIG-01 / rail pressure"'),
                    device: z
                      .string()
                      .nullable()
                      .describe(
                        'the device installed in that position at the record’s observedAt; null: unresolved (nothing installed then, no such position, or a device the caller may not see)',
                      ),
                  }),
                )
                .describe('the positions the record names (RECORDS.md, "Positions"), resolved'),
              record: recordAnswer,
            }),
          ),
          next: z.string().nullable().describe('the cursor of the next page (`after`); null on the last'),
        })
        .describe('{ items: [{ edge, seq, ingestedAt, replayed, record }], next }'),
    },
    errors: [400, 401, 404],
  }),
  evidence: operation({
    method: 'get',
    path: '/edges/{edgeId}/evidence',
    summary: 'Offline-verifiable evidence bundle for chosen records',
    query: evidenceQuery,
    responses: { '200': evidenceAnswer },
    errors: [400, 401, 404],
  }),
} as const;
