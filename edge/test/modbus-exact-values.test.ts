import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '@rigtrace/protocols/testing';
import { startPythonDevice } from './helpers/devices.js';
import { loggedRecords, startEdge, writeIdentity } from './helpers/edge-fixture.js';

/**
 * Values exactly as the device gave them: a pymodbus device nobody here designed
 * (devices/pymodbus_values.py) holds one value of each numeric type, and the edge's signed
 * telemetry carries each one unchanged — a nine-digit counter is not rounded to seven digits, a
 * float64 keeps all its digits, a float32 reads as the decimal the plant wrote.
 */

type Logged = { kind: string; body: { points?: { name: string; value: unknown }[] } };

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

describe('Modbus values in telemetry', () => {
  it('are the device’s values: integers of every width, float64 and float32, scaled', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-exact-'));
    const dataDir = path.join(dir, 'edge');
    writeIdentity(dataDir);
    const device = await startPythonDevice('pymodbus_values.py');
    cleanup.push(() => device.kill());
    const port = device.port;
    const edge = await startEdge(path.join(dir, 'edge.yaml'), {
      version: 1,
      edge: { name: 'exact-values', dataDir },
      cloud: { url: 'http://127.0.0.1:9' },
      log: { level: 'warn' },
      sources: [
        {
          id: 'meter',
          protocol: 'modbus',
          equipment: 'METER-01',
          host: '127.0.0.1',
          port,
          intervalMs: 100,
          telemetry: { everyMs: 200 },
          points: [
            { name: 'hours', address: 0, type: 'uint32' },
            { name: 'offset', address: 2, type: 'int32' },
            { name: 'pi', address: 4, type: 'float64' },
            { name: 'qty', address: 8, type: 'float32' },
            { name: 'pressure', address: 10, type: 'uint16', scale: 0.1 },
            { name: 'strokes', address: 11, type: 'uint32' },
          ],
        },
      ],
    });
    cleanup.push(() => edge.stop('SIGKILL'));
    const telemetry = await waitFor(
      async () => (await loggedRecords<Logged>(dataDir)).find((r) => r.kind === 'telemetry'),
      30_000,
      'a telemetry record',
    );
    expect(Object.fromEntries((telemetry.body.points ?? []).map((p) => [p.name, p.value]))).toEqual({
      hours: 123456789,
      offset: -98765432,
      pi: 3.141592653589793,
      qty: 60.12,
      pressure: 1234.5,
      strokes: 4000000001,
    });
  }, 90_000);
});
