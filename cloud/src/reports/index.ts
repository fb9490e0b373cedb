import type { Logger } from 'pino';
import type { ReportDeps } from './builders.js';
import { DispositionService } from './disposition.js';
import { ReportsRepository } from './repository.js';
import { ReportService, type ReportServiceOptions } from './service.js';

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
