import { z } from 'zod';
import { operation } from './contract.js';

/** An RFC 7807 problem, as every error of the API answers it (components.schemas.Problem). */
export const problemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.int(),
  detail: z.string().optional(),
  instance: z.string().optional(),
  code: z.string().describe('Stable error code, e.g. CLOUD_BATCH_REFUSED'),
  expectedSeq: z.int().optional().describe('On 409: the seq the cloud expects next'),
  problems: z
    .array(
      z.object({
        code: z.string(),
        message: z.string(),
        seq: z.int().optional(),
        index: z.int().optional(),
        path: z.string().optional(),
      }),
    )
    .optional(),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});

/** The API's own routes: liveness and the API document (served by app.ts). */
export const platformApi = {
  health: operation({
    method: 'get',
    path: '/health',
    summary: 'Liveness',
    security: [],
    responses: { '200': z.object({ status: z.literal('ok') }).describe('ok') },
  }),
  document: operation({
    method: 'get',
    path: '/openapi.json',
    summary: 'This document',
    security: [],
    responses: {
      '200': z
        .looseObject({ openapi: z.string(), info: z.looseObject({}), paths: z.looseObject({}) })
        .describe('OpenAPI 3.1'),
    },
  }),
} as const;
