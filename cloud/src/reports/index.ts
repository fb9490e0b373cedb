// Reports: compliance reports (PDF, CSV, JSON), the clause map and out-of-tolerance dispositions.
// The feature's public surface: other modules import from here, never from its files.
import type { Logger } from 'pino';
import type { ReportDeps } from './builders.js';
import { DispositionService } from './disposition.service.js';
import { ReportsRepository } from './reports.repository.js';
import { ReportService, type ReportServiceOptions } from './reports.service.js';

export { REPORT_USAGE, parseReportArgs, runReport } from './reports.cli.js';
export { reportsOpenApiPaths, reportsRoutes } from './reports.routes.js';

/** Compliance reports, wired once per process (server.ts). */
export interface ReportsModule {
  service: ReportService;
  dispositions: DispositionService;
  repo: ReportsRepository;
}

export function createReports(
  deps: Omit<ReportDeps, 'repo'> & { logger: Logger },
  opts: ReportServiceOptions = {},
): ReportsModule {
  const repo = new ReportsRepository(deps.db);
  return {
    repo,
    service: new ReportService({ ...deps, repo }, opts),
    dispositions: new DispositionService(deps.db, repo, deps.audit),
  };
}
