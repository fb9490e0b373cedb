import { RECORD_KINDS, signalEntrySchema } from '@rigtrace/protocols';
import { z } from 'zod';
import { answerProblem, component, dateTime, jsonSchemaOf } from '../platform/http/contract.js';

// What the live feature sends: the snapshot (GET /sites/{siteId}/live) and the socket.io
// messages, as zod schemas. The API document is written from them (the snapshot as the route's
// answer, the messages under `x-socket-events`), the portal's types are generated from that, and
// under test every message is checked against its schema before it is pushed.

const passFail = z.enum(['pass', 'fail']);

/** One telemetry value of a rig. */
export const telemetryItemSchema = z.object({
  equipment: z.string(),
  point: z.string(),
  value: z.union([z.number(), z.boolean(), z.string()]).nullable(),
  unit: z.string().nullable(),
  quality: z.enum(['good', 'uncertain', 'bad']),
  observedAt: dateTime,
});

export const rigStateSchema = z.enum(['running', 'idle', 'stopped']);

/**
 * What a piece of equipment on the live floor is: a rig sends telemetry; a gauge (a caliper, a
 * setting ring, a torque wrench) never has, so it has no run state, only its calibration and its use.
 */
export const floorKindSchema = z
  .enum(['rig', 'gauge'])
  .describe(
    'rig: it has sent telemetry, a signal dictionary or a test result; gauge: none of these (no run state: its calibration and last use)',
  );

/** A gauge's calibration as the live floor shows it (the register's status, at the site's today). */
export const floorCalibrationSchema = z.object({
  status: z.enum(['current', 'due-soon', 'overdue', 'out-of-tolerance']),
  nextDue: z.string().nullable().describe('YYYY-MM-DD in the site’s calendar; null: never calibrated valid'),
});

/** An alert as pushed and as listed in the snapshot. */
export const liveAlertSchema = component(
  'LiveAlert',
  z
    .object({
      siteId: z.string().nullable(),
      id: z.string(),
      kind: z.string(),
      severity: z.enum(['info', 'warning', 'critical']),
      message: z.string(),
      at: dateTime,
      tag: z.string().optional(),
      caseId: z.string().optional().describe('an out-of-tolerance or tag-out alert: its case'),
    })
    .describe('an alert was raised (SPC, out of tolerance, tag-out, …)'),
);

/** The messages the server pushes to a site's room, by socket.io event name (API.md, "Live updates"). */
export const liveMessageSchemas = {
  telemetry: component(
    'LiveTelemetry',
    z
      .object({ siteId: z.string(), edgeId: z.string(), items: z.array(telemetryItemSchema) })
      .describe('latest telemetry values of the site’s rigs'),
  ),
  rig: component(
    'LiveRig',
    z
      .object({
        siteId: z.string(),
        edgeId: z.string(),
        equipment: z.string(),
        kind: floorKindSchema,
        state: rigStateSchema.describe('for a gauge, not a run state: it was used at observedAt'),
        observedAt: dateTime,
        operator: z.string().optional(),
        workOrder: z.string().optional(),
        partSerial: z.string().optional(),
      })
      .describe('a rig changed state'),
  ),
  records: component(
    'LiveRecords',
    z
      .object({
        siteId: z.string(),
        edgeId: z.string(),
        counts: z.record(z.enum(RECORD_KINDS), z.int()),
        lastSeq: z.int(),
      })
      .describe('an edge’s batch was stored: how many records of each kind'),
  ),
  calibration: component(
    'LiveCalibration',
    z
      .object({
        siteId: z.string().nullable(),
        tag: z.string(),
        calibrationId: z.string(),
        passed: z.boolean(),
      })
      .describe('a calibration was recorded'),
  ),
  status: component(
    'LiveStatus',
    z
      .object({ siteId: z.string().nullable(), tag: z.string(), from: z.string().nullable(), to: z.string() })
      .describe('equipment’s calibration status changed'),
  ),
  service: component(
    'LiveService',
    z
      .object({
        siteId: z.string().nullable(),
        tag: z.string(),
        doNotUse: z
          .object({
            reason: z.string(),
            caseId: z
              .string()
              .nullable()
              .describe('the out-of-tolerance case that tagged it out; null: out of service'),
          })
          .nullable()
          .describe('as the snapshot’s doNotUse: may not be used now, and why; null: may be used'),
      })
      .describe(
        'whether equipment may be used may have changed: taken out of service, returned, a repair that needs a calibration first, or a calibration (a failure opens a case; a pass may end a tag-out)',
      ),
  ),
  alert: liveAlertSchema,
} as const;

export type LiveMessages = {
  [K in keyof typeof liveMessageSchemas]: z.output<(typeof liveMessageSchemas)[K]>;
};

/**
 * Every event the server pushes, by name: the one list that the publisher's types, the API
 * document and the access matrix's socket part are taken from.
 */
export const LIVE_EVENTS = Object.keys(liveMessageSchemas) as readonly (keyof LiveMessages)[];

const testCharacteristic = z.object({
  name: z.string(),
  quantity: z.string(),
  measured: z.number(),
  unit: z.string(),
  nominal: z.number().optional(),
  lsl: z.number().optional(),
  usl: z.number().optional(),
  result: passFail,
});

/** What a live page shows before the first push and after a reconnect. */
export const liveSnapshotSchema = z.object({
  siteId: z.string(),
  at: dateTime,
  rigs: z.array(
    z.object({
      equipment: z.string(),
      edgeId: z.string(),
      kind: floorKindSchema,
      state: rigStateSchema.describe('the run state; for a gauge meaningless (see lastUsedAt)'),
      stateSince: dateTime.nullable(),
      lastSeenAt: dateTime,
      lastUsedAt: dateTime.nullable().describe('its latest usage record; null: none'),
      calibration: floorCalibrationSchema
        .nullable()
        .describe(
          'for a gauge, its calibration status; null for a rig and for equipment not in the register',
        ),
      doNotUse: z
        .object({
          reason: z.string(),
          caseId: z
            .string()
            .nullable()
            .describe('the out-of-tolerance case that tagged it out; null: out of service'),
        })
        .nullable()
        .describe(
          'tagged out (an open out-of-tolerance case without a passing calibration since, out of service, or a repair waiting for its calibration): do not use, for a rig, bench or station as for a gauge; null: may be used',
        ),
      values: z
        .array(telemetryItemSchema.omit({ equipment: true }))
        .describe(
          'latest values that mean something now: a value whose dictionary entry has `when` is left out while its condition does not hold (an idle zero between tests)',
        ),
      signals: z
        .array(signalEntrySchema)
        .describe('the signal dictionary the rig’s telemetry last carried; empty: none'),
      lastTest: z
        .object({
          at: dateTime,
          partSerial: z.string(),
          workOrder: z.string().optional(),
          testPlan: z.string().optional(),
          result: passFail,
          testPoints: z.array(
            z.object({
              name: z
                .string()
                .nullable()
                .describe('the test point ("fullLoad" of "fullLoad.deliveredQty"); null: not tied to one'),
              characteristics: z.array(testCharacteristic),
            }),
          ),
        })
        .nullable()
        .describe('the rig’s last completed test (its latest inspection), per test point'),
    }),
  ),
  today: z
    .object({
      inspections: z.int(),
      passed: z.int(),
      firstPassYield: z.number().min(0).max(1).nullable(),
      throughputPerHour: z
        .array(
          z.object({
            hour: dateTime.describe(
              'start of the site’s local hour (a UTC instant: 18:30Z is 00:00 in Asia/Kolkata)',
            ),
            count: z.int(),
          }),
        )
        .describe('per local hour of the site’s day, from its midnight up to the current hour'),
    })
    .describe(
      'the site’s current local day (in the site’s time zone; 23 or 25 hours on a daylight-saving change)',
    ),
  alerts: z.array(liveAlertSchema).max(20),
});

/**
 * Under test (vitest sets VITEST), every pushed message is checked against its schema, fields it
 * does not describe included (`answerProblem`).
 */
const CHECK_MESSAGES = process.env.VITEST !== undefined;

/** Throws (under test) when `payload` is not what the document says `event` carries. */
export function checkMessage(event: keyof LiveMessages, payload: unknown): void {
  if (!CHECK_MESSAGES) return;
  const problem = answerProblem(liveMessageSchemas[event], payload);
  if (problem) throw new Error(`live message ${event} off its schema: ${problem}`);
}

/** What the client sends to follow a site (`subscribe`) or stop (`unsubscribe`). */
export const liveSubscribeSchema = component(
  'LiveSubscribe',
  z.object({ siteId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/) }),
);
/** The server's acknowledgement of `subscribe` and `unsubscribe`. */
export const liveAckSchema = component(
  'LiveAck',
  z.union([
    z.object({ ok: z.literal(true) }),
    z
      .object({ ok: z.literal(false), error: z.string() })
      .describe(
        'error: CLOUD_NOT_FOUND (a site the user may not see, or none), CLOUD_VALIDATION, CLOUD_UNAUTHENTICATED (then disconnected), CLOUD_RATE_LIMITED, CLOUD_INTERNAL',
      ),
  ]),
);

/** The client's messages, by socket.io event: their payload and acknowledgement. */
export const liveClientSchemas = {
  subscribe: { description: 'follow a site: join its room', payload: liveSubscribeSchema },
  unsubscribe: { description: 'stop following a site', payload: liveSubscribeSchema },
} as const;

/** Every schema of the socket.io messages (the document's components): sent by the client, sent by the server. */
export const liveSocketSchemas: { input: readonly z.ZodType[]; output: readonly z.ZodType[] } = {
  input: [liveSubscribeSchema],
  output: [...Object.values(liveMessageSchemas), liveAckSchema],
};

/**
 * The socket.io messages as the API document's `x-socket-events` extension: what the server
 * pushes and what the client sends (with the acknowledgement), by event name. Each payload is a
 * component (LiveTelemetry, LiveRig, …, LiveSubscribe, LiveAck), so the portal's generated types
 * name it.
 */
export function socketEventsDocument() {
  return {
    path: '/socket.io',
    server: Object.fromEntries(
      LIVE_EVENTS.map((event) => [
        event,
        {
          description: z.globalRegistry.get(liveMessageSchemas[event])?.description ?? event,
          payload: jsonSchemaOf(liveMessageSchemas[event], 'output'),
        },
      ]),
    ),
    client: Object.fromEntries(
      Object.entries(liveClientSchemas).map(([event, m]) => [
        event,
        {
          description: m.description,
          payload: jsonSchemaOf(m.payload, 'input'),
          ack: jsonSchemaOf(liveAckSchema, 'output'),
        },
      ]),
    ),
  };
}
