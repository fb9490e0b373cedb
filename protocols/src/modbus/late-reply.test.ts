import { afterEach, describe, expect, it } from 'vitest';
import { ModbusPoller } from './poller.js';
import { ReplayDevice } from './testing/replay-device.js';
import { sleep } from './testing/wait.js';
import type { ModbusPointSpec, ModbusSample } from './types.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

describe('late replies after a timeout', () => {
  it('are never taken as the answer to a later request, even when the transaction id comes round', async () => {
    // The device holds every reply to register 1000 until the client reuses that transaction id
    // (256 requests later), then sends it just before the real answer. Each register holds its
    // own address, so a stale reply taken for another point shows up as a wrong value.
    const d = await ReplayDevice.start(1000);
    cleanup.push(() => d.close());
    const points: ModbusPointSpec[] = [
      { name: 'slow', unitId: 1, area: 'holding', address: 1000, type: 'uint16' },
      ...Array.from(
        { length: 30 },
        (_, i) =>
          ({ name: `r${i * 20}`, unitId: 1, area: 'holding', address: i * 20, type: 'uint16' }) as const,
      ),
    ];
    const p = new ModbusPoller({
      host: '127.0.0.1',
      port: d.port,
      points,
      intervalMs: 1,
      timeoutMs: 40,
      maxGap: 0,
    });
    cleanup.push(() => p.stop());
    const samples: ModbusSample[] = [];
    p.on('sample', (s) => samples.push(s));
    await p.start();
    // ~31 requests per cycle, one 40 ms timeout each: ids wrap every ~8 cycles (~0.35 s).
    // Run until they have wrapped a few times (by count, not by time: CI machines are slow).
    const deadline = Date.now() + 15_000;
    while (p.stats().requests < 1000 && Date.now() < deadline) await sleep(50);
    await p.stop();

    expect(samples.length).toBeGreaterThan(25);
    expect(p.stats().requests).toBeGreaterThanOrEqual(1000);
    let good = 0;
    for (const s of samples) {
      expect(s.readings.slow).toMatchObject({ quality: 'bad' });
      for (let i = 0; i < 30; i++) {
        const r = s.readings[`r${i * 20}`];
        if (r?.quality === 'good') {
          good++;
          expect(r.value).toBe(i * 20);
        }
      }
    }
    expect(good).toBeGreaterThan(800);
    // The connection was reopened before an unanswered id could be reused.
    expect(p.stats().reopens).toBeGreaterThanOrEqual(1);
    expect(d.held).toBeGreaterThan(20);
  });
});
