import { afterAll, describe, expect, it } from 'vitest';
import { BACKENDS, setupOrFailEach } from './helpers/storage.js';
import type { TestEdge } from './helpers/edge.js';
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

/**
 * A calibration's next due date is counted from its local calendar day at the equipment's site,
 * not from the UTC date of `calibratedAt`: late in the evening west of UTC the UTC date is already
 * tomorrow, early in the morning east of UTC it is still yesterday.
 */
describe.each(BACKENDS)('due dates from the site’s local day of the calibration on %s', (backend) => {
  let now = new Date('2026-05-01T12:00:00.000Z');
  let zones: TwoZones | undefined;
  /** The edge enrolled at each site (an enrollment token is used once). */
  const edges = new Map<string, TestEdge>();
  const get = (p: string) => zones!.get(p);

  setupOrFailEach(async () => {
    zones = await startTwoZones(backend, {
      clock: () => now,
      calibratedAt: {
        // 01:30 on 1 May in Kolkata (20:00 UTC on 30 April): due 10 June, not 9 June.
        'PT-IN-01': '2026-04-30T20:00:00.000Z',
        // 22:30 on 30 April in Los Angeles (05:30 UTC on 1 May): due 9 June, not 10 June.
        'PT-LA-01': '2026-05-01T05:30:00.000Z',
      },
      intervalDays: 40,
    });
  });
  afterAll(async () => {
    await zones?.close();
  });

  const dues = async () => [
    (await get('/equipment/PT-IN-01')).body.calibration.nextDue,
    (await get('/equipment/PT-LA-01')).body.calibration.nextDue,
  ];
  const listed = async () =>
    (await get('/equipment')).body.items.map((e: any) => [
      e.tag,
      e.calibration.nextDue,
      e.calibration.status,
    ]);
  const dueList = async (asOf: string) =>
    (await get(`/due-list?days=0&asOf=${asOf}`)).body.sites.map((s: any) => [
      s.siteId,
      s.items.map((i: any) => [i.tag, i.status, i.nextDue]),
    ]);

  it('counts a calibration entered in the portal or the API from its local day', async () => {
    expect(await dues()).toEqual(['2026-06-10', '2026-06-09']);
    expect(await listed()).toEqual([
      ['PT-IN-01', '2026-06-10', 'current'],
      ['PT-LA-01', '2026-06-09', 'current'],
    ]);
    expect(await dueList('2026-06-09')).toEqual([['plant-la', [['PT-LA-01', 'due-soon', '2026-06-09']]]]);
    expect(await dueList('2026-06-10')).toEqual([
      ['plant-in', [['PT-IN-01', 'due-soon', '2026-06-10']]],
      ['plant-la', [['PT-LA-01', 'overdue', '2026-06-09']]],
    ]);
  });

  it('counts a calibration record from an edge from its local day, its own nextDue kept as sent', async () => {
    now = new Date('2026-06-05T12:00:00.000Z');
    for (const [tag, siteId, at] of [
      // 06:00 on 5 June in Kolkata (00:30 UTC): due 15 July.
      ['PT-IN-01', 'plant-in', '2026-06-05T00:30:00.000Z'],
      // 23:00 on 4 June in Los Angeles (06:00 UTC on 5 June): due 14 July.
      ['PT-LA-01', 'plant-la', '2026-06-05T06:00:00.000Z'],
    ] as const) {
      const edge = await zones!.edgeAt(siteId);
      edges.set(siteId, edge);
      const record = edge.calibration(tag, at, 'pass');
      await edge.ingest([{ ...record, body: { ...record.body, nextDue: '2027-06-05' } }]);
    }
    expect(await dues()).toEqual(['2026-07-15', '2026-07-14']);
    expect(await listed()).toEqual([
      ['PT-IN-01', '2026-07-15', 'current'],
      ['PT-LA-01', '2026-07-14', 'current'],
    ]);
    expect(await dueList('2026-07-14')).toEqual([['plant-la', [['PT-LA-01', 'due-soon', '2026-07-14']]]]);
    const cals = (await get('/equipment/PT-LA-01/calibrations')).body.items;
    expect(cals.find((c: any) => c.source === 'record').body.nextDue).toBe('2027-06-05');
  });

  it('counts again from the new local day when the site moves to another time zone', async () => {
    // Kolkata → Los Angeles: 06:00 on 5 June in Kolkata is 17:30 on 4 June Pacific time.
    const r = await zones!.asAdmin('PUT', '/sites/plant-in', { timeZone: 'America/Los_Angeles' });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(await listed()).toEqual([
      ['PT-IN-01', '2026-07-14', 'current'],
      ['PT-LA-01', '2026-07-14', 'current'],
    ]);
    expect(await dueList('2026-07-14')).toEqual([
      ['plant-in', [['PT-IN-01', 'due-soon', '2026-07-14']]],
      ['plant-la', [['PT-LA-01', 'due-soon', '2026-07-14']]],
    ]);
  });

  it('gives an out-of-tolerance alert’s dates and a tag-out’s time on the site’s days, the zone named', async () => {
    // plant-in is in Los Angeles now (the test before). Last valid: 17:30 on 4 June there.
    now = new Date('2026-06-21T12:00:00.000Z');
    const edge = edges.get('plant-in')!;
    await edge.ingest([
      edge.usage('PT-IN-01', '2026-06-10T20:00:00.000Z', 'cycle'),
      // 22:00 on 19 June in Los Angeles, 20 June in UTC.
      edge.calibration('PT-IN-01', '2026-06-20T05:00:00.000Z', 'fail'),
    ]);
    // 23:00 on 19 June in Los Angeles: used while tagged out.
    await edge.ingest([edge.usage('PT-IN-01', '2026-06-20T06:00:00.000Z', 'cycle')]);
    const alerts = (await zones!.asAdmin('GET', '/alerts')).body.items;
    const oot = alerts.find((a: any) => a.kind === 'out-of-tolerance');
    expect(oot?.message, JSON.stringify(alerts)).toBe(
      'PT-IN-01 failed as found on 2026-06-19: 1 usage and inspection records made with it since 2026-06-04 are suspect (dates in America/Los_Angeles). An out-of-tolerance case is open; do not use it until it passes calibration.',
    );
    const tagOut = alerts.find((a: any) => a.kind === 'tag-out');
    expect(tagOut?.message).toBe(
      'PT-IN-01 was used at 2026-06-19 23:00 America/Los_Angeles while PT-IN-01 is tagged out (out of tolerance, no passing calibration since): do not use it',
    );
  });
});
