import type { Logger } from 'pino';
import { errorReplyTopic, topicMatches, type InboundMessage } from '@rigtrace/protocols/mqtt';
import type { RecordDraft } from '../buffer/edge-log.js';
import type { MqttRecordMapping } from '../config/config.schema.js';
import type { CollectorContext } from '../collectors/collector.js';
import { compileJsonPath, type JsonPath } from './json-path.js';
import { Unavailable, compileValue, type CompiledValue, type Scope } from './expressions.js';
import { MappingProblems, compileRecordMapping, type CompiledMapping } from './record-mapping.js';
import { SignalDictionary } from './signals.js';

/** Remembers the message ids a device sent, so a re-sent message gives no second record. */
export interface MessageIds {
  /** Whether this device's message id was recorded already. */
  seen(device: string, id: string): Promise<boolean>;
  /** The state to store with the record so the id is remembered (in the same transaction). */
  remember(device: string, id: string): Promise<Record<string, string>>;
  /** Called once that state is durable. */
  remembered(device: string, id: string): void;
}

interface Compiled {
  index: number;
  m: MqttRecordMapping;
  mapping: CompiledMapping;
  read: [string, JsonPath][];
  id: CompiledValue | undefined;
}

/** Names an expression of an MQTT mapping sees besides its `read` values. */
export const MQTT_SCOPE_NAMES = ['topic', 'levels', 'trigger', 'i', 'n'] as const;

/**
 * The record mappings of an MQTT source. The trigger is the message: each message on a topic a
 * mapping's `trigger.message` filter matches is one result, its `read` values taken from JSON
 * paths of the payload. Every record a message gives is written in one transaction before the
 * message is acknowledged (PUBACK), so a message is never lost; with `id`, one the device re-sends
 * (its acknowledgement was lost) gives no second record. A message that does not fit its mapping
 * becomes a `RESULT_NOT_MAPPED` event naming each field and value (and an error reply to a station
 * of the edge's own broker); it is acknowledged, so it never holds up the messages behind it.
 */
export class MqttRecords {
  private readonly compiled: Compiled[];
  readonly counters = { results: 0, notMapped: 0, duplicates: 0 };

  constructor(
    private readonly sourceId: string,
    private readonly endpoint: string,
    mappings: readonly MqttRecordMapping[],
    private readonly ctx: CollectorContext,
    private readonly logger: Logger,
    private readonly ids: MessageIds,
    private readonly reply: ((topic: string, payload: Buffer) => Promise<void>) | null,
    private readonly signals = new SignalDictionary(undefined),
  ) {
    this.compiled = mappings.map((m, index) => ({
      index,
      m,
      mapping: compileRecordMapping(m, `records[${index}]`).mapping,
      read: Object.entries(m.read ?? {}).map(([k, p]) => [k, compileJsonPath(p)]),
      id: m.id === undefined ? undefined : compileValue(m.id, m.tables ?? {}),
    }));
  }

  /** Whether a mapping takes messages on this topic. */
  matches(topic: string): boolean {
    return this.compiled.some((c) => topicMatches(c.m.trigger.message, topic));
  }

  async handle(msg: InboundMessage): Promise<void> {
    const device = msg.username ?? msg.clientId;
    const receivedAt = msg.receivedAt;
    const address = printable(msg.topic, 256);
    const source = { address, endpoint: this.endpoint, protocol: 'mqtt' as const };
    const matching = this.compiled.filter((c) => topicMatches(c.m.trigger.message, msg.topic));
    let payload: unknown;
    try {
      payload = JSON.parse(msg.payload.toString('utf8'));
    } catch (err) {
      await this.notMapped(msg, device, [
        `the payload is not JSON (${(err as Error).message}); ${msg.payload.length} bytes`,
      ]);
      return;
    }
    const levels = msg.topic.split('/');
    const drafts: RecordDraft[] = [];
    const problems: string[] = [];
    let messageId: string | undefined;
    for (const c of matching) {
      const scope: Scope = { topic: msg.topic, levels, trigger: msg.topic };
      for (const [name, p] of c.read) {
        const v = p.get(payload);
        scope[name] =
          v === undefined || v === null
            ? new Unavailable(name, `is not in the message (${p.text})`, true)
            : v;
      }
      if (c.id && messageId === undefined) {
        try {
          const v = c.id.evaluate(scope);
          if (typeof v === 'string' || typeof v === 'number') messageId = String(v).slice(0, 128);
        } catch {
          // a message without an id is taken (it cannot be told apart from a re-sent one)
        }
      }
      try {
        drafts.push(c.mapping.build(scope, { equipment: '', source, at: receivedAt }));
      } catch (err) {
        if (!(err instanceof MappingProblems)) throw err;
        problems.push(...err.problems);
      }
    }
    if (messageId !== undefined && (await this.ids.seen(device, messageId))) {
      this.counters.duplicates += 1;
      return;
    }
    if (problems.length > 0) {
      await this.notMapped(msg, device, problems, drafts, messageId);
      return;
    }
    const state = messageId === undefined ? undefined : await this.ids.remember(device, messageId);
    await this.ctx.sink.write(this.sourceId, this.signals.withDrafts(drafts, receivedAt.getTime()), state);
    if (messageId !== undefined) this.ids.remembered(device, messageId);
    this.counters.results += drafts.length;
  }

  /**
   * A message that does not fit: an error event naming every field and value (with the records
   * of the mappings it did fit), an error reply to the station, and the message acknowledged.
   */
  private async notMapped(
    msg: InboundMessage,
    device: string,
    problems: string[],
    drafts: RecordDraft[] = [],
    messageId?: string,
  ): Promise<void> {
    this.counters.notMapped += 1;
    this.logger.warn(
      { device, topic: msg.topic, problems: problems.slice(0, 5) },
      'a message could not be turned into a record',
    );
    const now = new Date().toISOString();
    const details: Record<string, string | number> = {
      source: this.sourceId,
      device: device.slice(0, 128),
      bytes: msg.payload.length,
      problems: problems.length,
    };
    if (messageId) details.id = messageId;
    problems.slice(0, 20).forEach((p, i) => (details[`problem${i}`] = printable(p, 1024)));
    const event: RecordDraft = {
      kind: 'event',
      equipment: equipmentOf(msg.topic),
      observedAt: msg.receivedAt.toISOString(),
      receivedAt: now,
      source: { address: printable(msg.topic, 256), endpoint: this.endpoint, protocol: 'mqtt' },
      body: {
        severity: 'error',
        code: 'RESULT_NOT_MAPPED',
        message: printable(
          `a message from ${device} on ${msg.topic} does not fit its mapping: ${problems.join('; ')}`,
          1024,
        ),
        details,
      },
    };
    const state = messageId === undefined ? undefined : await this.ids.remember(device, messageId);
    await this.ctx.sink.write(this.sourceId, [...drafts, event], state);
    if (messageId !== undefined) this.ids.remembered(device, messageId);
    this.counters.results += drafts.length;
    const to = errorReplyTopic(msg.topic);
    if (to && this.reply) {
      const body = {
        topic: msg.topic,
        ...(messageId ? { id: messageId } : {}),
        receivedAt: msg.receivedAt.toISOString(),
        problems: problems.slice(0, 20),
      };
      await this.reply(to, Buffer.from(JSON.stringify(body))).catch((err: unknown) =>
        this.logger.warn({ err, to }, 'could not send the error reply'),
      );
    }
  }
}

/** Problems of an MQTT source's mappings the schema cannot see (run by the one config validation). */
export function mqttRecordMappingProblems(
  mappings: readonly MqttRecordMapping[],
  si: number,
  filterProblem: (f: string) => string | null,
  covered: (f: string) => boolean,
): string[] {
  const problems: string[] = [];
  mappings.forEach((m, ri) => {
    const at = `sources[${si}].records[${ri}]`;
    const f = m.trigger.message;
    const p = filterProblem(f);
    if (p) problems.push(`${at}.trigger.message: ${p}`);
    else if (!covered(f))
      problems.push(
        `${at}.trigger.message: no message on "${f}" can arrive (no subscription or device ACL of this source covers it)`,
      );
    for (const [name, path] of Object.entries(m.read ?? {})) {
      if ((MQTT_SCOPE_NAMES as readonly string[]).includes(name))
        problems.push(`${at}.read.${name}: the name is reserved (${MQTT_SCOPE_NAMES.join(', ')})`);
      try {
        compileJsonPath(path);
      } catch (err) {
        problems.push(`${at}.read.${name}: ${(err as Error).message}`);
      }
    }
    if (m.fields.equipment === undefined)
      problems.push(
        `${at}.fields.equipment: required for an MQTT source (a constant, or a value such as =at(levels, 2) for the third topic level)`,
      );
    if (m.id !== undefined) {
      try {
        compileValue(m.id, m.tables ?? {});
      } catch (err) {
        problems.push(
          `${at}.id: the expression does not parse: ${String((err as Error).message).split('\n')[0]}`,
        );
      }
    }
    const { problems: cp } = compileRecordMapping(m, at);
    problems.push(...cp);
  });
  return problems;
}

/** Control characters and lone surrogates escaped as \\uXXXX, cut to `max` without splitting a pair. */
function printable(s: string, max: number): string {
  const out = s
    .replace(/[\p{Cc}\uD800-\uDFFF]/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .slice(0, max);
  return /[\uD800-\uDBFF]$/.test(out) ? out.slice(0, -1) : out;
}

/** The asset tag an event about a topic is filed under: the first level that is one, from the third. */
function equipmentOf(topic: string): string {
  const levels = topic.split('/');
  const tag = [levels[2], ...levels.slice(1)].find(
    (l) => l !== undefined && /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$/.test(l),
  );
  return tag ?? 'UNKNOWN';
}
