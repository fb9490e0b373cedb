import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRecord } from '@rigtrace/protocols';
import { startProcess, waitFor, type Proc } from '@rigtrace/protocols/testing';
import { SqliteConnection } from '../src/buffer/sqlite.js';
import { edgeStatus, startEdge, writeIdentity } from './helpers/edge-fixture.js';
import { benchCalibrationNodes } from './helpers/devices.js';

const LC = (n: string) => `ns=1;s=Bench.LastCalibration.${n}`;

/**
 * The edge subscribed to the simulated calibration bench over OPC UA: live values become
 * telemetry, and every completed calibration becomes one valid calibration record read from a
 * consistent snapshot of the result block.
 */
describe('edge OPC UA source', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-opcua-'));
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
    const b = await startProcess(
      'firmware-sim/src/cli.ts',
      ['cal-bench', '--port', '0', '--asset', 'BENCH-01', '--cycle-seconds', '2', '--seed', '5'],
      (l) => l.includes('"event":"listening"'),
      40_000,
    );
    bench = b;
    const endpointUrl = (JSON.parse(b.readyLine) as { endpointUrl: string }).endpointUrl;
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
          items: [
            {
              name: 'oilTemp',
              nodeId: 'ns=1;s=Bench.Live.OilTemperature',
              samplingIntervalMs: 100,
              unit: 'degC',
            },
            { name: 'calSeq', nodeId: LC('Sequence') },
          ],
          telemetry: { everyMs: 200 },
          calibration: {
            trigger: 'calSeq',
            nodes: {
              ...benchCalibrationNodes,
              temperatureC: LC('TemperatureC'),
              humidityPct: LC('HumidityPct'),
            },
          },
        },
      ],
    });
  }, 90_000);

  afterAll(async () => {
    await edge?.stop();
    await bench?.stop();
  });

  it('records live values as telemetry and each completed calibration once, valid', async () => {
    const cals = await waitFor(
      async () => {
        const r = (await records()).filter((x) => x.kind === 'calibration');
        return r.length >= 2 ? r : undefined;
      },
      40_000,
      'two calibration records',
    );
    for (const c of cals) {
      const parsed = parseRecord(c);
      expect(parsed.ok, JSON.stringify(parsed)).toBe(true);
      expect(c.source).toMatchObject({ protocol: 'opcua' });
      expect(c.equipment).toMatch(/^(PT|FC|TT)-RIG0\d/);
      expect(c.body.points.length).toBeGreaterThan(1);
      for (const p of c.body.points) {
        const err = p.asFound - p.nominal;
        expect(p.asFoundResult).toBe(err >= p.lowerTolerance && err <= p.upperTolerance ? 'pass' : 'fail');
      }
      expect(c.body.standards[0].id).toMatch(/^STD-/);
    }
    // One record per bench result: the certificate numbers do not repeat.
    const certs = cals.map((c) => c.body.certificate.number);
    expect(new Set(certs).size).toBe(certs.length);
    const telemetry = await waitFor(
      async () => {
        const t = (await records()).filter((x) => x.kind === 'telemetry');
        return t.length > 2 ? t : undefined;
      },
      10_000,
      'telemetry from the live value',
    );
    expect(telemetry[0].body.points[0]).toMatchObject({ name: 'oilTemp', unit: 'degC', quality: 'good' });
    const st = await edgeStatus(dataDir);
    expect(st.sources[0]).toMatchObject({ protocol: 'opcua', up: true });
  }, 60_000);
});
