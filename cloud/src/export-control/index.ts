// Export control: ITAR/EAR flags on equipment and the log of access to flagged data.
// The feature's public surface: other modules import from here, never from its files.

export { exportCallerOf, exportControlApi, exportControlRoutes } from './export-control.routes.js';
export { accessLogVisible } from './export-control.repository.js';
export { recordVisibleSql, rigsNamingFlaggedGaugesSql } from './record-scope.js';
export {
  ExportControlService,
  exportControlSchema,
  flagOfStoredRecord,
  mayReadAccessLog,
  mustReadAccessLog,
  recordFlag,
} from './export-control.service.js';
export type { AccessedObject, ExportCaller, ExportFlag } from './export-control.service.js';
