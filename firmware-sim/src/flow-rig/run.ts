import { FlowRigServer } from './flow-rig-server.js';
import type { FlowRigConfig } from './config.js';
import { FlowRigModel } from './rig-model.js';

export interface RunningFlowRig {
  host: string;
  port: number;
  model: FlowRigModel;
  server: FlowRigServer;
  stop(): Promise<void>;
}

/**
 * Builds the model and the Modbus server from a config and starts listening. Every model event
 * goes to `emit` as one flat JSON-able object with `event`, `time`, `device` and `asset`.
 */
export async function startFlowRig(
  config: FlowRigConfig,
  emit: (line: Record<string, unknown>) => void,
  now: () => number = Date.now,
  /** Called once listening, before the configured faults are switched on (so their event comes after). */
  onListening?: (where: { host: string; port: number }) => void,
): Promise<RunningFlowRig> {
  const stamp = (event: string, body: object, at?: string): void => {
    const { at: _at, event: _event, ...rest } = body as Record<string, unknown>;
    emit({
      event,
      time: at ?? new Date(now()).toISOString(),
      device: 'flow-rig',
      asset: config.asset,
      ...rest,
    });
  };
  const model = new FlowRigModel({
    seed: config.seed,
    testSeconds: config.testSeconds,
    idleSeconds: config.idleSeconds,
    driftPerTestPct: config.driftPerTestPct,
    startMs: now(),
  });
  model.on('test-started', (e) => stamp('test-started', e, e.at));
  model.on('test-completed', (r) => stamp('test-completed', r, r.completedAt));
  model.on('test-aborted', (e) => stamp('test-aborted', e, e.at));
  model.on('fault-mode', (e) => stamp('fault-mode', e, e.at));
  const server = new FlowRigServer({
    host: config.host,
    port: config.port,
    unitId: config.unitId,
    model,
    seed: config.seed,
    slowDelayMs: config.slowDelayMs,
    garbageShare: config.garbageShare,
    disconnectSeconds: config.disconnectSeconds,
    disconnectEverySeconds: config.disconnectEverySeconds,
    now,
    log: (e) => stamp(String(e.event), e),
  });
  const { host, port } = await server.start();
  onListening?.({ host, port });
  if (config.faultMode) model.setFaultMode(config.faultMode, 'config');
  return { host, port, model, server, stop: () => server.stop() };
}
