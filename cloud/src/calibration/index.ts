// Calibration: the equipment register, calibration events and status, reverse traceability.
// The feature's public surface: other modules import from here, never from its files.

export { CalibrationRepository } from './calibration.repository.js';
export type { CalibrationRow } from './calibration.repository.js';
export { calibrationAnswer, calibrationApi, calibrationRoutes } from './calibration.routes.js';
export { positionApi } from './positions.routes.js';
export type { InstallationView, PositionView } from './positions.service.js';
export {
  CalibrationService,
  DEFAULT_DUE_SOON_DAYS,
  calLite,
  calendarState,
  dateOf,
  daysBetween,
  isFailure,
  statusOn,
  today,
} from './calibration.service.js';
export type { CalibrationHooks, CalibrationStatus, Signer } from './calibration.service.js';
export { calibrationView, isValid, signatureInputSchema } from './calibration.service.js';
export type { CalibrationView } from './calibration.service.js';
export { CALIBRATION_SITE, EFFECTIVE_CALIBRATION, calibrationsSeenBy } from './calibration.repository.js';
export { EquipmentRepository } from './equipment.repository.js';
export type { EquipmentRow } from './equipment.repository.js';
export {
  TraceabilityService,
  csvField,
  decodeCursor,
  encodeCursor,
  instrumentError,
  itemView,
  namesPosition,
  suspectCharacteristics,
  suspectLines,
  SUSPECT_CSV_COLUMNS,
} from './traceability.service.js';
export type {
  InstrumentError,
  NamedPosition,
  SuspectCharacteristic,
  SuspectCsvColumn,
  SuspectWindow,
} from './traceability.service.js';
export { CertificateRepository } from './certificate.repository.js';
export { CertificateService, DEFAULT_CERTIFICATE_MAX_BYTES } from './certificate.service.js';
export type { CertificateView } from './certificate.service.js';
export { certificateApi, certificateRoutes } from './certificate.routes.js';
export { TraceReviewRepository } from './trace-review.repository.js';
export { laterFailureIssue, suspectWindowOf, windowAround } from './traceability.service.js';
export type { ChainLink } from './traceability.service.js';
export { chainApi, chainRoutes } from './chain.routes.js';
export type { NextPm, PmReader, PreventiveTasks } from './preventive.js';
