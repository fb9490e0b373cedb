import { describe, expect, it } from 'vitest';
import { filterBoard, indexBoard } from '../src/lib/board.js';
import { byUrgency } from '../src/lib/calibration.js';
import {
  emptyPoint,
  nowInZone,
  pointResult,
  validateCalibration,
  type CalibrationDraft,
} from '../src/lib/calibration-form.js';
import { asFoundErrorSeries, dayTicks } from '../src/lib/chart.js';
import { countdown, idleTimes } from '../src/lib/idle.js';
import { ROLES, ROLE_PERMISSIONS, rolesWith, type Role } from '../../cloud/src/access/policy.js';
import { mayOpen, navFor, rolesText } from '../src/lib/nav.js';
import type { Calibration } from '../src/lib/types.js';
import { makeRegister } from './fixtures.js';

describe('calibration board filtering', () => {
  const register = makeRegister(10_000);
  const index = indexBoard(register);

  it('sorts once by urgency and counts each status', () => {
    expect(index.items).toEqual([...register].sort(byUrgency));
    const total = Object.values(index.counts).reduce((a, b) => a + b, 0);
    expect(total).toBe(10_000);
    expect(index.counts['out-of-tolerance']).toBe(
      register.filter((e) => e.calibration.status === 'out-of-tolerance').length,
    );
    expect(index.items[0]!.calibration.status).toBe('out-of-tolerance');
    expect(index.items.at(-1)!.calibration.status).toBe('current');
  });

  it('filters by status and by text in tag, type or location, keeping the urgency order', () => {
    const naive = (filter: string, q: string) =>
      [...register]
        .filter((e) => filter === 'all' || e.calibration.status === filter)
        .filter((e) =>
          [e.tag, e.type, e.location ?? ''].some((s) => s.toLowerCase().includes(q.trim().toLowerCase())),
        )
        .sort(byUrgency);
    for (const [filter, q] of [
      ['all', ''],
      ['overdue', ''],
      ['all', 'flow-0001'],
      ['due-soon', 'PT-'],
      ['current', ' torque '],
      ['out-of-tolerance', 'line 12'],
      ['all', 'no such thing'],
    ] as const) {
      const got = filterBoard(index, filter, q);
      expect(
        got.map((e) => e.tag),
        `${filter} / ${q}`,
      ).toEqual(naive(filter, q).map((e) => e.tag));
    }
    expect(filterBoard(index, 'all', 'no such thing')).toEqual([]);
    expect(filterBoard(index, 'all', 'FLOW-00010').map((e) => e.tag)).toEqual(['FLOW-00010']);
  });
});

describe('navigation by permission', () => {
  // The menu follows the permissions the cloud's policy gives each role (no second list).
  const of = (role: Role) => [...ROLE_PERMISSIONS[role]];
  const pages = (role: Role) => navFor(of(role)).map((i) => i.page);

  it('offers each role only what its permissions open', () => {
    expect(pages('admin')).toEqual([
      'board',
      'register',
      'procedures',
      'record',
      'approvals',
      'cases',
      'live',
      'spc',
      'sites',
      'edges',
      'users',
      'security',
      'api-tokens',
      'audit',
      'reports',
      'clauses',
      'account',
    ]);
    expect(pages('technician')).toEqual([
      'board',
      'register',
      'procedures',
      'record',
      'approvals',
      'cases',
      'live',
      'spc',
      'account',
    ]);
    expect(pages('manager')).toEqual([
      'board',
      'register',
      'procedures',
      'approvals',
      'cases',
      'live',
      'spc',
      'account',
    ]);
    expect(pages('auditor')).toEqual([
      'board',
      'register',
      'procedures',
      'cases',
      'live',
      'spc',
      'audit',
      'reports',
      'clauses',
      'account',
    ]);
    expect(mayOpen(of('manager'), 'users')).toBe(false);
    // Editing the register is for those who may write calibrations; reading it for everyone.
    expect(mayOpen(of('technician'), 'register-edit')).toBe(true);
    expect(mayOpen(of('auditor'), 'register-edit')).toBe(false);
    expect(mayOpen(of('auditor'), 'audit')).toBe(true);
  });

  it('opens the approvals queue to exactly the roles the policy lets approve', () => {
    for (const role of ROLES)
      expect(mayOpen(of(role), 'approvals'), role).toBe(rolesWith('calibrations:approve').includes(role));
    expect(rolesText(rolesWith('calibrations:approve'))).toBe('admin, manager or technician');
    expect(rolesText(['admin'])).toBe('admin');
  });
});

describe('hand-entered calibration', () => {
  const NOW = new Date('2026-03-10T12:00:00Z');
  const draft = (over: Partial<CalibrationDraft> = {}): CalibrationDraft => ({
    equipment: 'FLOW-CELL-07',
    calibratedAt: '2026-03-10T09:30',
    technician: 'A. Smith (level 3)',
    certificate: 'CERT-1',
    standards: [{ id: 'STD-DWT-02', certificate: 'TR-55821' }],
    points: [
      {
        name: 'flow@60',
        unit: 'mm3',
        nominal: '60',
        lowerTolerance: '-1',
        upperTolerance: '1',
        asFound: '63.4',
        asLeft: '60.2',
      },
    ],
    adjusted: true,
    password: 'secret',
    meaning: 'performed',
    ...over,
  });

  it('computes pass and fail from the tolerance, never from what was typed', () => {
    expect(pointResult(60, -1, 1, 61)).toBe('pass');
    expect(pointResult(60, -1, 1, 61.0001)).toBe('fail');
    expect(pointResult(60, -0.1, 0.1, 60.1)).toBe('pass');
    // The same answer as the edge's and the cloud's rule, at the limits and just outside them.
    expect(pointResult(60, -0.1, 0.1, 59.9)).toBe('pass');
    expect(pointResult(60, -0.1, 0.1, 59.9 - 1e-12)).toBe('fail');
    expect(pointResult(60, -0.1, 0.1, 60.1 + 1e-12)).toBe('fail');
    const v = validateCalibration(draft(), NOW);
    expect(v.ok).toBe(true);
    if (!v.ok) return;
    expect(v.request).toEqual({
      equipment: 'FLOW-CELL-07',
      enteredBy: 'A. Smith (level 3)',
      body: {
        technician: 'A. Smith (level 3)',
        certificate: { number: 'CERT-1' },
        standards: [{ id: 'STD-DWT-02', certificate: 'TR-55821' }],
        points: [
          {
            name: 'flow@60',
            nominal: 60,
            unit: 'mm3',
            asFound: 63.4,
            asLeft: 60.2,
            lowerTolerance: -1,
            upperTolerance: 1,
            asFoundResult: 'fail',
            asLeftResult: 'pass',
          },
        ],
        adjusted: true,
        asFoundResult: 'fail',
        asLeftResult: 'pass',
        calibratedAt: '2026-03-10T09:30:00.000Z',
      },
      signature: { password: 'secret', meaning: 'performed' },
    });
  });

  it('names every field that is wrong', () => {
    const v = validateCalibration(
      draft({
        equipment: ' ',
        calibratedAt: '2026-03-11T09:30',
        technician: '',
        points: [{ ...emptyPoint(), nominal: 'sixty', lowerTolerance: '0.5', asFound: '1,5' }],
        password: '',
        adjusted: false,
      }),
      NOW,
    );
    expect(v.ok).toBe(false);
    if (v.ok) return;
    expect(Object.keys(v.errors).sort()).toEqual(
      [
        'equipment',
        'calibratedAt',
        'technician',
        'points.0.name',
        'points.0.unit',
        'points.0.nominal',
        'points.0.lowerTolerance',
        'points.0.upperTolerance',
        'points.0.asFound',
        'password',
      ].sort(),
    );
    expect(v.errors.calibratedAt).toContain('future');
    const noPoints = validateCalibration(draft({ points: [] }), NOW);
    expect(!noPoints.ok && noPoints.errors.points).toBeTruthy();
    const notAdjusted = validateCalibration(draft({ adjusted: false }), NOW);
    expect(!notAdjusted.ok && notAdjusted.errors.adjusted).toContain('Adjusted');
  });

  it('reads "Calibrated at" in the site’s time zone and sends the UTC instant', () => {
    // 09:30 in Berlin in March (CET, UTC+1) is 08:30 UTC.
    const v = validateCalibration(draft(), NOW, 'Europe/Berlin');
    expect(v.ok && v.request.body.calibratedAt).toBe('2026-03-10T08:30:00.000Z');
    // Summer time: 09:30 CEST is 07:30 UTC; Chicago in winter (UTC−6): 15:30 UTC.
    const summer = validateCalibration(
      draft({ calibratedAt: '2026-07-01T09:30' }),
      new Date('2026-07-02'),
      'Europe/Berlin',
    );
    expect(summer.ok && summer.request.body.calibratedAt).toBe('2026-07-01T07:30:00.000Z');
    const chicago = validateCalibration(draft(), new Date('2026-03-11'), 'America/Chicago');
    expect(chicago.ok && chicago.request.body.calibratedAt).toBe('2026-03-10T14:30:00.000Z');
    // The future is the site's: 12:30 in Berlin is 11:30 UTC, before NOW (12:00 UTC); 13:30 is after.
    expect(validateCalibration(draft({ calibratedAt: '2026-03-10T12:30' }), NOW, 'Europe/Berlin').ok).toBe(
      true,
    );
    const later = validateCalibration(draft({ calibratedAt: '2026-03-10T13:30' }), NOW, 'Europe/Berlin');
    expect(!later.ok && later.errors.calibratedAt).toContain('future');
    // The form opens on now in the site's zone.
    expect(nowInZone('Europe/Berlin', NOW)).toBe('2026-03-10T13:00');
    expect(nowInZone('UTC', NOW)).toBe('2026-03-10T12:00');
  });
});

describe('session inactivity', () => {
  it('warns two minutes before the server would end a 15-minute idle session, 30 s early', () => {
    const t = idleTimes(1_000_000, 900);
    expect(t.endsAt).toBe(1_000_000 + 870_000);
    expect(t.warnAt).toBe(t.endsAt - 120_000);
    const short = idleTimes(0, 60);
    expect(short.endsAt).toBe(30_000);
    expect(short.warnAt).toBe(15_000);
    expect(countdown(119_001)).toBe('2:00');
    expect(countdown(61_000)).toBe('1:01');
    expect(countdown(-5)).toBe('0:00');
  });
});

describe('as-found error chart', () => {
  const cal = (at: string, asFound: number, name = 'flow@60'): Calibration =>
    ({
      id: at,
      calibratedAt: at,
      body: {
        standards: [],
        adjusted: false,
        points: [
          {
            name,
            nominal: 60,
            unit: 'mm3',
            asFound,
            lowerTolerance: -2,
            upperTolerance: 1,
            asFoundResult: 'pass',
          },
        ],
      },
    }) as unknown as Calibration;

  it('puts each point on a % of tolerance scale, oldest first', () => {
    const s = asFoundErrorSeries([
      cal('2026-02-01T00:00:00Z', 63),
      cal('2026-01-01T00:00:00Z', 59),
      cal('2026-03-01T00:00:00Z', 60, 'p2'),
    ]);
    expect(s.x).toEqual([1767225600, 1769904000, 1772323200]);
    expect(s.series).toEqual([
      { name: 'flow@60', values: [-50, 300, null] },
      { name: 'p2', values: [null, null, 0] },
    ]);
  });

  it('labels the time axis with days in the site’s zone', () => {
    // 2026-02-19 23:30 UTC is already the 20th in Berlin.
    const t = Date.parse('2026-02-19T23:30:00Z') / 1000;
    expect(dayTicks([t], 'UTC')).toEqual(['2026-02-19']);
    expect(dayTicks([t], 'Europe/Berlin')).toEqual(['2026-02-20']);
  });
});

describe('display helpers', () => {
  it('says whether a suspect record named the failed device’s position or was made while it sat there', async () => {
    const { suspectPlace } = await import('../src/lib/oot.js');
    const at = { via: 'position', position: 'RIG-01 / rail pressure' };
    expect(suspectPlace({ ...at, named: true })).toBe('named position RIG-01 / rail pressure');
    expect(suspectPlace({ ...at, named: false })).toBe('made while installed in RIG-01 / rail pressure');
    expect(suspectPlace({ via: 'gauge', position: null, named: false })).toBe('');
  });

  it('reads evidence record lists and refuses what is not one', async () => {
    const { parseSeqList, ago } = await import('../src/lib/format.js');
    expect(parseSeqList('1-3, 7 5,5')).toEqual([1, 2, 3, 5, 7]);
    expect(() => parseSeqList('')).toThrow(/Enter record numbers/);
    expect(() => parseSeqList('3-1')).toThrow(/not a valid range/);
    expect(() => parseSeqList('0')).toThrow(/not a valid range/);
    expect(() => parseSeqList('1-2000')).toThrow(/At most 1000/);
    expect(() => parseSeqList('1;2')).toThrow(/"1;2"/);
    const now = Date.parse('2026-01-02T00:00:00Z');
    expect(ago(null, now)).toBe('never');
    expect(ago('2026-01-01T23:59:30Z', now)).toBe('just now');
    expect(ago('2026-01-01T23:50:00Z', now)).toBe('10 min ago');
    expect(ago('2026-01-01T21:00:00Z', now)).toBe('3 h ago');
    expect(ago('2025-12-31T00:00:00Z', now)).toBe('2 days ago');
  });
});
