import { describe, expect, it } from 'vitest';
import { waitFor } from '@rigtrace/protocols/testing';
import { loggedRecords } from './helpers/edge-fixture.js';
import { acBenchSuite } from './helpers/ac-bench-suite.js';
import { resultOf } from './devices/ac-bench.js';

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
  const t = acBenchSuite({
    name: 'condition-ack',
    handshake: { acknowledgeCondition: true, comment: '=report' },
  });
  const { dataDir, report, certificates, status, run, killEdge, killed } = t;
  const waitAcked = (n: number) => t.waitCount(() => t.bench.acknowledged, n, 'acknowledged');

  it('each result exactly once, acknowledged after it is durable, across kill -9, refusals and a network cut', async () => {
    const { bench } = t;
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
    expect(t.edge.lines.some((l) => l.includes('BadUserAccessDenied'))).toBe(true);
    // The bench takes acknowledges again; a network cut: after it, ConditionRefresh shows 7
    // still waiting and the edge acknowledges it; 8 completes meanwhile and is taken once.
    bench.onAcknowledge = undefined;
    await t.networkCut();
    await waitAcked(7);
    bench.complete();
    await waitAcked(8);
    await t.stopEdge();

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
