import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startProcess, waitFor, type Proc } from '@rigtrace/protocols/testing';
import { validateConfig } from '../src/config/config.js';
import type { EdgeError } from '../src/errors.js';
import { edgeStatus, startEdge, writeIdentity, loggedRecords } from './helpers/edge-fixture.js';

/**
 * Profiles: ready mappings selected with `profile:` on an OPC UA source, each run against a
 * node-opcua server shaped like the layout it maps (test/devices/profile-bench.ts).
 */

type Logged = { kind: string; equipment: string; body: Record<string, any> };
type Result = { n: number; asFound?: number; readings?: number[]; at: string };

const logged = (dataDir: string) => loggedRecords<Logged>(dataDir);

async function startDevice(layout: 'amb' | 'lads') {
  const results: Result[] = [];
  let port = 0;
  let nodes: Record<string, string> = {};
  const proc = await startProcess(
    'edge/test/devices/profile-bench.ts',
    [JSON.stringify({ layout, periodMs: 400 })],
    (l) => l.includes('"listening"'),
    30_000,
    (line, stream) => {
      if (stream !== 'stdout' || !line.startsWith('{')) return;
      const e = JSON.parse(line) as Result & { event: string; port: number; nodes: Record<string, string> };
      if (e.event === 'listening') ({ port, nodes } = e);
      if (e.event === 'result') results.push(e);
    },
  );
  return { proc, endpointUrl: `opc.tcp://127.0.0.1:${port}`, nodes, results };
}

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => undefined);
});

async function runWith(source: object, count: number) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-profile-'));
  const dataDir = path.join(dir, 'edge');
  writeIdentity(dataDir);
  const edge: Proc = await startEdge(
    path.join(dir, 'edge.yaml'),
    {
      version: 1,
      edge: { name: 'profiles', dataDir },
      cloud: { url: 'http://127.0.0.1:9' },
      log: { level: 'warn' },
      sources: [
        {
          id: 'bench',
          protocol: 'opcua',
          publishingIntervalMs: 100,
          telemetry: { everyMs: 60_000 },
          ...source,
        },
      ],
    },
    60_000,
  );
  cleanup.push(() => edge.stop('SIGKILL'));
  const results = async () =>
    ((await edgeStatus(dataDir)) as { sources: { details: { results?: { results: number } } }[] }).sources[0]
      ?.details.results?.results ?? 0;
  await waitFor(async () => (await results()) >= count, 40_000, `${count} calibrations`);
  await edge.stop('SIGTERM');
  return (await logged(dataDir)).filter((r) => r.kind === 'calibration');
}

describe('record mapping profiles', () => {
  it('amb-calibration: an AMB-like asset by its base node id, with the point name overridden', async () => {
    const dev = await startDevice('amb');
    cleanup.push(() => dev.proc.stop('SIGKILL'));
    const cals = await runWith(
      {
        equipment: 'TT-101',
        endpointUrl: dev.endpointUrl,
        items: [{ name: 'ambient', nodeId: 'ns=1;s=TT-101.Nominal' }],
        profile: {
          name: 'amb-calibration',
          base: 'ns=1;s=TT-101',
          fields: { points: { name: 'temperature@150' } },
        },
      },
      3,
    );
    expect(cals.length).toBeGreaterThanOrEqual(3);
    for (const c of cals) {
      const r = dev.results.find((x) => x.at === c.body.calibratedAt)!;
      expect(r, c.body.calibratedAt as string).toBeDefined();
      expect(c.equipment).toBe('TT-101');
      expect(c.body.certificate.number).toBe(`AMB-${r.n}`);
      expect(c.body.nextDue).toBe(new Date(Date.parse(r.at) + 90 * 86_400_000).toISOString().slice(0, 10));
      expect(c.body.points).toEqual([
        expect.objectContaining({
          name: 'temperature@150',
          nominal: 150,
          unit: 'degC',
          asFound: r.asFound,
          asLeft: 150.1,
          lowerTolerance: -0.5,
          upperTolerance: 0.5,
          asFoundResult: r.asFound! > 150.5 ? 'fail' : 'pass',
        }),
      ]);
      expect(c.body.adjusted).toBe(true);
      expect(c.body.deviceResult).toBe('pass');
    }
  }, 120_000);

  it('lads-maintenance: a LADS-like task with numeric node ids given one by one, arrays as points', async () => {
    const dev = await startDevice('lads');
    cleanup.push(() => dev.proc.stop('SIGKILL'));
    const cals = await runWith(
      {
        equipment: 'PIP-UNIT-3',
        endpointUrl: dev.endpointUrl,
        items: [{ name: 'task', nodeId: dev.nodes.TaskName }],
        profile: { name: 'lads-maintenance', nodes: dev.nodes },
      },
      3,
    );
    for (const c of cals) {
      const r = dev.results.find((x) => x.at === c.body.calibratedAt)!;
      expect(r).toBeDefined();
      expect(c.equipment).toBe('PIP-UNIT-3');
      expect(c.body.procedure).toEqual({ id: 'GRAVIMETRIC-CAL' });
      expect(c.body.technician).toBe(`tech-${r.n % 3}`);
      expect(c.body.deviceResult).toBe(r.n % 2 === 0 ? 'fail' : 'pass');
      expect(c.body.points.map((p: { name: string; asFound: number }) => [p.name, p.asFound])).toEqual(
        ['CH1', 'CH2', 'CH3', 'CH4'].map((ch, i) => [ch, r.readings![i]]),
      );
      expect(c.body.points[2]).toMatchObject({
        unit: 'uL',
        nominal: 10,
        asFoundResult: r.n % 2 === 0 ? 'fail' : 'pass',
      });
      expect(c.body.asFoundResult).toBe(r.n % 2 === 0 ? 'fail' : 'pass');
    }
  }, 120_000);

  it('rigtrace-bench: our calibration bench simulator with nothing but the profile name', async () => {
    const bench = await startProcess(
      'firmware-sim/src/cli.ts',
      ['cal-bench', '--port', '0', '--asset', 'BENCH-01', '--cycle-seconds', '2', '--seed', '5'],
      (l) => l.includes('"event":"listening"'),
      40_000,
    );
    cleanup.push(() => bench.stop('SIGKILL'));
    const endpointUrl = (JSON.parse(bench.readyLine) as { endpointUrl: string }).endpointUrl;
    const cals = await runWith(
      {
        equipment: 'BENCH-01',
        endpointUrl,
        items: [{ name: 'oilTemp', nodeId: 'ns=1;s=Bench.Live.OilTemperature' }],
        profile: { name: 'rigtrace-bench' },
      },
      2,
    );
    const certs = cals.map((c) => c.body.certificate.number as string);
    expect(new Set(certs).size).toBe(certs.length);
    for (const c of cals) {
      expect(c.equipment).not.toBe('BENCH-01'); // the instrument calibrated, from EquipmentId
      expect(c.body.points.length).toBeGreaterThan(0);
      expect(c.body.standards[0]).toMatchObject({
        id: expect.any(String),
        dueDate: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
      });
      expect(c.body.nextDue).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      // The procedure's id and revision apart, as the register and the stored procedures name them.
      expect(c.body.procedure).toEqual({
        id: expect.stringMatching(/^CP-[A-Z]+-\d+$/),
        revision: expect.stringMatching(/^[A-Z]$/),
      });
      for (const p of c.body.points)
        expect(p.asFoundResult).toBe(
          p.asFound - p.nominal >= p.lowerTolerance - 1e-9 && p.asFound - p.nominal <= p.upperTolerance + 1e-9
            ? 'pass'
            : 'fail',
        );
    }
  }, 120_000);

  it('refuses an unknown profile, an input without a node and a profile on a Modbus source, by path', () => {
    const problems = (sources: object[]) => {
      try {
        validateConfig({ version: 1, cloud: { url: 'http://127.0.0.1:9' }, sources });
        return [];
      } catch (err) {
        return (err as EdgeError).problems;
      }
    };
    const ua = {
      id: 'b',
      protocol: 'opcua',
      equipment: 'B-1',
      endpointUrl: 'opc.tcp://127.0.0.1:4840',
      items: [{ name: 'x', nodeId: 'i=85' }],
    };
    expect(problems([{ ...ua, profile: { name: 'amb-calibrations' } }])).toEqual([
      'sources[0].profile.name: no profile "amb-calibrations" (one of amb-calibration, lads-maintenance, rigtrace-bench)',
    ]);
    expect(
      problems([
        { ...ua, profile: { name: 'lads-maintenance', nodes: { TaskName: 'ns=1;i=7001', Colour: 'i=1' } } },
      ]),
    ).toEqual(
      expect.arrayContaining([
        'sources[0].profile.nodes.Colour: the profile has no input "Colour" (ExecutionCount, TaskName, LastExecution, NextExecution, Performer, Result, Channels, Setpoints, Readings, Tolerances, Unit)',
        'sources[0].profile.nodes.Readings: needs a node id (or set profile.base for <base>.Readings)',
      ]),
    );
    expect(
      problems([
        {
          id: 'r',
          protocol: 'modbus',
          equipment: 'R-1',
          host: 'h',
          port: 502,
          points: [{ name: 'p', address: 0, type: 'uint16' }],
          profile: { name: 'amb-calibration' },
        },
      ]),
    ).toEqual(['sources[0].profile: profiles are for OPC UA sources']);
    // A valid profile gives exactly the mapping a hand-written config would, checked the same way.
    const cfg = validateConfig({
      version: 1,
      cloud: { url: 'http://127.0.0.1:9' },
      sources: [{ ...ua, profile: { name: 'rigtrace-bench' } }],
    });
    const src = cfg.sources[0] as {
      items: { name: string; nodeId: string }[];
      records: { read: Record<string, string> }[];
    };
    expect(src.items.map((i) => i.nodeId)).toEqual(['i=85', 'ns=1;s=Bench.LastCalibration.Sequence']);
    expect(src.records[0]!.read.AsFound).toBe('ns=1;s=Bench.LastCalibration.AsFound');
  });
});
