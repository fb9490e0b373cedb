import { afterAll, describe, expect, it } from 'vitest';
import { BACKENDS, setupOrFailEach } from './helpers/storage.js';
import { startTwoZones, type TwoZones } from './helpers/two-zones.js';

// Calibrated at noon UTC on 1 May 2026 (the same date in Kolkata and Los Angeles), every 40 days:
// due on 10 June 2026.
const CALIBRATED_AT = '2026-05-01T12:00:00.000Z';
const DUE = '2026-06-10';

/**
 * An instrument's "today" is the local day of its site's time zone: the calibration status and the
 * due list read the clock (injected here) in the zone of the equipment's site, not in UTC.
 */
describe.each(BACKENDS)('calibration status on the site’s local day on %s', (backend) => {
  let now = new Date(CALIBRATED_AT);
  let zones: TwoZones | undefined;
  const get = (p: string) => zones!.get(p);

  setupOrFailEach(async () => {
    zones = await startTwoZones(backend, { clock: () => now, calibratedAt: CALIBRATED_AT, intervalDays: 40 });
  });
  afterAll(async () => {
    await zones?.close();
  });

  const statusOf = async (tag: string) => (await get(`/equipment/${tag}`)).body.calibration;
  const dueList = async (q = '') =>
    (await get(`/due-list?days=0${q}`)).body.sites.map((s: any) => [
      s.siteId,
      s.items.map((i: any) => [i.tag, i.status, i.nextDue]),
    ]);

  it('reads "today" in Kolkata: 01:30 local on the day after the due date is overdue there', async () => {
    // 20:00 UTC on 10 June is 01:30 on 11 June in Kolkata (UTC+5:30) and 13:00 on 10 June in Los
    // Angeles (UTC−7).
    now = new Date(`${DUE}T20:00:00.000Z`);
    expect(await statusOf('PT-IN-01')).toMatchObject({
      status: 'overdue',
      asOf: '2026-06-11',
      nextDue: DUE,
      daysUntilDue: -1,
    });
    expect(await statusOf('PT-LA-01')).toMatchObject({ status: 'due-soon', asOf: DUE, daysUntilDue: 0 });
    expect(await dueList('&site=plant-in')).toEqual([['plant-in', [['PT-IN-01', 'overdue', DUE]]]]);
    expect(await dueList()).toEqual([
      ['plant-in', [['PT-IN-01', 'overdue', DUE]]],
      ['plant-la', [['PT-LA-01', 'due-soon', DUE]]],
    ]);
    const list = (await get('/equipment?site=plant-in')).body.items;
    expect(list.map((e: any) => [e.tag, e.calibration.status])).toEqual([['PT-IN-01', 'overdue']]);
  });

  it('reads "today" in Los Angeles: 20:00 local on the due date is still due, not overdue', async () => {
    // 03:00 UTC on 11 June is 20:00 on 10 June in Los Angeles (UTC−7).
    now = new Date('2026-06-11T03:00:00.000Z');
    expect(await statusOf('PT-LA-01')).toMatchObject({ status: 'due-soon', asOf: DUE, daysUntilDue: 0 });
    expect(await dueList('&site=plant-la')).toEqual([['plant-la', [['PT-LA-01', 'due-soon', DUE]]]]);
    // The day before, in Los Angeles, the instrument is not yet due today: off a zero-day due list.
    now = new Date('2026-06-10T03:00:00.000Z'); // 20:00 on 9 June in Los Angeles
    expect(await dueList('&site=plant-la')).toEqual([]);
    // asOf stays a date in the site's calendar.
    expect((await get(`/equipment/PT-LA-01?asOf=2026-06-11`)).body.calibration.status).toBe('overdue');
    expect(await dueList(`&site=plant-la&asOf=${DUE}`)).toEqual([
      ['plant-la', [['PT-LA-01', 'due-soon', DUE]]],
    ]);
  });

  it('counts the clause map’s calibration status on each instrument’s own site day', async () => {
    const clause = async (q = '') => {
      const r = await get(`/compliance/clauses${q}`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const c = r.body.items.find((i: any) => i.standard.startsWith('ISO 9001') && i.clause === '7.1.5');
      return [c.evidence, c.figures.asOf];
    };
    // 01:30 on 11 June in Kolkata (overdue there), 13:00 on 10 June in Los Angeles (due today).
    now = new Date(`${DUE}T20:00:00.000Z`);
    expect(await clause()).toEqual([
      '1 of 2 instruments in calibration, 1 overdue, 0 out of tolerance, 1 due soon',
      '2026-06-11',
    ]);
    expect(await clause('?siteId=plant-la')).toEqual([
      '1 of 1 instruments in calibration, 0 overdue, 0 out of tolerance, 1 due soon',
      DUE,
    ]);
    // 20:00 on 9 June in Los Angeles, 08:30 on 10 June in Kolkata: both due, neither overdue.
    now = new Date(`${DUE}T03:00:00.000Z`);
    expect(await clause()).toEqual([
      '2 of 2 instruments in calibration, 0 overdue, 0 out of tolerance, 2 due soon',
      DUE,
    ]);
    expect((await clause('?siteId=plant-la'))[1]).toBe('2026-06-09');
  });
});
