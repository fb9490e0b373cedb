import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  AttributeIds,
  BrowseDirection,
  constructEventFilter,
  DataType,
  OPCUACertificateManager,
  OPCUAClient,
  TimestampsToReturn,
  type ClientSession,
  type Variant,
} from 'node-opcua';
import { OpcuaSubscriber, routeOpcuaLibraryLogs, type OpcuaValue } from '@rigtrace/protocols/opcua';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startDevice, type SimProcess } from './helpers.js';

// The bench is started as a real process, exactly as README.md says, and read by two independent
// peers: a plain node-opcua session (browse, read, method calls, events) and our OpcuaSubscriber.

routeOpcuaLibraryLogs({ info() {}, warn() {}, error() {} });

const startBench = (args: string[]): Promise<SimProcess> => startDevice('cal-bench', args, 30_000);

const LAST_CAL = [
  'Sequence',
  'EquipmentId',
  'Procedure',
  'ProcedureRevision',
  'Technician',
  'CertificateId',
  'StandardId',
  'StandardCertificate',
  'StandardDueDate',
  'StandardUncertainty',
  'StandardOverdue',
  'Unit',
  'PointNames',
  'Nominals',
  'AsFound',
  'AsLeft',
  'LowerTolerance',
  'UpperTolerance',
  'AsFoundResult',
  'AsLeftResult',
  'Adjusted',
  'CompletedAt',
  'NextDue',
  'TemperatureC',
  'HumidityPct',
];
const ns = (path: string): string => `ns=1;s=Bench.${path}`;
const camel = (name: string): string => name[0]!.toLowerCase() + name.slice(1);
const plain = (v: Variant): unknown =>
  v.value instanceof Date
    ? v.value.toISOString()
    : ArrayBuffer.isView(v.value)
      ? Array.from(v.value as Float64Array)
      : v.value;

let bench: SimProcess;
let client: OPCUAClient;
let session: ClientSession;
let dir: string;

async function call(method: string, ...args: { dataType: DataType; value: unknown }[]): Promise<string> {
  const r = await session.call({ objectId: 'ns=1;s=Bench', methodId: ns(method), inputArguments: args });
  return r.statusCode.name;
}
const setFault = (name: string, on: boolean): Promise<string> =>
  call('SetFault', { dataType: DataType.String, value: name }, { dataType: DataType.Boolean, value: on });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rigtrace-cal-bench-test-'));
  bench = await startBench([
    '--port',
    '0',
    '--asset',
    'BENCH-P',
    '--cycle-seconds',
    '1.2',
    '--seed',
    '5',
    '--slow-delay-ms',
    '400',
    '--disconnect-every-seconds',
    '60',
  ]);
  client = OPCUAClient.create({
    endpointMustExist: false,
    // It reconnects by itself after the disconnect fault dropped its session.
    connectionStrategy: { maxRetry: 50, initialDelay: 100, maxDelay: 500 },
    clientCertificateManager: new OPCUACertificateManager({
      rootFolder: join(dir, 'client-pki'),
      automaticallyAcceptUnknownCertificate: false,
      disableFileWatchers: true,
    }),
  });
  await client.connect(bench.listening.endpointUrl as string);
  session = await client.createSession();
}, 60_000);

afterAll(async () => {
  await session?.close().catch(() => undefined);
  await client?.disconnect();
  const code = await bench?.stop();
  rmSync(dir, { recursive: true, force: true });
  expect(code).toBe(0);
  // Without --pki-dir the bench used a throwaway certificate store, removed on exit.
  expect(existsSync(dirname(bench.listening.certificateFile as string))).toBe(false);
  expect(bench.events.at(-1)).toMatchObject({ event: 'stopping', signal: 'SIGTERM', device: 'cal-bench' });
});

describe('cal-bench process', () => {
  it('prints one listening line and serves the documented address space', async () => {
    expect(bench.listening).toMatchObject({
      event: 'listening',
      device: 'cal-bench',
      endpointUrl: `opc.tcp://127.0.0.1:${bench.port}/rigtrace/bench`,
      port: bench.port,
      namespaceUri: 'urn:rigtrace:sim:cal-bench',
      namespaceIndex: 1,
      asset: 'BENCH-P',
      seed: 5,
      security: 'none',
    });
    const namespaces = await session.read({ nodeId: 'i=2255', attributeId: AttributeIds.Value });
    expect(namespaces.value.value).toEqual(['http://opcfoundation.org/UA/', 'urn:rigtrace:sim:cal-bench']);
    const names = async (nodeId: string): Promise<string[]> => {
      const r = await session.browse({ nodeId, browseDirection: BrowseDirection.Forward, resultMask: 63 });
      return (r.references ?? [])
        .filter((x) => x.nodeId.namespace === 1)
        .map((x) => x.browseName.name ?? '')
        .sort();
    };
    expect(await names('ns=1;s=Bench')).toEqual(
      ['Asset', 'Health', 'LastCalibration', 'Live', 'SetFault', 'StartCalibration', 'State'].sort(),
    );
    expect(await names(ns('Live'))).toEqual(['DeviceValue', 'OilTemperature', 'ReferenceValue', 'Unit']);
    expect(await names(ns('LastCalibration'))).toEqual([...LAST_CAL].sort());
    const types = await session.read(
      ['Sequence', 'Nominals', 'PointNames', 'CompletedAt', 'Adjusted', 'StandardUncertainty'].flatMap(
        (n) => [
          { nodeId: ns(`LastCalibration.${n}`), attributeId: AttributeIds.DataType },
          { nodeId: ns(`LastCalibration.${n}`), attributeId: AttributeIds.ValueRank },
        ],
      ),
    );
    expect(types.map((t) => String(t.value.value))).toEqual([
      'ns=0;i=7',
      '-1', // UInt32
      'ns=0;i=11',
      '1', // Double[]
      'ns=0;i=12',
      '1', // String[]
      'ns=0;i=13',
      '-1', // DateTime
      'ns=0;i=1',
      '-1', // Boolean
      'ns=0;i=11',
      '-1', // Double
    ]);
    const live = await session.read(
      ['State', 'Asset', 'Health', 'Live.OilTemperature'].map((p) => ({
        nodeId: ns(p),
        attributeId: AttributeIds.Value,
      })),
    );
    expect(['idle', 'calibrating']).toContain(live[0]!.value.value);
    expect(live[1]!.value.value).toBe('BENCH-P');
    expect(['NORMAL', 'CHECK_FUNCTION']).toContain(live[2]!.value.value);
    expect(Math.abs((live[3]!.value.value as number) - 40)).toBeLessThan(1);
  });

  it('serves each completed calibration exactly as it logged it, and raises an event', async () => {
    const sub = await session.createSubscription2({
      requestedPublishingInterval: 100,
      requestedMaxKeepAliveCount: 20,
      requestedLifetimeCount: 200,
      publishingEnabled: true,
    });
    const received: Variant[][] = [];
    const monitored = await sub.monitor(
      { nodeId: 'ns=1;s=Bench', attributeId: AttributeIds.EventNotifier },
      {
        samplingInterval: 0,
        queueSize: 20,
        filter: constructEventFilter(['Message', 'Severity', 'SourceName', 'EventType']),
      },
      TimestampsToReturn.Both,
    );
    monitored.on('changed', (fields: Variant[]) => received.push(fields));
    try {
      const after = bench.events.length;
      const logged = await bench.waitFor(
        (e) => e.event === 'calibration-completed' && bench.events.indexOf(e) >= after,
      );
      const values = await session.read(
        LAST_CAL.map((n) => ({ nodeId: ns(`LastCalibration.${n}`), attributeId: AttributeIds.Value })),
      );
      expect(values.every((v) => v.statusCode.isGood())).toBe(true);
      const read = Object.fromEntries(LAST_CAL.map((n, i) => [camel(n), plain(values[i]!.value)]));
      expect(read.sequence).toBe(logged.sequence);
      const { event: _e, time: _t, device: _d, asset: _a, rig: _r, startedAt: _s, ...record } = logged;
      expect(read).toEqual(record);
      expect(read.certificateId).toBe(`CAL-BENCH-P-${String(logged.sequence).padStart(6, '0')}`);
      // The event of that calibration: message, source, and our event type.
      await expect.poll(() => received.length, { timeout: 5_000 }).toBeGreaterThan(0);
      const message = `calibration complete ${String(logged.equipmentId)} ${String(logged.asFoundResult)}`;
      const mine = received.find((f) => (f[0]!.value as { text?: string }).text === message);
      expect(mine, JSON.stringify(received.map((f) => f.map((x) => String(x.value))))).toBeDefined();
      expect(mine![2]!.value).toBe('BENCH-P');
      const eventType = await session.browse({
        nodeId: 'i=2041',
        browseDirection: BrowseDirection.Forward,
        referenceTypeId: 'HasSubtype',
        resultMask: 63,
      });
      const ours = eventType.references!.find((r) => r.browseName.name === 'CalibrationCompletedEventType')!;
      expect(String(mine![3]!.value)).toBe(ours.nodeId.toString());
    } finally {
      await sub.terminate();
    }
  });

  it('faults switched at run time through SetFault change what the bench does', async () => {
    const sub = new OpcuaSubscriber({
      endpointUrl: bench.listening.endpointUrl as string,
      securityMode: 'None',
      securityPolicy: 'None',
      publishingIntervalMs: 100,
      watchdogMs: 1000,
      connectTimeoutMs: 3000,
      reconnect: { initialMs: 100, maxMs: 500 },
      items: [
        { name: 'oil', nodeId: ns('Live.OilTemperature'), samplingIntervalMs: 50 },
        { name: 'health', nodeId: ns('Health') },
        { name: 'sequence', nodeId: ns('LastCalibration.Sequence') },
      ],
    });
    const values: (OpcuaValue & { at: number })[] = [];
    sub.on('value', (v) => values.push({ ...v, at: Date.now() }));
    const block = ['Sequence', 'EquipmentId', 'AsFoundResult', 'Adjusted', 'AsLeftResult', 'StandardOverdue'];
    const readBlock = async (): Promise<Record<string, unknown>> => {
      const r = await sub.read(block.map((n) => ns(`LastCalibration.${n}`)));
      return Object.fromEntries(block.map((n, i) => [camel(n), r[i]!.value]));
    };
    /** Switches a fault on; resolves with the index of its 'fault' line in the bench's output. */
    const faultOn = async (name: string): Promise<number> => {
      const mark = bench.events.length;
      expect(await setFault(name, true)).toBe('Good');
      const e = await bench.waitFor(
        (x) => x.event === 'fault' && x.name === name && x.on === true && bench.events.indexOf(x) >= mark,
      );
      return bench.events.indexOf(e);
    };
    /** The record of the first calibration that starts after event index `from`, read by the subscriber. */
    const nextRecord = async (from: number): Promise<Record<string, unknown>> => {
      const started = await bench.waitFor(
        (e) => e.event === 'calibration-started' && bench.events.indexOf(e) > from,
      );
      const done = await bench.waitFor(
        (e) =>
          e.event === 'calibration-completed' &&
          e.equipmentId === started.equipmentId &&
          bench.events.indexOf(e) > from,
      );
      await expect
        .poll(() => values.some((v) => v.name === 'sequence' && v.value === done.sequence), {
          timeout: 5_000,
        })
        .toBe(true);
      const record = await readBlock();
      expect(record.sequence).toBe(done.sequence);
      return record;
    };
    await sub.start();
    try {
      // drift: the next instrument on the bench is found out of tolerance, adjusted, then passes.
      expect(await nextRecord(await faultOn('drift'))).toMatchObject({
        asFoundResult: 'fail',
        adjusted: true,
        asLeftResult: 'pass',
      });
      expect(await setFault('drift', false)).toBe('Good');

      // overdue-standard: the event is flagged, health asks for maintenance.
      expect(await nextRecord(await faultOn('overdue-standard'))).toMatchObject({ standardOverdue: true });
      await expect
        .poll(() => values.some((v) => v.name === 'health' && v.value === 'MAINTENANCE_REQUIRED'), {
          timeout: 5_000,
        })
        .toBe(true);
      expect(await setFault('overdue-standard', false)).toBe('Good');

      // StartCalibration queues (or runs now) the instrument asked for.
      const mark = bench.events.length;
      expect(await call('StartCalibration', { dataType: DataType.String, value: 'TT-RIG02-OIL' })).toBe(
        'Good',
      );
      const requested = await bench.waitFor(
        (e) => e.event === 'calibration-started' && e.requested === true && bench.events.indexOf(e) >= mark,
      );
      expect(requested.equipmentId).toBe('TT-RIG02-OIL');
      expect(await call('StartCalibration', { dataType: DataType.String, value: 'XX-9' })).toBe(
        'BadInvalidArgument',
      );
      expect(await setFault('melt', true)).toBe('BadInvalidArgument');

      // freeze: values stop changing, but keep-alives keep the subscription alive (no watchdog).
      expect(await setFault('freeze', true)).toBe('Good');
      await new Promise((r) => setTimeout(r, 300));
      const frozenAt = Date.now();
      await new Promise((r) => setTimeout(r, 1500));
      expect(values.filter((v) => v.name === 'oil' && v.at >= frozenAt)).toEqual([]);
      expect(sub.stats()).toMatchObject({ connected: true, watchdogFires: 0 });
      expect(await setFault('freeze', false)).toBe('Good');
      const thawedAt = Date.now();
      await expect
        .poll(() => values.filter((v) => v.name === 'oil' && v.at >= thawedAt).length, { timeout: 5_000 })
        .toBeGreaterThan(1);

      // slow: every reply a client waits for comes late (but SetFault itself is never slowed).
      const timed = async (): Promise<number> => {
        const t0 = Date.now();
        await session.read({ nodeId: ns('State'), attributeId: AttributeIds.Value });
        return Date.now() - t0;
      };
      expect(await timed()).toBeLessThan(300);
      expect(await setFault('slow', true)).toBe('Good');
      expect(await timed()).toBeGreaterThanOrEqual(400);
      const t0 = Date.now();
      expect(await setFault('slow', false)).toBe('Good');
      expect(Date.now() - t0).toBeLessThan(300);
      expect(await timed()).toBeLessThan(300);

      // disconnect: every session is dropped; the subscriber builds a new one and re-subscribes.
      const resubscribed = new Promise<{ items: number }>((resolve) => sub.once('resubscribed', resolve));
      const before = sub.stats();
      expect(await setFault('disconnect', true)).toBe('Good');
      await bench.waitFor((e) => e.event === 'sessions-dropped');
      expect(await resubscribed).toEqual({ items: 3 });
      expect(sub.stats().sessions).toBe(before.sessions + 1);
      expect(sub.stats().reconnects).toBe(before.reconnects + 1);
      expect(sub.stats().connected).toBe(true);
      // Our own plain session was dropped too: node-opcua restores it, then the fault goes off.
      await expect
        .poll(() => setFault('disconnect', false).catch((err: unknown) => String(err)), { timeout: 10_000 })
        .toBe('Good');
    } finally {
      await sub.stop();
    }
  });

  it('refuses bad flags with one line per problem, and answers --help', async () => {
    const bad = await runCli(['cal-bench', '--port', '99999', '--security', 'tls', '--bogus']);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr.trim().split('\n')).toEqual([
      'cal-bench: unknown flag --bogus',
      'cal-bench: --port: must be an integer 0..65535, got "99999"',
      'cal-bench: --security: must be one of none, sign, all, got "tls"',
    ]);
    const help = await runCli(['cal-bench', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: rigtrace-sim cal-bench/u);
    expect(help.stdout).toContain('--cycle-seconds');
  });
});
