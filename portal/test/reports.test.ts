import { describe, expect, it } from 'vitest';
import {
  defaultPeriod,
  describeProgress,
  fileUrl,
  followReport,
  formatBytes,
  isPending,
  percent,
  validateRequest,
  type Report,
} from '../src/lib/reports.js';

const report = (over: Partial<Report> = {}): Report => ({
  id: '0190a8c2-0000-7000-8000-000000000001',
  type: 'calibration-register',
  title: 'Calibration register',
  siteId: null,
  from: '2026-01-01',
  to: '2026-03-31',
  format: 'pdf',
  state: 'queued',
  progress: { done: 0, total: 0 },
  requestedBy: { type: 'user', id: 'u-1' },
  requestedAt: '2026-04-01T08:00:00.000Z',
  startedAt: null,
  finishedAt: null,
  error: null,
  file: null,
  sources: null,
  summary: null,
  ...over,
});

describe('report progress', () => {
  it('turns done/total into a percentage and a sentence', () => {
    expect(percent(report())).toBeNull();
    expect(percent(report({ state: 'running', progress: { done: 2500, total: 10_000 } }))).toBe(25);
    expect(percent(report({ state: 'running', progress: { done: 12, total: 10 } }))).toBe(100);
    expect(percent(report({ state: 'done', progress: { done: 0, total: 0 } }))).toBe(100);
    expect(describeProgress(report())).toBe('Waiting to start…');
    expect(describeProgress(report({ state: 'running', progress: { done: 2500, total: 10_000 } }))).toBe(
      'Generating… 25 % (2,500 of 10,000 rows)',
    );
    expect(describeProgress(report({ state: 'failed', error: 'the database went away' }))).toBe(
      'Failed: the database went away',
    );
    expect(isPending(report({ state: 'running' }))).toBe(true);
    expect(isPending(report({ state: 'failed' }))).toBe(false);
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(20_480)).toBe('20.0 KB');
    expect(formatBytes(3 * 1024 * 1024)).toBe('3.0 MB');
  });

  it('downloads from the file URL the cloud gives, else the report’s file route', () => {
    expect(fileUrl(report())).toBe('/api/v1/reports/0190a8c2-0000-7000-8000-000000000001/file');
    expect(
      fileUrl(
        report({
          file: {
            name: 'r.pdf',
            contentType: 'application/pdf',
            size: 1,
            sha256: 'ab',
            url: '/api/v1/reports/x/file',
          },
        }),
      ),
    ).toBe('/api/v1/reports/x/file');
  });

  it('polls until the report is done, reporting each state, and stops when aborted', async () => {
    const states: Report[] = [
      report({ state: 'queued' }),
      report({ state: 'running', progress: { done: 1, total: 3 } }),
      report({ state: 'done', progress: { done: 3, total: 3 } }),
    ];
    const seen: string[] = [];
    let calls = 0;
    const done = await followReport(
      'r1',
      (r) => seen.push(`${r.state}:${r.progress.done}`),
      new AbortController().signal,
      (id) => {
        expect(id).toBe('r1');
        return Promise.resolve(states[Math.min(calls++, states.length - 1)]!);
      },
    );
    expect(done.state).toBe('done');
    expect(seen).toEqual(['queued:0', 'running:1', 'done:3']);

    const abort = new AbortController();
    const following = followReport(
      'r2',
      () => abort.abort(),
      abort.signal,
      () => Promise.resolve(report({ state: 'running' })),
    );
    await expect(following).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('a report request', () => {
  it('is checked before it is sent', () => {
    const ok = { type: 'due-list' as const, from: '2026-01-01', to: '2026-03-31', format: 'csv' as const };
    expect(validateRequest(ok)).toBeNull();
    expect(validateRequest({ ...ok, to: '2025-12-31' })).toBe('The period ends before it starts.');
    expect(validateRequest({ ...ok, from: '' })).toBe('Enter both dates of the period.');
    expect(validateRequest({ ...ok, type: 'everything' as never })).toBe('Choose a report.');
    expect(validateRequest({ ...ok, format: 'docx' as never })).toBe('Choose a format.');
  });

  it('defaults to the last 90 days up to today', () => {
    expect(defaultPeriod(new Date('2026-04-01T10:00:00Z'))).toEqual({ from: '2026-01-01', to: '2026-04-01' });
    expect(defaultPeriod(new Date('2026-04-01T10:00:00Z'), 'out-of-tolerance')).toEqual({
      from: '2026-01-01',
      to: '2026-04-01',
    });
  });

  it('counts the period in the site’s days, not UTC days', () => {
    // 23:30 UTC on 6 December is already 7 December in Berlin, still 6 December in Chicago.
    const late = new Date('2026-12-06T23:30:00Z');
    expect(defaultPeriod(late, 'due-list', 'Europe/Berlin')).toEqual({
      from: '2026-12-07',
      to: '2027-01-06',
    });
    expect(defaultPeriod(late, 'calibration-register', 'Europe/Berlin')).toEqual({
      from: '2026-09-08',
      to: '2026-12-07',
    });
    // 03:00 UTC on 7 December is 6 December in Chicago (UTC−6).
    expect(defaultPeriod(new Date('2026-12-07T03:00:00Z'), 'due-list', 'America/Chicago')).toEqual({
      from: '2026-12-06',
      to: '2027-01-05',
    });
    expect(defaultPeriod(late, 'due-list', 'UTC')).toEqual({ from: '2026-12-06', to: '2027-01-05' });
  });

  it('lets the due list look 30 days ahead from today', () => {
    expect(defaultPeriod(new Date('2026-12-06T10:00:00Z'), 'due-list')).toEqual({
      from: '2026-12-06',
      to: '2027-01-05',
    });
  });
});
