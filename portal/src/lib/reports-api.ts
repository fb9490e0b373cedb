/** The report routes through the portal's typed client (kept apart from reports.ts, which is pure). */
import { call, client } from './api';
import type { ReportRequest } from './reports';

// Routes, parameters, request bodies and answers are typed by the OpenAPI document (api-types.ts).

export const requestReport = (body: ReportRequest) => call(client.POST('/reports', { body }));

export const listReports = (limit = 50) => call(client.GET('/reports', { params: { query: { limit } } }));

export const getReport = (id: string, signal?: AbortSignal) =>
  call(client.GET('/reports/{id}', { params: { path: { id } }, ...(signal ? { signal } : {}) }));

export const clauseMap = (siteId?: string) =>
  call(client.GET('/compliance/clauses', { params: { query: siteId ? { siteId } : {} } }));
