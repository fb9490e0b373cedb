import type { Logger } from 'pino';
import type { ModbusPointSpec, ModbusPoller, PointReading } from '@rigtrace/protocols/modbus';
import type { RecordDraft } from '../buffer/edge-log.js';
import type { ModbusRecordMapping, ModbusRegisterSpec, ModbusSourceConfig } from '../config/config.schema.js';
import type { RecordSink } from '../records/record-sink.js';
import { captureFor, sumCounters, triggerName, type BlockRead, type ResultCapture } from './capture.js';
import { Unavailable, type Scope } from './expressions.js';

/** The point specs one `read` entry stands for: one, or `repeat` of them `stride` registers apart. */
export function registerSpecs(name: string, r: ModbusRegisterSpec, unitId: number): ModbusPointSpec[] {
  const base = {
    unitId: r.unitId ?? unitId,
    area: r.area,
    type: r.type,
    ...(r.length !== undefined ? { length: r.length } : {}),
    ...(r.wordOrder ? { wordOrder: r.wordOrder } : {}),
    ...(r.byteOrder ? { byteOrder: r.byteOrder } : {}),
    ...(r.scale !== undefined ? { scale: r.scale } : {}),
    ...(r.offset !== undefined ? { offset: r.offset } : {}),
  };
  if (r.repeat === undefined) return [{ ...base, name, address: r.address }];
  const stride = r.stride ?? 1;
  return Array.from({ length: r.repeat }, (_, k) => ({
    ...base,
    name: `${name}#${k}`,
    address: r.address + k * stride,
  }));
}

/** A reading as an expression sees it: its value, or why it has none. */
function scopeValue(name: string, r: PointReading | undefined): unknown {
  if (r?.quality === 'good' && r.value !== undefined) return r.value;
  return new Unavailable(name, `could not be read (${r?.error ?? 'no reading'})`);
}

/**
 * The record mappings of one Modbus source: watches each trigger point in the poll samples, reads
 * the result block once the trigger fires (one request where the registers allow it, then the
 * trigger again: a block read while the device moved on is not taken for the older result), and
 * writes the acknowledge register or coil once the record is durable.
 */
export class ModbusRecords {
  private readonly captures: { m: ModbusRecordMapping; capture: ResultCapture }[] = [];
  private poller: ModbusPoller | null = null;
  private last: Record<string, PointReading> = {};

  constructor(
    private readonly cfg: ModbusSourceConfig,
    private readonly deps: {
      sink: RecordSink;
      logger: Logger;
      source: (address?: string) => RecordDraft['source'];
    },
  ) {
    const pointSpec = new Map(cfg.points.map((p) => [p.name, p]));
    (cfg.records ?? []).forEach((m, i) => {
      const trigger = pointSpec.get(triggerName(m))!;
      const triggerSpec: ModbusPointSpec = { ...trigger, unitId: trigger.unitId ?? cfg.unitId };
      const block = Object.entries(m.read ?? {}).map(([name, r]) => ({
        name,
        r,
        specs: registerSpecs(name, r, cfg.unitId),
      }));
      const h = m.handshake;
      const capture = captureFor(
        cfg,
        i,
        m,
        deps,
        {
          readBlock: (t) => this.readBlock(block, triggerSpec, t),
          acknowledge: (value: unknown) => {
            if (!this.poller || !h) return Promise.reject(new Error('the source is stopped'));
            const unit = h.unitId ?? cfg.unitId;
            return h.area === 'coil'
              ? this.poller.writeCoils(unit, h.address, [
                  value === true || (typeof value === 'number' && value !== 0),
                ])
              : this.poller.writeRegisters(unit, h.address, [Number(value) & 0xffff]);
          },
        },
        cfg.records ?? [],
        'inspection',
      );
      this.captures.push({ m, capture });
    });
  }

  get enabled(): boolean {
    return this.captures.length > 0;
  }

  async start(poller: ModbusPoller, getState: (k: string) => Promise<string | undefined>): Promise<void> {
    this.poller = poller;
    for (const c of this.captures) await c.capture.init(getState);
  }

  stop(): void {
    for (const c of this.captures) c.capture.stop();
    this.poller = null;
  }

  /** Each poll sample: the triggers' values. */
  onSample(readings: Record<string, PointReading>): void {
    this.last = readings;
    for (const { m, capture } of this.captures) {
      const r = readings[triggerName(m)];
      if (r?.quality === 'good') capture.observe(r.value);
    }
  }

  counters(): Record<string, number> {
    return sumCounters(this.captures.map((c) => c.capture));
  }

  private async readBlock(
    block: { name: string; r: ModbusRegisterSpec; specs: ModbusPointSpec[] }[],
    trigger: ModbusPointSpec,
    value: number | boolean,
  ): Promise<BlockRead | null> {
    const poller = this.poller;
    if (!poller) throw new Error('the source is stopped');
    const specs = block.flatMap((b) => b.specs);
    const readings = specs.length > 0 ? await poller.readPoints(specs) : {};
    // The trigger again, after the block: if it moved, the block may hold the next result.
    if (typeof value === 'number' && specs.length > 0) {
      const again = (await poller.readPoints([trigger]))[trigger.name];
      if (again?.quality !== 'good')
        throw new Error(`the trigger ${trigger.name} could not be read again (${again?.error ?? '?'})`);
      if (again.value !== value) return null;
    }
    const scope: Scope = {};
    for (const [name, r] of Object.entries(this.last)) scope[name] = scopeValue(name, r);
    for (const b of block) {
      if (b.r.repeat === undefined) {
        scope[b.name] = scopeValue(b.name, readings[b.name]);
        continue;
      }
      const values = b.specs.map((s) => readings[s.name]);
      const bad = values.findIndex((v) => v?.quality !== 'good');
      scope[b.name] =
        bad === -1
          ? values.map((v) => v!.value)
          : new Unavailable(
              b.name,
              `could not be read (element ${bad}: ${values[bad]?.error ?? 'no reading'})`,
            );
    }
    return { scope, trigger: value };
  }
}
