import type { Logger } from 'pino';
import type { RecordSink } from '../records/record-sink.js';
import { eventDraft, type Collector, type CollectorStatus } from './collector.js';
import type { EdgeEventCode } from '../errors.js';

/** First retry of a source that failed to start, doubling up to RETRY_MAX_MS. */
export const RETRY_INITIAL_MS = 1000;
export const RETRY_MAX_MS = 60_000;

export interface SourceIdentity {
  id: string;
  protocol: string;
  equipment: string;
  /** The record source protocol of its event records. */
  recordProtocol: 'modbus' | 'opcua' | 'mqtt';
  endpoint: string;
}

/**
 * A source the agent keeps, whether or not it started. One that fails to start (port in use, a
 * security mode the server does not offer, …) stays in /status as failed with the reason, gives a
 * SOURCE_START_FAILED event record, and is started again with backoff (1 s doubling to 60 s) until
 * it runs; then a SOURCE_STARTED event.
 */
export class SupervisedSource {
  private state: 'starting' | 'running' | 'failed' | 'stopped' = 'starting';
  private attempts = 0;
  private lastError: string | null = null;
  private nextAttemptAt: string | null = null;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly collector: Collector,
    private readonly who: SourceIdentity,
    private readonly sink: RecordSink,
    private readonly logger: Logger,
    private readonly fallbackEquipment: string,
  ) {}

  get id(): string {
    return this.who.id;
  }

  /** One start attempt; never rejects (a failure is kept and retried). */
  async start(): Promise<void> {
    if (this.state === 'stopped') return;
    this.attempts++;
    try {
      await this.collector.start();
    } catch (err) {
      await this.failed(err);
      return;
    }
    if (this.stopped()) {
      await this.collector.stop().catch(() => undefined);
      return;
    }
    const wasFailed = this.state === 'failed';
    this.state = 'running';
    this.lastError = null;
    this.nextAttemptAt = null;
    if (wasFailed) {
      this.logger.info({ source: this.id, attempts: this.attempts }, 'source started after failing');
      this.event('info', 'SOURCE_STARTED', `source ${this.id} started (attempt ${this.attempts})`);
    }
  }

  private async failed(err: unknown): Promise<void> {
    const reason = err instanceof Error ? err.message : String(err);
    // A half-started collector must let go of what it opened before the next attempt.
    await this.collector.stop().catch(() => undefined);
    if (this.stopped()) return;
    const first = this.state !== 'failed' || reason !== this.lastError;
    this.state = 'failed';
    this.lastError = reason;
    const delay = Math.min(RETRY_MAX_MS, RETRY_INITIAL_MS * 2 ** Math.min(this.attempts - 1, 16));
    this.nextAttemptAt = new Date(Date.now() + delay).toISOString();
    this.logger.error({ source: this.id, err: reason, retryInMs: delay }, 'source failed to start; retrying');
    if (first)
      this.event(
        'error',
        'SOURCE_START_FAILED',
        `source ${this.id} (${this.who.protocol}) failed to start: ${reason}; retrying with backoff`,
      );
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.start();
    }, delay);
    this.timer.unref();
  }

  /** A method, not a field read, so that the checks after an await are not narrowed away. */
  private stopped(): boolean {
    return this.state === 'stopped';
  }

  async stop(): Promise<void> {
    const was = this.state;
    this.state = 'stopped';
    clearTimeout(this.timer);
    this.timer = undefined;
    if (was === 'running') await this.collector.stop();
  }

  status(): CollectorStatus {
    if (this.state === 'running') {
      const s = this.collector.status();
      return this.attempts > 1 ? { ...s, details: { ...s.details, startAttempts: this.attempts } } : s;
    }
    return {
      id: this.who.id,
      protocol: this.who.protocol,
      equipment: this.who.equipment,
      up: false,
      lastError: this.lastError,
      recordsIn: 0,
      details: { state: this.state, startAttempts: this.attempts, nextAttemptAt: this.nextAttemptAt },
    };
  }

  private event(severity: 'info' | 'error', code: EdgeEventCode, message: string): void {
    const draft = eventDraft(
      {
        equipment: this.who.equipment || this.fallbackEquipment,
        source: { endpoint: this.who.endpoint, protocol: this.who.recordProtocol },
        sourceId: this.id,
      },
      severity,
      code,
      message,
    );
    this.sink.write(this.id, [draft]).catch((err: unknown) => {
      this.logger.error({ err, source: this.id }, 'could not record the source event');
    });
  }
}
