import type { Logger } from 'pino';
import {
  errorReplyPayload,
  errorReplyTopic,
  parseStationMessage,
  peekMessageId,
  type InboundMessage,
  type RefusedMessage,
  type StationProblem,
} from '@rigtrace/protocols/mqtt';
import type { RecordDraft } from '../buffer/edge-log.js';
import type { CollectorContext } from './collector.js';
import type { MessageIds, MqttRecords } from '../mapping/mqtt-records.js';
import { SignalDictionary } from '../mapping/signals.js';
import type { EdgeEventCode } from '../errors.js';

/** How many message ids per device are remembered to drop re-sent messages. */
const RECENT_IDS = 256;

export interface StationCounters {
  messages: number;
  records: number;
  duplicates: number;
  invalid: number;
  /** Acknowledged and dropped by the broker: outside the device's publish ACL. */
  refusedAcl: number;
  /** Acknowledged and dropped by the broker: payload over maxPayloadBytes. */
  refusedSize: number;
}

/** Where the error reply about a device's message goes (null: nowhere the device can receive). */
export type ReplyTopicFor = (device: string, topic: string) => string | null;

/**
 * Turns station messages (inspection results, usage events) into records. The returned promise
 * resolves only once the record is durable, so the broker acknowledges the message after that.
 * A message whose id was already recorded (the device re-sent it because the acknowledgement was
 * lost) is acknowledged again without a second record; the ids travel in the same transaction as
 * the record. An invalid message becomes an event record and an error reply to the device.
 */
export class StationMessageHandler implements MessageIds {
  readonly counters: StationCounters = {
    messages: 0,
    records: 0,
    duplicates: 0,
    invalid: 0,
    refusedAcl: 0,
    refusedSize: 0,
  };
  private readonly recent = new Map<string, string[]>();
  /** The source's record mappings: messages on their topics go through them, not the station format. */
  mapped: MqttRecords | null = null;
  /** The source's signal dictionary: a record about a piece of equipment carries it when it is due. */
  signals = new SignalDictionary(undefined);

  constructor(
    private readonly sourceId: string,
    private readonly endpoint: string,
    private readonly ctx: CollectorContext,
    private readonly logger: Logger,
    private readonly reply: ((topic: string, payload: Buffer) => Promise<void>) | null,
    private readonly replyTopicFor: ReplyTopicFor = (_device, topic) => errorReplyTopic(topic),
  ) {}

  private async recentIds(device: string): Promise<string[]> {
    let ids = this.recent.get(device);
    if (!ids) {
      const saved = await this.ctx.getState(this.key(device));
      ids = saved ? (JSON.parse(saved) as string[]) : [];
      this.recent.set(device, ids);
    }
    return ids;
  }

  private key(device: string): string {
    return `source:${this.sourceId}:recent:${device}`;
  }

  async seen(device: string, id: string): Promise<boolean> {
    return (await this.recentIds(device)).includes(id);
  }

  async remember(device: string, id: string): Promise<Record<string, string>> {
    const next = [...(await this.recentIds(device)), id].slice(-RECENT_IDS);
    return { [this.key(device)]: JSON.stringify(next) };
  }

  remembered(device: string, id: string): void {
    const ids = this.recent.get(device) ?? [];
    this.recent.set(device, [...ids, id].slice(-RECENT_IDS));
  }

  async handle(msg: InboundMessage): Promise<void> {
    this.counters.messages += 1;
    if (this.mapped?.matches(msg.topic)) return this.mapped.handle(msg);
    const device = msg.username ?? msg.clientId;
    const parsed = parseStationMessage(msg.topic, msg.payload);
    const receivedAt = msg.receivedAt.toISOString();
    const source = { address: msg.topic, endpoint: this.endpoint, protocol: 'mqtt' as const };
    if (!parsed.ok) {
      this.counters.invalid += 1;
      this.logger.warn(
        { device, topic: msg.topic, problems: parsed.problems.slice(0, 5) },
        'invalid station message',
      );
      await this.refuse(msg, 'STATION_MESSAGE_INVALID', parsed.problems, {});
      return;
    }
    const m = parsed.message;
    const ids = m.id ? await this.recentIds(device) : null;
    if (m.id && ids?.includes(m.id)) {
      this.counters.duplicates += 1;
      return;
    }
    const draft = {
      kind: m.kind,
      equipment: m.equipment,
      observedAt: m.observedAt ?? receivedAt,
      receivedAt,
      source,
      body: m.body,
    } as RecordDraft;
    const drafts = this.signals.withDrafts([draft], msg.receivedAt.getTime());
    let state: Record<string, string> | undefined;
    if (m.id && ids) {
      const next = [...ids, m.id].slice(-RECENT_IDS);
      state = { [this.key(device)]: JSON.stringify(next) };
      await this.ctx.sink.write(this.sourceId, drafts, state);
      this.recent.set(device, next);
    } else {
      await this.ctx.sink.write(this.sourceId, drafts);
    }
    this.counters.records += 1;
  }

  /**
   * A message the broker acknowledged and dropped (topic outside the device's publish ACL, payload
   * too large): an event record, and an error reply where the device can receive one. Resolves once
   * the event is durable, so the broker acknowledges the message only then.
   */
  async refused(msg: RefusedMessage): Promise<void> {
    this.counters.messages += 1;
    const device = msg.username ?? msg.clientId;
    let problems: StationProblem[];
    if (msg.reason === 'acl') {
      this.counters.refusedAcl += 1;
      problems = [{ path: 'topic', message: `this device may not publish to ${msg.topic}` }];
    } else {
      this.counters.refusedSize += 1;
      problems = [{ path: '', message: `payload of ${msg.bytes} bytes is over the limit of this broker` }];
    }
    this.logger.warn(
      { device, topic: msg.topic, reason: msg.reason, bytes: msg.bytes },
      'station message refused',
    );
    await this.refuse(
      msg,
      msg.reason === 'acl' ? 'STATION_MESSAGE_NOT_ALLOWED' : 'STATION_MESSAGE_TOO_LARGE',
      problems,
      {
        reason: msg.reason,
        bytes: msg.bytes,
      },
    );
  }

  /** The event record of a refused message (durable), then the error reply (best effort). */
  private async refuse(
    msg: InboundMessage,
    code: EdgeEventCode,
    problems: StationProblem[],
    extra: Record<string, string | number>,
  ): Promise<void> {
    const device = msg.username ?? msg.clientId;
    const receivedAt = msg.receivedAt.toISOString();
    const id = peekMessageId(msg.payload);
    await this.ctx.sink.write(this.sourceId, [
      {
        kind: 'event',
        equipment: equipmentOf(msg.topic) ?? 'UNKNOWN',
        observedAt: receivedAt,
        receivedAt,
        // What the device sent may hold control characters or half a surrogate pair: a record
        // carrying them fails the record schema, the cloud refuses its batch, and every later
        // record waits behind it. So device text goes in through printable().
        source: { address: printable(msg.topic, 256), endpoint: this.endpoint, protocol: 'mqtt' },
        body: {
          severity: 'warning',
          code,
          message: `refused a message from ${printable(device, 100)} on ${printable(msg.topic, 200)}: ${printable(
            problems
              .slice(0, 3)
              .map((p) => `${p.path || 'payload'} ${p.message}`)
              .join('; '),
            600,
          )}`,
          details: {
            device: device.slice(0, 128),
            bytes: msg.payload.length,
            problems: problems.length,
            ...extra,
            ...(id ? { id } : {}),
          },
        },
      },
    ]);
    const to = this.replyTopicFor(device, msg.topic);
    if (to && this.reply) {
      await this.reply(
        to,
        errorReplyPayload({ topic: msg.topic, problems, receivedAt: msg.receivedAt, ...(id ? { id } : {}) }),
      ).catch((err: unknown) => this.logger.warn({ err, to }, 'could not send the error reply'));
    }
  }
}

/** Control characters and lone surrogates escaped as \\uXXXX, cut to `max` without splitting a pair. */
function printable(s: string, max: number): string {
  const out = s
    .replace(/[\p{Cc}\uD800-\uDFFF]/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .slice(0, max);
  return /[\uD800-\uDBFF]$/.test(out) ? out.slice(0, -1) : out;
}

function equipmentOf(topic: string): string | null {
  const parts = topic.split('/');
  const tag = parts[2];
  return parts[0] === 'rigtrace' && tag && /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$/.test(tag) ? tag : null;
}
