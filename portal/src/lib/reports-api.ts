/** The report routes through the portal's typed client (kept apart from reports.ts, which is pure). */
import { callAs, client } from './api';
import type { Clause, Report, ReportRequest } from './reports';

// Routes, parameters and request bodies are checked against the OpenAPI document (api-types.ts);
// the answers, which the document describes loosely, are typed by the cloud's ReportView and ClauseItem.

export const requestReport = (body: ReportRequest) => callAs<Report>(client.POST('/reports', { body }));

export const listReports = (limit = 50) =>
  callAs<{ items: Report[]; next: string | null }>(client.GET('/reports', { params: { query: { limit } } }));

export const getReport = (id: string, signal?: AbortSignal) =>
  callAs<Report>(client.GET('/reports/{id}', { params: { path: { id } }, ...(signal ? { signal } : {}) }));

export const clauseMap = (siteId?: string) =>
  callAs<{ siteId: string | null; generatedAt: string; items: Clause[] }>(
    client.GET('/compliance/clauses', { params: { query: siteId ? { siteId } : {} } }),
  );
