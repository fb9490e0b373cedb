import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { API_TYPES_FILE, generateApiTypes } from '../scripts/api-types.js';

describe('the typed API client', () => {
  it('is generated from the current OpenAPI document (run `npm run gen:api -w @rigtrace/portal` when this fails)', async () => {
    const fresh = await generateApiTypes();
    const onDisk = readFileSync(API_TYPES_FILE, 'utf8');
    // Compare path by path first, so a failure names what changed rather than dumping 3000 lines.
    const paths = (text: string) => [...text.matchAll(/^ {2}'(\/[^']*)': \{$/gm)].map((m) => m[1]);
    expect(paths(onDisk)).toEqual(paths(fresh));
    expect(onDisk === fresh, `${API_TYPES_FILE} is stale`).toBe(true);
  });

  it('knows the routes the portal calls', async () => {
    const fresh = await generateApiTypes();
    for (const p of [
      '/auth/login',
      '/auth/session',
      '/equipment',
      '/admin/edges',
      '/sites/{siteId}/enrollment-tokens',
    ])
      expect(fresh).toContain(`  '${p}': {`);
  });
});
