import { wholeTenant, type Viewer } from '../access/index.js';
import { DEFAULT_DUE_SOON_DAYS, statusOn } from '../calibration/index.js';
import { localDay } from '../platform/time-zone.js';
import { fmtInt } from './pdf.js';
import type { ReportsRepository } from './reports.repository.js';
import type { OotService } from '../oot/index.js';
import type { ReportType } from './types.js';

export type Coverage = 'covered' | 'partial' | 'not-covered';

export interface ClauseItem {
  standard: string;
  clause: string;
  title: string;
  coverage: Coverage;
  /** Live figures in a sentence. */
  evidence: string;
  figures: Record<string, unknown>;
  /** The report that proves it, if any. */
  report: ReportType | null;
  note: string;
}

const DAY = 86_400_000;

/**
 * The clause map: for each clause the product supports, the live evidence behind it and the
 * report that proves it; and, honestly, what it does not cover. Figures are read now from the
 * tenant's data (the calibration status from the register's cached calendar state; integrity
 * from the newest integrity report, since verifying every log on each page view would be slow).
 * Every figure of equipment and calibrations counts only what `v` sees (its sites, and
 * export-controlled equipment only when cleared).
 */
export async function clauseMap(
  repo: ReportsRepository,
  oot: Pick<OotService, 'casesOf'>,
  v: Viewer,
  siteId: string | null,
  opts: { now?: number } = {},
): Promise<ClauseItem[]> {
  const tenantId = v.tenantId;
  const now = opts.now ?? Date.now();
  // Each instrument's "today" is the local day of its own site (a site not found reads as UTC).
  const zones = await repo.siteZones(wholeTenant(tenantId));
  const dayAt = (siteId: string) => localDay(now, zones.get(siteId) ?? 'UTC');
  // The figures' asOf: the site's day, or for the whole tenant the latest of its sites' days.
  const day =
    siteId !== null
      ? dayAt(siteId)
      : [...zones.keys()].map(dayAt).reduce((a, b) => (a > b ? a : b), localDay(now, 'UTC'));
  const dflt = (await repo.dueSoonDefault(v)) ?? DEFAULT_DUE_SOON_DAYS;

  // Calibration.
  const states = await repo.equipmentStates(v, siteId);
  const tally = { current: 0, 'due-soon': 0, overdue: 0, 'out-of-tolerance': 0 };
  let standards = 0;
  for (const e of states) {
    tally[
      statusOn(
        { lastValid: null, nextDue: e.next_due, outOfTolerance: e.out_of_tolerance === 1 },
        dayAt(e.site_id),
        e.due_soon_days ?? dflt,
      )
    ] += 1;
    standards += e.is_reference_standard;
  }
  const total = states.length;
  const inCal = tally.current + tally['due-soon'];
  const yearAgo = new Date(now - 365 * DAY).toISOString();
  const flaggedCals = await repo.flaggedCalibrationsSince(v, yearAgo, siteId);
  const failed = await repo.failedCalibrations(v, {
    siteId,
    period: { fromIso: yearAgo, toIso: new Date(now + DAY).toISOString() },
  });
  const cases = [
    ...(
      await oot.casesOf(
        tenantId,
        failed.map((c) => c.id),
      )
    ).values(),
  ];
  const closedCases = cases.filter((k) => k.state === 'closed').length;
  const suspectRecords = cases.reduce((n, k) => n + k.progress.suspect, 0);
  const decidedRecords = cases.reduce((n, k) => n + k.progress.decided, 0);
  const notifications = cases.reduce((n, k) => n + k.notifications, 0);

  // Access.
  const users = (await repo.users(v)).filter((u) => {
    if (!siteId || typeof u.sites !== 'string') return true;
    return (JSON.parse(u.sites) as string[]).includes(siteId);
  });
  const active = users.filter((u) => !u.disabled_at);
  const mfa = active.filter((u) => !!u.totp_enabled_at).length;
  const scoped = active.filter((u) => !!u.sites).length;
  const byRole: Record<string, number> = {};
  for (const u of active) byRole[String(u.role)] = (byRole[String(u.role)] ?? 0) + 1;
  const policy = await repo.securityPolicy(v);
  const mfaRoles = policy ? (JSON.parse(policy.mfa_required_roles) as string[]) : [];
  const activeTokens = (await repo.apiTokens(v)).filter((t) => !t.revoked_at).length;

  // Audit and integrity.
  const auditSize = await repo.auditSize(v);
  const lastIntegrity = await repo.lastIntegrityReport(v);
  const integrity = lastIntegrity?.summary
    ? (JSON.parse(lastIntegrity.summary) as { ok?: boolean; findings?: string[] })
    : null;
  const integrityText = lastIntegrity
    ? integrity?.ok
      ? `last integrity report (${lastIntegrity.finished_at}): no tampering detected`
      : `last integrity report (${lastIntegrity.finished_at}): TAMPERING DETECTED (${(integrity?.findings ?? []).length} findings)`
    : 'no integrity report generated yet';
  const security30 = await repo.countSecurityEvents(
    v,
    new Date(now - 30 * DAY).toISOString(),
    new Date(now + DAY).toISOString(),
  );
  const exportLog = await repo.tableExists('export_access_log');
  const exportAccess90 = exportLog
    ? await repo.countExportAccess(
        v,
        new Date(now - 90 * DAY).toISOString(),
        new Date(now + DAY).toISOString(),
      )
    : null;

  const maintenance = await repo.maintenanceFigures(v, siteId, yearAgo);

  const calFigures = {
    instruments: total,
    inCalibration: inCal,
    ...tally,
    referenceStandards: standards,
    asOf: day,
  };
  const instrumentsText = `${fmtInt(inCal)} of ${fmtInt(total)} instruments in calibration, ${fmtInt(tally.overdue)} overdue, ${fmtInt(tally['out-of-tolerance'])} out of tolerance, ${fmtInt(tally['due-soon'])} due soon`;
  const accessFigures = {
    activeUsers: active.length,
    disabledUsers: users.length - active.length,
    byRole,
    siteScoped: scoped,
    mfaEnabled: mfa,
    mfaRequiredRoles: mfaRoles,
    activeApiTokens: activeTokens,
  };
  const roleText = Object.entries(byRole)
    .map(([r, n]) => `${n} ${r}`)
    .join(', ');

  return [
    {
      standard: 'ISO 9001:2015',
      clause: '7.1.5',
      title: 'Monitoring and measuring resources',
      coverage: 'covered',
      evidence: instrumentsText,
      figures: calFigures,
      report: 'calibration-register',
      note: 'Every instrument is registered with its interval, recall lead time and calendar status, computed from its calibration history; the due list shows what to recall.',
    },
    {
      standard: 'AS9100D',
      clause: '7.1.5.2',
      title: 'Measurement traceability (register, recall, validity of previous results)',
      coverage: 'covered',
      evidence: `${fmtInt(total)} instruments registered with the AS9100D fields, ${fmtInt(standards)} reference standards; ${fmtInt(flaggedCals)} calibrations in the last 12 months flagged for an unfit reference standard`,
      figures: { ...calFigures, flaggedCalibrations12Months: flaggedCals },
      report: 'calibration-register',
      note: 'Covered: register, recall (due list, calendar and usage intervals), traceability to reference standards (a certificate cited that is not the register’s is flagged; a standard’s late calibration or failure re-evaluates the calibrations made with it, and its suspect chain names the instruments calibrated with it and what they measured since: each part and record, with the instrument, the rig and the time), suspect-product lists after a failure, certificate files (PDF or Digital Calibration Certificate) stored with their SHA-256, a DCC’s points compared with what was entered. Not covered: a DCC’s XML signature is not verified and the DCC schema is not validated.',
    },
    {
      standard: 'ISO/IEC 17025:2017',
      clause: '6.4.13',
      title: 'Records of equipment',
      coverage: 'covered',
      evidence: `${fmtInt(total)} equipment records with identity, software/firmware, location, calibration dates and results, acceptance criteria and next due date; ${fmtInt(maintenance.events)} maintenance events in the last 12 months, ${fmtInt(maintenance.plans)} preventive-maintenance plans, ${fmtInt(maintenance.outOfService)} instruments out of service`,
      figures: {
        ...calFigures,
        maintenanceEvents12Months: maintenance.events,
        maintenancePlans: maintenance.plans,
        outOfService: maintenance.outOfService,
      },
      report: 'calibration-register',
      note: 'Covered: the register holds the 6.4.13 a–f fields; every damage, malfunction, modification, repair and preventive task done is logged with who, when, what and the parts (g, h), on the audit trail; preventive-maintenance plans with their own intervals show their next due date; equipment out of service, or waiting for a calibration after a repair, is tagged out (its use raises an alert).',
    },
    {
      standard: 'IATF 16949:2016',
      clause: '7.1.5.2.1',
      title: 'Calibration/verification records; action on out-of-tolerance',
      coverage: 'partial',
      evidence: `${fmtInt(failed.length)} out-of-tolerance calibrations in the last 12 months, ${fmtInt(cases.length)} cases (${fmtInt(closedCases)} closed); ${fmtInt(decidedRecords)} of ${fmtInt(suspectRecords)} suspect records with a signed decision; ${fmtInt(notifications)} customer notifications`,
      figures: {
        outOfTolerance12Months: failed.length,
        cases: cases.length,
        casesClosed: closedCases,
        suspectRecords,
        decidedRecords,
        customerNotifications: notifications,
      },
      report: 'out-of-tolerance',
      note: 'Covered: as-found readings kept; a case opened with an alert for every failed calibration; every suspect usage/inspection record listed automatically with the characteristics it may have affected and their margins, including the tests a rig made while the instrument sat in one of its positions; signed impact assessment and disposition per part, lot or record; signed customer notifications; the instrument tagged out (usage raises an alert) until it passes again. Not covered: shipment state is only as current as the plant sends it (PUT /parts/shipments).',
    },
    {
      standard: 'NIST SP 800-171 r2',
      clause: '3.1',
      title: 'Access control',
      coverage: 'partial',
      evidence: `${fmtInt(active.length)} active accounts (${roleText || 'none'}), ${fmtInt(scoped)} limited to sites, ${fmtInt(users.length - active.length)} disabled; ${fmtInt(activeTokens)} read-only API tokens`,
      figures: accessFigures,
      report: 'access-review',
      note: 'Covered: deny-by-default roles and site scopes (3.1.1, 3.1.2, 3.1.5), sign-in lockout (3.1.8), idle and absolute session timeouts (3.1.10, 3.1.11), export-controlled data only for cleared users (3.1.3). Remote, wireless and mobile access (3.1.12 to 3.1.21) are the plant network’s, not this product’s.',
    },
    {
      standard: 'NIST SP 800-171 r2',
      clause: '3.3',
      title: 'Audit and accountability',
      coverage: 'partial',
      evidence: `audit log of ${fmtInt(auditSize)} entries, each checkpoint witness-signed; ${integrityText}`,
      figures: {
        auditEntries: auditSize,
        lastIntegrityReport: lastIntegrity
          ? { id: lastIntegrity.id, finishedAt: lastIntegrity.finished_at, ok: integrity?.ok ?? null }
          : null,
      },
      report: 'integrity',
      note: 'Covered: user actions traced to individual users (3.3.1, 3.3.2), tamper-evident log with verification and a SIEM export (3.3.5, 3.3.8), review reports (3.3.3). Not covered: alerting on an audit logging failure (3.3.4); timestamps come from the host clock (3.3.7: keep it synchronised).',
    },
    {
      standard: 'NIST SP 800-171 r2',
      clause: '3.3.4',
      title: 'Alert in the event of an audit logging process failure',
      coverage: 'not-covered',
      evidence: 'no alerting: a failed audit append fails the action it records, but nobody is notified',
      figures: {},
      report: null,
      note: 'Monitor the cloud’s error log (pino) externally until this exists.',
    },
    {
      standard: 'NIST SP 800-171 r2',
      clause: '3.5',
      title: 'Identification and authentication',
      coverage: 'partial',
      evidence: `MFA on ${fmtInt(mfa)} of ${fmtInt(active.length)} active accounts; required by policy for ${mfaRoles.length ? mfaRoles.join(', ') : 'no role'}`,
      figures: accessFigures,
      report: 'access-review',
      note: 'Covered: unique users (3.5.1, 3.5.5), argon2id passwords and a common-password list (3.5.7, 3.5.10), TOTP MFA with replay-resistant codes (3.5.3, 3.5.4). Not covered: password reuse across generations (3.5.8); MFA is required only for the roles the tenant chooses.',
    },
    {
      standard: 'SOC 2 (TSC 2017)',
      clause: 'CC6',
      title: 'Logical access controls (CC6.1 to CC6.3, CC6.6 to CC6.8)',
      coverage: 'partial',
      evidence: `${fmtInt(active.length)} active accounts reviewed by role and site; ${fmtInt(users.length - active.length)} disabled accounts kept for the record; MFA on ${fmtInt(mfa)}`,
      figures: accessFigures,
      report: 'access-review',
      note: 'Covered: registration and removal of users with audited changes (CC6.2), role changes (CC6.3), encryption of secrets at rest for TOTP. CC6.4 (physical access) and CC6.5 (disposal of assets) are outside the product.',
    },
    {
      standard: 'SOC 2 (TSC 2017)',
      clause: 'CC6.4',
      title: 'Physical access to facilities and protected information assets',
      coverage: 'not-covered',
      evidence: 'not something this software can control or evidence',
      figures: {},
      report: null,
      note: 'Evidence comes from the hosting provider or the plant.',
    },
    {
      standard: 'SOC 2 (TSC 2017)',
      clause: 'CC7',
      title: 'System operations: detection and monitoring',
      coverage: 'partial',
      evidence: `${fmtInt(security30)} security events in the last 30 days (refused batches, forks, enrollment refusals); ${integrityText}${exportAccess90 !== null ? `; ${fmtInt(exportAccess90)} export-controlled accesses logged in 90 days` : ''}`,
      figures: {
        securityEvents30Days: security30,
        exportAccess90Days: exportAccess90,
        lastIntegrityOk: integrity?.ok ?? null,
      },
      report: 'integrity',
      note: 'Covered: detection of tampering with signed logs, refused and forked batches, sign-in throttling (CC7.1, CC7.2). Not covered: incident response and recovery (CC7.3 to CC7.5) are processes the product does not run.',
    },
  ];
}
