/**
 * MQTT messages/s through our EmbeddedBroker (port 0, one device credential hashed once with
 * hashDevicePassword, onMessage resolving at once) against the machine's Mosquitto on
 * 127.0.0.1:1883 (anonymous, unique topic prefix), in the same run. The load is the same for both:
 * CLIENTS MQTT.js publishers × PER_CLIENT inspection-like JSON payloads (~300 bytes) at QoS 1, each
 * publisher keeping WINDOW PUBLISHes unacknowledged at most, and one MQTT.js subscriber (QoS 1)
 * counting deliveries. Throughput is end to end: first publish → last delivery. Also: p50/p99
 * publish → PUBACK latency on our broker.
 *
 * The load generator (publishers and subscriber) runs in a child process of this file, so that in
 * both cases the broker and the clients are separate processes sharing the machine's two cores; our
 * broker runs in this process. Rounds alternate between the brokers; the median round of each counts.
 * If Mosquitto cannot be reached, only our broker is reported.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { EmbeddedBroker, hashDevicePassword } from '../src/mqtt/index.js';
import { cpuSeconds, percentile, report } from './report.js';

const CLIENTS = Number(process.env.BENCH_MQTT_CLIENTS ?? 4);
const PER_CLIENT = Number(process.env.BENCH_MQTT_MESSAGES ?? 5000);
const WINDOW = Number(process.env.BENCH_MQTT_WINDOW ?? 20);
const MAX_AHEAD = Number(process.env.BENCH_MQTT_AHEAD ?? 200);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);
const DEFAULT_MOSQUITTO_URL = 'mqtt://127.0.0.1:1883';
const MOSQUITTO_URL = process.env.BENCH_MOSQUITTO_URL ?? DEFAULT_MOSQUITTO_URL;
const BENCH = 'mqtt broker';
const LOAD_FLAG = '--load-generator';

/** One round, as the parent asks the load generator for it. */
interface Job {
  url: string;
  username?: string;
  password?: string;
  /** Topic site segment and client id prefix, unique per round. */
  tag: string;
  clients: number;
  perClient: number;
  window: number;
  /** End-to-end flow control: messages published but not yet delivered, at most (see runLoad). */
  maxAhead: number;
}

interface Outcome {
  /** First publish → last delivery. */
  seconds: number;
  delivered: number;
  expected: number;
  /** publish → PUBACK of every message, ms. */
  latencies: number[];
  payloadBytes: number;
  /** Times a publisher waited because the subscriber was maxAhead messages behind. */
  creditWaits: number;
  error?: string;
}

// ---- load generator (child process) ------------------------------------------------------------------

function payload(station: number, k: number, at: number): Buffer {
  return Buffer.from(
    JSON.stringify({
      id: `STN-${String(station).padStart(2, '0')}-bench-${String(k).padStart(6, '0')}`,
      observedAt: new Date(at + k * 10).toISOString(),
      partSerial: `NZB-${String(10_000_000 + k).padStart(8, '0')}`,
      operator: 'OP-1042',
      gauge: 'GA-0101',
      characteristics: [
        {
          name: 'bore.diameter',
          nominal: 4,
          lsl: 3.998,
          usl: 4.002,
          measured: 4 + ((k % 17) - 8) / 10_000,
          unit: 'mm',
        },
        { name: 'seat.runout', usl: 0.002, measured: 0.0011, unit: 'mm' },
      ],
    }),
  );
}

/** Sent to the parent just before the first PUBLISH, so that it measures CPU from there on. */
const PUBLISHING = 'publishing';

/**
 * One round. MQTT has no end-to-end flow control, and Mosquitto drops QoS 1 messages for a
 * subscriber that falls behind (max_queued_messages; 2.0.11 was seen dropping with a few hundred
 * behind), so the publishers wait while job.maxAhead messages are published and not yet delivered.
 * Both brokers get the same rule.
 */
async function runLoad(job: Job): Promise<Outcome> {
  const expected = job.clients * job.perClient;
  const options = (id: string): IClientOptions => ({
    protocolVersion: 4,
    clientId: `${job.tag}-${id}`,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    ...(job.username !== undefined ? { username: job.username } : {}),
    ...(job.password !== undefined ? { password: job.password } : {}),
  });
  const clients: MqttClient[] = [];
  try {
    const sub = await connectAsync(job.url, options('sub'));
    clients.push(sub);
    let delivered = 0;
    let sent = 0;
    let creditWaits = 0;
    const waiting: (() => void)[] = [];
    /** Takes one slot of the maxAhead window (published, not yet delivered). */
    const credit = (): Promise<void> | undefined => {
      if (sent - delivered < job.maxAhead) {
        sent++;
        return undefined;
      }
      creditWaits++;
      return new Promise((resolve) => waiting.push(resolve));
    };
    let lastDelivery = 0;
    let allDelivered: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (allDelivered = resolve));
    sub.on('message', () => {
      lastDelivery = performance.now();
      if (++delivered === expected) allDelivered();
      while (waiting.length > 0 && sent - delivered < job.maxAhead) {
        sent++;
        waiting.shift()!();
      }
    });
    const granted = await sub.subscribeAsync(`rigtrace/${job.tag}/+/inspection`, { qos: 1 });
    if (granted[0]?.qos !== 1) throw new Error(`subscription granted QoS ${granted[0]?.qos}`);
    for (let i = 0; i < job.clients; i++) clients.push(await connectAsync(job.url, options(`pub-${i}`)));

    const at = Date.now();
    const payloads = Array.from({ length: job.clients }, (_, i) =>
      Array.from({ length: job.perClient }, (_, k) => payload(i + 1, k, at)),
    );
    const latencies: number[] = [];
    const publisher = async (client: MqttClient, i: number): Promise<void> => {
      const topic = `rigtrace/${job.tag}/STN-${String(i + 1).padStart(2, '0')}/inspection`;
      const mine = payloads[i]!;
      let next = 0;
      const lane = async (): Promise<void> => {
        while (next < mine.length) {
          const message = mine[next++]!;
          await credit();
          const t = performance.now();
          await client.publishAsync(topic, message, { qos: 1 });
          latencies.push(performance.now() - t);
        }
      };
      await Promise.all(Array.from({ length: job.window }, lane));
    };

    process.send?.(PUBLISHING);
    const t0 = performance.now();
    await Promise.all(clients.slice(1).map((c, i) => publisher(c, i)));
    // After the last PUBACK, wait for the rest until 2 s pass without a delivery (then it is lost).
    let stalled = false;
    let seen = -1;
    let timer: NodeJS.Timeout | undefined;
    const watch = new Promise<void>((resolve) => {
      timer = setInterval(() => {
        if (delivered === seen) {
          stalled = true;
          resolve();
        }
        seen = delivered;
      }, 2000);
    });
    await Promise.race([done, watch]);
    clearInterval(timer);
    if (stalled && delivered < expected) lastDelivery = performance.now();
    return {
      seconds: (lastDelivery - t0) / 1000,
      delivered,
      expected,
      latencies,
      payloadBytes: payloads[0]![0]!.length,
      creditWaits,
    };
  } catch (err) {
    return {
      seconds: NaN,
      delivered: 0,
      expected,
      latencies: [],
      payloadBytes: 0,
      creditWaits: 0,
      error: (err as Error).message,
    };
  } finally {
    await Promise.allSettled(clients.map((c) => c.endAsync(true)));
  }
}

if (process.argv.includes(LOAD_FLAG)) {
  process.on('message', (job: Job) => {
    void runLoad(job).then((outcome) => process.send?.(outcome));
  });
  process.on('disconnect', () => process.exit(0));
} else {
  await main();
}

// ---- the bench (parent process) ----------------------------------------------------------------------

/** Sends one job to the load generator and waits for its outcome; onPublishing runs at its first PUBLISH. */
function ask(child: ChildProcess, job: Job, onPublishing: () => void): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`load generator exited with ${code}`));
    const onMessage = (m: unknown) => {
      if (m === PUBLISHING) return onPublishing();
      child.off('exit', onExit);
      child.off('message', onMessage);
      resolve(m as Outcome);
    };
    child.once('exit', onExit);
    child.on('message', onMessage);
    child.send(job);
  });
}

/** Mosquitto's pid, to read its CPU time (undefined when its pid file cannot be read). */
function mosquittoPid(): number | undefined {
  try {
    const pid = Number(readFileSync('/run/mosquitto/mosquitto.pid', 'utf8').trim());
    cpuSeconds(pid);
    return pid;
  } catch {
    return undefined;
  }
}

/** Connects once (anonymous) to tell whether Mosquitto is there; the reason when it is not. */
async function probeMosquitto(): Promise<string | null> {
  try {
    const c = await connectAsync(MOSQUITTO_URL, {
      protocolVersion: 4,
      clientId: `rt-bench-probe-${process.pid}`,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: 2000,
    });
    await c.endAsync(true);
    return null;
  } catch (err) {
    return (err as Error).message || String(err);
  }
}

interface Round extends Outcome {
  /** CPU seconds the broker process used from the first PUBLISH to the end (NaN when unknown). */
  brokerCpu: number;
  /** The same for the load generator (publishers and subscriber). */
  loadCpu: number;
}

async function main(): Promise<void> {
  const username = 'bench-station';
  const password = 'bench-station-secret';
  const runId = `bench-${process.pid}-${Date.now().toString(36)}`;
  const passwordHash = await hashDevicePassword(password);
  const broker = new EmbeddedBroker({
    host: '127.0.0.1',
    port: 0,
    devices: [
      {
        username,
        passwordHash,
        // Each round publishes under its own site: rigtrace/<run id>-<round>/STN-nn/inspection.
        publish: ['rigtrace/+/+/inspection'],
        subscribe: ['rigtrace/+/+/inspection'],
      },
    ],
    onMessage: () => Promise.resolve(),
  });
  const { port } = await broker.start();
  const ours = `mqtt://127.0.0.1:${port}`;

  let unavailable = await probeMosquitto();
  if (unavailable !== null) {
    console.log(
      `mosquitto not reachable on ${MOSQUITTO_URL} (${unavailable}): reporting our broker only, no baseline`,
    );
  }
  // Its CPU time only for the machine's own Mosquitto (the pid file belongs to that one).
  const mosqPid =
    unavailable === null && MOSQUITTO_URL === DEFAULT_MOSQUITTO_URL ? mosquittoPid() : undefined;

  const child = fork(fileURLToPath(import.meta.url), [LOAD_FLAG], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let round = 0;
  /** One round; undefined when Mosquitto failed (it is then left out from here on). */
  const run = async (which: 'ours' | 'mosquitto', perClient: number): Promise<Round | undefined> => {
    const brokerPid = which === 'ours' ? 'self' : mosqPid;
    const cpu = (pid: number | 'self' | undefined) => (pid === undefined ? NaN : cpuSeconds(pid));
    // Until the load generator says it is publishing: CONNECTs (argon2 checks for ours) are not counted.
    let b0 = NaN;
    let l0 = NaN;
    const outcome = await ask(
      child,
      {
        url: which === 'ours' ? ours : MOSQUITTO_URL,
        tag: `${runId}-${++round}`,
        clients: CLIENTS,
        perClient,
        window: WINDOW,
        maxAhead: MAX_AHEAD,
        ...(which === 'ours' ? { username, password } : {}),
      },
      () => {
        b0 = cpu(brokerPid);
        l0 = cpu(child.pid);
      },
    );
    const brokerCpu = cpu(brokerPid) - b0;
    const loadCpu = cpu(child.pid) - l0;
    if (outcome.error !== undefined) {
      if (which === 'ours') throw new Error(`our broker: ${outcome.error}`);
      unavailable = `failed during the run: ${outcome.error}`;
      console.log(`mosquitto ${unavailable}: left out from here on`);
      return undefined;
    }
    if (outcome.delivered !== outcome.expected) {
      console.log(
        `WARNING: ${which}: ${outcome.delivered} of ${outcome.expected} messages delivered; round left out` +
          (which === 'mosquitto' ? ' (see "Outgoing messages are being dropped" in its log)' : ''),
      );
    }
    return { ...outcome, brokerCpu, loadCpu };
  };

  const mine: Round[] = [];
  const theirs: Round[] = [];
  try {
    // Warm-up: JIT, TCP, the broker's first clients.
    await run('ours', PER_CLIENT);
    if (unavailable === null) await run('mosquitto', PER_CLIENT);
    for (let r = 0; r < ROUNDS; r++) {
      mine.push((await run('ours', PER_CLIENT))!);
      if (unavailable !== null) continue;
      const theirRound = await run('mosquitto', PER_CLIENT);
      if (theirRound) theirs.push(theirRound);
    }
  } finally {
    child.kill();
    await broker.stop();
  }

  // Only rounds in which every message arrived count.
  const complete = (rs: Round[]) => rs.filter((o) => o.delivered === o.expected);
  const ourRounds = complete(mine);
  const theirRounds = complete(theirs);
  if (ourRounds.length === 0) throw new Error('our broker lost messages in every round');
  const rate = (o: Round) => o.delivered / o.seconds;
  /** The machine is shared: rounds swing by 2× either way, so the median round counts (the best in the note). */
  const median = (rs: Round[]) => percentile(rs.map(rate), 50);
  const best = (rs: Round[]) => Math.max(...rs.map(rate));
  const list = (rs: Round[]) =>
    rs.map((o) => (o.delivered === o.expected ? Math.round(rate(o)) : 'lost')).join(', ');
  /** Broker CPU per delivered message, µs. */
  const cpuPerMessage = (rs: Round[]) =>
    (rs.reduce((n, o) => n + o.brokerCpu, 0) / rs.reduce((n, o) => n + o.delivered, 0)) * 1e6;
  /** Cores the load generator used. */
  const loadCores = (rs: Round[]) =>
    (rs.reduce((n, o) => n + o.loadCpu, 0) / rs.reduce((n, o) => n + o.seconds, 0)).toFixed(2);
  const waits = (rs: Round[]) => rs.reduce((n, o) => n + o.creditWaits, 0);
  const ourRate = median(ourRounds);
  const theirRate = theirRounds.length > 0 ? median(theirRounds) : undefined;
  const why =
    theirs.length === 0
      ? `Mosquitto not reachable: ${unavailable}`
      : `Mosquitto lost messages in every round (${list(theirs)})`;
  report({
    bench: BENCH,
    metric: 'messages/s end to end (publish → delivery)',
    value: ourRate,
    unit: 'msg/s',
    ...(theirRate !== undefined
      ? { baseline: theirRate, baselineName: 'Mosquitto 127.0.0.1:1883', ratio: ourRate / theirRate }
      : {}),
    note:
      `${CLIENTS} publishers × ${PER_CLIENT} msgs of ${ourRounds[0]!.payloadBytes} B at QoS 1, ${WINDOW} in flight each, ` +
      `at most ${MAX_AHEAD} undelivered; 1 subscriber at QoS 1; median of ${ROUNDS} alternating rounds: ` +
      `ours ${list(mine)} (best ${Math.round(best(ourRounds))})` +
      (theirRate !== undefined
        ? `; mosquitto ${list(theirs)} (best ${Math.round(best(theirRounds))})`
        : `; ${why}`) +
      `; load generator ${loadCores(ourRounds)} cores with ours` +
      (theirRate !== undefined ? `, ${loadCores(theirRounds)} with mosquitto` : '') +
      `; publishers held back for the subscriber: ours ${waits(ourRounds)} times` +
      (theirRate !== undefined ? `, mosquitto ${waits(theirRounds)}` : ''),
  });
  const ourCpu = cpuPerMessage(ourRounds);
  const theirCpu = theirRounds.length > 0 ? cpuPerMessage(theirRounds) : NaN;
  report({
    bench: BENCH,
    metric: 'broker CPU per message (in, PUBACK, out to 1 subscriber)',
    value: ourCpu,
    unit: 'µs',
    ...(Number.isFinite(theirCpu)
      ? { baseline: theirCpu, baselineName: 'Mosquitto, same load', ratio: ourCpu / theirCpu }
      : {}),
    note: 'user + system CPU of the broker process (/proc), first PUBLISH to last delivery, complete rounds',
  });
  const lat = ourRounds.flatMap((o) => o.latencies);
  const theirLat = theirRounds.flatMap((o) => o.latencies);
  for (const p of [50, 99]) {
    const value = percentile(lat, p);
    const baseline = theirLat.length > 0 ? percentile(theirLat, p) : undefined;
    report({
      bench: BENCH,
      metric: `p${p} publish → PUBACK, our broker`,
      value,
      unit: 'ms',
      ...(baseline !== undefined
        ? { baseline, baselineName: 'Mosquitto, same load', ratio: value / baseline }
        : {}),
      note: `${lat.length} messages over ${ourRounds.length} rounds, ${CLIENTS}×${WINDOW} in flight`,
    });
  }
}
