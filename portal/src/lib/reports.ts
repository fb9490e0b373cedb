/**
 * Compliance reports and the clause map (cloud: src/routes/reports.routes.ts): request a report,
 * follow its progress while it is generated in the background, download it. The shapes below are
 * the cloud's ReportView and the clause map's entries (from the API document); the calls are in reports-api.ts (the portal's one client:
 * session cookie, CSRF token, problem+json → ApiError). Tested in portal/test/reports.test.ts.
 */
import type { Answer } from './answer.js';
import { dayIn } from './time.js';

export const REPORT_TYPES = [
  'calibration-register',
  'due-list',
  'out-of-tolerance',
  'access-review',
  'export-access',
  'integrity',
] as const;
export type ReportType = (typeof REPORT_TYPES)[number];
export const REPORT_FORMATS = ['pdf', 'csv', 'json'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];
export type ReportState = 'queued' | 'running' | 'done' | 'failed';

export const REPORT_LABEL: Record<ReportType, string> = {
  'calibration-register': 'Calibration register',
  'due-list': 'Due and overdue list',
  'out-of-tolerance': 'Out-of-tolerance events',
  'access-review': 'Access review',
  'export-access': 'Export-controlled data access',
  integrity: 'Integrity statement',
};

export const REPORT_HINT: Record<ReportType, string> = {
  'calibration-register':
    'Every instrument with its calibration history, status and next due (AS9100D 7.1.5.2, ISO/IEC 17025 6.4.13).',
  'due-list': 'What is due or overdue, with lead times.',
  'out-of-tolerance':
    'Failed as-found calibrations, the suspect window and records, disposition and customer notification (IATF 16949 7.1.5.2.1).',
  'access-review':
    'Users, roles, site scopes, MFA, last sign-in, disabled accounts (NIST 800-171 3.1, SOC 2 CC6.2–6.3).',
  'export-access': 'Who opened ITAR/EAR-flagged items, when and from where.',
  integrity: 'The audit log and every edge log verified now, with the checkpoints used.',
};

/** A report and its progress (GET /reports/{id}). */
export type Report = Answer<'/reports/{id}', 'get'>;

export interface ReportRequest {
  type: ReportType;
  siteId?: string;
  from: string;
  to: string;
  format: ReportFormat;
}

/** An entry of the clause map (GET /compliance/clauses). */
export type Clause = Answer<'/compliance/clauses', 'get'>['items'][number];
export type Coverage = Clause['coverage'];

export const COVERAGE_LABEL: Record<Coverage, string> = {
  covered: 'Covered',
  partial: 'Partly covered',
  'not-covered': 'Not covered',
};

/** Where the browser downloads a finished report (same origin, the session cookie goes along). */
export const fileUrl = (r: Pick<Report, 'id' | 'file'>) =>
  r.file?.url ?? `/api/v1/reports/${encodeURIComponent(r.id)}/file`;

export const isPending = (r: Pick<Report, 'state'>) => r.state === 'queued' || r.state === 'running';

/** Progress 0..100 (null while the total is not known yet). */
export function percent(r: Pick<Report, 'state' | 'progress'>): number | null {
  if (r.state === 'done') return 100;
  const { done, total } = r.progress;
  if (!(total > 0)) return null;
  return Math.max(0, Math.min(100, Math.floor((done / total) * 100)));
}

export function describeProgress(r: Pick<Report, 'state' | 'progress' | 'error'>): string {
  switch (r.state) {
    case 'queued':
      return 'Waiting to start…';
    case 'running': {
      const p = percent(r);
      return p === null
        ? 'Generating…'
        : `Generating… ${p} % (${r.progress.done.toLocaleString('en-US')} of ${r.progress.total.toLocaleString('en-US')} rows)`;
    }
    case 'done':
      return 'Ready';
    case 'failed':
      return `Failed: ${r.error ?? 'unknown error'}`;
  }
}

/** "12.3 KB" */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** The calendar day `n` days after the day `d` (YYYY-MM-DD; negative `n`: before). */
export const addDays = (d: string, n: number) =>
  new Date(Date.parse(`${d}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);

/** `days` days back from the site's today (in `zone`) up to it: `{ from, to }` as YYYY-MM-DD. */
export function daysBack(now: Date, days: number, zone = 'UTC'): { from: string; to: string } {
  const today = dayIn(now.toISOString(), zone);
  return { from: addDays(today, -days), to: today };
}

/**
 * The default period of a report, in the site's days (`zone`): the due list looks ahead (today
 * and the next 30 days, what a planner schedules); every other report looks back over the last
 * 90 days up to today.
 */
export function defaultPeriod(
  now = new Date(),
  type: ReportType = 'calibration-register',
  zone = 'UTC',
): { from: string; to: string } {
  const today = dayIn(now.toISOString(), zone);
  if (type === 'due-list') return { from: today, to: addDays(today, 30) };
  return daysBack(now, 90, zone);
}

/** A sentence for a person, or null when the request can be sent. */
export function validateRequest(r: ReportRequest): string | null {
  if (!REPORT_TYPES.includes(r.type)) return 'Choose a report.';
  if (!REPORT_FORMATS.includes(r.format)) return 'Choose a format.';
  const re = /^\d{4}-\d{2}-\d{2}$/;
  if (!re.test(r.from) || !re.test(r.to)) return 'Enter both dates of the period.';
  if (r.to < r.from) return 'The period ends before it starts.';
  return null;
}

/**
 * Polls a report until it is done or failed, calling `onUpdate` with each answer; the delay grows
 * from 500 ms to 3 s. Stops (rejecting with AbortError) when `signal` aborts.
 */
export async function followReport(
  id: string,
  onUpdate: (r: Report) => void,
  signal: AbortSignal,
  get: (id: string, signal: AbortSignal) => Promise<Report>,
): Promise<Report> {
  let wait = 500;
  for (;;) {
    const r = await get(id, signal);
    onUpdate(r);
    if (!isPending(r)) return r;
    await new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(new DOMException('stopped', 'AbortError'));
      const t = setTimeout(resolve, wait);
      signal.addEventListener(
        'abort',
        () => {
          clearTimeout(t);
          reject(new DOMException('stopped', 'AbortError'));
        },
        { once: true },
      );
    });
    wait = Math.min(3000, Math.round(wait * 1.5));
  }
}
