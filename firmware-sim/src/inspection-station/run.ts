import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { controlTopic, stationTopic } from '@rigtrace/protocols/mqtt';
import { createRng, mixSeed } from '../flow-rig/prng.js';
import { STATION_FAULTS, type StationConfig, type StationFault } from './config.js';
import { InspectionStationModel, type StationOutput } from './station-model.js';

/** The ways the garbage fault breaks an inspection payload, in the order they are used. */
export const GARBAGE_KINDS = [
  'truncated-json',
  'nan-literal',
  'wrong-types',
  'missing-fields',
  'huge-string',
  'unknown-field',
  'not-utf8',
  'empty',
] as const;
export type GarbageKind = (typeof GARBAGE_KINDS)[number];

/** Bytes that a strict reader must refuse, made from a valid inspection payload. */
export function garbagePayload(kind: GarbageKind, payload: Record<string, unknown>): Buffer {
  const text = JSON.stringify(payload);
  switch (kind) {
    case 'truncated-json':
      return Buffer.from(text.slice(0, Math.floor(text.length / 2)));
    case 'nan-literal':
      return Buffer.from(text.replace(/"measured":-?[0-9.eE+-]+/u, '"measured":NaN'));
    case 'wrong-types': {
      const cs = (payload.characteristics as Record<string, unknown>[] | undefined) ?? [];
      return Buffer.from(
        JSON.stringify({
          ...payload,
          partSerial: 12345,
          characteristics: cs.map((c) => ({ ...c, measured: String(c.measured) })),
        }),
      );
    }
    case 'missing-fields': {
      const { partSerial: _p, characteristics: _c, ...rest } = payload;
      return Buffer.from(JSON.stringify(rest));
    }
    case 'huge-string':
      return Buffer.from(JSON.stringify({ ...payload, operator: 'X'.repeat(5000) }));
    case 'unknown-field':
      return Buffer.from(JSON.stringify({ ...payload, temperatureF: 99.1 }));
    case 'not-utf8':
      return Buffer.from([0xff, 0xfe, 0x7b, 0x7d]);
    case 'empty':
      return Buffer.alloc(0);
  }
}

export type Emit = (line: Record<string, unknown>) => void;

export interface RunningStation {
  model: InspectionStationModel;
  /** Resolves at the first CONNACK 0; rejects if the broker refuses our credentials (CONNACK 4 or 5). */
  connected: Promise<void>;
  faults(): StationFault[];
  setFault(fault: StationFault, on: boolean, source: string): void;
  /** Publishes the end of the open shift (waits up to 2 s for its PUBACK), then disconnects cleanly. */
  stop(): Promise<void>;
}

const DEVICE = 'inspection-station';
const RECONNECT_MS = 1000;

/**
 * Runs a simulated inspection station against an MQTT broker: one part every `everySeconds`,
 * published QoS 1 under a persistent session (clean: false) so nothing measured while the broker is
 * away is lost (MQTT.js keeps it and sends it after reconnecting). Every line goes to `emit`: first
 * {"event":"connected"}, then "published" when the broker acknowledged a message (PUBACK), and
 * "fault-mode", "disconnected", "reconnected", "outage-started"/"outage-ended", "error-reply",
 * "control-refused". Lines before the first connection go to `warn` (stderr in the CLI).
 */
export function startInspectionStation(
  config: StationConfig,
  emit: Emit,
  warn: (text: string) => void = () => {},
  now: () => number = Date.now,
): RunningStation {
  const stamp = (event: string, body: Record<string, unknown> = {}): void =>
    emit({ event, time: new Date(now()).toISOString(), device: DEVICE, asset: config.asset, ...body });
  const model = new InspectionStationModel({
    seed: config.seed,
    asset: config.asset,
    gauges: config.gauges,
    partsPerShift: config.partsPerShift,
    driftStepPct: config.driftStepPct,
  });
  const rng = createRng(mixSeed(config.seed >>> 0, 0x6661756c));
  // Clock skew: 3..15 minutes, ahead or behind, fixed per seed.
  const skewMs = (rng.next() < 0.5 ? -1 : 1) * rng.int(3 * 60, 15 * 60) * 1000;
  let garbageIndex = rng.int(0, GARBAGE_KINDS.length - 1);
  const bootId = now().toString(36);
  let seq = 0;
  const faults = new Set<StationFault>();
  let everConnected = false;
  let isConnected = false;
  let stopped = false;
  let tickTimer: NodeJS.Timeout | undefined;
  let outageTimer: NodeJS.Timeout | undefined;
  let inOutage = false;
  let closeReason = 'connection closed';
  const inFlight = new Set<Promise<void>>();

  const options: IClientOptions = {
    protocolVersion: 4,
    clientId: config.clientId,
    clean: false,
    keepalive: 15,
    reconnectPeriod: RECONNECT_MS,
    connectTimeout: 10_000,
    resubscribe: true,
    ...(config.username !== undefined ? { username: config.username } : {}),
    ...(config.password !== undefined ? { password: config.password } : {}),
  };
  const client: MqttClient = connect(config.url, options);
  const control = controlTopic(config.site, config.asset);
  const errors = stationTopic(config.site, config.asset, 'error');

  let resolveConnected: () => void = () => {};
  let rejectConnected: (err: Error) => void = () => {};
  const connected = new Promise<void>((resolve, reject) => {
    resolveConnected = resolve;
    rejectConnected = reject;
  });

  function publish(output: StationOutput): void {
    seq++;
    const id = `${config.asset}-${bootId}-${String(seq).padStart(6, '0')}`;
    const observedAt = new Date(now() + (faults.has('clock-skew') ? skewMs : 0)).toISOString();
    const topic = stationTopic(config.site, output.equipment, output.kind);
    const payload = { id, observedAt, ...output.payload } as Record<string, unknown>;
    let bytes: Buffer;
    let garbage: GarbageKind | undefined;
    if (output.kind === 'inspection' && faults.has('garbage')) {
      garbage = GARBAGE_KINDS[garbageIndex++ % GARBAGE_KINDS.length];
      bytes = garbagePayload(garbage ?? 'empty', payload);
    } else {
      bytes = Buffer.from(JSON.stringify(payload));
    }
    const done = new Promise<void>((resolve) => {
      client.publish(topic, bytes, { qos: 1 }, (err) => {
        if (err) stamp('publish-failed', { topic, id, error: err.message });
        else if (garbage)
          stamp('published', {
            topic,
            kind: output.kind,
            id,
            qos: 1,
            garbage,
            bytes: bytes.toString('base64'),
          });
        else stamp('published', { topic, kind: output.kind, id, qos: 1, payload });
        resolve();
      });
    });
    inFlight.add(done);
    void done.then(() => inFlight.delete(done));
  }

  function tick(): void {
    if (stopped) return;
    for (const output of model.nextPart(now())) publish(output);
  }

  function scheduleOutage(delayMs: number): void {
    clearTimeout(outageTimer);
    outageTimer = setTimeout(() => {
      outageTimer = undefined;
      if (stopped || !faults.has('disconnect')) return;
      if (!isConnected) {
        scheduleOutage(config.disconnectEverySeconds * 1000);
        return;
      }
      inOutage = true;
      stamp('outage-started', { seconds: config.disconnectSeconds });
      // Dropped like a pulled cable: no DISCONNECT; MQTT.js tries again after the outage.
      client.options.reconnectPeriod = Math.round(config.disconnectSeconds * 1000);
      closeReason = 'disconnect fault';
      client.stream.destroy();
    }, delayMs);
  }

  function setFault(fault: StationFault, on: boolean, source: string): void {
    if (stopped) return;
    const previous = [...faults];
    if (on) faults.add(fault);
    else faults.delete(fault);
    if (fault === 'drift') model.setDrift(on);
    if (fault === 'disconnect') {
      if (on) scheduleOutage(100);
      else clearTimeout(outageTimer);
    }
    stamp('fault-mode', {
      fault,
      on,
      faults: STATION_FAULTS.filter((f) => faults.has(f)),
      previous,
      source,
      ...(fault === 'clock-skew' && on ? { clockSkewS: skewMs / 1000 } : {}),
    });
  }

  function onControl(payload: Buffer): void {
    let msg: unknown;
    try {
      msg = JSON.parse(payload.toString('utf8'));
    } catch {
      stamp('control-refused', { reason: 'not JSON' });
      return;
    }
    const m = msg as { fault?: unknown; on?: unknown };
    if (typeof msg !== 'object' || msg === null || typeof m.on !== 'boolean') {
      stamp('control-refused', { reason: 'must be {"fault": name, "on": true|false}' });
      return;
    }
    if (m.fault === 'all' && m.on === false) {
      for (const f of [...faults]) setFault(f, false, 'control');
      return;
    }
    if (typeof m.fault !== 'string' || !(STATION_FAULTS as readonly string[]).includes(m.fault)) {
      stamp('control-refused', {
        reason: `unknown fault (known: ${STATION_FAULTS.join(', ')}, or "all" with on: false)`,
      });
      return;
    }
    setFault(m.fault as StationFault, m.on, 'control');
  }

  client.on('connect', (connack) => {
    isConnected = true;
    if (!everConnected) {
      everConnected = true;
      stamp('connected', {
        url: safeUrl(config.url),
        site: config.site,
        clientId: config.clientId,
        seed: config.seed,
        gauges: config.gauges,
        everySeconds: config.everySeconds,
        sessionPresent: connack.sessionPresent,
      });
      client.subscribe({ [control]: { qos: 1 }, [errors]: { qos: 1 } }, (err, granted) => {
        const refused = (granted ?? []).filter((g) => g.qos === 128).map((g) => g.topic);
        if (err || refused.length > 0) stamp('subscribe-refused', { topics: refused, error: err?.message });
      });
      for (const f of config.faults) setFault(f, true, 'flag');
      resolveConnected();
      tick();
      tickTimer = setInterval(tick, config.everySeconds * 1000);
    } else {
      if (stopped) return;
      if (inOutage) {
        inOutage = false;
        client.options.reconnectPeriod = RECONNECT_MS;
        stamp('outage-ended', { seconds: config.disconnectSeconds });
        if (faults.has('disconnect')) scheduleOutage(config.disconnectEverySeconds * 1000);
      }
      stamp('reconnected', { sessionPresent: connack.sessionPresent });
    }
  });
  client.on('close', () => {
    if (!isConnected) return;
    isConnected = false;
    if (!stopped) stamp('disconnected', { reason: closeReason });
    closeReason = 'connection closed';
  });
  client.on('error', (err: Error & { code?: unknown }) => {
    if (!everConnected && (err.code === 4 || err.code === 5)) {
      rejectConnected(new Error(`the broker refused our credentials: ${err.message}`));
      client.end(true);
      return;
    }
    closeReason = err.message;
    if (everConnected) stamp('mqtt-error', { error: err.message });
    else warn(`${DEVICE}: ${err.message} (retrying)`);
  });
  client.on('message', (topic, payload) => {
    if (topic === control) onControl(payload);
    else if (topic === errors) {
      let reply: unknown;
      try {
        reply = JSON.parse(payload.toString('utf8'));
      } catch {
        reply = payload.toString('utf8');
      }
      stamp('error-reply', { topic, reply });
    }
  });

  return {
    model,
    connected,
    faults: () => STATION_FAULTS.filter((f) => faults.has(f)),
    setFault,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(tickTimer);
      clearTimeout(outageTimer);
      if (isConnected) for (const output of model.shutdown(now())) publish(output);
      const settle = Promise.all([...inFlight]);
      await Promise.race([settle, new Promise((r) => setTimeout(r, 2000))]);
      await client.endAsync(!isConnected);
    },
  };
}

function safeUrl(raw: string): string {
  const url = new URL(raw);
  url.username = '';
  url.password = '';
  return url.toString();
}
