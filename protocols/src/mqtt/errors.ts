export interface ConfigProblem {
  path: string;
  message: string;
}

/** Invalid EmbeddedBroker or MqttSubscriber options: every problem listed, path by path. */
export class MqttConfigError extends Error {
  override readonly name = 'MqttConfigError';
  readonly code = 'MQTT_CONFIG_INVALID';
  constructor(readonly problems: ConfigProblem[]) {
    super(`invalid MQTT options: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  }
}
