import { describe, expect, it } from 'vitest';
import { waitFor } from '@rigtrace/protocols/testing';
import { loggedRecords } from './helpers/edge-fixture.js';
import { acBenchSuite } from './helpers/ac-bench-suite.js';
import type { AcBench } from './devices/ac-bench.js';

/**
 * An Alarms & Conditions handshake with Confirm, against a bench nobody here designed
 * (devices/ac-bench.ts with `confirm`): each completed result is a condition raised that the
 * bench holds, with the next result, until the condition is acknowledged and then confirmed.
 *
 * With `confirmCondition: true` each result must give exactly one record, acknowledged once it
 * is durable and then confirmed; across an edge kill -9 between the Acknowledge and the Confirm
 * (after the restart, ConditionRefresh announces the condition acknowledged and unconfirmed: the
 * edge confirms it, no second record); and a Confirm the bench refuses (retried 3 times, counted,
 * an event naming the status, the source keeps running; confirmed after a network cut).
 */

type Logged = {
  kind: string;
  body: { certificate?: { number: string }; code?: string; message?: string };
};

describe('OPC UA Alarms & Conditions handshake with Confirm', () => {
  const t = acBenchSuite({
    name: 'condition-confirm',
    handshake: { acknowledgeCondition: true, confirmCondition: true, comment: '=report' },
    confirm: true,
  });
  const { dataDir, report, certificates, status, run, killed } = t;
  const waitConfirmed = (n: number) => t.waitCount(() => t.bench.confirmed, n, 'confirmed');
  const callsFor = (calls: AcBench['calls'], n: number) =>
    calls.filter((c) => c.report === report(n)).map((c) => c.status);

  it('each result recorded once, acknowledged then confirmed, across kill -9 between the two and a refused Confirm', async () => {
    const { bench } = t;
    await run();
    for (let n = 1; n <= 3; n++) bench.complete();
    await waitConfirmed(3);
    expect(bench.acknowledged).toEqual([1, 2, 3].map(report));
    expect(bench.confirmCalls.map((c) => [c.report, c.comment, c.status])).toEqual(
      [1, 2, 3].map((n) => [report(n), report(n), 'Good']),
    );

    // kill -9 as the Confirm of 4 arrives: acknowledged, not confirmed, its record durable.
    bench.onConfirm = (r) => {
      if (r.n !== 4) return undefined;
      bench.onConfirm = undefined;
      t.killEdge();
      return 'BadSessionClosed';
    };
    bench.complete();
    await killed();
    expect(await certificates()).toEqual([1, 2, 3, 4].map(report));
    expect(bench.acknowledged).toEqual([1, 2, 3, 4].map(report));
    expect(bench.confirmed).toEqual([1, 2, 3].map(report));
    await run();
    // ConditionRefresh announces 4 acknowledged and unconfirmed: confirmed, not recorded again.
    await waitConfirmed(4);
    bench.complete();
    await waitConfirmed(5);
    expect(callsFor(bench.calls, 4)).toEqual(['Good']);

    // The bench refuses every Confirm of 6: retried 3 times, counted, an event, the source runs on.
    bench.onConfirm = (r) => (r.n === 6 ? 'BadUserAccessDenied' : undefined);
    bench.complete();
    await waitFor(
      async () => ((await status())?.details?.results?.ackFailures === 1 ? true : undefined),
      30_000,
      'the refused confirm counted',
    );
    expect(callsFor(bench.confirmCalls, 6)).toEqual([
      'BadUserAccessDenied',
      'BadUserAccessDenied',
      'BadUserAccessDenied',
    ]);
    expect(callsFor(bench.calls, 6)).toEqual(['Good']);
    expect((await status())?.up).toBe(true);
    expect(t.edge.lines.some((l) => l.includes('BadUserAccessDenied'))).toBe(true);
    // The bench takes confirms again; after a network cut ConditionRefresh shows 6 still waiting
    // for its Confirm and the edge confirms it; 7 is then taken once.
    bench.onConfirm = undefined;
    await t.networkCut();
    await waitConfirmed(6);
    bench.complete();
    await waitConfirmed(7);
    await t.stopEdge();

    const all = [1, 2, 3, 4, 5, 6, 7];
    const records = await loggedRecords<Logged>(dataDir);
    expect(records.filter((r) => r.kind === 'calibration').map((r) => r.body.certificate?.number)).toEqual(
      all.map(report),
    );
    expect(bench.acknowledged).toEqual(all.map(report));
    expect(bench.confirmed).toEqual(all.map(report));
    expect(bench.pending()).toEqual([]);
    for (const n of all) expect(callsFor(bench.calls, n)).toEqual(['Good']);
    const failed = records.filter((r) => r.body.code === 'HANDSHAKE_FAILED');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.body.message).toContain('Confirm');
    expect(failed[0]!.body.message).toContain('BadUserAccessDenied');
    expect(records.filter((r) => r.body.code === 'RESULT_NOT_MAPPED')).toEqual([]);
  }, 240_000);
});
