/** The API's answers the portal reads (see cloud/CALIBRATION.md and cloud/ACCOUNTS.md). */

export type Role = 'admin' | 'manager' | 'technician' | 'auditor';
export type SessionState = 'active' | 'mfa' | 'change_password' | 'enroll_mfa';

export interface User {
  id: string;
  email: string;
  name?: string;
  role: Role;
  sites: string[] | null;
  disabled?: boolean;
  mfa?: boolean;
  mustChangePassword?: boolean;
  /** Cleared for export-controlled (ITAR/EAR) data. */
  usPerson?: boolean;
  createdAt?: string;
}

export type CalibrationStatus = 'current' | 'due-soon' | 'overdue' | 'out-of-tolerance';

export interface StatusView {
  status: CalibrationStatus;
  asOf: string;
  lastValidCalibrationAt: string | null;
  nextDue: string | null;
  daysUntilDue: number | null;
  dueSoonDays: number;
  cycles: { used: number; interval: number } | null;
}

export type OwnerKind = 'company' | 'customer' | 'supplier' | 'employee';

export interface Equipment {
  tag: string;
  siteId: string;
  type: string;
  make?: string;
  model?: string;
  serial?: string;
  firmware?: string;
  location?: string;
  owner?: { kind: OwnerKind; name?: string };
  intervalDays: number;
  intervalCycles?: number;
  dueSoonDays?: number;
  procedure?: { id: string; revision?: string };
  acceptanceCriteria?: string;
  environment?: string;
  range?: { min: number; max: number; unit: string };
  resolution?: number;
  referenceStandard?: {
    certificate?: string;
    dueDate?: string;
    uncertainty?: number;
    uncertaintyUnit?: string;
  };
  exportControl?: { regime: 'ITAR' | 'EAR'; eccn?: string };
  retiredAt: string | null;
  calibration: StatusView;
}

export interface Page<T> {
  items: T[];
  next: string | null;
}

export interface CalibrationPoint {
  name: string;
  nominal: number;
  unit: string;
  asFound: number;
  asLeft?: number;
  lowerTolerance: number;
  upperTolerance: number;
  asFoundResult: 'pass' | 'fail';
  asLeftResult?: 'pass' | 'fail';
}

export interface Calibration {
  id: string;
  equipment: string;
  source: 'record' | 'manual';
  record: { edge: string; seq: number } | null;
  calibratedAt: string;
  asFoundResult: 'pass' | 'fail';
  asLeftResult: 'pass' | 'fail' | null;
  valid: boolean;
  traceability: { status: 'ok' | 'flagged'; issues: string[] };
  enteredBy: string | null;
  recordedBy: string | null;
  signature?: SignatureView | null;
  /** Manual entries: pending until a second person reviews it; null for edge records. */
  approval?: { state: 'pending' } | ({ state: 'approved' | 'rejected' | 'returned' } & SignatureView) | null;
  /** A corrected entry: the returned entry it replaces. */
  corrects?: string | null;
  body: {
    technician?: string;
    procedure?: { id: string; revision?: string };
    lab?: { name: string; accreditation?: string };
    certificate?: { number: string; uri?: string };
    standards: { id: string; certificate?: string; dueDate?: string; uncertainty?: number }[];
    points: CalibrationPoint[];
    adjusted: boolean;
  };
}

export interface SuspectRecord {
  edge: string;
  seq: number;
  kind: 'usage' | 'inspection';
  siteId: string;
  equipment: string;
  observedAt: string;
  partSerial: string | null;
  workOrder: string | null;
  result: string | null;
  via?: 'equipment' | 'gauge' | 'position';
  /** With via 'position': where the failed instrument sat when the record was made ("RIG-01 / rail pressure"). */
  position?: string | null;
  /** The characteristics the failed instrument may have affected, with their margins. */
  characteristics?: {
    name: string;
    measured: number;
    unit: string;
    lsl: number | null;
    usl: number | null;
    margin: number | null;
    atRisk: boolean | null;
  }[];
}

export interface SuspectAnswer {
  equipment: string;
  window: { start: string | null; end: string | null };
  items: SuspectRecord[];
  next: string | null;
}

export interface SignatureView {
  by: { id: string; email: string; name: string; role: string };
  meaning: string;
  signedAt: string;
  valid: boolean;
  /** A rejection's or return's reason. */
  reason?: string;
}

export interface SecurityPolicy {
  mfaRequiredRoles: Role[];
  idleTimeoutSeconds: number;
  absoluteTimeoutSeconds: number;
}

export interface EdgeSummary {
  id: string;
  siteId: string;
  name: string;
  lastContactAt: string | null;
  log: { size: number; root: string | null };
}

/** A device in a position of a rig, bench or station, from a time until a time (null: still there). */
export interface InstallationView {
  id: string;
  equipment: string;
  position: string;
  /** "RIG-01 / rail pressure" */
  label: string;
  device: string;
  from: string;
  until: string | null;
  installedBy: string;
  removedBy: string | null;
}

/** A position of a rig, bench or station with the device there now and its history (newest first). */
export interface PositionView {
  name: string;
  label: string;
  description: string | null;
  createdAt: string;
  createdBy: string;
  current: InstallationView | null;
  history: InstallationView[];
}
