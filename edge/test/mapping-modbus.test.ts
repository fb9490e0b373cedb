import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor, type Proc } from '@rigtrace/protocols/testing';
import { startRig } from './helpers/devices.js';
import { edgeStatus, startEdge, writeIdentity, loggedRecords } from './helpers/edge-fixture.js';

/**
 * An injector rig nobody here designed (pymodbus, its own register layout, no overall result
 * register, an acknowledge register) mapped with the declarative record mapping, through edge
 * kill -9 and a rig restart: every result it completed is in the log exactly once, or — where the
 * rig could not hold it — counted in a signed RESULTS_MISSED event. Nothing is lost silently.
 */

function config(dataDir: string, port: number, handshake: boolean) {
  return {
    version: 1,
    edge: { name: 'mapping-test', dataDir },
    cloud: { url: 'http://127.0.0.1:9' },
    log: { level: 'warn' },
    sources: [
      {
        id: 'rig',
        protocol: 'modbus',
        equipment: 'RIG-THIRD-PARTY',
        host: '127.0.0.1',
        port,
        intervalMs: 50,
        timeoutMs: 500,
        telemetry: { everyMs: 60_000 },
        points: [{ name: 'done', address: 0, type: 'uint16' }],
        records: [
          {
            kind: 'inspection',
            trigger: { counter: 'done' },
            read: {
              serial: { address: 1, type: 'string', length: 5 },
              qty: { address: 6, type: 'float32' },
              leak: { address: 8, type: 'float32' },
              op: { address: 10, type: 'uint16' },
            },
            ...(handshake ? { handshake: { address: 20 } } : {}),
            fields: {
              partSerial: '=serial',
              operator: '="OP-" + op',
              testPlan: 'EURO6-FULL',
              characteristics: [
                { name: 'fullLoad.qty', measured: '=qty', nominal: 60, tolerance: 1.8, unit: 'mm3/stroke' },
                { name: 'backLeak', measured: '=leak', usl: 30, unit: 'mL/min' },
              ],
            },
          },
        ],
      },
    ],
  };
}

type Logged = {
  kind: string;
  body: Record<string, unknown> & { partSerial?: string; code?: string; details?: Record<string, unknown> };
};

const logged = (dataDir: string) => loggedRecords<Logged>(dataDir);

const taken = async (dataDir: string) => {
  const s = (await edgeStatus(dataDir)) as { sources: { details: { results?: { results: number } } }[] };
  return s.sources[0]?.details.results?.results ?? 0;
};

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

describe('a third-party Modbus rig through the record mapping', () => {
  it('with a handshake: every result exactly once across edge kill -9, verdicts from the limits', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-map-mb-'));
    const dataDir = path.join(dir, 'edge');
    writeIdentity(dataDir);
    const rig = await startRig({ port: 0, periodS: 0.1, handshake: true, failEvery: 4 });
    cleanup.push(() => rig.kill());
    const file = path.join(dir, 'edge.yaml');
    let edge: Proc = await startEdge(file, config(dataDir, rig.port, true), 60_000);
    cleanup.push(() => edge.stop('SIGKILL'));
    await waitFor(async () => (await taken(dataDir)) >= 5, 20_000, '5 results taken');
    for (let round = 0; round < 2; round++) {
      await edge.stop('SIGKILL');
      // The rig holds its last result until the edge acknowledges it: nothing new is produced.
      await new Promise((r) => setTimeout(r, 800));
      edge = await startEdge(file, config(dataDir, rig.port, true), 60_000);
      await waitFor(async () => (await taken(dataDir)) >= 4, 20_000, '4 results taken after the restart');
    }
    await edge.stop('SIGTERM');
    await rig.kill();
    const records = await logged(dataDir);
    const inspections = records.filter((r) => r.kind === 'inspection');
    const serials = inspections.map((r) => r.body.partSerial);
    expect(new Set(serials).size).toBe(serials.length); // no duplicates
    // Every result the rig completed, except possibly the very last (produced as the edge stopped).
    const completed = rig.results.map((r) => r.serial);
    expect(serials).toEqual(completed.slice(0, serials.length));
    expect(serials.length).toBeGreaterThanOrEqual(completed.length - 1);
    expect(records.filter((r) => r.body.code === 'RESULTS_MISSED')).toEqual([]);
    // No result register: the verdict is the limits'; the rig's out-of-limit parts fail.
    for (const r of inspections) {
      const n = Number(r.body.partSerial!.slice(1));
      const qty = rig.results.find((x) => x.n === n)!.qty;
      expect(r.body.result).toBe(qty > 61.8 ? 'fail' : 'pass');
      expect(r.body).not.toHaveProperty('deviceResult');
      expect(r.body.operator).toBe(`OP-${100 + (n % 5)}`);
    }
    expect(inspections.some((r) => r.body.result === 'fail')).toBe(true);
  }, 120_000);

  it('without a handshake: results missed while the edge was down, and a rig restart, are signed events', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-map-mb-'));
    const dataDir = path.join(dir, 'edge');
    writeIdentity(dataDir);
    let rig = await startRig({ port: 0, periodS: 0.15, handshake: false });
    cleanup.push(() => rig.kill());
    const port = rig.port;
    const file = path.join(dir, 'edge.yaml');
    let edge: Proc = await startEdge(file, config(dataDir, port, false), 60_000);
    cleanup.push(() => edge.stop('SIGKILL'));
    await waitFor(async () => (await taken(dataDir)) >= 3, 20_000, '3 results taken');
    await edge.stop('SIGKILL');
    const before = rig.results.length;
    await waitFor(
      () => Promise.resolve(rig.results.length >= before + 5),
      10_000,
      '5 results while the edge is down',
    );
    edge = await startEdge(file, config(dataDir, port, false), 60_000);
    await waitFor(async () => (await taken(dataDir)) >= 2, 20_000, '2 results after the restart');
    // The rig restarts: its counter starts again from 0.
    const firstRun = rig.results;
    await rig.kill();
    rig = await startRig({ port, periodS: 0.15, handshake: false, prefix: 'Q' });
    await waitFor(
      async () => (await logged(dataDir)).some((r) => r.body.code === 'RESULT_COUNTER_RESET'),
      20_000,
      'the counter reset event',
    );
    await new Promise((r) => setTimeout(r, 600));
    await edge.stop('SIGTERM');
    await rig.kill();

    const all = await logged(dataDir);
    // The rig's first run: everything logged before the counter reset.
    const records = all.slice(
      0,
      all.findIndex((r) => r.body.code === 'RESULT_COUNTER_RESET'),
    );
    const serials = records.filter((r) => r.kind === 'inspection').map((r) => r.body.partSerial!);
    const missed = records
      .filter((r) => r.body.code === 'RESULTS_MISSED')
      .reduce((n, r) => n + Number(r.body.details?.missed), 0);
    expect(missed).toBeGreaterThanOrEqual(4);
    const firstRunTaken = serials.filter((s) => firstRun.some((r) => r.serial === s));
    expect(new Set(firstRunTaken).size).toBe(firstRunTaken.length);
    // From the first result taken (the one on display at the first connect) to the last, each
    // result of the first run is either recorded or counted as missed.
    const numbers = firstRunTaken.map((s) => Number(s.slice(1)));
    expect(firstRunTaken.length + missed).toBe(Math.max(...numbers) - Math.min(...numbers) + 1);
    const gap = records.find((r) => r.body.code === 'RESULTS_MISSED')!;
    expect(gap.body.details).toMatchObject({ trigger: 'done' });
    expect(String(gap.body.details?.since)).toMatch(/^\d{4}-/);
    // After the restart the new results are taken again.
    expect(
      all.filter((r) => r.kind === 'inspection' && r.body.partSerial!.startsWith('Q')).length,
    ).toBeGreaterThan(0);
  }, 120_000);
});
