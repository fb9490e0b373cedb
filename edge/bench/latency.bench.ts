/**
 * End to end through real processes: an inspection station publishes QoS 1 over MQTT to the
 * edge's broker; the edge makes each message a durable record and forwards it; the cloud verifies
 * and commits it. Measures, on loopback:
 *  - latency from the device's publish to the cloud's commit (the record's ingestedAt), p50/p99
 *    (target p99 ≤ 100 ms), against a plain HTTP round trip to the cloud in the same run;
 *  - catch-up after a cloud outage while live data keeps flowing: backlog drain rate as a multiple
 *    of the live rate (target ≥ 5×).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { hashDevicePassword } from '@rigtrace/protocols/mqtt';
import { runCli, startProcess, waitFor, type Proc } from '@rigtrace/protocols/testing';
import { percentile, report } from '../../protocols/bench/report.js';

const LIVE_RATE = 50; // messages per second from the station
const LATENCY_S = 15;
const OUTAGE_S = 20;

const work = mkdtempSync(path.join(os.tmpdir(), 'rt-latency-'));
const cloudDir = path.join(work, 'cloud');
const edgeDir = path.join(work, 'edge');
let cloudPort = 0;
const startCloud = async (): Promise<Proc> => {
  const p = await startProcess(
    'cloud/src/cli.ts',
    ['serve', '--port', String(cloudPort), '--data-dir', cloudDir],
    (l) => l.includes('"event":"listening"'),
  );
  cloudPort = (JSON.parse(p.readyLine) as { port: number }).port;
  return p;
};
let cloud = await startCloud();
const seed = JSON.parse(runCli('cloud/src/cli.ts', ['seed-demo', '--data-dir', cloudDir]).stdout) as {
  enrollmentToken: string;
  apiToken: string;
};
const password = 'bench-station-password';
const configFile = path.join(work, 'edge.yaml');
writeFileSync(
  configFile,
  JSON.stringify({
    version: 1,
    edge: { dataDir: edgeDir },
    cloud: { url: `http://127.0.0.1:${cloudPort}`, retry: { initialMs: 100, maxMs: 1000 } },
    log: { level: 'warn' },
    sources: [
      {
        id: 'stations',
        protocol: 'mqtt-broker',
        host: '127.0.0.1',
        port: 0,
        devices: [
          {
            username: 'stn-01',
            passwordHash: await hashDevicePassword(password),
            publish: ['rigtrace/plant-1/STN-01/#'],
          },
        ],
      },
    ],
  }),
);
const enrolled = runCli('edge/src/cli.ts', [
  'enroll',
  '--config',
  configFile,
  '--cloud',
  `http://127.0.0.1:${cloudPort}`,
  '--token',
  seed.enrollmentToken,
]);
if (enrolled.status !== 0) throw new Error(enrolled.stderr);
const edge = await startProcess('edge/src/cli.ts', ['run', '--config', configFile], (l) =>
  l.includes('"event":"running"'),
);
const statusUrl = (JSON.parse(readFileSync(path.join(edgeDir, 'status.json'), 'utf8')) as { url: string })
  .url;
interface EdgeStatus {
  buffer: { unsent: number; acked: number };
  sources: { details: { listen?: string } }[];
}
const status = async () => (await (await fetch(`${statusUrl}/status`)).json()) as EdgeStatus;
const brokerUrl = (await status()).sources[0]!.details.listen!;

const station = await mqtt.connectAsync(brokerUrl, {
  username: 'stn-01',
  password,
  clientId: 'stn-01',
  clean: false,
});
let n = 0;
const sentAt = new Map<string, number>();
/** Publishes at LIVE_RATE until stopped; each message carries its id, its send time is kept. */
function publishLive(): () => void {
  const timer = setInterval(() => {
    const id = `m-${++n}`;
    sentAt.set(id, Date.now());
    const msg = {
      id,
      partSerial: `NZB-${String(n).padStart(8, '0')}`,
      gauge: 'GA-0101',
      characteristics: [
        {
          name: 'guide-bore.diameter',
          nominal: 4,
          lsl: 3.998,
          usl: 4.002,
          measured: 4 + ((n % 7) - 3) / 10_000,
          unit: 'mm',
        },
      ],
    };
    void station.publishAsync('rigtrace/plant-1/STN-01/inspection', JSON.stringify(msg), { qos: 1 });
  }, 1000 / LIVE_RATE);
  return () => clearInterval(timer);
}
interface RecordsPage {
  items: { ingestedAt: string; record: { body: { partSerial: string } } }[];
  next: string | null;
}
const api = async (p: string): Promise<RecordsPage> => {
  const res = await fetch(`http://127.0.0.1:${cloudPort}/api/v1${p}`, {
    headers: { authorization: `Bearer ${seed.apiToken}` },
  });
  return (await res.json()) as RecordsPage;
};
async function cloudInspections(): Promise<{ id: string; ingestedAt: number }[]> {
  const out: { id: string; ingestedAt: number }[] = [];
  let after: string | null = null;
  do {
    const page = await api(
      `/records?kind=inspection&limit=1000${after ? `&after=${encodeURIComponent(after)}` : ''}`,
    );
    for (const it of page.items)
      out.push({ id: it.record.body.partSerial, ingestedAt: Date.parse(it.ingestedAt) });
    after = page.next;
  } while (after);
  return out;
}

// 1. Latency under steady live load.
let stop = publishLive();
await new Promise((r) => setTimeout(r, LATENCY_S * 1000));
stop();
await waitFor(async () => ((await status()).buffer.unsent === 0 ? true : undefined), 20_000, 'drain');
const latencies = (await cloudInspections()).map(
  (r) => r.ingestedAt - sentAt.get(`m-${Number(r.id.slice(4))}`)!,
);
const rtts: number[] = [];
for (let i = 0; i < 200; i++) {
  const t = performance.now();
  await (await fetch(`http://127.0.0.1:${cloudPort}/api/v1/health`)).text();
  rtts.push(performance.now() - t);
}
const p99 = percentile(latencies, 99);
report({
  bench: 'end to end (MQTT → edge → cloud)',
  metric: 'device publish → cloud commit, p50',
  value: percentile(latencies, 50),
  unit: 'ms',
  note: `${latencies.length} messages at ${LIVE_RATE}/s`,
});
report({
  bench: 'end to end (MQTT → edge → cloud)',
  metric: 'device publish → cloud commit, p99',
  value: p99,
  unit: 'ms',
  baseline: percentile(rtts, 99),
  baselineName: 'plain HTTP round trip to the cloud, p99',
  ratio: p99 / percentile(rtts, 99),
  target: 'p99 <= 100 ms',
  pass: p99 <= 100,
});

// 2. Catch-up: the cloud goes away for OUTAGE_S while the station keeps publishing.
stop = publishLive();
await cloud.stop('SIGKILL');
await new Promise((r) => setTimeout(r, OUTAGE_S * 1000));
const backlog = (await status()).buffer.unsent;
const t0 = Date.now();
cloud = await startCloud();
const acked0 = (await status()).buffer.acked;
await waitFor(
  async () => ((await status()).buffer.unsent < LIVE_RATE / 2 ? true : undefined),
  120_000,
  'catch-up',
);
const drainS = (Date.now() - t0) / 1000;
const acked = (await status()).buffer.acked - acked0;
stop();
const rate = acked / drainS;
report({
  bench: 'end to end (MQTT → edge → cloud)',
  metric: 'catch-up after a cloud outage, records/s',
  value: rate,
  unit: 'records/s',
  baseline: LIVE_RATE,
  baselineName: 'live rate during catch-up',
  ratio: rate / LIVE_RATE,
  target: '>= 5 × live rate',
  pass: rate / LIVE_RATE >= 5,
  note: `backlog ${backlog} records after ${OUTAGE_S} s, drained in ${drainS.toFixed(1)} s while live data kept coming`,
});

await station.endAsync();
await edge.stop();
await cloud.stop();
