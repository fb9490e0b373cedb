import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { SourceCounters } from '../collectors/collector.js';
import type { StatusSnapshot } from './status.server.js';

type Snap = () => StatusSnapshot;

/** A gauge with one unlabelled value, read from the snapshot at each scrape. */
function gauge(r: Registry, snap: Snap, name: string, help: string, value: (s: StatusSnapshot) => number) {
  new Gauge({
    name,
    help,
    registers: [r],
    collect() {
      this.set(value(snap()));
    },
  });
}

/** A counter kept by the agent (its absolute value is in the snapshot), unlabelled. */
function counter(r: Registry, snap: Snap, name: string, help: string, value: (s: StatusSnapshot) => number) {
  new Counter({
    name,
    help,
    registers: [r],
    collect() {
      this.reset();
      this.inc(value(snap()));
    },
  });
}

/** Per-source failure counters: /status `counters` key, metric name part, help. */
const SOURCE_COUNTERS: [keyof SourceCounters, string, string][] = [
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

/**
 * The edge's Prometheus metrics (prom-client), read from the status snapshot at each scrape, plus
 * prom-client's default process and Node.js metrics. The metric names are part of the product
 * (dashboards and alerts use them): CONFIG.md lists them, and they do not change.
 */
export class EdgeMetrics {
  readonly registry = new Registry();
  private current: StatusSnapshot | null = null;
  private tail: Promise<unknown> = Promise.resolve();

  constructor() {
    const r = this.registry;
    const snap: Snap = () => {
      if (!this.current) throw new Error('no status snapshot');
      return this.current;
    };
    collectDefaultMetrics({ register: r });
    gauge(r, snap, 'rigtrace_edge_log_size', 'Highest seq in the edge log', (s) => s.buffer.size);
    gauge(r, snap, 'rigtrace_edge_acked_seq', 'Highest seq the cloud acknowledged', (s) => s.buffer.acked);
    gauge(
      r,
      snap,
      'rigtrace_edge_unsent_records',
      'Records in the buffer not yet acknowledged',
      (s) => s.buffer.unsent,
    );
    gauge(r, snap, 'rigtrace_edge_buffer_bytes', 'Bytes of records in the buffer', (s) => s.buffer.bytes);
    gauge(
      r,
      snap,
      'rigtrace_edge_buffer_quota_bytes',
      'Buffer size above which telemetry is down-sampled',
      (s) => s.buffer.quotaBytes,
    );
    gauge(
      r,
      snap,
      'rigtrace_edge_telemetry_keep_one_in',
      'Telemetry down-sampling factor (1 = all kept)',
      (s) => s.buffer.telemetryKeepOneIn,
    );
    counter(
      r,
      snap,
      'rigtrace_edge_telemetry_dropped_total',
      'Telemetry records dropped by the buffer quota policy (over the buffer life)',
      (s) => s.buffer.telemetryDropped,
    );
    gauge(
      r,
      snap,
      'rigtrace_edge_records_in_per_second',
      'Records written to the buffer per second (10 s window)',
      (s) => s.rates.inPerS,
    );
    gauge(
      r,
      snap,
      'rigtrace_edge_records_out_per_second',
      'Records acknowledged by the cloud per second (10 s window)',
      (s) => s.rates.outPerS,
    );
    gauge(
      r,
      snap,
      'rigtrace_edge_oldest_unsent_age_seconds',
      'Age of the oldest unacknowledged record',
      (s) => s.buffer.oldestUnsentAgeS ?? 0,
    );
    new Gauge({
      name: 'rigtrace_edge_source_up',
      help: 'Whether a source delivers good readings (1) or not (0: down, failing, not started)',
      labelNames: ['source', 'protocol'],
      registers: [r],
      collect() {
        this.reset();
        for (const x of snap().sources) this.set({ source: x.id, protocol: x.protocol }, x.up ? 1 : 0);
      },
    });
    new Counter({
      name: 'rigtrace_edge_source_records_total',
      help: 'Records produced by a source',
      labelNames: ['source'],
      registers: [r],
      collect() {
        this.reset();
        for (const x of snap().sources) this.inc({ source: x.id }, x.recordsIn);
      },
    });
    for (const [key, name, help] of SOURCE_COUNTERS)
      new Counter({
        name: `rigtrace_edge_source_${name}_total`,
        help,
        labelNames: ['source'],
        registers: [r],
        collect() {
          this.reset();
          // Only the sources whose protocol has this counter.
          for (const x of snap().sources) {
            const v = x.counters[key];
            if (v !== undefined) this.inc({ source: x.id }, v);
          }
        },
      });
    counter(
      r,
      snap,
      'rigtrace_edge_damaged_records_total',
      'Buffered records found not to match what was signed, set aside and replaced by an EDGE_RECORD_DAMAGED event',
      (s) => s.buffer.damaged.total,
    );
    counter(
      r,
      snap,
      'rigtrace_edge_acked_records_total',
      'Records acknowledged by the cloud since start',
      (s) => s.forwarder.recordsAcked,
    );
    gauge(
      r,
      snap,
      'rigtrace_edge_forwarder_consecutive_failures',
      'Failed sends to the cloud since the last acknowledged batch',
      (s) => s.forwarder.consecutiveFailures,
    );
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The metrics text for `snapshot` (scrapes are answered one at a time). */
  render(snapshot: StatusSnapshot): Promise<string> {
    const run = this.tail.then(async () => {
      this.current = snapshot;
      try {
        return await this.registry.metrics();
      } finally {
        this.current = null;
      }
    });
    this.tail = run.catch(() => undefined);
    return run;
  }
}
