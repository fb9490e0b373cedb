import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiDocument } from '../src/openapi.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { CLOUD_ERRORS, ProblemError, type CloudErrorCode } from '../src/platform/errors.js';
import { startCloud, type RunningCloud } from '../src/server.js';
import { testStorage, type TestStorage } from './helpers/storage.js';

/**
 * The API as served and the API as documented are the same set of routes; a path answers 405
 * (with `Allow`) to a method it does not take; and the cloud's error catalogue is complete: each
 * code used by the code, documented in API.md, with its own problem type.
 */

const CLOUD = fileURLToPath(new URL('../', import.meta.url));
/** Served at the root for the monitoring network, documented in API.md's Operations section. */
const OPS = ['GET /healthz', 'GET /readyz', 'GET /metrics'];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [p] : [];
  });
}

describe('the API contract', () => {
  let storage: TestStorage;
  let cloud: RunningCloud;
  beforeAll(async () => {
    storage = await testStorage('sqlite');
    cloud = await startCloud(
      loadCloudConfig({}, { ...storage.overrides, port: '0' }),
      pino({ level: 'silent' }),
    );
  });
  afterAll(async () => {
    await cloud?.close();
    await storage?.cleanup();
  });

  it('serves exactly the routes of the API document (and the three operations routes)', () => {
    const served = new Set(cloud.routes.map((r) => `${r.method} ${r.path}`));
    const documented = new Set(
      Object.entries(openApiDocument.paths as unknown as Record<string, Record<string, unknown>>).flatMap(
        ([p, ops]) =>
          Object.keys(ops)
            .filter((m) => ['get', 'post', 'put', 'delete', 'patch'].includes(m))
            .map((m) => `${m.toUpperCase()} /api/v1${p}`),
      ),
    );
    expect([...served].filter((r) => !documented.has(r) && !OPS.includes(r)).sort()).toEqual([]);
    expect([...documented].filter((r) => !served.has(r)).sort()).toEqual([]);
    expect(served.size).toBeGreaterThan(80);
  });

  it('answers 405 with Allow to a method a path does not take, 404 to a path it does not have', async () => {
    const del = await fetch(`${cloud.url}/api/v1/due-list`, { method: 'DELETE' });
    expect(del.status).toBe(405);
    expect(del.headers.get('allow')).toBe('GET, HEAD');
    expect(del.headers.get('content-type')).toContain('application/problem+json');
    expect(((await del.json()) as { code: string }).code).toBe('CLOUD_METHOD_NOT_ALLOWED');
    const put = await fetch(`${cloud.url}/api/v1/equipment/X-1/reactivate`, { method: 'PUT' });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('POST');
    const none = await fetch(`${cloud.url}/api/v1/no-such-thing`, { method: 'DELETE' });
    expect(none.status).toBe(404);
    expect(((await none.json()) as { code: string }).code).toBe('CLOUD_NOT_FOUND');
  });
});

describe('the cloud error catalogue', () => {
  const codes = Object.keys(CLOUD_ERRORS) as CloudErrorCode[];
  const code = sources(path.join(CLOUD, 'src'))
    .filter((f) => !f.endsWith(`platform${path.sep}errors.ts`))
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n');
  const api = readFileSync(path.join(CLOUD, 'API.md'), 'utf8');

  it('has a 4xx or 5xx status and its own problem type for every code', () => {
    for (const c of codes) {
      expect(c).toMatch(/^CLOUD_[A-Z0-9]+(?:_[A-Z0-9]+)*$/);
      expect(CLOUD_ERRORS[c].status, c).toBeGreaterThanOrEqual(400);
      expect(CLOUD_ERRORS[c].status, c).toBeLessThan(600);
    }
    const types = codes.map((c) => new ProblemError(c).toProblem().type);
    expect(new Set(types).size).toBe(codes.length);
  });

  it('lists every code the cloud uses, and only those', () => {
    const used = new Set([...code.matchAll(/'(CLOUD_[A-Z0-9_]+)'/g)].map((m) => m[1]!));
    expect([...used].filter((c) => !(c in CLOUD_ERRORS)).sort()).toEqual([]);
    expect(codes.filter((c) => !used.has(c))).toEqual([]);
  });

  it('documents every code in API.md with its status', () => {
    const missing = codes.filter(
      (c) => !new RegExp(`\\|\\s*${CLOUD_ERRORS[c].status}\\s*\\|\\s*\`${c}\``).test(api),
    );
    expect(missing).toEqual([]);
  });
});
