import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startProcess, waitFor, type Proc } from '@rigtrace/protocols/testing';
import { loggedRecords, startEdge, writeIdentity } from './helpers/edge-fixture.js';

/**
 * A source's signal dictionary (CONFIG.md, "Signal dictionary") travels with its telemetry: the
 * flow-rig simulator on Modbus TCP, a real edge, and the records in the edge's signed log.
 */

type Logged = { kind: string; body: { points?: { name: string }[]; signals?: unknown[] } };

const procs: Proc[] = [];
afterEach(async () => {
  for (const p of procs.splice(0).reverse()) await p.stop('SIGKILL');
});

describe('signal dictionary', () => {
  it('is in the first telemetry record of a source, as configured, and not repeated in every record', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-signals-'));
    const dataDir = path.join(dir, 'edge');
    writeIdentity(dataDir);
    const rig = await startProcess(
      'firmware-sim/src/cli.ts',
      ['flow-rig', '--port', '0', '--asset', 'RIG-01', '--test-seconds', '2', '--seed', '7'],
      (l) => l.includes('"event":"listening"'),
    );
    procs.push(rig);
    const port = (JSON.parse(rig.readyLine) as { port: number }).port;
    const edge = await startEdge(path.join(dir, 'edge.yaml'), {
      version: 1,
      edge: { name: 'signals-test', dataDir },
      cloud: { url: 'http://127.0.0.1:9' },
      log: { level: 'warn' },
      sources: [
        {
          id: 'rig',
          protocol: 'modbus',
          equipment: 'RIG-01',
          host: '127.0.0.1',
          port,
          intervalMs: 100,
          telemetry: { everyMs: 200 },
          points: [
            { name: 'state', address: 0, type: 'uint16' },
            { name: 'testPoint', address: 1, type: 'uint16' },
            { name: 'energizingTime', address: 6, type: 'float32', unit: 'us' },
          ],
          signals: {
            state: { label: 'Rig state', codes: { 0: 'Idle', 1: 'Testing', 2: 'Fault' } },
            testPoint: { label: 'Test point', codes: { 0: 'Between tests', 3: 'Idle 350 bar' } },
            energizingTime: { label: 'Energizing time', unit: 'µs', when: { signal: 'state', codes: [1] } },
            fullLoad: { label: 'Full load · 1800 bar' },
          },
        },
      ],
    });
    procs.push(edge);
    await waitFor(
      async () => (await loggedRecords<Logged>(dataDir)).filter((r) => r.kind === 'telemetry').length >= 5,
      20_000,
      '5 telemetry records',
    );
    const telemetry = (await loggedRecords<Logged>(dataDir)).filter((r) => r.kind === 'telemetry');
    // Every record in the log passed the record format (loggedRecords checks each one).
    expect(telemetry[0]!.body.signals).toEqual([
      {
        name: 'state',
        label: 'Rig state',
        codes: [
          { code: 0, word: 'Idle' },
          { code: 1, word: 'Testing' },
          { code: 2, word: 'Fault' },
        ],
      },
      {
        name: 'testPoint',
        label: 'Test point',
        codes: [
          { code: 0, word: 'Between tests' },
          { code: 3, word: 'Idle 350 bar' },
        ],
      },
      { name: 'energizingTime', label: 'Energizing time', unit: 'µs', when: { signal: 'state', codes: [1] } },
      { name: 'fullLoad', label: 'Full load · 1800 bar' },
    ]);
    expect(telemetry[0]!.body.points!.map((p) => p.name)).toEqual(['state', 'testPoint', 'energizingTime']);
    // Sent again every 10 minutes, not with each record.
    expect(telemetry.slice(1).filter((r) => r.body.signals !== undefined)).toEqual([]);
  }, 90_000);
});
