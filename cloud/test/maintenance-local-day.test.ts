import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createAccounts } from '../src/access/accounts.js';
import { loadCloudConfig } from '../src/platform/config.js';
import { openStore, startCloud, type RunningCloud } from '../src/server.js';
import { Witness } from '../src/platform/witness.js';
import { signIn, type Session } from './helpers/signed-in.js';
import { BACKENDS, setupOrFailEach, testStorage, type TestStorage } from './helpers/storage.js';

const TECH_PW = 'dead weight on the bench 7';
// Calibrated on 1 May 2026 every 365 days: not due during the test, so only the preventive task
// puts the equipment on the due list.
const CALIBRATED_AT = '2026-05-01T12:00:00.000Z';
// Each preventive plan is first due on 10 June 2026, then every 30 days.
const DUE = '2026-06-10';

/**
 * A preventive-maintenance plan's "today" is the local day of its equipment's site: its status on
 * the maintenance log and the board, a new plan's default first due date, the date a task counts
 * from, and the `nextPm` of each due-list item all read the clock (injected here) in the site's
 * time zone, not in UTC.
 */
describe.each(BACKENDS)('preventive maintenance on the site’s local day on %s', (backend) => {
  let storage: TestStorage;
  let cloud: RunningCloud;
  let token = '';
  let session: Session;
  let now = new Date(CALIBRATED_AT);

  async function call(method: string, p: string, body?: unknown) {
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
  }
  const get = (p: string) => call('GET', p);

  setupOrFailEach(async () => {
    storage = await testStorage(backend);
    const store = await openStore(loadCloudConfig({}, storage.overrides));
    await store.tenancy.createTenant('acme', 'Acme');
    await store.tenancy.createSite('acme', 'plant-in', 'Pune', 'Asia/Kolkata');
    await store.tenancy.createSite('acme', 'plant-la', 'Irvine', 'America/Los_Angeles');
    token = await store.tenancy.createApiToken('acme', 't');
    const cfg = loadCloudConfig({}, storage.overrides);
    const accounts = createAccounts({ ...store, witness: Witness.load(cfg.dataDir, cfg.witnessName) });
    await accounts.users.create({ actor: { type: 'system', id: 'test' }, address: null }, 'acme', {
      email: 'tech@plant.example',
      name: 'A. Smith',
      role: 'technician',
      password: TECH_PW,
      mustChangePassword: false,
    });
    await store.db.close();
    cloud = await startCloud(
      loadCloudConfig({}, { ...storage.overrides, port: '0' }),
      pino({ level: 'silent' }),
      { clock: () => now },
    );
    session = await signIn(cloud.url, 'acme', 'tech@plant.example', TECH_PW);
    for (const [tag, siteId] of [
      ['PT-IN-01', 'plant-in'],
      ['PT-LA-01', 'plant-la'],
    ] as const) {
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
        intervalDays: 365,
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
          calibratedAt: CALIBRATED_AT,
        },
        signature: { password: TECH_PW, meaning: 'performed' },
      });
      expect(cal.status, JSON.stringify(cal.body)).toBe(201);
      const plan = await call('POST', `/equipment/${tag}/maintenance/plans`, {
        task: 'replace the seals',
        intervalDays: 30,
        firstDue: DUE,
      });
      expect(plan.status, JSON.stringify(plan.body)).toBe(201);
    }
  });
  afterAll(async () => {
    await cloud?.close();
    await storage?.cleanup();
  });

  const pmOf = async (tag: string) => (await get(`/equipment/${tag}/maintenance`)).body.nextPm;
  const board = async () =>
    (await get('/maintenance')).body.items.map((i: any) => [i.tag, i.nextPm.status, i.nextPm.daysUntilDue]);
  const dueList = async (q = '') =>
    (await get(`/due-list?days=0${q}`)).body.sites.map((s: any) => [
      s.siteId,
      s.items.map((i: any) => [i.tag, i.status, i.nextPm?.status, i.nextPm?.daysUntilDue]),
    ]);

  it('reads "today" in each site: 01:30 in Kolkata is overdue there while Los Angeles is still due', async () => {
    // 20:00 UTC on 10 June is 01:30 on 11 June in Kolkata and 13:00 on 10 June in Los Angeles.
    now = new Date(`${DUE}T20:00:00.000Z`);
    expect(await pmOf('PT-IN-01')).toMatchObject({ nextDue: DUE, status: 'overdue', daysUntilDue: -1 });
    expect(await pmOf('PT-LA-01')).toMatchObject({ nextDue: DUE, status: 'due-soon', daysUntilDue: 0 });
    const log = (await get('/equipment/PT-LA-01/maintenance')).body;
    expect(log.plans.map((p: any) => [p.status, p.daysUntilDue])).toEqual([['due-soon', 0]]);
    expect(await board()).toEqual([
      ['PT-IN-01', 'overdue', -1],
      ['PT-LA-01', 'due-soon', 0],
    ]);
    // Each due-list item's nextPm is on its own site's day, not the list's latest one.
    expect(await dueList()).toEqual([
      ['plant-in', [['PT-IN-01', 'current', 'overdue', -1]]],
      ['plant-la', [['PT-LA-01', 'current', 'due-soon', 0]]],
    ]);
  });

  it('keeps a site whose day has not come off a zero-day due list', async () => {
    // 03:00 UTC on 10 June is 08:30 on 10 June in Kolkata and 20:00 on 9 June in Los Angeles.
    now = new Date(`${DUE}T03:00:00.000Z`);
    expect(await dueList()).toEqual([['plant-in', [['PT-IN-01', 'current', 'due-soon', 0]]]]);
    expect(await pmOf('PT-LA-01')).toMatchObject({ status: 'due-soon', daysUntilDue: 1 });
    // asOf stays a date in the sites' calendars.
    expect(await dueList(`&asOf=${DUE}`)).toEqual([
      ['plant-in', [['PT-IN-01', 'current', 'due-soon', 0]]],
      ['plant-la', [['PT-LA-01', 'current', 'due-soon', 0]]],
    ]);
  });

  it('counts a new plan and a task done from the site’s local date', async () => {
    // 01:30 on 11 June in Kolkata: a plan every 30 days is first due 30 days after the 11th.
    now = new Date(`${DUE}T20:00:00.000Z`);
    const plan = await call('POST', '/equipment/PT-IN-01/maintenance/plans', {
      task: 'check the connector',
      intervalDays: 30,
    });
    expect(plan.status, JSON.stringify(plan.body)).toBe(201);
    expect(plan.body).toMatchObject({ firstDue: '2026-07-11', daysUntilDue: 30, status: 'current' });
    // The seals replaced at 01:00 on 11 June in Kolkata (19:30 UTC on the 10th): next due 30 days
    // after the 11th.
    const first = (await get('/equipment/PT-IN-01/maintenance')).body.plans[0];
    const done = await call('POST', '/equipment/PT-IN-01/maintenance/events', {
      kind: 'preventive',
      occurredAt: `${DUE}T19:30:00.000Z`,
      description: 'seals replaced',
      planId: first.id,
    });
    expect(done.status, JSON.stringify(done.body)).toBe(201);
    const plans = (await get('/equipment/PT-IN-01/maintenance')).body.plans;
    expect(plans.map((p: any) => [p.task, p.nextDue, p.daysUntilDue])).toEqual([
      ['replace the seals', '2026-07-11', 30],
      ['check the connector', '2026-07-11', 30],
    ]);
    // A change to a plan answers on the site's day too.
    const changed = await call('PATCH', `/maintenance/plans/${plan.body.id}`, { task: 'check the plug' });
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    expect(changed.body).toMatchObject({ nextDue: '2026-07-11', daysUntilDue: 30 });
  });
});
