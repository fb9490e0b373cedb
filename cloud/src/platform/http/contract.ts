import type { RequestHandler, Response, Router } from 'express';
import { z } from 'zod';
import { problem, tokenOrSession } from './openapi-parts.js';

/**
 * A route's contract: its method and path, the zod schemas it validates its path parameters,
 * query string and JSON body with, and the zod schemas of what it answers. The route reads its
 * input through these very schemas (`parseBody(op, req)`, `parseQuery(op, req)`,
 * `parseParams(op, req)`) and openapi.ts writes the API document from them (`openApiPaths`), so
 * what is validated and what is documented cannot drift apart.
 */
export interface OperationSpec {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** The path below /api/v1, with OpenAPI `{name}` parameters (mounted as express `:name`). */
  path: string;
  summary: string;
  description?: string;
  /** Who may call it: `tokenOrSession` (default), `sessionOnly`, or `[]` for no credentials. */
  security?: readonly Record<string, readonly string[]>[];
  /** The path parameters; undefined: each `{name}` of the path is a string. */
  params?: z.ZodObject;
  /** The query string: a (strict) object of its parameters (possibly refined or transformed). */
  query?: z.ZodType;
  /** The JSON request body. */
  body?: z.ZodType;
  /** The body may be absent (parsed as `{}`); default: required. */
  bodyOptional?: boolean;
  /** What it answers, by status: a zod schema of the JSON, or a response described by hand. */
  responses: Readonly<Record<string, ResponseSpec>>;
  /** Statuses answered with application/problem+json (RFC 7807). */
  errors?: readonly number[];
}

/** One response: its JSON as a zod schema, or (no JSON body, or not JSON) a description and content. */
export type ResponseSpec =
  | z.ZodType
  | {
      description: string;
      /** The JSON body (application/json), written out from this schema's output. */
      schema?: z.ZodType;
      /**
       * A stream of JSON lines (application/x-ndjson): the schema of one line. Documented as the
       * media type's `x-ndjson-item` (OpenAPI 3.2's `itemSchema`, an extension while the document is
       * 3.1); under test every line streamed is checked against it.
       */
      ndjson?: z.ZodType;
      /**
       * A CSV answer (text/csv): its columns, in order (the header line), or the column lists by
       * variant (a report's type). Documented as the media type's `x-csv-columns`; under test the
       * header line streamed must be one of them.
       */
      csv?: { columns: CsvColumns; description?: string };
      /** Other media types (PDF, XML, …), as OpenAPI content objects. */
      content?: Readonly<Record<string, unknown>>;
      headers?: Readonly<Record<string, unknown>>;
    };

/** A CSV answer's columns (its header line), or the column lists by variant. */
export type CsvColumns = readonly string[] | Readonly<Record<string, readonly string[]>>;

/** The media type of a JSON-lines stream. */
export const NDJSON = 'application/x-ndjson';

/** A route's contract (see OperationSpec), kept with its exact schema types. */
export function operation<const S extends OperationSpec>(spec: S): S {
  return spec;
}

type JsonSchema = Record<string, unknown>;

/** An RFC 3339 timestamp in a response (documented as `format: date-time`, not checked). */
export const dateTime = z.string().meta({ format: 'date-time' });

/** Schemas named with `component`: written once under components.schemas and referred to. */
const components = new Map<string, z.ZodType>();

/**
 * `schema` as a named component of the API document (components.schemas[id]): wherever a
 * contract uses it, the document refers to it (`$ref`), and the portal's generated types name it.
 * A component whose request form differs from its answer form (defaults, transforms) is written
 * twice, the request form as `<id>Input`.
 */
export function component<T extends z.ZodType>(id: string, schema: T): T {
  if (components.has(id)) throw new Error(`component ${id} is defined twice`);
  const named = schema.meta({ id });
  components.set(id, named);
  return named;
}

const REF = /^#\/\$defs\/(.+)$/;

/** The raw JSON Schema of `schema` with its named components' definitions (`$defs`, by id). */
function convert(schema: z.ZodType, io: 'input' | 'output'): { schema: JsonSchema; defs: JsonSchema } {
  const {
    $schema: _drop,
    $defs,
    ...rest
  } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    unrepresentable: 'any',
  }) as JsonSchema;
  return {
    schema: withoutSafeIntBounds(rest) as JsonSchema,
    defs: withoutSafeIntBounds($defs ?? {}) as JsonSchema,
  };
}

/** The name under components.schemas of component `id` in its `io` form. */
function componentName(id: string, io: 'input' | 'output'): string {
  if (io === 'output') return id;
  const c = components.get(id);
  if (!c) return id;
  const asInput = convert(c, 'input').defs[id];
  const asOutput = convert(c, 'output').defs[id];
  return JSON.stringify(asInput) === JSON.stringify(asOutput) ? id : `${id}Input`;
}

/** Points `$ref`s to `#/$defs/<id>` at the document's components. */
function refsToComponents(s: unknown, io: 'input' | 'output'): unknown {
  if (Array.isArray(s)) return s.map((x) => refsToComponents(x, io));
  if (s === null || typeof s !== 'object') return s;
  const out: JsonSchema = {};
  for (const [k, v] of Object.entries(s)) {
    const m = k === '$ref' && typeof v === 'string' ? REF.exec(v) : null;
    out[k] = m ? `#/components/schemas/${componentName(m[1]!, io)}` : refsToComponents(v, io);
  }
  return out;
}

/**
 * The JSON Schema (2020-12, OpenAPI 3.1's dialect) of `schema`: what a client sends (`input`,
 * before defaults and coercion) or what the cloud answers (`output`). Named components
 * (`component`) are `$ref`s to components.schemas.
 */
export function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  return refsToComponents(convert(schema, io).schema, io) as JsonSchema;
}

/**
 * The components.schemas the contracts of `ops` (and the schemas `more` sent or answered, e.g. socket
 * messages) refer to: components.schemas is written from this.
 */
export function openApiComponents(
  ops: Iterable<OperationSpec>,
  more: { input?: Iterable<z.ZodType>; output?: Iterable<z.ZodType> } = {},
): Record<string, JsonSchema> {
  const out: Record<string, JsonSchema> = {};
  const add = (schema: z.ZodType | undefined, io: 'input' | 'output') => {
    if (!schema) return;
    for (const [id, def] of Object.entries(convert(schema, io).defs)) {
      const name = componentName(id, io);
      const js = refsToComponents(def, io) as JsonSchema;
      if (out[name] && JSON.stringify(out[name]) !== JSON.stringify(js))
        throw new Error(`component ${name} has two definitions`);
      out[name] = js;
    }
  };
  for (const op of ops) {
    add(op.params, 'input');
    add(op.query, 'input');
    add(op.body, 'input');
    for (const r of Object.values(op.responses)) {
      add(r instanceof z.ZodType ? r : r.schema, 'output');
      if (!(r instanceof z.ZodType)) add(r.ndjson, 'output');
    }
  }
  for (const s of more.input ?? []) add(s, 'input');
  for (const s of more.output ?? []) add(s, 'output');
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** z.int()'s ±(2^53 − 1) bounds say nothing a reader needs: left out of the document. */
function withoutSafeIntBounds(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(withoutSafeIntBounds);
  if (s === null || typeof s !== 'object') return s;
  const out: JsonSchema = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === 'minimum' && v === Number.MIN_SAFE_INTEGER) continue;
    if (k === 'maximum' && v === Number.MAX_SAFE_INTEGER) continue;
    out[k] = withoutSafeIntBounds(v);
  }
  return out;
}

/** `{name}` → `:name`: the express form of an OpenAPI path. */
export const expressPath = (path: string): string => path.replace(/\{([^}]+)\}/g, ':$1');

/** The `{name}` parameters of an OpenAPI path, in order. */
const pathNames = (path: string): string[] => [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);

/** The path parameters as validated: the spec's schema, or each `{name}` a string. */
export function paramsSchema(op: OperationSpec): z.ZodObject {
  return op.params ?? z.object(Object.fromEntries(pathNames(op.path).map((n) => [n, z.string()])));
}

/** An object schema's properties as OpenAPI parameters `in` path or query (descriptions lifted out). */
function parametersOf(schema: z.ZodType, where: 'path' | 'query'): JsonSchema[] {
  const js = jsonSchemaOf(schema, 'input');
  const props = (js.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((js.required ?? []) as string[]);
  return Object.entries(props).map(([name, s]) => {
    const { description, ...rest } = s;
    return {
      name,
      in: where,
      ...(where === 'path' || required.has(name) ? { required: true } : {}),
      schema: rest,
      ...(typeof description === 'string' ? { description } : {}),
    };
  });
}

/** The OpenAPI operation object of `op`. */
export function openApiOperation(op: OperationSpec): JsonSchema {
  const parameters = [
    ...parametersOf(paramsSchema(op), 'path'),
    ...(op.query ? parametersOf(op.query, 'query') : []),
  ];
  const responses: Record<string, unknown> = {};
  for (const [status, r] of Object.entries(op.responses)) {
    if (r instanceof z.ZodType) {
      // The schema's description describes the response; the schema itself goes without it.
      const { description: _d, ...schema } = jsonSchemaOf(r, 'output');
      responses[status] = {
        description: r.description ?? 'OK',
        content: { 'application/json': { schema } },
      };
    } else {
      const content = {
        ...(r.schema ? { 'application/json': { schema: jsonSchemaOf(r.schema, 'output') } } : {}),
        ...(r.ndjson
          ? {
              [NDJSON]: {
                schema: { type: 'string', description: 'JSON lines: one x-ndjson-item per line' },
                'x-ndjson-item': jsonSchemaOf(r.ndjson, 'output'),
              },
            }
          : {}),
        ...(r.csv ? { 'text/csv': csvMedia(r.csv) } : {}),
        ...r.content,
      };
      responses[status] = {
        description: r.description,
        ...(r.headers ? { headers: r.headers } : {}),
        ...(Object.keys(content).length ? { content } : {}),
      };
    }
  }
  for (const s of op.errors ?? []) responses[String(s)] ??= problem;
  const security = op.security ?? tokenOrSession;
  return {
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    ...(security.length ? { security } : {}),
    ...(parameters.length ? { parameters } : {}),
    ...(op.body
      ? {
          requestBody: {
            required: !op.bodyOptional,
            content: { 'application/json': { schema: jsonSchemaOf(op.body, 'input') } },
          },
        }
      : {}),
    responses,
  };
}

/** The text/csv media type object of a CSV answer: its header line's columns in `x-csv-columns`. */
function csvMedia(csv: NonNullable<Exclude<ResponseSpec, z.ZodType>['csv']>): JsonSchema {
  const lists = Array.isArray(csv.columns)
    ? [csv.columns as readonly string[]]
    : Object.values(csv.columns as Record<string, readonly string[]>);
  const what = Array.isArray(csv.columns)
    ? `CSV (RFC 4180, CRLF), header line: ${lists[0]!.join(',')}`
    : `CSV (RFC 4180, CRLF), header line by variant: ${Object.entries(
        csv.columns as Record<string, readonly string[]>,
      )
        .map(([k, c]) => `${k}: ${c.join(',')}`)
        .join('; ')}`;
  return {
    schema: { type: 'string', description: csv.description ? `${csv.description}. ${what}` : what },
    'x-csv-columns': Array.isArray(csv.columns) ? [...lists[0]!] : csv.columns,
  };
}

/** The OpenAPI `paths` of these operations (spread into openapi.ts's `paths`). */
export function openApiPaths(ops: Iterable<OperationSpec>): Record<string, Record<string, JsonSchema>> {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const op of ops) {
    const at = (paths[op.path] ??= {});
    if (at[op.method]) throw new Error(`${op.method.toUpperCase()} ${op.path} is defined twice`);
    at[op.method] = openApiOperation(op);
  }
  return paths;
}

/**
 * The keys of `sent` (JSON) that `kept` (what a zod schema made of it) lacks: the fields the
 * schema does not describe, which a plain `z.object` drops silently and the document would not
 * list. Paths as `a.b[0].c`; where the schema turned a value into something else (a transform),
 * that value is not looked into.
 */
export function undescribedKeys(sent: unknown, kept: unknown, at = ''): string[] {
  if (Array.isArray(sent))
    return Array.isArray(kept) ? sent.flatMap((v, i) => undescribedKeys(v, kept[i], `${at}[${i}]`)) : [];
  if (sent === null || typeof sent !== 'object') return [];
  if (kept === null || typeof kept !== 'object' || Array.isArray(kept)) return [];
  const k = kept as Record<string, unknown>;
  return Object.entries(sent).flatMap(([key, v]) => {
    const path = at ? `${at}.${key}` : key;
    return Object.hasOwn(k, key) ? undescribedKeys(v, k[key], path) : [path];
  });
}

/**
 * What is wrong with answering `payload` as `schema` documents it, or undefined: an issue of the
 * schema, or a field the schema does not describe (so the document would not list it).
 */
export function answerProblem(schema: z.ZodType, payload: unknown): string | undefined {
  const sent: unknown = JSON.parse(JSON.stringify(payload));
  const r = schema.safeParse(sent);
  if (!r.success) return r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
  const extra = undescribedKeys(sent, r.data);
  if (extra.length) return `fields the schema does not describe: ${extra.join(', ')}`;
  return undefined;
}

/**
 * Under test (vitest sets VITEST), every JSON answer of a route is checked against the schema its
 * contract documents for that status: a route that answers what the document does not say (a
 * value off its schema, or a field the schema does not describe), or answers JSON (a success)
 * where its contract has no zod schema, fails the test that called it (500, naming the route and
 * the mismatch).
 */
const CHECK_ANSWERS = process.env.VITEST !== undefined;

/**
 * What is wrong with one line of a JSON-lines stream answered as `schema` documents a line, or
 * undefined (the line without its `\n`).
 */
export function lineProblem(schema: z.ZodType, line: string): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return `a line that is not JSON: ${line.slice(0, 80)}`;
  }
  return answerProblem(schema, value);
}

/** What is wrong with a CSV header line given the documented columns, or undefined. */
export function csvHeaderProblem(columns: CsvColumns, header: string): string | undefined {
  const lists = Array.isArray(columns)
    ? [columns as readonly string[]]
    : Object.values(columns as Record<string, readonly string[]>);
  return lists.some((c) => c.join(',') === header)
    ? undefined
    : `CSV header ${header} is not the documented columns (${lists.map((c) => c.join(',')).join(' | ')})`;
}

/**
 * Under test: every line a JSON-lines answer streams, and the header line of a CSV answer, are
 * checked against what the contract documents (`ndjson`, `csv`). A line off its schema is never
 * sent: before the first byte it is a 500 naming the route; later the stream is cut (the caller
 * sees an aborted body).
 */
function checkStreams(op: OperationSpec, res: Response): void {
  const write = res.write.bind(res) as (...a: unknown[]) => boolean;
  const end = res.end.bind(res) as (...a: unknown[]) => Response;
  let pending = '';
  let header: string | undefined;
  const specOf = () => {
    if (res.statusCode >= 400) return undefined;
    const spec = op.responses[String(res.statusCode)];
    return spec && !(spec instanceof z.ZodType) ? spec : undefined;
  };
  const type = () => String(res.getHeader('content-type') ?? '');
  const textOf = (chunk: unknown) =>
    typeof chunk === 'string'
      ? chunk
      : chunk instanceof Uint8Array
        ? Buffer.from(chunk).toString('utf8')
        : '';
  const fail = (problem: string): never => {
    const err = new Error(
      `${op.method.toUpperCase()} ${op.path} answered ${res.statusCode} off its schema: ${problem}`,
    );
    if (res.headersSent) res.destroy(err);
    throw err;
  };
  /** JSON lines: the complete lines of what was written so far, each checked (the rest held back). */
  const checkedLines = (schema: z.ZodType, chunk: unknown, last: boolean): string => {
    pending += textOf(chunk);
    const cut = pending.lastIndexOf('\n') + 1;
    const complete = pending.slice(0, cut);
    pending = pending.slice(cut);
    if (last && pending !== '') fail(`a last line without its newline: ${pending.slice(0, 80)}`);
    for (const line of complete.split('\n').slice(0, -1)) {
      const problem = lineProblem(schema, line);
      if (problem) fail(problem);
    }
    return complete;
  };
  /** CSV: the header line (the first line written), against the documented columns. */
  const checkHeader = (columns: CsvColumns, chunk: unknown, last: boolean) => {
    if (header !== undefined) return;
    pending += textOf(chunk);
    const at = pending.indexOf('\n');
    if (at < 0 && !last) return;
    header = (at < 0 ? pending : pending.slice(0, at)).replace(/\r$/, '');
    pending = '';
    const problem = csvHeaderProblem(columns, header);
    if (problem) fail(problem);
  };
  res.write = ((chunk: unknown, ...rest: unknown[]) => {
    const spec = specOf();
    if (spec?.ndjson && type().startsWith(NDJSON)) {
      const lines = checkedLines(spec.ndjson, chunk, false);
      return lines ? write(lines, ...rest.filter((x) => typeof x === 'function')) : true;
    }
    if (spec?.csv && type().startsWith('text/csv')) checkHeader(spec.csv.columns, chunk, false);
    return write(chunk, ...rest);
  }) as Response['write'];
  res.end = ((chunk?: unknown, ...rest: unknown[]) => {
    const spec = specOf();
    const data = typeof chunk === 'function' ? undefined : chunk;
    if (spec?.ndjson && type().startsWith(NDJSON)) {
      const lines = checkedLines(spec.ndjson, data, true);
      const cb = [chunk, ...rest].filter((x) => typeof x === 'function');
      return lines ? end(lines, ...cb) : end(...cb);
    }
    if (spec?.csv && type().startsWith('text/csv')) checkHeader(spec.csv.columns, data, true);
    return end(chunk, ...rest);
  }) as Response['end'];
}

const checkAnswers =
  (op: OperationSpec): RequestHandler =>
  (_req, res, next) => {
    const json = res.json.bind(res);
    res.json = (body: unknown) => {
      if (res.statusCode >= 400) return json(body);
      const spec = op.responses[String(res.statusCode)];
      const schema = spec instanceof z.ZodType ? spec : spec?.schema;
      const where = `${op.method.toUpperCase()} ${op.path} answered ${res.statusCode}`;
      if (!schema) throw new Error(`${where} JSON without a zod schema of that answer in its contract`);
      const problem = answerProblem(schema, body);
      if (problem) throw new Error(`${where} off its schema: ${problem}`);
      return json(body);
    };
    checkStreams(op, res);
    next();
  };

/** Serves `op` on `router`: its method at its path, through `handlers` (the guard first). */
export function mount(router: Router, op: OperationSpec, ...handlers: RequestHandler[]): void {
  router[op.method](expressPath(op.path), ...(CHECK_ANSWERS ? [checkAnswers(op)] : []), ...handlers);
}
