/**
 * The API's answers the portal reads: the generated API types (answer.ts) by name, and the few
 * types the document does not name.
 */
import type { Answer } from './answer.js';

/** A user as the API shows one (GET /users; the signed-in user of GET /auth/session). */
export type User = Answer<'/users', 'get'>['items'][number];
/** A role of a tenant, or a cloud operator's (who belongs to no tenant). */
export type AccountRole = User['role'];
/** A role of a tenant. */
export type Role = Exclude<AccountRole, 'operator'>;
export type SessionState = Answer<'/auth/session', 'get'>['state'];

/** The register entry of one piece of equipment, with its calibration status (GET /equipment/{tag}). */
export type Equipment = Answer<'/equipment/{tag}', 'get'>;
export type StatusView = Equipment['calibration'];
export type CalibrationStatus = StatusView['status'];
export type OwnerKind = Equipment['owner']['kind'];

/** An entry of the register list (GET /equipment): its status from the register's cache. */
export type RegisterEntry = Answer<'/equipment', 'get'>['items'][number];

export interface Page<T> {
  items: T[];
  next: string | null;
}

/** A calibration event (GET /equipment/{tag}/calibrations). */
export type Calibration = Answer<'/equipment/{tag}/calibrations', 'get'>['items'][number];
export type CalibrationPoint = Calibration['body']['points'][number];
export type SignatureView = NonNullable<Calibration['signature']>;

/** Records made with failed equipment in its suspect window (GET /equipment/{tag}/suspect-records). */
export type SuspectAnswer = Answer<'/equipment/{tag}/suspect-records', 'get'>;
export type SuspectRecord = SuspectAnswer['items'][number];
/** A failed reference standard's suspect chain by name (GET /equipment/{tag}/suspect-chain/records). */
export type ChainRecordsAnswer = Exclude<Answer<'/equipment/{tag}/suspect-chain/records', 'get'>, string>;
export type ChainRecord = ChainRecordsAnswer['items'][number];

/** The tenant's security policy (GET /security/policy). */
export type SecurityPolicy = Answer<'/security/policy', 'get'>;

/** An edge (GET /edges). */
export type EdgeSummary = Answer<'/edges', 'get'>['items'][number];

/** A device in a position of a rig, bench or station, from a time until a time (null: still there). */
export type InstallationView = Answer<'/equipment/{tag}/installations', 'get'>['history'][number];

/** A position of a rig, bench or station with the device there now and its history (newest first). */
export type PositionView = Answer<'/equipment/{tag}/positions', 'get'>['positions'][number];
