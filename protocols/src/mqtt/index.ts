/**
 * MQTT adapter: an embedded aedes broker for inspection stations and hand gauges (per-device argon2id
 * credentials, topic ACLs, MQTT 3.1.1 hardening, acknowledge-after-durable), a subscriber for an
 * external broker (persistent session, ack after handling, reconnect with backoff), and the station
 * payloads and topic convention (see station.ts and README.md).
 */
export type {
  BrokerStats,
  DeviceCredential,
  EmbeddedBrokerOptions,
  InboundMessage,
  RefusedMessage,
  MqttClientOptions,
  MqttLogger,
  MqttSubscriberStats,
} from './types.js';
export { EmbeddedBroker, type DeviceEvent, type EmbeddedBrokerEvents } from './broker.js';
export { MqttSubscriber, type MqttSubscriberEvents } from './subscriber.js';
export {
  argon2idParams,
  DEVICE_PASSWORD_HASH_OPTIONS,
  hashDevicePassword,
  type Argon2Params,
} from './password.js';
export { MqttConfigError, type ConfigProblem } from './errors.js';
export {
  BROKER_DEFAULTS,
  SUBSCRIBER_DEFAULTS,
  brokerOptionProblems,
  subscriberOptionProblems,
} from './validate.js';
export {
  filterCovers,
  isValidTopicFilter,
  isValidTopicName,
  topicFilterProblem,
  topicMatches,
  topicNameProblem,
} from './topics.js';
export {
  controlTopic,
  equipmentProblem,
  errorReplyPayload,
  errorReplyTopic,
  inspectionPayloadSchema,
  MAX_REPLY_PROBLEMS,
  MAX_STATION_PAYLOAD_BYTES,
  parseStationMessage,
  parseStationTopic,
  peekMessageId,
  siteProblem,
  STATION_KINDS,
  STATION_TOPIC_ROOT,
  stationTopic,
  usagePayloadSchema,
  type ErrorReply,
  type InspectionPayload,
  type StationKind,
  type StationMessage,
  type StationParseResult,
  type StationProblem,
  type StationTopicKind,
  type UsagePayload,
} from './station.js';
