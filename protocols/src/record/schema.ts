import { z } from 'zod';
import { acceptor } from './acceptor.js';

/**
 * Record schemas (zod 4). Every object is strict (unknown keys are refused), every number finite, every
 * string bounded; no defaults and no transforms, so a record that parses is returned unchanged and its
 * canonical bytes are the bytes the edge hashed.
 */

export const RECORD_FORMAT_VERSION = 1;
/** Largest canonical JSON of one record, in UTF-8 bytes. Checked by the batch verifier. */
export const MAX_RECORD_BYTES = 64 * 1024;

export const RECORD_KINDS = ['calibration', 'usage', 'inspection', 'telemetry', 'event'] as const;
export type RecordKind = (typeof RECORD_KINDS)[number];

const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
const NO_CONTROL = /^[^\p{Cc}]*$/u;
const TAB_CR_LF = /[\t\r\n]/g;
const isText = (s: string): boolean => NO_CONTROL.test(s.replace(TAB_CR_LF, ''));

/** A short single-line label: 1..max characters, no control characters. */
export function label(max: number) {
  return z
    .string()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .regex(NO_CONTROL, 'must not contain control characters')
    .refine((s) => !LONE_SURROGATE.test(s), 'must be valid Unicode (no lone surrogate)');
}

/** Free text: 1..max characters; tab, CR and LF allowed, other control characters not. */
export function text(max: number) {
  return z
    .string()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .refine(isText, 'must not contain control characters other than tab, CR and LF')
    .refine((s) => !LONE_SURROGATE.test(s), 'must be valid Unicode (no lone surrogate)');
}

const TIMESTAMP_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?Z$/;
const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function validDate(y: number, m: number, d: number): boolean {
  if (m < 1 || m > 12 || d < 1) return false;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  return d <= (m === 2 && leap ? 29 : DAYS_IN_MONTH[m - 1]!);
}

/** RFC 3339 timestamp in UTC with a Z suffix, seconds required, 0..9 fraction digits: 2026-11-23T05:51:12.123Z. */
export const timestampSchema = z
  .string()
  .max(40, 'must be an RFC 3339 UTC timestamp')
  .refine((s) => {
    const m = TIMESTAMP_RE.exec(s);
    if (!m) return false;
    return (
      validDate(Number(m[1]), Number(m[2]), Number(m[3])) &&
      Number(m[4]) <= 23 &&
      Number(m[5]) <= 59 &&
      Number(m[6]) <= 59
    );
  }, 'must be an RFC 3339 UTC timestamp ending in Z, e.g. 2026-11-23T05:51:12.123Z');

/** A calendar date YYYY-MM-DD (due dates). */
export const dateSchema = z
  .string()
  .max(10, 'must be a date YYYY-MM-DD')
  .refine((s) => {
    const m = DATE_RE.exec(s);
    return m !== null && validDate(Number(m[1]), Number(m[2]), Number(m[3]));
  }, 'must be a date YYYY-MM-DD');

/** UUIDv7 (RFC 9562) in lowercase, the one spelling, so that a record has one canonical form. */
export const uuidv7Schema = z
  .string()
  .regex(
    /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    'must be a lowercase UUIDv7',
  );

/** Edge id: 1..128 of [A-Za-z0-9._-]. Also the checkpoint origin and signing key name. */
export const edgeIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,128}$/, 'must be 1..128 characters of A-Z a-z 0-9 . _ -');

/** Asset tag of a piece of equipment, gauge or reference standard. */
export const assetTagSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$/,
    'must be an asset tag: 1..64 of A-Z a-z 0-9 . _ : / -, starting with a letter or digit',
  );

const finite = () => z.number({ error: 'must be a finite number' });
const nonNegative = () => finite().nonnegative('must not be negative');
const result = z.enum(['pass', 'fail'], { error: 'must be "pass" or "fail"' });

export const recordSourceSchema = z.strictObject({
  protocol: z.enum(['modbus', 'opcua', 'mqtt', 'manual', 'edge']),
  /** Where the value was read: opc.tcp://host:port, modbus://host:port/unit, mqtt topic broker URL, a user id for manual entry. */
  endpoint: label(256),
  /** OPC UA node id, Modbus register (e.g. "hr:40001"), MQTT topic. */
  address: label(256).optional(),
  /** Device status of the reading, e.g. the OPC UA StatusCode name ("Good", "UncertainLastUsableValue"). */
  status: label(64).optional(),
});

// ---- bodies ----------------------------------------------------------------------------------------

/** A coded value (a number or a text the device sends) and the word people read for it. */
const signalCode = z.union([finite(), label(64)], {
  error: 'must be a finite number or a label of at most 64 characters',
});

/** One entry of a signal dictionary: a signal (or a test point / characteristic name) in words. */
export const signalEntrySchema = z.strictObject({
  /** The signal's name as it appears in `points[].name`, or a test point or characteristic name. */
  name: label(64),
  /** What people call it, e.g. "Delivered quantity". */
  label: label(64).optional(),
  /** The unit as people write it, e.g. "µs", "°C", "mm³/stroke". */
  unit: label(16).optional(),
  /** Words for coded values, e.g. state 1 → "Testing", test point 3 → "Idle 350 bar". */
  codes: z
    .array(z.strictObject({ code: signalCode, word: label(64) }))
    .min(1)
    .max(64, 'must have at most 64 codes')
    .optional(),
  /** The signal means something only while `signal` has one of `codes` (e.g. the rig is testing). */
  when: z
    .strictObject({
      signal: label(64),
      codes: z.array(signalCode).min(1).max(64, 'must have at most 64 codes'),
    })
    .optional(),
});

export const telemetryBodySchema = z
  .strictObject({
    points: z
      .array(
        z
          .strictObject({
            name: label(64),
            value: z.union(
              [
                finite(),
                z.boolean(),
                z.string().max(256).regex(NO_CONTROL, 'must not contain control characters'),
                z.null(),
              ],
              {
                error: 'must be a finite number, a boolean, a string of at most 256 characters, or null',
              },
            ),
            unit: label(16).optional(),
            quality: z.enum(['good', 'uncertain', 'bad']),
            /** The position in the record's equipment the value came from ("rail pressure"); the cloud resolves it to the device installed there at observedAt. */
            position: label(64).optional(),
          })
          // A point that could not be read has no value; a good or uncertain one always has one.
          .refine((p) => p.value !== null || p.quality === 'bad', {
            message: 'may be null only when quality is bad',
            path: ['value'],
          }),
      )
      .max(500, 'must have at most 500 points'),
    /**
     * The source's signal dictionary (optional; RECORDS.md, "Signal dictionary"): how people name
     * its signals, their units, and the words for coded values. An edge sends it with the first
     * telemetry record after it connects and from time to time after that, not with every record.
     */
    signals: z.array(signalEntrySchema).min(1).max(500, 'must have at most 500 signals').optional(),
  })
  // Only a record carrying the dictionary may have no points: a station that publishes results
  // and no values (MQTT) sends its dictionary that way.
  .refine((b) => b.points.length >= 1 || b.signals !== undefined, {
    message: 'must have at least 1 point',
    path: ['points'],
  });

export const inspectionCharacteristicSchema = z
  .strictObject({
    /** Test point and quantity, e.g. "full-load.quantity" or "bore.diameter". */
    name: label(64),
    nominal: finite().optional(),
    lsl: finite().optional(),
    usl: finite().optional(),
    measured: finite(),
    unit: label(16),
    /** Asset tag of the gauge or sensor that measured it (also listed in the body's gauges). */
    gauge: assetTagSchema.optional(),
    /** The position in the record's equipment whose device measured it ("rail pressure"); the cloud resolves it to the device installed there at observedAt. */
    position: label(64).optional(),
    result,
    /** The device's own verdict for this characteristic, kept when it disagrees with the limits. */
    deviceResult: result.optional(),
  })
  .refine((c) => c.lsl === undefined || c.usl === undefined || c.lsl <= c.usl, {
    message: 'lsl must not be greater than usl',
    path: ['lsl'],
  });

export const inspectionBodySchema = z
  .strictObject({
    partSerial: label(64),
    workOrder: label(64).optional(),
    operator: label(128).optional(),
    testPlan: label(128).optional(),
    /** Overall result; "fail" whenever a characteristic fails or the device said fail. */
    result,
    /** The device's own overall verdict (its result register or node), as it reported it. */
    deviceResult: result.optional(),
    characteristics: z
      .array(inspectionCharacteristicSchema)
      .min(1, 'must have at least 1 characteristic')
      .max(200, 'must have at most 200 characteristics'),
    /** The gauges and sensors used (asset tags), for reverse traceability when one fails calibration. */
    gauges: z.array(assetTagSchema).max(50, 'must list at most 50 gauges').optional(),
    /** Injector trim/correction code written to the part. */
    trimCode: z
      .string()
      .regex(/^[0-9A-F]{16,20}$/, 'must be 16..20 uppercase hexadecimal characters')
      .optional(),
  })
  .refine((b) => b.result === 'fail' || b.characteristics.every((c) => c.result === 'pass'), {
    message: 'must be "fail" when a characteristic fails',
    path: ['result'],
  })
  .refine((b) => b.result === 'fail' || b.deviceResult !== 'fail', {
    message: 'must be "fail" when the device said fail',
    path: ['result'],
  });

export const usageBodySchema = z.strictObject({
  event: z.enum(['start', 'stop', 'cycle']),
  /** Cycles counted since the previous usage record (for usage-based calibration intervals). */
  cycles: z.int('must be a non-negative integer').nonnegative('must be a non-negative integer').optional(),
  operator: label(128).optional(),
  workOrder: label(64).optional(),
  partSerial: label(64).optional(),
  durationS: nonNegative().optional(),
});

export const calibrationPointSchema = z
  .strictObject({
    /** Channel and test point, e.g. "rail-pressure@1600bar". */
    name: label(64),
    nominal: finite(),
    unit: label(16),
    asFound: finite(),
    asLeft: finite().optional(),
    /** Absolute limits on the error (reading - nominal); lower <= upper; asymmetric allowed. */
    lowerTolerance: finite(),
    upperTolerance: finite(),
    /** Expanded measurement uncertainty (same unit). */
    uncertainty: nonNegative().optional(),
    asFoundResult: result,
    asLeftResult: result.optional(),
    /** The device's own verdict for this point, kept when it disagrees with the tolerance. */
    deviceResult: result.optional(),
  })
  .refine((p) => p.lowerTolerance <= p.upperTolerance, {
    message: 'lowerTolerance must not be greater than upperTolerance',
    path: ['lowerTolerance'],
  })
  .refine((p) => p.asLeftResult === undefined || p.asLeft !== undefined, {
    message: 'asLeftResult needs an asLeft reading',
    path: ['asLeftResult'],
  });

export const calibrationBodySchema = z
  .strictObject({
    procedure: z.strictObject({ id: label(64), revision: label(32).optional() }).optional(),
    technician: label(128).optional(),
    lab: z.strictObject({ name: label(128), accreditation: label(128).optional() }).optional(),
    certificate: z
      .strictObject({
        number: label(64),
        uri: label(1024).optional(),
        sha256: z
          .string()
          .regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hexadecimal characters')
          .optional(),
      })
      .optional(),
    /** Reference standards used; an overdue standard invalidates the calibration. */
    standards: z
      .array(
        z.strictObject({
          id: assetTagSchema,
          certificate: label(64).optional(),
          dueDate: dateSchema.optional(),
          uncertainty: nonNegative().optional(),
        }),
      )
      .max(50, 'must list at most 50 standards'),
    environment: z
      .strictObject({
        temperatureC: finite().optional(),
        humidityPct: finite().min(0, 'must be 0..100').max(100, 'must be 0..100').optional(),
      })
      .optional(),
    points: z
      .array(calibrationPointSchema)
      .min(1, 'must have at least 1 point')
      .max(200, 'must have at most 200 points'),
    adjusted: z.boolean(),
    /** Overall as-found result; "fail" (out of tolerance) whenever a point fails as found. */
    asFoundResult: result,
    asLeftResult: result.optional(),
    /** The device's own overall verdict (a pass/fail node or register), as it reported it. */
    deviceResult: result.optional(),
    calibratedAt: timestampSchema,
    /** Date the instrument was received for calibration. */
    receivedDate: dateSchema.optional(),
    nextDue: dateSchema.optional(),
    /** ISO/IEC 17025 7.8.6 decision rule, e.g. "simple acceptance" or "guard band w = U". */
    decisionRule: text(256).optional(),
    /** Statement of conformity as written on the certificate. */
    conformity: text(1024).optional(),
    /** The technician's remarks (what was seen, done or deviated from). */
    remarks: text(2000).optional(),
    /** Who approved the result, what the approval means and when (the 21 CFR Part 11 idea of a signature). */
    approval: z.strictObject({ by: label(128), meaning: label(128), at: timestampSchema }).optional(),
  })
  .refine((b) => b.asFoundResult === 'fail' || b.points.every((p) => p.asFoundResult === 'pass'), {
    message: 'must be "fail" when a point fails as found',
    path: ['asFoundResult'],
  })
  .refine(
    (b) => b.asLeftResult !== 'pass' || b.points.every((p) => (p.asLeftResult ?? p.asFoundResult) === 'pass'),
    { message: 'must not be "pass" when a point fails as left', path: ['asLeftResult'] },
  );

const DETAIL_KEY = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

export const eventBodySchema = z.strictObject({
  severity: z.enum(['info', 'warning', 'error', 'critical']),
  /** Stable machine code, e.g. TELEMETRY_DOWNSAMPLED, SOURCE_DOWN. */
  code: z.string().regex(/^[A-Z][A-Z0-9_]{0,63}$/, 'must be 1..64 of A-Z 0-9 _, starting with a letter'),
  message: text(1024),
  details: z
    .unknown()
    // z.record silently drops an own "__proto__" key (JSON.parse makes one), which would make the parsed
    // record differ from the bytes that were hashed: refuse it before the record is parsed.
    .refine((d) => typeof d !== 'object' || d === null || !Object.hasOwn(d, '__proto__'), {
      message: 'detail key __proto__ is not allowed',
      path: ['__proto__'],
    })
    .pipe(
      z
        .record(
          z
            .string()
            .regex(DETAIL_KEY, 'detail keys must be 1..64 of A-Z a-z 0-9 _ . -, starting with a letter or _'),
          z.union(
            [
              z.string().max(1024).refine(isText, 'must not contain control characters'),
              finite(),
              z.boolean(),
              z.null(),
            ],
            {
              error: 'detail values must be a string (<= 1024), a finite number, a boolean or null',
            },
          ),
        )
        .refine((d) => Object.keys(d).length <= 50, 'must have at most 50 keys'),
    )
    .optional(),
});

// ---- envelope ----------------------------------------------------------------------------------------

const envelope = {
  v: z.literal(RECORD_FORMAT_VERSION, { error: `must be ${RECORD_FORMAT_VERSION}` }),
  id: uuidv7Schema,
  edge: edgeIdSchema,
  seq: z.int('must be a positive safe integer').positive('must be a positive safe integer'),
  equipment: assetTagSchema,
  observedAt: timestampSchema,
  receivedAt: timestampSchema,
  source: recordSourceSchema,
};

export const telemetryRecordSchema = z.strictObject({
  ...envelope,
  kind: z.literal('telemetry'),
  body: telemetryBodySchema,
});
export const inspectionRecordSchema = z.strictObject({
  ...envelope,
  kind: z.literal('inspection'),
  body: inspectionBodySchema,
});
export const usageRecordSchema = z.strictObject({
  ...envelope,
  kind: z.literal('usage'),
  body: usageBodySchema,
});
export const calibrationRecordSchema = z.strictObject({
  ...envelope,
  kind: z.literal('calibration'),
  body: calibrationBodySchema,
});
export const eventRecordSchema = z.strictObject({
  ...envelope,
  kind: z.literal('event'),
  body: eventBodySchema,
});

/** Any record: a discriminated union on `kind`. */
export const recordSchema = z.discriminatedUnion(
  'kind',
  [
    calibrationRecordSchema,
    usageRecordSchema,
    inspectionRecordSchema,
    telemetryRecordSchema,
    eventRecordSchema,
  ],
  { error: `kind must be one of ${RECORD_KINDS.join(', ')}` },
);

export type RecordSource = z.infer<typeof recordSourceSchema>;
export type TelemetryBody = z.infer<typeof telemetryBodySchema>;
export type SignalEntry = z.infer<typeof signalEntrySchema>;
export type InspectionBody = z.infer<typeof inspectionBodySchema>;
export type UsageBody = z.infer<typeof usageBodySchema>;
export type CalibrationBody = z.infer<typeof calibrationBodySchema>;
export type EventBody = z.infer<typeof eventBodySchema>;
export type TelemetryRecord = z.infer<typeof telemetryRecordSchema>;
export type InspectionRecord = z.infer<typeof inspectionRecordSchema>;
export type UsageRecord = z.infer<typeof usageRecordSchema>;
export type CalibrationRecord = z.infer<typeof calibrationRecordSchema>;
export type EventRecord = z.infer<typeof eventRecordSchema>;
export type RigRecord = z.infer<typeof recordSchema>;

export interface SchemaIssue {
  path: string;
  message: string;
}

/** "body.points[0].value" from zod's path array ("" for the root). */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else {
      const key = String(p);
      out += /^[A-Za-z_$][\w$]*$/.test(key) ? (out === '' ? key : `.${key}`) : `[${JSON.stringify(key)}]`;
    }
  }
  return out;
}

/** Flattens zod issues to { path, message }, one per unknown key. */
export function schemaIssues(error: z.ZodError): SchemaIssue[] {
  const out: SchemaIssue[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys)
        out.push({ path: formatPath([...issue.path, key]), message: 'unknown field' });
    } else {
      out.push({ path: formatPath(issue.path), message: issue.message });
    }
  }
  return out;
}

/**
 * True only when `recordSchema` surely accepts the value as it is (acceptor.ts: a quick check
 * compiled from the schema above, no second definition); false when it is not sure, and the
 * schema then decides and names the problem. A property test holds the two together.
 */
export const surelyValid = acceptor(recordSchema) as (value: unknown) => value is RigRecord;

/**
 * Validates a record. Never throws. A valid record is returned as it is (the schema adds, drops
 * and converts nothing), so what is stored is the very value that was checked.
 */
export function parseRecord(
  value: unknown,
): { ok: true; record: RigRecord } | { ok: false; issues: { path: string; message: string }[] } {
  if (surelyValid(value)) return { ok: true, record: value };
  const r = recordSchema.safeParse(value);
  if (r.success) return { ok: true, record: r.data };
  return { ok: false, issues: schemaIssues(r.error) };
}
