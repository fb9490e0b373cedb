import type { Readable } from 'node:stream';
import { createInterface } from 'node:readline';

/**
 * The demo station's output, for the demo's log: the simulator writes one JSON line per event on
 * stdout (`published`, `disconnected`, `publish-failed`, `error-reply`, `mqtt-error`, …). Every
 * event but the routine `published` (one per part) is shown, prefixed `[station]`, with its
 * details; a line that is not JSON is shown as it is. Nothing the station says about a problem is
 * dropped.
 */
export function stationLogLine(line: string): string | undefined {
  if (line.trim() === '') return undefined;
  let o: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return `[station] ${line}`;
    o = parsed as Record<string, unknown>;
  } catch {
    return `[station] ${line}`;
  }
  const { event, time: _time, device: _device, asset: _asset, ...details } = o;
  if (event === 'published') return undefined;
  const rest = Object.keys(details).length > 0 ? ` ${JSON.stringify(details)}` : '';
  return `[station] ${typeof event === 'string' ? event : 'output'}${rest}`;
}

/**
 * Writes each line of the station's stdout that `stationLogLine` keeps, until `quiet()` (the demo
 * is shutting down) or the station said it is `stopping` (what follows is its shutdown: a Ctrl-C
 * reaches it at the same time as the demo).
 */
export function routeStationOutput(
  stream: Readable,
  write: (text: string) => void,
  quiet: () => boolean,
): void {
  let stopping = false;
  createInterface({ input: stream }).on('line', (line) => {
    if (quiet() || stopping) return;
    const shown = stationLogLine(line);
    if (shown === undefined) return;
    stopping = shown.startsWith('[station] stopping');
    write(`${shown}\n`);
  });
}
