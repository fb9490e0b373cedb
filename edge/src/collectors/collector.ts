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
