import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { localDay, addDays } from '../src/platform/time-zone.js';
import { BACKENDS, setupOrFailEach } from './helpers/storage.js';
import { startTwoZones, TECH_PW, TWO_ZONE_TAGS, type TwoZones } from './helpers/two-zones.js';

// 20:00 UTC on 1 May 2026 is 01:30 on 2 May in Kolkata and 13:00 on 1 May in Los Angeles: each
// site's transducer is calibrated (passed) then, every 365 days.
const CALIBRATED_AT = '2026-05-01T20:00:00.000Z';
// A minute before, each failed as found (then passed at CALIBRATED_AT).
const FAILED_AT = '2026-05-01T19:59:00.000Z';
const HOUR = 3_600_000;

/**
 * Compliance reports over sites in different time zones cut each site's rows on its own local
 * days, and the due-list report's preventive maintenance counts on the same days as its
 * calibration.
 */
describe.each(BACKENDS)('reports on each site’s local days on %s', (backend) => {
  let now = new Date(CALIBRATED_AT);
  let zones: TwoZones | undefined;

  setupOrFailEach(async () => {
    zones = await startTwoZones(backend, {
      clock: () => now,
      calibratedAt: CALIBRATED_AT,
      intervalDays: 365,
    });
    for (const [tag] of TWO_ZONE_TAGS) {
      const cal = await zones.call('POST', '/calibrations', {
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
              asFound: 803.5,
              lowerTolerance: -2,
              upperTolerance: 2,
              asFoundResult: 'fail',
            },
          ],
          adjusted: false,
          asFoundResult: 'fail',
          calibratedAt: FAILED_AT,
        },
        signature: { password: TECH_PW, meaning: 'performed' },
      });
      expect(cal.status, JSON.stringify(cal.body)).toBe(201);
    }
  });
  afterAll(async () => {
    await zones?.close();
  });

  async function generate(body: Record<string, unknown>): Promise<Buffer> {
    const queued = await zones!.asAdmin('POST', '/reports', body);
    expect(queued.status, JSON.stringify(queued.body)).toBe(202);
    const until = Date.now() + 60_000;
    for (;;) {
      const r = await zones!.asAdmin('GET', `/reports/${queued.body.id}`);
      if (r.body.state === 'done') break;
      if (r.body.state === 'failed') throw new Error(`report failed: ${r.body.error}`);
      if (Date.now() > until) throw new Error('report not done in 60 s');
      await new Promise((res) => setTimeout(res, 100));
    }
    const file = await zones!.bytesAsAdmin(`/reports/${queued.body.id}/file`);
    expect(file.status).toBe(200);
    return file.bytes;
  }
  const json = async (body: Record<string, unknown>) =>
    JSON.parse((await generate({ ...body, format: 'json' })).toString('utf8'));

  it('cuts a tenant-wide report on each site’s own days, and says so', async () => {
    const events = async (from: string, to: string) =>
      (await json({ type: 'out-of-tolerance', from, to })).sections.events.map((e: any) => [
        e.equipment,
        e.calibratedAt,
      ]);
    // The failures at 19:59 UTC on 1 May: Kolkata's on its 2 May, Los Angeles' on its 1 May.
    expect(await events('2026-05-02', '2026-05-31')).toEqual([['PT-IN-01', FAILED_AT]]);
    expect(await events('2026-05-01', '2026-05-01')).toEqual([['PT-LA-01', FAILED_AT]]);
    // One site's report: its own days, as before.
    const one = await json({
      type: 'out-of-tolerance',
      siteId: 'plant-in',
      from: '2026-05-02',
      to: '2026-05-02',
    });
    expect(one.sections.events.map((e: any) => e.equipment)).toEqual(['PT-IN-01']);
    expect(one.report.period).toEqual({
      from: '2026-05-02',
      to: '2026-05-02',
      timeZone: 'Asia/Kolkata',
      start: '2026-05-01T18:30:00.000Z',
      end: '2026-05-02T18:30:00.000Z',
    });
    // The JSON gives each site's cut (timeZone, start and end: rows of no site).
    const wide = await json({ type: 'out-of-tolerance', from: '2026-05-01', to: '2026-05-01' });
    expect(wide.report.period).toEqual({
      from: '2026-05-01',
      to: '2026-05-01',
      timeZone: 'UTC',
      start: '2026-05-01T00:00:00.000Z',
      end: '2026-05-02T00:00:00.000Z',
      sites: [
        {
          siteId: 'plant-in',
          timeZone: 'Asia/Kolkata',
          start: '2026-04-30T18:30:00.000Z',
          end: '2026-05-01T18:30:00.000Z',
        },
        {
          siteId: 'plant-la',
          timeZone: 'America/Los_Angeles',
          start: '2026-05-01T07:00:00.000Z',
          end: '2026-05-02T07:00:00.000Z',
        },
      ],
    });
    // The PDF says the period is each site's own days.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-zones-'));
    try {
      const file = path.join(dir, 'oot.pdf');
      writeFileSync(
        file,
        await generate({ type: 'out-of-tolerance', from: '2026-05-01', to: '2026-05-01', format: 'pdf' }),
      );
      const t = spawnSync('pdftotext', ['-layout', file, '-'], { encoding: 'utf8' });
      expect(t.status, t.stderr).toBe(0);
      expect(t.stdout).toContain('2026-05-01 to 2026-05-01 (each site’s local days)');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names in each CSV row the time zone its dates are local days of', async () => {
    const csv = async (body: Record<string, unknown>) => {
      const [head, ...lines] = (await generate({ ...body, format: 'csv' }))
        .toString('utf8')
        .trimEnd()
        .split('\r\n');
      const cols = head!.split(',');
      expect(cols.at(-1)).toBe('timeZone');
      return lines.map((line) => {
        const cells = line
          .match(/("([^"]|"")*"|[^,]*)(,|$)/g)!
          .map((c) => c.replace(/,$/, '').replace(/^"|"$/g, '').replace(/""/g, '"'));
        return Object.fromEntries(cols.map((c, i) => [c, cells[i] ?? '']));
      });
    };
    // Tenant-wide over two zones: each row its own site's zone, its dates that site's days.
    const due = await csv({ type: 'due-list', from: '2026-05-01', to: '2027-06-30' });
    expect(due.map((r) => [r.tag, r.nextDue, r.timeZone, r.lastValidCalibratedAt])).toEqual([
      ['PT-LA-01', '2027-05-01', 'America/Los_Angeles', CALIBRATED_AT],
      ['PT-IN-01', '2027-05-02', 'Asia/Kolkata', CALIBRATED_AT],
    ]);
    // One site's report: that site's zone.
    const one = await csv({ type: 'due-list', siteId: 'plant-in', from: '2026-05-01', to: '2027-06-30' });
    expect(one.map((r) => [r.tag, r.nextDue, r.timeZone])).toEqual([
      ['PT-IN-01', '2027-05-02', 'Asia/Kolkata'],
    ]);
    // Rows of no site (users): the period's zone, UTC over sites in different zones.
    const users = await csv({ type: 'access-review', from: '2026-05-01', to: '2026-05-31' });
    expect(users.length).toBeGreaterThan(0);
    expect(new Set(users.map((r) => r.timeZone))).toEqual(new Set(['UTC']));
  });

  it('counts the due-list report’s maintenance on the site’s days, like its calibration', async () => {
    // The seals replaced at 01:00 in Kolkata (19:30 UTC the day before) most recently: next due 30
    // days after that Kolkata day (by the UTC day it would be one day earlier).
    now = new Date();
    const doneAt = Date.parse(
      `${new Date(now.getTime() - 19.5 * HOUR).toISOString().slice(0, 10)}T19:30:00.000Z`,
    );
    const doneDay = localDay(doneAt, 'Asia/Kolkata');
    const nextDue = addDays(doneDay, 30);
    const plan = await zones!.call('POST', '/equipment/PT-IN-01/maintenance/plans', {
      task: 'replace the seals',
      intervalDays: 30,
      firstDue: doneDay,
    });
    expect(plan.status, JSON.stringify(plan.body)).toBe(201);
    const done = await zones!.call('POST', '/equipment/PT-IN-01/maintenance/events', {
      kind: 'preventive',
      occurredAt: new Date(doneAt).toISOString(),
      description: 'seals replaced',
      planId: plan.body.id,
    });
    expect(done.status, JSON.stringify(done.body)).toBe(201);
    const items = async (body: Record<string, unknown>) =>
      (await json({ type: 'due-list', ...body })).sections.items.map((r: any) => [r.tag, r.pmNextDue]);
    const today = localDay(Date.now(), 'Asia/Kolkata');
    expect(await items({ siteId: 'plant-in', from: today, to: nextDue })).toEqual([['PT-IN-01', nextDue]]);
    expect(await items({ siteId: 'plant-in', from: today, to: addDays(nextDue, -1) })).toEqual([]);
    // Tenant-wide too.
    expect(await items({ from: today, to: nextDue })).toEqual([['PT-IN-01', nextDue]]);
  });
});
