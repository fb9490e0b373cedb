/**
 * When a source's samples give a telemetry record: one per `everyMs` on a fixed schedule, from
 * the samples as they come every `periodMs` (a poll interval, a publishing interval). A sample
 * counts as on time when it is up to half a period (at most half of `everyMs`) before its record
 * is due: samples come about `periodMs` apart, now a little late, now a millisecond or two early
 * (a timer runs against the event loop's cached time), and one that comes a hair early must not
 * skip a whole period (with `everyMs` equal to the poll interval, a third of the polls did). The
 * schedule advances by `everyMs` per record, so records never come more often than asked on
 * average; after a pause longer than `everyMs` it starts again from the next sample.
 */
export class TelemetryPace {
  private due = -Infinity;
  private readonly early: number;

  constructor(
    private readonly everyMs: number,
    periodMs: number,
  ) {
    this.early = Math.min(everyMs, periodMs) / 2;
  }

  /** Whether the sample taken at `atMs` (epoch ms) gives a telemetry record. */
  take(atMs: number): boolean {
    if (atMs < this.due - this.early) return false;
    this.due = atMs - this.due < this.everyMs ? this.due + this.everyMs : atMs + this.everyMs;
    return true;
  }
}
