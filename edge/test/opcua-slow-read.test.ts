import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRecord } from '@rigtrace/protocols';
import { startProcess, waitFor, type Proc } from '@rigtrace/protocols/testing';
import { SqliteConnection } from '../src/buffer/sqlite.js';
import { startEdge, writeIdentity } from './helpers/edge-fixture.js';
import { benchCalibrationNodes } from './helpers/devices.js';

const LC = (n: string) => `ns=1;s=Bench.LastCalibration.${n}`;

/**
 * A bench that answers every Read after 2.5 s while it completes a calibration every second:
 * by the time a result block arrives the bench has moved on. Each record must be the result
 * whose trigger value was read with the block (never one block twice), and the results the
 * bench completed meanwhile are counted in signed RESULTS_MISSED events, so nothing is lost
 * without a trace.
 */
describe('edge OPC UA source, a result block read slower than the bench completes results', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-opcua-slow-'));
  const dataDir = path.join(dir, 'edge');
  let bench: Proc;
  let edge: Proc;

  const records = async () => {
    const db = await SqliteConnection.open(path.join(dataDir, 'buffer.sqlite'));
    try {
      return (await db.all<{ json: string }>('SELECT json FROM records ORDER BY seq')).map((r) =>
        JSON.parse(r.json),
      );
    } finally {
      await db.close();
    }
  };

  beforeAll(async () => {
    bench = await startProcess(
      'firmware-sim/src/cli.ts',
      [
        'cal-bench',
        '--port',
        '0',
        '--asset',
        'BENCH-01',
        '--cycle-seconds',
        '1',
        '--seed',
        '7',
        '--faults',
        'slow',
        '--slow-delay-ms',
        '2500',
      ],
      (l) => l.includes('"event":"listening"'),
      40_000,
    );
    const endpointUrl = (
      JSON.parse((bench as Proc & { readyLine: string }).readyLine) as { endpointUrl: string }
    ).endpointUrl;
    writeIdentity(dataDir);
    edge = await startEdge(path.join(dir, 'edge.yaml'), {
      version: 1,
      edge: { dataDir },
      cloud: { url: 'http://127.0.0.1:9' },
      buffer: { commitIntervalMs: 5 },
      sources: [
        {
          id: 'bench',
          protocol: 'opcua',
          equipment: 'BENCH-01',
          endpointUrl,
          publishingIntervalMs: 200,
          items: [{ name: 'calSeq', nodeId: LC('Sequence'), samplingIntervalMs: 100 }],
          calibration: {
            trigger: 'calSeq',
            nodes: benchCalibrationNodes,
          },
        },
      ],
    });
  }, 90_000);

  afterAll(async () => {
    await edge?.stop();
    await bench?.stop();
  });

  it('records each result block once, as the result read with it, and counts the ones it skipped', async () => {
    const all = await waitFor(
      async () => {
        const r = await records();
        return r.filter((x) => x.kind === 'calibration').length >= 4 ? r : undefined;
      },
      60_000,
      'four calibration records',
    );
    const cals = all.filter((x) => x.kind === 'calibration');
    for (const c of cals) expect(parseRecord(c).ok).toBe(true);
    // CAL-BENCH-01-<sequence>: one record per sequence, increasing.
    const seqs = cals.map((c) => Number(/-(\d+)$/.exec(c.body.certificate.number as string)![1]));
    expect(new Set(seqs).size, seqs.join(',')).toBe(seqs.length);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    // Every gap between two records taken is one signed event with its count, stored just
    // before the later record.
    const missed = all.filter((x) => x.kind === 'event' && x.body.code === 'RESULTS_MISSED');
    for (let i = 1; i < seqs.length; i++) {
      const gap = missed.find((e) => e.body.details.to === seqs[i]);
      if (seqs[i]! > seqs[i - 1]! + 1) {
        expect(gap, `gap ${seqs[i - 1]} → ${seqs[i]}`).toBeDefined();
        expect(gap.body.details).toMatchObject({ from: seqs[i - 1], missed: seqs[i]! - seqs[i - 1]! - 1 });
      } else {
        expect(gap).toBeUndefined();
      }
    }
    // The bench completes a result a second and each read takes 2.5 s: some were skipped.
    expect(missed.length).toBeGreaterThan(0);
  }, 90_000);
});
