// Cloud operators: the people who run the cloud. They list tenants and create one with its first
// admin, and read nothing of any tenant's data. The feature's public surface.

export { OperatorService, TENANT_ID } from './operator.service.js';
export type { TenantView } from './operator.service.js';
export { operatorApi, operatorRoutes } from './operator.routes.js';
