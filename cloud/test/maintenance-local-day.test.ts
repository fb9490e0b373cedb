import { afterAll, describe, expect, it } from 'vitest';
import { BACKENDS, setupOrFailEach } from './helpers/storage.js';
import { startTwoZones, TWO_ZONE_TAGS, type TwoZones } from './helpers/two-zones.js';

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
  let now = new Date(CALIBRATED_AT);
  let zones: TwoZones | undefined;
  const call = (method: string, p: string, body?: unknown) => zones!.call(method, p, body);
  const get = (p: string) => zones!.get(p);

  setupOrFailEach(async () => {
    zones = await startTwoZones(backend, {
      clock: () => now,
      calibratedAt: CALIBRATED_AT,
      intervalDays: 365,
    });
    for (const [tag] of TWO_ZONE_TAGS) {
      const plan = await call('POST', `/equipment/${tag}/maintenance/plans`, {
        task: 'replace the seals',
        intervalDays: 30,
        firstDue: DUE,
      });
      expect(plan.status, JSON.stringify(plan.body)).toBe(201);
    }
  });
  afterAll(async () => {
    await zones?.close();
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
