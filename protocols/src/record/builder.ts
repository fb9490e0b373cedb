import { canonicalJson } from './canonical.js';
import type { RecordFormatError } from './errors.js';
import {
  MAX_RECORD_BYTES,
  assetTagSchema,
  recordSchema,
  recordSourceSchema,
  schemaIssues,
  surelyValid,
  timestampSchema,
  type EventRecord,
  type RigRecord,
  type SchemaIssue,
} from './schema.js';

/** A record that passed the record format, with its canonical JSON (the bytes that are hashed and signed). */
export interface BuiltRecord {
  ok: true;
  record: RigRecord;
  text: string;
}

/** A draft that did not pass, with every problem by path. */
export interface RefusedRecord {
  ok: false;
  issues: SchemaIssue[];
}

/**
 * The one place records are built: checks a complete record (envelope and body) against the
 * record format, including its size, and returns its canonical JSON. Nothing may sign or hash a
 * record that has not passed here. Never throws.
 *
 * The canonical text is made from the value as given (not from a parsed copy): the schema adds,
 * drops and converts nothing, so the two are the same record, and a value built with its keys in
 * canonical order is serialized without a copy.
 */
export function buildRecord(value: unknown): BuiltRecord | RefusedRecord {
  let record: RigRecord;
  if (surelyValid(value)) record = value;
  else {
    const parsed = recordSchema.safeParse(value);
    if (!parsed.success) return { ok: false, issues: schemaIssues(parsed.error) };
    record = parsed.data;
  }
  let text: string;
  try {
    text = canonicalJson(value);
  } catch (err) {
    return { ok: false, issues: [{ path: '', message: (err as RecordFormatError).message }] };
  }
  // UTF-8 is at most 3 bytes per UTF-16 unit: only long texts need counting.
  if (text.length * 3 > MAX_RECORD_BYTES) {
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > MAX_RECORD_BYTES)
      return {
        ok: false,
        issues: [{ path: '', message: `canonical JSON is ${bytes} bytes, more than ${MAX_RECORD_BYTES}` }],
      };
  }
  return { ok: true, record, text };
}

const MAX_LISTED_ISSUES = 10;
const MAX_VALUE_CHARS = 200;

/** The value at a formatted path ("body.points[0].unit") of a draft, or undefined. */
export function valueAtPath(root: unknown, path: string): unknown {
  let cur: unknown = root;
  const re = /([A-Za-z_$][\w$]*)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(path)) !== null) {
    if (cur === null || typeof cur !== 'object') return undefined;
    const key = m[1] ?? (m[2] !== undefined ? Number(m[2]) : (JSON.parse(`"${m[3]}"`) as string));
    cur = Object.hasOwn(cur, key) ? (cur as Record<string | number, unknown>)[key] : undefined;
  }
  return cur;
}

/** A short, printable rendering of a value for a message: JSON, control characters escaped, cut. */
export function showValue(v: unknown): string {
  let s: string;
  if (v === undefined) s = '(missing)';
  else if (typeof v === 'number' && !Number.isFinite(v)) s = String(v);
  else {
    try {
      s = JSON.stringify(v) ?? typeof v;
    } catch {
      s = `(${typeof v})`;
    }
  }
  return printable(s, MAX_VALUE_CHARS);
}

/** Control characters and lone surrogates escaped as \\uXXXX; cut to `max` (with …) without splitting a pair. */
export function printable(text: string, max: number): string {
  let s = text.replace(
    /[\p{Cc}]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/gu,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  if (s.length > max) {
    s = s.slice(0, max - 1);
    if (/[\uD800-\uDBFF]$/.test(s)) s = s.slice(0, -1);
    s += '…';
  }
  return s;
}

const ok = <T>(schema: { safeParse(v: unknown): { success: boolean } }, v: unknown, fallback: T): T =>
  schema.safeParse(v).success ? (v as T) : fallback;

/**
 * What replaces a draft that the record format refuses: an error event (code RECORD_INVALID) in
 * the same place of the log, naming each field, its value and the rule it broke, so one bad value
 * never blocks the log and nothing is signed that the cloud would refuse. The envelope keeps what
 * of the draft's is valid (equipment, times, source); `fallbackEquipment` is used otherwise.
 * The result always passes buildRecord.
 */
export function invalidRecordEvent(
  draft: unknown,
  issues: readonly SchemaIssue[],
  envelope: { v: 1; id: string; edge: string; seq: number },
  fallbackEquipment: string,
  now = new Date(),
): EventRecord {
  const d = (draft && typeof draft === 'object' ? draft : {}) as Record<string, unknown>;
  const kind =
    typeof d.kind === 'string' ? d.kind.slice(0, 20).replace(/[^a-z]/g, '') || 'unknown' : 'unknown';
  const at = now.toISOString();
  const listed = issues.slice(0, MAX_LISTED_ISSUES).map((i) => ({
    path: i.path || '(record)',
    value: i.path ? showValue(valueAtPath(d, i.path)) : '',
    message: i.message,
  }));
  const more = issues.length - listed.length;
  const message = `a ${kind} record was refused by the record format and not signed: ${listed
    .map((i) => `${i.path}${i.value ? ` = ${i.value}` : ''}: ${i.message}`)
    .join('; ')}${more > 0 ? ` (and ${more} more)` : ''}`;
  const details: Record<string, string | number> = { kind, problems: issues.length };
  listed.forEach((i, n) => {
    details[`problem${n}.path`] = printable(i.path, 1024);
    details[`problem${n}.value`] = i.value;
    details[`problem${n}.message`] = printable(i.message, 1024);
  });
  const record: EventRecord = {
    v: envelope.v,
    id: envelope.id,
    edge: envelope.edge,
    seq: envelope.seq,
    kind: 'event',
    equipment: ok(assetTagSchema, d.equipment, fallbackEquipment),
    observedAt: ok(timestampSchema, d.observedAt, at),
    receivedAt: ok(timestampSchema, d.receivedAt, at),
    source: ok(recordSourceSchema, d.source, { protocol: 'edge', endpoint: 'record-builder' }),
    body: {
      severity: 'error',
      code: 'RECORD_INVALID',
      message: printable(message, 1024),
      details,
    },
  };
  return record;
}
