import net from 'node:net';
import { ModbusPoller, type ModbusPointSpec, type ModbusSample } from '@rigtrace/protocols/modbus';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mbpoll, runCli, startSim, type SimEvent, type SimProcess } from './helpers.js';

// The simulator is started as a real process, exactly as README.md says, and read with two
// independent peers: Debian's mbpoll and the protocols package's ModbusPoller.

interface PointResult {
  testPoint: number;
  nominalQty: number;
  lslQty: number;
  uslQty: number;
  measuredQty: number;
  backLeak: number;
  backLeakMax: number;
  pass: boolean;
}
interface Completed extends SimEvent {
  seq: number;
  overall: 'pass' | 'fail';
  partSerial: string;
  workOrder: string;
  operator: string;
  trimCode: string;
  points: PointResult[];
}

const FIELDS = ['nominalQty', 'lslQty', 'uslQty', 'measuredQty', 'backLeak', 'backLeakMax'] as const;

/** The whole register map, as the edge's config describes it. */
function flowRigPoints(unitId: number): ModbusPointSpec[] {
  const h = (
    name: string,
    address: number,
    type: ModbusPointSpec['type'],
    length?: number,
  ): ModbusPointSpec => ({
    name,
    unitId,
    area: 'holding',
    address,
    type,
    ...(length ? { length } : {}),
  });
  return [
    h('state', 0, 'uint16'),
    h('testPoint', 1, 'uint16'),
    h('cycleCount', 2, 'uint32'),
    h('railPressureBar', 4, 'float32'),
    h('energizingTimeUs', 6, 'float32'),
    h('deliveredQtyMm3', 8, 'float32'),
    h('backLeakMlMin', 10, 'float32'),
    h('oilTempC', 12, 'float32'),
    h('coilResistanceOhm', 14, 'float32'),
    h('partSerial', 20, 'string', 10),
    h('workOrder', 30, 'string', 8),
    h('operator', 38, 'string', 4),
    h('resultSeq', 100, 'uint32'),
    h('resultOverall', 102, 'uint16'),
    h('resultPartSerial', 103, 'string', 10),
    h('resultWorkOrder', 113, 'string', 8),
    h('resultOperator', 121, 'string', 4),
    h('resultTrimCode', 125, 'string', 10),
    ...[1, 2, 3, 4].flatMap((p) =>
      FIELDS.map((f, j) => h(`p${p}.${f}`, 140 + 12 * (p - 1) + 2 * j, 'float32')),
    ),
    h('faultMode', 200, 'uint16'),
  ];
}

function valuesOf(s: ModbusSample): Record<string, unknown> {
  return Object.fromEntries(Object.entries(s.readings).map(([k, r]) => [k, r.value]));
}

function waitSample(
  p: ModbusPoller,
  pred: (s: ModbusSample) => boolean,
  timeoutMs = 15_000,
): Promise<ModbusSample> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      p.off('sample', on);
      reject(new Error('no matching sample'));
    }, timeoutMs);
    const on = (s: ModbusSample): void => {
      if (!pred(s)) return;
      clearTimeout(timer);
      p.off('sample', on);
      resolve(s);
    };
    p.on('sample', on);
  });
}

const pollers: ModbusPoller[] = [];
function poller(
  port: number,
  unitId: number,
  more: { timeoutMs?: number; intervalMs?: number } = {},
): ModbusPoller {
  const p = new ModbusPoller({
    host: '127.0.0.1',
    port,
    points: flowRigPoints(unitId),
    intervalMs: more.intervalMs ?? 100,
    timeoutMs: more.timeoutMs ?? 1000,
    reconnect: { initialMs: 100, maxMs: 500 },
  });
  pollers.push(p);
  return p;
}
afterEach(async () => {
  for (const p of pollers.splice(0)) await p.stop();
});

describe('flow-rig process', () => {
  let sim: SimProcess;
  beforeAll(async () => {
    sim = await startSim([
      '--port',
      '0',
      '--unit-id',
      '3',
      '--asset',
      'RIG-T1',
      '--test-seconds',
      '1.2',
      '--idle-seconds',
      '0.3',
      '--seed',
      '20250106',
      '--slow-delay-ms',
      '150',
      '--disconnect-seconds',
      '1',
      '--disconnect-every-seconds',
      '3',
      '--drift-per-test-pct',
      '3',
    ]);
  });
  afterAll(async () => {
    const code = await sim.stop();
    expect(code).toBe(0);
  });

  it('prints one listening line with the real port', () => {
    expect(sim.listening).toEqual({
      event: 'listening',
      device: 'flow-rig',
      host: '127.0.0.1',
      port: sim.port,
      unitId: 3,
      asset: 'RIG-T1',
      seed: 20250106,
    });
    expect(sim.port).toBeGreaterThan(0);
  });

  it('serves the result block to mbpoll exactly as it logged it', async () => {
    await sim.waitFor((e) => e.event === 'test-completed');
    // Two mbpoll runs (words, then floats) must see the same test: retry if one completed between.
    for (let attempt = 1; ; attempt++) {
      const words = await mbpoll(sim.port, ['-a', '3', '-r', '100', '-c', '35', '-t', '4:hex']);
      const floats = await mbpoll(sim.port, ['-a', '3', '-r', '140', '-c', '24', '-t', '4:float', '-B']);
      const again = await mbpoll(sim.port, ['-a', '3', '-r', '100', '-c', '2', '-t', '4:hex']);
      expect([words.code, floats.code, again.code]).toEqual([0, 0, 0]);
      if (again.values.get(101) !== words.values.get(101) && attempt < 5) continue;
      const w = (a: number) => parseInt(words.values.get(a)!, 16);
      const seq = w(100) * 65536 + w(101);
      const text = (a: number, n: number) =>
        Buffer.from(Array.from({ length: n }, (_, i) => [w(a + i) >> 8, w(a + i) & 0xff]).flat())
          .toString('latin1')
          .replace(/\0+$/u, '');
      const logged = (await sim.waitFor((e) => e.event === 'test-completed' && e.seq === seq)) as Completed;
      expect(w(102)).toBe(logged.overall === 'pass' ? 1 : 2);
      expect(text(103, 10)).toBe(logged.partSerial);
      expect(text(113, 8)).toBe(logged.workOrder);
      expect(text(121, 4)).toBe(logged.operator);
      expect(text(125, 10)).toBe(logged.trimCode);
      expect(logged.partSerial).toMatch(/^INJ\d{8}$/u);
      // mbpoll prints floats with 6 significant digits
      logged.points.forEach((p, i) =>
        FIELDS.forEach((f, j) => {
          const got = Number(floats.values.get(140 + 12 * i + 2 * j));
          expect(Math.abs(got - p[f])).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(p[f])));
        }),
      );
      expect([140, 142, 144, 150].map((a) => Number(floats.values.get(a)))).toEqual([60, 58.2, 61.8, 30]);
      return;
    }
  });

  it('answers exception 2 outside 0..255, 11 for another unit id, 2 for writes to read-only registers', async () => {
    const outside = await mbpoll(sim.port, ['-a', '3', '-r', '250', '-c', '10', '-t', '4']);
    expect(outside.code).not.toBe(0);
    expect(outside.output).toMatch(/Illegal data address/u);
    const inside = await mbpoll(sim.port, ['-a', '3', '-r', '246', '-c', '10', '-t', '4']);
    expect(inside.code).toBe(0);
    expect(inside.values.get(255)).toBe('0');
    const unit = await mbpoll(sim.port, ['-a', '1', '-r', '0', '-c', '1', '-t', '4']);
    expect(unit.output).toMatch(/Target device failed to respond/u);
    const readOnly = await mbpoll(sim.port, ['-a', '3', '-r', '0', '-t', '4'], ['1']);
    expect(readOnly.output).toMatch(/Illegal data address/u);
  });

  it('reads a complete, consistent result block with ModbusPoller', async () => {
    const p = poller(sim.port, 3);
    await p.start();
    const s = await waitSample(p, (x) => (x.readings.resultSeq?.value as number) >= 2);
    const v = valuesOf(s);
    expect(Object.values(s.readings).every((r) => r.quality === 'good')).toBe(true);
    const seq = v.resultSeq as number;
    // cycleCount (register 2) and the result block (100…) come in two reads: a test may complete
    // between them, so the counter can be one behind the result it announces.
    expect(v.cycleCount as number).toBeGreaterThanOrEqual(seq - 1);
    const logged = (await sim.waitFor((e) => e.event === 'test-completed' && e.seq === seq)) as Completed;
    expect({
      overall: v.resultOverall,
      partSerial: v.resultPartSerial,
      workOrder: v.resultWorkOrder,
      operator: v.resultOperator,
      trimCode: v.resultTrimCode,
    }).toEqual({
      overall: logged.overall === 'pass' ? 1 : 2,
      partSerial: logged.partSerial,
      workOrder: logged.workOrder,
      operator: logged.operator,
      trimCode: logged.trimCode,
    });
    let allPass = true;
    for (let i = 0; i < 4; i++) {
      const got = Object.fromEntries(FIELDS.map((f) => [f, v[`p${i + 1}.${f}`]]));
      const want = Object.fromEntries(FIELDS.map((f) => [f, logged.points[i]![f]]));
      expect(got).toEqual(want);
      const pass =
        (got.measuredQty as number) >= (got.lslQty as number) &&
        (got.measuredQty as number) <= (got.uslQty as number) &&
        (got.backLeak as number) <= (got.backLeakMax as number);
      allPass &&= pass;
    }
    expect(v.resultOverall).toBe(allPass ? 1 : 2);
    expect(v.resultTrimCode).toMatch(/^[0-9A-F]{16,20}$/u);

    const running = await waitSample(p, (x) => x.readings.state?.value === 1);
    const live = valuesOf(running);
    expect([1, 2, 3, 4]).toContain(live.testPoint);
    expect(live.railPressureBar as number).toBeGreaterThan(0);
    expect(live.railPressureBar as number).toBeLessThan(1850);
    expect(live.partSerial).toMatch(/^INJ\d{8}$/u);
    expect(live.oilTempC as number).toBeGreaterThan(38);
    expect(live.oilTempC as number).toBeLessThan(42);
  });

  it('garbage fault (written with mbpoll) answers exception 4 for a share of requests, off again via the poller', async () => {
    const p = poller(sim.port, 3, { intervalMs: 20 });
    await p.start();
    await waitSample(p, (x) => x.readings.state?.quality === 'good');
    const on = await mbpoll(sim.port, ['-a', '3', '-r', '200', '-t', '4'], ['4']);
    expect(on.code).toBe(0);
    await sim.waitFor((e) => e.event === 'fault-mode' && e.faultMode === 4 && e.source === 'modbus');
    await waitSample(p, (x) => x.readings.state?.error === 'exception 4 (server device failure)');
    // writes to the fault register are exempt from the garbage fault
    await p.writeRegisters(3, 200, [0]);
    await sim.waitFor((e) => e.event === 'fault-mode' && e.faultMode === 0 && e.previous === 4);
    const clean: ModbusSample[] = [];
    await waitSample(p, (x) => {
      clean.push(x);
      return clean.length >= 15;
    });
    // the first sample may have been in flight while the fault was switched off
    for (const x of clean.slice(1))
      expect(Object.values(x.readings).every((r) => r.quality === 'good')).toBe(true);
    expect(p.stats().points.state!.exceptions).toBeGreaterThan(0);
  });

  it('slow-reply fault makes replies late (timeouts), and they recover when it is cleared', async () => {
    const p = poller(sim.port, 3, { timeoutMs: 200, intervalMs: 100 });
    await p.start();
    await waitSample(p, (x) => x.readings.state?.quality === 'good');
    expect((await mbpoll(sim.port, ['-a', '3', '-r', '200', '-t', '4'], ['2'])).code).toBe(0);
    await waitSample(p, (x) => x.readings.state?.error === 'timeout');
    // replies now take 2 × 150 ms; mbpoll's 1 s timeout still gets the write acknowledged
    const t0 = Date.now();
    expect((await mbpoll(sim.port, ['-a', '3', '-r', '200', '-t', '4'], ['0'])).code).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
    await waitSample(p, (x) => Object.values(x.readings).every((r) => r.quality === 'good'), 10_000);
    expect(p.stats().points.state!.timeouts).toBeGreaterThan(0);
  });

  it('disconnect fault drops the connection and refuses for a while; the poller comes back', async () => {
    const p = poller(sim.port, 3);
    const events: string[] = [];
    p.on('disconnected', () => events.push('down'));
    p.on('connected', () => events.push('up'));
    await p.start();
    await waitSample(p, (x) => x.readings.state?.quality === 'good');
    expect((await mbpoll(sim.port, ['-a', '3', '-r', '200', '-t', '4'], ['8'])).code).toBe(0);
    await sim.waitFor((e) => e.event === 'outage-started');
    await waitSample(p, (x) => x.readings.state?.error === 'disconnected');
    const refused = await mbpoll(sim.port, ['-a', '3', '-r', '0', '-c', '1', '-t', '4']);
    expect(refused.code).not.toBe(0);
    await sim.waitFor((e) => e.event === 'outage-ended');
    await waitSample(p, (x) => x.readings.state?.quality === 'good');
    // clear it between outages (the poller is connected, so the write goes through)
    await p.writeRegisters(3, 200, [0]);
    await sim.waitFor((e) => e.event === 'fault-mode' && e.faultMode === 0 && e.previous === 8);
    expect(events.slice(0, 3)).toEqual(['up', 'down', 'up']);
  });

  it('drift fault pushes full-load delivery out of tolerance over the next tests', async () => {
    expect((await mbpoll(sim.port, ['-a', '3', '-r', '200', '-t', '4'], ['1'])).code).toBe(0);
    const switched = await sim.waitFor((e) => e.event === 'fault-mode' && e.faultMode === 1);
    const at = sim.events.indexOf(switched);
    const failing = (await sim.waitFor(
      (e) => sim.events.indexOf(e) > at && e.event === 'test-completed' && !(e as Completed).points[0]!.pass,
      20_000,
    )) as Completed;
    expect(failing.points[0]!.measuredQty).toBeGreaterThan(failing.points[0]!.uslQty);
    expect(failing.overall).toBe('fail');
    expect((await mbpoll(sim.port, ['-a', '3', '-r', '200', '-t', '4'], ['0'])).code).toBe(0);
    await sim.waitFor((e) => e.event === 'fault-mode' && e.faultMode === 0 && e.previous === 1);
  });
});

describe('flow-rig command line', () => {
  it('bad flags: one line per problem on stderr, exit code 2', async () => {
    const r = await runCli(['flow-rig', '--port', 'abc', '--bogus', '--unit-id', '300']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual([
      'flow-rig: unknown flag --bogus',
      'flow-rig: --port: must be an integer 0..65535, got "abc"',
      'flow-rig: --unit-id: must be an integer 0..247, got "300"',
    ]);
  });

  it('unknown device or none: exit code 2', async () => {
    const r = await runCli(['toaster']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown device "toaster"/u);
    expect((await runCli([])).code).toBe(2);
  });

  it('a port already in use: message and exit code 1', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = await runCli(['flow-rig', '--port', String(port)]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/u);
    } finally {
      blocker.close();
    }
  });

  it('faults given at start are switched on after the listening line', async () => {
    const sim = await startSim(['--port', '0', '--seed', '2', '--faults', 'drift,garbage']);
    try {
      expect(sim.events[0]!.event).toBe('listening');
      const change = await sim.waitFor((e) => e.event === 'fault-mode');
      expect(change).toMatchObject({
        faultMode: 5,
        previous: 0,
        faults: ['drift', 'garbage'],
        source: 'config',
      });
      // register 200 shows the mask; reads may meet the garbage fault, so try a few times
      let value: string | undefined;
      for (let i = 0; i < 20 && value === undefined; i++) {
        value = (await mbpoll(sim.port, ['-a', '1', '-r', '200', '-c', '1', '-t', '4'])).values.get(200);
      }
      expect(value).toBe('5');
    } finally {
      expect(await sim.stop()).toBe(0);
    }
  });

  it('SIGTERM closes the port and exits 0', async () => {
    const sim = await startSim(['--port', '0', '--seed', '1']);
    expect((await mbpoll(sim.port, ['-a', '1', '-r', '0', '-c', '1', '-t', '4'])).code).toBe(0);
    sim.child.kill('SIGTERM');
    expect(await sim.exited).toBe(0);
    expect(sim.events.map((e) => e.event)).toContain('stopping');
    const after = await mbpoll(sim.port, ['-a', '1', '-r', '0', '-c', '1', '-t', '4']);
    expect(after.code).not.toBe(0);
  });
});
