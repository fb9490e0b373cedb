// Production: inspection, usage and yield records of the equipment in use.
// The feature's public surface: other modules import from here, never from its files.

export { InspectionRepository } from './inspection.repository.js';
export type {
  GaugeUse,
  NamedPositionRow,
  PositionUse,
  SuspectRow,
  TraceableQuery,
  TraceableResultRow,
  TraceableRow,
  YieldQuarter,
  YieldQuery,
} from './inspection.repository.js';
