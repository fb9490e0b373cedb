import type { Logger } from 'pino';
import type { EdgeLog, PendingBatch } from '../buffer/edge-log.js';
import { RateMeter } from '../records/rate-meter.js';
import { JsonPoster } from './http-post.js';

export interface ForwarderOptions {
  cloudUrl: string;
  batchSize: number;
  timeoutMs: number;
  retry: { initialMs: number; maxMs: number };
  /** Pace of sending: a backlog after an outage is replayed at most this fast. */
  maxRecordsPerSecond: number;
}

export interface ForwarderStats {
  batchesSent: number;
  recordsAcked: number;
  failures: number;
  consecutiveFailures: number;
  lastError: string | null;
  lastErrorAt: string | null;
  lastAckAt: string | null;
  lastAckedSeq: number;
}

type SendResult =
  | { kind: 'ack'; ackedSeq: number }
  | { kind: 'expect'; expectedSeq: number; detail: string }
  | { kind: 'refused'; status: number; detail: string; expectedSeq?: number; codes: string[] };

/**
 * What the cloud says of a re-sent record this edge set aside as damaged after the cloud had
 * committed its original (the acknowledgement was lost): the record differs, and the checkpoint
 * over it forks or misses the cloud's root.
 */
const SET_ASIDE_REPLAY_CODES = new Set(['RECORD_REPLAYED_CHANGED', 'FORK', 'ROOT_MISMATCH']);

/** The longest Retry-After honoured: a wrong header must not silence the edge for a day. */
const MAX_RETRY_AFTER_MS = 15 * 60_000;

/** Milliseconds from a Retry-After value (delay-seconds or an HTTP date), or null when it is neither. */
export function retryAfterMs(value: string | null, now = Date.now()): number | null {
  if (value === null) return null;
  const v = value.trim();
  const ms = /^\d+$/u.test(v) ? Number(v) * 1000 : Date.parse(v) - now;
  return Number.isFinite(ms) ? Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms)) : null;
}

/** A failure the cloud asked us to wait out (429/503 with Retry-After). */
class RetryLater extends Error {
  constructor(
    message: string,
    readonly waitMs: number,
  ) {
    super(message);
  }
}

/** Full-jitter exponential backoff (AWS architecture blog): uniform in [0, min(max, base·2^n)]. */
export function backoffDelay(
  attempt: number,
  initialMs: number,
  maxMs: number,
  random = Math.random,
): number {
  const cap = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(random() * cap);
}

/**
 * Sends the log's unacknowledged records to the cloud as signed batches, one in flight at a time,
 * resuming from the cloud's acknowledged seq. Records are pruned from the buffer only after the
 * cloud answers that it committed them.
 */
export class Forwarder {
  private stopped = true;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private wakeOnStop: (() => void) | null = null;
  private unsubscribe: (() => void) | null = null;
  private inflight: AbortController | null = null;
  /** Records acknowledged by the cloud per second. */
  readonly outRate = new RateMeter();
  private readonly s: ForwarderStats = {
    batchesSent: 0,
    recordsAcked: 0,
    failures: 0,
    consecutiveFailures: 0,
    lastError: null,
    lastErrorAt: null,
    lastAckAt: null,
    lastAckedSeq: 0,
  };

  private readonly ingestUrl: URL;
  private readonly http: JsonPoster;
  /**
   * The highest seq the cloud has acknowledged. The log's own acknowledged seq follows once the
   * acknowledgement is written (`acknowledging`); the next batch starts after this one meanwhile.
   */
  private cloudAcked = 0;
  /** The acknowledgements being written to the log, in order. */
  private acknowledging: Promise<void> = Promise.resolve();
  /** Why writing an acknowledgement failed, until the loop has reported it. */
  private acknowledgeError: Error | null = null;

  constructor(
    private readonly log: EdgeLog,
    private readonly opts: ForwarderOptions,
    private readonly logger: Logger,
  ) {
    this.ingestUrl = new URL('/api/v1/ingest', opts.cloudUrl);
    this.http = new JsonPoster(this.ingestUrl.protocol === 'https:');
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.s.lastAckedSeq = this.log.ackedSeq;
    this.cloudAcked = this.log.ackedSeq;
    this.unsubscribe = this.log.onAppend(() => this.wake?.());
    this.loop = this.run();
  }

  /** Stops after the batch in flight (if any) is answered or times out. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.unsubscribe?.();
    this.wakeOnStop?.();
    // The batch in flight is not waited for: it is sent again after the next start (the cloud
    // takes a batch it already has as a repeat), and a hanging cloud must not hold up a shutdown.
    this.inflight?.abort(new Error('stopping'));
    await this.loop;
    await this.acknowledging;
    this.http.close();
  }

  stats(): ForwarderStats {
    return { ...this.s };
  }

  /** Waits `ms`, or less if woken by stop() (or by an append, when `wakeOnAppend`). */
  private sleep(ms: number, wakeOnAppend = true): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = null;
        this.wakeOnStop = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      if (wakeOnAppend) this.wake = done;
      this.wakeOnStop = done;
    });
  }

  /** Consecutive failed attempts, for the backoff. */
  private attempt = 0;

  /**
   * Waits out a failure: the backoff, or the cloud's Retry-After when longer. Records appended
   * meanwhile do not cut it short (only stop() does).
   */
  private backoff(err: unknown): Promise<void> {
    const delay = backoffDelay(this.attempt++, this.opts.retry.initialMs, this.opts.retry.maxMs);
    return this.sleep(Math.max(delay, err instanceof RetryLater ? err.waitMs : 0), false);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        // An acknowledgement that could not be written: reported, and the records after the log's
        // acknowledged seq are sent again (the cloud takes what it has as a repeat).
        if (this.acknowledgeError !== null) await this.settleAcknowledgements();
        const batch = await this.log.nextBatch(this.opts.batchSize, this.cloudAcked);
        if (!batch) {
          await this.sleep(1000);
          continue;
        }
        const sentAt = Date.now();
        const result = await this.send(batch);
        await this.handle(result, batch, sentAt);
      } catch (err) {
        // Network errors, 5xx, and answers that cannot be applied: all retried with backoff.
        if (this.stopped) return;
        this.fail(err);
        await this.backoff(err);
      }
    }
  }

  /** Acts on the cloud's answer. */
  private async handle(result: SendResult, batch: PendingBatch, sentAt: number): Promise<void> {
    switch (result.kind) {
      case 'ack': {
        // The next batch goes out now; the acknowledgement is written meanwhile, after the ones
        // before it. Until it is, the records stay in the log (sent again after a crash, and the
        // cloud takes them as a repeat).
        const seq = Math.min(result.ackedSeq, this.log.lastSeq);
        if (seq > this.cloudAcked) this.cloudAcked = seq;
        const records = batch.records.length;
        // At most one acknowledgement is written behind the batches (it normally finished during
        // this batch's round trip).
        await this.acknowledging;
        this.acknowledging = (async () => {
          const before = this.log.ackedSeq;
          try {
            await this.log.acknowledge(seq);
          } catch (err) {
            this.acknowledgeError ??= err instanceof Error ? err : new Error(String(err));
            return;
          }
          this.s.recordsAcked += this.log.ackedSeq - before;
          this.s.lastAckedSeq = this.log.ackedSeq;
          this.outRate.mark(this.log.ackedSeq - before);
          this.logger.debug({ ackedSeq: this.log.ackedSeq, records }, 'batch acknowledged');
        })();
        this.s.batchesSent += 1;
        this.s.lastAckAt = new Date().toISOString();
        this.s.consecutiveFailures = 0;
        this.attempt = 0;
        // Pace a backlog: a batch of n records earns the next send after n / rate seconds,
        // so replay after an outage leaves the cloud and the line PC room for live data.
        const due = (batch.records.length / this.opts.maxRecordsPerSecond) * 1000 - (Date.now() - sentAt);
        if (due > 0 && !this.stopped) await this.sleep(due, false);
        return;
      }
      case 'expect': {
        await this.settleAcknowledgements();
        const haveUpTo = result.expectedSeq - 1;
        if (haveUpTo > this.log.ackedSeq && haveUpTo <= this.log.lastSeq) {
          // The cloud committed records whose acknowledgement we never received: skip ahead
          // (back to the leaves it holds, if any of those records were set aside here since).
          this.logger.info(
            { expectedSeq: result.expectedSeq },
            'cloud already has records; resuming after them',
          );
          await this.log.resumeAfter(haveUpTo);
          this.cloudAcked = this.log.ackedSeq;
          this.s.lastAckedSeq = this.log.ackedSeq;
          this.attempt = 0;
          return;
        }
        throw new Error(
          `cloud expects seq ${result.expectedSeq} but this edge has acknowledged up to ${this.log.ackedSeq}: ${result.detail}`,
        );
      }
      case 'refused': {
        await this.settleAcknowledgements();
        const haveUpTo = (result.expectedSeq ?? 0) - 1;
        if (
          haveUpTo > this.log.ackedSeq &&
          haveUpTo <= this.log.lastSeq &&
          result.codes.length > 0 &&
          result.codes.every((c) => SET_ASIDE_REPLAY_CODES.has(c))
        ) {
          // Re-sent records differ from what the cloud holds: if they are ones this edge set aside
          // as damaged after the cloud had committed them, the cloud's copies are the originals.
          const held = await this.log.resumeAfter(haveUpTo, { onlyIfSetAside: true });
          this.cloudAcked = this.log.ackedSeq;
          if (held > 0) {
            this.logger.warn(
              { expectedSeq: result.expectedSeq, setAside: held },
              'cloud already holds the originals of records set aside as damaged here; resuming after them',
            );
            this.s.lastAckedSeq = this.log.ackedSeq;
            this.attempt = 0;
            return;
          }
        }
        throw new Error(
          `cloud refused batch ${batch.firstSeq}..${batch.lastSeq} (${result.status}): ${result.detail}`,
        );
      }
    }
  }

  /**
   * Waits for the acknowledgements being written, so the log's acknowledged seq is the cloud's
   * (before the log is moved on from what the cloud says it holds). A failed one throws.
   */
  private async settleAcknowledgements(): Promise<void> {
    await this.acknowledging;
    this.cloudAcked = this.log.ackedSeq;
    if (this.acknowledgeError !== null) {
      const err = this.acknowledgeError;
      this.acknowledgeError = null;
      throw err;
    }
  }

  private fail(err: unknown): void {
    const msg = err instanceof Error ? err.message : String(err);
    this.s.failures += 1;
    this.s.consecutiveFailures += 1;
    this.s.lastError = msg;
    this.s.lastErrorAt = new Date().toISOString();
    // Log the first failure of a run and then every 10th, so an outage does not flood the log.
    if (this.s.consecutiveFailures === 1 || this.s.consecutiveFailures % 10 === 0)
      this.logger.warn(
        { err: msg, consecutiveFailures: this.s.consecutiveFailures },
        'forwarding failed; will retry',
      );
  }

  private async send(batch: PendingBatch): Promise<SendResult> {
    // The records are already canonical JSON: splice them in rather than re-serializing.
    const body = `{"v":1,"edge":${JSON.stringify(this.log.edgeId)},"records":[${batch.records.join(',')}],"checkpoint":${JSON.stringify(batch.checkpoint)}}`;
    this.inflight = new AbortController();
    const timer = setTimeout(
      () => this.inflight?.abort(new Error(`timed out after ${this.opts.timeoutMs} ms`)),
      this.opts.timeoutMs,
    );
    try {
      const res = await this.http.post(
        this.ingestUrl,
        body,
        // The records still unsent after this batch: the cloud shows it as the edge's backlog.
        {
          'content-type': 'application/json',
          'x-rigtrace-backlog': String(this.log.lastSeq - batch.lastSeq),
        },
        this.inflight.signal,
      );
      const json = res.json;
      const detail = typeof json.detail === 'string' ? json.detail : res.statusText;
      const ok = res.status >= 200 && res.status < 300;
      if (ok && typeof json.ackedSeq === 'number') return { kind: 'ack', ackedSeq: json.ackedSeq };
      if (res.status === 409 && typeof json.expectedSeq === 'number')
        return { kind: 'expect', expectedSeq: json.expectedSeq, detail };
      if (res.status >= 500 || res.status === 429) {
        const wait = retryAfterMs(res.retryAfter);
        const message = `cloud answered ${res.status}: ${detail}`;
        if (wait !== null)
          throw new RetryLater(`${message} (retry after ${Math.round(wait / 1000)} s)`, wait);
        throw new Error(message);
      }
      const codes = Array.isArray(json.problems)
        ? (json.problems as unknown[]).map((p) =>
            p && typeof p === 'object' && typeof (p as { code?: unknown }).code === 'string'
              ? (p as { code: string }).code
              : '',
          )
        : [];
      return {
        kind: 'refused',
        status: res.status,
        detail,
        codes,
        ...(typeof json.expectedSeq === 'number' ? { expectedSeq: json.expectedSeq } : {}),
      };
    } finally {
      clearTimeout(timer);
      this.inflight = null;
    }
  }
}
