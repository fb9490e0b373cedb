import { afterEach, describe, expect, it } from 'vitest';
import { StatusServer, type StatusSnapshot } from './status.server.js';

/**
 * /metrics is Prometheus' text format made by prom-client: the edge's metric names stay as they
 * were (dashboards and alerts use them), each with its type; per-source failure counters for
 * the sources whose protocol has them; prom-client's process and Node.js metrics beside them.
 */

function snapshot(): StatusSnapshot {
  return {
    edgeId: 'edge-1',
    startedAt: '2026-12-06T00:00:00.000Z',
    sources: [
      {
        id: 'rig-1',
        protocol: 'modbus',
        equipment: 'RIG-01',
        up: true,
        lastError: null,
        recordsIn: 120,
        counters: { timeouts: 2, exceptions: 1, malformed: 3, reconnects: 4 },
        details: {},
      },
      {
        id: 'stations',
        protocol: 'mqtt-broker',
        equipment: '',
        up: false,
        lastError: 'listen EADDRINUSE',
        recordsIn: 7,
        counters: { aclRefusals: 5, sizeRefusals: 1 },
        details: {},
      },
      {
        id: 'bench',
        protocol: 'opcua',
        equipment: 'BENCH-01',
        up: true,
        lastError: null,
        recordsIn: 9,
        counters: { reconnects: 0 },
        details: {},
      },
    ],
    buffer: {
      size: 500,
      acked: 480,
      unsent: 20,
      bytes: 12_345,
      quotaBytes: 1_048_576,
      telemetryKeepOneIn: 10,
      telemetryDropped: 42,
      oldestUnsentAgeS: 1.5,
      recovered: null,
      damaged: { total: 1, last: null },
    },
    rates: { inPerS: 12.5, outPerS: 0 },
    forwarder: {
      lastAckedSeq: 480,
      lastAckAt: null,
      lastError: 'cloud answered 503',
      consecutiveFailures: 3,
      recordsAcked: 480,
    },
  };
}

const servers: StatusServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
});

async function serve(snap: () => StatusSnapshot) {
  const server = new StatusServer(() => Promise.resolve(snap()));
  servers.push(server);
  const addr = await server.start('127.0.0.1', 0);
  return async () => {
    const res = await fetch(`http://127.0.0.1:${addr.port}/metrics`);
    return { res, text: await res.text() };
  };
}

async function scrape(snap: StatusSnapshot) {
  return (await serve(() => snap))();
}

describe('the edge /metrics', () => {
  it('keeps every metric name and type, from prom-client, with the process metrics beside them', async () => {
    const { res, text } = await scrape(snapshot());
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const types = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gmu)].map((m) => [m[1]!, m[2]!]));
    const names: [string, string][] = [
      ['rigtrace_edge_log_size', 'gauge'],
      ['rigtrace_edge_acked_seq', 'gauge'],
      ['rigtrace_edge_unsent_records', 'gauge'],
      ['rigtrace_edge_buffer_bytes', 'gauge'],
      ['rigtrace_edge_buffer_quota_bytes', 'gauge'],
      ['rigtrace_edge_telemetry_keep_one_in', 'gauge'],
      ['rigtrace_edge_telemetry_dropped_total', 'counter'],
      ['rigtrace_edge_records_in_per_second', 'gauge'],
      ['rigtrace_edge_records_out_per_second', 'gauge'],
      ['rigtrace_edge_oldest_unsent_age_seconds', 'gauge'],
      ['rigtrace_edge_source_up', 'gauge'],
      ['rigtrace_edge_source_records_total', 'counter'],
      ['rigtrace_edge_source_timeouts_total', 'counter'],
      ['rigtrace_edge_source_exceptions_total', 'counter'],
      ['rigtrace_edge_source_malformed_total', 'counter'],
      ['rigtrace_edge_source_reconnects_total', 'counter'],
      ['rigtrace_edge_source_acl_refusals_total', 'counter'],
      ['rigtrace_edge_source_size_refusals_total', 'counter'],
      ['rigtrace_edge_damaged_records_total', 'counter'],
      ['rigtrace_edge_acked_records_total', 'counter'],
      ['rigtrace_edge_forwarder_consecutive_failures', 'gauge'],
    ];
    for (const [name, type] of names) expect(types.get(name), name).toBe(type);
    // prom-client's default metrics: memory, CPU, event loop of the agent's process.
    for (const name of [
      'process_resident_memory_bytes',
      'process_cpu_seconds_total',
      'nodejs_eventloop_lag_seconds',
    ])
      expect(types.has(name), name).toBe(true);
    // Every sample line is name{labels} value (prom-client writes an empty histogram's mean as
    // "Nan", which Prometheus reads as NaN).
    for (const line of text.split('\n').filter((l) => l && !l.startsWith('#')))
      expect(line).toMatch(
        /^[a-z_:][a-z0-9_:]*(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? (-?[0-9.e+-]+|NaN|Nan)$/u,
      );
  });

  it('gives the values of the snapshot, per source where the protocol has the counter', async () => {
    const { text } = await scrape(snapshot());
    const lines = text.split('\n');
    for (const l of [
      'rigtrace_edge_log_size 500',
      'rigtrace_edge_unsent_records 20',
      'rigtrace_edge_telemetry_keep_one_in 10',
      'rigtrace_edge_telemetry_dropped_total 42',
      'rigtrace_edge_records_in_per_second 12.5',
      'rigtrace_edge_oldest_unsent_age_seconds 1.5',
      'rigtrace_edge_source_up{source="rig-1",protocol="modbus"} 1',
      'rigtrace_edge_source_up{source="stations",protocol="mqtt-broker"} 0',
      'rigtrace_edge_source_up{source="bench",protocol="opcua"} 1',
      'rigtrace_edge_source_records_total{source="rig-1"} 120',
      'rigtrace_edge_source_timeouts_total{source="rig-1"} 2',
      'rigtrace_edge_source_exceptions_total{source="rig-1"} 1',
      'rigtrace_edge_source_malformed_total{source="rig-1"} 3',
      'rigtrace_edge_source_reconnects_total{source="rig-1"} 4',
      'rigtrace_edge_source_reconnects_total{source="bench"} 0',
      'rigtrace_edge_source_acl_refusals_total{source="stations"} 5',
      'rigtrace_edge_source_size_refusals_total{source="stations"} 1',
      'rigtrace_edge_damaged_records_total 1',
      'rigtrace_edge_acked_records_total 480',
      'rigtrace_edge_forwarder_consecutive_failures 3',
    ])
      expect(lines, l).toContain(l);
    // A counter a protocol does not have is not made up for it.
    expect(text).not.toMatch(/rigtrace_edge_source_timeouts_total\{source="stations"\}/u);
    expect(text).not.toMatch(/rigtrace_edge_source_acl_refusals_total\{source="rig-1"\}/u);
  });

  it('reads the snapshot again at each scrape: nothing is kept from the last one', async () => {
    let snap = snapshot();
    const scrapeNow = await serve(() => snap);
    expect((await scrapeNow()).text).toContain('rigtrace_edge_source_reconnects_total{source="bench"} 0');
    snap = snapshot();
    snap.sources = snap.sources.slice(0, 1);
    snap.sources[0]!.counters = { reconnects: 5 };
    const again = (await scrapeNow()).text;
    expect(again).toContain('rigtrace_edge_source_reconnects_total{source="rig-1"} 5');
    expect(again).not.toContain('source="bench"');
  });
});
