// Audit: the tenant's tamper-evident audit log of user actions and security events.
// The feature's public surface: other modules import from here, never from its files.

export { AuditRepository } from './audit.repository.js';
export { auditApi, auditItem, auditRoutes, pageQuery as auditPageQuery } from './audit.routes.js';
export { AuditService } from './audit.service.js';
export type { AuditActor, AuditEvent } from './audit.service.js';
export { SecurityEventsRepository } from './security-events.repository.js';
