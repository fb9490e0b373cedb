import { calibrationApi, certificateApi, chainApi, positionApi } from './calibration/index.js';
import { spcApi } from './spc/index.js';
import { authApi, usersApi } from './access/index.js';
import { auditApi } from './audit/index.js';
import { enrollmentApi, tenancyApi } from './tenancy/index.js';
import { recordsApi } from './records/index.js';
import { reportsApi } from './reports/index.js';
import { exportControlApi } from './export-control/index.js';
import { remindersApi } from './reminders/index.js';
import { liveApi, liveSocketSchemas, socketEventsDocument } from './live/index.js';
import { ootApi } from './oot/index.js';
import { maintenanceApi } from './maintenance/index.js';
import { operatorApi } from './operator/index.js';
import { platformApi, problemSchema } from './platform/http/platform-api.js';
import {
  jsonSchemaOf,
  openApiComponents,
  openApiPaths,
  type OperationSpec,
} from './platform/http/contract.js';

/**
 * Every route of the API, each a contract written as zod schemas (platform/http/contract.ts): the
 * document's paths, parameters, request bodies, responses and component schemas are generated
 * from the very schemas the routes validate their input with and (under test) check their answers
 * against.
 */
export const apiOperations: readonly OperationSpec[] = [
  ...Object.values(platformApi),
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
  ...Object.values(operatorApi),
];

/**
 * The cloud's OpenAPI 3.1 document, served at GET /api/v1/openapi.json, generated from
 * `apiOperations` (only the security schemes are written here). A test walks every documented
 * path against the running app (api-contract.test.ts), another checks the document against the
 * schemas (openapi-schemas.test.ts); the portal's API types are generated from it.
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
      ...openApiComponents(apiOperations, liveSocketSchemas),
      Problem: jsonSchemaOf(problemSchema, 'output'),
    },
  },
  /**
   * The socket.io messages (path /socket.io, API.md "Live updates"): what the server pushes and
   * what the client sends, by event name; the payloads are components, so the portal's socket
   * client reads their types.
   */
  'x-socket-events': socketEventsDocument(),
  paths: {
    ...openApiPaths(apiOperations),
  },
} as const;
