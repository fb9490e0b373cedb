// Access: sign-in, sessions, MFA, users and roles, the permission policy and the request guards.
// The feature's public surface: other modules import from here, never from its files.

export { createAccounts } from './accounts.js';
export type { Accounts } from './accounts.js';
export {
  actorOfRequest,
  callerOf,
  isLocalHostname,
  principalOf,
  requestInfo,
  sessionCookieName,
  sessionOf,
} from './auth.middleware.js';
export { authApi, authRoutes, userSchema } from './auth.routes.js';
export { userView } from './auth.service.js';
export type { UserRow } from './users.repository.js';
export type { Actor } from './users.service.js';
export type { SessionContext } from './auth.service.js';
export {
  OPERATOR_REALM,
  OPERATOR_ROLE,
  PERMISSIONS,
  ROLES,
  ROLE_PERMISSIONS,
  isRole,
  permissionsOf,
  rolesWith,
  seesSite,
} from './policy.js';
export type { AccountRole, Permission, Principal, Role } from './policy.js';
export { tenantOf } from './request-tenant.js';
export {
  uncleared,
  viewerOf,
  viewerOfPrincipal,
  viewerSees,
  viewerSeesEquipment,
  visibleSql,
  wholeTenant,
} from './viewer.js';
export type { Caller, Viewer } from './viewer.js';
export { SecretBox } from './secret-box.js';
export { startSessionCleanup } from './session-cleanup.js';
export { SessionsRepository } from './sessions.repository.js';
export { UsersRepository } from './users.repository.js';
export { usersApi, usersRoutes } from './users.routes.js';
