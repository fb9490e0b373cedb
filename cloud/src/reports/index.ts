// Reports: compliance reports (PDF, CSV, JSON) and the clause map.
// The feature's public surface: other modules import from here, never from its files.
import type { Logger } from 'pino';
import type { ReportDeps } from './builders.js';
import { ReportsRepository } from './reports.repository.js';
import { ReportService, type ReportServiceOptions } from './reports.service.js';

export { REPORT_USAGE, parseReportArgs, runReport, standaloneReportDeps } from './reports.cli.js';
export { reportsApi, reportsRoutes } from './reports.routes.js';

/** Compliance reports, wired once per process (server.ts). */
export interface ReportsModule {
  service: ReportService;
  repo: ReportsRepository;
  /** The clause map reads the out-of-tolerance cases. */
  oot: ReportDeps['oot'];
}

export function createReports(
  deps: Omit<ReportDeps, 'repo'> & { logger: Logger },
  opts: ReportServiceOptions = {},
): ReportsModule {
  const repo = new ReportsRepository(deps.db);
  return {
    repo,
    service: new ReportService({ ...deps, repo }, opts),
    oot: deps.oot,
  };
}
