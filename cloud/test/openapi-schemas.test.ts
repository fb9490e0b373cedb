import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { apiOperations, openApiDocument } from '../src/openapi.js';
import { auditApi } from '../src/audit/index.js';
import { maintenanceApi } from '../src/maintenance/index.js';
import { ootApi } from '../src/oot/index.js';
import { calibrationApi, chainApi } from '../src/calibration/index.js';
import { reportsApi } from '../src/reports/index.js';
import { REPORT_TYPES } from '../src/reports/types.js';
import { checkMessage, liveMessageSchemas } from '../src/live/live.messages.js';
import { jsonSchemaOf, paramsSchema, type OperationSpec } from '../src/platform/http/contract.js';

/**
 * The API document is written from the zod schemas the routes validate with: for every route
 * with a contract (platform/http/contract.ts), the documented request body, path and query
 * parameters and JSON responses are exactly the JSON Schema of those schemas, and the route
 * modules validate input only through such a contract.
 */

const SRC = fileURLToPath(new URL('../src/', import.meta.url));
type Op = Record<string, unknown> & {
  parameters?: { name: string; in: string; required?: boolean; schema: unknown; description?: string }[];
  requestBody?: { required: boolean; content: Record<string, { schema: unknown }> };
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
};
const documented = (op: OperationSpec): Op =>
  (openApiDocument.paths as unknown as Record<string, Record<string, Op>>)[op.path]![op.method]!;

/** An object schema's properties as the document states them: one parameter each. */
function parametersFrom(schema: z.ZodType, where: 'path' | 'query') {
  const js = jsonSchemaOf(schema, 'input') as { properties?: Record<string, object>; required?: string[] };
  return Object.entries(js.properties ?? {}).map(([name, s]) => {
    const { description, ...rest } = s as { description?: string };
    return {
      name,
      where,
      required: where === 'path' || (js.required ?? []).includes(name),
      schema: rest,
      description,
    };
  });
}

describe('the API document, generated from the routes’ schemas', () => {
  it('has routes with contracts', () => {
    expect(apiOperations.length).toBeGreaterThan(4);
  });

  for (const op of apiOperations) {
    it(`${op.method.toUpperCase()} ${op.path}: documents the body, parameters and responses it validates and answers`, () => {
      const doc = documented(op);
      if (op.body) {
        expect(doc.requestBody?.content['application/json']?.schema).toEqual(jsonSchemaOf(op.body, 'input'));
        expect(doc.requestBody?.required).toBe(!op.bodyOptional);
      } else expect(doc.requestBody).toBeUndefined();

      const params = (doc.parameters ?? []).map((p) => ({
        name: p.name,
        where: p.in,
        required: p.required === true,
        schema: p.schema,
        description: p.description,
      }));
      expect(params).toEqual([
        ...parametersFrom(paramsSchema(op), 'path'),
        ...(op.query ? parametersFrom(op.query, 'query') : []),
      ]);
      // Every `{name}` in the path is a documented path parameter.
      expect(params.filter((p) => p.where === 'path').map((p) => p.name)).toEqual(
        [...op.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]),
      );

      for (const [status, r] of Object.entries(op.responses)) {
        const schema = r instanceof z.ZodType ? r : r.schema;
        if (!schema) continue;
        const { description: _d, ...want } = jsonSchemaOf(schema, 'output');
        const got = doc.responses[status]?.content?.['application/json']?.schema as Record<string, unknown>;
        expect(r instanceof z.ZodType ? got : { ...got, description: undefined }).toEqual(
          r instanceof z.ZodType ? want : { ...jsonSchemaOf(schema, 'output'), description: undefined },
        );
      }
      for (const s of op.errors ?? [])
        expect(doc.responses[String(s)]?.content?.['application/problem+json']).toBeDefined();
    });
  }

  it('route modules with contracts validate input only through them (parseBody/parseQuery get an operation)', () => {
    const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((f) =>
      f.endsWith('.routes.ts'),
    );
    const bare: string[] = [];
    for (const f of files) {
      const text = readFileSync(path.join(SRC, f), 'utf8');
      if (!text.includes('operation(')) continue;
      for (const m of text.matchAll(/\bparse(?:Body|Query|Params)\(\s*([^,]+),/g))
        if (!/^\w+Api\.\w+$/.test(m[1]!.trim())) bare.push(`${f}: ${m[0]}`);
      expect(text, `${f} writes OpenAPI by hand beside its contracts`).not.toMatch(/OpenApiPaths\s*=/);
    }
    expect(bare).toEqual([]);
  });

  it('every route answers JSON only through a zod schema: no JSON Schema written by hand, no JSON answer undocumented', () => {
    const bare: string[] = [];
    for (const op of apiOperations)
      for (const [status, r] of Object.entries(op.responses)) {
        if (r instanceof z.ZodType || Number(status) >= 400) continue;
        const where = `${op.method.toUpperCase()} ${op.path} ${status}`;
        if (r.content?.['application/json']) bare.push(`${where}: hand-written JSON Schema`);
        // JSON lines and CSV are documented through the contract (`ndjson`, `csv`), never by hand.
        if (r.content?.['application/x-ndjson']) bare.push(`${where}: JSON lines without a line schema`);
        if (r.content?.['text/csv']) bare.push(`${where}: CSV without its columns`);
        // A success without a zod schema carries no body (204) or a file (PDF, XML), or streams
        // documented lines (NDJSON) or columns (CSV).
        if (!r.schema && !r.ndjson && !r.csv && !r.content && status !== '204')
          bare.push(`${where}: an answer without a schema`);
      }
    expect(bare).toEqual([]);
  });

  it('a JSON-lines stream documents the schema of one line, a CSV answer its columns', () => {
    const streams = apiOperations.flatMap((op) =>
      Object.entries(op.responses).flatMap(([status, r]) =>
        r instanceof z.ZodType ? [] : [{ op, status, r, doc: documented(op).responses[status]! }],
      ),
    );
    const ndjson = streams.filter((x) => x.r.ndjson);
    expect(ndjson.map((x) => `${x.op.method} ${x.op.path}`)).toContain('get /audit/export');
    for (const { r, doc } of ndjson) {
      const media = doc.content?.['application/x-ndjson'] as unknown as Record<string, unknown>;
      expect(media['x-ndjson-item']).toEqual(jsonSchemaOf(r.ndjson!, 'output'));
      expect(media.schema).toMatchObject({ type: 'string' });
    }
    // The audit export's line: { seq, entry, leafHash, checkpoint, withheld? }.
    const audit = documented(auditApi.export).responses['200']!.content![
      'application/x-ndjson'
    ] as unknown as {
      'x-ndjson-item': { required: string[]; properties: Record<string, unknown> };
    };
    expect(audit['x-ndjson-item'].required).toEqual(['seq', 'entry', 'leafHash', 'checkpoint']);
    expect(Object.keys(audit['x-ndjson-item'].properties)).toContain('withheld');

    const csv = streams.filter((x) => x.r.csv);
    expect(csv.map((x) => `${x.op.method} ${x.op.path}`).sort()).toEqual([
      'get /equipment/{tag}/suspect-chain/records',
      'get /equipment/{tag}/suspect-records',
      'get /oot-cases/{id}/suspects.csv',
      'get /reports/{id}/file',
    ]);
    for (const { r, doc } of csv) {
      const media = doc.content?.['text/csv'] as unknown as Record<string, unknown>;
      expect(media['x-csv-columns']).toEqual(
        Array.isArray(r.csv!.columns) ? [...(r.csv!.columns as string[])] : r.csv!.columns,
      );
    }
    // The suspect lists name whether a record names the position the device sat in.
    for (const op of [calibrationApi.suspectRecords, ootApi.suspectsCsv, chainApi.suspectChainRecords]) {
      const media = documented(op).responses['200']!.content!['text/csv'] as unknown as {
        'x-csv-columns': string[];
      };
      expect(media['x-csv-columns']).toEqual(expect.arrayContaining(['via', 'position', 'named']));
    }
    const reports = documented(reportsApi.file).responses['200']!.content!['text/csv'] as unknown as {
      'x-csv-columns': Record<string, string[]>;
    };
    expect(Object.keys(reports['x-csv-columns']).sort()).toEqual([...REPORT_TYPES].sort());
    expect(reports['x-csv-columns']['out-of-tolerance']).toEqual(
      expect.arrayContaining(['position', 'named']),
    );
  });

  /** The operations routes at the root (for the monitoring network; API.md, Operations). */
  const OPS = ['/healthz', '/readyz', '/metrics'];
  it('route modules serve every route through its contract (mount), so its answers are checked under test', () => {
    const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
    const direct: string[] = [];
    for (const f of files) {
      if (f.endsWith('.test.ts')) continue;
      const text = readFileSync(path.join(SRC, f), 'utf8');
      for (const m of text.matchAll(
        /\b(?:r|router|app|own)\.(?:get|post|put|patch|delete)\(\s*['"`](\/[^'"`]*)/g,
      ))
        if (!OPS.includes(m[1]!)) direct.push(`${f}: ${m[0]}`);
    }
    expect(direct).toEqual([]);
  });

  /** Features whose request fields are all described. */
  const described: Record<string, Record<string, OperationSpec>> = {
    auditApi,
    maintenanceApi,
    ootApi,
  };
  for (const [name, api] of Object.entries(described))
    it(`${name}: every request field is described`, () => {
      for (const op of Object.values(api)) {
        if (!op.body) continue;
        const props = (jsonSchemaOf(op.body, 'input').properties ?? {}) as Record<
          string,
          { description?: string }
        >;
        const bare = Object.entries(props)
          .filter(([, s]) => !s.description)
          .map(([k]) => k);
        expect(bare, `${op.method} ${op.path}: request fields without a description`).toEqual([]);
      }
    });
});

describe('the socket.io messages, in the API document', () => {
  const doc = openApiDocument as unknown as {
    'x-socket-events': {
      server: Record<string, { payload: { $ref: string } }>;
      client: Record<string, { payload: { $ref: string }; ack: { $ref: string } }>;
    };
    components: { schemas: Record<string, unknown> };
  };

  it('lists every event the server pushes and the client sends, each payload a component', () => {
    const events = doc['x-socket-events'];
    expect(Object.keys(events.server).sort()).toEqual(Object.keys(liveMessageSchemas).sort());
    expect(Object.keys(events.client).sort()).toEqual(['subscribe', 'unsubscribe']);
    const refs = [
      ...Object.values(events.server).map((e) => e.payload.$ref),
      ...Object.values(events.client).flatMap((e) => [e.payload.$ref, e.ack.$ref]),
    ];
    for (const ref of refs) {
      const name = /^#\/components\/schemas\/(\w+)$/.exec(ref)?.[1];
      expect(name, ref).toBeDefined();
      expect(doc.components.schemas[name!], ref).toBeDefined();
    }
    // The document's component is the JSON Schema of the message's zod schema.
    expect(jsonSchemaOf(liveMessageSchemas.rig, 'output')).toEqual({ $ref: '#/components/schemas/LiveRig' });
    expect(doc.components.schemas.LiveRig).toMatchObject({
      type: 'object',
      required: ['siteId', 'edgeId', 'equipment', 'kind', 'state', 'observedAt'],
    });
  });

  it('under test, a message off its schema is not pushed', () => {
    const rig = {
      siteId: 'plant-1',
      edgeId: 'edge-1',
      equipment: 'RIG-01',
      kind: 'rig',
      state: 'running',
      observedAt: '2026-01-01T00:00:00.000Z',
    };
    expect(() => checkMessage('rig', rig)).not.toThrow();
    expect(() => checkMessage('rig', { ...rig, state: 'dancing' })).toThrow(
      /live message rig off its schema/,
    );
    // A field the schema does not describe would be pushed but missing from the document.
    expect(() => checkMessage('rig', { ...rig, edgeSecret: 'x' })).toThrow(
      /fields the schema does not describe: edgeSecret/,
    );
  });
});
