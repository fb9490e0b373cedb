import net from 'node:net';
import { ServerTCP } from 'modbus-serial';
import { createRng, mixSeed, type Rng } from './prng.js';
import { REG, REGISTER_COUNT, renderRegisters } from './register-map.js';
import { FAULT, FAULT_MASK, type FlowRigModel } from './rig-model.js';

/** Modbus exception codes the rig answers with. */
const EXC = {
  illegalFunction: 1,
  illegalDataAddress: 2,
  illegalDataValue: 3,
  serverDeviceFailure: 4,
  gatewayTargetFailed: 11,
} as const;

/** Largest register read the protocol allows (FC3). */
const MAX_READ = 125;
/** Time the reply to a fault-mode write gets before the sockets are dropped. */
const DROP_GRACE_MS = 100;

export interface FlowRigServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  unitId: number;
  model: FlowRigModel;
  seed: number;
  /** The slow-reply fault delays each reply by 2 × slowDelayMs. */
  slowDelayMs: number;
  /** Share of requests the garbage fault answers with exception 4. */
  garbageShare: number;
  /** The disconnect fault refuses connections this long… */
  disconnectSeconds: number;
  /** …then accepts them this long before the next outage, while the fault stays on. */
  disconnectEverySeconds: number;
  /** How often the model is advanced between requests. */
  tickMs?: number;
  now?: () => number;
  /** One structured event per call (outages, listener errors). */
  log: (event: Record<string, unknown>) => void;
}

type Cb<T> = (err: Error | null, value?: T) => void;

function exception(code: number): Error & { modbusErrorCode: number } {
  return Object.assign(new Error(`modbus exception ${code}`), { modbusErrorCode: code });
}

/** Asks the kernel for a free port: modbus-serial's ServerTCP turns port 0 into 502. */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const address = probe.address();
      probe.close(() =>
        address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/**
 * Serves a FlowRigModel on Modbus TCP (modbus-serial ServerTCP) and plays the communication
 * faults: slow replies, exception replies, dropped connections. Register 200 (fault mode) is the
 * one writable register; writes to it are exempt from the garbage fault, so a test harness can
 * always switch faults off again.
 */
export class FlowRigServer {
  private server: ServerTCP | undefined;
  private boundPort = 0;
  private readonly rng: Rng;
  private readonly now: () => number;
  private readonly timers = new Set<NodeJS.Timeout>();
  private tick: NodeJS.Timeout | undefined;
  private outageTimer: NodeJS.Timeout | undefined;
  private inOutage = false;
  private stopped = false;
  readonly counters = { requests: 0, exceptions: 0, garbage: 0, delayed: 0, outages: 0 };

  constructor(private readonly opts: FlowRigServerOptions) {
    this.rng = createRng(mixSeed(opts.seed, 0x67617262));
    this.now = opts.now ?? Date.now;
    opts.model.on('fault-mode', (change) => {
      const switchedOn =
        (change.faultMode & FAULT.disconnect) !== 0 && (change.previous & FAULT.disconnect) === 0;
      if (switchedOn && this.server) this.scheduleOutage(DROP_GRACE_MS);
    });
  }

  get port(): number {
    return this.boundPort;
  }

  /** Listens; resolves with the real port. Rejects if the port is taken (a requested port) or on other errors. */
  async start(): Promise<{ host: string; port: number }> {
    const requested = this.opts.port;
    for (let attempt = 1; ; attempt++) {
      const port = requested === 0 ? await freePort(this.opts.host) : requested;
      try {
        await this.listen(port);
        break;
      } catch (err) {
        // Port 0: someone took the probed port in between; probe again.
        if (requested !== 0 || attempt >= 5) throw err;
      }
    }
    this.tick = setInterval(() => this.opts.model.advanceTo(this.now()), this.opts.tickMs ?? 100);
    if (this.opts.model.faultMode & FAULT.disconnect) this.scheduleOutage(DROP_GRACE_MS);
    return { host: this.opts.host, port: this.boundPort };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.tick);
    clearTimeout(this.outageTimer);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await this.closeListener();
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = new ServerTCP(this.vector(), { host: this.opts.host, port, unitID: 255 });
      server.once('initialized', () => {
        this.server = server;
        this.boundPort = port;
        resolve();
      });
      server.on('serverError', (err: Error | null) => {
        if (this.server === server) this.opts.log({ event: 'server-error', error: String(err) });
        else {
          server.close(() => undefined);
          reject(err ?? new Error('server error'));
        }
      });
      server.on('socketError', (err: Error | null) =>
        this.opts.log({ event: 'socket-error', error: String(err) }),
      );
    });
  }

  private closeListener(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }

  /** Drops every client and refuses connections for disconnectSeconds, again every disconnectEverySeconds. */
  private scheduleOutage(delayMs: number): void {
    if (this.outageTimer || this.stopped) return;
    this.outageTimer = setTimeout(() => {
      this.outageTimer = undefined;
      void this.runOutage();
    }, delayMs);
  }

  private async runOutage(): Promise<void> {
    if (this.stopped || this.inOutage || (this.opts.model.faultMode & FAULT.disconnect) === 0) return;
    this.inOutage = true;
    this.counters.outages++;
    this.opts.log({ event: 'outage-started', seconds: this.opts.disconnectSeconds });
    await this.closeListener();
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, this.opts.disconnectSeconds * 1000);
      this.timers.add(t);
    });
    this.inOutage = false;
    if (this.stopped) return;
    for (;;) {
      try {
        await this.listen(this.boundPort);
        break;
      } catch (err) {
        this.opts.log({ event: 'relisten-failed', error: String(err) });
        await new Promise((r) => setTimeout(r, 1000));
        if (this.stopped) return;
      }
    }
    this.opts.log({ event: 'outage-ended' });
    if (this.opts.model.faultMode & FAULT.disconnect)
      this.scheduleOutage(this.opts.disconnectEverySeconds * 1000);
  }

  private vector(): Record<string, unknown> {
    const read = (address: number, length: number, unitId: number, cb: Cb<number[]>): void =>
      this.handle(unitId, false, cb, () => this.readHolding(address, length));
    const refuse = (_addr: number, unitId: number, cb: Cb<never>): void =>
      this.handle(unitId, false, cb, () => {
        throw exception(EXC.illegalFunction);
      });
    return {
      getHoldingRegister: (addr: number, unitId: number, cb: Cb<number>) =>
        read(addr, 1, unitId, (err, values) => cb(err, values?.[0])),
      getMultipleHoldingRegisters: read,
      // The rig has holding registers only: FC1, FC2 and FC4 are not implemented (exception 1).
      getInputRegister: refuse,
      getMultipleInputRegisters: (addr: number, _len: number, unitId: number, cb: Cb<never>) =>
        refuse(addr, unitId, cb),
      getCoil: refuse,
      getDiscreteInput: refuse,
      setCoil: (addr: number, _v: boolean, unitId: number, cb: Cb<never>) => refuse(addr, unitId, cb),
      setRegister: (addr: number, value: number, unitId: number, cb: Cb<void>) =>
        this.handle(unitId, addr === REG.faultMode, cb, () => this.write(addr, [value])),
      setRegisterArray: (addr: number, values: number[], unitId: number, cb: Cb<void>) =>
        this.handle(unitId, addr === REG.faultMode && values.length === 1, cb, () =>
          this.write(addr, values),
        ),
    };
  }

  /**
   * Runs one request through the fault modes. Writes take effect at once; replies (and reads,
   * which are taken when the reply goes out) are delayed by the slow fault.
   */
  private handle<T>(unitId: number, isFaultWrite: boolean, cb: Cb<T>, produce: () => T): void {
    this.counters.requests++;
    const fail = (code: number): void => {
      this.counters.exceptions++;
      cb(exception(code));
    };
    const run = (): void => {
      this.opts.model.advanceTo(this.now());
      let value: T;
      try {
        value = produce();
      } catch (err) {
        const code = (err as { modbusErrorCode?: unknown }).modbusErrorCode;
        fail(typeof code === 'number' ? code : EXC.serverDeviceFailure);
        return;
      }
      cb(null, value);
    };
    const fm = this.opts.model.faultMode;
    let respond: () => void;
    if (unitId !== this.opts.unitId) {
      respond = () => fail(EXC.gatewayTargetFailed);
    } else if (!isFaultWrite && fm & FAULT.garbage && this.rng.next() < this.opts.garbageShare) {
      this.counters.garbage++;
      respond = () => fail(EXC.serverDeviceFailure);
    } else if (isFaultWrite) {
      // Apply now, whatever the reply delay.
      let outcome: { ok: true; value: T } | { ok: false; code: number };
      try {
        this.opts.model.advanceTo(this.now());
        outcome = { ok: true, value: produce() };
      } catch (err) {
        const code = (err as { modbusErrorCode?: unknown }).modbusErrorCode;
        outcome = { ok: false, code: typeof code === 'number' ? code : EXC.serverDeviceFailure };
      }
      respond = () => (outcome.ok ? cb(null, outcome.value) : fail(outcome.code));
    } else {
      respond = run;
    }
    if ((fm & FAULT.slow) === 0) return respond();
    this.counters.delayed++;
    const t = setTimeout(() => {
      this.timers.delete(t);
      respond();
    }, 2 * this.opts.slowDelayMs);
    this.timers.add(t);
  }

  private readHolding(address: number, length: number): number[] {
    if (length < 1 || length > MAX_READ) throw exception(EXC.illegalDataValue);
    if (address + length > REGISTER_COUNT) throw exception(EXC.illegalDataAddress);
    const words = renderRegisters(this.opts.model).words;
    return Array.from(words.subarray(address, address + length));
  }

  private write(address: number, values: number[]): void {
    if (address !== REG.faultMode || values.length !== 1) throw exception(EXC.illegalDataAddress);
    const value = values[0] ?? 0;
    if (value > FAULT_MASK) throw exception(EXC.illegalDataValue);
    this.opts.model.setFaultMode(value, 'modbus');
  }
}
