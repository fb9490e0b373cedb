import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hashDevicePassword } from '@rigtrace/protocols/mqtt';
import { waitFor, type Proc } from '@rigtrace/protocols/testing';
import {
  edgeStatus,
  loggedRecords,
  startEdge,
  startFlowRigProcess,
  writeIdentity,
} from './helpers/edge-fixture.js';

/**
 * A source's signal dictionary (CONFIG.md, "Signal dictionary") travels with its telemetry: the
 * flow-rig simulator on Modbus TCP, a real edge, and the records in the edge's signed log.
 */

type Logged = {
  kind: string;
  equipment: string;
  source: { protocol: string; address?: string };
  body: { points?: { name: string }[]; signals?: unknown[] };
};

const procs: Proc[] = [];
afterEach(async () => {
  for (const p of procs.splice(0).reverse()) await p.stop('SIGKILL');
});

describe('signal dictionary', () => {
  it('is in the first telemetry record of a source, as configured, and not repeated in every record', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-signals-'));
    const dataDir = path.join(dir, 'edge');
    writeIdentity(dataDir);
    const { proc: rig, port } = await startFlowRigProcess(
      '--asset RIG-01 --test-seconds 2 --seed 7'.split(' '),
    );
    procs.push(rig);
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

  it('of an MQTT source travels before the first record about each station, in a record of its own', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rt-signals-mqtt-'));
    const dataDir = path.join(dir, 'edge');
    writeIdentity(dataDir);
    const edge = await startEdge(path.join(dir, 'edge.yaml'), {
      version: 1,
      edge: { name: 'signals-mqtt-test', dataDir },
      cloud: { url: 'http://127.0.0.1:9' }, // no cloud: records stay in the buffer
      log: { level: 'warn' },
      buffer: { commitIntervalMs: 5 },
      sources: [
        {
          id: 'stations',
          protocol: 'mqtt-broker',
          host: '127.0.0.1',
          port: 0,
          devices: [
            {
              username: 'stn',
              passwordHash: await hashDevicePassword('station-secret-1'),
              publish: ['rigtrace/plant-1/#', 'plant/cell-3/#'],
            },
          ],
          signals: {
            'guide-bore': { label: 'Guide bore' },
            'guide-bore.diameter': { label: 'Guide bore diameter', unit: 'mm' },
            state: { label: 'Press state', codes: { RUN: 'Pressing', IDLE: 'Waiting' } },
          },
          // A plant topic mapped to usage records: the same dictionary, the same rule.
          records: [
            {
              kind: 'usage',
              trigger: { message: 'plant/cell-3/+/state' },
              read: { st: '$.st' },
              tables: { ev: { RUN: 'start', IDLE: 'stop' } },
              fields: { equipment: '="PRESS-" + at(levels, 2)', event: '=lookup("ev", st)' },
            },
          ],
        },
      ],
    });
    procs.push(edge);
    const port = Number(
      new URL(
        ((await edgeStatus(dataDir)) as { sources: { details: { listen: string } }[] }).sources[0]!.details
          .listen,
      ).port,
    );
    // A real MQTT client (Debian's mosquitto_pub, QoS 1: it returns once the records are durable).
    const pub = (topic: string, message: object) => {
      const r = spawnSync(
        'mosquitto_pub',
        [
          '-h',
          '127.0.0.1',
          '-p',
          String(port),
          '-u',
          'stn',
          '-P',
          'station-secret-1',
          '-q',
          '1',
          '-t',
          topic,
          '-m',
          JSON.stringify(message),
        ],
        { encoding: 'utf8', timeout: 10_000 },
      );
      expect(r.status, r.stderr).toBe(0);
    };
    const part = (id: string) => ({
      id,
      partSerial: `NZB-${id}`,
      characteristics: [
        { name: 'guide-bore.diameter', nominal: 4, lsl: 3.998, usl: 4.002, measured: 4.0004, unit: 'mm' },
      ],
    });
    pub('rigtrace/plant-1/STN-01/inspection', part('m1'));
    pub('rigtrace/plant-1/STN-01/inspection', part('m2'));
    pub('rigtrace/plant-1/STN-02/inspection', part('m3'));
    pub('plant/cell-3/7/state', { st: 'RUN' });
    pub('plant/cell-3/7/state', { st: 'IDLE' });

    // Every record in the log passed the record format (loggedRecords checks each one).
    const logged = await loggedRecords<Logged>(dataDir);
    expect(logged.map((r) => `${r.kind} ${r.equipment}`)).toEqual([
      'telemetry STN-01',
      'inspection STN-01',
      'inspection STN-01',
      'telemetry STN-02',
      'inspection STN-02',
      'telemetry PRESS-7',
      'usage PRESS-7',
      'usage PRESS-7',
    ]);
    const dictionary = [
      { name: 'guide-bore', label: 'Guide bore' },
      { name: 'guide-bore.diameter', label: 'Guide bore diameter', unit: 'mm' },
      {
        name: 'state',
        label: 'Press state',
        codes: [
          { code: 'RUN', word: 'Pressing' },
          { code: 'IDLE', word: 'Waiting' },
        ],
      },
    ];
    for (const t of logged.filter((r) => r.kind === 'telemetry')) {
      expect(t.body).toEqual({ points: [], signals: dictionary });
      expect(t.source.protocol).toBe('mqtt');
    }
    expect(logged.filter((r) => r.kind !== 'telemetry' && r.body.signals !== undefined)).toEqual([]);
  }, 60_000);
});
