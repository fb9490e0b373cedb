import { z } from 'zod';
import {
  assetTagSchema,
  inspectionBodySchema,
  label,
  schemaIssues,
  timestampSchema,
  usageBodySchema,
  type InspectionBody,
  type SchemaIssue,
  type UsageBody,
} from '../record/index.js';

/**
 * Station payloads: what inspection stations and hand gauges publish, and the topic convention.
 *
 * Topics (4 levels, all required):
 *
 *   rigtrace/<site>/<equipment>/inspection   station → edge   one inspected part (InspectionPayload)
 *   rigtrace/<site>/<equipment>/usage        station → edge   start / stop / cycle (UsagePayload)
 *   rigtrace/<site>/<equipment>/error        edge → station   problems of a refused payload (errorReplyPayload)
 *   rigtrace/<site>/<equipment>/control      anyone → station simulator fault switches (firmware-sim)
 *
 * <site> is 1..64 of A-Z a-z 0-9 . _ -; <equipment> is the asset tag of the station or gauge the
 * message is about (an asset tag without "/", which would make it two levels). The equipment comes
 * from the topic only, never from the payload, so a device's publish ACL decides which equipment it
 * may speak for. Payloads are UTF-8 JSON objects, at most MAX_STATION_PAYLOAD_BYTES.
 *
 * An invalid payload is never dropped silently: the edge answers it on the error topic with
 * errorReplyPayload() (and records it as an event).
 */

export const STATION_TOPIC_ROOT = 'rigtrace';
export const STATION_KINDS = ['inspection', 'usage'] as const;
export type StationKind = (typeof STATION_KINDS)[number];
/** Same bound as one record (MAX_RECORD_BYTES): a payload that fits becomes a record that fits. */
export const MAX_STATION_PAYLOAD_BYTES = 64 * 1024;
/** At most this many problems go into one error reply. */
export const MAX_REPLY_PROBLEMS = 50;

const SITE_RE = /^[A-Za-z0-9._-]{1,64}$/;
const EQUIPMENT_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

export type StationTopicKind = StationKind | 'error' | 'control';

const SITE_PROBLEM = 'site must be 1..64 of A-Z a-z 0-9 . _ -';
const EQUIPMENT_PROBLEM =
  'equipment must be an asset tag: 1..64 of A-Z a-z 0-9 . _ : -, starting with a letter or digit';

/** Null when `site` can be the <site> level of a station topic. */
export function siteProblem(site: string): string | null {
  return SITE_RE.test(site) ? null : SITE_PROBLEM;
}

/** Null when `tag` can be the <equipment> level of a station topic (an asset tag without "/"). */
export function equipmentProblem(tag: string): string | null {
  return EQUIPMENT_RE.test(tag) ? null : EQUIPMENT_PROBLEM;
}

export function stationTopic(site: string, equipment: string, kind: StationTopicKind): string {
  return `${STATION_TOPIC_ROOT}/${site}/${equipment}/${kind}`;
}

/** rigtrace/<site>/<equipment>/control: where the simulated station listens for fault switches. */
export function controlTopic(site: string, equipment: string): string {
  return stationTopic(site, equipment, 'control');
}

/** Splits a station topic; problems name the part that is wrong. */
export function parseStationTopic(
  topic: string,
): { ok: true; site: string; equipment: string; kind: StationTopicKind } | { ok: false; problem: string } {
  const levels = topic.split('/');
  const [root, site, equipment, kind] = levels;
  if (levels.length !== 4 || root !== STATION_TOPIC_ROOT)
    return { ok: false, problem: `must be ${STATION_TOPIC_ROOT}/<site>/<equipment>/<kind>` };
  if (site === undefined || !SITE_RE.test(site))
    return { ok: false, problem: 'site must be 1..64 of A-Z a-z 0-9 . _ -' };
  if (equipment === undefined || !EQUIPMENT_RE.test(equipment))
    return {
      ok: false,
      problem:
        'equipment must be an asset tag: 1..64 of A-Z a-z 0-9 . _ : -, starting with a letter or digit',
    };
  if (kind !== 'inspection' && kind !== 'usage' && kind !== 'error' && kind !== 'control')
    return { ok: false, problem: 'kind must be inspection, usage, error or control' };
  return { ok: true, site, equipment, kind };
}

/**
 * The topic on which to answer a message published to `topic`: the same site and equipment, kind
 * "error". Null when the topic does not even have the rigtrace/<site>/<equipment>/ shape (then there
 * is nobody to answer; the edge records the refusal as an event only).
 */
export function errorReplyTopic(topic: string): string | null {
  const levels = topic.split('/');
  const [root, site, equipment] = levels;
  if (levels.length < 4 || root !== STATION_TOPIC_ROOT) return null;
  if (site === undefined || !SITE_RE.test(site)) return null;
  if (equipment === undefined || !EQUIPMENT_RE.test(equipment)) return null;
  return stationTopic(site, equipment, 'error');
}

// ---- payload schemas ----------------------------------------------------------------------------------

const finite = () => z.number({ error: 'must be a finite number' });
const passFail = z.enum(['pass', 'fail'], { error: 'must be "pass" or "fail"' });
/** Sender's message id, for duplicate detection (a QoS 1 message may arrive twice). */
const messageIdSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/,
    'must be 1..128 of A-Z a-z 0-9 . _ : -, starting with a letter or digit',
  );

const characteristicPayloadSchema = z
  .strictObject({
    /** e.g. "guide-bore.diameter". */
    name: label(64),
    nominal: finite().optional(),
    lsl: finite().optional(),
    usl: finite().optional(),
    measured: finite(),
    unit: label(16),
    /** Asset tag of the gauge that measured it (falls back to the payload's `gauge`). */
    gauge: assetTagSchema.optional(),
    /** Computed from lsl/usl when absent; required when there are no limits. */
    result: passFail.optional(),
  })
  .superRefine((c, ctx) => {
    if (c.lsl !== undefined && c.usl !== undefined && c.lsl > c.usl) {
      ctx.addIssue({ code: 'custom', path: ['lsl'], message: 'lsl must not be greater than usl' });
      return;
    }
    const within =
      (c.lsl === undefined || c.measured >= c.lsl) && (c.usl === undefined || c.measured <= c.usl);
    if (c.result === undefined && c.lsl === undefined && c.usl === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['result'],
        message: 'is required when neither lsl nor usl is given',
      });
    // "fail" inside the limits is legitimate (a guard band, a decision rule); "pass" outside is not.
    if (c.result === 'pass' && !within)
      ctx.addIssue({
        code: 'custom',
        path: ['result'],
        message: 'must not be "pass": measured is outside lsl..usl',
      });
  });

/** What a station publishes on rigtrace/<site>/<equipment>/inspection. */
export const inspectionPayloadSchema = z.strictObject({
  id: messageIdSchema.optional(),
  /** When the part was measured (RFC 3339 UTC); the edge's receivedAt when absent. */
  observedAt: timestampSchema.optional(),
  partSerial: label(64),
  workOrder: label(64).optional(),
  operator: label(128).optional(),
  testPlan: label(128).optional(),
  /** Default gauge for characteristics that do not name one. */
  gauge: assetTagSchema.optional(),
  /** Further gauges used (fixtures, masters). */
  gauges: z.array(assetTagSchema).max(50, 'must list at most 50 gauges').optional(),
  /** Computed from the characteristics when absent ("fail" when any fails). */
  result: passFail.optional(),
  characteristics: z
    .array(characteristicPayloadSchema)
    .min(1, 'must have at least 1 characteristic')
    .max(200, 'must have at most 200 characteristics'),
  trimCode: z
    .string()
    .regex(/^[0-9A-F]{16,20}$/, 'must be 16..20 uppercase hexadecimal characters')
    .optional(),
});

/** What a station publishes on rigtrace/<site>/<equipment>/usage: a usage record body plus id and observedAt. */
export const usagePayloadSchema = z.strictObject({
  ...usageBodySchema.shape,
  id: messageIdSchema.optional(),
  observedAt: timestampSchema.optional(),
});

export type InspectionPayload = z.input<typeof inspectionPayloadSchema>;
export type UsagePayload = z.input<typeof usagePayloadSchema>;

interface StationMessageBase {
  /** From the topic. */
  site: string;
  /** Asset tag, from the topic. */
  equipment: string;
  /** The sender's message id, when it gave one. */
  id?: string;
  observedAt?: string;
}

export type StationMessage =
  | (StationMessageBase & { kind: 'inspection'; body: InspectionBody })
  | (StationMessageBase & { kind: 'usage'; body: UsageBody });

export type StationProblem = SchemaIssue;

/** zod's "Invalid input: expected string, received undefined" says that a field is missing. */
function problems(issues: SchemaIssue[]): StationProblem[] {
  return issues.map((i) => (/received undefined$/u.test(i.message) ? { ...i, message: 'is required' } : i));
}

export type StationParseResult =
  { ok: true; message: StationMessage } | { ok: false; problems: StationProblem[] };

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });

function decodeJson(payload: Buffer): { ok: true; value: unknown } | { ok: false; problem: StationProblem } {
  if (payload.length > MAX_STATION_PAYLOAD_BYTES)
    return {
      ok: false,
      problem: { path: '', message: `payload must be at most ${MAX_STATION_PAYLOAD_BYTES} bytes` },
    };
  let text: string;
  try {
    text = fatalUtf8.decode(payload);
  } catch {
    return { ok: false, problem: { path: '', message: 'payload must be UTF-8 text' } };
  }
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    return { ok: false, problem: { path: '', message: `payload must be JSON: ${(err as Error).message}` } };
  }
}

/**
 * Validates a station message: topic, UTF-8, JSON, strict schema (unknown fields refused, finite
 * numbers, bounded strings), and turns it into a record body (the result of each characteristic and
 * of the part computed from lsl/usl when absent; gauges gathered into body.gauges). The body is
 * checked against the record schema too, so one that passes can become a record. Never throws.
 * Problem paths are relative to the payload ("characteristics[1].measured"); "topic" for the topic.
 */
export function parseStationMessage(topic: string, payload: Buffer): StationParseResult {
  const t = parseStationTopic(topic);
  if (!t.ok) return { ok: false, problems: [{ path: 'topic', message: t.problem }] };
  if (t.kind !== 'inspection' && t.kind !== 'usage')
    return { ok: false, problems: [{ path: 'topic', message: 'kind must be inspection or usage' }] };
  const decoded = decodeJson(payload);
  if (!decoded.ok) return { ok: false, problems: [decoded.problem] };
  const raw = decoded.value;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return { ok: false, problems: [{ path: '', message: 'payload must be a JSON object' }] };
  // zod would drop an own "__proto__" key (JSON.parse makes one) instead of calling it unknown.
  if (Object.hasOwn(raw, '__proto__'))
    return { ok: false, problems: [{ path: '["__proto__"]', message: 'unknown field' }] };

  const base = { site: t.site, equipment: t.equipment };
  if (t.kind === 'usage') {
    const r = usagePayloadSchema.safeParse(raw);
    if (!r.success) return { ok: false, problems: problems(schemaIssues(r.error)) };
    const { id, observedAt, ...body } = r.data;
    return { ok: true, message: { ...base, ...opt({ id, observedAt }), kind: 'usage', body } };
  }

  const r = inspectionPayloadSchema.safeParse(raw);
  if (!r.success) return { ok: false, problems: problems(schemaIssues(r.error)) };
  const p = r.data;
  const gauges: string[] = [];
  const addGauge = (g: string | undefined): void => {
    if (g !== undefined && !gauges.includes(g)) gauges.push(g);
  };
  const characteristics = p.characteristics.map((c) => {
    const gauge = c.gauge ?? p.gauge;
    addGauge(gauge);
    const within =
      (c.lsl === undefined || c.measured >= c.lsl) && (c.usl === undefined || c.measured <= c.usl);
    return {
      name: c.name,
      ...opt({ nominal: c.nominal, lsl: c.lsl, usl: c.usl }),
      measured: c.measured,
      unit: c.unit,
      ...opt({ gauge }),
      result: c.result ?? (within ? 'pass' : 'fail'),
    } as const;
  });
  addGauge(p.gauge);
  for (const g of p.gauges ?? []) addGauge(g);
  const anyFail = characteristics.some((c) => c.result === 'fail');
  const candidate = {
    partSerial: p.partSerial,
    ...opt({ workOrder: p.workOrder, operator: p.operator, testPlan: p.testPlan }),
    result: p.result ?? (anyFail ? 'fail' : 'pass'),
    characteristics,
    ...(gauges.length > 0 ? { gauges } : {}),
    ...opt({ trimCode: p.trimCode }),
  };
  const checked = inspectionBodySchema.safeParse(candidate);
  if (!checked.success) return { ok: false, problems: problems(schemaIssues(checked.error)) };
  return {
    ok: true,
    message: {
      ...base,
      ...opt({ id: p.id, observedAt: p.observedAt }),
      kind: 'inspection',
      body: checked.data,
    },
  };
}

/** Drops undefined members, so optional fields are absent rather than present-and-undefined. */
function opt<T extends Record<string, unknown>>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

/** The JSON an edge publishes on errorReplyTopic(topic) for a refused message. */
export interface ErrorReply {
  /** The topic of the refused message. */
  topic: string;
  /** Its id, when it could be read. */
  id?: string;
  /** When the edge received it (RFC 3339 UTC). */
  receivedAt: string;
  /** At most MAX_REPLY_PROBLEMS; `truncated` says how many more there were. */
  problems: StationProblem[];
  truncated?: number;
}

export function errorReplyPayload(reply: {
  topic: string;
  problems: StationProblem[];
  receivedAt: Date;
  id?: string;
}): Buffer {
  const body: ErrorReply = {
    topic: reply.topic,
    ...opt({ id: reply.id }),
    receivedAt: reply.receivedAt.toISOString(),
    problems: reply.problems.slice(0, MAX_REPLY_PROBLEMS),
  };
  if (reply.problems.length > MAX_REPLY_PROBLEMS) body.truncated = reply.problems.length - MAX_REPLY_PROBLEMS;
  return Buffer.from(JSON.stringify(body), 'utf8');
}

/** Best effort: the "id" of a payload that did not validate, to put into the error reply. */
export function peekMessageId(payload: Buffer): string | undefined {
  const decoded = decodeJson(payload);
  if (!decoded.ok || typeof decoded.value !== 'object' || decoded.value === null) return undefined;
  const id = (decoded.value as { id?: unknown }).id;
  return messageIdSchema.safeParse(id).success ? (id as string) : undefined;
}
