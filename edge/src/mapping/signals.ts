import type { SignalEntry } from '@rigtrace/protocols';
import type { SignalDictionaryConfig } from '../config/config.schema.js';

/** How often a source's signal dictionary is sent again after the first telemetry record. */
export const SIGNALS_EVERY_MS = 10 * 60_000;

/** A code as the file wrote it: a number where the key reads as one ("1", "-2", "0.5"), else text. */
const asCode = (key: string | number): number | string =>
  typeof key === 'number' ? key : /^-?\d+(\.\d+)?$/.test(key) ? Number(key) : key;

/** The dictionary of the edge config as the telemetry record's `signals` (protocols/RECORDS.md). */
export function signalEntries(dict: SignalDictionaryConfig | undefined): SignalEntry[] | undefined {
  if (!dict) return undefined;
  const entries = Object.entries(dict).map(([name, s]): SignalEntry => {
    const codes = s.codes
      ? Object.entries(s.codes).map(([code, word]) => ({ code: asCode(code), word }))
      : undefined;
    return {
      name,
      ...(s.label !== undefined ? { label: s.label } : {}),
      ...(s.unit !== undefined ? { unit: s.unit } : {}),
      ...(codes ? { codes } : {}),
      ...(s.when ? { when: { signal: s.when.signal, codes: s.when.codes.map(asCode) } } : {}),
    };
  });
  return entries.length > 0 ? entries : undefined;
}

/**
 * When a source's telemetry carries its dictionary: with the first record after the collector
 * starts (so a cloud that restarted or a new portal learns it within a telemetry interval) and
 * then every `everyMs`; the records between carry only values.
 */
export class SignalDictionary {
  private readonly entries: SignalEntry[] | undefined;
  private lastSentAt = -Infinity;

  constructor(
    dict: SignalDictionaryConfig | undefined,
    private readonly everyMs = SIGNALS_EVERY_MS,
  ) {
    this.entries = signalEntries(dict);
  }

  /** The entries to put in a telemetry record written at `nowMs`, or undefined. */
  due(nowMs: number): SignalEntry[] | undefined {
    if (!this.entries || nowMs - this.lastSentAt < this.everyMs) return undefined;
    this.lastSentAt = nowMs;
    return this.entries;
  }
}

/** A telemetry body: the points, and the dictionary when it is due (keys in canonical order). */
export function withSignals<P>(
  points: P[],
  signals: SignalEntry[] | undefined,
): { points: P[]; signals?: SignalEntry[] } {
  return signals ? { points, signals } : { points };
}
