/** OPC UA data model shared by the validator, the value conversion and the subscriber. */

export type OpcuaSecurityMode = 'None' | 'Sign' | 'SignAndEncrypt';
export type OpcuaSecurityPolicy =
  'None' | 'Basic256Sha256' | 'Aes128_Sha256_RsaOaep' | 'Aes256_Sha256_RsaPss';

/** One value to subscribe to. */
export interface OpcuaItemSpec {
  /** Unique within a source. */
  name: string;
  /** e.g. `ns=1;s=Bench.Live.OilTemperature`, `i=2258`, `nsu=urn:…;s=…`. */
  nodeId: string;
  /** Requested sampling interval; default = the publishing interval. 0 = as fast as the server can. */
  samplingIntervalMs?: number;
  /** Data-change filter: report only changes larger than this (percent needs an EURange on the node). */
  deadband?: { type: 'absolute' | 'percent'; value: number };
  /** Server-side queue; default = enough for every sample of one publishing interval. */
  queueSize?: number;
}

/**
 * Events of one node to subscribe to: a monitored item on the node's EventNotifier with an
 * EventFilter that keeps only events of `eventTypeId` (or a subtype of it) and, optionally, those
 * whose field `where.field` equals `where.equals`.
 */
export interface OpcuaEventSpec {
  /** Unique within a source. */
  name: string;
  /** The node whose events are monitored, e.g. `i=2253` (the Server object: every event). */
  nodeId: string;
  /** e.g. `ns=1;i=1001` or `nsu=urn:…;s=CalibrationCompletedEventType`. */
  eventTypeId: string;
  /**
   * Fields returned with each event, as browse paths from the event type: `Message`,
   * `SourceName`, `1:AsFound`, `1:Result/1:Value` (a namespace index before a colon).
   */
  select: string[];
  where?: { field: string; equals: string | number | boolean };
  /** Server-side queue of events (kept while the connection is cut). Default 1000. */
  queueSize?: number;
  /**
   * Alarms & Conditions: once the events are monitored (each new subscription, and after a
   * reconnection), call ConditionRefresh so the server announces again every condition it
   * retains (one waiting for its Acknowledge, with its current EventId). Select `ConditionId`
   * to have each event's condition NodeId.
   */
  conditionRefresh?: boolean;
}

/** One event as received: the values of its `select` fields, by their browse path. */
export interface OpcuaEvent {
  name: string;
  fields: Record<string, OpcuaValueData>;
}

export interface OpcuaLogger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
  debug?(o: object, msg?: string): void;
}

export interface OpcuaSourceOptions {
  endpointUrl: string;
  securityMode: OpcuaSecurityMode;
  securityPolicy: OpcuaSecurityPolicy;
  /** Anonymous when absent. */
  user?: { username: string; password: string };
  /** Client certificate store (created if missing); required for Sign/SignAndEncrypt. */
  pkiDir?: string;
  /**
   * PEM/DER files of server certificates to trust (added to pkiDir's trust list at start). A
   * server whose certificate is not trusted is refused: nothing is ever trusted automatically.
   */
  trustedServerCertificates?: string[];
  items: OpcuaItemSpec[];
  /** Events to subscribe to besides the items (emitted as 'event'). */
  events?: OpcuaEventSpec[];
  /** Default 500. */
  publishingIntervalMs?: number;
  /**
   * No notification (data or keep-alive) for this long while connected: the subscription is
   * considered dead and is re-created. Default max(10 s, 4 × publishing interval).
   */
  watchdogMs?: number;
  /** Connecting, creating the session and each request. Default 10000. */
  connectTimeoutMs?: number;
  /** Exponential backoff with jitter between connection attempts (default 500 / 30000). */
  reconnect?: { initialMs: number; maxMs: number };
  logger?: OpcuaLogger;
}

export type OpcuaScalar = number | boolean | string;
export type OpcuaValueData = OpcuaScalar | number[] | string[] | boolean[] | null;

export interface OpcuaStatus {
  /** Symbolic name of the code without its info bits, e.g. `Good`, `BadSensorFailure`. */
  name: string;
  /** The full 32-bit StatusCode, info bits included. */
  value: number;
  /** Severity Good (the top two bits are 00). */
  good: boolean;
}

export interface OpcuaValue {
  name: string;
  nodeId: string;
  value: OpcuaValueData;
  statusCode: OpcuaStatus;
  /** RFC 3339, UTC; null when the server sent none. */
  sourceTimestamp: string | null;
  serverTimestamp: string | null;
  /** InfoType DataValue with the Overflow bit: the server's queue for this item dropped values. */
  overflow: boolean;
}

export interface OpcuaStats {
  connected: boolean;
  /** Sessions created (first one, re-creations after a server restart or a lost session, rebuilds). */
  sessions: number;
  /** Subscriptions created, by us or by node-opcua's reconnection (a transfer is not a creation). */
  subscriptionsCreated: number;
  /** Items monitored on the server right now (created with a Good result). */
  itemsMonitored: number;
  /** Event subscriptions (`events`) the server accepted, when there are any. */
  eventsMonitored?: number;
  /** Data values received. */
  notifications: number;
  /** Values that carried the overflow bit. */
  overflows: number;
  /** Values (and item creation results) whose status was not Good: one per 'status' event. */
  badStatus: number;
  /** Connections restored after a loss (by node-opcua's reconnection or a rebuild). */
  reconnects: number;
  watchdogFires: number;
  /** Requests (connect, create session, Read, Write) without an answer within connectTimeoutMs. */
  timeouts: number;
  /**
   * Requests that failed otherwise (a service fault, a refused session) and operations the server
   * answered with a Bad status (a node of a Read, a Write).
   */
  exceptions: number;
  lastError?: string;
}

export interface OpcuaSubscriberEvents {
  value: [value: OpcuaValue];
  status: [value: OpcuaValue];
  connected: [];
  disconnected: [reason: string];
  resubscribed: [info: { items: number }];
  event: [event: OpcuaEvent];
}
