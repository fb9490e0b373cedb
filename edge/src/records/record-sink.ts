import type { Logger } from 'pino';
import type { EdgeLog, RecordDraft } from '../buffer/edge-log.js';
import { RateMeter } from './rate-meter.js';

export interface QuotaPolicy {
  /** Buffer size above which telemetry is down-sampled. */
  quotaBytes: number;
  /** Keep one telemetry record in this many per source while over quota (×10 again past 1.5 × quota). */
  downsampleFactor: number;
}

/**
 * Where collectors put records. Every record goes to the durable log; the one exception is the
 * stated quota policy: once the buffer holds more than its quota (the cloud has been away a
 * while), telemetry is down-sampled per source. Calibration, usage, inspection and event records
 * are never dropped. Entering and leaving down-sampling are themselves recorded as events.
 */
/** Key of the down-sampling counts in the buffer's state (kv), written with the records. */
const QUOTA_STATE_KEY = 'buffer:quota';

interface QuotaState {
  /** Keep one telemetry record in this many (1: in full). */
  factor: number;
  droppedSinceChange: number;
  /** Dropped since down-sampling began (reported when telemetry is recorded in full again). */
  droppedWhileDownsampled: number;
  droppedTotal: number;
}

export class RecordSink {
  private readonly counters = new Map<string, number>();
  private factor = 1;
  private droppedSinceChange = 0;
  private droppedWhileDownsampled = 0;
  readonly inRate = new RateMeter();
  private droppedTotal = 0;

  constructor(
    private readonly log: EdgeLog,
    private readonly policy: QuotaPolicy,
    private readonly logger: Logger,
    private readonly equipment = 'EDGE',
  ) {}

  /**
   * Takes up the down-sampling counts kept in the buffer (so a crash or kill -9 while down-sampling
   * loses none of them, and the level in force carries on). Call once, before the first write.
   */
  async restore(): Promise<void> {
    const saved = await this.log.getState(QUOTA_STATE_KEY);
    if (!saved) return;
    try {
      const q = JSON.parse(saved) as Partial<QuotaState>;
      const n = (v: unknown, min = 0) =>
        typeof v === 'number' && Number.isSafeInteger(v) && v >= min ? v : min;
      this.factor = n(q.factor, 1);
      this.droppedSinceChange = n(q.droppedSinceChange);
      this.droppedWhileDownsampled = n(q.droppedWhileDownsampled);
      this.droppedTotal = n(q.droppedTotal);
    } catch {
      this.logger.warn(
        { key: QUOTA_STATE_KEY },
        'down-sampling counts in the buffer are unreadable; counting from 0',
      );
    }
  }

  /**
   * Durably appends `drafts` (and the collector's `state`) — see EdgeLog.append. When the quota
   * policy dropped telemetry, the updated counts are written in the same transaction.
   */
  async write(source: string, drafts: RecordDraft[], state?: Record<string, string>): Promise<void> {
    const before = this.droppedTotal;
    const kept = this.applyQuota(source, drafts);
    const counts = this.droppedTotal !== before ? this.quotaState() : undefined;
    if (kept.length === 0 && !state && !counts) return;
    this.inRate.mark(kept.length);
    await this.log.append(kept, counts ? { ...state, ...counts } : state);
  }

  private quotaState(): Record<string, string> {
    const q: QuotaState = {
      factor: this.factor,
      droppedSinceChange: this.droppedSinceChange,
      droppedWhileDownsampled: this.droppedWhileDownsampled,
      droppedTotal: this.droppedTotal,
    };
    return { [QUOTA_STATE_KEY]: JSON.stringify(q) };
  }

  /** Telemetry records dropped by the quota policy over the buffer's life (kept in the buffer). */
  get telemetryDropped(): number {
    return this.droppedTotal;
  }

  get downsampleFactor(): number {
    return this.factor;
  }

  private applyQuota(source: string, drafts: RecordDraft[]): RecordDraft[] {
    const bytes = this.log.bufferedBytes;
    const q = this.policy.quotaBytes;
    const factor =
      bytes <= q ? 1 : bytes <= 1.5 * q ? this.policy.downsampleFactor : this.policy.downsampleFactor * 10;
    if (factor !== this.factor) this.changeFactor(factor, bytes);
    if (factor === 1) return drafts;
    return drafts.filter((d) => {
      if (d.kind !== 'telemetry') return true;
      const n = (this.counters.get(source) ?? 0) + 1;
      this.counters.set(source, n);
      if (n % factor === 1 || factor === 1) return true;
      this.droppedSinceChange += 1;
      this.droppedWhileDownsampled += 1;
      this.droppedTotal += 1;
      return false;
    });
  }

  private changeFactor(factor: number, bytes: number): void {
    const previous = this.factor;
    const dropped = this.droppedSinceChange;
    const episode = this.droppedWhileDownsampled;
    this.factor = factor;
    this.droppedSinceChange = 0;
    const restored = factor === 1;
    if (restored) this.droppedWhileDownsampled = 0;
    this.counters.clear();
    const now = new Date().toISOString();
    const details = {
      bufferedBytes: bytes,
      quotaBytes: this.policy.quotaBytes,
      keepOneIn: factor,
      previousKeepOneIn: previous,
      telemetryDroppedSincePreviousChange: dropped,
      telemetryDroppedWhileDownsampled: episode,
      telemetryDroppedTotal: this.droppedTotal,
    };
    const message = restored
      ? `buffer back under its quota: telemetry recorded in full again (${episode} telemetry records were dropped while down-sampled)`
      : `buffer over its quota (${bytes} of ${this.policy.quotaBytes} bytes): keeping 1 telemetry record in ${factor}; calibration, usage and inspection records are kept in full`;
    this.logger.warn(details, message);
    // Recorded like any other record, so the cloud and the auditor see exactly when data was
    // thinned; the counts it reports move with it, in the same transaction.
    this.log
      .append(
        [
          {
            kind: 'event',
            equipment: this.equipment,
            observedAt: now,
            receivedAt: now,
            source: { protocol: 'edge', endpoint: 'buffer' },
            body: {
              severity: restored ? 'info' : 'warning',
              code: restored ? 'TELEMETRY_RESTORED' : 'TELEMETRY_DOWNSAMPLED',
              message,
              details,
            },
          },
        ],
        this.quotaState(),
      )
      .catch((err: unknown) => this.logger.error({ err }, 'could not record the quota event'));
  }
}
