import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '@rigtrace/protocols/testing';
import { startBench } from './helpers/devices.js';
import { edgeStatus, startEdge, writeIdentity, loggedRecords } from './helpers/edge-fixture.js';

/**
 * A third-party OPC UA calibration bench (one scalar per value, DateTime dates, no node for the
 * equipment, unit or nominal, a pass/fail of its own, a completed counter and an acknowledge node)
 * mapped with constants and expressions. Every calibration is recorded exactly once through edge
 * kill -9 (the bench holds each result until acknowledged), and a mapping that names a node the
 * bench does not have gives an event naming the field and the node.
 */

const N = (s: string) => `ns=1;s=PT101.${s}`;

function config(dataDir: string, endpointUrl: string, extraRead: Record<string, string> = {}) {
  return {
    version: 1,
    edge: { name: 'mapping-opcua', dataDir },
    cloud: { url: 'http://127.0.0.1:9' },
    log: { level: 'warn' },
    sources: [
      {
        id: 'bench',
        protocol: 'opcua',
        equipment: 'BENCH-ELSEWHERE',
        endpointUrl,
        publishingIntervalMs: 100,
        items: [{ name: 'completed', nodeId: N('Completed'), samplingIntervalMs: 50 }],
        telemetry: { everyMs: 60_000 },
        records: [
          {
            kind: 'calibration',
            trigger: { counter: 'completed' },
            read: {
              last: N('LastCalibration'),
              next: N('NextCalibration'),
              asFound: N('AsFound'),
              asLeft: N('AsLeft'),
              tol: N('Tolerance'),
              passed: N('Passed'),
              cert: N('CertificateId'),
              ...extraRead,
            },
            handshake: { node: N('Acknowledged') },
            fields: {
              equipment: 'PT-101',
              calibratedAt: '=last',
              nextDue: '=date(next)',
              certificate: '=cert',
              deviceResult: '=passed',
              adjusted: '=asLeft != asFound',
              ...(extraRead.proc ? { procedure: '=proc' } : {}),
              points: [
                {
                  name: 'pressure@100bar',
                  nominal: 100,
                  unit: 'bar',
                  asFound: '=asFound',
                  asLeft: '=asLeft',
                  tolerance: '=tol',
                },
              ],
            },
          },
        ],
      },
    ],
  };
}

type Logged = { kind: string; equipment: string; body: Record<string, any> };

const logged = (dataDir: string) => loggedRecords<Logged>(dataDir);

const counters = async (dataDir: string) =>
  ((await edgeStatus(dataDir)) as { sources: { details: { results?: Record<string, number> } }[] }).sources[0]
    ?.details.results ?? {};

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

describe('a third-party OPC UA bench through the record mapping', () => {
  it('records every calibration exactly once across edge kill -9, with DateTime dates, constants and ± tolerance', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-map-ua-'));
    const dataDir = path.join(dir, 'edge');
    writeIdentity(dataDir);
    const bench = await startBench({ port: 0, periodMs: 150, handshake: true });
    cleanup.push(() => bench.proc.stop('SIGKILL'));
    const file = path.join(dir, 'edge.yaml');
    let edge = await startEdge(file, config(dataDir, bench.endpointUrl), 60_000);
    cleanup.push(() => edge.stop('SIGKILL'));
    await waitFor(async () => ((await counters(dataDir)).results ?? 0) >= 4, 30_000, '4 calibrations');
    await edge.stop('SIGKILL');
    await new Promise((r) => setTimeout(r, 600));
    edge = await startEdge(file, config(dataDir, bench.endpointUrl), 60_000);
    await waitFor(async () => ((await counters(dataDir)).results ?? 0) >= 3, 30_000, '3 more calibrations');
    await edge.stop('SIGTERM');
    await bench.proc.stop('SIGKILL');

    const records = await logged(dataDir);
    const cals = records.filter((r) => r.kind === 'calibration');
    const certs = cals.map((r) => r.body.certificate.number as string);
    expect(new Set(certs).size).toBe(certs.length);
    const produced = bench.results.map((r) => r.certificate);
    expect(certs).toEqual(produced.slice(0, certs.length));
    expect(certs.length).toBeGreaterThanOrEqual(produced.length - 1);
    expect(records.filter((r) => r.body.code === 'RESULTS_MISSED')).toEqual([]);
    for (const c of cals) {
      const b = bench.results.find((r) => r.certificate === c.body.certificate.number)!;
      expect(c.equipment).toBe('PT-101');
      expect(c.body.calibratedAt).toBe(b.at);
      expect(c.body.nextDue).toBe(new Date(Date.parse(b.at) + 365 * 86_400_000).toISOString().slice(0, 10));
      expect(c.body.points[0]).toMatchObject({
        nominal: 100,
        unit: 'bar',
        asFound: b.asFound,
        lowerTolerance: -0.5,
        upperTolerance: 0.5,
        asFoundResult: b.asFound > 100.5 ? 'fail' : 'pass',
        asLeftResult: 'pass',
      });
      expect(c.body.deviceResult).toBe('pass');
      expect(c.body.adjusted).toBe(b.asFound !== b.asLeft);
    }
    expect(cals.some((c) => c.body.asFoundResult === 'fail')).toBe(true);
  }, 120_000);

  it('names the field and the node when a mapped node does not exist, and acknowledges with the failure', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-map-ua-'));
    const dataDir = path.join(dir, 'edge');
    writeIdentity(dataDir);
    const bench = await startBench({ port: 0, periodMs: 200, handshake: true });
    cleanup.push(() => bench.proc.stop('SIGKILL'));
    const edge = await startEdge(
      path.join(dir, 'edge.yaml'),
      config(dataDir, bench.endpointUrl, { proc: 'ns=1;s=PT101.Procedure' }),
      60_000,
    );
    cleanup.push(() => edge.stop('SIGKILL'));
    await waitFor(
      async () => ((await counters(dataDir)).notMapped ?? 0) >= 2,
      30_000,
      '2 results not mapped',
    );
    await edge.stop('SIGTERM');
    const events = (await logged(dataDir)).filter((r) => r.body.code === 'RESULT_NOT_MAPPED');
    expect(events.length).toBeGreaterThanOrEqual(2);
    expect(events[0]!.body.message).toContain(
      'records[0].fields.procedure (=proc): proc has status BadNodeIdUnknown (ns=1;s=PT101.Procedure)',
    );
    expect(events[0]!.body.message).not.toContain('could not be read completely');
  }, 90_000);
});
