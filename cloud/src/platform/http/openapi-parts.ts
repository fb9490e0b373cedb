// OpenAPI fragments shared by the routes' contracts (contract.ts) and openapi.ts (kept apart from
// openapi.ts, which imports every route module).

/** An error response: RFC 7807 problem+json (components.schemas.Problem). */
export const problem = {
  description: 'RFC 7807 problem',
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
};

/** Either an API token or a signed-in session. */
export const tokenOrSession: Record<string, string[]>[] = [{ apiToken: [] }, { sessionCookie: [] }];

/** A signed-in session only (API tokens may not). */
export const sessionOnly: Record<string, string[]>[] = [{ sessionCookie: [] }];
