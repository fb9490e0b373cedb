// Maintenance (ISO/IEC 17025 6.4.13 g, h): events on equipment (damage, malfunction, repair,
// modification, preventive task done), preventive-maintenance plans, out of service.
// The feature's public surface: other modules import from here, never from its files.

export { MaintenanceRepository, EVENT_KINDS } from './maintenance.repository.js';
export type { EventKind } from './maintenance.repository.js';
export { maintenanceApi, maintenanceRoutes } from './maintenance.routes.js';
export { MaintenanceService, PM_DUE_SOON_DAYS, nextPreventive, planView } from './maintenance.service.js';
export type { BoardItem, EventView, PlanView, ServiceStatus } from './maintenance.service.js';
