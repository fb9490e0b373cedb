/**
 * OPC UA adapter: a subscribing client (never polling) that survives server restarts, network
 * loss and silent subscriptions, keeps every value's StatusCode and source timestamp, and refuses
 * servers whose certificate is not trusted.
 */
export type {
  OpcuaEvent,
  OpcuaEventSpec,
  OpcuaItemSpec,
  OpcuaLogger,
  OpcuaScalar,
  OpcuaSecurityMode,
  OpcuaSecurityPolicy,
  OpcuaSourceOptions,
  OpcuaStats,
  OpcuaStatus,
  OpcuaSubscriberEvents,
  OpcuaValue,
  OpcuaValueData,
} from './types.js';
export {
  validateOpcuaOptions,
  isNodeId,
  OPCUA_DEFAULTS,
  SECURITY_MODES,
  SECURITY_POLICIES,
  type ResolvedOpcuaOptions,
} from './validate.js';
export {
  OpcuaConfigError,
  OpcuaError,
  OPCUA_ERROR_CODES,
  type OpcuaConfigProblem,
  type OpcuaErrorCode,
} from './errors.js';
export { hasOverflow, statusOf, toOpcuaValue, variantValue } from './convert.js';
export { readCertificates } from './pki.js';
export { OpcuaSubscriber } from './subscriber.js';
export { PKCS1_NOTE, routeOpcuaLibraryLogs } from './library-logs.js';
export { browseServer, BrowseInputError, type BrowsedNode, type BrowseOptions } from './browse.js';
