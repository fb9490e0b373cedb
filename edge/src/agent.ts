import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { EdgeLog } from './buffer/edge-log.js';
import { DataDirLock } from './buffer/data-dir-lock.js';
import type { EdgeConfig } from './config/config.schema.js';
import type { Collector } from './collectors/collector.js';
import { ModbusCollector } from './collectors/modbus.collector.js';
import { MqttBrokerCollector, MqttClientCollector } from './collectors/mqtt.collector.js';
import { RecordSink } from './records/record-sink.js';
import { SupervisedSource, type SourceIdentity } from './collectors/supervised.js';
import { Forwarder } from './forwarder/forwarder.js';
import { loadIdentity } from './identity.js';
import { StatusServer, type StatusSnapshot } from './status/status.server.js';

const round2 = (n: number) => Math.round(n * 100) / 100;

/** The asset tag used for the edge's own event records (its name, made tag-safe). */
export function edgeAssetTag(name: string): string {
  const tag = name
    .replace(/[^A-Za-z0-9._:/-]/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 64);
  return tag === '' ? 'EDGE' : tag;
}

/** What /status and event records say about a source before (or without) it running. */
function sourceIdentity(src: EdgeConfig['sources'][number]): SourceIdentity {
  switch (src.protocol) {
    case 'modbus':
      return {
        id: src.id,
        protocol: src.protocol,
        equipment: src.equipment,
        recordProtocol: 'modbus',
        endpoint: `modbus-tcp://${src.host}:${src.port}`,
      };
    case 'opcua':
      return {
        id: src.id,
        protocol: src.protocol,
        equipment: src.equipment,
        recordProtocol: 'opcua',
        endpoint: src.endpointUrl,
      };
    case 'mqtt-broker':
      return {
        id: src.id,
        protocol: src.protocol,
        equipment: '',
        recordProtocol: 'mqtt',
        endpoint: `mqtt://${src.host}:${src.port}`,
      };
    case 'mqtt':
      return { id: src.id, protocol: src.protocol, equipment: '', recordProtocol: 'mqtt', endpoint: src.url };
  }
}

/**
 * Owns the edge's lifecycle: opens the log, starts every collector (one that fails to start stays
 * listed as failed and is retried with backoff, the rest run on), the forwarder and the status server; stops them in reverse.
 */
export class Agent {
  private log: EdgeLog | null = null;
  private lock: DataDirLock | null = null;
  private forwarder: Forwarder | null = null;
  private collectors: SupervisedSource[] = [];
  private status: StatusServer | null = null;
  private sink: RecordSink | null = null;
  private readonly startedAt = new Date().toISOString();

  constructor(
    private readonly cfg: EdgeConfig,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<{ statusUrl: string; edgeId: string }> {
    const { identity, privateKeyPem } = loadIdentity(this.cfg.edge.dataDir);
    this.lock = DataDirLock.acquire(this.cfg.edge.dataDir);
    const log = await EdgeLog.open(
      this.cfg.edge.dataDir,
      { edgeId: identity.edgeId, privateKeyPem },
      { commitIntervalMs: this.cfg.buffer.commitIntervalMs },
    );
    this.log = log;
    log.fallbackEquipment = edgeAssetTag(this.cfg.edge.name);
    const builderLog = this.logger.child({ component: 'records' });
    log.onRefused = (draft, issues) =>
      builderLog.warn(
        { kind: draft.kind, equipment: draft.equipment, source: draft.source, problems: issues.slice(0, 10) },
        'a record draft did not pass the record format; logged as a RECORD_INVALID event instead',
      );
    const bufferLog = this.logger.child({ component: 'buffer' });
    log.onDamaged = (d) =>
      bufferLog.error(
        { code: 'EDGE_RECORD_DAMAGED', ...d },
        `buffered record seq ${d.seq} (${d.kind}, id ${d.id}${d.source ? `, from ${d.source}` : ''}) no longer matches what was signed; its text was set aside in the buffer's damaged_records table and an EDGE_RECORD_DAMAGED event takes its place`,
      );
    this.logger.info({ edge: identity.edgeId, size: log.lastSeq, acked: log.ackedSeq }, 'edge log opened');
    // Every unsent record is re-hashed now: a damaged one is named and set aside before anything
    // is sent (or while the cloud is away), not only when its batch comes up.
    const started = Date.now();
    const damagedAtStart = await log.verifyUnsent();
    bufferLog.info(
      { unsent: log.lastSeq - log.ackedSeq, damaged: damagedAtStart.length, ms: Date.now() - started },
      'unsent records re-hashed',
    );
    const sink = new RecordSink(
      log,
      {
        quotaBytes: this.cfg.buffer.quotaMb * 1024 * 1024,
        downsampleFactor: this.cfg.buffer.telemetryDownsample,
      },
      this.logger.child({ component: 'buffer' }),
      edgeAssetTag(this.cfg.edge.name),
    );
    this.sink = sink;
    await sink.restore();
    if (log.recovery) await this.reportRecovery(log, sink);
    // OPC UA (node-opcua is large and slow to load) is loaded only when a source needs it; its
    // warnings, which it prints with console.log, go to our JSON log instead.
    const opcua = this.cfg.sources.some((s) => s.protocol === 'opcua')
      ? await import('./collectors/opcua.collector.js')
      : null;
    if (opcua) opcua.routeOpcuaLibraryLogs(this.logger.child({ component: 'node-opcua' }));
    for (const src of this.cfg.sources) {
      const ctx = {
        sink,
        getState: (k: string) => log.getState(k),
        logger: this.logger.child({ source: src.id }),
      };
      const c: Collector =
        src.protocol === 'modbus'
          ? new ModbusCollector(src, ctx)
          : src.protocol === 'mqtt-broker'
            ? new MqttBrokerCollector(src, ctx)
            : src.protocol === 'opcua'
              ? new opcua!.OpcuaCollector(src, { ...ctx, dataDir: this.cfg.edge.dataDir })
              : new MqttClientCollector(src, ctx);
      const supervised = new SupervisedSource(
        c,
        sourceIdentity(src),
        sink,
        ctx.logger,
        edgeAssetTag(this.cfg.edge.name),
      );
      this.collectors.push(supervised);
      await supervised.start();
    }
    this.forwarder = new Forwarder(
      log,
      {
        cloudUrl: this.cfg.cloud.url,
        batchSize: this.cfg.cloud.batchSize,
        timeoutMs: this.cfg.cloud.timeoutMs,
        retry: this.cfg.cloud.retry,
        maxRecordsPerSecond: this.cfg.cloud.maxRecordsPerSecond,
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

  private async reportRecovery(log: EdgeLog, sink: RecordSink): Promise<void> {
    const r = log.recovery!;
    this.logger.error(r, 'the buffer was damaged: intact records kept, the damaged file moved aside');
    const now = new Date().toISOString();
    await sink.write('edge', [
      {
        kind: 'event',
        equipment: edgeAssetTag(this.cfg.edge.name),
        observedAt: now,
        receivedAt: now,
        source: { protocol: 'edge', endpoint: 'buffer' },
        body: {
          severity: 'error',
          code: 'EDGE_BUFFER_RECOVERED',
          message: `buffer damaged (${r.reason.slice(0, 200)}); kept records up to seq ${r.keptUpToSeq}, ${r.lostRecords} lost; damaged file kept as ${path.basename(r.corruptFile)}`,
          details: {
            keptUpToSeq: r.keptUpToSeq,
            lostRecords: r.lostRecords,
            corruptFile: path.basename(r.corruptFile),
          },
        },
      },
    ]);
  }

  async snapshot(): Promise<StatusSnapshot> {
    if (!this.log || !this.forwarder || !this.sink) throw new Error('agent not started');
    const st = await this.log.stats();
    const damaged = await this.log.damaged();
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
          counters: s.counters ?? {},
          details: s.details,
        };
      }),
      buffer: {
        size: st.size,
        acked: st.acked,
        unsent: st.unsent,
        bytes: st.bufferedBytes,
        quotaBytes: this.cfg.buffer.quotaMb * 1024 * 1024,
        telemetryKeepOneIn: this.sink.downsampleFactor,
        telemetryDropped: this.sink.telemetryDropped,
        oldestUnsentAgeS:
          st.oldestUnsentAt === null ? null : Math.max(0, (Date.now() - st.oldestUnsentAt) / 1000),
        recovered: this.log.recovery,
        damaged,
      },
      rates: {
        inPerS: round2(this.sink.inRate.perSecond()),
        outPerS: round2(this.forwarder.outRate.perSecond()),
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
    this.lock?.release();
    this.lock = null;
  }
}
