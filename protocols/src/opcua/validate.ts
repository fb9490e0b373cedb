import { existsSync, statSync } from 'node:fs';
import type { OpcuaConfigProblem } from './errors.js';
import type {
  OpcuaEventSpec,
  OpcuaItemSpec,
  OpcuaLogger,
  OpcuaSecurityMode,
  OpcuaSecurityPolicy,
  OpcuaSourceOptions,
} from './types.js';

export const SECURITY_MODES: readonly OpcuaSecurityMode[] = ['None', 'Sign', 'SignAndEncrypt'];
export const SECURITY_POLICIES: readonly OpcuaSecurityPolicy[] = [
  'None',
  'Basic256Sha256',
  'Aes128_Sha256_RsaOaep',
  'Aes256_Sha256_RsaPss',
];

export const OPCUA_DEFAULTS = {
  publishingIntervalMs: 500,
  /** watchdogMs = max(this, 4 × publishing interval) */
  minWatchdogMs: 10_000,
  connectTimeoutMs: 10_000,
  reconnect: { initialMs: 500, maxMs: 30_000 },
} as const;

const SOURCE_KEYS = new Set([
  'endpointUrl',
  'securityMode',
  'securityPolicy',
  'user',
  'pkiDir',
  'trustedServerCertificates',
  'items',
  'events',
  'publishingIntervalMs',
  'watchdogMs',
  'connectTimeoutMs',
  'reconnect',
  'logger',
]);
const ITEM_KEYS = new Set(['name', 'nodeId', 'samplingIntervalMs', 'deadband', 'queueSize']);

/** ns=<n>; or nsu=<uri>; then i=, s=, g= or b= (OPC 10000-6 §5.3.1.10). */
const NODE_ID =
  /^(?:(?:ns=\d+|nsu=[^;]+);)?(?:i=\d+|s=.+|g=[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|b=[A-Za-z0-9+/]+={0,2})$/su;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isInt(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

function isNum(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || typeof v !== 'object') return String(v);
  return Array.isArray(v) ? 'an array' : 'an object';
}

export function isNodeId(text: string): boolean {
  return NODE_ID.test(text);
}

/** Options with every default applied, as the subscriber uses them. */
export interface ResolvedOpcuaOptions extends OpcuaSourceOptions {
  items: (OpcuaItemSpec & { samplingIntervalMs: number; queueSize: number })[];
  publishingIntervalMs: number;
  watchdogMs: number;
  connectTimeoutMs: number;
  reconnect: { initialMs: number; maxMs: number };
}

/**
 * Checks OpcuaSourceOptions, listing every problem with its path ("items[2].deadband.value"), and
 * returns them with the defaults applied. Unknown fields are problems (they are usually typos).
 */
export function validateOpcuaOptions(
  raw: unknown,
): { ok: true; options: ResolvedOpcuaOptions } | { ok: false; problems: OpcuaConfigProblem[] } {
  if (!isRecord(raw)) return { ok: false, problems: [{ path: '', message: 'options must be an object' }] };
  const problems: OpcuaConfigProblem[] = [];
  const add = (path: string, message: string): void => {
    problems.push({ path, message });
  };
  for (const key of Object.keys(raw)) if (!SOURCE_KEYS.has(key)) add(key, 'unknown field');

  const {
    endpointUrl,
    securityMode,
    securityPolicy,
    user,
    pkiDir,
    trustedServerCertificates,
    items,
    events,
    publishingIntervalMs,
    watchdogMs,
    connectTimeoutMs,
    reconnect,
    logger,
  } = raw;

  if (typeof endpointUrl !== 'string' || !/^opc\.tcp:\/\//u.test(endpointUrl)) {
    add('endpointUrl', `must be an opc.tcp:// URL, got ${describe(endpointUrl)}`);
  } else {
    try {
      const url = new URL(endpointUrl);
      if (url.hostname === '') add('endpointUrl', 'has no host');
      if (url.port !== '' && !isInt(Number(url.port), 1, 65535)) add('endpointUrl', 'has an invalid port');
    } catch {
      add('endpointUrl', `is not a valid URL: ${endpointUrl}`);
    }
  }

  const modeOk =
    typeof securityMode === 'string' && (SECURITY_MODES as readonly string[]).includes(securityMode);
  if (!modeOk)
    add('securityMode', `must be one of ${SECURITY_MODES.join(', ')}, got ${describe(securityMode)}`);
  const policyOk =
    typeof securityPolicy === 'string' && (SECURITY_POLICIES as readonly string[]).includes(securityPolicy);
  if (!policyOk)
    add('securityPolicy', `must be one of ${SECURITY_POLICIES.join(', ')}, got ${describe(securityPolicy)}`);
  if (modeOk && policyOk) {
    if (securityMode === 'None' && securityPolicy !== 'None')
      add('securityPolicy', 'must be None when securityMode is None');
    if (securityMode !== 'None' && securityPolicy === 'None')
      add('securityPolicy', `must not be None when securityMode is ${String(securityMode)}`);
  }

  if (user !== undefined) {
    if (!isRecord(user)) add('user', 'must be an object { username, password }');
    else {
      for (const key of Object.keys(user))
        if (key !== 'username' && key !== 'password') add(`user.${key}`, 'unknown field');
      if (typeof user.username !== 'string' || user.username === '')
        add('user.username', 'must be a non-empty string');
      if (typeof user.password !== 'string') add('user.password', 'must be a string');
    }
  }

  if (pkiDir !== undefined && (typeof pkiDir !== 'string' || pkiDir.trim() === ''))
    add('pkiDir', 'must be a non-empty path');
  if (modeOk && securityMode !== 'None' && pkiDir === undefined)
    add(
      'pkiDir',
      `is required for securityMode ${String(securityMode)} (the client certificate lives there)`,
    );

  if (trustedServerCertificates !== undefined) {
    if (!Array.isArray(trustedServerCertificates))
      add('trustedServerCertificates', 'must be an array of file paths');
    else
      trustedServerCertificates.forEach((file: unknown, i) => {
        const at = `trustedServerCertificates[${i}]`;
        if (typeof file !== 'string' || file === '') add(at, 'must be a file path');
        else if (!existsSync(file) || !statSync(file).isFile()) add(at, `no such file: ${file}`);
      });
  }

  const pubOk = publishingIntervalMs === undefined || isNum(publishingIntervalMs, 10, 3_600_000);
  if (!pubOk)
    add('publishingIntervalMs', `must be a number 10..3600000, got ${describe(publishingIntervalMs)}`);
  const publishing: number =
    pubOk && typeof publishingIntervalMs === 'number'
      ? publishingIntervalMs
      : OPCUA_DEFAULTS.publishingIntervalMs;
  if (watchdogMs !== undefined) {
    if (!isInt(watchdogMs, 100, 86_400_000))
      add('watchdogMs', `must be an integer 100..86400000, got ${describe(watchdogMs)}`);
    else if (watchdogMs < 2 * publishing) add('watchdogMs', 'must be at least 2 × publishingIntervalMs');
  }
  if (connectTimeoutMs !== undefined && !isInt(connectTimeoutMs, 100, 600_000))
    add('connectTimeoutMs', `must be an integer 100..600000, got ${describe(connectTimeoutMs)}`);
  let backoff: { initialMs: number; maxMs: number } = { ...OPCUA_DEFAULTS.reconnect };
  if (reconnect !== undefined) {
    if (!isRecord(reconnect)) add('reconnect', 'must be an object { initialMs, maxMs }');
    else {
      const { initialMs, maxMs } = reconnect;
      for (const key of Object.keys(reconnect))
        if (key !== 'initialMs' && key !== 'maxMs') add(`reconnect.${key}`, 'unknown field');
      if (!isInt(initialMs, 1, 3_600_000)) add('reconnect.initialMs', 'must be an integer 1..3600000');
      if (!isInt(maxMs, 1, 3_600_000)) add('reconnect.maxMs', 'must be an integer 1..3600000');
      else if (isInt(initialMs, 1, 3_600_000) && maxMs < initialMs)
        add('reconnect.maxMs', 'must be >= reconnect.initialMs');
      backoff = { initialMs: initialMs as number, maxMs: maxMs as number };
    }
  }
  if (logger !== undefined) {
    const ok =
      isRecord(logger) &&
      typeof logger.info === 'function' &&
      typeof logger.warn === 'function' &&
      typeof logger.error === 'function';
    if (!ok) add('logger', 'must have info, warn and error functions');
  }

  const outItems: ResolvedOpcuaOptions['items'] = [];
  if (!Array.isArray(items)) add('items', `must be an array, got ${describe(items)}`);
  else {
    if (items.length === 0) add('items', 'must hold at least one item');
    const names = new Map<string, number>();
    items.forEach((item: unknown, i) => {
      const at = `items[${i}]`;
      if (!isRecord(item)) {
        add(at, `must be an object, got ${describe(item)}`);
        return;
      }
      const before = problems.length;
      for (const key of Object.keys(item)) if (!ITEM_KEYS.has(key)) add(`${at}.${key}`, 'unknown field');
      const { name, nodeId, samplingIntervalMs, deadband, queueSize } = item;
      if (typeof name !== 'string' || name.trim() === '') add(`${at}.name`, 'must be a non-empty string');
      else if (names.has(name))
        add(`${at}.name`, `duplicate name "${name}" (also items[${names.get(name)}])`);
      else names.set(name, i);
      if (typeof nodeId !== 'string' || !isNodeId(nodeId))
        add(`${at}.nodeId`, `must be a NodeId like ns=1;s=Name or i=2258, got ${describe(nodeId)}`);
      if (samplingIntervalMs !== undefined && !isNum(samplingIntervalMs, 0, 86_400_000))
        add(`${at}.samplingIntervalMs`, `must be a number 0..86400000, got ${describe(samplingIntervalMs)}`);
      if (deadband !== undefined) {
        if (!isRecord(deadband)) add(`${at}.deadband`, 'must be an object { type, value }');
        else {
          for (const key of Object.keys(deadband))
            if (key !== 'type' && key !== 'value') add(`${at}.deadband.${key}`, 'unknown field');
          if (deadband.type !== 'absolute' && deadband.type !== 'percent')
            add(`${at}.deadband.type`, `must be absolute or percent, got ${describe(deadband.type)}`);
          const max = deadband.type === 'percent' ? 100 : Number.MAX_VALUE;
          if (!isNum(deadband.value, 0, max))
            add(`${at}.deadband.value`, `must be a number 0..${deadband.type === 'percent' ? 100 : 'max'}`);
        }
      }
      if (queueSize !== undefined && !isInt(queueSize, 1, 10_000))
        add(`${at}.queueSize`, `must be an integer 1..10000, got ${describe(queueSize)}`);
      if (problems.length > before) return;
      const sampling = (samplingIntervalMs as number | undefined) ?? publishing;
      const spec: ResolvedOpcuaOptions['items'][number] = {
        name: name as string,
        nodeId: nodeId as string,
        samplingIntervalMs: sampling,
        // Enough for every sample of one publishing interval, so nothing is dropped between publishes.
        queueSize:
          (queueSize as number | undefined) ??
          (sampling > 0 ? Math.min(1000, Math.max(1, Math.ceil(publishing / sampling))) : 10),
      };
      if (deadband !== undefined) spec.deadband = deadband as NonNullable<OpcuaItemSpec['deadband']>;
      outItems.push(spec);
    });
  }
  const outEvents: OpcuaEventSpec[] = [];
  if (events !== undefined && !Array.isArray(events))
    add('events', `must be an array, got ${describe(events)}`);
  else if (Array.isArray(events)) {
    events.forEach((e: unknown, i) => {
      const at = `events[${i}]`;
      if (!isRecord(e)) {
        add(at, `must be an object, got ${describe(e)}`);
        return;
      }
      const { name, nodeId, eventTypeId, select, where, queueSize, conditionRefresh } = e;
      if (typeof name !== 'string' || name === '') add(`${at}.name`, 'must be a non-empty string');
      for (const [k, v] of [
        ['nodeId', nodeId],
        ['eventTypeId', eventTypeId],
      ] as const)
        if (typeof v !== 'string' || !isNodeId(v)) add(`${at}.${k}`, `must be a NodeId, got ${describe(v)}`);
      if (!Array.isArray(select) || select.some((f) => typeof f !== 'string' || f === ''))
        add(`${at}.select`, 'must be an array of browse paths');
      if (queueSize !== undefined && !isInt(queueSize, 1, 100_000))
        add(`${at}.queueSize`, 'must be an integer 1..100000');
      if (where !== undefined && (!isRecord(where) || typeof where.field !== 'string'))
        add(`${at}.where`, 'must be { field, equals }');
      if (conditionRefresh !== undefined && typeof conditionRefresh !== 'boolean')
        add(`${at}.conditionRefresh`, `must be true or false, got ${describe(conditionRefresh)}`);
      outEvents.push(e as unknown as OpcuaEventSpec);
    });
  }
  if (problems.length > 0) return { ok: false, problems };
  const options: ResolvedOpcuaOptions = {
    endpointUrl: endpointUrl as string,
    securityMode: securityMode as OpcuaSecurityMode,
    securityPolicy: securityPolicy as OpcuaSecurityPolicy,
    items: outItems,
    publishingIntervalMs: publishing,
    watchdogMs: (watchdogMs as number | undefined) ?? Math.max(OPCUA_DEFAULTS.minWatchdogMs, 4 * publishing),
    connectTimeoutMs: (connectTimeoutMs as number | undefined) ?? OPCUA_DEFAULTS.connectTimeoutMs,
    reconnect: backoff,
  };
  if (outEvents.length > 0) options.events = outEvents;
  if (user !== undefined) options.user = { ...(user as { username: string; password: string }) };
  if (pkiDir !== undefined) options.pkiDir = pkiDir as string;
  if (trustedServerCertificates !== undefined)
    options.trustedServerCertificates = [...(trustedServerCertificates as string[])];
  if (logger !== undefined) options.logger = logger as OpcuaLogger;
  return { ok: true, options };
}
