import pino from 'pino';
import { expect } from 'vitest';
import { createAccounts } from '../../src/access/accounts.js';
import { loadCloudConfig } from '../../src/platform/config.js';
import { Witness } from '../../src/platform/witness.js';
import { openStore, startCloud, type RunningCloud } from '../../src/server.js';
import { signIn, type Session } from './signed-in.js';
import { testStorage, type Backend, type TestStorage } from './storage.js';

/** The signed-in technician's password (calibration entries are signed with it). */
export const TECH_PW = 'dead weight on the bench 7';
const AUDITOR_PW = 'the packs are read in May 9';

/** The equipment of the two-zone tenant: one pressure transducer per site. */
export const TWO_ZONE_TAGS = [
  ['PT-IN-01', 'plant-in'],
  ['PT-LA-01', 'plant-la'],
] as const;

export interface TwoZones {
  /** A GET with an API token; anything else as the signed-in technician. */
  call(method: string, p: string, body?: unknown): Promise<{ status: number; body: any }>;
  get(p: string): Promise<{ status: number; body: any }>;
  /** As the signed-in auditor (with `auditor: true`): reports. */
  asAuditor(method: string, p: string, body?: unknown): Promise<{ status: number; body: any; bytes: Buffer }>;
  close(): Promise<void>;
}

/**
 * Tenant `acme` with a site in Asia/Kolkata (`plant-in`, UTC+5:30) and one in America/Los_Angeles
 * (`plant-la`), a cloud reading the given clock, and in each site a transducer calibrated (passed)
 * at `calibratedAt` every `intervalDays`: the setup of the local-day tests.
 */
export async function startTwoZones(
  backend: Backend,
  o: { clock: () => Date; calibratedAt: string; intervalDays: number; auditor?: boolean },
): Promise<TwoZones> {
  const storage: TestStorage = await testStorage(backend);
  const store = await openStore(loadCloudConfig({}, storage.overrides));
  await store.tenancy.createTenant('acme', 'Acme');
  await store.tenancy.createSite('acme', 'plant-in', 'Pune', 'Asia/Kolkata');
  await store.tenancy.createSite('acme', 'plant-la', 'Irvine', 'America/Los_Angeles');
  const token = await store.tenancy.createApiToken('acme', 't');
  const cfg = loadCloudConfig({}, storage.overrides);
  const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
  await accounts.users.create({ actor: { type: 'system', id: 'test' }, address: null }, 'acme', {
    email: 'tech@plant.example',
    name: 'A. Smith',
    role: 'technician',
    password: TECH_PW,
    mustChangePassword: false,
  });
  if (o.auditor)
    await accounts.users.create({ actor: { type: 'system', id: 'test' }, address: null }, 'acme', {
      email: 'auditor@plant.example',
      name: 'R. Jones',
      role: 'auditor',
      password: AUDITOR_PW,
      mustChangePassword: false,
    });
  await store.db.close();
  const cloud: RunningCloud = await startCloud(
    loadCloudConfig({}, { ...storage.overrides, port: '0' }),
    pino({ level: 'silent' }),
    { clock: o.clock },
  );
  const session: Session = await signIn(cloud.url, 'acme', 'tech@plant.example', TECH_PW);
  const auditor: Session | undefined = o.auditor
    ? await signIn(cloud.url, 'acme', 'auditor@plant.example', AUDITOR_PW)
    : undefined;
  const call = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(`${cloud.url}/api/v1${p}`, {
      method,
      headers:
        method === 'GET'
          ? { authorization: `Bearer ${token}` }
          : { cookie: session.cookie, 'x-csrf-token': session.csrf, 'content-type': 'application/json' },
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
        calibratedAt: o.calibratedAt,
      },
      signature: { password: TECH_PW, meaning: 'performed' },
    });
    expect(cal.status, JSON.stringify(cal.body)).toBe(201);
  }
  return {
    call,
    get: (p) => call('GET', p),
    async asAuditor(method, p, body) {
      if (!auditor) throw new Error('startTwoZones without auditor: true');
      const res = await fetch(`${cloud.url}/api/v1${p}`, {
        method,
        headers: { cookie: auditor.cookie, 'x-csrf-token': auditor.csrf, 'content-type': 'application/json' },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
      const bytes = Buffer.from(await res.arrayBuffer());
      const json = (res.headers.get('content-type') ?? '').includes('json') && bytes.length > 0;
      return { status: res.status, body: json ? JSON.parse(bytes.toString('utf8')) : undefined, bytes };
    },
    async close() {
      await cloud.close();
      await storage.cleanup();
    },
  };
}
