import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ModbusSample, PointReading } from '@rigtrace/protocols/modbus';
import type { OpcuaValue } from '@rigtrace/protocols/opcua';
import type { RecordDraft } from '../buffer/edge-log.js';
import {
  edgeConfigSchema,
  type ModbusSourceConfig,
  type OpcuaSourceConfig,
} from '../config/config.schema.js';
import type { RecordSink } from '../records/record-sink.js';
import { ModbusCollector } from './modbus.collector.js';
import { OpcuaCollector } from './opcua.collector.js';

/**
 * A source's telemetry follows its samples: with `telemetry.everyMs` equal to the poll interval
 * every poll gives a record, also when a poll's timer fires a millisecond or two before the
 * interval is over (a timer runs against the event loop's cached time); and with a longer
 * `everyMs` a record comes at the rate asked for, never more often. The same for an OPC UA
 * source's notifications, every publishing interval.
 */

const T0 = Date.parse('2026-12-07T20:00:00.000Z');
const iso = (offsets: number[]) => offsets.map((at) => new Date(T0 + at).toISOString());

function sinkInto(written: RecordDraft[]): RecordSink {
  return {
    write: (_source: string, drafts: RecordDraft[]) => {
      written.push(...drafts);
      return Promise.resolve();
    },
  } as unknown as RecordSink;
}

function collector(intervalMs: number, everyMs: number) {
  const cfg = edgeConfigSchema.parse({
    version: 1,
    edge: { name: 'pace', dataDir: '/tmp/unused' },
    cloud: { url: 'http://127.0.0.1:9' },
    sources: [
      {
        id: 'rig',
        protocol: 'modbus',
        equipment: 'RIG-01',
        host: '127.0.0.1',
        port: 502,
        intervalMs,
        telemetry: { everyMs },
        points: [{ name: 'faultMode', address: 200, type: 'uint16' }],
      },
    ],
  }).sources[0] as ModbusSourceConfig;
  const written: RecordDraft[] = [];
  const c = new ModbusCollector(cfg, {
    sink: sinkInto(written),
    getState: () => Promise.resolve(undefined),
    logger: pino({ level: 'silent' }),
  });
  // A poll's sample, as the poller emits it (the poller itself is not started here).
  const reading: PointReading = { quality: 'good', value: 0 };
  const poll = (offsetMs: number) =>
    (c as unknown as { onSample(s: ModbusSample): void }).onSample({
      at: new Date(T0 + offsetMs),
      list: [reading],
      readings: { faultMode: reading },
    });
  const telemetry = () => written.filter((d) => d.kind === 'telemetry').map((d) => d.observedAt);
  return { poll, telemetry };
}

describe('Modbus telemetry pace', () => {
  it('gives a record for every poll when everyMs is the poll interval, polls a little early included', () => {
    const { poll, telemetry } = collector(100, 100);
    // Polls as the timers run them: mostly a little late, now and then a millisecond or two early.
    const polls = [0, 101, 199, 300, 398, 499, 601, 700, 799, 900];
    for (const at of polls) poll(at);
    expect(telemetry()).toEqual(iso(polls));
  });

  it('gives one record per everyMs on average when everyMs is longer than the interval', () => {
    const { poll, telemetry } = collector(100, 250);
    // Ten seconds of polls, each 100 ms after the one before give or take 2 ms.
    for (let k = 0; k < 100; k++) poll(k * 100 + ((k * 7) % 5) - 2);
    const n = telemetry().length;
    expect(n).toBeLessThanOrEqual(40);
    expect(n).toBeGreaterThanOrEqual(39);
  });

  it('starts again from the next poll after a pause', () => {
    const { poll, telemetry } = collector(100, 1000);
    poll(0);
    poll(999);
    poll(5000); // after a pause (a lost connection)
    poll(5100);
    poll(5999);
    expect(telemetry()).toEqual(iso([0, 999, 5000, 5999]));
  });
});

afterEach(() => {
  vi.useRealTimers();
});

describe('OPC UA telemetry pace', () => {
  it('gives a record for every publishing interval when everyMs is that interval', () => {
    const cfg = edgeConfigSchema.parse({
      version: 1,
      edge: { name: 'pace', dataDir: '/tmp/unused' },
      cloud: { url: 'http://127.0.0.1:9' },
      sources: [
        {
          id: 'bench',
          protocol: 'opcua',
          equipment: 'BENCH-01',
          endpointUrl: 'opc.tcp://127.0.0.1:4840',
          publishingIntervalMs: 200,
          items: [{ name: 'oilTemp', nodeId: 'ns=1;s=Oil' }],
          telemetry: { everyMs: 200 },
        },
      ],
    }).sources[0] as OpcuaSourceConfig;
    const written: RecordDraft[] = [];
    const c = new OpcuaCollector(cfg, {
      sink: sinkInto(written),
      getState: () => Promise.resolve(undefined),
      logger: pino({ level: 'silent' }),
      dataDir: '/tmp/unused',
    });
    vi.useFakeTimers({ toFake: ['Date'] });
    // Notifications as the subscription delivers them, one per publishing interval, give or take.
    const notified = [0, 201, 399, 600, 798, 1001];
    for (const at of notified) {
      vi.setSystemTime(T0 + at);
      (c as unknown as { onValue(v: OpcuaValue): void }).onValue({
        name: 'oilTemp',
        nodeId: 'ns=1;s=Oil',
        value: 41.5,
        statusCode: { name: 'Good', value: 0, good: true },
        sourceTimestamp: null,
        serverTimestamp: null,
        overflow: false,
      });
    }
    expect(written.filter((d) => d.kind === 'telemetry').map((d) => d.observedAt)).toEqual(iso(notified));
  });
});
