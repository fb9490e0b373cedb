// SPC: control charts, baselines, rule checks and alerts.
// The feature's public surface: other modules import from here, never from its files.

export { AlertsRepository } from './alerts.repository.js';
export { SpcRepository } from './spc.repository.js';
export { spcApi, spcRoutes } from './spc.routes.js';
export { SpcService, caseOfAlert } from './spc.service.js';
