import type { ModbusPoller } from '../poller.js';
import type { ModbusSample } from '../types.js';

/** Resolves with the next `n` samples of a poller. */
export function nextSamples(poller: ModbusPoller, n: number, timeoutMs = 10_000): Promise<ModbusSample[]> {
  return new Promise((resolve, reject) => {
    const got: ModbusSample[] = [];
    const timer = setTimeout(() => {
      poller.off('sample', on);
      reject(new Error(`only ${got.length} of ${n} samples in ${timeoutMs} ms`));
    }, timeoutMs);
    const on = (s: ModbusSample): void => {
      got.push(s);
      if (got.length < n) return;
      clearTimeout(timer);
      poller.off('sample', on);
      resolve(got);
    };
    poller.on('sample', on);
  });
}

/** Resolves with the first sample that satisfies `predicate`. */
export function sampleWhere(
  poller: ModbusPoller,
  predicate: (s: ModbusSample) => boolean,
  timeoutMs = 10_000,
): Promise<ModbusSample> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      poller.off('sample', on);
      reject(new Error(`no matching sample in ${timeoutMs} ms`));
    }, timeoutMs);
    const on = (s: ModbusSample): void => {
      if (!predicate(s)) return;
      clearTimeout(timer);
      poller.off('sample', on);
      resolve(s);
    };
    poller.on('sample', on);
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
