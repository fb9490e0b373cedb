import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createAccounts } from '../src/access/accounts.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { openApiDocument } from '../src/openapi.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { Witness } from '../src/platform/witness.js';
import { signIn, type Session } from './helpers/signed-in.js';
import { BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

/**
 * A NUL character (U+0000) cannot be stored (PostgreSQL text refuses it): wherever a request
 * carries one — a path parameter, a query parameter, a JSON body string, a cookie — every route
 * of the OpenAPI document answers 400 problem+json (CLOUD_VALIDATION), before anything is read
 * or written, on both backends.
 */

const PW = 'refusing null bytes calmly';
type Operation = { parameters?: readonly { name: string; in: string }[]; requestBody?: unknown };

describe.each(BACKENDS)('NUL characters in requests on %s', (backend) => {
  let storage: TestStorage;
  let cloud: RunningCloud;
  let admin: Session;

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    const cfg = loadCloudConfig({}, storage.overrides);
    const store = await openStore(cfg);
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createSite('acme', 'plant-1', 'Plant 1');
    const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
    await accounts.users.create({ actor: { type: 'system', id: 'test' }, address: null }, 'acme', {
      email: 'admin@acme.example',
      role: 'admin',
      password: PW,
      mustChangePassword: false,
    });
    await store.db.close();
    cloud = await startCloud(
      loadCloudConfig({}, { ...storage.overrides, port: '0' }),
      pino({ level: 'silent' }),
    );
    admin = await signIn(cloud.url, 'acme', 'admin@acme.example', PW);
  });
  afterAll(async () => {
    await cloud?.close();
    await storage?.cleanup();
  });

  /** Every operation of the document with the requests that put a NUL in each of its inputs. */
  function variants(): { name: string; method: string; path: string; body?: string; cookie?: string }[] {
    const out: { name: string; method: string; path: string; body?: string; cookie?: string }[] = [];
    const paths = openApiDocument.paths as unknown as Record<string, Record<string, Operation>>;
    for (const [template, ops] of Object.entries(paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const M = method.toUpperCase();
        const params = op.parameters ?? [];
        const plain = template.replace(/\{[^}]+\}/g, 'x');
        const name = `${M} ${template}`;
        if (template.includes('{'))
          out.push({ name: `${name} (path)`, method: M, path: template.replace(/\{[^}]+\}/g, 'a%00b') });
        for (const q of params.filter((p) => p.in === 'query'))
          out.push({ name: `${name} (query ${q.name})`, method: M, path: `${plain}?${q.name}=a%00b` });
        if (op.requestBody !== undefined || ['POST', 'PUT'].includes(M))
          out.push({
            name: `${name} (body)`,
            method: M,
            path: plain,
            body: JSON.stringify({ email: 'a\u0000b@acme.example', name: 'a\u0000b', nested: ['\u0000'] }),
          });
        out.push({ name: `${name} (cookie)`, method: M, path: plain, cookie: 'rt_session=acme.%00' });
      }
    }
    return out;
  }

  it('answers 400 CLOUD_VALIDATION on every route, whichever input holds the NUL', async () => {
    const wrong: string[] = [];
    const all = variants();
    expect(all.length).toBeGreaterThan(150);
    for (const v of all) {
      const res = await fetch(`${cloud.url}/api/v1${v.path}`, {
        method: v.method,
        headers: {
          cookie: v.cookie ?? admin.cookie,
          'x-csrf-token': admin.csrf,
          ...(v.body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(v.body !== undefined ? { body: v.body } : {}),
      });
      const text = await res.text();
      const ok =
        res.status === 400 &&
        (res.headers.get('content-type') ?? '').startsWith('application/problem+json') &&
        (JSON.parse(text) as { code: string }).code === 'CLOUD_VALIDATION';
      if (!ok) wrong.push(`${v.name}: ${res.status} ${text.slice(0, 120)}`);
    }
    expect(wrong).toEqual([]);
  });

  it('refuses a NUL in the sign-in form as bad input, without a sign-in attempt', async () => {
    const res = await fetch(`${cloud.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenant: 'acme', email: 'admin@acme.example\u0000', password: PW }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      code: 'CLOUD_VALIDATION',
      errors: [{ path: 'body.email', message: 'a NUL character (U+0000) is not allowed' }],
    });
    // Not counted as a failed sign-in: the account signs in at once.
    expect((await signIn(cloud.url, 'acme', 'admin@acme.example', PW)).csrf).toBeTruthy();
  });
});
