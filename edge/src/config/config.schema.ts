import { z } from 'zod';

const name = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z][A-Za-z0-9_.-]*$/, 'must start with a letter and use only letters, digits, _ . -');
const assetTag = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$/, 'must be an asset tag (letters, digits, . _ : / -, max 64)');
const port = z.number().int().min(1).max(65535);
const host = z.string().min(1).max(253);

const modbusPoint = z.strictObject({
  name,
  address: z.number().int().min(0).max(65535),
  type: z.enum(['int16', 'uint16', 'int32', 'uint32', 'float32', 'float64', 'bool', 'string']),
  area: z.enum(['holding', 'input', 'coil', 'discrete']).default('holding'),
  unitId: z.number().int().min(0).max(247).optional(),
  length: z.number().int().min(1).max(64).optional(),
  wordOrder: z.enum(['big', 'little']).optional(),
  byteOrder: z.enum(['big', 'little']).optional(),
  scale: z.number().optional(),
  offset: z.number().optional(),
  unit: z.string().max(16).optional(),
});

const characteristic = z.strictObject({
  name: z.string().min(1).max(64),
  measured: name,
  nominal: z.union([name, z.number()]).optional(),
  lsl: z.union([name, z.number()]).optional(),
  usl: z.union([name, z.number()]).optional(),
  unit: z.string().min(1).max(16),
});

/**
 * The older Modbus `inspection:` block: one inspection record per completed test. Accepted and
 * translated into a `records` entry at load (mapping/legacy-blocks.ts).
 */
export const inspectionMapping = z.strictObject({
  trigger: name.describe('point whose increase means a new result block is complete'),
  partSerial: name,
  workOrder: name.optional(),
  operator: name.optional(),
  trimCode: name.optional(),
  testPlan: z.string().max(64).optional(),
  /**
   * The device's own overall verdict, when it has one: the point and the value that means pass
   * (a number, a text or a boolean). Without it the verdict comes from the characteristics' limits.
   */
  result: z
    .strictObject({ point: name, pass: z.union([z.number(), z.string().min(1).max(64), z.boolean()]) })
    .optional(),
  characteristics: z.array(characteristic).min(1).max(200),
  gauges: z.array(assetTag).max(50).optional(),
});

/** Derives usage records (start/stop, cycles, who) from a rig's state point. */
const usageMapping = z.strictObject({
  state: name,
  runningValues: z.array(z.number()).min(1).default([1]),
  cycles: name.optional(),
  operator: name.optional(),
  workOrder: name.optional(),
  partSerial: name.optional(),
  stopAfterIdleS: z.number().min(0).max(86_400).default(30),
});

// ---- record mappings: one declarative way, the same for every protocol ----------------------------

/**
 * A mapped value: a constant (number, boolean, or text not starting with `=`) or an expression
 * (`=AsFound * 0.001`, `=date(NextCalibration)`) over the source's named values.
 */
const mapped = z.union([z.string().min(1).max(2048), z.number(), z.boolean()]);

const calibrationPointMapping = z.strictObject({
  name: mapped,
  nominal: mapped,
  unit: mapped,
  asFound: mapped,
  asLeft: mapped.optional(),
  /** ± tolerance (the same either side); or lowerTolerance/upperTolerance; or lowerLimit/upperLimit. */
  tolerance: mapped.optional(),
  lowerTolerance: mapped.optional(),
  upperTolerance: mapped.optional(),
  lowerLimit: mapped.optional(),
  upperLimit: mapped.optional(),
  uncertainty: mapped.optional(),
  deviceResult: mapped.optional(),
});

const characteristicMapping = z.strictObject({
  name: mapped,
  measured: mapped,
  unit: mapped,
  nominal: mapped.optional(),
  lsl: mapped.optional(),
  usl: mapped.optional(),
  /** ± tolerance around nominal, instead of lsl/usl. */
  tolerance: mapped.optional(),
  gauge: mapped.optional(),
  /** The position in the equipment whose device measured it (RECORDS.md, "Positions"). */
  position: mapped.optional(),
  deviceResult: mapped.optional(),
});

/** A list of entries, or one entry repeated: `each` is a count or an array; `i` (from 0) and `n` (from 1) in scope. */
const repeated = <T extends z.ZodObject>(entry: T) =>
  z.union([z.array(entry).min(1).max(200), entry.extend({ each: mapped })]);

const calibrationFields = z.strictObject({
  equipment: mapped.optional(),
  calibratedAt: mapped.optional(),
  nextDue: mapped.optional(),
  receivedDate: mapped.optional(),
  procedure: mapped.optional(),
  procedureRevision: mapped.optional(),
  technician: mapped.optional(),
  lab: mapped.optional(),
  certificate: mapped.optional(),
  certificateUri: mapped.optional(),
  standardId: mapped.optional(),
  standardCertificate: mapped.optional(),
  standardDueDate: mapped.optional(),
  standardUncertainty: mapped.optional(),
  temperatureC: mapped.optional(),
  humidityPct: mapped.optional(),
  adjusted: mapped.optional(),
  deviceResult: mapped.optional(),
  decisionRule: mapped.optional(),
  conformity: mapped.optional(),
  points: repeated(calibrationPointMapping),
});

const inspectionFields = z.strictObject({
  equipment: mapped.optional(),
  observedAt: mapped.optional(),
  partSerial: mapped,
  workOrder: mapped.optional(),
  operator: mapped.optional(),
  testPlan: mapped.optional(),
  trimCode: mapped.optional(),
  gauges: z.array(mapped).max(50).optional(),
  deviceResult: mapped.optional(),
  characteristics: repeated(characteristicMapping),
});

/**
 * `sequence` numbers the results of an OPC UA event trigger only: put anywhere else (a counter or
 * rising trigger, a mapping, an MQTT trigger) it is refused saying so, not as a bare unknown key.
 */
const sequenceOnlyInEvents = {
  error: (iss: z.core.$ZodRawIssue) =>
    iss.code === 'unrecognized_keys' && iss.keys.includes('sequence')
      ? `Unrecognized key${iss.keys.length > 1 ? 's' : ''}: ${iss.keys.map((k) => `"${k}"`).join(', ')}; sequence is taken only by an OPC UA event trigger (trigger: { event: { type, sequence: =event.Sequence } }), a counter trigger's counter already numbers its results`
      : undefined,
};

/** What makes a new result: a counter that changes, or a flag that rises (false → true, 0 → non-zero). */
const trigger = z.union([
  z.strictObject({ counter: name }, sequenceOnlyInEvents),
  z.strictObject({ rising: name }, sequenceOnlyInEvents),
]);

const usageFields = z.strictObject({
  equipment: mapped.optional(),
  observedAt: mapped.optional(),
  /** start, stop or cycle. */
  event: mapped,
  cycles: mapped.optional(),
  operator: mapped.optional(),
  workOrder: mapped.optional(),
  partSerial: mapped.optional(),
  durationS: mapped.optional(),
});

const lookupTables = z
  .record(name, z.record(z.string().min(1).max(64), z.union([z.string().max(256), z.number(), z.boolean()])))
  .optional();

/**
 * Record mappings of a source. `read` names the result block's values (node ids, registers) that
 * are read together once the trigger fires; `handshake` acknowledges each result to the device
 * once its record is durable.
 */
function recordMappings<R extends z.ZodType, H extends z.ZodType, T extends z.ZodType>(
  readAddress: R,
  handshake: H,
  resultTrigger: T,
) {
  const common = {
    trigger: resultTrigger,
    read: z.record(name, readAddress).optional(),
    handshake: handshake.optional(),
    tables: lookupTables,
  };
  return z
    .array(
      z.discriminatedUnion('kind', [
        z.strictObject(
          { kind: z.literal('calibration'), ...common, fields: calibrationFields },
          sequenceOnlyInEvents,
        ),
        z.strictObject(
          { kind: z.literal('inspection'), ...common, fields: inspectionFields },
          sequenceOnlyInEvents,
        ),
      ]),
    )
    .max(100)
    .optional();
}

/**
 * A JSON path into a message's payload: `$.a.b`, `$.points[0].value`, `$['flow rate']`, and `[*]`
 * for every element of an array (the value is then an array).
 */
const jsonPath = z
  .string()
  .min(1)
  .max(512)
  .regex(/^\$/, 'must be a JSON path starting with $ (e.g. $.result.value, $.points[*].found)');

/**
 * Record mappings of an MQTT source: each message on a topic the mapping's `trigger.message`
 * filter matches is one result; `read` names values at JSON paths of its payload.
 */
const mqttRecordMappings = (() => {
  const common = {
    trigger: z.strictObject({ message: z.string().min(1).max(256) }, sequenceOnlyInEvents),
    read: z.record(name, jsonPath).optional(),
    /** Identifies a message, so one re-sent (its acknowledgement was lost) gives no second record. */
    id: mapped.optional(),
    tables: lookupTables,
  };
  return z
    .array(
      z.discriminatedUnion('kind', [
        z.strictObject(
          { kind: z.literal('calibration'), ...common, fields: calibrationFields },
          sequenceOnlyInEvents,
        ),
        z.strictObject(
          { kind: z.literal('inspection'), ...common, fields: inspectionFields },
          sequenceOnlyInEvents,
        ),
        z.strictObject({ kind: z.literal('usage'), ...common, fields: usageFields }, sequenceOnlyInEvents),
      ]),
    )
    .max(100)
    .optional();
})();

const modbusRegister = z.strictObject({
  address: z.number().int().min(0).max(65535),
  type: z.enum(['int16', 'uint16', 'int32', 'uint32', 'float32', 'float64', 'bool', 'string']),
  area: z.enum(['holding', 'input', 'coil', 'discrete']).default('holding'),
  unitId: z.number().int().min(0).max(247).optional(),
  length: z.number().int().min(1).max(64).optional(),
  wordOrder: z.enum(['big', 'little']).optional(),
  byteOrder: z.enum(['big', 'little']).optional(),
  scale: z.number().optional(),
  offset: z.number().optional(),
  /** A repeated group: this many values, `stride` registers apart; the value is an array. */
  repeat: z.number().int().min(1).max(200).optional(),
  stride: z.number().int().min(1).max(1000).optional(),
});

/** Modbus acknowledge: write `value` (default: the trigger's value) to a holding register or a coil. */
const modbusHandshake = z.strictObject({
  address: z.number().int().min(0).max(65535),
  area: z.enum(['holding', 'coil']).default('holding'),
  unitId: z.number().int().min(0).max(247).optional(),
  value: mapped.optional(),
  failValue: mapped.optional(),
});

/**
 * OPC UA acknowledge: write `value` (default: the trigger's value) to a node, or (Alarms &
 * Conditions, with an event trigger) call the condition's Acknowledge method with the event's
 * EventId and `comment` (`failComment` for a result that could not be mapped), and with
 * `confirmCondition` its Confirm method after it (a condition with a ConfirmedState).
 */
const opcuaHandshake = z.union(
  [
    z.strictObject({
      node: z.string().min(1).max(512),
      value: mapped.optional(),
      failValue: mapped.optional(),
    }),
    z.strictObject({
      acknowledgeCondition: z.literal(true),
      confirmCondition: z.boolean().optional(),
      comment: mapped.optional(),
      failComment: mapped.optional(),
    }),
  ],
  {
    error:
      "must be { node, value?, failValue? } (write the acknowledge to a node) or { acknowledgeCondition: true, confirmCondition?, comment?, failComment? } (call the condition's Acknowledge, and Confirm)",
  },
);

/** A coded value as written in the file: a number (state 1) or a text the device sends (AUTO). */
const signalCode = z.union([z.number(), z.string().min(1).max(64)]);
const word = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[^\p{Cc}]+$/u, 'must be 1..64 characters without control characters');

/**
 * The source's signal dictionary (CONFIG.md, "Signal dictionary"): per signal name (a point or
 * item, or a test point or characteristic name of its inspections), what people call it, its
 * unit as people write it, the words for its coded values, and when it means something. Sent to
 * the cloud with the telemetry; the portal names signals with it.
 */
const signalDictionary = z
  .record(
    name,
    z.strictObject({
      label: word.optional(),
      unit: word.max(16).optional(),
      codes: z
        .record(z.string().min(1).max(64), word)
        .refine((c) => Object.keys(c).length >= 1 && Object.keys(c).length <= 64, 'must have 1..64 codes')
        .optional(),
      when: z.strictObject({ signal: name, codes: z.array(signalCode).min(1).max(64) }).optional(),
    }),
  )
  .refine((d) => Object.keys(d).length <= 500, 'must have at most 500 signals')
  .refine(
    (d) => Buffer.byteLength(JSON.stringify(d)) <= 32 * 1024,
    'must be at most 32 KiB as JSON (it travels inside a telemetry record)',
  );

const modbusSource = z.strictObject({
  id: name,
  protocol: z.literal('modbus'),
  equipment: assetTag,
  host,
  port,
  unitId: z.number().int().min(0).max(247).default(1),
  intervalMs: z.number().int().min(10).max(3_600_000).default(1000),
  timeoutMs: z.number().int().min(10).max(60_000).default(1000),
  points: z.array(modbusPoint).min(1).max(10_000),
  telemetry: z
    .strictObject({
      points: z.array(name).min(1).optional(),
      everyMs: z.number().int().min(100).max(86_400_000).default(1000),
    })
    .optional(),
  signals: signalDictionary.optional(),
  usage: usageMapping.optional(),
  records: recordMappings(modbusRegister, modbusHandshake, trigger),
});

const topicFilter = z.string().min(1).max(256);

/** The edge's own MQTT broker, for stations and gauges that publish (per-device credentials and ACLs). */
const mqttBrokerSource = z.strictObject({
  id: name,
  protocol: z.literal('mqtt-broker'),
  host: host.default('0.0.0.0'),
  port: z.number().int().min(0).max(65535),
  maxPayloadBytes: z
    .number()
    .int()
    .min(1024)
    .max(16 * 1024 * 1024)
    .default(256 * 1024),
  maxConnections: z.number().int().min(1).max(100_000).default(1000),
  devices: z
    .array(
      z.strictObject({
        username: z.string().min(1).max(128),
        passwordHash: z
          .string()
          .regex(/^\$argon2id\$/, 'must be an argon2id hash (rigtrace-edge hash-password)'),
        publish: z.array(topicFilter).min(1),
        subscribe: z.array(topicFilter).default([]),
      }),
    )
    .min(1),
  /** The dictionary of the stations and gauges this source speaks for (CONFIG.md, "Signal dictionary"). */
  signals: signalDictionary.optional(),
  records: mqttRecordMappings,
});

/** A subscription to an external (plant) broker: QoS 1, persistent session. */
const mqttClientSource = z.strictObject({
  id: name,
  protocol: z.literal('mqtt'),
  url: z.url({ protocol: /^mqtts?$/ }),
  clientId: z.string().min(1).max(128),
  username: z.string().min(1).max(128).optional(),
  /** Read from this environment variable, so the secret stays out of the file. */
  passwordEnv: z
    .string()
    .regex(/^[A-Z_][A-Z0-9_]*$/)
    .optional(),
  caFile: z.string().optional(),
  certFile: z.string().optional(),
  keyFile: z.string().optional(),
  topics: z
    .array(z.strictObject({ filter: topicFilter, qos: z.union([z.literal(0), z.literal(1)]).default(1) }))
    .min(1),
  /** The dictionary of the stations and gauges this source speaks for (CONFIG.md, "Signal dictionary"). */
  signals: signalDictionary.optional(),
  records: mqttRecordMappings,
});

const nodeId = z.string().min(1).max(512);

/** Node ids of a calibration result block (a bench's "last calibration"), read in one Read when the trigger changes. */
const calibrationNodes = z.strictObject({
  equipment: nodeId,
  pointNames: nodeId,
  nominals: nodeId,
  asFound: nodeId,
  asLeft: nodeId.optional(),
  lowerTolerance: nodeId,
  upperTolerance: nodeId,
  unit: nodeId,
  adjusted: nodeId.optional(),
  completedAt: nodeId.optional(),
  procedure: nodeId.optional(),
  technician: nodeId.optional(),
  certificate: nodeId.optional(),
  standardId: nodeId.optional(),
  standardCertificate: nodeId.optional(),
  standardDueDate: nodeId.optional(),
  standardUncertainty: nodeId.optional(),
  nextDue: nodeId.optional(),
  temperatureC: nodeId.optional(),
  humidityPct: nodeId.optional(),
});

/**
 * An OPC UA event trigger: each event of `type` (an EventType node id, or a subtype of it) that
 * `node` (default the Server object, i=2253) notifies is one result; `where` keeps only events
 * whose field equals a value; `select` names further event fields (browse paths such as
 * `1:AsFound` or `1:Result.1:Value`) to give the mapping, as `event.AsFound`.
 */
const opcuaEventTrigger = z.strictObject({
  event: z.strictObject({
    type: nodeId,
    node: nodeId.default('i=2253'),
    where: z
      .strictObject({
        field: z.string().min(1).max(256),
        equals: z.union([z.string().max(256), z.number(), z.boolean()]),
      })
      .optional(),
    select: z
      .array(
        z
          .string()
          .min(1)
          .max(256)
          .regex(
            /^(\d+:)?[^.:\s][^.:]*(\.(\d+:)?[^.:\s][^.:]*)*$/,
            'must be a browse path of the event type: Name, 1:Name or 1:Parent.1:Name',
          ),
      )
      .max(50)
      .optional(),
    /**
     * The result's number, an expression over the event's fields (`=event.Sequence`): a number
     * already taken gives no second record, a jump a RESULTS_MISSED event, a step back a
     * RESULT_COUNTER_RESET one, as a counter trigger's value. Absent: results told apart by EventId only.
     */
    sequence: mapped.optional(),
  }),
});

/** What makes a new result on an OPC UA source: a counter, a rising flag, or an event. */
const opcuaTrigger = z.union([
  z.strictObject({ counter: name }, sequenceOnlyInEvents),
  z.strictObject({ rising: name }, sequenceOnlyInEvents),
  opcuaEventTrigger,
]);

/** An OPC UA server (test bench): subscriptions (never polling), trust list for secure modes. */
const opcuaSource = z.strictObject({
  id: name,
  protocol: z.literal('opcua'),
  equipment: assetTag,
  endpointUrl: z.string().regex(/^opc\.tcp:\/\/[^\s]+$/, 'must be an opc.tcp:// URL'),
  securityMode: z.enum(['None', 'Sign', 'SignAndEncrypt']).default('None'),
  securityPolicy: z
    .enum(['None', 'Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss'])
    .default('None'),
  username: z.string().min(1).max(128).optional(),
  passwordEnv: z
    .string()
    .regex(/^[A-Z_][A-Z0-9_]*$/)
    .optional(),
  /** Client certificate store; default <edge.dataDir>/pki/<id>. */
  pkiDir: z.string().optional(),
  trustedServerCertificates: z.array(z.string()).default([]),
  publishingIntervalMs: z.number().int().min(10).max(60_000).default(500),
  /** Per request (connect, session, Read, Write): no answer within it is a timeout. */
  timeoutMs: z.number().int().min(100).max(600_000).default(10_000),
  items: z
    .array(
      z.strictObject({
        name,
        nodeId,
        samplingIntervalMs: z.number().int().min(0).max(3_600_000).optional(),
        deadband: z
          .strictObject({ type: z.enum(['absolute', 'percent']), value: z.number().min(0) })
          .optional(),
        unit: z.string().max(16).optional(),
      }),
    )
    .min(1)
    .max(20_000),
  telemetry: z
    .strictObject({
      items: z.array(name).min(1).optional(),
      everyMs: z.number().int().min(100).default(1000),
    })
    .optional(),
  signals: signalDictionary.optional(),
  records: recordMappings(nodeId, opcuaHandshake, opcuaTrigger),
});

/**
 * The older OPC UA `calibration:` block. Accepted and translated into a `records` entry at load
 * (mapping/legacy-blocks.ts).
 */
export const legacyCalibration = z.strictObject({ trigger: name, nodes: calibrationNodes });

export const source = z.discriminatedUnion('protocol', [
  modbusSource,
  mqttBrokerSource,
  mqttClientSource,
  opcuaSource,
]);

export const edgeConfigSchema = z.strictObject({
  version: z.literal(1),
  edge: z
    .strictObject({
      dataDir: z.string().min(1).default('./data/edge'),
      name: z.string().min(1).max(128).default('edge'),
    })
    .prefault({}),
  cloud: z.strictObject({
    url: z.url({ protocol: /^https?$/ }),
    allowInsecureHttp: z.boolean().default(false),
    batchSize: z.number().int().min(1).max(1000).default(500),
    timeoutMs: z.number().int().min(100).max(120_000).default(10_000),
    maxRecordsPerSecond: z.number().int().min(10).max(1_000_000).default(5000),
    retry: z
      .strictObject({
        initialMs: z.number().int().min(10).default(500),
        maxMs: z.number().int().min(100).default(60_000),
      })
      .prefault({}),
  }),
  buffer: z
    .strictObject({
      commitIntervalMs: z.number().int().min(0).max(10_000).default(0),
      quotaMb: z.number().min(0.01).max(1_000_000).default(1024),
      telemetryDownsample: z.number().int().min(2).max(1000).default(10),
    })
    .prefault({}),
  status: z
    .strictObject({
      host: host.default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(0),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .prefault({}),
  sources: z.array(source).max(500).default([]),
});

export type EdgeConfig = z.output<typeof edgeConfigSchema>;
export type SourceConfig = EdgeConfig['sources'][number];
export type ModbusSourceConfig = Extract<SourceConfig, { protocol: 'modbus' }>;
export type MqttBrokerSourceConfig = Extract<SourceConfig, { protocol: 'mqtt-broker' }>;
export type MqttClientSourceConfig = Extract<SourceConfig, { protocol: 'mqtt' }>;
export type OpcuaSourceConfig = Extract<SourceConfig, { protocol: 'opcua' }>;
export type SignalDictionaryConfig = z.output<typeof signalDictionary>;
export type InspectionMapping = z.output<typeof inspectionMapping>;
export type UsageMapping = z.output<typeof usageMapping>;
export type RecordMapping = NonNullable<ModbusSourceConfig['records'] | OpcuaSourceConfig['records']>[number];
export type ModbusRecordMapping = NonNullable<ModbusSourceConfig['records']>[number];
export type OpcuaRecordMapping = NonNullable<OpcuaSourceConfig['records']>[number];
export type MqttRecordMapping = NonNullable<MqttClientSourceConfig['records']>[number];
/** Any record mapping, whatever its protocol (the fields are written the same way). */
export type AnyRecordMapping = RecordMapping | MqttRecordMapping;
export type UsageFieldsMapping = z.output<typeof usageFields>;
export type CalibrationFieldsMapping = z.output<typeof calibrationFields>;
export type InspectionFieldsMapping = z.output<typeof inspectionFields>;
export type ModbusRegisterSpec = z.output<typeof modbusRegister>;
