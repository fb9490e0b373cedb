import type { Logger } from 'pino';
import type { RecordDraft } from '../buffer/edge-log.js';
import type { RecordSink } from '../records/record-sink.js';
import type { EdgeEventCode } from '../errors.js';

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
  /** Delivering good readings (Modbus: the last poll gave at least one), not merely connected. */
  up: boolean;
  /** Why the source is down or a reading failed in the last poll; null once everything reads again. */
  lastError: string | null;
  recordsIn: number;
  /** Failure counters since start, the ones the protocol has (exported to /metrics). */
  counters?: SourceCounters;
  details: Record<string, unknown>;
}

export interface SourceCounters {
  /** Requests without a reply in time. */
  timeouts?: number;
  /** Requests answered with a protocol exception. */
  exceptions?: number;
  /** Replies that do not fit the request. */
  malformed?: number;
  /** Connections made again after one was lost. */
  reconnects?: number;
  /** MQTT messages refused for the device's topic ACL. */
  aclRefusals?: number;
  /** MQTT messages refused for their size. */
  sizeRefusals?: number;
}

/** An event record about a source (connected, lost, a status that is not Good, …), observed now. */
export function eventDraft(
  e: { equipment: string; source: RecordDraft['source']; sourceId: string },
  severity: 'info' | 'warning' | 'error',
  code: EdgeEventCode,
  message: string,
): RecordDraft {
  const now = new Date().toISOString();
  return {
    kind: 'event',
    equipment: e.equipment,
    observedAt: now,
    receivedAt: now,
    source: e.source,
    body: { severity, code, message: message.slice(0, 1024), details: { source: e.sourceId } },
  };
}
