import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { startTcpProxy, waitFor, type Proc, type TcpProxy } from '@rigtrace/protocols/testing';
import { acBenchEdgeConfig, resultOf, startAcBench, type AcBench } from '../devices/ac-bench.js';
import { edgeStatus, loggedRecords, startEdge, writeIdentity } from './edge-fixture.js';

/**
 * The setting of an Alarms & Conditions handshake suite (call it inside `describe`): the torque
 * bench (devices/ac-bench.ts) behind a TCP proxy, an edge mapping it with `handshake`, started and
 * killed by the suite, and what the suites ask of them.
 */
export function acBenchSuite(o: { name: string; handshake: Record<string, unknown>; confirm?: boolean }) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `rt-ua-${o.name}-`));
  const dataDir = path.join(dir, 'edge');
  const configFile = path.join(dir, 'edge.yaml');
  let bench: AcBench;
  let proxy: TcpProxy;
  let edge: Proc | undefined;

  beforeAll(async () => {
    bench = await startAcBench({ confirm: o.confirm ?? false });
    proxy = await startTcpProxy(bench.port);
    writeIdentity(dataDir);
  }, 60_000);

  afterAll(async () => {
    if (process.env.DEBUG_TEST)
      console.log(edge?.lines.join('\n'), JSON.stringify([bench.calls, bench.confirmCalls]));
    await edge?.stop('SIGKILL');
    await proxy?.close();
    await bench?.shutdown();
  });

  const status = async () => (await edgeStatus(dataDir)).sources[0];
  return {
    dataDir,
    get bench() {
      return bench;
    },
    /** The edge running now. */
    get edge() {
      return edge!;
    },
    status,
    report: (n: number) => resultOf(n).report,
    /** The certificate numbers of the calibration records logged, oldest first. */
    certificates: async () =>
      (await loggedRecords<{ kind: string; body: { certificate?: { number: string } } }>(dataDir))
        .filter((r) => r.kind === 'calibration')
        .map((r) => r.body.certificate?.number),
    /** Waits until `list` (the bench's acknowledged or confirmed results) holds `n`. */
    waitCount: (list: () => readonly unknown[], n: number, what: string) =>
      waitFor(() => Promise.resolve(list().length >= n || undefined), 30_000, `${n} results ${what}`),
    /** Starts the edge and waits for its source to be up and subscribed to the events. */
    run: async () => {
      edge = await startEdge(
        configFile,
        acBenchEdgeConfig({ dataDir, name: `edge-${o.name}`, port: proxy.port, handshake: o.handshake }),
      );
      await waitFor(
        async () => {
          const s = await status();
          return s?.up && s.details?.eventsMonitored === 1 ? true : undefined;
        },
        30_000,
        'the source up, subscribed to the events',
      );
    },
    killEdge: () => edge!.child.kill('SIGKILL'),
    killed: () =>
      waitFor(
        () => Promise.resolve(edge!.child.signalCode === 'SIGKILL' || undefined),
        30_000,
        'the edge killed',
      ),
    /** Stops the edge as a service manager would. */
    stopEdge: async () => {
      await edge!.stop('SIGTERM');
      edge = undefined;
    },
    /** Cuts the network for 3 s and waits for the source to go down and come back. */
    networkCut: async () => {
      const reconnects = (await status()).counters?.reconnects ?? 0;
      proxy.outage(3000);
      await waitFor(async () => ((await status())?.up ? undefined : true), 20_000, 'the source down');
      await waitFor(
        async () => {
          const s = await status();
          return s?.up && (s.counters?.reconnects ?? 0) > reconnects ? true : undefined;
        },
        60_000,
        'the source back',
      );
    },
  };
}
