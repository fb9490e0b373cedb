import { BenchModel } from './bench-model.js';
import { BenchServer, NAMESPACE_INDEX, NAMESPACE_URI } from './bench-server.js';
import type { CalBenchConfig } from './config.js';

export interface RunningCalBench {
  endpointUrl: string;
  port: number;
  /** PEM file of the server certificate (for a client's trust list). */
  certificateFile: string;
  model: BenchModel;
  server: BenchServer;
  stop(): Promise<void>;
}

export interface CalBenchListening {
  endpointUrl: string;
  port: number;
  host: string;
  namespaceUri: string;
  namespaceIndex: number;
  certificateFile: string;
}

/**
 * Builds the model and the OPC UA server from a config and starts listening. Every model and
 * server event goes to `emit` as one flat JSON-able object with `event`, `time`, `device`, `asset`.
 */
export async function startCalBench(
  config: CalBenchConfig,
  emit: (line: Record<string, unknown>) => void,
  now: () => number = Date.now,
  /** Called once listening, before the configured faults are switched on (so their events come after). */
  onListening?: (where: CalBenchListening) => void,
): Promise<RunningCalBench> {
  const stamp = (event: string, body: object, at?: string): void => {
    const { at: _at, event: _event, ...rest } = body as Record<string, unknown>;
    emit({
      event,
      time: at ?? new Date(now()).toISOString(),
      device: 'cal-bench',
      asset: config.asset,
      ...rest,
    });
  };
  const model = new BenchModel({
    seed: config.seed,
    cycleSeconds: config.cycleSeconds,
    ...(config.idleSeconds === undefined ? {} : { idleSeconds: config.idleSeconds }),
    startMs: now(),
    asset: config.asset,
    timeZone: config.timeZone,
  });
  model.on('calibration-started', (e) => stamp('calibration-started', e, e.at));
  model.on('calibration-completed', (r) => stamp('calibration-completed', r, r.completedAt));
  model.on('calibration-aborted', (e) => stamp('calibration-aborted', e, e.at));
  model.on('fault', (e) => stamp('fault', e, e.at));
  const server = new BenchServer({
    host: config.host,
    port: config.port,
    asset: config.asset,
    model,
    security: config.security,
    ...(config.pkiDir !== undefined ? { pkiDir: config.pkiDir } : {}),
    slowDelayMs: config.slowDelayMs,
    disconnectEverySeconds: config.disconnectEverySeconds,
    ...(config.user !== undefined ? { user: config.user } : {}),
    now,
    log: (e) => stamp(String(e.event), e),
  });
  const { endpointUrl, port, certificateFile } = await server.start();
  onListening?.({
    endpointUrl,
    port,
    host: config.host,
    namespaceUri: NAMESPACE_URI,
    namespaceIndex: NAMESPACE_INDEX,
    certificateFile,
  });
  for (const fault of config.faults) model.setFault(fault, true, 'config');
  server.startTicking();
  return { endpointUrl, port, certificateFile, model, server, stop: () => server.stop() };
}
