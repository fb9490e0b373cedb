import { calibrationApi, certificateApi, chainApi, positionApi } from './calibration/index.js';
import { spcApi } from './spc/index.js';
import { authApi, usersApi } from './access/index.js';
import { auditApi } from './audit/index.js';
import { enrollmentApi, tenancyApi } from './tenancy/index.js';
import { recordsApi } from './records/index.js';
import { reportsApi } from './reports/index.js';
import { exportControlApi } from './export-control/index.js';
import { remindersApi } from './reminders/index.js';
import { liveApi } from './live/index.js';
import { ootApi } from './oot/index.js';
import { maintenanceApi } from './maintenance/index.js';
import { problem } from './platform/http/openapi-parts.js';
import { openApiPaths, type OperationSpec } from './platform/http/contract.js';

/**
 * Every route whose contract is written as zod schemas (platform/http/contract.ts): the document's
 * paths, parameters, request bodies and responses for these are generated from the very schemas
 * the routes validate with.
 */
export const apiOperations: readonly OperationSpec[] = [
  ...Object.values(recordsApi),
  ...Object.values(enrollmentApi),
  ...Object.values(spcApi),
  ...Object.values(tenancyApi),
  ...Object.values(authApi),
  ...Object.values(usersApi),
  ...Object.values(auditApi),
  ...Object.values(remindersApi),
  ...Object.values(reportsApi),
  ...Object.values(exportControlApi),
  ...Object.values(maintenanceApi),
  ...Object.values(ootApi),
  ...Object.values(calibrationApi),
  ...Object.values(chainApi),
  ...Object.values(positionApi),
  ...Object.values(liveApi),
  ...Object.values(certificateApi),
];

/**
 * The cloud's OpenAPI 3.1 document, served at GET /api/v1/openapi.json: the paths of
 * `apiOperations` are generated from the routes' zod schemas; the rest (/health, /openapi.json,
 * /ingest with the Batch and Record schemas) is still written by hand. A test walks every
 * documented path against the running app (api-contract.test.ts), another checks the generated
 * parts against the schemas (openapi-schemas.test.ts).
 */

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'RigTrace cloud API',
    version: '1',
    description:
      'Enrollment of edges, verified ingest of record batches, and tenant-scoped reads of records and evidence. Every error is application/problem+json with a stable `code`.',
  },
  servers: [{ url: '/api/v1' }],
  components: {
    securitySchemes: {
      apiToken: {
        type: 'http',
        scheme: 'bearer',
        description:
          'A tenant API token (rt_api_…) from `rigtrace-cloud token api`: a read-only service account with the auditor role.',
      },
      sessionCookie: {
        type: 'apiKey',
        in: 'cookie',
        name: 'rt_session',
        description:
          'The session cookie set by POST /auth/login (`__Host-rt_session` outside localhost). State-changing requests also send X-CSRF-Token.',
      },
    },
    schemas: {
      Problem: {
        type: 'object',
        required: ['type', 'title', 'status', 'code'],
        properties: {
          type: { type: 'string' },
          title: { type: 'string' },
          status: { type: 'integer' },
          detail: { type: 'string' },
          instance: { type: 'string' },
          code: { type: 'string', description: 'Stable error code, e.g. CLOUD_BATCH_REFUSED' },
          expectedSeq: { type: 'integer', description: 'On 409: the seq the cloud expects next' },
          problems: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                code: { type: 'string' },
                message: { type: 'string' },
                seq: { type: 'integer' },
                index: { type: 'integer' },
                path: { type: 'string' },
              },
            },
          },
          errors: {
            type: 'array',
            items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } },
          },
        },
      },
      Batch: {
        type: 'object',
        required: ['v', 'edge', 'records', 'checkpoint'],
        properties: {
          v: { const: 1 },
          edge: { type: 'string' },
          records: {
            type: 'array',
            minItems: 1,
            maxItems: 1000,
            items: { $ref: '#/components/schemas/Record' },
          },
          checkpoint: {
            type: 'string',
            description: 'C2SP signed-note checkpoint covering exactly these records',
          },
        },
      },
      Record: {
        type: 'object',
        description: "See protocols/RECORDS.md for every field and each kind's body.",
        required: [
          'v',
          'id',
          'edge',
          'seq',
          'kind',
          'equipment',
          'observedAt',
          'receivedAt',
          'source',
          'body',
        ],
        properties: {
          v: { const: 1 },
          id: { type: 'string', format: 'uuid' },
          edge: { type: 'string' },
          seq: { type: 'integer', minimum: 1 },
          kind: { enum: ['calibration', 'usage', 'inspection', 'telemetry', 'event'] },
          equipment: { type: 'string' },
          observedAt: { type: 'string', format: 'date-time' },
          receivedAt: { type: 'string', format: 'date-time' },
          source: { type: 'object' },
          body: { type: 'object' },
        },
      },
      Edge: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          siteId: { type: 'string' },
          name: { type: 'string' },
          publicKey: { type: 'string', description: 'base64 Ed25519 public key' },
          enrolledAt: { type: 'string', format: 'date-time' },
          lastContactAt: { type: ['string', 'null'], format: 'date-time' },
          log: {
            type: 'object',
            properties: { size: { type: 'integer' }, root: { type: ['string', 'null'] } },
          },
          checkpoint: { type: ['string', 'null'] },
        },
      },
      EvidenceBundle: {
        type: 'object',
        required: ['v', 'edge', 'verifierKey', 'checkpoint', 'records'],
        properties: {
          v: { const: 1 },
          edge: { type: 'string' },
          verifierKey: { type: 'string', description: 'signed-note verifier key of the edge' },
          checkpoint: { type: 'string', description: 'the edge-signed, cloud-countersigned checkpoint' },
          records: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                record: { $ref: '#/components/schemas/Record' },
                index: { type: 'integer' },
                proof: { type: 'array', items: { type: 'string' } },
              },
            },
          },
        },
      },
    },
  },
  paths: {
    '/health': { get: { summary: 'Liveness', responses: { '200': { description: 'ok' } } } },
    '/openapi.json': {
      get: { summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1' } } },
    },
    '/ingest': {
      post: {
        summary: 'Send a signed batch of records',
        description:
          'Accepted only if the checkpoint is signed by the edge, the records continue the stored log exactly, and the recomputed root equals the checkpoint root. Re-sent records are acknowledged without being stored twice.',
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Batch' } } },
        },
        responses: {
          '200': { description: '{ ackedSeq, accepted, duplicates, checkpoint (countersigned) }' },
          '400': problem,
          '403': problem,
          '409': { ...problem, description: 'Not continuous (expectedSeq tells where to resume) or a fork' },
          '413': problem,
          '422': {
            ...problem,
            description: 'Does not verify (signature, root, schema, changed re-sent record)',
          },
        },
      },
    },
    ...openApiPaths(apiOperations),
  },
} as const;
