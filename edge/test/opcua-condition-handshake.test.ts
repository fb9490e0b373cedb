import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTcpProxy, waitFor, type Proc, type TcpProxy } from '@rigtrace/protocols/testing';
import { edgeStatus, loggedRecords, startEdge, writeIdentity } from './helpers/edge-fixture.js';
import { resultOf, acBenchEdgeConfig, startAcBench, type AcBench } from './devices/ac-bench.js';

/**
 * An Alarms & Conditions handshake against a bench nobody here designed (devices/ac-bench.ts):
 * each completed result is a condition raised (AlarmConditionType) that the bench holds, with the
 * next result, until the edge calls the condition's Acknowledge method with the event's EventId.
 *
 * Each result must give exactly one record, acknowledged only once it is durable, across an edge
 * kill -9 as the Acknowledge arrives (the record is there: after the restart, ConditionRefresh
 * announces the condition again and the edge acknowledges it, no second record), a kill -9 while
 * the result is read (no record yet: taken once after the restart), and Acknowledge calls the
 * bench refuses (counted, an event, the source keeps running; acknowledged again after a network
 * cut).
 */

type Logged = {
  kind: string;
  body: {
    certificate?: { number: string };
    points?: { asFound: number; asLeft?: number }[];
    code?: string;
    message?: string;
  };
};

describe('OPC UA Alarms & Conditions handshake', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-ua-condition-ack-'));
  const dataDir = path.join(dir, 'edge');
  const configFile = path.join(dir, 'edge.yaml');
  let bench: AcBench;
  let proxy: TcpProxy;
  let edge: Proc | undefined;

  const config = () =>
    acBenchEdgeConfig({
      dataDir,
      name: 'edge-condition-ack',
      port: proxy.port,
      handshake: { acknowledgeCondition: true, comment: '=report' },
    });

  beforeAll(async () => {
    bench = await startAcBench();
    proxy = await startTcpProxy(bench.port);
    writeIdentity(dataDir);
  }, 60_000);

  afterAll(async () => {
    if (process.env.DEBUG_TEST) console.log(edge?.lines.join('\n'), JSON.stringify(bench.calls));
    await edge?.stop('SIGKILL');
    await proxy?.close();
    await bench?.shutdown();
  });

  const certificates = async () =>
    (await loggedRecords<Logged>(dataDir))
      .filter((r) => r.kind === 'calibration')
      .map((r) => r.body.certificate?.number);
  const waitAcked = (n: number) =>
    waitFor(
      () => Promise.resolve(bench.acknowledged.length >= n || undefined),
      30_000,
      `${n} results acknowledged`,
    );
  const status = async () => (await edgeStatus(dataDir)).sources[0];
  const run = async () => {
    edge = await startEdge(configFile, config());
    await waitFor(
      async () => {
        const s = await status();
        return s?.up && s.details?.eventsMonitored === 1 ? true : undefined;
      },
      30_000,
      'the source up, subscribed to the events',
    );
  };
  const killEdge = () => edge!.child.kill('SIGKILL');
  const killed = () =>
    waitFor(
      () => Promise.resolve(edge!.child.signalCode === 'SIGKILL' || undefined),
      30_000,
      'the edge killed',
    );
  const report = (n: number) => resultOf(n).report;

  it('each result exactly once, acknowledged after it is durable, across kill -9, refusals and a network cut', async () => {
    await run();
    for (let n = 1; n <= 3; n++) bench.complete();
    await waitAcked(3);
    expect(bench.calls.map((c) => c.comment)).toEqual([1, 2, 3].map(report));

    // kill -9 as the Acknowledge of 4 arrives: its record must already be durable.
    bench.onAcknowledge = (r) => {
      if (r.n !== 4) return undefined;
      bench.onAcknowledge = undefined;
      killEdge();
      return 'BadSessionClosed';
    };
    bench.complete();
    await killed();
    expect(await certificates()).toEqual([1, 2, 3, 4].map(report));
    expect(bench.acknowledged).toEqual([1, 2, 3].map(report));
    await run();
    // ConditionRefresh announces 4 again (the same EventId): acknowledged, not recorded again.
    await waitAcked(4);
    bench.complete();
    await waitAcked(5);

    // kill -9 while the result of 6 is read: no record yet; taken once after the restart.
    bench.onRead = (r) => {
      if (r.n !== 6) return;
      bench.onRead = undefined;
      killEdge();
    };
    bench.complete();
    await killed();
    expect(await certificates()).toEqual([1, 2, 3, 4, 5].map(report));
    await run();
    await waitAcked(6);

    // The bench refuses every Acknowledge of 7: counted, an event, the source keeps running.
    bench.onAcknowledge = (r) => (r.n === 7 ? 'BadUserAccessDenied' : undefined);
    bench.complete();
    await waitFor(
      async () => ((await status())?.details?.results?.ackFailures === 1 ? true : undefined),
      30_000,
      'the refused acknowledge counted',
    );
    expect(bench.calls.filter((c) => c.report === report(7)).map((c) => c.status)).toEqual([
      'BadUserAccessDenied',
      'BadUserAccessDenied',
      'BadUserAccessDenied',
    ]);
    expect((await status())?.up).toBe(true);
    expect(edge!.lines.some((l) => l.includes('BadUserAccessDenied'))).toBe(true);
    // The bench takes acknowledges again; a network cut: after it, ConditionRefresh shows 7
    // still waiting and the edge acknowledges it; 8 completes meanwhile and is taken once.
    bench.onAcknowledge = undefined;
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
    await waitAcked(7);
    bench.complete();
    await waitAcked(8);
    await edge!.stop('SIGTERM');
    edge = undefined;

    const records = await loggedRecords<Logged>(dataDir);
    const cals = records.filter((r) => r.kind === 'calibration');
    const all = [1, 2, 3, 4, 5, 6, 7, 8];
    expect(bench.acknowledged).toEqual(all.map(report));
    expect(bench.pending()).toEqual([]);
    expect(cals.map((r) => r.body.certificate?.number)).toEqual(all.map(report));
    expect(cals.map((r) => r.body.points?.[0])).toEqual(
      all.map((n) =>
        expect.objectContaining({
          asFound: Math.fround(resultOf(n).found),
          asLeft: Math.fround(resultOf(n).left),
        }),
      ),
    );
    const failed = records.filter((r) => r.body.code === 'HANDSHAKE_FAILED');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.body.message).toContain('BadUserAccessDenied');
    expect(records.filter((r) => r.body.code === 'RESULT_NOT_MAPPED')).toEqual([]);
  }, 240_000);
});
