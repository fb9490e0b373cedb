import type { Logger } from 'pino';
import type { RecordDraft } from '../buffer/edge-log.js';
import type { RecordMapping } from '../config/config.schema.js';
import type { RecordSink } from '../records/record-sink.js';
import { eventDraft } from '../collectors/collector.js';
import { compileValue, describe, type Scope } from './expressions.js';
import { MappingProblems, compileRecordMapping, type CompiledMapping } from './record-mapping.js';
import type { EdgeEventCode } from '../errors.js';

/** A result block as read, with the trigger value it is the result of. */
export interface BlockRead {
  scope: Scope;
  /**
   * The trigger value the block belongs to: the one asked for, or a newer one when the protocol
   * read the trigger in the same consistent snapshot (OPC UA: one Read) and the device had moved on.
   * For an event trigger, the event's id.
   */
  trigger: Trigger;
}

/** A counter's value, a flag (true: raised), or an event's id (OPC UA EventId, base64). */
export type Trigger = number | boolean | string;

/** An event that triggers a result: its id and the event fields a mapping sees (`event.Message`, …). */
export interface TriggerEvent {
  id: string;
  fields: Scope;
  /** When the event happened (its Time field): the default time of the result. */
  at?: Date;
}

/** How many event ids already taken are kept (with the last result's state) to drop one delivered twice. */
const EVENT_IDS_KEPT = 200;

/** What the protocol gives a capture: how to read the result block and how to acknowledge a result. */
export interface CaptureIo {
  /**
   * Reads the result block (the mapping's `read` values) as one consistent snapshot. Resolves
   * `null` when the device moved on to a newer result while it was read and the block cannot be
   * told apart from it: that newer result is taken when its own trigger arrives.
   */
  readBlock(trigger: Trigger): Promise<BlockRead | null>;
  /** Writes the acknowledge value once the result's record is durable (only with a handshake). */
  acknowledge?(value: unknown): Promise<void>;
  /**
   * The results a counter skipped (`from` < n < `to`, completed since `since`), read back from
   * the device where it keeps them (OPC UA HistoryRead): each one found, with when it completed.
   * Results not found are counted in the RESULTS_MISSED event as before.
   */
  readMissed?(from: number, to: number, since: Date): Promise<MissedResult[]>;
}

/** A result the counter skipped, read back from the device's history. */
export interface MissedResult {
  trigger: number;
  scope: Scope;
  /** When the device completed it (the trigger's timestamp). */
  at: Date;
}

export interface CaptureOptions {
  sourceId: string;
  /** The source's asset tag (events and the default equipment). */
  equipment: string;
  source: (address?: string) => RecordDraft['source'];
  mapping: RecordMapping;
  compiled: CompiledMapping;
  /**
   * An event trigger's `sequence`: the result's number from the event's fields. A number already
   * taken gives no second record (whatever its EventId), and a jump or a step back the same events
   * as a counter trigger's value.
   */
  sequence?: (fields: Scope) => unknown;
  /** Evaluates the handshake's value and failValue (constants or expressions) against the result's scope. */
  ackValue?: (ok: boolean, scope: Scope) => unknown;
  /** Key of the saved state (the last result taken and when). */
  stateKey: string;
  /**
   * Where an older release kept the last trigger value of this result (the `calibration:` and
   * `inspection:` blocks' bare value), read when `stateKey` has none, so an upgrade neither
   * repeats the last result nor loses the ones completed meanwhile.
   */
  legacyStateKey?: string;
  sink: RecordSink;
  logger: Logger;
  io: CaptureIo;
}

interface Taken {
  /** The trigger value of the last result taken. */
  value: number;
  at: string;
}

/** The saved state of an event trigger: the ids of the last events taken, and the last `sequence` taken. */
interface TakenEvents {
  events: string[];
  at: string;
  value?: number;
  /** The conditions (`event.ConditionId`) whose results were taken lately, the last one last. */
  conditions?: string[];
}

/** A result whose block had values the device did not give, to be read again. */
interface Rereading {
  trigger: Trigger;
  /**
   * Reads of its block so far over a working connection (the budget of RETRY_MS.length + 1):
   * a read made while the source's connection was down, or lost during the read, is not counted.
   */
  reads: number;
  /** The step of RETRY_MS the next read waits for (back to the first when the connection is back). */
  step: number;
  since: number;
  /** The values of its last read. */
  scope?: Scope;
}

const RETRY_MS = [500, 1000, 2000, 5000, 10_000, 30_000];

/**
 * Captures each result of one record mapping exactly once.
 *
 * A counter trigger: each new value is a new result. The last value taken is stored with its
 * record in one transaction, so a restart neither repeats nor loses one; a counter that moved on
 * by more than one (results completed while the edge was stopped, disconnected or backing off,
 * or before its first connect) gives a signed `RESULTS_MISSED` event saying how many and between
 * when, and a counter that went back (the device restarted) a `RESULT_COUNTER_RESET` event.
 *
 * A rising trigger: each false → true (0 → non-zero) is a result. With a handshake the device
 * holds its flag until acknowledged, so nothing is missed; without one a result shown only while
 * the edge was away cannot be seen (use a counter where the device has one).
 *
 * A value the device did not give (Unavailable.unread: no reply, an exception, a refused frame)
 * is not a value that does not fit: the block is read again, after RETRY_MS each, as long as the
 * device still shows that result (a counter that moves on meanwhile counts it as missed, as any
 * gap). Only when the reads run out (about 50 s) does it become the event below.
 *
 * The handshake acknowledge is written only after the record is durable. A result whose values do
 * not fit its mapping becomes a `RESULT_NOT_MAPPED` error event naming each field and value (and
 * is acknowledged with `failValue`), so it is never silently skipped and never blocks the device.
 */
export class ResultCapture {
  private taken: Taken | undefined;
  private busy: Trigger | undefined;
  /** A counter value observed while a result was being captured (a subscription does not repeat it). */
  private seenWhileBusy: number | undefined;
  private lastFlag = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private attempt = 0;
  /** The result being read again because values of its block were not given. */
  private rereading: Rereading | undefined;
  /** The trigger a failed block read is to be retried for (the retry timer is pending). */
  private retryTrigger: Trigger | undefined;
  /** Events waiting to be captured, oldest first (an event trigger takes one result at a time). */
  private readonly events: TriggerEvent[] = [];
  /** The event being captured (or read again). */
  private currentEvent: TriggerEvent | undefined;
  /** Ids of the events taken lately, saved with each result's record. */
  private takenEvents: string[] = [];
  /** Conditions whose results were taken lately (Alarms & Conditions), saved with each result's record. */
  private takenConditions: string[] = [];
  /** The source reported its connection lost and not yet back. */
  private linkDown = false;
  /** Counts the source's connection losses and returns (a read spanning one is not counted). */
  private linkEpoch = 0;
  private stopped = false;
  private reacknowledged = false;
  /** The acknowledge of the last result taken, when writing it failed: written again once the connection is back. */
  private unacknowledged: { value: unknown } | undefined;
  /** Results turned into records, gaps seen, results that could not be mapped. */
  readonly counters = {
    results: 0,
    missed: 0,
    fromHistory: 0,
    notMapped: 0,
    acknowledged: 0,
    ackFailures: 0,
  };

  constructor(private readonly o: CaptureOptions) {}

  async init(getState: (k: string) => Promise<string | undefined>): Promise<void> {
    const saved =
      (await getState(this.o.stateKey)) ??
      (this.o.legacyStateKey ? await getState(this.o.legacyStateKey) : undefined);
    if (saved === undefined) return;
    // A state written by the older trigger bookkeeping is the bare counter value ("41").
    const n = Number(saved);
    if (saved.trim() !== '' && Number.isFinite(n)) {
      this.taken = { value: n, at: new Date(0).toISOString() };
      return;
    }
    try {
      const t = JSON.parse(saved) as Taken | TakenEvents;
      if ('events' in t && Array.isArray(t.events)) {
        this.takenEvents = t.events.filter((x) => typeof x === 'string');
        if (Array.isArray(t.conditions))
          this.takenConditions = t.conditions.filter((x) => typeof x === 'string');
      }
      if (typeof t.value === 'number' && typeof t.at === 'string') this.taken = { value: t.value, at: t.at };
    } catch {
      // not a state this release can read: start afresh
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
  }

  /**
   * Whether a result announced by this condition (`event.ConditionId`) was taken lately: a
   * condition of it seen acknowledged and not confirmed is then a result recorded (Acknowledge
   * follows the record) whose Confirm did not happen, not a new one.
   */
  tookResultOf(conditionId: string): boolean {
    return this.takenConditions.includes(conditionId);
  }

  /**
   * The acknowledge value of a result already recorded, worked out from `scope` alone (its
   * announcing event's fields and trigger); throws when it needs what the scope lacks (the result
   * block, not read here).
   */
  ackValueOf(scope: Scope): unknown {
    if (!this.o.ackValue) throw new Error('the mapping has no handshake');
    return this.o.ackValue(true, scope);
  }

  /**
   * Acknowledges again, outside a result's capture, a result already recorded (the device
   * announced it again waiting for the rest of its handshake): the same attempts, counters and
   * HANDSHAKE_FAILED event as the acknowledge that follows a record.
   */
  async acknowledgeAgain(value: unknown): Promise<void> {
    if (this.stopped || !this.o.io.acknowledge) return;
    await this.acknowledge(value);
  }

  /**
   * The source lost its connection to the device. Reads made from now until it is back are not
   * counted against the result's reads (the device did not fail to give its values: it could not
   * be asked).
   */
  connectionLost(): void {
    if (this.linkDown) return;
    this.linkDown = true;
    this.linkEpoch += 1;
  }

  /**
   * The source's connection is back. A result waiting to be read again is read at once, its
   * backoff restarted from the first step (a device holding a result for its handshake does not
   * wait for the step of up to 30 s reached while the link was down).
   */
  connectionRestored(): void {
    if (!this.linkDown) return;
    this.linkDown = false;
    this.linkEpoch += 1;
    if (this.stopped) return;
    this.attempt = 0;
    if (this.rereading) this.rereading.step = 0;
    if (this.unacknowledged && this.busy === undefined) void this.reacknowledgeHeld();
    // A read under way spans the cut: it is retried at once when it fails (see retryDelay).
    if (this.busy !== undefined) return;
    const pending = this.rereading?.trigger ?? this.retryTrigger;
    if (pending === undefined) return;
    clearTimeout(this.retryTimer);
    this.retryTrigger = undefined;
    if (typeof pending === 'boolean') {
      if (this.lastFlag || this.rereading) void this.capture(true);
    } else if (this.taken?.value !== pending) void this.capture(pending);
  }

  /**
   * An acknowledge that could not be written (the link was cut between the record and its
   * acknowledge), now that the connection is back: written again if the device still shows that
   * result (a counter trigger: read with the block; the device may have taken the acknowledge
   * whose answer was lost, and moved on). An event trigger's device announces the held result
   * again instead (reacknowledgeEvent).
   */
  private async reacknowledgeHeld(): Promise<void> {
    const u = this.unacknowledged;
    const n = this.taken?.value;
    if (!u || n === undefined || !('counter' in this.o.mapping.trigger)) return;
    this.busy = n;
    try {
      const b = await this.o.io.readBlock(n);
      if (!this.stopped && b?.trigger === n && this.taken?.value === n && this.unacknowledged === u) {
        this.o.logger.info({ trigger: n }, 'the connection is back: acknowledging the last result again');
        await this.acknowledge(u.value);
      }
    } catch (err) {
      this.o.logger.warn(
        { err: (err as Error).message, trigger: n },
        'could not check the last result before acknowledging it again; trying at the next reconnection',
      );
    } finally {
      this.busy = undefined;
      const next = this.seenWhileBusy;
      this.seenWhileBusy = undefined;
      if (next !== undefined && !this.stopped) this.observe(next);
    }
  }

  /**
   * The wait before reading again: the step's, or none when the connection came back while the
   * read was under way (it went over the lost link).
   */
  private retryDelay(step: number, epoch: number): number {
    if (epoch !== this.linkEpoch && !this.linkDown) return 0;
    return RETRY_MS[Math.min(step, RETRY_MS.length - 1)]!;
  }

  /**
   * Feeds an event of an event trigger: one result each, captured in the order received. An event
   * already taken (delivered again after a reconnection) or already waiting is dropped, and so is
   * one whose `sequence` is the last taken or one waiting (the device announced it again with a
   * new EventId).
   */
  observeEvent(e: TriggerEvent): void {
    if (this.stopped) return;
    const seq = this.sequenceOf(e);
    if (this.takenEvents.includes(e.id) || (seq !== undefined && seq === this.taken?.value)) {
      if (!this.takenEvents.includes(e.id))
        this.o.logger.info(
          { event: e.id, sequence: seq },
          'a result already taken was announced again with a new EventId: no second record',
        );
      this.reacknowledgeEvent(e, seq);
      return;
    }
    const waiting = this.currentEvent ? [this.currentEvent, ...this.events] : this.events;
    if (waiting.some((x) => x.id === e.id || (seq !== undefined && this.sequenceOf(x) === seq))) return;
    this.events.push(e);
    const r = this.rereading;
    if (r && typeof r.trigger === 'string' && this.busy === undefined && r.scope) {
      // A newer result is complete: the block no longer shows the one being read again. It is
      // recorded with what was read (RESULT_NOT_MAPPED naming the values missing).
      clearTimeout(this.retryTimer);
      this.rereading = undefined;
      const scope = r.scope;
      this.busy = r.trigger;
      void this.record(r.trigger, scope, r)
        .catch((err: unknown) =>
          this.o.logger.error({ err }, 'could not record a result that could not be read completely'),
        )
        .finally(() => {
          this.busy = undefined;
          this.nextEvent();
        });
      return;
    }
    this.nextEvent();
  }

  /**
   * The event of the last result taken, announced again: a device holding that result for its
   * handshake did not get the acknowledge (the edge stopped, or the link was cut, between the
   * record and its acknowledge), so it is written again (the same value: harmless if it did).
   * Only for the last result taken and while nothing newer is under way: an older event's
   * acknowledge could be taken for a newer result's.
   */
  private reacknowledgeEvent(e: TriggerEvent, seq: number | undefined): void {
    if (!this.o.io.acknowledge || !this.o.ackValue) return;
    const last = seq !== undefined ? seq === this.taken?.value : this.takenEvents.at(-1) === e.id;
    if (!last) return;
    if (this.busy !== undefined || this.currentEvent || this.events.length > 0 || this.rereading) return;
    const ackValue = this.o.ackValue;
    const fields: Scope = { ...e.fields, trigger: e.id };
    let value: unknown;
    try {
      value = ackValue(true, fields);
    } catch {
      // An acknowledge value computed from the result block: read the block again for it.
      this.busy = e.id;
      void this.o.io
        .readBlock(e.id)
        .then((b) => (b ? this.acknowledge(ackValue(true, { ...b.scope, ...fields })) : undefined))
        .catch((err: unknown) =>
          this.o.logger.warn(
            { err: (err as Error).message, event: e.id },
            'could not acknowledge again a result announced again',
          ),
        )
        .finally(() => {
          this.busy = undefined;
          this.nextEvent();
        });
      return;
    }
    this.o.logger.info({ event: e.id }, 'the last result was announced again: acknowledging it again');
    void this.acknowledge(value);
  }

  /** The result's number an event gives (`sequence`), when the trigger has one and it is a number. */
  private sequenceOf(e: TriggerEvent | undefined): number | undefined {
    if (!e || !this.o.sequence) return undefined;
    let v: unknown;
    try {
      v = this.o.sequence(e.fields);
    } catch {
      return undefined; // not given: the event is told apart by its EventId only
    }
    if (typeof v === 'string' && /^\d{1,15}$/.test(v.trim())) v = Number(v);
    return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
  }

  /** Starts capturing the next event waiting, unless a result is being captured or read again. */
  private nextEvent(): void {
    if (this.stopped || this.busy !== undefined || this.rereading || this.retryTrigger !== undefined) return;
    const e = this.events.shift();
    this.currentEvent = e;
    if (e) void this.capture(e.id);
  }

  /** Feeds the trigger's current value (a counter or a flag), as the source observes it. */
  observe(value: unknown): void {
    if (this.stopped) return;
    if ('rising' in this.o.mapping.trigger) {
      const flag = value === true || (typeof value === 'number' && value !== 0);
      const rose = flag && !this.lastFlag;
      if (value === true || value === false || typeof value === 'number') this.lastFlag = flag;
      if (rose && this.busy === undefined) void this.capture(true);
      return;
    }
    if (typeof value !== 'number' || !Number.isFinite(value)) return;
    if (this.busy === value) return;
    if (this.taken?.value === value) {
      // The edge may have stopped between storing this result and acknowledging it: the device
      // still holds it, so acknowledge it once more (the same value again is harmless).
      if (!this.reacknowledged && this.o.io.acknowledge && this.o.ackValue) {
        this.reacknowledged = true;
        let v: unknown;
        try {
          v = this.o.ackValue(true, { trigger: value });
        } catch {
          return; // an acknowledge value computed from the result block: only sent with the result
        }
        void this.acknowledge(v);
      }
      return;
    }
    if (value === 0 && this.taken === undefined) return; // no result yet
    if (this.rereading?.trigger === value) return; // read again when its backoff is up
    if (this.busy !== undefined) {
      this.seenWhileBusy = value; // the one in progress finishes first; then this one
      return;
    }
    void this.capture(value);
  }

  private async capture(trigger: Trigger): Promise<void> {
    this.busy = trigger;
    clearTimeout(this.retryTimer);
    this.retryTrigger = undefined;
    // The connection as the read starts: a read made while it is down, or across a loss, does not
    // count against the result's reads.
    const epoch = this.linkEpoch;
    const overLink = !this.linkDown;
    if (this.rereading?.trigger !== trigger) this.rereading = undefined; // the device moved on
    try {
      const block = await this.o.io.readBlock(trigger);
      if (this.stopped) return;
      if (block === null) {
        this.rereading = undefined;
        this.o.logger.info(
          { trigger },
          'the device moved on while its result block was read; taking the newer result when it arrives',
        );
        return;
      }
      const taken = block.trigger;
      if (taken !== trigger)
        this.o.logger.info(
          { trigger, read: taken },
          'the device moved on while its result block was read; taking the newer result',
        );
      // The newer result read with the block may be the one already taken.
      if (typeof taken !== 'number' || this.taken?.value !== taken) {
        const scope = { ...block.scope, ...this.eventFields(taken), trigger: taken };
        const reads = this.readAgain(taken, scope, overLink && epoch === this.linkEpoch, epoch);
        if (reads === 'again') return;
        await this.record(taken, scope, reads);
      }
      this.attempt = 0;
    } catch (err) {
      // Not a value missing from the block: the block could not be read (retried below, and on
      // every poll that shows the result). A result already being read again keeps the reads it
      // used, so failures in between cannot hold it (and a handshake device) for ever.
      if (this.stopped) return;
      const delay = this.retryDelay(this.attempt++, epoch);
      this.o.logger.warn(
        { err: (err as Error).message, trigger, retryInMs: delay },
        'could not read the result block; retrying',
      );
      // A counter is seen again on every poll or change; a flag that stays high is not: retry it.
      this.retryTrigger = trigger;
      this.retryTimer = setTimeout(() => {
        this.retryTrigger = undefined;
        if (this.busy === undefined && !this.stopped) {
          if (typeof trigger === 'boolean') void this.capture(true);
          else if (typeof trigger === 'string') void this.capture(trigger);
          else if (this.taken?.value !== trigger) void this.capture(trigger);
        }
      }, delay);
    } finally {
      this.busy = undefined;
      const next = this.seenWhileBusy;
      this.seenWhileBusy = undefined;
      if (next !== undefined && !this.stopped) this.observe(next);
      if (typeof trigger === 'string') this.nextEvent();
    }
  }

  /** The fields of the event being captured, for an event trigger. */
  private eventFields(trigger: Trigger): Scope {
    return typeof trigger === 'string' && this.currentEvent?.id === trigger ? this.currentEvent.fields : {};
  }

  /**
   * `again` (scheduled) when the result is to be read again rather than recorded now: a value its
   * mapping uses was not given by the device, the device still shows the result, and reads are
   * left. Otherwise the reads it took, for the event if values are still missing.
   */
  private readAgain(trigger: Trigger, scope: Scope, counted: boolean, epoch: number): 'again' | Rereading {
    let unread: string[] = [];
    try {
      this.o.compiled.build(scope, { equipment: this.o.equipment, source: this.o.source(), at: new Date() });
    } catch (err) {
      if (!(err instanceof MappingProblems)) throw err;
      unread = err.unread;
    }
    const r: Rereading =
      this.rereading?.trigger === trigger
        ? this.rereading
        : { trigger, reads: 0, step: 0, since: Date.now() };
    if (counted || unread.length === 0) r.reads += 1;
    this.rereading = undefined;
    // A counter's block is read with (or checked against) the trigger; a flag shows it while high;
    // an event's block shows it until the next event.
    const shown =
      typeof trigger === 'number' || (typeof trigger === 'string' ? this.events.length === 0 : this.lastFlag);
    r.scope = scope;
    if (unread.length === 0 || !shown || r.reads > RETRY_MS.length) return r;
    this.rereading = r;
    const delay = this.retryDelay(r.step++, epoch);
    this.o.logger.warn(
      { trigger, unread, reads: r.reads, retryInMs: delay, ...(counted ? {} : { connectionDown: true }) },
      'values of the result block could not be read; reading it again',
    );
    this.retryTimer = setTimeout(() => {
      if (this.busy === undefined && !this.stopped && this.rereading === r) void this.capture(trigger);
    }, delay);
    return 'again';
  }

  private async record(trigger: Trigger, scope: Scope, reread?: Rereading): Promise<void> {
    const now = new Date();
    const event =
      typeof trigger === 'string' && this.currentEvent?.id === trigger ? this.currentEvent : undefined;
    const drafts: RecordDraft[] = [];
    const state: Record<string, string> = {};
    const address = (t: Trigger) => `${triggerName(this.o.mapping)}=${String(t)}`;
    /** The result's record, or a RESULT_NOT_MAPPED event naming what did not fit. */
    const build = (t: Trigger, s: Scope, at: Date): boolean => {
      try {
        drafts.push(
          this.o.compiled.build(s, { equipment: this.o.equipment, source: this.o.source(address(t)), at }),
        );
        return true;
      } catch (err) {
        if (!(err instanceof MappingProblems)) throw err;
        this.counters.notMapped += 1;
        drafts.push(this.notMapped(t, err, address(t), t === trigger ? reread : undefined));
        return false;
      }
    };
    if (typeof trigger === 'number') {
      const recovered = await this.readMissed(trigger);
      for (const r of recovered)
        if (build(r.trigger, { ...r.scope, trigger: r.trigger }, r.at)) this.counters.results += 1;
      this.counters.fromHistory += recovered.length;
      const gap = this.gapEvent(trigger, now, recovered.length);
      if (gap) drafts.push(gap);
      state[this.o.stateKey] = JSON.stringify({ value: trigger, at: now.toISOString() } satisfies Taken);
    }
    let takenEvents = this.takenEvents;
    let takenConditions = this.takenConditions;
    const seq = this.sequenceOf(event);
    if (typeof trigger === 'string') {
      if (seq !== undefined) {
        const gap = this.gapEvent(seq, now);
        if (gap) drafts.push(gap);
      }
      takenEvents = [...this.takenEvents, trigger].slice(-EVENT_IDS_KEPT);
      const condition = event?.fields['event.ConditionId'];
      if (typeof condition === 'string' && condition !== '')
        takenConditions = [...this.takenConditions.filter((c) => c !== condition), condition].slice(
          -EVENT_IDS_KEPT,
        );
      const value = seq ?? this.taken?.value;
      state[this.o.stateKey] = JSON.stringify({
        events: takenEvents,
        at: now.toISOString(),
        ...(value !== undefined ? { value } : {}),
        ...(takenConditions.length > 0 ? { conditions: takenConditions } : {}),
      } satisfies TakenEvents);
    }
    const ok = build(trigger, scope, event?.at && Number.isFinite(event.at.getTime()) ? event.at : now);
    await this.o.sink.write(this.o.sourceId, drafts, state);
    if (typeof trigger === 'number') this.taken = { value: trigger, at: now.toISOString() };
    if (typeof trigger === 'string') {
      this.takenEvents = takenEvents;
      this.takenConditions = takenConditions;
      if (seq !== undefined) this.taken = { value: seq, at: now.toISOString() };
      if (this.currentEvent?.id === trigger) this.currentEvent = undefined;
    }
    if (ok) this.counters.results += 1;
    if (this.o.io.acknowledge && this.o.ackValue) {
      let value: unknown;
      try {
        value = this.o.ackValue(ok, scope);
      } catch (err) {
        this.counters.ackFailures += 1;
        this.event(
          'error',
          'HANDSHAKE_FAILED',
          `could not work out the acknowledge value: ${(err as Error).message}`,
        );
        return;
      }
      this.reacknowledged = true;
      await this.acknowledge(value);
    }
  }

  private async acknowledge(value: unknown): Promise<void> {
    this.unacknowledged = undefined;
    for (let i = 0; i < 3; i++) {
      try {
        await this.o.io.acknowledge!(value);
        this.counters.acknowledged += 1;
        return;
      } catch (err) {
        if (i === 2 || this.stopped) {
          this.unacknowledged = { value };
          this.counters.ackFailures += 1;
          this.o.logger.error(
            { err: (err as Error).message, attempts: i + 1 },
            'could not acknowledge the result to the device; the device may hold its next result',
          );
          this.event(
            'error',
            'HANDSHAKE_FAILED',
            `could not acknowledge the result to the device: ${(err as Error).message}`,
          );
          return;
        }
        await new Promise((r) => setTimeout(r, 250 * (i + 1)));
      }
    }
  }

  /**
   * The results the counter skipped, read back from the device's history where it keeps them
   * (none when it cannot: the gap event then counts them all).
   */
  private async readMissed(trigger: number): Promise<MissedResult[]> {
    const last = this.taken;
    if (!last || trigger <= last.value + 1 || !this.o.io.readMissed) return [];
    try {
      const found = await this.o.io.readMissed(last.value, trigger, new Date(last.at));
      return found
        .filter((r) => r.trigger > last.value && r.trigger < trigger)
        .sort((a, b) => a.trigger - b.trigger);
    } catch (err) {
      this.o.logger.warn(
        { err: (err as Error).message, from: last.value, to: trigger },
        'could not read the missed results from the device history; counting them as missed',
      );
      return [];
    }
  }

  private gapEvent(trigger: number, now: Date, recovered = 0): RecordDraft | undefined {
    const last = this.taken;
    if (!last) return undefined;
    const t = this.o.mapping.trigger;
    const name =
      'event' in t && typeof t.event.sequence === 'string'
        ? t.event.sequence.replace(/^=\s*/, '')
        : triggerName(this.o.mapping);
    if (trigger > last.value + 1) {
      const missed = trigger - last.value - 1 - recovered;
      if (missed <= 0) return undefined;
      this.counters.missed += missed;
      const since = last.at.startsWith('1970-') ? 'an earlier run' : last.at;
      const history =
        recovered > 0
          ? `; ${recovered} other${recovered === 1 ? ' was' : 's were'} read from the device's history`
          : '';
      return this.draft(
        'warning',
        'RESULTS_MISSED',
        `${missed} ${this.o.mapping.kind} result${missed === 1 ? ' was' : 's were'} missed: ${name} went from ${last.value} to ${trigger} between ${since} and ${now.toISOString()}${'event' in t ? '' : '; only the latest result block could be read'}${history}`,
        {
          trigger: name,
          from: last.value,
          to: trigger,
          missed,
          ...(recovered > 0 ? { fromHistory: recovered } : {}),
          since: last.at,
          until: now.toISOString(),
        },
      );
    }
    if (trigger < last.value) {
      return this.draft(
        'warning',
        'RESULT_COUNTER_RESET',
        `${name} went back from ${last.value} to ${trigger} (the device restarted or its counter wrapped) between ${last.at} and ${now.toISOString()}; results completed in between cannot be counted`,
        { trigger: name, from: last.value, to: trigger, since: last.at, until: now.toISOString() },
      );
    }
    return undefined;
  }

  private notMapped(
    trigger: Trigger,
    { problems, unread }: MappingProblems,
    address: string,
    reread?: Rereading,
  ): RecordDraft {
    const details: Record<string, string | number> = { trigger: String(trigger), problems: problems.length };
    problems.slice(0, 20).forEach((p, i) => (details[`problem${i}`] = p.slice(0, 1024)));
    if (unread.length > 0 && reread) details.reads = reread.reads;
    this.o.logger.error(
      { trigger, problems },
      `a ${this.o.mapping.kind} result could not be turned into a record`,
    );
    const what =
      unread.length === 0
        ? 'was read but does not fit its mapping'
        : reread
          ? `could not be read completely in ${reread.reads} reads over ${Math.round((Date.now() - reread.since) / 1000)} s`
          : 'could not be read completely';
    const d = this.draft(
      'error',
      'RESULT_NOT_MAPPED',
      `${this.o.mapping.kind} result ${triggerName(this.o.mapping)}=${String(trigger)} ${what}: ${problems.join('; ')}`,
      details,
    );
    return { ...d, source: this.o.source(address) };
  }

  private draft(
    severity: 'info' | 'warning' | 'error',
    code: EdgeEventCode,
    message: string,
    details: Record<string, string | number | boolean | null>,
  ): RecordDraft {
    const d = eventDraft(
      { equipment: this.o.equipment, source: this.o.source(), sourceId: this.o.sourceId },
      severity,
      code,
      message,
    );
    if (d.kind === 'event') d.body.details = { ...d.body.details, ...details };
    return d;
  }

  private event(severity: 'info' | 'warning' | 'error', code: EdgeEventCode, message: string): void {
    this.o.sink
      .write(this.o.sourceId, [this.draft(severity, code, message, {})])
      .catch((err: unknown) => this.o.logger.error({ err }, 'could not record an event'));
  }
}

/**
 * The capture of a source's `records[index]`: its compiled mapping, saved-state key and
 * acknowledge value, with the protocol's block read and acknowledge write.
 */
export function captureFor(
  src: { id: string; equipment: string },
  index: number,
  m: RecordMapping,
  deps: { sink: RecordSink; logger: Logger; source: (address?: string) => RecordDraft['source'] },
  io: {
    readBlock: CaptureIo['readBlock'];
    acknowledge: NonNullable<CaptureIo['acknowledge']>;
    readMissed?: CaptureIo['readMissed'];
  },
  /** The source's mappings: the one of `legacyKind` with a counter reads an older release's saved state. */
  all: readonly RecordMapping[],
  legacyKind: RecordMapping['kind'],
): ResultCapture {
  const h = m.handshake;
  const heirs = all.filter((x) => x.kind === legacyKind && 'counter' in x.trigger);
  return new ResultCapture({
    sourceId: src.id,
    equipment: src.equipment,
    source: deps.source,
    mapping: m,
    compiled: compileRecordMapping(m, `records[${index}]`).mapping,
    stateKey: `source:${src.id}:records[${index}]:${m.kind}`,
    ...(heirs.length === 1 && heirs[0] === m ? { legacyStateKey: `source:${src.id}:lastTrigger` } : {}),
    sink: deps.sink,
    logger: deps.logger,
    ...(h
      ? {
          ackValue:
            'acknowledgeCondition' in h
              ? conditionAckOf(h, (spec) => compileValue(spec, m.tables ?? {}).evaluate)
              : ackValueOf(h, (spec) => compileValue(spec, m.tables ?? {}).evaluate),
        }
      : {}),
    ...('event' in m.trigger && m.trigger.event.sequence !== undefined
      ? { sequence: compileValue(m.trigger.event.sequence, m.tables ?? {}).evaluate }
      : {}),
    io: {
      readBlock: io.readBlock,
      ...(h ? { acknowledge: io.acknowledge } : {}),
      ...(io.readMissed ? { readMissed: io.readMissed } : {}),
    },
  });
}

/** The counters of several captures, added up (a source's `details.results`). */
export function sumCounters(captures: readonly ResultCapture[]): Record<string, number> {
  const out = { results: 0, missed: 0, fromHistory: 0, notMapped: 0, acknowledged: 0, ackFailures: 0 };
  for (const c of captures) for (const k of Object.keys(out) as (keyof typeof out)[]) out[k] += c.counters[k];
  return out;
}

export function triggerName(m: RecordMapping): string {
  if ('counter' in m.trigger) return m.trigger.counter;
  if ('rising' in m.trigger) return m.trigger.rising;
  return 'event';
}

/** The handshake's acknowledge value: `value` (default the trigger's value) or, for a result that could not be mapped, `failValue`. */
export function ackValueOf(
  h: { value?: unknown; failValue?: unknown },
  compile: (spec: unknown) => (scope: Scope) => unknown,
): (ok: boolean, scope: Scope) => unknown {
  const value = h.value === undefined ? (s: Scope) => s.trigger : compile(h.value);
  const fail = h.failValue === undefined ? value : compile(h.failValue);
  return (ok, scope) => {
    const v = (ok ? value : fail)(scope);
    if (typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') return v;
    throw new TypeError(`the acknowledge value ${describe(v)} is not a number, boolean or text`);
  };
}

/** What a condition's Acknowledge is called with: the condition, the event acknowledged and the comment. */
export interface ConditionAck {
  conditionId: string;
  eventId: string;
  comment: string;
  /** The condition is acknowledged already (announced acknowledged, not confirmed): Confirm only. */
  confirmOnly?: boolean;
}

/** The default comments of a condition's Acknowledge. */
export const CONDITION_ACK_COMMENT = 'recorded by RigTrace';
export const CONDITION_ACK_FAIL_COMMENT =
  'not recorded: the result does not fit its mapping (RESULT_NOT_MAPPED)';

/**
 * The Acknowledge of an Alarms & Conditions handshake: the event's condition (`event.ConditionId`)
 * and EventId (the trigger), with `comment` (or `failComment` for a result that could not be mapped).
 */
export function conditionAckOf(
  h: { comment?: unknown; failComment?: unknown },
  compile: (spec: unknown) => (scope: Scope) => unknown,
): (ok: boolean, scope: Scope) => ConditionAck {
  const comment = compile(h.comment ?? CONDITION_ACK_COMMENT);
  const fail = compile(h.failComment ?? CONDITION_ACK_FAIL_COMMENT);
  return (ok, scope) => {
    const conditionId = scope['event.ConditionId'];
    const eventId = scope.trigger;
    if (typeof conditionId !== 'string' || conditionId === '')
      throw new TypeError(
        'the event names no condition (its ConditionId is empty): it cannot be acknowledged',
      );
    if (typeof eventId !== 'string' || eventId === '')
      throw new TypeError('the event has no EventId: it cannot be acknowledged');
    const c = (ok ? comment : fail)(scope);
    if (typeof c !== 'string' && typeof c !== 'number' && typeof c !== 'boolean')
      throw new TypeError(`the acknowledge comment ${describe(c)} is not a text`);
    return { conditionId, eventId, comment: String(c) };
  };
}
