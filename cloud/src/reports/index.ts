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
  /**
   * The time the clause map reads "now" and each site's "today" from, and reports their generation
   * time (tests); default the system clock.
   */
  clock: () => Date;
}

export function createReports(
  deps: Omit<ReportDeps, 'repo'> & { logger: Logger; clock?: (() => Date) | undefined },
  opts: ReportServiceOptions = {},
): ReportsModule {
  const { clock = () => new Date(), ...rest } = deps;
  const repo = new ReportsRepository(deps.db);
  return {
    repo,
    service: new ReportService({ ...rest, repo }, { clock, ...opts }),
    oot: deps.oot,
    clock,
  };
}
