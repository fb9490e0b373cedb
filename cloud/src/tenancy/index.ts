// Tenancy: sites, edge enrollment, API tokens and the admin API over them.
// The feature's public surface: other modules import from here, never from its files.

export { enrollmentApi, enrollmentRoutes } from './enrollment.routes.js';
export { enrollCommand } from './enroll-command.js';
export { EnrollmentService } from './enrollment.service.js';
export { TenancyRepository, hashToken, isTimeZone, newToken } from './tenancy.repository.js';
export type { EdgeRow, SiteRow, TenantSummaryRow } from './tenancy.repository.js';
export { tenancyApi, tenancyRoutes } from './tenancy.routes.js';
export { TenancyService } from './tenancy.service.js';
export { DEFAULT_SHIFTS, shiftAt, shiftsSchema, siteShifts, withEnds } from './shifts.js';
export type { Shift } from './shifts.js';
