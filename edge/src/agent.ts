import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { EdgeLog } from './buffer/edge-log.js';
import type { EdgeConfig } from './config/config.schema.js';
import type { Collector } from './collectors/collector.js';
import { ModbusCollector } from './collectors/modbus.collector.js';
import { Forwarder } from './forwarder/forwarder.js';
import { loadIdentity } from './identity.js';
import { StatusServer, type StatusSnapshot } from './status/status.server.js';

/**
 * Owns the edge's lifecycle: opens the log, starts every collector (one that fails to start is
 * logged and the rest run on), the forwarder and the status server; stops them in reverse.
 */
export class Agent {
  private log: EdgeLog | null = null;
  private forwarder: Forwarder | null = null;
  private collectors: Collector[] = [];
  private status: StatusServer | null = null;
  private readonly startedAt = new Date().toISOString();

  constructor(
    private readonly cfg: EdgeConfig,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<{ statusUrl: string; edgeId: string }> {
    const { identity, privateKeyPem } = loadIdentity(this.cfg.edge.dataDir);
    const log = await EdgeLog.open(
      this.cfg.edge.dataDir,
      { edgeId: identity.edgeId, privateKeyPem },
      { commitIntervalMs: this.cfg.buffer.commitIntervalMs },
    );
    this.log = log;
    this.logger.info({ edge: identity.edgeId, size: log.lastSeq, acked: log.ackedSeq }, 'edge log opened');
    for (const src of this.cfg.sources) {
      const c = new ModbusCollector(src, log, this.logger.child({ source: src.id }));
      try {
        await c.start();
        this.collectors.push(c);
      } catch (err) {
        this.logger.error({ err, source: src.id }, 'source failed to start; the others run on');
      }
    }
    this.forwarder = new Forwarder(
      log,
      {
        cloudUrl: this.cfg.cloud.url,
        batchSize: this.cfg.cloud.batchSize,
        timeoutMs: this.cfg.cloud.timeoutMs,
        retry: this.cfg.cloud.retry,
      },
      this.logger.child({ component: 'forwarder' }),
    );
    this.forwarder.start();
    this.status = new StatusServer(() => this.snapshot());
    const addr = await this.status.start(this.cfg.status.host, this.cfg.status.port);
    const statusUrl = `http://${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}`;
    writeFileSync(
      path.join(this.cfg.edge.dataDir, 'status.json'),
      JSON.stringify({ url: statusUrl, pid: process.pid }) + '\n',
    );
    return { statusUrl, edgeId: identity.edgeId };
  }

  async snapshot(): Promise<StatusSnapshot> {
    if (!this.log || !this.forwarder) throw new Error('agent not started');
    const st = await this.log.stats();
    const f = this.forwarder.stats();
    return {
      edgeId: this.log.edgeId,
      startedAt: this.startedAt,
      sources: this.collectors.map((c) => {
        const s = c.status();
        return {
          id: s.id,
          protocol: s.protocol,
          equipment: s.equipment,
          up: s.up,
          lastError: s.lastError,
          recordsIn: s.recordsIn,
        };
      }),
      buffer: {
        size: st.size,
        acked: st.acked,
        unsent: st.unsent,
        oldestUnsentAgeS:
          st.oldestUnsentAt === null ? null : Math.max(0, (Date.now() - st.oldestUnsentAt) / 1000),
        bufferedRows: st.bufferedRows,
      },
      forwarder: {
        lastAckedSeq: f.lastAckedSeq,
        lastAckAt: f.lastAckAt,
        lastError: f.lastError,
        consecutiveFailures: f.consecutiveFailures,
        recordsAcked: f.recordsAcked,
      },
    };
  }

  /** Graceful stop: sources first (no new records), then the buffer is flushed and closed. */
  async stop(): Promise<void> {
    for (const c of [...this.collectors].reverse()) {
      await c
        .stop()
        .catch((err: unknown) => this.logger.warn({ err, source: c.id }, 'source did not stop cleanly'));
    }
    this.collectors = [];
    await this.status?.stop();
    await this.forwarder?.stop();
    await this.log?.close();
  }
}
