import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DamagedRecord } from '../buffer/damaged-records.js';
import type { SourceCounters } from '../collectors/collector.js';

export interface StatusSnapshot {
  edgeId: string;
  startedAt: string;
  sources: {
    id: string;
    protocol: string;
    equipment: string;
    up: boolean;
    lastError: string | null;
    recordsIn: number;
    /** Failure counters the protocol has (timeouts, exceptions, malformed replies, reconnects, MQTT refusals). */
    counters: SourceCounters;
    /** Protocol-specific counters (requests, timeouts, messages, duplicates, …). */
    details: Record<string, unknown>;
  }[];
  buffer: {
    size: number;
    acked: number;
    unsent: number;
    bytes: number;
    quotaBytes: number;
    telemetryKeepOneIn: number;
    telemetryDropped: number;
    oldestUnsentAgeS: number | null;
    recovered: { corruptFile: string; reason: string; keptUpToSeq: number; lostRecords: number } | null;
    /** Records found damaged before sending and set aside (over the buffer's life), and the latest. */
    damaged: { total: number; last: DamagedRecord | null };
  };
  rates: { inPerS: number; outPerS: number };
  forwarder: {
    lastAckedSeq: number;
    lastAckAt: string | null;
    lastError: string | null;
    consecutiveFailures: number;
    recordsAcked: number;
  };
}

function metrics(s: StatusSnapshot): string {
  const lines: string[] = [];
  const gauge = (name: string, help: string, rows: [string, number][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const [labels, v] of rows) lines.push(`${name}${labels} ${v}`);
  };
  gauge('rigtrace_edge_log_size', 'Highest seq in the edge log', [['', s.buffer.size]]);
  gauge('rigtrace_edge_acked_seq', 'Highest seq the cloud acknowledged', [['', s.buffer.acked]]);
  gauge('rigtrace_edge_unsent_records', 'Records in the buffer not yet acknowledged', [
    ['', s.buffer.unsent],
  ]);
  gauge('rigtrace_edge_buffer_bytes', 'Bytes of records in the buffer', [['', s.buffer.bytes]]);
  gauge('rigtrace_edge_buffer_quota_bytes', 'Buffer size above which telemetry is down-sampled', [
    ['', s.buffer.quotaBytes],
  ]);
  gauge('rigtrace_edge_telemetry_keep_one_in', 'Telemetry down-sampling factor (1 = all kept)', [
    ['', s.buffer.telemetryKeepOneIn],
  ]);
  gauge('rigtrace_edge_records_in_per_second', 'Records written to the buffer per second (10 s window)', [
    ['', s.rates.inPerS],
  ]);
  gauge(
    'rigtrace_edge_records_out_per_second',
    'Records acknowledged by the cloud per second (10 s window)',
    [['', s.rates.outPerS]],
  );
  gauge('rigtrace_edge_oldest_unsent_age_seconds', 'Age of the oldest unacknowledged record', [
    ['', s.buffer.oldestUnsentAgeS ?? 0],
  ]);
  gauge(
    'rigtrace_edge_source_up',
    'Whether a source delivers good readings (1) or not (0: down, failing, not started)',
    s.sources.map((x) => [`{source="${x.id}",protocol="${x.protocol}"}`, x.up ? 1 : 0]),
  );
  lines.push(
    '# HELP rigtrace_edge_source_records_total Records produced by a source',
    '# TYPE rigtrace_edge_source_records_total counter',
  );
  for (const x of s.sources)
    lines.push(`rigtrace_edge_source_records_total{source="${x.id}"} ${x.recordsIn}`);
  const counters: [keyof SourceCounters, string, string][] = [
    ['timeouts', 'timeouts', 'Requests to a source without a reply in time'],
    ['exceptions', 'exceptions', 'Requests a source answered with a protocol exception'],
    ['malformed', 'malformed', 'Replies from a source that do not fit the request'],
    ['reconnects', 'reconnects', 'Connections to a source made again after one was lost'],
    [
      'aclRefusals',
      'acl_refusals',
      'MQTT messages refused for the device topic ACL (acknowledged and dropped)',
    ],
    ['sizeRefusals', 'size_refusals', 'MQTT messages refused for their size (acknowledged and dropped)'],
  ];
  for (const [key, name, help] of counters) {
    const rows = s.sources.filter((x) => x.counters[key] !== undefined);
    if (rows.length === 0) continue;
    lines.push(
      `# HELP rigtrace_edge_source_${name}_total ${help}`,
      `# TYPE rigtrace_edge_source_${name}_total counter`,
    );
    for (const x of rows)
      lines.push(`rigtrace_edge_source_${name}_total{source="${x.id}"} ${x.counters[key]}`);
  }
  lines.push(
    '# HELP rigtrace_edge_damaged_records_total Buffered records found not to match what was signed, set aside and replaced by an EDGE_RECORD_DAMAGED event',
    '# TYPE rigtrace_edge_damaged_records_total counter',
    `rigtrace_edge_damaged_records_total ${s.buffer.damaged.total}`,
  );
  lines.push(
    '# HELP rigtrace_edge_acked_records_total Records acknowledged by the cloud since start',
    '# TYPE rigtrace_edge_acked_records_total counter',
  );
  lines.push(`rigtrace_edge_acked_records_total ${s.forwarder.recordsAcked}`);
  return lines.join('\n') + '\n';
}

/** Local read-only status: GET /status (JSON) and GET /metrics (Prometheus text format). */
export class StatusServer {
  private server: http.Server | null = null;
  constructor(private readonly snapshot: () => Promise<StatusSnapshot>) {}

  async start(host: string, port: number): Promise<AddressInfo> {
    this.server = http.createServer((req, res) => {
      const url = req.url ?? '/';
      if (req.method !== 'GET' || (url !== '/status' && url !== '/metrics')) {
        res.writeHead(404, { 'content-type': 'application/problem+json' });
        res.end(JSON.stringify({ type: 'about:blank', title: 'Not Found', status: 404 }));
        return;
      }
      this.snapshot().then(
        (s) => {
          if (url === '/metrics') {
            res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
            res.end(metrics(s));
          } else {
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(JSON.stringify(s, null, 2));
          }
        },
        (err: Error) => {
          res.writeHead(500, { 'content-type': 'application/problem+json' });
          res.end(
            JSON.stringify({
              type: 'about:blank',
              title: 'Status unavailable',
              status: 500,
              detail: err.message,
            }),
          );
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    return this.server.address() as AddressInfo;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
