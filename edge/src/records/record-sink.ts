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
export class RecordSink {
  private readonly counters = new Map<string, number>();
  private factor = 1;
  private droppedSinceChange = 0;
  readonly inRate = new RateMeter();
  private droppedTotal = 0;

  constructor(
    private readonly log: EdgeLog,
    private readonly policy: QuotaPolicy,
    private readonly logger: Logger,
    private readonly equipment = 'EDGE',
  ) {}

  /** Durably appends `drafts` (and the collector's `state`) — see EdgeLog.append. */
  async write(source: string, drafts: RecordDraft[], state?: Record<string, string>): Promise<void> {
    const kept = this.applyQuota(source, drafts);
    if (kept.length === 0 && !state) return;
    this.inRate.mark(kept.length);
    await this.log.append(kept, state);
  }

  /** Telemetry records dropped by the quota policy since start. */
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
      this.droppedTotal += 1;
      return false;
    });
  }

  private changeFactor(factor: number, bytes: number): void {
    const previous = this.factor;
    const dropped = this.droppedSinceChange;
    this.factor = factor;
    this.droppedSinceChange = 0;
    this.counters.clear();
    const now = new Date().toISOString();
    const details = {
      bufferedBytes: bytes,
      quotaBytes: this.policy.quotaBytes,
      keepOneIn: factor,
      previousKeepOneIn: previous,
      telemetryDroppedSincePreviousChange: dropped,
    };
    const restored = factor === 1;
    const message = restored
      ? `buffer back under its quota: telemetry recorded in full again (${dropped} telemetry records were dropped)`
      : `buffer over its quota (${bytes} of ${this.policy.quotaBytes} bytes): keeping 1 telemetry record in ${factor}; calibration, usage and inspection records are kept in full`;
    this.logger.warn(details, message);
    // Recorded like any other record, so the cloud and the auditor see exactly when data was thinned.
    this.log
      .append([
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
      ])
      .catch((err: unknown) => this.logger.error({ err }, 'could not record the quota event'));
  }
}
