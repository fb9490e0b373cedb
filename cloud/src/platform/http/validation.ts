import type { Request, RequestHandler } from 'express';
import { z } from 'zod';
import { parseOrProblem, ProblemError, validationProblem } from '../errors.js';
import type { OperationSpec } from './contract.js';

export { validationProblem };
/** `value` parsed by `schema`, or a CLOUD_VALIDATION problem with `message`. */
export const parse = parseOrProblem;

/** A route's contract (its body, query or params schema is used) or a bare schema. */
type Source<K extends 'body' | 'query'> = z.ZodType | { readonly [P in K]?: z.ZodType };
type Parsed<S, K extends string> = S extends z.ZodType
  ? z.output<S>
  : S extends { readonly [P in K]: infer T extends z.ZodType }
    ? z.output<T>
    : never;
const schemaOf = (s: Source<'body' | 'query'>, k: 'body' | 'query'): z.ZodType => {
  if (s instanceof z.ZodType) return s;
  const schema = (s as Record<string, z.ZodType | undefined>)[k];
  if (!schema) throw new Error(`the operation has no ${k} schema`);
  return schema;
};

/**
 * The request's JSON body (an absent body is `{}`) parsed by the operation's `body` schema (see
 * contract.ts), the one the API document shows.
 */
export const parseBody = <S extends Source<'body'>>(op: S, req: Request): Parsed<S, 'body'> =>
  parse(schemaOf(op, 'body'), req.body ?? {}, 'the request body is not valid') as Parsed<S, 'body'>;

/** The request's query string parsed by the operation's `query` schema (a strict object: unknown parameters are refused). */
export const parseQuery = <S extends Source<'query'>>(op: S, req: Request): Parsed<S, 'query'> =>
  parse(schemaOf(op, 'query'), req.query, 'query parameters are not valid') as Parsed<S, 'query'>;

/** The request's path parameters parsed by the operation's `params` schema. */
export const parseParams = <S extends OperationSpec & { params: z.ZodObject }>(
  op: S,
  req: Request,
): z.output<S['params']> =>
  parse(op.params, req.params, 'path parameters are not valid') as z.output<S['params']>;

/** A page size: an integer 1..max from the query string, `dflt` when absent. */
export const limit = (dflt: number, max: number) => z.coerce.number().int().min(1).max(max).default(dflt);

/** An optional page cursor (a previous page's `next`), decoded by `decode`; undecodable is a 400. */
export const cursor = <T>(decode: (c: string) => T | undefined) =>
  z
    .string()
    .transform((c, ctx) => {
      const d = decode(c);
      if (!d) ctx.addIssue({ code: 'custom', message: 'a cursor from a previous page (next)' });
      return d;
    })
    .optional();

const RAW_JSON = Symbol('the request body as received (UTF-8 JSON)');

/**
 * express.json's `verify` hook: keeps the bytes of a UTF-8 JSON body on the request (a
 * reference, no copy), for readers that want the text as sent (rawJsonBody).
 */
export function keepRawJson(req: Request, _res: unknown, buf: Buffer, encoding: string): void {
  if (/^utf-?8$/i.test(encoding)) (req as Request & { [RAW_JSON]?: Buffer })[RAW_JSON] = buf;
}

/** The bytes of the request's JSON body as received, when it was UTF-8 (keepRawJson). */
export function rawJsonBody(req: Request): Buffer | undefined {
  return (req as Request & { [RAW_JSON]?: Buffer })[RAW_JSON];
}

/** Whether a string in `value`, or a key, holds U+0000: a walk that builds nothing (a whole batch passes here). */
function hasNul(value: unknown, depth: number): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (value === null || typeof value !== 'object' || depth > 64) return false;
  if (Array.isArray(value)) {
    for (const v of value as unknown[]) if (hasNul(v, depth + 1)) return true;
    return false;
  }
  for (const k in value) {
    if (!Object.hasOwn(value, k)) continue;
    if (k.includes('\u0000') || hasNul((value as Record<string, unknown>)[k], depth + 1)) return true;
  }
  return false;
}

/** Where in `value` (a parsed JSON body or query) a string holds U+0000, as a dotted path; undefined if nowhere. */
export function nulPath(value: unknown, at = '', depth = 0): string | undefined {
  if (depth === 0 && !hasNul(value, 0)) return undefined;
  if (typeof value === 'string') return value.includes('\u0000') ? at || '(value)' : undefined;
  if (value === null || typeof value !== 'object' || depth > 64) return undefined;
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const here = at ? `${at}.${k}` : k;
    if (k.includes('\u0000')) return here;
    const found = nulPath(v, here, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

const decoded = (s: string): string => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

/**
 * A parsed JSON string holds U+0000 only where its UTF-8 text has the escape `\u0000` (JSON
 * refuses a raw control character): a body whose bytes lack it needs no walk (a whole batch
 * passes here). Any other body is walked.
 */
function bodyMayHoldNul(req: Request): boolean {
  const raw = rawJsonBody(req);
  return raw === undefined || raw.includes('\\u0000');
}

/**
 * Refuses (400 CLOUD_VALIDATION) a request carrying a NUL character (U+0000) in its path, query,
 * cookies or JSON body: no stored value may hold one (PostgreSQL text cannot), so it is bad
 * input, refused before any route reads it. Put after the JSON body parser.
 */
export const refuseNul: RequestHandler = (req, _res, next) => {
  const where =
    (decoded(req.path).includes('\u0000') ? 'path' : undefined) ??
    (nulPath(req.query) !== undefined ? `query.${nulPath(req.query)}` : undefined) ??
    (decoded(req.get('cookie') ?? '').includes('\u0000') ? 'cookie' : undefined) ??
    (bodyMayHoldNul(req) && nulPath(req.body) !== undefined ? `body.${nulPath(req.body)}` : undefined);
  if (where === undefined) return next();
  next(
    new ProblemError('CLOUD_VALIDATION', 'the request holds a NUL character (U+0000)', {
      errors: [{ path: where, message: 'a NUL character (U+0000) is not allowed' }],
    }),
  );
};
