import type { RecordDraft } from '../buffer/edge-log.js';

export interface UsageObservation {
  at: Date;
  running: boolean;
  cycles?: number;
  operator?: string;
  workOrder?: string;
  partSerial?: string;
}

export interface UsageTrackerOptions {
  equipment: string;
  source: RecordDraft['source'];
  /** A pause shorter than this (between two tests, say) does not end a run. */
  stopAfterIdleS: number;
}

type UsageBody = Extract<RecordDraft, { kind: 'usage' }>['body'];

/**
 * Derives equipment-usage records from a rig's state as it is observed: `start` when it begins
 * running, `stop` (with duration and the cycles counted meanwhile) once it has stayed idle for
 * `stopAfterIdleS`. Operator, work order and part serial are those seen at the start.
 */
export class UsageTracker {
  private runStart: {
    at: Date;
    cycles?: number;
    operator?: string;
    workOrder?: string;
    partSerial?: string;
  } | null = null;
  private lastRunningAt: Date | null = null;
  private lastCycles: number | undefined;

  constructor(private readonly opts: UsageTrackerOptions) {}

  /** Feeds one observation; returns the usage records it completes (zero or one). */
  observe(o: UsageObservation): RecordDraft[] {
    if (o.cycles !== undefined) this.lastCycles = o.cycles;
    if (o.running) {
      this.lastRunningAt = o.at;
      if (!this.runStart) {
        this.runStart = {
          at: o.at,
          ...(o.cycles !== undefined ? { cycles: o.cycles } : {}),
          ...(o.operator ? { operator: o.operator } : {}),
          ...(o.workOrder ? { workOrder: o.workOrder } : {}),
          ...(o.partSerial ? { partSerial: o.partSerial } : {}),
        };
        return [this.draft(o.at, { event: 'start', ...this.who() })];
      }
      return [];
    }
    if (
      this.runStart &&
      this.lastRunningAt &&
      o.at.getTime() - this.lastRunningAt.getTime() >= this.opts.stopAfterIdleS * 1000
    ) {
      return [this.stop(this.lastRunningAt)];
    }
    return [];
  }

  /** Ends a run in progress (the source is going away); the stop time is the last time it was seen running. */
  flush(): RecordDraft[] {
    return this.runStart && this.lastRunningAt ? [this.stop(this.lastRunningAt)] : [];
  }

  private who() {
    const s = this.runStart!;
    return {
      ...(s.operator ? { operator: s.operator } : {}),
      ...(s.workOrder ? { workOrder: s.workOrder } : {}),
      ...(s.partSerial ? { partSerial: s.partSerial } : {}),
    };
  }

  private stop(at: Date): RecordDraft {
    const s = this.runStart!;
    const cycles =
      s.cycles !== undefined && this.lastCycles !== undefined && this.lastCycles >= s.cycles
        ? { cycles: this.lastCycles - s.cycles }
        : {};
    const body: UsageBody = {
      event: 'stop',
      durationS: Math.max(0, Math.round((at.getTime() - s.at.getTime()) / 100) / 10),
      ...cycles,
      ...this.who(),
    };
    this.runStart = null;
    this.lastRunningAt = null;
    return this.draft(at, body);
  }

  private draft(at: Date, body: UsageBody): RecordDraft {
    const t = at.toISOString();
    return {
      kind: 'usage',
      equipment: this.opts.equipment,
      observedAt: t,
      receivedAt: new Date().toISOString(),
      source: this.opts.source,
      body,
    };
  }
}
