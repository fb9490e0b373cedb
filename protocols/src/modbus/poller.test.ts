import { afterEach, describe, expect, it } from 'vitest';
import { ModbusConfigError } from './errors.js';
import { ModbusPoller } from './poller.js';
import {
  freePort,
  place,
  stringWords,
  TestDevice,
  words,
  type UnitBehaviour,
} from './testing/test-device.js';
import { nextSamples, sampleWhere, sleep } from './testing/wait.js';
import type { ModbusPointSpec, ModbusSourceOptions } from './types.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function device(units: Record<number, UnitBehaviour>, port?: number): Promise<TestDevice> {
  const d = await TestDevice.start(units, port);
  cleanup.push(() => d.close());
  return d;
}

function poller(
  opts: Partial<ModbusSourceOptions> & Pick<ModbusSourceOptions, 'port' | 'points'>,
): ModbusPoller {
  const p = new ModbusPoller({ host: '127.0.0.1', intervalMs: 50, timeoutMs: 500, ...opts });
  cleanup.push(() => p.stop());
  return p;
}

const H = (
  name: string,
  address: number,
  type: ModbusPointSpec['type'],
  more: Partial<ModbusPointSpec> = {},
): ModbusPointSpec => ({ name, unitId: 1, area: 'holding', address, type, ...more });

describe('ModbusPoller against modbus-serial ServerTCP', () => {
  it('decodes every type and word/byte order from the wire', async () => {
    const holding: Record<number, number> = {};
    place(holding, 0, words('int16', -1234));
    place(holding, 1, words('uint16', 54321));
    place(holding, 2, words('int32', -123456789));
    place(holding, 4, words('uint32', 4000000000));
    place(holding, 6, words('float32', 1800.5));
    place(holding, 8, words('float64', -0.000123456789));
    place(holding, 12, words('int32', -123456789, 'little'));
    place(holding, 14, words('uint32', 4000000000, 'little', 'little'));
    place(holding, 16, words('float32', 60.12, 'big', 'little'));
    place(holding, 18, words('float64', 1e300, 'little'));
    place(holding, 22, words('float64', 2.5, 'little', 'little'));
    place(holding, 26, words('int16', -7, 'big', 'little'));
    place(holding, 27, stringWords('INJ00012345', 10));
    place(holding, 37, stringWords('WO-1', 4, 'little'));
    place(holding, 41, words('uint16', 2345));
    const input: Record<number, number> = {};
    place(input, 500, words('float32', -40.25, 'little'));
    const d = await device({
      1: { holding, input, coils: { 3: true, 5: true }, discrete: { 0: true, 1: false } },
    });
    const points: ModbusPointSpec[] = [
      H('i16', 0, 'int16'),
      H('u16', 1, 'uint16'),
      H('i32', 2, 'int32'),
      H('u32', 4, 'uint32'),
      H('f32', 6, 'float32', { unit: 'bar' }),
      H('f64', 8, 'float64'),
      H('i32wl', 12, 'int32', { wordOrder: 'little' }),
      H('u32wlbl', 14, 'uint32', { wordOrder: 'little', byteOrder: 'little' }),
      H('f32bl', 16, 'float32', { byteOrder: 'little' }),
      H('f64wl', 18, 'float64', { wordOrder: 'little' }),
      H('f64wlbl', 22, 'float64', { wordOrder: 'little', byteOrder: 'little' }),
      H('i16bl', 26, 'int16', { byteOrder: 'little' }),
      H('serial', 27, 'string', { length: 10 }),
      H('wo', 37, 'string', { length: 4, byteOrder: 'little' }),
      H('scaled', 41, 'uint16', { scale: 0.01, offset: -10 }),
      { name: 'inF32', unitId: 1, area: 'input', address: 500, type: 'float32', wordOrder: 'little' },
      { name: 'coil3', unitId: 1, area: 'coil', address: 3, type: 'bool' },
      { name: 'coil4', unitId: 1, area: 'coil', address: 4, type: 'bool' },
      { name: 'coil5', unitId: 1, area: 'coil', address: 5, type: 'bool' },
      { name: 'di0', unitId: 1, area: 'discrete', address: 0, type: 'bool' },
      { name: 'di1', unitId: 1, area: 'discrete', address: 1, type: 'bool' },
    ];
    const p = poller({ port: d.port, points });
    await p.start();
    const [s] = await nextSamples(p, 1);
    const values = Object.fromEntries(Object.entries(s!.readings).map(([k, r]) => [k, r.value]));
    expect(values).toEqual({
      i16: -1234,
      u16: 54321,
      i32: -123456789,
      u32: 4000000000,
      f32: 1800.5,
      f64: -0.000123456789,
      i32wl: -123456789,
      u32wlbl: 4000000000,
      f32bl: 60.12,
      f64wl: 1e300,
      f64wlbl: 2.5,
      i16bl: -7,
      serial: 'INJ00012345',
      wo: 'WO-1',
      scaled: 13.45,
      inF32: -40.25,
      coil3: true,
      coil4: false,
      coil5: true,
      di0: true,
      di1: false,
    });
    expect(Object.values(s!.readings).every((r) => r.quality === 'good')).toBe(true);
  });

  it('coalesces: the device sees one request per planned block per cycle', async () => {
    const d = await device({
      1: { holding: { 0: 1, 5: 2, 40: 3, 41: 4 }, input: { 0: 9 } },
      2: { holding: { 0: 7 } },
    });
    const points: ModbusPointSpec[] = [
      H('a', 0, 'uint16'),
      H('b', 5, 'uint16'), // hole of 4 <= maxGap 8: same request as a
      H('c', 40, 'uint32'), // hole of 34: own request
      { name: 'd', unitId: 1, area: 'input', address: 0, type: 'uint16' },
      { name: 'e', unitId: 2, area: 'holding', address: 0, type: 'uint16' },
    ];
    const p = poller({ port: d.port, points, intervalMs: 20 });
    expect(p.readPlan).toHaveLength(4);
    const seen: number[] = [];
    p.on('sample', () => seen.push(d.requests.length));
    await p.start();
    const samples = await nextSamples(p, 5);
    expect(seen.slice(0, 5)).toEqual([4, 8, 12, 16, 20]);
    expect(d.requests.slice(0, 4).map((r) => `${r.unitId}/${r.area}/${r.address}+${r.count}`)).toEqual([
      '1/holding/0+6',
      '1/holding/40+2',
      '1/input/0+1',
      '2/holding/0+1',
    ]);
    expect(samples[4]!.readings).toEqual({
      a: { value: 1, quality: 'good' },
      b: { value: 2, quality: 'good' },
      c: { value: 3 * 65536 + 4, quality: 'good' },
      d: { value: 9, quality: 'good' },
      e: { value: 7, quality: 'good' },
    });
    expect(p.stats().requests).toBe(d.requests.length);
  });

  it('an exception on one unit id marks only that unit bad', async () => {
    const d = await device({
      1: { holding: { 0: 11 } },
      2: { exception: 4 },
      4: { illegal: () => true },
      5: { holding: { 0: 55 } },
    });
    const points: ModbusPointSpec[] = [
      H('u1', 0, 'uint16'),
      { ...H('u2', 0, 'uint16'), unitId: 2 },
      { ...H('u3', 0, 'uint16'), unitId: 3 }, // unknown to the device: gateway exception 11
      { ...H('u4', 0, 'uint16'), unitId: 4 },
      { ...H('u5', 0, 'uint16'), unitId: 5 },
    ];
    const p = poller({ port: d.port, points });
    await p.start();
    const samples = await nextSamples(p, 3);
    for (const s of samples) {
      expect(s.readings).toEqual({
        u1: { value: 11, quality: 'good' },
        u2: { quality: 'bad', error: 'exception 4 (server device failure)' },
        u3: { quality: 'bad', error: 'exception 11 (gateway target device failed to respond)' },
        u4: { quality: 'bad', error: 'exception 2 (illegal data address)' },
        u5: { value: 55, quality: 'good' },
      });
    }
    const st = p.stats();
    expect(st.connects).toBe(1);
    expect(st.points.u2).toMatchObject({
      exceptions: st.cycles,
      timeouts: 0,
      lastError: 'exception 4 (server device failure)',
    });
    expect(st.points.u1).toMatchObject({ reads: st.cycles, errors: 0 });
  });

  it('gives the readings of each poll by index in the order of the points, the same as by name', async () => {
    const holding: Record<number, number> = {};
    place(holding, 0, words('uint16', 7));
    place(holding, 10, words('int32', -3));
    place(holding, 20, words('float32', 1.5));
    const d = await device({ 1: { holding }, 2: { exception: 4 } });
    // Not in address order, and one unit that answers with an exception.
    const points: ModbusPointSpec[] = [
      H('c', 20, 'float32'),
      { ...H('bad', 0, 'uint16'), unitId: 2 },
      H('a', 0, 'uint16'),
      H('b', 10, 'int32'),
    ];
    const p = poller({ port: d.port, points });
    expect(points.map((x) => p.pointIndex(x.name))).toEqual([0, 1, 2, 3]);
    expect(p.pointIndex('nope')).toBe(-1);
    await p.start();
    const [s1, s2] = await nextSamples(p, 2);
    for (const s of [s1!, s2!]) {
      expect(s.list).toEqual([
        { value: 1.5, quality: 'good' },
        { quality: 'bad', error: 'exception 4 (server device failure)' },
        { value: 7, quality: 'good' },
        { value: -3, quality: 'good' },
      ]);
      for (const x of points) expect(s.readings[x.name]).toBe(s.list[p.pointIndex(x.name)]);
      expect(Object.keys(s.readings)).toEqual(['c', 'bad', 'a', 'b']);
      expect(JSON.parse(JSON.stringify(s))).toEqual({ at: s.at.toISOString(), readings: s.readings });
    }
    // An unchanged value: the same reading object in both polls, by index too.
    expect(s2!.list[2]).toBe(s1!.list[2]);
  });

  it('reports each change exactly while an unchanged value keeps its (frozen) reading', async () => {
    const holding: Record<number, number> = {};
    place(holding, 0, words('uint16', 5));
    place(holding, 1, words('float32', 0));
    const d = await device({ 1: { holding } });
    const p = poller({ port: d.port, points: [H('a', 0, 'uint16'), H('z', 1, 'float32')] });
    await p.start();
    const [s1, s2] = await nextSamples(p, 2);
    expect(s2!.readings.a).toBe(s1!.readings.a);
    expect(Object.isFrozen(s1!.readings.a)).toBe(true);
    expect(s1!.readings).toEqual({ a: { value: 5, quality: 'good' }, z: { value: 0, quality: 'good' } });
    // 5 → 6 → 5, and +0 → -0 (the same number to ===, another value on the wire).
    place(holding, 0, words('uint16', 6));
    place(holding, 1, words('float32', -0));
    const s3 = await sampleWhere(p, (s) => s.readings.a?.value === 6);
    expect(Object.is(s3.readings.z!.value, -0)).toBe(true);
    place(holding, 0, words('uint16', 5));
    const s4 = await sampleWhere(p, (s) => s.readings.a?.value === 5);
    expect(s4.readings.a).toEqual({ value: 5, quality: 'good' });
    expect(Object.is(s4.readings.z!.value, -0)).toBe(true);
    expect(p.stats().points.a!.reads).toBe(p.stats().cycles);
  });

  it('splits a coalesced block refused with exception 2 and reads the valid points', async () => {
    const d = await device({
      1: { holding: { 0: 10, 1: 11, 6: 16 }, illegal: (_area, a) => a >= 2 && a <= 5 },
    });
    const points = [H('a', 0, 'uint16'), H('b', 1, 'uint16'), H('c', 6, 'uint16'), H('gone', 3, 'uint16')];
    const p = poller({ port: d.port, points });
    expect(p.readPlan).toHaveLength(1);
    await p.start();
    const [first, second] = await nextSamples(p, 2);
    const expected = {
      a: { value: 10, quality: 'good' },
      b: { value: 11, quality: 'good' },
      c: { value: 16, quality: 'good' },
      gone: { quality: 'bad', error: 'exception 2 (illegal data address)' },
    };
    expect(first!.readings).toEqual(expected);
    expect(second!.readings).toEqual(expected);
    expect(p.readPlan.map((b) => b.address)).toEqual([0, 1, 3, 6]);
    // first cycle: the block 0+7, then 4 single reads; second cycle: 4 single reads
    expect(d.requests.slice(0, 9).map((r) => `${r.address}+${r.count}`)).toEqual([
      '0+7',
      '0+1',
      '1+1',
      '3+1',
      '6+1',
      '0+1',
      '1+1',
      '3+1',
      '6+1',
    ]);
  });

  it('resumes by itself after the device is killed and restarted', async () => {
    const d1 = await TestDevice.start({ 1: { holding: { 0: 1 } } });
    const port = d1.port;
    const p = poller({ port, points: [H('v', 0, 'uint16')], reconnect: { initialMs: 50, maxMs: 400 } });
    const events: string[] = [];
    p.on('connected', () => events.push('connected'));
    p.on('disconnected', (why) => events.push(`disconnected: ${why}`));
    await p.start();
    await sampleWhere(p, (s) => s.readings.v?.value === 1);
    await d1.close();
    const down = await sampleWhere(p, (s) => s.readings.v?.quality === 'bad');
    expect(down.readings.v!.error).toMatch(/disconnected|timeout/);
    await sleep(1000); // several failed reconnect attempts
    expect(p.stats().connected).toBe(false);
    const d2 = await device({ 1: { holding: { 0: 2 } } }, port);
    const back = await sampleWhere(p, (s) => s.readings.v?.quality === 'good', 5000);
    expect(back.readings.v).toEqual({ value: 2, quality: 'good' });
    expect(events[0]).toBe('connected');
    expect(events[1]).toMatch(/^disconnected: connection/);
    expect(events[events.length - 1]).toBe('connected');
    expect(p.stats()).toMatchObject({ connected: true, connects: 2 });
    expect(d2.requests.length).toBeGreaterThan(0);
  });

  it('start() does not throw while the device is down, emits bad samples, connects when it appears', async () => {
    const port = await freePort();
    const p = poller({ port, points: [H('v', 0, 'uint16')], reconnect: { initialMs: 50, maxMs: 200 } });
    await expect(p.start()).resolves.toBeUndefined();
    const samples = await nextSamples(p, 3);
    for (const s of samples) expect(s.readings.v).toEqual({ quality: 'bad', error: 'disconnected' });
    expect(p.stats().lastError).toMatch(/connect failed: .*ECONNREFUSED/);
    await device({ 1: { holding: { 0: 42 } } }, port);
    const s = await sampleWhere(p, (x) => x.readings.v?.quality === 'good', 5000);
    expect(s.readings.v!.value).toBe(42);
    expect(p.stats().points.v!.errors).toBeGreaterThanOrEqual(3);
  });

  it('a slow unit times out while the others keep their rate, and its late replies are never taken', async () => {
    const d = await device({
      1: { holding: { 0: 111 } },
      2: { holding: { 0: 222 }, delayMs: 250 },
      3: { holding: { 0: 333 } },
    });
    const points = [
      H('fast1', 0, 'uint16'),
      { ...H('slow', 0, 'uint16'), unitId: 2 },
      { ...H('fast3', 0, 'uint16'), unitId: 3 },
    ];
    const p = poller({ port: d.port, points, intervalMs: 200, timeoutMs: 80 });
    await p.start();
    const t0 = Date.now();
    const samples = await nextSamples(p, 10);
    const elapsed = Date.now() - t0;
    // 10 cycles at 200 ms: the slow unit's 80 ms timeout fits in the cycle, so the rate holds
    expect(elapsed).toBeLessThan(10 * 200 + 800);
    for (const s of samples) {
      expect(s.readings.fast1).toEqual({ value: 111, quality: 'good' });
      expect(s.readings.fast3).toEqual({ value: 333, quality: 'good' });
      expect(s.readings.slow).toEqual({ quality: 'bad', error: 'timeout' });
    }
    const st = p.stats();
    expect(st.points.slow!.timeouts).toBe(st.cycles);
    expect(st.points.fast1!.errors).toBe(0);
    expect(st.overruns).toBe(0);
    // the late replies kept the socket demonstrably alive: no reconnect, no reopen
    expect(st.connects).toBe(1);
    expect(st.reopens).toBe(0);
  });

  it('never overlaps cycles: one request in flight, overruns counted', async () => {
    const d = await device({ 1: { holding: { 0: 1, 100: 2 }, delayMs: 60 } });
    const p = poller({ port: d.port, points: [H('a', 0, 'uint16'), H('b', 100, 'uint16')], intervalMs: 50 });
    await p.start();
    const samples = await nextSamples(p, 4);
    expect(samples.every((s) => s.readings.a?.value === 1 && s.readings.b?.value === 2)).toBe(true);
    expect(d.maxConcurrent).toBe(1);
    const st = p.stats();
    expect(st.overruns).toBeGreaterThanOrEqual(3);
    expect(st.lastCycleMs).toBeGreaterThanOrEqual(110);
    // cycle starts are at least one cycle (2 × 60 ms) apart
    const starts = samples.map((s) => s.at.getTime());
    for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(115);
  });

  it('refuses and counts requests beyond maxQueue', async () => {
    const holding = { 0: 0, 20: 20, 40: 40, 60: 60, 80: 80 };
    const d = await device({ 1: { holding } });
    const points = [0, 20, 40, 60, 80].map((a) => H(`r${a}`, a, 'uint16'));
    const p = poller({ port: d.port, points, maxQueue: 2 });
    await p.start();
    const [s] = await nextSamples(p, 1);
    // one request goes straight on the wire, two wait in the queue, two are refused
    expect(s!.readings).toEqual({
      r0: { value: 0, quality: 'good' },
      r20: { value: 20, quality: 'good' },
      r40: { value: 40, quality: 'good' },
      r60: { quality: 'bad', error: 'queue full' },
      r80: { quality: 'bad', error: 'queue full' },
    });
    expect(p.stats().refusedQueueFull).toBe(2 * p.stats().cycles);
  });

  it('writes through the same queue', async () => {
    const d = await device({ 1: { holding: { 7: 0 } } });
    const p = poller({ port: d.port, points: [H('v', 7, 'uint16')] });
    await p.start();
    await p.writeRegisters(1, 7, [4]);
    const s = await sampleWhere(p, (x) => x.readings.v?.value === 4);
    expect(s.readings.v!.quality).toBe('good');
    await p.stop();
    await expect(p.writeRegisters(1, 7, [5])).rejects.toMatchObject({ code: 'MODBUS_DISCONNECTED' });
  });

  it('stop() closes the socket and leaves no timers', async () => {
    const d = await device({ 1: { holding: { 0: 1 }, delayMs: 100 } });
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const p = poller({ port: d.port, points: [H('v', 0, 'uint16')], intervalMs: 20, timeoutMs: 1000 });
    let samples = 0;
    p.on('sample', () => samples++);
    await p.start();
    await sleep(250);
    await p.stop(); // a request is in flight now
    const after = samples;
    await sleep(150);
    expect(samples).toBe(after);
    await d.close();
    const timersAfter = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    expect(timersAfter).toBeLessThanOrEqual(timersBefore);
    expect(p.stats().connected).toBe(false);
  });

  it('a listener that throws does not stop polling nor starve the other listeners', async () => {
    const d = await device({ 1: { holding: { 0: 5 } } });
    const errors: object[] = [];
    const logger = { info() {}, warn() {}, error: (o: object) => errors.push(o) };
    const p = poller({ port: d.port, points: [H('v', 0, 'uint16')], logger });
    p.on('sample', () => {
      throw new Error('listener bug');
    });
    await p.start();
    const samples = await nextSamples(p, 3);
    expect(samples.map((x) => x.readings.v?.value)).toEqual([5, 5, 5]);
    expect(errors.length).toBeGreaterThanOrEqual(3);
  });

  it('refuses invalid options with every problem listed', () => {
    try {
      new ModbusPoller({
        host: '',
        port: 70000,
        intervalMs: 100,
        timeoutMs: 100,
        points: [H('a', 0, 'bool')],
      });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ModbusConfigError);
      expect((err as ModbusConfigError).problems.map((p) => p.path)).toEqual([
        'host',
        'port',
        'points[0].type',
      ]);
    }
  });
});
