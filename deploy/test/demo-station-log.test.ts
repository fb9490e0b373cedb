import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { routeStationOutput, stationLogLine } from '../demo/station-log.js';

/**
 * `npm start` shows what the demo station says about problems: its stdout events (one JSON line
 * each, as firmware-sim's inspection-station writes them) reach the demo's log with a `[station]`
 * prefix; only the routine `published` line per part is left out.
 */
const line = (event: string, body: Record<string, unknown> = {}) =>
  JSON.stringify({
    event,
    time: '2026-12-07T06:00:00.000Z',
    device: 'inspection-station',
    asset: 'STN-01',
    ...body,
  });

describe('the demo station in the demo log', () => {
  it('shows every event but the routine published, with its details', () => {
    expect(stationLogLine(line('published', { topic: 'rigtrace/plant-1/STN-01/inspection', qos: 1 }))).toBe(
      undefined,
    );
    expect(stationLogLine(line('publish-failed', { topic: 't', id: 'x', error: 'Connection closed' }))).toBe(
      '[station] publish-failed {"topic":"t","id":"x","error":"Connection closed"}',
    );
    expect(stationLogLine(line('disconnected', { reason: 'not authorized' }))).toBe(
      '[station] disconnected {"reason":"not authorized"}',
    );
    expect(stationLogLine(line('connected'))).toBe('[station] connected');
    expect(stationLogLine('not json at all')).toBe('[station] not json at all');
    expect(stationLogLine('')).toBe(undefined);
  });

  it('routes the station stdout to the log until the demo shuts down', async () => {
    const stdout = new PassThrough();
    const written: string[] = [];
    let quiet = false;
    routeStationOutput(
      stdout,
      (t) => written.push(t),
      () => quiet,
    );
    stdout.write(
      `${line('published', { topic: 't' })}\n${line('error-reply', { topic: 'e', reply: { code: 'ACL' } })}\n`,
    );
    await new Promise((r) => setImmediate(r));
    quiet = true;
    stdout.write(`${line('disconnected', { reason: 'stopping' })}\n`);
    stdout.end();
    await new Promise((r) => setImmediate(r));
    expect(written).toEqual(['[station] error-reply {"topic":"e","reply":{"code":"ACL"}}\n']);
  });

  it('leaves out what the station says after it said it is stopping (its shutdown)', async () => {
    const stdout = new PassThrough();
    const written: string[] = [];
    routeStationOutput(
      stdout,
      (t) => written.push(t),
      () => false,
    );
    stdout.write(
      `${line('stopping', { signal: 'SIGINT' })}\n${line('mqtt-error', { error: 'read ECONNRESET' })}\n`,
    );
    stdout.end();
    await new Promise((r) => setImmediate(r));
    expect(written).toEqual(['[station] stopping {"signal":"SIGINT"}\n']);
  });
});
