/** Types of the cloud's answers, read from the generated OpenAPI types (api-types.ts). */
import type { paths } from './api-types.js';

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
type JsonOf<R> = R extends { content: { 'application/json': infer J } } ? J : never;
type SuccessOf<Op> = Op extends { responses: infer R } ? JsonOf<R[Extract<keyof R, 200 | 201>]> : never;

/** The JSON a route answers on success (200 or 201): `Answer<'/procedures', 'get'>`. */
export type Answer<P extends keyof paths, M extends Method & keyof paths[P]> = SuccessOf<paths[P][M]>;
