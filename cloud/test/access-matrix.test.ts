import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { RigRecord } from '@rigtrace/protocols';
import { createAccounts } from '../src/access/accounts.js';
import type { Role } from '../src/access/policy.js';
import { openApiDocument } from '../src/openapi.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { Witness } from '../src/platform/witness.js';
import { TestEdge } from './helpers/edge.js';
import { openSocket, type TestSocket } from './helpers/live.js';
import { LIVE_EVENTS, type LiveMessages } from '../src/live/index.js';
import { signIn, type Session } from './helpers/signed-in.js';
import { base32Decode, totp } from '../src/access/totp.js';
import { BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

/**
 * The access matrix, generated from the OpenAPI document: every route × caller (role, site
 * scope, export clearance, tenant) × object (own site, other site, other tenant, export
 * controlled). The rule it checks is the one ACCOUNTS.md states: an object the caller may not
 * see answers exactly as an absent one (same status, same problem code), and no response names
 * it. A route added to the document without a way to fill its parameters fails the first test,
 * so a new route cannot join the API without joining the matrix.
 *
 * Every object's name carries its owner: `AX-…` plant A's export-controlled equipment, `AO-…`
 * plant A's open equipment, `BO-…` plant B's, `GO-…` another tenant's (Globex).
 */

const PW = 'matrix test passphrase words';
const ABSENT_UUID = '00000000-0000-4000-8000-000000000000';

/** The example records' equipment, renamed per site (plant A's rig and gauge are export controlled). */
const TAGS = {
  'RIG-FLOW-01': 'RIG',
  'PT-RAIL-03': 'GAUGE',
  'TT-OIL-02': 'TEMP',
  'FLOW-CELL-07': 'CELL',
} as const;
const FLAGGED_IN_A = new Set(['RIG', 'GAUGE']);
type Owner = 'A' | 'B' | 'G';
const tagOf = (owner: Owner, base: string) =>
  owner === 'A' ? `${FLAGGED_IN_A.has(base) ? 'AX' : 'AO'}-${base}` : `${owner}O-${base}`;

function recordsOf(owner: Owner, examples: readonly RigRecord[]): RigRecord[] {
  const rename = (t: string) => (t in TAGS ? tagOf(owner, TAGS[t as keyof typeof TAGS]) : t);
  return examples.map((r) => {
    const out = { ...r, equipment: rename(r.equipment) } as RigRecord;
    if (out.kind === 'inspection') {
      const body = out.body as { gauges: string[] };
      (out as { body: unknown }).body = { ...body, gauges: body.gauges.map(rename) };
    }
    return out;
  });
}

const failing = (minutesAgo: number) => ({
  standards: [],
  points: [
    {
      name: 'p',
      nominal: 10,
      unit: 'mm',
      asFound: 10.5,
      lowerTolerance: -0.1,
      upperTolerance: 0.1,
      asFoundResult: 'fail',
    },
  ],
  adjusted: false,
  asFoundResult: 'fail',
  calibratedAt: new Date(Date.now() - minutesAgo * 60_000).toISOString(),
});

/** Who calls, what they may see of the fixture, and which owners' objects are foreign to them. */
interface Caller {
  /** `_operators`: a cloud operator's realm, which is no tenant (ACCOUNTS.md, "Cloud operators"). */
  tenant: 'acme' | 'globex' | '_operators';
  role: Role | 'token' | 'operator';
  sites: string[] | null;
  cleared: boolean;
  /** Markers that must never appear in what this caller receives. */
  foreign: ('AX' | 'BO' | 'GO' | 'AO')[];
}
const CALLERS: Record<string, Caller> = {
  admin: { tenant: 'acme', role: 'admin', sites: null, cleared: true, foreign: ['GO'] },
  adminA: { tenant: 'acme', role: 'admin', sites: ['plant-a'], cleared: false, foreign: ['AX', 'BO', 'GO'] },
  mgrA: { tenant: 'acme', role: 'manager', sites: ['plant-a'], cleared: false, foreign: ['AX', 'BO', 'GO'] },
  techA: {
    tenant: 'acme',
    role: 'technician',
    sites: ['plant-a'],
    cleared: false,
    foreign: ['AX', 'BO', 'GO'],
  },
  auditorA: {
    tenant: 'acme',
    role: 'auditor',
    sites: ['plant-a'],
    cleared: false,
    foreign: ['AX', 'BO', 'GO'],
  },
  clearedA: { tenant: 'acme', role: 'technician', sites: ['plant-a'], cleared: true, foreign: ['BO', 'GO'] },
  token: { tenant: 'acme', role: 'token', sites: null, cleared: false, foreign: ['AX', 'GO'] },
  globex: { tenant: 'globex', role: 'admin', sites: null, cleared: true, foreign: ['AX', 'AO', 'BO'] },
  // A cloud operator: every tenant's objects are foreign to it.
  operator: {
    tenant: '_operators',
    role: 'operator',
    sites: null,
    cleared: false,
    foreign: ['AX', 'AO', 'BO', 'GO'],
  },
};
const ACME_USERS = Object.entries(CALLERS).filter(([, c]) => c.tenant === 'acme' && c.role !== 'token');

/** A path with its parameters filled for one object owner; `null` when that owner has no such object. */
type Fill = (owner: Owner | 'absent', flagged: boolean) => string | null;

/** A response reduced to what may be compared between a foreign and an absent object. */
function answer(r: { status: number; body: any }): { status: number; code?: string } {
  return { status: r.status, ...(r.body && typeof r.body.code === 'string' ? { code: r.body.code } : {}) };
}

describe.each(BACKENDS)('access matrix over every route on %s', { timeout: 180_000 }, (backend) => {
  let storage: TestStorage;
  let cloud: RunningCloud;
  const s: Record<string, Session | string> = {};
  /** Object ids by kind and owner key (`A`, `AX`, `B`, `G`). */
  const ids: Record<string, Record<string, string>> = {};
  const put = (kind: string, key: string, id: string) => ((ids[kind] ??= {})[key] = id);
  /** Each owner's enrolled edge, to send more batches from. */
  const edges: Partial<Record<Owner, TestEdge>> = {};
  /** A call whose body is parsed when it is one JSON document (exports are JSON lines). */
  const as = async (who: string, method: string, p: string, body?: unknown) => {
    const auth = s[who]!;
    const res = await fetch(`${cloud.url}/api/v1${p}`, {
      method,
      headers: {
        ...(typeof auth === 'string'
          ? { authorization: `Bearer ${auth}` }
          : { cookie: auth.cookie, 'x-csrf-token': auth.csrf }),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    let parsed: any;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: res.status, text, body: parsed };
  };

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    const cfg = loadCloudConfig({}, storage.overrides);
    const store = await openStore(cfg);
    const enroll: Record<string, string> = {};
    for (const [tenant, sites] of [
      ['acme', ['plant-a', 'plant-b']],
      ['globex', ['plant-g']],
    ] as const) {
      await store.tenancy.createTenant(tenant, tenant);
      for (const site of sites) {
        await store.tenancy.createSite(tenant, site, site);
        enroll[site] = (await store.tenancy.createEnrollmentToken(tenant, site, 3600_000)).token;
      }
    }
    s.token = await store.tenancy.createApiToken('acme', 'matrix reader');
    const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
    const by = { actor: { type: 'system' as const, id: 'test' }, address: null };
    const users: [string, string, Role, string[] | null, boolean][] = [
      ...ACME_USERS.map(
        ([who, c]) =>
          [who, 'acme', c.role as Role, c.sites, c.cleared] as [
            string,
            string,
            Role,
            string[] | null,
            boolean,
          ],
      ),
      ['techB', 'acme', 'technician', ['plant-b'], true],
      // Every site, not cleared: a viewer of the live floor only (the token, which sees as much, has no socket).
      ['mgrAll', 'acme', 'manager', null, false],
      ['globex', 'globex', 'admin', null, true],
    ];
    for (const [who, tenant, role, sites, usPerson] of users) {
      const u = await accounts.users.create(by, tenant, {
        email: `${who.toLowerCase()}@${tenant}.example`,
        role,
        sites,
        password: PW,
        mustChangePassword: false,
        usPerson,
      });
      put('user', who, u.user.id);
    }
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
    for (const [who, tenant] of users)
      s[who] = await signIn(cloud.url, tenant, `${who.toLowerCase()}@${tenant}.example`, PW);
    // The operator sets up its second factor at the first sign-in, as it must.
    const opLogin = await fetch(`${cloud.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenant: '_operators', email: 'op@cloud.example', password: PW }),
    });
    const opPending = (await opLogin.json()) as { csrfToken: string; state: string };
    expect(opPending.state).toBe('enroll_mfa');
    s.operator = { cookie: opLogin.headers.getSetCookie()[0]!.split(';')[0]!, csrf: opPending.csrfToken };
    const enrol = await as('operator', 'POST', '/auth/mfa/totp/enroll', {});
    const confirm = await fetch(`${cloud.url}/api/v1/auth/mfa/totp/confirm`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        cookie: s.operator.cookie,
        'x-csrf-token': s.operator.csrf,
      },
      body: JSON.stringify({ code: totp(base32Decode(enrol.body.secret as string), Date.now() / 1000) }),
    });
    const opActive = (await confirm.json()) as { csrfToken: string; state: string };
    expect(opActive.state).toBe('active');
    s.operator = { cookie: confirm.headers.getSetCookie()[0]!.split(';')[0]!, csrf: opActive.csrfToken };

    // Equipment, edges with records, failed calibrations (cases and alerts), procedures, reports.
    const owners: [Owner, string, string][] = [
      ['A', 'plant-a', 'admin'],
      ['B', 'plant-b', 'admin'],
      ['G', 'plant-g', 'globex'],
    ];
    for (const [owner, site, who] of owners) {
      for (const base of Object.values(TAGS)) {
        const tag = tagOf(owner, base);
        const flagged = tag.startsWith('AX-');
        const r = await as(who, 'POST', '/equipment', {
          tag,
          siteId: site,
          type: base === 'RIG' ? 'rig' : 'instrument',
          intervalDays: 180,
          ...(flagged ? { exportControl: { regime: 'ITAR' } } : {}),
        });
        expect(r.status, r.text).toBe(201);
      }
      const edge = await new TestEdge(cloud.url).enroll(enroll[site]!, `line-${owner.toLowerCase()}`);
      await edge.ingest(recordsOf(owner, edge.examples(10)));
      put('edge', owner, edge.id);
      edges[owner] = edge;
      for (const base of ['GAUGE', 'TEMP']) {
        const tag = tagOf(owner, base);
        const cal = await as(who, 'POST', '/calibrations', {
          equipment: tag,
          enteredBy: who,
          body: failing(5),
          signature: { password: PW, meaning: 'performed' },
        });
        expect(cal.status, cal.text).toBe(201);
        const calId = cal.body.calibration.id as string;
        put('calibration', tag.slice(0, 2), calId);
        const cert = await as(who, 'POST', `/calibrations/${encodeURIComponent(calId)}/certificates`, {
          filename: `${tag}.pdf`,
          content: Buffer.from(`%PDF-1.4 certificate of ${tag}`).toString('base64'),
        });
        expect(cert.status, cert.text).toBe(201);
        put('certificate', tag.slice(0, 2), cert.body.id);
      }
      const cases = (await as(who, 'GET', `/oot-cases?site=${site}`)).body.items as {
        id: string;
        equipment: string;
      }[];
      for (const k of cases) put('case', k.equipment.slice(0, 2), k.id);
      const alerts = (await as(who, 'GET', `/alerts?siteId=${site}&state=all`)).body.items as {
        id: string;
        tag: string | null;
      }[];
      for (const a of alerts) if (a.tag) put('alert', a.tag.slice(0, 2), a.id);
      const tokens = await as(who, 'POST', `/sites/${site}/enrollment-tokens`, {});
      expect(tokens.status, tokens.text).toBe(201);
      put('enrollment', owner, tokens.body.id);
      const chars = (await as(who, 'GET', `/spc/characteristics?equipment=${tagOf(owner, 'RIG')}`)).body
        .items as {
        characteristic: string;
      }[];
      put('characteristic', owner, chars[0]!.characteristic);
      for (const flagged of owner === 'A' ? [true, false] : [false]) {
        const t = tagOf(owner, flagged ? 'GAUGE' : 'TEMP');
        const plan = await as(who, 'POST', `/equipment/${t}/maintenance/plans`, {
          task: 'Clean the sensor',
          intervalDays: 30,
        });
        expect(plan.status, plan.text).toBe(201);
        put('plan', t.slice(0, 2), plan.body.id);
      }
    }
    for (const [tenant, who] of [
      ['A', 'admin'],
      ['G', 'globex'],
    ] as const) {
      const p = await as(who, 'POST', '/procedures', {
        id: `${tenant}O-PROC`,
        revision: 'A',
        title: 'Matrix procedure',
        points: [{ name: '10 mm', unit: 'mm', nominal: 10, tolerance: 0.1 }],
        standards: [],
      });
      expect(p.status, p.text).toBe(201);
      put('procedure', tenant, `${tenant}O-PROC`);
      const rep = await as(who, 'POST', '/reports', {
        type: 'integrity',
        from: '2020-01-01',
        to: new Date().toISOString().slice(0, 10),
        format: 'json',
      });
      expect(rep.status, rep.text).toBe(202);
      put('report', tenant, rep.body.id);
      const apiToken = await as(who, 'POST', '/api-tokens', { name: `${tenant} matrix` });
      expect(apiToken.status, apiToken.text).toBe(201);
      put('apiToken', tenant, apiToken.body.id);
    }
    put('user', 'B', ids.user!.techB!);
    put('user', 'G', ids.user!.globex!);
    put('user', 'A', ids.user!.techA!);
  }, 180_000);
  afterAll(async () => {
    await cloud?.close();
    await storage?.cleanup();
  });

  /** The id of an object of `kind` owned by `owner`; `flagged` picks plant A's export-controlled one. */
  const id = (kind: string, owner: Owner | 'absent', flagged = false): string | null => {
    if (owner === 'absent') return kind === 'procedure' ? 'NO-SUCH-PROC' : ABSENT_UUID;
    const key = owner === 'A' ? (flagged ? 'AX' : 'AO') : `${owner}O`;
    return ids[kind]?.[key] ?? ids[kind]?.[flagged ? '-' : owner] ?? null;
  };
  const siteOf = (owner: Owner | 'absent') =>
    owner === 'absent' ? 'no-such-site' : { A: 'plant-a', B: 'plant-b', G: 'plant-g' }[owner];
  const tag = (owner: Owner | 'absent', flagged: boolean, base = 'GAUGE') =>
    owner === 'absent'
      ? 'NO-SUCH-TAG'
      : owner === 'A' && !flagged
        ? tagOf('A', base === 'GAUGE' ? 'TEMP' : 'CELL')
        : tagOf(owner, base);
  /** A calibration id in a path (manual:<uuid>, URL-encoded). */
  const cal = (owner: Owner | 'absent', flagged: boolean) =>
    encodeURIComponent(
      owner === 'absent' ? `manual:${ABSENT_UUID}` : (id('calibration', owner, flagged) ?? 'none'),
    );
  const edge = (owner: Owner | 'absent') => (owner === 'absent' ? ABSENT_UUID : ids.edge![owner]!);

  /**
   * How to fill each parameterised route with one owner's object. Every path of the OpenAPI
   * document with a parameter, or with a query naming an object, must be here.
   */
  const FILL: Record<string, Fill> = {
    '/edges/{edgeId}': (o, f) => (f ? null : `/edges/${edge(o)}`),
    '/edges/{edgeId}/evidence': (o, f) => (f ? null : `/edges/${edge(o)}/evidence?seq=1`),
    '/edges/{edgeId}/verify': (o, f) => (f ? null : `/edges/${edge(o)}/verify`),
    '/admin/edges/{edgeId}/retire': (o, f) => (f ? null : `/admin/edges/${edge(o)}/retire`),
    '/records': (o, f) => (f ? null : `/records?edge=${edge(o)}`),
    '/equipment/{tag}': (o, f) => `/equipment/${tag(o, f)}`,
    '/equipment/{tag}/reactivate': (o, f) => `/equipment/${tag(o, f)}/reactivate`,
    '/equipment/{tag}/calibrations': (o, f) => `/equipment/${tag(o, f)}/calibrations`,
    '/equipment/{tag}/suspect-records': (o, f) => `/equipment/${tag(o, f)}/suspect-records`,
    '/equipment/{tag}/positions': (o, f) => `/equipment/${tag(o, f, 'RIG')}/positions`,
    '/equipment/{tag}/positions/{position}/installations': (o, f) =>
      `/equipment/${tag(o, f, 'RIG')}/positions/rail/installations`,
    '/equipment/{tag}/positions/{position}/removal': (o, f) =>
      `/equipment/${tag(o, f, 'RIG')}/positions/rail/removal`,
    '/equipment/{tag}/installations': (o, f) => `/equipment/${tag(o, f)}/installations`,
    '/equipment/{tag}/unresolved-positions': (o, f) => `/equipment/${tag(o, f, 'RIG')}/unresolved-positions`,
    '/equipment/{tag}/suspect-chain': (o, f) => `/equipment/${tag(o, f)}/suspect-chain`,
    '/calibrations/{id}/certificates': (o, f) => `/calibrations/${cal(o, f)}/certificates`,
    '/calibrations/{id}/dcc': (o, f) => `/calibrations/${cal(o, f)}/dcc`,
    '/calibrations/{id}/certificates/{certificate}': (o, f) =>
      `/calibrations/${cal(o, f)}/certificates/${id('certificate', o, f)}`,
    '/procedures/{id}': (o, f) => (f || o === 'B' ? null : `/procedures/${id('procedure', o)}`),
    '/calibrations/{id}/approve': (o, f) => `/calibrations/${cal(o, f)}/approve`,
    '/calibrations/{id}/reject': (o, f) => `/calibrations/${cal(o, f)}/reject`,
    '/calibrations/{id}/return': (o, f) => `/calibrations/${cal(o, f)}/return`,
    '/inspections': (o, f) => `/inspections?equipment=${tag(o, f, 'RIG')}`,
    '/usage': (o, f) => `/usage?equipment=${tag(o, f, 'RIG')}`,
    '/yield': (o, f) => `/yield?equipment=${tag(o, f, 'RIG')}`,
    '/equipment': (o, f) => (f ? null : `/equipment?site=${siteOf(o)}`),
    '/calibrations': (o, f) => (f ? null : `/calibrations?site=${siteOf(o)}`),
    '/due-list': (o) => `/due-list?site=${siteOf(o)}`,
    '/spc/characteristics': (o, f) => `/spc/characteristics?equipment=${tag(o, f, 'RIG')}`,
    '/spc/chart': (o, f) =>
      o === 'A' && !f
        ? null
        : `/spc/chart?equipment=${tag(o, f, 'RIG')}&characteristic=${encodeURIComponent(o === 'absent' ? 'x' : ids.characteristic![o]!)}`,
    '/spc/baselines': () => null,
    '/alerts': (o) => `/alerts?siteId=${siteOf(o)}&state=all`,
    '/alerts/{id}/acknowledge': (o, f) => `/alerts/${id('alert', o, f)}/acknowledge`,
    '/users/{userId}': (o, f) => (f ? null : `/users/${o === 'absent' ? ABSENT_UUID : ids.user![o]}`),
    '/users/{userId}/role': (o, f) =>
      f ? null : `/users/${o === 'absent' ? ABSENT_UUID : ids.user![o]}/role`,
    '/users/{userId}/us-person': (o, f) =>
      f ? null : `/users/${o === 'absent' ? ABSENT_UUID : ids.user![o]}/us-person`,
    '/users/{userId}/disable': (o, f) =>
      f ? null : `/users/${o === 'absent' ? ABSENT_UUID : ids.user![o]}/disable`,
    '/users/{userId}/enable': (o, f) =>
      f ? null : `/users/${o === 'absent' ? ABSENT_UUID : ids.user![o]}/enable`,
    '/users/{userId}/reset-password': (o, f) =>
      f ? null : `/users/${o === 'absent' ? ABSENT_UUID : ids.user![o]}/reset-password`,
    '/users/{userId}/reset-mfa': (o, f) =>
      f ? null : `/users/${o === 'absent' ? ABSENT_UUID : ids.user![o]}/reset-mfa`,
    '/sites/{siteId}': (o, f) => (f ? null : `/sites/${siteOf(o)}`),
    '/sites/{siteId}/enrollment-tokens': (o, f) => (f ? null : `/sites/${siteOf(o)}/enrollment-tokens`),
    '/sites/{siteId}/enrollment-tokens/{tokenId}': (o, f) =>
      f ? null : `/sites/${siteOf(o)}/enrollment-tokens/${o === 'absent' ? ABSENT_UUID : ids.enrollment![o]}`,
    '/sites/{siteId}/reminders': (o, f) => (f ? null : `/sites/${siteOf(o)}/reminders`),
    '/sites/{siteId}/reminders/send': (o, f) => (f ? null : `/sites/${siteOf(o)}/reminders/send`),
    '/sites/{siteId}/live': (o, f) => (f ? null : `/sites/${siteOf(o)}/live`),
    '/admin/edges': (o, f) => (f ? null : `/admin/edges?site=${siteOf(o)}`),
    '/reminders/deliveries': (o, f) => (f ? null : `/reminders/deliveries?siteId=${siteOf(o)}`),
    '/compliance/clauses': (o, f) => (f ? null : `/compliance/clauses?siteId=${siteOf(o)}`),
    '/api-tokens/{tokenId}': (o, f) =>
      f || o === 'B' ? null : `/api-tokens/${o === 'absent' ? ABSENT_UUID : ids.apiToken![o]}`,
    '/reports/{id}': (o, f) =>
      f || o === 'B' ? null : `/reports/${o === 'absent' ? ABSENT_UUID : ids.report![o]}`,
    '/reports/{id}/file': (o, f) =>
      f || o === 'B' ? null : `/reports/${o === 'absent' ? ABSENT_UUID : ids.report![o]}/file`,
    '/oot-cases': (o, f) => `/oot-cases?equipment=${tag(o, f)}`,
    '/oot-cases/{id}': (o, f) => `/oot-cases/${id('case', o, f)}`,
    '/oot-cases/{id}/suspects.csv': (o, f) => `/oot-cases/${id('case', o, f)}/suspects.csv`,
    '/oot-cases/{id}/decisions': (o, f) => `/oot-cases/${id('case', o, f)}/decisions`,
    '/oot-cases/{id}/notifications': (o, f) => `/oot-cases/${id('case', o, f)}/notifications`,
    '/maintenance': (o, f) => (f ? null : `/maintenance?site=${siteOf(o)}`),
    '/maintenance/plans/{id}': (o, f) => `/maintenance/plans/${id('plan', o, f)}`,
    '/equipment/{tag}/maintenance': (o, f) => `/equipment/${tag(o, f)}/maintenance`,
    '/equipment/{tag}/maintenance/events': (o, f) => `/equipment/${tag(o, f)}/maintenance/events`,
    '/equipment/{tag}/maintenance/plans': (o, f) => `/equipment/${tag(o, f)}/maintenance/plans`,
    '/equipment/{tag}/out-of-service': (o, f) => `/equipment/${tag(o, f)}/out-of-service`,
    '/equipment/{tag}/return-to-service': (o, f) => `/equipment/${tag(o, f)}/return-to-service`,
  };

  const ops = Object.entries(
    openApiDocument.paths as unknown as Record<string, Record<string, { parameters?: readonly unknown[] }>>,
  ).flatMap(([p, byMethod]) =>
    Object.entries(byMethod)
      .filter(([m]) => ['get', 'post', 'put', 'delete'].includes(m))
      .map(([m, op]) => ({ path: p, method: m.toUpperCase(), op })),
  );
  /** Routes with a path parameter, or a query parameter naming an object, need a fill. */
  const needsFill = (p: string, op: { parameters?: readonly unknown[] }) =>
    p.includes('{') ||
    (op.parameters ?? []).some((x) => {
      const q = x as { in?: string; name?: string };
      return q.in === 'query' && ['edge', 'equipment', 'site', 'siteId'].includes(q.name ?? '');
    });

  it('every route of the API document that names an object has a fill in the matrix', () => {
    const missing = ops
      .filter(({ path: p, op }) => needsFill(p, op) && !(p in FILL))
      .map((o) => `${o.method} ${o.path}`);
    expect(missing).toEqual([]);
    expect(ops.length).toBeGreaterThan(80);
  });

  it('an object the caller may not see answers as an absent one, on every route, for every caller', async () => {
    const seen: string[] = [];
    const leaks: string[] = [];
    for (const { path: p, method } of ops) {
      const fill = FILL[p];
      if (!fill) continue;
      for (const [who, c] of Object.entries(CALLERS)) {
        const absentPath = fill('absent', false);
        if (!absentPath) continue;
        const absent = answer(await as(who, method, absentPath, method === 'GET' ? undefined : {}));
        const cases: [Owner, boolean, string][] = [
          ['A', true, 'AX'],
          ['B', false, 'BO'],
          ['G', false, 'GO'],
          ['A', false, 'AO'],
        ];
        for (const [owner, flagged, marker] of cases) {
          if (!c.foreign.includes(marker as Caller['foreign'][number])) continue;
          const target = fill(owner, flagged);
          if (!target || target === absentPath) continue;
          const r = await as(who, method, target, method === 'GET' ? undefined : {});
          const got = answer(r);
          seen.push(`${who} ${method} ${target}`);
          if (JSON.stringify(got) !== JSON.stringify(absent))
            leaks.push(
              `${who} ${method} ${target}: ${JSON.stringify(got)}, absent ${JSON.stringify(absent)}`,
            );
          else if (got.status < 300 && new RegExp(`\\b${marker}-`).test(r.text))
            leaks.push(`${who} ${method} ${target}: the answer names ${marker}- objects`);
        }
      }
    }
    expect(leaks).toEqual([]);
    expect(seen.length).toBeGreaterThan(300);
  });

  it('what a caller may see answers differently from an absent object (the fills reach real objects)', async () => {
    const same: string[] = [];
    for (const { path: p, method } of ops) {
      const fill = FILL[p];
      if (!fill || method !== 'GET') continue;
      const absentPath = fill('absent', false);
      const own = fill('A', true) ?? fill('A', false);
      if (!absentPath || !own || own === absentPath) continue;
      const a = await as('admin', 'GET', absentPath);
      const r = await as('admin', 'GET', own);
      if (
        r.status === a.status &&
        r.text.replace(/"instance":"[^"]*"/, '') === a.text.replace(/"instance":"[^"]*"/, '')
      )
        same.push(`GET ${own}`);
    }
    expect(same).toEqual([]);
  });

  it('no list, report or snapshot names what the caller may not see', async () => {
    const leaks: string[] = [];
    for (const { path: p, method, op } of ops) {
      if (method !== 'GET' || p.includes('{') || needsFill(p, op)) continue;
      if (p === '/openapi.json') continue;
      for (const [who, c] of Object.entries(CALLERS)) {
        const r = await as(who, 'GET', p);
        for (const marker of c.foreign)
          if (new RegExp(`\\b${marker}-`).test(r.text))
            leaks.push(`${who} GET ${p} names ${marker}- objects`);
      }
    }
    // The same for every parameterised read filled with the caller's own objects.
    for (const { path: p, method } of ops) {
      const fill = FILL[p];
      if (!fill || method !== 'GET') continue;
      for (const [who, c] of Object.entries(CALLERS)) {
        // An operator owns nothing (its answers to every object, 403, are checked against an
        // absent one's above; a problem's `instance` repeats the path asked for).
        if (c.tenant === '_operators') continue;
        const own = c.tenant === 'globex' ? fill('G', false) : fill('A', c.cleared);
        if (!own) continue;
        const r = await as(who, 'GET', own);
        for (const marker of c.foreign)
          if (new RegExp(`\\b${marker}-`).test(r.text))
            leaks.push(`${who} GET ${own} names ${marker}- objects`);
      }
    }
    expect(leaks).toEqual([]);
    // And the cleared, unscoped admin does see all of its tenant (so the check can fail).
    const all = (await as('admin', 'GET', '/equipment?limit=100')).text;
    for (const marker of ['AX', 'AO', 'BO']) expect(all).toMatch(new RegExp(`\\b${marker}-`));
  });

  it('the audit trail withholds what an entry did to export-controlled equipment from readers not cleared', async () => {
    const full = (await as('admin', 'GET', '/audit?limit=1000')).body.items as { seq: number; entry: any }[];
    const shown = (await as('token', 'GET', '/audit?limit=1000')).body.items as {
      seq: number;
      entry: any;
      leafHash: string;
      withheld?: string;
    }[];
    expect(shown.map((i) => i.seq)).toEqual(full.map((i) => i.seq));
    const withheld = shown.filter((i) => i.withheld === 'export-controlled');
    expect(withheld.length).toBeGreaterThan(0);
    for (const w of withheld) {
      const f = full.find((i) => i.seq === w.seq)!;
      expect(JSON.stringify(f.entry)).toMatch(/\bAX-/);
      expect(w.entry).toEqual({
        v: 1,
        seq: w.seq,
        tenant: 'acme',
        at: f.entry.at,
        action: f.entry.action,
        outcome: f.entry.outcome,
        actor: f.entry.actor,
        address: f.entry.address,
      });
      expect(w.leafHash).toMatch(/=$|[A-Za-z0-9+/]$/);
    }
    // Entries about open equipment stay whole for the same reader.
    expect(shown.some((i) => !i.withheld && /\bAO-/.test(JSON.stringify(i.entry)))).toBe(true);
    // The export-access log names flagged equipment: cleared readers only.
    expect((await as('adminA', 'GET', '/export-access')).status).toBe(403);
    expect((await as('admin', 'GET', '/export-access')).status).toBe(200);
  });
  /**
   * How the socket part of the matrix reads each pushed event: whether it concerns one piece of
   * equipment (then it reaches only viewers cleared for it when the equipment is export
   * controlled) and whether a message is about the object a batch touched. Every event in
   * LIVE_EVENTS (the live module's list, from which the publisher's types are made) needs an
   * entry: a new event type fails the first socket test until it joins the matrix.
   */
  const SOCKET_EVENTS: {
    [K in keyof LiveMessages]: {
      equipment: boolean;
      about: (p: LiveMessages[K], o: { tag: string; edgeId: string }) => boolean;
    };
  } = {
    telemetry: { equipment: true, about: (p, o) => p.items.some((i) => i.equipment === o.tag) },
    rig: { equipment: true, about: (p, o) => p.equipment === o.tag },
    records: { equipment: false, about: (p, o) => p.edgeId === o.edgeId },
    calibration: { equipment: true, about: (p, o) => p.tag === o.tag },
    status: { equipment: true, about: (p, o) => p.tag === o.tag },
    alert: { equipment: true, about: (p, o) => p.tag === o.tag },
  };
  /** Who watches the live floor: every signed-in caller, plus a second site's and a tenant-wide uncleared one. */
  const VIEWERS: Record<string, Pick<Caller, 'tenant' | 'sites' | 'cleared'>> = {
    ...Object.fromEntries(Object.entries(CALLERS).filter(([, c]) => c.role !== 'token')),
    techB: { tenant: 'acme', sites: ['plant-b'], cleared: true },
    mgrAll: { tenant: 'acme', sites: null, cleared: false },
  };
  const SITES: [string, 'acme' | 'globex'][] = [
    ['plant-a', 'acme'],
    ['plant-b', 'acme'],
    ['plant-g', 'globex'],
  ];
  const mayFollow = (v: (typeof VIEWERS)[string], site: string, tenant: string) =>
    v.tenant === tenant && (v.sites === null || v.sites.includes(site));

  it('every socket event type has a place in the matrix', () => {
    expect(LIVE_EVENTS.filter((e) => !(e in SOCKET_EVENTS))).toEqual([]);
    expect(Object.keys(SOCKET_EVENTS).filter((e) => !(LIVE_EVENTS as string[]).includes(e))).toEqual([]);
  });

  it('every socket event reaches exactly the viewers that may see what it is about', async () => {
    const sockets: Record<string, TestSocket> = {};
    try {
      for (const who of Object.keys(VIEWERS))
        sockets[who] = await openSocket(cloud.url, (s[who] as Session).cookie);
      // An API token is no way in.
      await expect(
        openSocket(cloud.url, undefined, { authorization: `Bearer ${s.token as string}` }),
      ).rejects.toMatchObject({
        code: 'CLOUD_UNAUTHENTICATED',
      });
      // Each viewer asks to follow every site; only those it may see are granted, the rest are unknown.
      const acks: string[] = [];
      for (const [who, v] of Object.entries(VIEWERS))
        for (const [site, tenant] of SITES) {
          const ack = await sockets[who]!.subscribe(site);
          const want = mayFollow(v, site, tenant) ? { ok: true } : { ok: false, error: 'CLOUD_NOT_FOUND' };
          if (JSON.stringify(ack) !== JSON.stringify(want))
            acks.push(`${who} ${site}: ${JSON.stringify(ack)}`);
        }
      expect(acks).toEqual([]);

      // One batch per object (own site's flagged and open equipment, another site's, another
      // tenant's), through the real ingest path: telemetry, a run state and a failed calibration
      // push every event type (the calibration engine records it, changes the status, raises an alert).
      const targets: {
        marker: 'AX' | 'AO' | 'BO' | 'GO';
        owner: Owner;
        site: string;
        tenant: 'acme' | 'globex';
      }[] = [
        { marker: 'AX', owner: 'A', site: 'plant-a', tenant: 'acme' },
        { marker: 'AO', owner: 'A', site: 'plant-a', tenant: 'acme' },
        { marker: 'BO', owner: 'B', site: 'plant-b', tenant: 'acme' },
        { marker: 'GO', owner: 'G', site: 'plant-g', tenant: 'globex' },
      ];
      const wrong: string[] = [];
      let checked = 0;
      for (const t of targets) {
        const tag = `${t.marker}-LIVE`;
        const flagged = t.marker === 'AX';
        const made = await as(t.tenant === 'globex' ? 'globex' : 'admin', 'POST', '/equipment', {
          tag,
          siteId: t.site,
          type: 'rig',
          intervalDays: 180,
          ...(flagged ? { exportControl: { regime: 'ITAR' } } : {}),
        });
        expect(made.status, made.text).toBe(201);
        const edge = edges[t.owner]!;
        for (const sock of Object.values(sockets)) sock.received.length = 0;
        const now = new Date().toISOString();
        await edge.ingest([
          edge.telemetry(tag, now, { railPressure: 1500 }),
          edge.usage(tag, now, 'start', { operator: 'op-7' }),
          edge.calibration(tag, now, 'fail'),
        ]);
        const object = { tag, edgeId: edge.id };
        const about = (e: keyof LiveMessages, r: { event: string; payload: unknown }) =>
          r.event === e &&
          (SOCKET_EVENTS[e].about as (p: unknown, o: typeof object) => boolean)(r.payload, object);
        const expected = (v: (typeof VIEWERS)[string], e: keyof LiveMessages) =>
          mayFollow(v, t.site, t.tenant) && (v.cleared || !flagged || !SOCKET_EVENTS[e].equipment);
        // Those who may see it get every event; once they have, every other socket answers a
        // round trip, so whatever was sent to it has arrived too.
        for (const [who, v] of Object.entries(VIEWERS))
          for (const e of LIVE_EVENTS)
            if (expected(v, e)) await sockets[who]!.next(e, (p) => about(e, { event: e, payload: p }));
        for (const sock of Object.values(sockets))
          await sock.socket.timeout(10_000).emitWithAck('unsubscribe', { siteId: 'round-trip' });
        for (const [who, v] of Object.entries(VIEWERS))
          for (const e of LIVE_EVENTS) {
            const got = sockets[who]!.received.some((r) => about(e, r));
            checked += 1;
            if (got !== expected(v, e)) wrong.push(`${who} ${got ? 'got' : 'missed'} ${e} about ${tag}`);
          }
        // Nothing a viewer received names what it may not see.
        for (const [who, v] of Object.entries(VIEWERS))
          for (const r of sockets[who]!.received)
            if (!expected(v, r.event as keyof LiveMessages) && JSON.stringify(r.payload).includes(tag))
              wrong.push(`${who} got ${r.event} naming ${tag}`);
      }
      expect(wrong).toEqual([]);
      expect(checked).toBe(targets.length * Object.keys(VIEWERS).length * LIVE_EVENTS.length);
    } finally {
      for (const sock of Object.values(sockets)) sock.close();
    }
  });
});
