import type { Logger } from 'pino';
import {
  OpcuaError,
  type OpcuaEvent,
  type OpcuaEventSpec,
  type OpcuaSubscriber,
  type OpcuaValue,
} from '@rigtrace/protocols/opcua';
import type { RecordDraft } from '../buffer/edge-log.js';
import type { OpcuaRecordMapping, OpcuaSourceConfig } from '../config/config.schema.js';
import type { RecordSink } from '../records/record-sink.js';
import {
  CONDITION_ACK_COMMENT,
  captureFor,
  sumCounters,
  triggerName,
  type BlockRead,
  type ConditionAck,
  type MissedResult,
  type ResultCapture,
  type Trigger,
} from './capture.js';
import { Unavailable, type Scope } from './expressions.js';

/** How far before the last result taken the history of a result block is read. */
const HISTORY_LOOKBACK_MS = 60 * 60_000;

/**
 * Bad statuses that say the server could not get the value this time (its link to the device, a
 * timeout), not that the value is bad: reading again may give it.
 */
const NOT_READ_STATUSES = new Set([
  'BadTimeout',
  'BadRequestTimeout',
  'BadCommunicationError',
  'BadNoCommunication',
  'BadNotConnected',
  'BadServerNotConnected',
  'BadConnectionClosed',
  'BadWaitingForInitialData',
]);

/** The event fields every event trigger selects, besides its own `select`. */
const EVENT_FIELDS = ['EventType', 'SourceName', 'Time', 'ReceiveTime', 'Message', 'Severity'];

/**
 * The event fields an Alarms & Conditions handshake selects besides: the condition to acknowledge
 * and whether the event is already acknowledged (`event.ConditionId`, `event.AckedState.Id`).
 */
const CONDITION_FIELDS = ['ConditionId', 'AckedState.Id'];

/** With `confirmCondition`, the event fields that tell a condition acknowledged and waiting for its Confirm. */
const CONFIRM_FIELDS = ['ConfirmedState.Id'];

/**
 * How long a Confirm waits for the event announcing its condition acknowledged (the EventId a
 * Confirm names); past it, the Confirm names the EventId acknowledged.
 */
const CONFIRM_EVENT_WAIT_MS = 5000;

/** Whether a mapping acknowledges its results by calling the condition's Acknowledge method. */
function isConditionAck(m: OpcuaRecordMapping): boolean {
  return m.handshake !== undefined && 'acknowledgeCondition' in m.handshake;
}

/** Whether a mapping also calls the condition's Confirm method after its Acknowledge. */
function isConditionConfirm(m: OpcuaRecordMapping): boolean {
  return (
    m.handshake !== undefined &&
    'acknowledgeCondition' in m.handshake &&
    m.handshake.confirmCondition === true
  );
}

/** The Confirm side of a mapping with `confirmCondition`. */
interface ConfirmState {
  /** Per condition: the EventId of the last event announcing it acknowledged and not confirmed. */
  acked: Map<string, string>;
  /** Conditions whose Acknowledge and Confirm are under way (the event announcing them acknowledged goes to it). */
  busy: Set<string>;
  /** Per condition: the Confirm under way waiting for the event announcing its condition acknowledged. */
  waiters: Map<string, (eventId: string | undefined) => void>;
  /** EventIds this process acknowledged: a handshake tried again goes straight to Confirm. */
  ackedEvents: string[];
}

/** An event's fields as a mapping's expressions name them (`event.…`). */
function eventScope(e: OpcuaEvent): Scope {
  const fields: Scope = {};
  for (const [path, v] of Object.entries(e.fields)) fields[eventFieldName(path)] = v;
  return fields;
}

/** The name an event field has in a mapping's expressions: `event.` and its browse path without namespace indexes. */
export function eventFieldName(path: string): string {
  return `event.${path
    .split('.')
    .map((p) => p.replace(/^\d+:/, ''))
    .join('.')}`;
}

/** A value as an expression sees it: its value (DateTime as ISO text), or why it has none. */
function scopeValue(name: string, v: OpcuaValue | undefined): unknown {
  if (!v) return Unavailable.unread(name, 'has not been received');
  if (!v.statusCode.good) {
    const why = `has status ${v.statusCode.name} (${v.nodeId})`;
    return NOT_READ_STATUSES.has(v.statusCode.name)
      ? Unavailable.unread(name, why)
      : new Unavailable(name, why);
  }
  if (v.value === null) return new Unavailable(name, `is empty (${v.nodeId})`);
  return v.value;
}

/**
 * The record mappings of one OPC UA source: each change of a trigger item reads the mapping's
 * `read` nodes and the trigger's node in one Read service call (a consistent snapshot: if the
 * trigger moved on meanwhile, the block is not taken for the older result), and writes the
 * acknowledge node once the record is durable.
 */
export class OpcuaRecords {
  private readonly captures: { m: OpcuaRecordMapping; capture: ResultCapture; confirm?: ConfirmState }[] = [];
  private client: OpcuaSubscriber | null = null;

  constructor(
    private readonly cfg: OpcuaSourceConfig,
    private readonly latest: Map<string, OpcuaValue>,
    private readonly deps: {
      sink: RecordSink;
      logger: Logger;
      source: (address?: string) => RecordDraft['source'];
    },
  ) {
    const itemNode = new Map(cfg.items.map((i) => [i.name, i.nodeId]));
    (cfg.records ?? []).forEach((m, i) => {
      const triggerNode = 'event' in m.trigger ? undefined : itemNode.get(triggerName(m));
      const h = m.handshake;
      const confirm: ConfirmState | undefined = isConditionConfirm(m)
        ? { acked: new Map(), busy: new Set(), waiters: new Map(), ackedEvents: [] }
        : undefined;
      const capture = captureFor(
        cfg,
        i,
        m,
        deps,
        {
          readBlock: (t) => this.readBlock(m, triggerNode, t),
          acknowledge: (value: unknown) => {
            if (!this.client || !h) return Promise.reject(new Error('the source is stopped'));
            if ('acknowledgeCondition' in h) {
              const a = value as ConditionAck;
              if (confirm) return this.acknowledgeAndConfirm(confirm, a);
              return this.client.acknowledgeCondition(a.conditionId, a.eventId, a.comment);
            }
            return this.client.write(h.node, value as number | boolean | string);
          },
          ...(triggerNode
            ? {
                readMissed: (from: number, to: number, since: Date) =>
                  this.readMissed(m, triggerNode, from, to, since),
              }
            : {}),
        },
        cfg.records ?? [],
        'calibration',
      );
      this.captures.push({ m, capture, ...(confirm ? { confirm } : {}) });
    });
  }

  get enabled(): boolean {
    return this.captures.length > 0;
  }

  /** Whether an item is the trigger of a mapping (its changes are results, not telemetry). */
  isTrigger(name: string): boolean {
    return this.captures.some((c) => !('event' in c.m.trigger) && triggerName(c.m) === name);
  }

  /** The events to subscribe to: one monitored item per mapping with an event trigger, named `records[i]`. */
  eventSpecs(): OpcuaEventSpec[] {
    const out: OpcuaEventSpec[] = [];
    (this.cfg.records ?? []).forEach((m, i) => {
      if (!('event' in m.trigger)) return;
      const e = m.trigger.event;
      const condition = isConditionAck(m);
      out.push({
        name: `records[${i}]`,
        nodeId: e.node,
        eventTypeId: e.type,
        select: [
          ...new Set([
            ...EVENT_FIELDS,
            ...(condition ? CONDITION_FIELDS : []),
            ...(isConditionConfirm(m) ? CONFIRM_FIELDS : []),
            ...(e.select ?? []),
          ]),
        ],
        ...(e.where ? { where: { ...e.where } } : {}),
        ...(condition ? { conditionRefresh: true } : {}),
      });
    });
    return out;
  }

  /** Each event the subscription delivers: a result of the mapping it was subscribed for. */
  onEvent(e: OpcuaEvent): void {
    const i = /^records\[(\d+)\]$/.exec(e.name)?.[1];
    const c = i === undefined ? undefined : this.captures[Number(i)];
    if (!c || !('event' in c.m.trigger)) return;
    const id = e.fields.EventId;
    if (typeof id !== 'string' || id === '') {
      this.deps.logger.warn({ events: e.name }, 'an event without an EventId was ignored');
      return;
    }
    if (isConditionAck(c.m)) {
      // A condition's result is its announcement waiting for an Acknowledge: the events of its
      // other state changes (acknowledged, cleared, the bracket of a ConditionRefresh) are not
      // results. With confirmCondition, one announced acknowledged and not confirmed waits for
      // its Confirm (a result recorded and acknowledged), or is a result acknowledged by someone
      // else before the edge recorded it.
      const condition = e.fields.ConditionId;
      if (e.fields['AckedState.Id'] === true) {
        if (!c.confirm || e.fields['ConfirmedState.Id'] !== false) return;
        if (typeof condition !== 'string' || condition === '') return;
        if (this.waitingForConfirm(c.capture, c.confirm, condition, id, e)) return;
        this.deps.logger.info(
          { event: id, condition },
          'a condition acknowledged before its result was recorded: recording it, then confirming it',
        );
      } else if (c.confirm && typeof condition === 'string') c.confirm.acked.delete(condition);
      if (typeof condition !== 'string' || condition === '') {
        this.deps.logger.warn(
          { events: e.name, eventType: e.fields.EventType },
          'an event that names no condition was ignored (the mapping acknowledges conditions)',
        );
        return;
      }
    }
    const fields = eventScope(e);
    const time = typeof e.fields.Time === 'string' ? new Date(e.fields.Time) : undefined;
    c.capture.observeEvent({ id, fields, ...(time ? { at: time } : {}) });
  }

  async start(client: OpcuaSubscriber, getState: (k: string) => Promise<string | undefined>): Promise<void> {
    this.client = client;
    for (const c of this.captures) await c.capture.init(getState);
  }

  stop(): void {
    for (const c of this.captures) {
      c.capture.stop();
      for (const w of c.confirm?.waiters.values() ?? []) w(undefined);
    }
    this.client = null;
  }

  /**
   * A condition announced acknowledged and not confirmed. Its EventId goes to the Confirm under
   * way for it; else, when the edge took a result of that condition (its record is durable: the
   * Acknowledge follows it), it is confirmed now (the edge stopped, or the link was cut, between
   * the Acknowledge and the Confirm). False when it is none of these: a result to record.
   */
  private waitingForConfirm(
    capture: ResultCapture,
    st: ConfirmState,
    condition: string,
    eventId: string,
    e: OpcuaEvent,
  ): boolean {
    st.acked.set(condition, eventId);
    const waiter = st.waiters.get(condition);
    if (waiter) {
      st.waiters.delete(condition);
      waiter(eventId);
      return true;
    }
    if (st.busy.has(condition)) return true;
    if (!capture.tookResultOf(condition)) return false;
    this.deps.logger.info(
      { event: eventId, condition },
      'a condition recorded and acknowledged waits for its Confirm: confirming it',
    );
    let comment = CONDITION_ACK_COMMENT;
    try {
      comment = (capture.ackValueOf({ ...eventScope(e), trigger: eventId }) as ConditionAck).comment;
    } catch {
      // a comment worked out from the result block, not read here: the default one
    }
    const value: ConditionAck = { conditionId: condition, eventId, comment, confirmOnly: true };
    void capture.acknowledgeAgain(value);
    return true;
  }

  /**
   * The handshake with confirmCondition: Acknowledge (unless this process acknowledged that event
   * already: a handshake tried again after a refused Confirm), then Confirm naming the event that
   * announced the condition acknowledged. A condition someone else acknowledged meanwhile
   * (BadConditionBranchAlreadyAcked) is confirmed all the same.
   */
  private async acknowledgeAndConfirm(st: ConfirmState, a: ConditionAck): Promise<void> {
    const client = this.client;
    if (!client) throw new Error('the source is stopped');
    st.busy.add(a.conditionId);
    try {
      let eventId = a.eventId;
      if (!a.confirmOnly) {
        if (!st.ackedEvents.includes(a.eventId)) {
          try {
            await client.acknowledgeCondition(a.conditionId, a.eventId, a.comment);
          } catch (err) {
            if (!(err instanceof OpcuaError && err.status === 'BadConditionBranchAlreadyAcked')) throw err;
          }
          st.ackedEvents = [...st.ackedEvents, a.eventId].slice(-200);
        }
        eventId = (await this.ackedEventOf(st, a.conditionId)) ?? a.eventId;
      }
      await client.confirmCondition(a.conditionId, eventId, a.comment);
      st.acked.delete(a.conditionId);
    } finally {
      st.busy.delete(a.conditionId);
    }
  }

  /** The EventId of the event announcing the condition acknowledged: seen already, or waited for a while. */
  private ackedEventOf(st: ConfirmState, condition: string): Promise<string | undefined> {
    const seen = st.acked.get(condition);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (st.waiters.get(condition) === done) st.waiters.delete(condition);
        resolve(undefined);
      }, CONFIRM_EVENT_WAIT_MS);
      const done = (id: string | undefined) => {
        clearTimeout(timer);
        resolve(id);
      };
      st.waiters.set(condition, done);
    });
  }

  /** The connection to the device was lost: reads until it is back do not count against a result. */
  connectionLost(): void {
    for (const c of this.captures) c.capture.connectionLost();
  }

  /** The connection is back: a result waiting to be read again is read at once. */
  connectionRestored(): void {
    for (const c of this.captures) c.capture.connectionRestored();
  }

  /** Each value the subscription delivers. */
  onValue(v: OpcuaValue): void {
    for (const { m, capture } of this.captures) {
      if ('event' in m.trigger) continue;
      if (triggerName(m) === v.name && v.statusCode.good) capture.observe(v.value);
    }
  }

  counters(): Record<string, number> {
    return sumCounters(this.captures.map((c) => c.capture));
  }

  private async readBlock(
    m: OpcuaRecordMapping,
    triggerNode: string | undefined,
    value: Trigger,
  ): Promise<BlockRead> {
    const client = this.client;
    if (!client) throw new Error('the source is stopped');
    const entries = Object.entries(m.read ?? {});
    const nodes = entries.map(([, node]) => node);
    // An event trigger has no trigger node: the block alone (nothing to read without one).
    const values =
      triggerNode === undefined
        ? nodes.length > 0
          ? await client.read(nodes)
          : []
        : await client.read([...nodes, triggerNode]);
    // The trigger is read in the same Read as the block: the block is the result of the trigger
    // value read with it, which is newer than `value` when the device moved on meanwhile.
    const t = triggerNode === undefined ? undefined : values[values.length - 1];
    const taken =
      typeof value === 'number' && t?.statusCode.good && typeof t.value === 'number' ? t.value : value;
    const scope: Scope = {};
    for (const [name, v] of this.latest) scope[name] = scopeValue(name, v);
    entries.forEach(([name], k) => (scope[name] = scopeValue(name, values[k])));
    return { scope, trigger: taken };
  }

  /**
   * The results a counter skipped, from the server's history (HistoryRead, raw): each trigger
   * value between `from` and `to` the trigger node's history holds, with every `read` node's last
   * historized value at or before that value's timestamp (the block was complete when the counter
   * moved). A result is taken only when the history has every value of its block; none when the
   * server keeps no history of the trigger or of a node of the block.
   */
  private async readMissed(
    m: OpcuaRecordMapping,
    triggerNode: string,
    from: number,
    to: number,
    since: Date,
  ): Promise<MissedResult[]> {
    const client = this.client;
    if (!client) throw new Error('the source is stopped');
    const entries = Object.entries(m.read ?? {});
    const now = new Date();
    // Values of the block may be older than the first result missed: look back a while before
    // the last result taken (a week at most, for a state an older release left without a time).
    const start = new Date(Math.max(since.getTime() - HISTORY_LOOKBACK_MS, now.getTime() - 7 * 86_400_000));
    const history = await client.historyRead([triggerNode, ...entries.map(([, node]) => node)], start, now);
    if (history.some((h) => h.values === null)) {
      this.deps.logger.info(
        { nodes: history.filter((h) => h.values === null).map((h) => `${h.nodeId}: ${h.status}`) },
        'the server keeps no history of the result block; missed results are counted, not read',
      );
      return [];
    }
    const at = (v: OpcuaValue) => Date.parse(v.sourceTimestamp ?? v.serverTimestamp ?? '');
    const [triggerHistory, ...blockHistory] = history.map((h) =>
      h.values!.filter((v) => Number.isFinite(at(v))),
    );
    const out: MissedResult[] = [];
    for (let n = from + 1; n < to; n++) {
      const t = triggerHistory!.find((v) => v.statusCode.good && v.value === n);
      if (!t) continue;
      const tMs = at(t);
      const scope: Scope = {};
      for (const [name, v] of this.latest) scope[name] = scopeValue(name, v);
      let complete = true;
      entries.forEach(([name], k) => {
        const before = blockHistory[k]!.filter((v) => at(v) <= tMs);
        const v = before[before.length - 1];
        if (!v) complete = false;
        else scope[name] = scopeValue(name, v);
      });
      if (complete) out.push({ trigger: n, scope, at: new Date(tMs) });
    }
    return out;
  }
}
