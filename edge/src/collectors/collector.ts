import type { Logger } from 'pino';
import type { RecordSink } from '../records/record-sink.js';

/** What every collector is given: where records go, its saved state, a logger. */
export interface CollectorContext {
  sink: RecordSink;
  getState(key: string): Promise<string | undefined>;
  logger: Logger;
}

/** A source of records. The constructor only stores dependencies; start() and stop() do the work. */
export interface Collector {
  readonly id: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  status(): CollectorStatus;
}

export interface CollectorStatus {
  id: string;
  protocol: string;
  equipment: string;
  up: boolean;
  lastError: string | null;
  recordsIn: number;
  details: Record<string, unknown>;
}
