import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DamagedRecord } from '../buffer/damaged-records.js';
import type { SourceCounters } from '../collectors/collector.js';
import type { EdgeMetrics } from './metrics.js';

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

/** Local read-only status: GET /status (JSON) and GET /metrics (Prometheus text format). */
export class StatusServer {
  private server: http.Server | null = null;
  /** Made at the first scrape: an edge nobody scrapes loads no metrics library and runs no monitors. */
  private metrics: Promise<EdgeMetrics> | null = null;
  constructor(private readonly snapshot: () => Promise<StatusSnapshot>) {}

  async start(host: string, port: number): Promise<AddressInfo> {
    this.server = http.createServer((req, res) => {
      const url = req.url ?? '/';
      if (req.method !== 'GET' || (url !== '/status' && url !== '/metrics')) {
        res.writeHead(404, { 'content-type': 'application/problem+json' });
        res.end(JSON.stringify({ type: 'about:blank', title: 'Not Found', status: 404 }));
        return;
      }
      this.snapshot()
        .then(async (s) => {
          if (url === '/metrics') {
            this.metrics ??= import('./metrics.js').then((m) => new m.EdgeMetrics());
            const metrics = await this.metrics;
            const text = await metrics.render(s);
            res.writeHead(200, { 'content-type': metrics.contentType });
            res.end(text);
          } else {
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(JSON.stringify(s, null, 2));
          }
        })
        .catch((err: Error) => {
          res.writeHead(500, { 'content-type': 'application/problem+json' });
          res.end(
            JSON.stringify({
              type: 'about:blank',
              title: 'Status unavailable',
              status: 500,
              detail: err.message,
            }),
          );
        });
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
