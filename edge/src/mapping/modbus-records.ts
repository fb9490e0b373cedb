import type { Logger } from 'pino';
import type { ModbusPointSpec, ModbusPoller, ModbusSample, PointReading } from '@rigtrace/protocols/modbus';
import type { RecordDraft } from '../buffer/edge-log.js';
import type { ModbusRecordMapping, ModbusRegisterSpec, ModbusSourceConfig } from '../config/config.schema.js';
import type { RecordSink } from '../records/record-sink.js';
import {
  captureFor,
  sumCounters,
  triggerName,
  type BlockRead,
  type ResultCapture,
  type Trigger,
} from './capture.js';
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

/**
 * A reading as an expression sees it: its value, or why it has none — not read (no reply, an
 * exception, a refused frame: reading again may give it) or read but not a value (undecodable).
 */
function scopeValue(name: string, r: PointReading | undefined): unknown {
  if (r?.quality === 'good' && r.value !== undefined) return r.value;
  if (r?.undecodable) return new Unavailable(name, `was read but is unusable (${r.error ?? 'undecodable'})`);
  return Unavailable.unread(name, `could not be read (${r?.error ?? 'no reading'})`);
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
  /** The last poll's sample (its readings by name are only built when a result needs them). */
  private last: ModbusSample | undefined;
  /** Each capture's trigger point's index in a sample's readings (-1: not a polled point). */
  private triggerIndex: number[] = [];

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
    this.triggerIndex = this.captures.map(({ m }) => poller.pointIndex(triggerName(m)));
    for (const c of this.captures) await c.capture.init(getState);
  }

  stop(): void {
    for (const c of this.captures) c.capture.stop();
    this.poller = null;
  }

  /** The connection to the device was lost: reads until it is back do not count against a result. */
  connectionLost(): void {
    for (const c of this.captures) c.capture.connectionLost();
  }

  /** The connection is back: a result waiting to be read again is read at once. */
  connectionRestored(): void {
    for (const c of this.captures) c.capture.connectionRestored();
  }

  /** Each poll sample: the triggers' values. */
  onSample(sample: ModbusSample): void {
    this.last = sample;
    const list = sample.list;
    for (let i = 0; i < this.captures.length; i++) {
      const index = this.triggerIndex[i]!;
      const r = index >= 0 ? list[index] : undefined;
      if (r?.quality === 'good') this.captures[i]!.capture.observe(r.value);
    }
  }

  counters(): Record<string, number> {
    return sumCounters(this.captures.map((c) => c.capture));
  }

  private async readBlock(
    block: { name: string; r: ModbusRegisterSpec; specs: ModbusPointSpec[] }[],
    trigger: ModbusPointSpec,
    value: Trigger,
  ): Promise<BlockRead | null> {
    const poller = this.poller;
    if (!poller) throw new Error('the source is stopped');
    const specs = block.flatMap((b) => b.specs);
    // Without a block of its own the result is the values of the last poll: those of this result
    // only while that poll still showed it (a read again after a backoff may come later).
    const polled = this.last?.readings[trigger.name];
    if (
      typeof value === 'number' &&
      specs.length === 0 &&
      polled?.quality === 'good' &&
      polled.value !== value
    )
      return null;
    const readings = specs.length > 0 ? await poller.readPoints(specs) : {};
    // The trigger again, after the block: if it moved, the block may hold the next result.
    if (typeof value === 'number' && specs.length > 0) {
      const again = (await poller.readPoints([trigger]))[trigger.name];
      if (again?.quality !== 'good')
        throw new Error(`the trigger ${trigger.name} could not be read again (${again?.error ?? '?'})`);
      if (again.value !== value) return null;
    }
    const scope: Scope = {};
    for (const [name, r] of Object.entries(this.last?.readings ?? {})) scope[name] = scopeValue(name, r);
    for (const b of block) {
      if (b.r.repeat === undefined) {
        scope[b.name] = scopeValue(b.name, readings[b.name]);
        continue;
      }
      const values = b.specs.map((s) => readings[s.name]);
      const bad = values.findIndex((v) => v?.quality !== 'good');
      const wrong = values.findIndex((v) => v?.undecodable);
      scope[b.name] =
        bad === -1
          ? values.map((v) => v!.value)
          : wrong !== -1
            ? new Unavailable(b.name, `was read but is unusable (element ${wrong}: ${values[wrong]!.error})`)
            : Unavailable.unread(
                b.name,
                `could not be read (element ${bad}: ${values[bad]?.error ?? 'no reading'})`,
              );
    }
    return { scope, trigger: value };
  }
}
