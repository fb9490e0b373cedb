import type { ConfigProblem } from './errors.js';
import { argon2idParams } from './password.js';
import { topicFilterProblem, utf8StringProblem } from './topics.js';
import type { EmbeddedBrokerOptions, MqttClientOptions } from './types.js';

export const BROKER_DEFAULTS = Object.freeze({
  maxPayloadBytes: 256 * 1024,
  maxConnections: 1000,
});

export const SUBSCRIBER_DEFAULTS = Object.freeze({
  reconnect: Object.freeze({ initialMs: 500, maxMs: 30_000 }),
  keepaliveSeconds: 30,
});

/** MQTT's largest remaining length. */
const MAX_REMAINING_LENGTH = 268_435_455;

const isInt = (v: unknown, lo: number, hi: number): boolean =>
  typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function checkLogger(logger: unknown, problems: ConfigProblem[]): void {
  if (logger === undefined) return;
  if (
    !isObject(logger) ||
    typeof logger.info !== 'function' ||
    typeof logger.warn !== 'function' ||
    typeof logger.error !== 'function'
  )
    problems.push({ path: 'logger', message: 'must have info, warn and error functions' });
}

function checkFilters(list: unknown, path: string, problems: ConfigProblem[], publish: boolean): void {
  if (!Array.isArray(list)) {
    problems.push({ path, message: 'must be an array of topic filters' });
    return;
  }
  list.forEach((f: unknown, i) => {
    if (typeof f !== 'string') {
      problems.push({ path: `${path}[${i}]`, message: 'must be a string' });
      return;
    }
    const problem = topicFilterProblem(f);
    if (problem) problems.push({ path: `${path}[${i}]`, message: problem });
    else if (publish && f.startsWith('$'))
      problems.push({ path: `${path}[${i}]`, message: 'devices never publish to $ topics' });
  });
}

/** Every problem of the embedded broker's options, path by path (empty when valid). */
export function brokerOptionProblems(opts: EmbeddedBrokerOptions): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (!isObject(opts)) return [{ path: '', message: 'must be an object' }];
  if (typeof opts.host !== 'string' || opts.host.trim() === '')
    problems.push({ path: 'host', message: 'must be a non-empty string' });
  if (!isInt(opts.port, 0, 65535)) problems.push({ path: 'port', message: 'must be an integer 0..65535' });
  if (typeof opts.onMessage !== 'function')
    problems.push({ path: 'onMessage', message: 'must be a function' });
  if (opts.maxPayloadBytes !== undefined && !isInt(opts.maxPayloadBytes, 1, MAX_REMAINING_LENGTH))
    problems.push({ path: 'maxPayloadBytes', message: `must be an integer 1..${MAX_REMAINING_LENGTH}` });
  if (opts.maxConnections !== undefined && !isInt(opts.maxConnections, 1, 1_000_000))
    problems.push({ path: 'maxConnections', message: 'must be an integer 1..1000000' });
  checkLogger(opts.logger, problems);
  if (!Array.isArray(opts.devices)) {
    problems.push({ path: 'devices', message: 'must be an array' });
    return problems;
  }
  const seen = new Set<string>();
  opts.devices.forEach((d: unknown, i) => {
    const path = `devices[${i}]`;
    if (!isObject(d)) {
      problems.push({ path, message: 'must be an object' });
      return;
    }
    if (typeof d.username !== 'string' || d.username === '')
      problems.push({ path: `${path}.username`, message: 'must be a non-empty string' });
    else {
      const problem = utf8StringProblem(d.username);
      if (problem) problems.push({ path: `${path}.username`, message: problem });
      if (seen.has(d.username)) problems.push({ path: `${path}.username`, message: 'is given twice' });
      seen.add(d.username);
    }
    if (typeof d.passwordHash !== 'string' || argon2idParams(d.passwordHash) === null)
      problems.push({
        path: `${path}.passwordHash`,
        message:
          'must be an argon2id encoded hash ($argon2id$v=19$m=..,t=..,p=..$salt$hash; see hashDevicePassword)',
      });
    checkFilters(d.publish, `${path}.publish`, problems, true);
    checkFilters(d.subscribe, `${path}.subscribe`, problems, false);
  });
  return problems;
}

/** Every problem of the subscriber's options, path by path (empty when valid). */
export function subscriberOptionProblems(opts: MqttClientOptions): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (!isObject(opts)) return [{ path: '', message: 'must be an object' }];
  let url: URL | undefined;
  try {
    url = new URL(String(opts.url));
  } catch {
    problems.push({ path: 'url', message: 'must be a URL like mqtt://host:1883 or mqtts://host:8883' });
  }
  if (url && url.protocol !== 'mqtt:' && url.protocol !== 'mqtts:')
    problems.push({ path: 'url', message: 'scheme must be mqtt: or mqtts:' });
  if (url && url.hostname === '') problems.push({ path: 'url', message: 'must name a host' });
  if (typeof opts.clientId !== 'string' || opts.clientId === '' || opts.clientId.length > 128)
    problems.push({
      path: 'clientId',
      message: 'must be 1..128 characters (a stable id: the broker keeps our session under it)',
    });
  else {
    const problem = utf8StringProblem(opts.clientId);
    if (problem) problems.push({ path: 'clientId', message: problem });
  }
  for (const key of ['username', 'password', 'ca', 'cert', 'key'] as const) {
    if (opts[key] !== undefined && typeof opts[key] !== 'string')
      problems.push({ path: key, message: 'must be a string' });
  }
  if (opts.password !== undefined && opts.username === undefined)
    problems.push({
      path: 'password',
      message: 'needs a username (MQTT 3.1.1 has no password without user name)',
    });
  if ((opts.cert === undefined) !== (opts.key === undefined))
    problems.push({ path: opts.cert === undefined ? 'cert' : 'key', message: 'cert and key go together' });
  if ((opts.ca !== undefined || opts.cert !== undefined) && url?.protocol === 'mqtt:')
    problems.push({ path: 'url', message: 'must be mqtts: when ca, cert or key are given' });
  if (!Array.isArray(opts.topics) || opts.topics.length === 0)
    problems.push({ path: 'topics', message: 'must list at least one topic filter' });
  else
    opts.topics.forEach((t: unknown, i) => {
      if (!isObject(t)) {
        problems.push({ path: `topics[${i}]`, message: 'must be { filter, qos }' });
        return;
      }
      const problem = typeof t.filter === 'string' ? topicFilterProblem(t.filter) : 'must be a string';
      if (problem) problems.push({ path: `topics[${i}].filter`, message: problem });
      if (t.qos !== 0 && t.qos !== 1) problems.push({ path: `topics[${i}].qos`, message: 'must be 0 or 1' });
    });
  if (opts.reconnect !== undefined) {
    const r = opts.reconnect as unknown;
    if (!isObject(r) || !isInt(r.initialMs, 10, 3_600_000) || !isInt(r.maxMs, 10, 3_600_000))
      problems.push({ path: 'reconnect', message: 'must be { initialMs, maxMs }, integers 10..3600000' });
    else if ((r.maxMs as number) < (r.initialMs as number))
      problems.push({ path: 'reconnect.maxMs', message: 'must not be less than initialMs' });
  }
  if (opts.keepaliveSeconds !== undefined && !isInt(opts.keepaliveSeconds, 1, 65535))
    problems.push({ path: 'keepaliveSeconds', message: 'must be an integer 1..65535' });
  if (typeof opts.onMessage !== 'function')
    problems.push({ path: 'onMessage', message: 'must be a function' });
  checkLogger(opts.logger, problems);
  return problems;
}
