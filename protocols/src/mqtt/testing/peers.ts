import { execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { argon2id, hash } from 'argon2';
import type { DeviceCredential, InboundMessage } from '../types.js';

/** Test fixtures: cheap device hashes, Debian's mosquitto_pub/mosquitto_sub, waiting. */

/**
 * argon2id with LOW-COST parameters (m=1 MiB, t=1), for tests only: the product hashes with
 * hashDevicePassword (m=19 MiB, t=2). The broker's dummy hash follows the devices' parameters.
 */
export function testHash(password: string): Promise<string> {
  return hash(password, { type: argon2id, memoryCost: 1024, timeCost: 1, parallelism: 1 });
}

export async function testDevice(
  username: string,
  password: string,
  acl: { publish?: string[]; subscribe?: string[] },
): Promise<DeviceCredential> {
  return {
    username,
    passwordHash: await testHash(password),
    publish: acl.publish ?? [],
    subscribe: acl.subscribe ?? [],
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitUntil(pred: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** mosquitto_pub against 127.0.0.1 (MQTT 3.1.1). */
export function mosquittoPub(port: number, args: string[], timeoutMs = 10_000): Promise<ExecResult> {
  return new Promise((resolve) => {
    execFile(
      'mosquitto_pub',
      ['-h', '127.0.0.1', '-p', String(port), '-V', 'mqttv311', ...args],
      { timeout: timeoutMs },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

export interface SubProcess {
  /** "topic payload" per message (-v). */
  lines: string[];
  /** QoS of each PUBLISH received, from the -d protocol trace. */
  qos: number[];
  /** Granted QoS of each subscription (128 = refused), from "Subscribed (mid: 1): 1, 128". */
  granted: number[];
  stderr(): string;
  exited: Promise<number | null>;
  waitForLines(n: number, timeoutMs?: number): Promise<string[]>;
  stop(): Promise<number | null>;
}

/** mosquitto_sub -v (topic and payload per line) against 127.0.0.1; resolves once subscribed. */
export async function mosquittoSub(port: number, args: string[]): Promise<SubProcess> {
  // stdbuf: mosquitto_sub's stdout is block-buffered on a pipe until the first message arrives.
  const child = spawn(
    'stdbuf',
    ['-oL', 'mosquitto_sub', '-h', '127.0.0.1', '-p', String(port), '-V', 'mqttv311', '-v', '-d', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: string[] = [];
  const qos: number[] = [];
  const granted: number[] = [];
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let subscribed: () => void = () => {};
  const ready = new Promise<void>((resolve) => (subscribed = resolve));
  createInterface({ input: child.stdout }).on('line', (line) => {
    // -d prints the protocol exchange on stdout as "Client ... received SUBACK" lines.
    if (line.startsWith('Client ') && / (sending|received) /u.test(line)) {
      const q = / received PUBLISH \(d\d, q(\d)/u.exec(line);
      if (q) qos.push(Number(q[1]));
      return;
    }
    const sub = /^Subscribed \(mid: \d+\): (.*)$/u.exec(line);
    if (sub) {
      granted.push(...(sub[1] ?? '').split(',').map((g) => Number(g.trim())));
      subscribed();
      return;
    }
    lines.push(line);
  });
  await Promise.race([
    ready,
    exited.then((code) => {
      throw new Error(`mosquitto_sub exited with ${code}: ${err}`);
    }),
  ]);
  return {
    lines,
    qos,
    granted,
    stderr: () => err,
    exited,
    async waitForLines(n, timeoutMs = 5000) {
      await waitUntil(() => lines.length >= n, timeoutMs, `${n} lines from mosquitto_sub`);
      return lines.slice(0, n);
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** An onMessage that records every message, optionally delayed or failing. */
export function recorder(
  behaviour: { delayMs?: number; fail?: (msg: InboundMessage, n: number) => boolean } = {},
): { messages: InboundMessage[]; onMessage: (msg: InboundMessage) => Promise<void>; calls: number } {
  const state = {
    messages: [] as InboundMessage[],
    calls: 0,
    onMessage: async (msg: InboundMessage): Promise<void> => {
      const n = ++state.calls;
      if (behaviour.delayMs) await sleep(behaviour.delayMs);
      if (behaviour.fail?.(msg, n)) throw new Error(`refused message ${n}`);
      state.messages.push(msg);
    },
  };
  return state;
}
