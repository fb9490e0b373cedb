import pino from 'pino';
import { expect } from 'vitest';
import { createAccounts } from '../../src/access/accounts.js';
import { loadCloudConfig } from '../../src/platform/config.js';
import { Witness } from '../../src/platform/witness.js';
import { openStore, startCloud, type RunningCloud } from '../../src/server.js';
import { TestEdge } from './edge.js';
import { signIn, type Session } from './signed-in.js';
import { testStorage, type Backend, type TestStorage } from './storage.js';

/** The technician's and the admin's password (calibration entries are signed with it). */
export const TECH_PW = 'dead weight on the bench 7';

/** The equipment of the two-zone tenant: one pressure transducer per site. */
export const TWO_ZONE_TAGS = [
  ['PT-IN-01', 'plant-in'],
  ['PT-LA-01', 'plant-la'],
] as const;

export interface TwoZones {
  /** A GET with an API token; anything else as the signed-in technician. */
  call(method: string, p: string, body?: unknown): Promise<{ status: number; body: any }>;
  get(p: string): Promise<{ status: number; body: any }>;
  /** A request as the signed-in tenant admin. */
  asAdmin(method: string, p: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** A GET as the signed-in tenant admin, its body as bytes (a report's file). */
  bytesAsAdmin(p: string): Promise<{ status: number; bytes: Buffer }>;
  /** An edge enrolled at the site `siteId` (one token per site, used once). */
  edgeAt(siteId: (typeof TWO_ZONE_TAGS)[number][1]): Promise<TestEdge>;
  close(): Promise<void>;
}

/**
 * Tenant `acme` with a site in Asia/Kolkata (`plant-in`, UTC+5:30) and one in America/Los_Angeles
 * (`plant-la`), a cloud reading the given clock, and in each site a transducer calibrated (passed)
 * at `calibratedAt` (one time, or one per tag) every `intervalDays`: the setup of the local-day tests.
 */
export async function startTwoZones(
  backend: Backend,
  o: {
    clock: () => Date;
    calibratedAt: string | Record<(typeof TWO_ZONE_TAGS)[number][0], string>;
    intervalDays: number;
  },
): Promise<TwoZones> {
  const storage: TestStorage = await testStorage(backend);
  const store = await openStore(loadCloudConfig({}, storage.overrides));
  await store.tenancy.createTenant('acme', 'Acme');
  await store.tenancy.createSite('acme', 'plant-in', 'Pune', 'Asia/Kolkata');
  await store.tenancy.createSite('acme', 'plant-la', 'Irvine', 'America/Los_Angeles');
  const token = await store.tenancy.createApiToken('acme', 't');
  const enrollment = new Map<string, string>();
  for (const [, siteId] of TWO_ZONE_TAGS)
    enrollment.set(siteId, (await store.tenancy.createEnrollmentToken('acme', siteId, 3600_000)).token);
  const cfg = loadCloudConfig({}, storage.overrides);
  const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
  await accounts.users.create({ actor: { type: 'system', id: 'test' }, address: null }, 'acme', {
    email: 'tech@plant.example',
    name: 'A. Smith',
    role: 'technician',
    password: TECH_PW,
    mustChangePassword: false,
  });
  await accounts.users.create({ actor: { type: 'system', id: 'test' }, address: null }, 'acme', {
    email: 'admin@plant.example',
    role: 'admin',
    password: TECH_PW,
    mustChangePassword: false,
  });
  await store.db.close();
  const cloud: RunningCloud = await startCloud(
    loadCloudConfig({}, { ...storage.overrides, port: '0' }),
    pino({ level: 'silent' }),
    { clock: o.clock },
  );
  const session: Session = await signIn(cloud.url, 'acme', 'tech@plant.example', TECH_PW);
  let admin: Session | undefined;
  const call = async (method: string, p: string, body?: unknown, as?: Session) => {
    const s = as ?? session;
    const res = await fetch(`${cloud.url}/api/v1${p}`, {
      method,
      headers:
        method === 'GET' && !as
          ? { authorization: `Bearer ${token}` }
          : { cookie: s.cookie, 'x-csrf-token': s.csrf, 'content-type': 'application/json' },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  for (const [tag, siteId] of TWO_ZONE_TAGS) {
    const r = await call('POST', '/equipment', {
      tag,
      siteId,
      type: 'pressure transducer',
      make: 'Keller',
      model: 'PA-33X',
      serial: `SN-${tag}`,
      owner: { kind: 'company' },
      range: { min: 0, max: 2500, unit: 'bar' },
      resolution: 0.1,
      procedure: { id: 'CP-PT-001', revision: 'D' },
      intervalDays: o.intervalDays,
      acceptanceCriteria: '±2 bar at 800 bar',
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const cal = await call('POST', '/calibrations', {
      equipment: tag,
      enteredBy: 'A. Smith',
      body: {
        technician: 'A. Smith (level 3)',
        standards: [],
        points: [
          {
            name: 'p@800',
            nominal: 800,
            unit: 'bar',
            asFound: 800.5,
            lowerTolerance: -2,
            upperTolerance: 2,
            asFoundResult: 'pass',
          },
        ],
        adjusted: false,
        asFoundResult: 'pass',
        calibratedAt: typeof o.calibratedAt === 'string' ? o.calibratedAt : o.calibratedAt[tag],
      },
      signature: { password: TECH_PW, meaning: 'performed' },
    });
    expect(cal.status, JSON.stringify(cal.body)).toBe(201);
  }
  return {
    call,
    get: (p) => call('GET', p),
    async asAdmin(method, p, body) {
      admin ??= await signIn(cloud.url, 'acme', 'admin@plant.example', TECH_PW);
      return call(method, p, body, admin);
    },
    async bytesAsAdmin(p) {
      admin ??= await signIn(cloud.url, 'acme', 'admin@plant.example', TECH_PW);
      const res = await fetch(`${cloud.url}/api/v1${p}`, { headers: { cookie: admin.cookie } });
      return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()) };
    },
    edgeAt: (siteId) => new TestEdge(cloud.url).enroll(enrollment.get(siteId)!, `edge-${siteId}`),
    async close() {
      await cloud.close();
      await storage.cleanup();
    },
  };
}
