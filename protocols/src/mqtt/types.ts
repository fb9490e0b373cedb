/** MQTT adapter data model shared by the embedded broker and the external-broker subscriber. */

export interface MqttLogger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
  debug?(o: object, msg?: string): void;
}

/** One device (inspection station, hand gauge) allowed to connect to the embedded broker. */
export interface DeviceCredential {
  /** MQTT user name, unique among the devices. */
  username: string;
  /** argon2id encoded hash (hashDevicePassword), never the password itself. */
  passwordHash: string;
  /** Topic filters the device may publish to (its will topic included). Topics starting with "$" never. */
  publish: string[];
  /** Topic filters the device may subscribe to; a requested filter must be covered by one of them. */
  subscribe: string[];
}

/** One application message received from a device or from an external broker. */
export interface InboundMessage {
  clientId: string;
  /** The authenticated device (embedded broker) or the user name we connected with (subscriber). */
  username: string | null;
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  retain: boolean;
  /** When the PUBLISH packet arrived (before onMessage was called). */
  receivedAt: Date;
}

/** A PUBLISH the embedded broker acknowledged and dropped instead of handing it to onMessage. */
export interface RefusedMessage extends InboundMessage {
  reason: 'acl' | 'size';
  /** Payload size as sent (the payload itself is empty when reason is 'size'). */
  bytes: number;
}

export interface EmbeddedBrokerOptions {
  /** Address to listen on. */
  host: string;
  /** TCP port; 0 = any free port (start() returns the real one). */
  port: number;
  /** No anonymous access: only these devices can connect. */
  devices: DeviceCredential[];
  /**
   * Awaited BEFORE the broker acknowledges a QoS 1/2 PUBLISH: the edge writes the record durably here,
   * so a device's message is acknowledged only once it is durable. If it throws, the message is not
   * acknowledged and the client is disconnected (it will resend). Calls are serialized per connection,
   * in the order the packets arrived. Will messages come through here too (retain/qos of the will).
   */
  onMessage: (msg: InboundMessage) => Promise<void>;
  /**
   * Awaited before a refused PUBLISH is acknowledged and dropped: its topic is outside the device's
   * publish ACL, or its payload is larger than maxPayloadBytes (then `payload` is empty: the body is
   * skipped without being buffered). Serialized with onMessage, in arrival order. If it throws, the
   * message is not acknowledged and the client is disconnected, as for onMessage. A device is never
   * disconnected for a refused message, so it cannot stall re-sending it.
   */
  onRefused?: (msg: RefusedMessage) => Promise<void>;
  /** Largest application payload, default 256 KiB; a larger PUBLISH is acknowledged and dropped (counted, onRefused). */
  maxPayloadBytes?: number;
  /** Authenticated clients at once (default 1000); beyond it CONNACK 3 (server unavailable). */
  maxConnections?: number;
  logger?: MqttLogger;
}

export interface BrokerStats {
  /** Authenticated clients connected now. */
  clients: number;
  /** Successful CONNECTs (CONNACK 0). */
  connects: number;
  /** CONNECTs refused with CONNACK 5: unknown user, bad or missing password. */
  authFailures: number;
  /** Refused by the topic ACLs: PUBLISH (acknowledged and dropped), SUBSCRIBE (SUBACK 0x80), will (CONNACK 5), session of another device (CONNACK 2), forwarding. */
  aclDenied: number;
  /** PUBLISH packets (and wills) handed to onMessage. */
  messagesIn: number;
  /** QoS 1/2 messages whose onMessage resolved, so they were acknowledged. */
  messagesAcked: number;
  /** onMessage rejected: not acknowledged, client disconnected. */
  handlerFailures: number;
  /** Packets refused for their size: a PUBLISH over maxPayloadBytes (acknowledged and dropped), another packet longer than any PUBLISH within the limit, or a PUBLISH announcing more than 16 MiB (connection closed). */
  oversized: number;
  /** PUBLISH packets acknowledged and dropped (ACL or size), each handed to onRefused. */
  messagesRefused: number;
  /** CONNECTs answered CONNACK 1: a protocol level other than 3 (MQTT 3.1) or 4 (3.1.1). */
  unsupportedProtocol: number;
  /** Connections closed for an MQTT 3.1.1 protocol violation (see README.md for the list). */
  protocolErrors: number;
  /** Connections refused because the broker was full (maxConnections) or too many password checks were queued. */
  connectionsRefused: number;
}

export interface MqttClientOptions {
  /** mqtt://host:port or mqtts://host:port. */
  url: string;
  /** Stable client id: the broker keeps our persistent session (subscriptions, unacknowledged messages) under it. */
  clientId: string;
  username?: string;
  password?: string;
  /** At least one; QoS 0 or 1. */
  topics: { filter: string; qos: 0 | 1 }[];
  /** PEM text (not a path) of the CA that signs the broker's certificate, for mqtts://. */
  ca?: string;
  /** PEM text of our client certificate and key, when the broker asks for one. */
  cert?: string;
  key?: string;
  /** Exponential backoff with equal jitter between connection attempts (default 500 / 30000). */
  reconnect?: { initialMs: number; maxMs: number };
  /** MQTT keep alive in seconds (default 30). */
  keepaliveSeconds?: number;
  /**
   * Awaited before a QoS 1 message is acknowledged (PUBACK). If it throws, the message is not
   * acknowledged, the connection is dropped and re-opened, and the broker redelivers it.
   */
  onMessage: (msg: InboundMessage) => Promise<void>;
  logger?: MqttLogger;
}

export interface MqttSubscriberStats {
  connected: boolean;
  /** Successful connections (CONNACK 0), reconnections included. */
  connects: number;
  /** Messages whose onMessage resolved. */
  messages: number;
  handlerFailures: number;
  lastError?: string;
}
