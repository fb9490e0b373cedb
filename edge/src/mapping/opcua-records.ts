import type { Logger } from 'pino';
import type { OpcuaSubscriber, OpcuaValue } from '@rigtrace/protocols/opcua';
import type { RecordDraft } from '../buffer/edge-log.js';
import type { OpcuaRecordMapping, OpcuaSourceConfig } from '../config/config.schema.js';
import type { RecordSink } from '../records/record-sink.js';
import { captureFor, sumCounters, triggerName, type BlockRead, type ResultCapture } from './capture.js';
import { Unavailable, type Scope } from './expressions.js';

/** A value as an expression sees it: its value (DateTime as ISO text), or why it has none. */
function scopeValue(name: string, v: OpcuaValue | undefined): unknown {
  if (!v) return new Unavailable(name, 'has not been received');
  if (!v.statusCode.good) return new Unavailable(name, `has status ${v.statusCode.name} (${v.nodeId})`);
  if (v.value === null) return new Unavailable(name, `is empty (${v.nodeId})`);
  return v.value;
}

/**
 * The record mappings of one OPC UA source: each change of a trigger item reads the mapping's
 * `read` nodes and the trigger's node in one Read service call (a consistent snapshot: if the
 * trigger moved on meanwhile, the block is not taken for the older result), and writes the
 * acknowledge node once the record is durable.
 */
export class OpcuaRecords {
  private readonly captures: { m: OpcuaRecordMapping; capture: ResultCapture }[] = [];
  private client: OpcuaSubscriber | null = null;

  constructor(
    private readonly cfg: OpcuaSourceConfig,
    private readonly latest: Map<string, OpcuaValue>,
    private readonly deps: {
      sink: RecordSink;
      logger: Logger;
      source: (address?: string) => RecordDraft['source'];
    },
  ) {
    const itemNode = new Map(cfg.items.map((i) => [i.name, i.nodeId]));
    (cfg.records ?? []).forEach((m, i) => {
      const triggerNode = itemNode.get(triggerName(m))!;
      const h = m.handshake;
      const capture = captureFor(
        cfg,
        i,
        m,
        deps,
        {
          readBlock: (t) => this.readBlock(m, triggerNode, t),
          acknowledge: (value: unknown) => {
            if (!this.client || !h) return Promise.reject(new Error('the source is stopped'));
            return this.client.write(h.node, value as number | boolean | string);
          },
        },
        cfg.records ?? [],
        'calibration',
      );
      this.captures.push({ m, capture });
    });
  }

  get enabled(): boolean {
    return this.captures.length > 0;
  }

  /** Whether an item is the trigger of a mapping (its changes are results, not telemetry). */
  isTrigger(name: string): boolean {
    return this.captures.some((c) => triggerName(c.m) === name);
  }

  async start(client: OpcuaSubscriber, getState: (k: string) => Promise<string | undefined>): Promise<void> {
    this.client = client;
    for (const c of this.captures) await c.capture.init(getState);
  }

  stop(): void {
    for (const c of this.captures) c.capture.stop();
    this.client = null;
  }

  /** Each value the subscription delivers. */
  onValue(v: OpcuaValue): void {
    for (const { m, capture } of this.captures) {
      if (triggerName(m) === v.name && v.statusCode.good) capture.observe(v.value);
    }
  }

  counters(): Record<string, number> {
    return sumCounters(this.captures.map((c) => c.capture));
  }

  private async readBlock(
    m: OpcuaRecordMapping,
    triggerNode: string,
    value: number | boolean,
  ): Promise<BlockRead> {
    const client = this.client;
    if (!client) throw new Error('the source is stopped');
    const entries = Object.entries(m.read ?? {});
    const values = await client.read([...entries.map(([, node]) => node), triggerNode]);
    // The trigger is read in the same Read as the block: the block is the result of the trigger
    // value read with it, which is newer than `value` when the device moved on meanwhile.
    const t = values[values.length - 1];
    const taken =
      typeof value === 'number' && t?.statusCode.good && typeof t.value === 'number' ? t.value : value;
    const scope: Scope = {};
    for (const [name, v] of this.latest) scope[name] = scopeValue(name, v);
    entries.forEach(([name], k) => (scope[name] = scopeValue(name, values[k])));
    return { scope, trigger: taken };
  }
}
