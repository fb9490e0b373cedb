import type { Request } from 'express';
import { z } from 'zod';
import { parseOrProblem, validationProblem } from '../errors.js';

export { validationProblem };
/** `value` parsed by `schema`, or a CLOUD_VALIDATION problem with `message`. */
export const parse = parseOrProblem;

/** The request's JSON body parsed by `schema` (an absent body is `{}`). */
export const parseBody = <T extends z.ZodType>(schema: T, req: Request): z.output<T> =>
  parse(schema, req.body ?? {}, 'the request body is not valid');

/** The request's query string parsed by `schema` (a strict object: unknown parameters are refused). */
export const parseQuery = <T extends z.ZodType>(schema: T, req: Request): z.output<T> =>
  parse(schema, req.query, 'query parameters are not valid');

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
