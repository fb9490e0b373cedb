import { afterEach, describe, expect, it } from 'vitest';
import { ModbusPoller } from './poller.js';
import { place, startPymodbus, stringWords, words, type PymodbusServer } from './testing/test-device.js';
import { nextSamples, sampleWhere } from './testing/wait.js';
import type { ModbusPointSpec, ModbusSourceOptions } from './types.js';

// pymodbus (Debian python3-pymodbus, run with /usr/bin/python3) is an independent implementation
// of the server side: what we decode here was encoded by nobody in this repository.

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function pymodbus(...args: Parameters<typeof startPymodbus>): Promise<PymodbusServer> {
  const s = await startPymodbus(...args);
  cleanup.push(() => s.kill());
  return s;
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

describe('ModbusPoller against pymodbus', () => {
  it('decodes every type and word/byte order', async () => {
    const hr: Record<number, number> = {};
    place(hr, 0, words('int16', -32768));
    place(hr, 1, words('uint16', 65535));
    place(hr, 2, words('int32', -2));
    place(hr, 4, words('uint32', 3000000001, 'little'));
    place(hr, 6, words('float32', 1800, 'big', 'little'));
    place(hr, 8, words('float32', 0.35, 'little', 'little'));
    place(hr, 10, words('float64', 123456.789));
    place(hr, 14, words('float64', -1.5e-10, 'little', 'little'));
    place(hr, 18, stringWords('INJ87654321', 10));
    place(hr, 28, words('int16', 1234, 'big', 'little'));
    const ir: Record<number, number> = {};
    place(ir, 7, words('int32', 99999, 'little', 'little'));
    place(ir, 9, words('uint16', 2500));
    const server = await pymodbus({
      1: { hr, ir, co: { 0: true, 1: false, 2: true }, di: { 10: false, 11: true } },
    });
    const points: ModbusPointSpec[] = [
      H('i16', 0, 'int16'),
      H('u16', 1, 'uint16'),
      H('i32', 2, 'int32'),
      H('u32wl', 4, 'uint32', { wordOrder: 'little' }),
      H('f32bl', 6, 'float32', { byteOrder: 'little' }),
      H('f32wlbl', 8, 'float32', { wordOrder: 'little', byteOrder: 'little' }),
      H('f64', 10, 'float64'),
      H('f64wlbl', 14, 'float64', { wordOrder: 'little', byteOrder: 'little' }),
      H('serial', 18, 'string', { length: 10 }),
      H('i16bl', 28, 'int16', { byteOrder: 'little' }),
      {
        name: 'in32',
        unitId: 1,
        area: 'input',
        address: 7,
        type: 'int32',
        wordOrder: 'little',
        byteOrder: 'little',
      },
      { name: 'inScaled', unitId: 1, area: 'input', address: 9, type: 'uint16', scale: 0.1, unit: 'bar' },
      { name: 'c0', unitId: 1, area: 'coil', address: 0, type: 'bool' },
      { name: 'c1', unitId: 1, area: 'coil', address: 1, type: 'bool' },
      { name: 'c2', unitId: 1, area: 'coil', address: 2, type: 'bool' },
      { name: 'd10', unitId: 1, area: 'discrete', address: 10, type: 'bool' },
      { name: 'd11', unitId: 1, area: 'discrete', address: 11, type: 'bool' },
    ];
    const p = poller({ port: server.port, points });
    await p.start();
    const [s] = await nextSamples(p, 1);
    expect(Object.fromEntries(Object.entries(s!.readings).map(([k, r]) => [k, r.value ?? r.error]))).toEqual({
      i16: -32768,
      u16: 65535,
      i32: -2,
      u32wl: 3000000001,
      f32bl: 1800,
      f32wlbl: 0.35,
      f64: 123456.789,
      f64wlbl: -1.5e-10,
      serial: 'INJ87654321',
      i16bl: 1234,
      in32: 99999,
      inScaled: 250,
      c0: true,
      c1: false,
      c2: true,
      d10: false,
      d11: true,
    });
  });

  it('an illegal address on one unit and a silent unit leave the other unit good', async () => {
    const server = await pymodbus({ 1: { hr: { 0: 7, 1: 8 } }, 2: { hr: { 0: 9 } } });
    const points: ModbusPointSpec[] = [
      H('ok', 0, 'uint16'),
      H('ok2', 1, 'uint16'),
      { ...H('missing', 50, 'uint16'), unitId: 2 },
      { ...H('u2', 0, 'uint16'), unitId: 2 },
      { ...H('ghost', 0, 'uint16'), unitId: 9 }, // pymodbus drops requests to unknown units
    ];
    const p = poller({ port: server.port, points, timeoutMs: 150, intervalMs: 300 });
    await p.start();
    const samples = await nextSamples(p, 3);
    for (const s of samples) {
      expect(s.readings).toEqual({
        ok: { value: 7, quality: 'good' },
        ok2: { value: 8, quality: 'good' },
        missing: { quality: 'bad', error: 'exception 2 (illegal data address)' },
        u2: { value: 9, quality: 'good' },
        ghost: { quality: 'bad', error: 'timeout' },
      });
    }
    expect(p.stats()).toMatchObject({ connects: 1, reopens: 0 });
  });

  it('resumes after the server process is killed (SIGKILL) and started again', async () => {
    const first = await startPymodbus({ 1: { hr: { 0: 1 } } });
    const port = first.port;
    const p = poller({ port, points: [H('v', 0, 'uint16')], reconnect: { initialMs: 100, maxMs: 500 } });
    await p.start();
    await sampleWhere(p, (s) => s.readings.v?.value === 1);
    await first.kill('SIGKILL');
    await sampleWhere(p, (s) => s.readings.v?.error === 'disconnected');
    await pymodbus({ 1: { hr: { 0: 2 } } }, port);
    const back = await sampleWhere(p, (s) => s.readings.v?.value === 2, 8000);
    expect(back.readings.v).toEqual({ value: 2, quality: 'good' });
    expect(p.stats().connects).toBe(2);
  });
});
