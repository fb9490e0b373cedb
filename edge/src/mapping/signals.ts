import type { SignalEntry } from '@rigtrace/protocols';
import type { RecordDraft } from '../buffer/edge-log.js';
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
 * then every `everyMs`; the records between carry only values. A source that speaks for several
 * pieces of equipment (an MQTT broker or subscription) keeps the times per equipment, since the
 * cloud keeps a dictionary per equipment.
 */
export class SignalDictionary {
  private readonly entries: SignalEntry[] | undefined;
  private readonly lastSentAt = new Map<string, number>();

  constructor(
    dict: SignalDictionaryConfig | undefined,
    private readonly everyMs = SIGNALS_EVERY_MS,
  ) {
    this.entries = signalEntries(dict);
  }

  /** The entries to put in a telemetry record of `equipment` written at `nowMs`, or undefined. */
  due(nowMs: number, equipment = ''): SignalEntry[] | undefined {
    if (!this.entries || nowMs - (this.lastSentAt.get(equipment) ?? -Infinity) < this.everyMs)
      return undefined;
    this.lastSentAt.set(equipment, nowMs);
    return this.entries;
  }

  /**
   * For sources whose messages are results, not values (MQTT): the drafts of one message, each
   * piece of equipment they are about preceded by a telemetry record carrying only the dictionary
   * when it is due for that equipment (RECORDS.md: such a record may have no points).
   */
  withDrafts(drafts: RecordDraft[], nowMs: number): RecordDraft[] {
    if (!this.entries) return drafts;
    const out: RecordDraft[] = [];
    for (const d of drafts) {
      const signals = d.kind === 'event' ? undefined : this.due(nowMs, d.equipment);
      if (signals)
        out.push({
          kind: 'telemetry',
          equipment: d.equipment,
          observedAt: d.receivedAt,
          receivedAt: d.receivedAt,
          source: d.source,
          body: { points: [], signals },
        });
      out.push(d);
    }
    return out;
  }
}

/** A telemetry body: the points, and the dictionary when it is due (keys in canonical order). */
export function withSignals<P>(
  points: P[],
  signals: SignalEntry[] | undefined,
): { points: P[]; signals?: SignalEntry[] } {
  return signals ? { points, signals } : { points };
}
