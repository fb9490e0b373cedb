import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { decodePoint, pointSize } from './decode.js';
import { ModbusConfigError, type ModbusError } from './errors.js';
import { planReads } from './plan.js';
import { classifyError, ModbusTransport } from './transport.js';
import type {
  ModbusLogger,
  ModbusPointSpec,
  ModbusPointStats,
  ModbusSample,
  ModbusSourceOptions,
  ModbusSourceStats,
  PointReading,
  ReadBlock,
} from './types.js';
import { validateSourceOptions, type ResolvedSourceOptions } from './validate.js';

export interface ModbusPollerEvents {
  sample: [sample: ModbusSample];
  connected: [];
  disconnected: [reason: string];
}

const NOOP_LOGGER: ModbusLogger = { info() {}, warn() {}, error() {}, debug() {} };

function blockKey(b: ReadBlock): string {
  return `${b.unitId}/${b.area}/${b.address}+${b.count}`;
}

/** What the poller keeps of one point between cycles. */
interface PointSlot {
  readonly spec: ModbusPointSpec;
  /** The point's index in the source's points (and in a sample's `list`). */
  readonly index: number;
  readonly stats: ModbusPointStats;
  /** The point's last good reading, handed out again (frozen) while its value does not change. */
  lastGood: PointReading | undefined;
}

/** One cycle's readings as they are filled in (by point index), and how many are set and good. */
interface CycleReadings {
  readonly list: PointReading[];
  set: number;
  good: number;
}

/**
 * One poll's sample: the readings by point index, and by name only once someone asks (an object
 * of hundreds of keys per poll is most of what a poll would otherwise allocate).
 */
class PollSample implements ModbusSample {
  readonly #names: readonly string[];
  #byName: Record<string, PointReading> | undefined;

  constructor(
    readonly at: Date,
    readonly list: readonly PointReading[],
    names: readonly string[],
  ) {
    this.#names = names;
  }

  get readings(): Record<string, PointReading> {
    if (this.#byName === undefined) {
      const byName: Record<string, PointReading> = {};
      const names = this.#names;
      for (let i = 0; i < names.length; i++) byName[names[i]!] = this.list[i]!;
      this.#byName = byName;
    }
    return this.#byName;
  }

  toJSON(): { at: Date; readings: Record<string, PointReading> } {
    return { at: this.at, readings: this.readings };
  }
}

/**
 * Polls a Modbus TCP device on a fixed cycle. start() never throws because the device is down: it
 * keeps reconnecting with backoff, forever, and emits 'sample' with bad-quality readings while it
 * cannot read. One failing unit id or block (exception, timeout) marks only its points bad and
 * never stalls or resets the others. Requests on the connection are serialized (one in flight)
 * through a bounded queue.
 *
 * - Cycles never overlap: a cycle that outlasts intervalMs is counted in `overruns` and the next
 *   one starts as soon as it ends.
 * - A block answered with exception 2 (illegal data address) is split into one request per point
 *   for the rest of the poller's life, so a hole in the device's map that coalescing read through
 *   only costs the points that really are missing.
 * - Late replies after a timeout cannot be taken as the answer to a later request (see
 *   ModbusTransport); a socket that stays silent for 3 requests in a row is closed and reopened.
 * - Events: 'sample' (ModbusSample), 'connected', 'disconnected' (reason). A listener that throws
 *   is logged and does not stop the poller.
 */
export class ModbusPoller extends EventEmitter<ModbusPollerEvents> {
  private readonly opts: ResolvedSourceOptions;
  private readonly log: ModbusLogger;
  private readonly transport: ModbusTransport;
  private plan: ReadBlock[];
  private readonly pointStats: Record<string, ModbusPointStats> = {};
  /** Each point's slot, by its spec as it appears in the plan's blocks. */
  private readonly slots = new Map<ModbusPointSpec, PointSlot>();
  /** The slots in the order of the points. */
  private readonly slotList: PointSlot[] = [];
  /** The points' names in their order (a sample's `list` order). */
  private readonly names: readonly string[];
  private readonly indexByName = new Map<string, number>();
  /** The slots of a block's points, in the block's order (blocks split later get theirs when first read). */
  private readonly blockSlots = new WeakMap<ReadBlock, PointSlot[]>();
  private readonly blockErrors = new Map<string, string>();
  private started = false;
  private stopped = false;
  private cycleTimer: NodeJS.Timeout | undefined;
  private cycleImmediate: NodeJS.Immediate | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private cycleDone: Promise<void> = Promise.resolve();
  private connecting: Promise<void> = Promise.resolve();
  private attempt = 0;
  private failedAttemptsLogged = 0;
  private cycles = 0;
  private overruns = 0;
  private lastCycleMs: number | undefined;
  private lastError: string | undefined;
  private lastCycle: { good: number; bad: number; firstError?: string } | undefined;

  /** Throws ModbusConfigError (every problem listed) when the options are invalid. */
  constructor(opts: ModbusSourceOptions) {
    super();
    const checked = validateSourceOptions(opts);
    if (!checked.ok) throw new ModbusConfigError(checked.problems);
    this.opts = checked.options;
    this.log = opts.logger ?? NOOP_LOGGER;
    this.plan = planReads(this.opts.points, {
      maxBlockRegisters: this.opts.maxBlockRegisters,
      maxGap: this.opts.maxGap,
    });
    this.opts.points.forEach((p, index) => {
      const stats: ModbusPointStats = { reads: 0, errors: 0, timeouts: 0, exceptions: 0 };
      this.pointStats[p.name] = stats;
      const slot: PointSlot = { spec: p, index, stats, lastGood: undefined };
      this.slots.set(p, slot);
      this.slotList.push(slot);
      this.indexByName.set(p.name, index);
    });
    this.names = this.opts.points.map((p) => p.name);
    this.transport = new ModbusTransport({
      host: this.opts.host,
      port: this.opts.port,
      timeoutMs: this.opts.timeoutMs,
      maxQueue: this.opts.maxQueue,
      logger: this.log,
    });
    this.transport.on('close', (reason) => this.onTransportClose(reason));
    if (this.plan.length > this.opts.maxQueue) {
      this.log.warn(
        { blocks: this.plan.length, maxQueue: this.opts.maxQueue },
        'modbus: more read requests per cycle than maxQueue; the excess is refused every cycle',
      );
    }
  }

  /** The index of a point in a sample's `list` (the order of the source's points), or -1. */
  pointIndex(name: string): number {
    return this.indexByName.get(name) ?? -1;
  }

  /** The read requests of one cycle, as planned (and split after exceptions). */
  get readPlan(): readonly ReadBlock[] {
    return this.plan;
  }

  /** Makes the first connection attempt, then polls until stop(). Never rejects because the device is down. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.connecting = this.connect();
    await this.connecting;
    if (!this.stopped) this.scheduleCycle(0);
  }

  /** Closes the socket and clears every timer; resolves once the running cycle has ended. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.cycleTimer);
    if (this.cycleImmediate) clearImmediate(this.cycleImmediate);
    this.cycleImmediate = undefined;
    clearTimeout(this.reconnectTimer);
    this.cycleTimer = undefined;
    this.reconnectTimer = undefined;
    this.transport.close('stopped');
    await Promise.allSettled([this.cycleDone, this.connecting]);
  }

  stats(): ModbusSourceStats {
    const points: Record<string, ModbusPointStats> = {};
    for (const [name, s] of Object.entries(this.pointStats)) points[name] = { ...s };
    const c = this.transport.counters;
    const out: ModbusSourceStats = {
      connected: this.transport.isOpen,
      connects: c.connects,
      requests: c.requests,
      refusedQueueFull: c.refusedQueueFull,
      cycles: this.cycles,
      overruns: this.overruns,
      reopens: c.reopens,
      reconnects: Math.max(0, c.connects - c.reopens - 1),
      timeouts: c.timeouts,
      exceptions: c.exceptions,
      malformed: c.malformed,
      queueDepth: this.transport.queueDepth,
      points,
    };
    if (this.lastError !== undefined) out.lastError = this.lastError;
    if (this.lastCycleMs !== undefined) out.lastCycleMs = this.lastCycleMs;
    if (this.lastCycle) out.lastCycle = { ...this.lastCycle };
    return out;
  }

  /**
   * Reads the given points now, outside the poll cycle, through the same queue (e.g. a result
   * block once its trigger fired). Neighbouring points share a request as in the cycle, so a block
   * of up to 125 registers is read in one request: one consistent snapshot on the device. A point
   * that could not be read is bad with the reason; the promise itself does not reject.
   */
  async readPoints(points: ModbusPointSpec[]): Promise<Record<string, PointReading>> {
    const readings: Record<string, PointReading> = {};
    const blocks = planReads(points, {
      maxBlockRegisters: this.opts.maxBlockRegisters,
      maxGap: this.opts.maxGap,
    });
    await Promise.all(
      blocks.map(async (block) => {
        let data: number[];
        try {
          data = await this.transport.read(block.unitId, block.area, block.address, block.count);
        } catch (err) {
          const reading = classifyError(err).reading;
          for (const p of block.points) readings[p.name] = { quality: 'bad', error: reading };
          return;
        }
        for (const p of block.points) {
          try {
            const value = decodePoint(p, data, p.address - block.address);
            readings[p.name] =
              typeof value === 'number' && !Number.isFinite(value)
                ? { quality: 'bad', error: `non-finite value (${value})`, undecodable: true }
                : { value, quality: 'good' };
          } catch (err) {
            readings[p.name] = {
              quality: 'bad',
              error: `decode error: ${(err as Error).message}`,
              undecodable: true,
            };
          }
        }
      }),
    );
    return readings;
  }

  /** FC6 (one register) or FC16, through the same queue as the reads. Rejects with ModbusError. */
  writeRegisters(unitId: number, address: number, values: number[]): Promise<void> {
    return this.transport.writeRegisters(unitId, address, values, values.length === 1);
  }

  /** FC5 (one coil) or FC15, through the same queue as the reads. Rejects with ModbusError. */
  writeCoils(unitId: number, address: number, values: boolean[]): Promise<void> {
    return this.transport.writeCoils(unitId, address, values, values.length === 1);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.transport.connect();
    } catch (err) {
      if (this.stopped) return;
      const reason = classifyError(err).reading;
      this.lastError = reason;
      // The first failure of an outage is a warning; its repeats only debug lines.
      const entry = { host: this.opts.host, port: this.opts.port, error: reason, attempt: this.attempt + 1 };
      if (this.failedAttemptsLogged++ === 0)
        this.log.warn(entry, 'modbus: cannot connect, retrying with backoff');
      else this.log.debug?.(entry, 'modbus: connect attempt failed');
      this.scheduleReconnect();
      return;
    }
    if (this.stopped) {
      this.transport.close('stopped');
      return;
    }
    this.failedAttemptsLogged = 0;
    this.log.info({ host: this.opts.host, port: this.opts.port }, 'modbus: connected');
    this.safeEmit('connected');
  }

  private onTransportClose(reason: string): void {
    this.safeEmit('disconnected', reason);
    if (this.stopped) return;
    this.lastError = reason;
    this.log.warn({ host: this.opts.host, port: this.opts.port, reason }, 'modbus: disconnected');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer !== undefined) return;
    const { initialMs, maxMs } = this.opts.reconnect;
    const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(this.attempt, 30));
    // "Equal jitter": half fixed, half random, so a plant full of gateways does not reconnect in step.
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    this.attempt++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connecting = this.connect();
    }, delay);
  }

  private scheduleCycle(delayMs: number): void {
    if (this.stopped) return;
    const run = () => {
      this.cycleTimer = undefined;
      this.cycleImmediate = undefined;
      this.cycleDone = this.runCycle();
    };
    // An overrun cycle starts the next at once: setTimeout(0) would wait at least 1 ms.
    if (delayMs <= 0) this.cycleImmediate = setImmediate(run);
    else this.cycleTimer = setTimeout(run, delayMs);
  }

  private async runCycle(): Promise<void> {
    const t0 = performance.now();
    const at = new Date();
    const points = this.opts.points;
    const slots = this.slotList;
    const cycle: CycleReadings = { list: new Array<PointReading>(slots.length), set: 0, good: 0 };
    const { list } = cycle;
    if (!this.transport.isOpen) {
      for (const slot of slots) this.markBad(slot, cycle, 'disconnected');
    } else {
      const plan = this.plan;
      await Promise.all(plan.map((block) => this.readBlock(block, cycle)));
    }
    // Every point is in one block, so each was set once, good or bad; only a cycle with bad
    // readings needs the points looked at one by one.
    if (cycle.set !== points.length) {
      for (const slot of slots) {
        if (list[slot.index] === undefined) this.markBad(slot, cycle, 'not read');
      }
    }
    this.cycles++;
    let firstError: string | undefined;
    if (cycle.good !== points.length) {
      for (let i = 0; i < list.length; i++) {
        const r = list[i];
        if (r?.quality !== 'good') {
          firstError = r?.error ?? 'not read';
          break;
        }
      }
    }
    this.lastCycle = {
      good: cycle.good,
      bad: points.length - cycle.good,
      ...(firstError !== undefined ? { firstError } : {}),
    };
    const elapsed = performance.now() - t0;
    this.lastCycleMs = Math.round(elapsed * 1000) / 1000;
    this.safeEmit('sample', new PollSample(at, list, this.names));
    if (this.stopped) return;
    if (elapsed > this.opts.intervalMs) {
      this.overruns++;
      this.scheduleCycle(0);
    } else {
      this.scheduleCycle(this.opts.intervalMs - elapsed);
    }
  }

  /** The slots of a block's points (every point of a plan has one). */
  private slotsOf(block: ReadBlock): PointSlot[] {
    let slots = this.blockSlots.get(block);
    if (slots === undefined) {
      slots = block.points.map((p) => this.slots.get(p)!);
      this.blockSlots.set(block, slots);
    }
    return slots;
  }

  private async readBlock(block: ReadBlock, cycle: CycleReadings): Promise<void> {
    let data: number[];
    try {
      data = await this.transport.read(block.unitId, block.area, block.address, block.count);
    } catch (err) {
      const error = classifyError(err);
      if (error.code === 'MODBUS_EXCEPTION' || error.code === 'MODBUS_BAD_RESPONSE') this.attempt = 0;
      if (error.exceptionCode === 2 && block.points.length > 1 && !this.stopped) {
        await this.splitBlock(block, cycle);
        return;
      }
      this.noteBlockError(block, error);
      for (const slot of this.slotsOf(block)) this.markBad(slot, cycle, error.reading, error);
      return;
    }
    this.attempt = 0;
    if (this.blockErrors.size > 0) this.noteBlockRecovered(block);
    const { list } = cycle;
    const slots = this.slotsOf(block);
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i]!;
      const p = slot.spec;
      let value;
      try {
        value = decodePoint(p, data, p.address - block.address);
      } catch (err) {
        this.markBad(slot, cycle, `decode error: ${(err as Error).message}`, undefined, true);
        continue;
      }
      if (typeof value === 'number' && !Number.isFinite(value)) {
        this.markBad(slot, cycle, `non-finite value (${value})`, undefined, true);
        continue;
      }
      // A value that has not changed since the last cycle gets the same (frozen) reading object:
      // most of a device's registers hold still, and a poll then allocates next to nothing.
      let reading = slot.lastGood;
      if (reading === undefined || !Object.is(reading.value, value)) {
        reading = Object.freeze({ value, quality: 'good' as const });
        slot.lastGood = reading;
      }
      list[slot.index] = reading;
      cycle.set++;
      cycle.good++;
      slot.stats.reads++;
    }
  }

  private async splitBlock(block: ReadBlock, cycle: CycleReadings): Promise<void> {
    const parts: ReadBlock[] = block.points.map((p) => ({
      unitId: block.unitId,
      area: block.area,
      address: p.address,
      count: pointSize(p),
      points: [p],
    }));
    this.log.warn(
      {
        unitId: block.unitId,
        area: block.area,
        address: block.address,
        count: block.count,
        into: parts.length,
      },
      'modbus: block refused with illegal data address; reading its points one by one from now on',
    );
    const index = this.plan.indexOf(block);
    if (index !== -1) this.plan = [...this.plan.slice(0, index), ...parts, ...this.plan.slice(index + 1)];
    await Promise.all(parts.map((part) => this.readBlock(part, cycle)));
  }

  private markBad(
    slot: PointSlot,
    cycle: CycleReadings,
    reason: string,
    err?: ModbusError,
    undecodable = false,
  ): void {
    cycle.set++;
    cycle.list[slot.index] = {
      quality: 'bad',
      error: reason,
      ...(undecodable ? { undecodable: true as const } : {}),
    };
    const s = slot.stats;
    s.errors++;
    if (err?.code === 'MODBUS_TIMEOUT') s.timeouts++;
    if (err?.code === 'MODBUS_EXCEPTION') s.exceptions++;
    s.lastError = reason;
    s.lastErrorAt = new Date().toISOString();
  }

  private noteBlockError(block: ReadBlock, error: ModbusError): void {
    if (error.code === 'MODBUS_DISCONNECTED' || error.code === 'MODBUS_QUEUE_FULL') {
      this.lastError = error.reading;
    }
    const key = blockKey(block);
    const entry = { unitId: block.unitId, area: block.area, address: block.address, count: block.count };
    if (this.blockErrors.get(key) !== error.reading) {
      this.blockErrors.set(key, error.reading);
      this.log.warn({ ...entry, error: error.reading }, 'modbus: read failed');
    } else {
      this.log.debug?.({ ...entry, error: error.reading }, 'modbus: read failed again');
    }
  }

  private noteBlockRecovered(block: ReadBlock): void {
    const key = blockKey(block);
    if (this.blockErrors.delete(key)) {
      this.log.info(
        { unitId: block.unitId, area: block.area, address: block.address },
        'modbus: read recovered',
      );
    }
  }

  /** Like emit(), but a listener that throws is logged and the other listeners still run. */
  private safeEmit<K extends keyof ModbusPollerEvents>(event: K, ...args: ModbusPollerEvents[K]): void {
    for (const listener of this.rawListeners(event) as ((...a: unknown[]) => unknown)[]) {
      try {
        listener.apply(this, args);
      } catch (err) {
        this.log.error({ event, err: String(err) }, 'modbus: a listener threw');
      }
    }
  }
}
