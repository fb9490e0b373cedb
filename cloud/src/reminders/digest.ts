import {
  type EquipmentRow,
  daysBetween,
  statusOn,
  type CalibrationStatus,
  type NextPm,
} from '../calibration/index.js';

/** One instrument in a digest. */
export interface DigestItem {
  tag: string;
  type: string;
  status: Exclude<CalibrationStatus, 'current'>;
  /** Next due date (UTC); null when never validly calibrated. */
  nextDue: string | null;
  /** Days from the digest date to next due: negative when overdue, null when never calibrated. */
  daysLeft: number | null;
  /** The instrument's recall lead time (its dueSoonDays, else the tenant default). */
  leadTimeDays: number;
  lastValidCalibrationAt: string | null;
  location: string | null;
  /** The equipment's page in the portal, when the cloud's public URL is configured. */
  url: string | null;
}

/** A preventive-maintenance task overdue or due within its lead time (PM_DUE_SOON_DAYS). */
export interface DigestMaintenanceItem {
  tag: string;
  type: string;
  location: string | null;
  /** The plan and its task. */
  planId: string;
  task: string;
  status: 'overdue' | 'due-soon';
  nextDue: string;
  /** Days from the digest date to the task's due date: negative when overdue. */
  daysLeft: number;
  url: string | null;
}

/** A piece of equipment and its preventive task due first, as the digest is built from them. */
export interface DigestPm {
  e: EquipmentRow;
  pm: NextPm;
}

/** What one site needs to hear about on one day. The webhook body is this, plus `type`, `version`, `delivery`. */
export interface Digest {
  tenant: string;
  /** `timeZone`: the site's IANA zone, whose calendar day `date` is. */
  site: { id: string; name: string; timeZone: string };
  date: string;
  counts: { outOfTolerance: number; overdue: number; dueSoon: number; maintenance: number };
  outOfTolerance: DigestItem[];
  overdue: DigestItem[];
  dueSoon: DigestItem[];
  /** Preventive maintenance overdue or due within its lead time, overdue first, then by due date. */
  maintenance: DigestMaintenanceItem[];
  /** More instruments need attention than one digest lists (the counts are of those listed). */
  truncated: boolean;
  /** The portal's calibration board, when the cloud's public URL is configured. */
  url: string | null;
}

export const isAllClear = (d: Digest): boolean =>
  d.counts.outOfTolerance + d.counts.overdue + d.counts.dueSoon + (d.counts.maintenance ?? 0) === 0;

/**
 * Sorts the due-list rows of one site (ordered by due date, then tag) into the digest's three
 * lists by the status rules of CALIBRATION.md, each instrument with its own lead time: due soon
 * iff the date is within its lead time of next due.
 */
export function buildDigest(o: {
  tenant: string;
  /** `timeZone`: the site's IANA zone, whose calendar day `date` is. */
  site: { id: string; name: string; timeZone: string };
  date: string;
  rows: readonly EquipmentRow[];
  /** Preventive tasks of the site as of `date` (those current are left out). */
  maintenance?: readonly DigestPm[];
  defaultLeadDays: number;
  truncated: boolean;
  publicUrl: string | undefined;
}): Digest {
  const lists = { 'out-of-tolerance': [], overdue: [], 'due-soon': [] } as Record<
    DigestItem['status'],
    DigestItem[]
  >;
  for (const e of o.rows) {
    const leadTimeDays = e.due_soon_days ?? o.defaultLeadDays;
    const status = statusOn(
      { lastValid: null, nextDue: e.next_due, outOfTolerance: e.out_of_tolerance === 1 },
      o.date,
      leadTimeDays,
    );
    if (status === 'current') continue;
    const spec = JSON.parse(e.spec) as { location?: string };
    lists[status].push({
      tag: e.tag,
      type: e.type,
      status,
      nextDue: e.next_due,
      daysLeft: e.next_due ? daysBetween(o.date, e.next_due) : null,
      leadTimeDays,
      lastValidCalibrationAt: e.last_valid_at,
      location: spec.location ?? null,
      url: o.publicUrl ? `${o.publicUrl}/#/equipment/${encodeURIComponent(e.tag)}` : null,
    });
  }
  const maintenance: DigestMaintenanceItem[] = [];
  for (const { e, pm } of o.maintenance ?? []) {
    if (pm.status === 'current') continue;
    const spec = JSON.parse(e.spec) as { location?: string };
    maintenance.push({
      tag: e.tag,
      type: e.type,
      location: spec.location ?? null,
      planId: pm.planId,
      task: pm.task,
      status: pm.status,
      nextDue: pm.nextDue,
      daysLeft: pm.daysUntilDue,
      url: o.publicUrl ? `${o.publicUrl}/#/equipment/${encodeURIComponent(e.tag)}` : null,
    });
  }
  maintenance.sort((a, b) =>
    a.nextDue < b.nextDue ? -1 : a.nextDue > b.nextDue ? 1 : a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0,
  );
  return {
    tenant: o.tenant,
    site: o.site,
    date: o.date,
    counts: {
      outOfTolerance: lists['out-of-tolerance'].length,
      overdue: lists.overdue.length,
      dueSoon: lists['due-soon'].length,
      maintenance: maintenance.length,
    },
    outOfTolerance: lists['out-of-tolerance'],
    overdue: lists.overdue,
    dueSoon: lists['due-soon'],
    maintenance,
    truncated: o.truncated,
    url: o.publicUrl ? `${o.publicUrl}/#/` : null,
  };
}

/** The webhook body: the digest with a type, a version and the delivery id (the same on retries). */
export function webhookBody(d: Digest, deliveryId: string): string {
  return JSON.stringify({ type: 'calibration.digest', version: 1, delivery: deliveryId, ...d });
}

// ---------------------------------------------------------------------------------------------
// Email.

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

export function subjectOf(d: Digest): string {
  if (isAllClear(d)) return `RigTrace: all clear at ${d.site.name}`;
  const parts: string[] = [];
  if (d.counts.outOfTolerance) parts.push(`${d.counts.outOfTolerance} out of tolerance`);
  if (d.counts.overdue) parts.push(`${d.counts.overdue} overdue`);
  if (d.counts.dueSoon) parts.push(`${d.counts.dueSoon} due soon`);
  if (d.counts.maintenance) parts.push(`${d.counts.maintenance} maintenance due`);
  return `RigTrace: ${parts.join(', ')} at ${d.site.name}`;
}

/** One line of what the item needs, e.g. "overdue by 3 days (due 2025-05-29)". */
export function whenOf(i: DigestItem): string {
  if (i.status === 'out-of-tolerance') return 'out of tolerance: failed calibration, not yet restored';
  if (i.nextDue === null || i.daysLeft === null) return 'never calibrated';
  if (i.status === 'overdue') return `overdue by ${plural(-i.daysLeft, 'day')} (due ${i.nextDue})`;
  const when = i.daysLeft === 0 ? 'today' : `in ${plural(i.daysLeft, 'day')}`;
  return `due ${when} (${i.nextDue}; lead time ${plural(i.leadTimeDays, 'day')})`;
}

/** One line of a preventive task, e.g. "Replace pump seals: overdue by 4 days (due 2025-05-29)". */
export function pmWhenOf(m: DigestMaintenanceItem): string {
  if (m.status === 'overdue') return `${m.task}: overdue by ${plural(-m.daysLeft, 'day')} (due ${m.nextDue})`;
  const when = m.daysLeft === 0 ? 'today' : `in ${plural(m.daysLeft, 'day')}`;
  return `${m.task}: due ${when} (${m.nextDue})`;
}

const PM_TITLE = 'Preventive maintenance due';

const SECTIONS: [keyof Pick<Digest, 'outOfTolerance' | 'overdue' | 'dueSoon'>, string][] = [
  ['outOfTolerance', 'Out of tolerance'],
  ['overdue', 'Overdue'],
  ['dueSoon', 'Due within lead time'],
];

export function emailText(d: Digest): string {
  const lines = [`Calibration digest for ${d.site.name} (${d.site.id}), ${d.date} (${d.site.timeZone})`, ''];
  if (isAllClear(d))
    lines.push(
      'All clear: nothing is overdue, out of tolerance or due within its lead time, and no maintenance is due.',
    );
  for (const [key, title] of SECTIONS) {
    const items = d[key];
    if (items.length === 0) continue;
    lines.push(`${title} (${items.length}):`);
    for (const i of items) {
      lines.push(`- ${i.tag} (${i.type}${i.location ? `, ${i.location}` : ''}): ${whenOf(i)}`);
      if (i.url) lines.push(`  ${i.url}`);
    }
    lines.push('');
  }
  const pms = d.maintenance ?? [];
  if (pms.length) {
    lines.push(`${PM_TITLE} (${pms.length}):`);
    for (const m of pms) {
      lines.push(`- ${m.tag} (${m.type}${m.location ? `, ${m.location}` : ''}): ${pmWhenOf(m)}`);
      if (m.url) lines.push(`  ${m.url}`);
    }
    lines.push('');
  }
  if (d.truncated)
    lines.push('More instruments need attention than this digest lists; see the due-list.', '');
  if (d.url) lines.push(`Calibration board: ${d.url}`, '');
  lines.push(
    '-- ',
    `RigTrace reminders for tenant ${d.tenant}. An admin changes them under the site's reminders.`,
  );
  return `${lines.join('\n')}\n`;
}

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export function emailHtml(d: Digest): string {
  const parts = [
    '<!doctype html><html><head><meta charset="utf-8"><title>',
    esc(subjectOf(d)),
    '</title></head><body style="font-family:sans-serif">',
    `<h1 style="font-size:18px">Calibration digest for ${esc(d.site.name)}, ${esc(d.date)}</h1>`,
  ];
  if (isAllClear(d))
    parts.push(
      '<p>All clear: nothing is overdue, out of tolerance or due within its lead time, and no maintenance is due.</p>',
    );
  for (const [key, title] of SECTIONS) {
    const items = d[key];
    if (items.length === 0) continue;
    parts.push(
      `<h2 style="font-size:16px">${esc(title)} (${items.length})</h2>`,
      '<table cellpadding="4" style="border-collapse:collapse"><tr><th align="left">Equipment</th><th align="left">Type</th><th align="left">Location</th><th align="left">Status</th></tr>',
    );
    for (const i of items) {
      const tag = i.url ? `<a href="${esc(i.url)}">${esc(i.tag)}</a>` : esc(i.tag);
      parts.push(
        `<tr><td>${tag}</td><td>${esc(i.type)}</td><td>${esc(i.location ?? '')}</td><td>${esc(whenOf(i))}</td></tr>`,
      );
    }
    parts.push('</table>');
  }
  const pms = d.maintenance ?? [];
  if (pms.length) {
    parts.push(
      `<h2 style="font-size:16px">${esc(PM_TITLE)} (${pms.length})</h2>`,
      '<table cellpadding="4" style="border-collapse:collapse"><tr><th align="left">Equipment</th><th align="left">Type</th><th align="left">Location</th><th align="left">Task</th></tr>',
    );
    for (const m of pms) {
      const tag = m.url ? `<a href="${esc(m.url)}">${esc(m.tag)}</a>` : esc(m.tag);
      parts.push(
        `<tr><td>${tag}</td><td>${esc(m.type)}</td><td>${esc(m.location ?? '')}</td><td>${esc(pmWhenOf(m))}</td></tr>`,
      );
    }
    parts.push('</table>');
  }
  if (d.truncated)
    parts.push('<p>More instruments need attention than this digest lists; see the due-list.</p>');
  if (d.url) parts.push(`<p><a href="${esc(d.url)}">Open the calibration board</a></p>`);
  parts.push('</body></html>');
  return parts.join('');
}
