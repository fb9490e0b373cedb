import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createAccounts } from '../src/access/accounts.js';
import { ROLES, type Role } from '../src/access/policy.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { openApiDocument } from '../src/openapi.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { Witness } from '../src/platform/witness.js';
import { TestEdge } from './helpers/edge.js';
import { BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';
import { base32Decode, totp } from '../src/access/totp.js';

type Caller = Role | 'api-token' | 'operator';
/** Every caller of a tenant: its roles and its API token. */
const ALL: Caller[] = [...ROLES, 'api-token'];
/** ...and a cloud operator, who holds none of a tenant's permissions (ACCOUNTS.md, "Cloud operators"). */
const CALLERS: Caller[] = [...ALL, 'operator'];
const READERS_OF_AUDIT: Caller[] = ['admin', 'auditor', 'api-token'];
const CALIBRATION_WRITERS: Caller[] = ['admin', 'technician'];
const MAINTAINERS: Caller[] = ['admin', 'manager', 'technician'];
/** The second person's approval of a manual calibration entry. */
const CALIBRATION_APPROVERS: Caller[] = ['admin', 'manager', 'technician'];

/**
 * Who may call what: written out here by hand, not derived from policy.ts, so that a change to
 * the policy that is not also made here fails. Every documented route must be in exactly one
 * of EXPECTED, PUBLIC or SELF (the caller's own account, any role: auth.test.ts).
 * Calibration: every role and API tokens read; technicians and admins write (API tokens only
 * read: least privilege); admins, managers and technicians approve others' manual entries.
 */
const EXPECTED: Record<string, Caller[]> = {
  'GET /edges': ALL,
  'GET /edges/{edgeId}': ALL,
  'GET /records': ALL,
  'GET /edges/{edgeId}/evidence': ['admin', 'manager', 'auditor', 'api-token'],
  'GET /users': ['admin'],
  'POST /users': ['admin'],
  'GET /users/{userId}': ['admin'],
  'PUT /users/{userId}/role': ['admin'],
  'POST /users/{userId}/disable': ['admin'],
  'POST /users/{userId}/enable': ['admin'],
  'POST /users/{userId}/reset-password': ['admin'],
  'POST /users/{userId}/reset-mfa': ['admin'],
  'GET /security/policy': ['admin'],
  'PUT /security/policy': ['admin'],
  'GET /audit': READERS_OF_AUDIT,
  'GET /audit/verify': READERS_OF_AUDIT,
  'GET /audit/export': READERS_OF_AUDIT,
  'GET /equipment': ALL,
  'POST /equipment': CALIBRATION_WRITERS,
  'POST /equipment/import': CALIBRATION_WRITERS,
  'POST /equipment/{tag}/reactivate': CALIBRATION_WRITERS,
  'GET /procedures': ALL,
  'GET /procedures/{id}': ALL,
  'POST /procedures': CALIBRATION_WRITERS,
  'GET /equipment/{tag}': ALL,
  'PUT /equipment/{tag}': CALIBRATION_WRITERS,
  'GET /equipment/{tag}/calibrations': ALL,
  'GET /equipment/{tag}/suspect-records': ALL,
  'GET /equipment/{tag}/positions': ALL,
  'POST /equipment/{tag}/positions': CALIBRATION_WRITERS,
  'POST /equipment/{tag}/positions/{position}/installations': CALIBRATION_WRITERS,
  'POST /equipment/{tag}/positions/{position}/removal': CALIBRATION_WRITERS,
  'GET /equipment/{tag}/installations': ALL,
  'GET /equipment/{tag}/unresolved-positions': ALL,
  'GET /equipment/{tag}/suspect-chain': ALL,
  'GET /equipment/{tag}/suspect-chain/records': ALL,
  'GET /calibrations/{id}/certificates': ALL,
  'GET /calibrations/{id}/dcc': ALL,
  'GET /calibrations/{id}/certificates/{certificate}': ALL,
  'POST /calibrations/{id}/certificates': CALIBRATION_WRITERS,
  'POST /calibrations/dcc-read': CALIBRATION_WRITERS,
  'POST /calibrations': CALIBRATION_WRITERS,
  'GET /due-list': ALL,
  'GET /inspections': ALL,
  'GET /usage': ALL,
  'GET /yield': ALL,
  'GET /calibration-settings': ALL,
  'PUT /calibration-settings': CALIBRATION_WRITERS,
  'DELETE /equipment/{tag}': CALIBRATION_WRITERS,
  // SPC and alerts: everyone reads; admins and managers freeze baselines; the floor acknowledges alerts.
  'GET /spc/characteristics': ALL,
  'GET /spc/chart': ALL,
  'POST /spc/baselines': ['admin', 'manager'],
  'GET /alerts': ALL,
  'POST /alerts/{id}/acknowledge': ['admin', 'manager', 'technician'],
  'GET /calibrations': ALL,
  'POST /calibrations/{id}/approve': CALIBRATION_APPROVERS,
  'POST /calibrations/{id}/reject': CALIBRATION_APPROVERS,
  'POST /calibrations/{id}/return': CALIBRATION_APPROVERS,
  'PUT /users/{userId}/us-person': ['admin'],
  // The export-access log names export-controlled objects: cleared admins and auditors, not API tokens.
  'GET /export-access': ['admin', 'auditor'],
  'GET /sites': ['admin'],
  'POST /sites': ['admin'],
  'GET /sites/{siteId}/enrollment-tokens': ['admin'],
  'PUT /sites/{siteId}': ['admin'],
  'DELETE /sites/{siteId}/enrollment-tokens/{tokenId}': ['admin'],
  'POST /admin/edges/{edgeId}/retire': ['admin'],
  'POST /sites/{siteId}/enrollment-tokens': ['admin'],
  'GET /admin/edges': ['admin'],
  'POST /edges/{edgeId}/verify': READERS_OF_AUDIT,
  'GET /api-tokens': ['admin'],
  'POST /api-tokens': ['admin'],
  'DELETE /api-tokens/{tokenId}': ['admin'],
  // Reminders: admins configure and send; managers read settings; the delivery log as the audit trail's readers plus managers.
  'GET /sites/{siteId}/reminders': ['admin', 'manager'],
  'PUT /sites/{siteId}/reminders': ['admin'],
  'POST /sites/{siteId}/reminders/send': ['admin'],
  'GET /reminders/deliveries': ['admin', 'manager', 'auditor', 'api-token'],
  // Live snapshot: every reader of the site (live.test.ts checks site scoping and other tenants).
  'GET /sites/{siteId}/live': ALL,
  // Compliance reports: admins and auditors generate; API tokens read and download, never generate.
  'POST /reports': ['admin', 'auditor'],
  'GET /reports': READERS_OF_AUDIT,
  'GET /reports/{id}': READERS_OF_AUDIT,
  'GET /reports/{id}/file': READERS_OF_AUDIT,
  'GET /compliance/clauses': READERS_OF_AUDIT,
  // Out-of-tolerance cases: every reader; the quality decisions: admins and managers.
  'GET /oot-cases': ALL,
  'GET /oot-cases/{id}': ALL,
  'GET /oot-cases/{id}/suspects.csv': ALL,
  'POST /oot-cases/{id}/decisions': ['admin', 'manager'],
  'POST /oot-cases/{id}/notifications': ['admin', 'manager'],
  'PUT /parts/shipments': ['admin', 'manager'],
  // Maintenance: every reader; events, plans and out of service: admins, managers and technicians.
  'GET /maintenance': ALL,
  'GET /equipment/{tag}/maintenance': ALL,
  'POST /equipment/{tag}/maintenance/events': MAINTAINERS,
  'POST /equipment/{tag}/maintenance/plans': MAINTAINERS,
  'PATCH /maintenance/plans/{id}': MAINTAINERS,
  'DELETE /maintenance/plans/{id}': MAINTAINERS,
  'POST /equipment/{tag}/out-of-service': MAINTAINERS,
  'POST /equipment/{tag}/return-to-service': MAINTAINERS,
};
/**
 * The cloud operators' routes: an operator only; every caller of a tenant is answered 404
 * (CLOUD_NOT_FOUND), as for a path that does not exist.
 */
const OPERATOR_ONLY = ['GET /operator/tenants', 'POST /operator/tenants', 'GET /operator/audit'];
const PUBLIC = [
  'GET /health',
  'GET /openapi.json',
  'GET /witness',
  'POST /edges/enroll',
  'POST /ingest',
  'POST /auth/login',
];
const SELF = [
  'POST /auth/login/mfa',
  'GET /auth/session',
  'GET /auth/policy',
  'POST /auth/logout',
  'POST /auth/logout-all',
  'POST /auth/password',
  'POST /auth/mfa/totp/enroll',
  'POST /auth/mfa/totp/confirm',
  'POST /auth/mfa/totp/disable',
  'POST /auth/mfa/backup-codes',
];

const PW = 'role matrix passphrase';

describe.each(BACKENDS)('roles on %s', (backend) => {
  let storage: TestStorage;
  let cloud: RunningCloud;
  let apiToken = '';
  let edgeId = '';
  let targetId = '';
  const sessions = new Map<string, { cookie: string; csrf: string }>();

  async function as(caller: Caller | 'scoped', method: string, p: string, body?: unknown) {
    const headers: Record<string, string> = {};
    if (caller === 'api-token') headers.authorization = `Bearer ${apiToken}`;
    else {
      const s = sessions.get(caller)!;
      headers.cookie = s.cookie;
      headers['x-csrf-token'] = s.csrf;
    }
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${cloud.url}/api/v1${p}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return {
      status: res.status,
      body: /^\{/.test(text) && !text.includes('}\n{') ? JSON.parse(text) : undefined,
    };
  }

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    const cfg = loadCloudConfig({}, storage.overrides);
    const store = await openStore(cfg);
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createSite('acme', 'plant-1', 'Plant 1');
    await store.tenancy.createSite('acme', 'plant-2', 'Plant 2');
    apiToken = await store.tenancy.createApiToken('acme', 'reader');
    const enroll = await store.tenancy.createEnrollmentToken('acme', 'plant-1', 3600_000);
    const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
    const by = { actor: { type: 'system' as const, id: 'test' }, address: null };
    for (const role of ROLES)
      await accounts.users.create(by, 'acme', {
        email: `${role}@acme.example`,
        role,
        password: PW,
        mustChangePassword: false,
        // Cleared, so that only the role decides here (clearance: access-matrix.test.ts).
        usPerson: true,
      });
    await accounts.users.create(by, 'acme', {
      email: 'scoped@acme.example',
      role: 'technician',
      sites: ['plant-2'],
      password: PW,
      mustChangePassword: false,
    });
    targetId = (await accounts.users.create(by, 'acme', { email: 'target@acme.example', role: 'technician' }))
      .user.id;
    await accounts.users.create(by, '_operators', {
      email: 'op@cloud.example',
      role: 'operator',
      password: PW,
      mustChangePassword: false,
    });
    await store.db.close();
    cloud = await startCloud(
      loadCloudConfig({}, { ...storage.overrides, port: '0' }),
      pino({ level: 'silent' }),
    );
    edgeId = (await new TestEdge(cloud.url).enroll(enroll.token, 'line-1')).id;
    for (const who of [...ROLES, 'scoped']) {
      const res = await fetch(`${cloud.url}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ tenant: 'acme', email: `${who}@acme.example`, password: PW }),
      });
      const body = (await res.json()) as { csrfToken: string; state: string };
      expect(body.state).toBe('active');
      sessions.set(who, { cookie: res.headers.getSetCookie()[0]!.split(';')[0]!, csrf: body.csrfToken });
    }
    // A cloud operator: signs in to the operators' realm and sets up its second factor first.
    const opLogin = await fetch(`${cloud.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenant: '_operators', email: 'op@cloud.example', password: PW }),
    });
    const opPending = (await opLogin.json()) as { csrfToken: string; state: string };
    expect(opPending.state).toBe('enroll_mfa');
    sessions.set('operator', {
      cookie: opLogin.headers.getSetCookie()[0]!.split(';')[0]!,
      csrf: opPending.csrfToken,
    });
    const enrol = await as('operator', 'POST', '/auth/mfa/totp/enroll', {});
    const secret = base32Decode(enrol.body.secret as string);
    const confirm = await fetch(`${cloud.url}/api/v1/auth/mfa/totp/confirm`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        cookie: sessions.get('operator')!.cookie,
        'x-csrf-token': sessions.get('operator')!.csrf,
      },
      body: JSON.stringify({ code: totp(secret, Date.now() / 1000) }),
    });
    const confirmed = (await confirm.json()) as { csrfToken: string; state: string };
    expect(confirmed.state).toBe('active');
    sessions.set('operator', {
      cookie: confirm.headers.getSetCookie()[0]!.split(';')[0]!,
      csrf: confirmed.csrfToken,
    });
    // API tokens only read calibration data: a signed-in technician registers the gauge.
    const gauge = await as('technician', 'POST', '/equipment', {
      tag: 'GAUGE-ROLES',
      siteId: 'plant-1',
      type: 'pressure gauge',
      intervalDays: 180,
    });
    expect(gauge.status).toBe(201);
  });
  afterAll(async () => {
    await cloud?.close();
    await storage?.cleanup();
  });

  it('classifies every documented route', () => {
    const documented = Object.entries(openApiDocument.paths)
      .flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`))
      .sort();
    expect(documented).toEqual([...Object.keys(EXPECTED), ...OPERATOR_ONLY, ...PUBLIC, ...SELF].sort());
  });

  it('allows and denies each route for each role as the matrix says', async () => {
    const bodies: Record<string, (caller: Caller) => unknown> = {
      'POST /users': (c) => ({ email: `made-by-${c}@acme.example`, role: 'auditor' }),
      'POST /reports': () => ({ type: 'due-list', from: '2025-01-01', to: '2025-01-31', format: 'csv' }),
      'PUT /calibrations/{id}/disposition': () => ({ disposition: 'no-impact', customerNotified: false }),
      'PUT /users/{userId}/role': () => ({ role: 'manager', sites: ['plant-1'] }),
      'POST /equipment': (c) => ({
        tag: `GAUGE-${c.toUpperCase()}`,
        siteId: 'plant-1',
        type: 'pressure gauge',
        intervalDays: 180,
      }),
      'PUT /equipment/{tag}': () => ({ siteId: 'plant-1', type: 'pressure gauge', intervalDays: 90 }),
      'POST /calibrations': (c) => ({
        equipment: 'GAUGE-ROLES',
        enteredBy: c,
        body: {
          standards: [],
          points: [
            {
              name: 'p',
              nominal: 1,
              unit: 'bar',
              asFound: 1,
              lowerTolerance: -1,
              upperTolerance: 1,
              asFoundResult: 'pass',
            },
          ],
          adjusted: false,
          asFoundResult: 'pass',
          calibratedAt: new Date(Date.now() - 60_000).toISOString(),
        },
        signature: { password: PW, meaning: 'performed' },
      }),
      'PUT /calibration-settings': () => ({ dueSoonDays: 21 }),
      'POST /equipment/{tag}/maintenance/events': () => ({ kind: 'repair', description: 'seal replaced' }),
      'POST /equipment/{tag}/maintenance/plans': () => ({ task: 'clean the filter', intervalDays: 30 }),
      'PATCH /maintenance/plans/{id}': () => ({ intervalDays: 14 }),
      'POST /equipment/{tag}/out-of-service': () => ({ reason: 'dropped' }),
      'POST /calibrations/{id}/approve': () => ({ password: PW, meaning: 'reviewed' }),
      'PUT /users/{userId}/us-person': () => ({ usPerson: true }),
      'POST /sites': (c) => ({ id: `site-${c}`, name: `Site of ${c}` }),
      'POST /sites/{siteId}/enrollment-tokens': () => ({ expiresInHours: 2 }),
      'POST /api-tokens': (c) => ({ name: `made by ${c}` }),
      'PUT /sites/{siteId}/reminders': () => ({ enabled: false }),
      'PUT /security/policy': () => ({
        mfaRequiredRoles: [],
        idleTimeoutSeconds: 900,
        absoluteTimeoutSeconds: 43200,
      }),
    };
    const seen: string[] = [];
    for (const [route, allowed] of Object.entries(EXPECTED)) {
      const [method, p] = route.split(' ') as [string, string];
      let url = p
        .replace('{id}', 'manual%3A00000000-0000-0000-0000-000000000000')
        .replace('{edgeId}', edgeId)
        .replace('{userId}', targetId)
        .replace('{tag}', 'GAUGE-ROLES')
        .replace('{position}', 'rail')
        .replace('{siteId}', 'plant-1')
        .replace('{tokenId}', '0000000000000000');
      if (p.endsWith('/evidence')) url += '?seq=1';
      for (const caller of CALLERS) {
        const res = await as(caller, method, url, bodies[route]?.(caller));
        const verdict = res.status === 401 || res.status === 403 ? 'denied' : 'allowed';
        seen.push(`${route} ${caller} ${verdict}`);
        if (allowed.includes(caller)) expect(res.status, `${route} as ${caller}`).toBeLessThan(500);
        else expect(res.body?.code, `${route} as ${caller}`).toBe('CLOUD_FORBIDDEN');
      }
    }
    const want = Object.entries(EXPECTED).flatMap(([route, allowed]) =>
      CALLERS.map((c) => `${route} ${c} ${allowed.includes(c) ? 'allowed' : 'denied'}`),
    );
    expect(seen).toEqual(want);
  }, 60_000); // every route × every role: about 20 s on a loaded 2-core machine

  it('answers the operator routes to the operator only, and 404 to every caller of a tenant', async () => {
    for (const route of OPERATOR_ONLY) {
      const [method, p] = route.split(' ') as [string, string];
      for (const caller of CALLERS) {
        const body =
          method === 'POST'
            ? { id: `made-by-${caller}`, name: `Made by ${caller}`, admin: { email: `a@${caller}.example` } }
            : undefined;
        const res = await as(caller, method, p, body);
        if (caller === 'operator') expect(res.status, `${route} as ${caller}`).toBeLessThan(300);
        else {
          expect(res.status, `${route} as ${caller}`).toBe(404);
          expect(res.body?.code, `${route} as ${caller}`).toBe('CLOUD_NOT_FOUND');
        }
      }
    }
    const tenants = await as('operator', 'GET', '/operator/tenants');
    expect(tenants.body.items.map((t: { id: string }) => t.id)).toEqual(['acme', 'made-by-operator']);
  });

  it('limits a site-scoped user to the edges and records of their sites', async () => {
    expect((await as('technician', 'GET', '/edges')).body.items.map((e: { id: string }) => e.id)).toEqual([
      edgeId,
    ]);
    expect((await as('scoped', 'GET', '/edges')).body.items).toEqual([]);
    expect((await as('scoped', 'GET', `/edges/${edgeId}`)).status).toBe(404);
    // Records of the caller's sites only; another site's edge is unknown, as an absent one.
    expect((await as('scoped', 'GET', '/records')).body.items).toEqual([]);
    const absent = await as('scoped', 'GET', '/records?edge=no-such-edge');
    const other = await as('scoped', 'GET', `/records?edge=${edgeId}`);
    expect(other.status).toBe(404);
    expect({ ...other.body, instance: undefined }).toEqual({ ...absent.body, instance: undefined });
    expect((await as('technician', 'GET', `/records?edge=${edgeId}`)).status).toBe(200);
  });

  it('refuses callers without credentials on every protected route', async () => {
    for (const route of [...Object.keys(EXPECTED), ...OPERATOR_ONLY]) {
      const [method, p] = route.split(' ') as [string, string];
      const res = await fetch(
        `${cloud.url}/api/v1${p
          .replace('{id}', 'manual%3A00000000-0000-0000-0000-000000000000')
          .replace('{edgeId}', edgeId)
          .replace('{userId}', targetId)
          .replace('{tag}', 'GAUGE-ROLES')
          .replace('{siteId}', 'plant-1')
          .replace('{tokenId}', '0000000000000000')}`,
        {
          method,
        },
      );
      expect(res.status, route).toBe(401);
    }
  });
});
