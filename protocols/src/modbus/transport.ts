import { EventEmitter } from 'node:events';
import net from 'node:net';
import modbusSerial from 'modbus-serial';
import { exceptionText, ModbusError } from './errors.js';
import { MbapPort } from './mbap-port.js';
import type { ModbusArea, ModbusLogger } from './types.js';

/** After this many timeouts in a row with not one frame received, the socket is taken for dead. */
const SILENT_TIMEOUTS_LIMIT = 3;
/** Extra time before our own guard fires, should modbus-serial never call back. */
const BACKSTOP_MS = 500;

export interface TransportOptions {
  host: string;
  port: number;
  timeoutMs: number;
  maxQueue: number;
  logger: ModbusLogger;
}

type Done = (err: unknown, data?: number[]) => void;

interface Job {
  run: (client: ModbusRTU, done: Done) => void;
  resolve: (data: number[]) => void;
  reject: (err: ModbusError) => void;
}

export interface TransportCounters {
  connects: number;
  requests: number;
  refusedQueueFull: number;
  reopens: number;
  /** Requests without a reply in time (a reply with another transaction id is no reply). */
  timeouts: number;
  /** Requests answered with a Modbus exception. */
  exceptions: number;
  /**
   * Requests answered with a frame that does not fit the request (function code, unit, length) or
   * is not a well-formed Modbus TCP frame (MBAP protocol id other than 0, a byte count that is not
   * the data the PDU carries).
   */
  malformed: number;
}

/** What is wrong with a reply frame's MBAP header or read PDU, or undefined when it is well-formed. */
export function frameProblem(frame: Buffer): string | undefined {
  const protocolId = frame.readUInt16BE(2);
  if (protocolId !== 0) return `MBAP protocol id ${protocolId} (Modbus is 0)`;
  const length = frame.readUInt16BE(4);
  if (length < 2) return `MBAP length ${length} leaves no room for a function code`;
  const fc = frame.readUInt8(7);
  // Reads (FC 1-4) answer with a byte count and exactly that many data bytes.
  if (fc >= 1 && fc <= 4) {
    const carried = length - 3; // unit, function code, byte count
    if (carried < 0) return `function ${fc} reply without a byte count`;
    const byteCount = frame.readUInt8(8);
    if (byteCount !== carried) return `byte count ${byteCount} but the PDU carries ${carried} data bytes`;
  }
  return undefined;
}

/** A malformed frame is logged when its problem differs from the last one logged, else every this many. */
const MALFORMED_LOG_EVERY = 100;

// modbus-serial is CommonJS with an ESM-style `export default` in its typings; under NodeNext the
// default import is the whole module, whose `default` property is the client class.
const ModbusRTU = modbusSerial.default;
type ModbusRTU = InstanceType<typeof ModbusRTU>;

const TIMEOUT = (): ModbusError => new ModbusError('MODBUS_TIMEOUT', 'timeout');
const DISCONNECTED = (): ModbusError => new ModbusError('MODBUS_DISCONNECTED', 'disconnected');

/** Maps what modbus-serial hands to a callback onto our catalogue. */
export function classifyError(err: unknown): ModbusError {
  if (err instanceof ModbusError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as {
    name?: unknown;
    errno?: unknown;
    modbusCode?: unknown;
    message?: unknown;
  };
  if (typeof e.modbusCode === 'number') {
    return new ModbusError('MODBUS_EXCEPTION', exceptionText(e.modbusCode), e.modbusCode);
  }
  if (e.name === 'TransactionTimedOutError' || e.errno === 'ETIMEDOUT') return TIMEOUT();
  if (e.name === 'PortNotOpenError') return DISCONNECTED();
  const message = typeof e.message === 'string' ? e.message : String(err);
  return new ModbusError('MODBUS_BAD_RESPONSE', `bad response: ${message}`);
}

/**
 * Drops modbus-serial's record of a finished transaction. It keeps one per transaction id (256
 * per connection) until the id comes round again, each holding its callback chain, timer and
 * reply: with many connections that is tens of MB held for nothing. A late reply to a dropped
 * transaction finds no record and is ignored, which is what we want anyway.
 */
function forgetTransaction(client: ModbusRTU, tid: number): void {
  const table = (client as unknown as { _transactions?: Record<number, unknown> })._transactions;
  if (table && typeof table === 'object') delete table[tid];
}

/**
 * One Modbus TCP connection: a socket we own, linked to a modbus-serial client, a bounded FIFO of
 * requests and exactly one request in flight.
 *
 * Late replies. modbus-serial keeps a table of transactions keyed by the MBAP transaction id,
 * which it counts modulo 256; a reply to a transaction whose timeout already fired is dropped.
 * What it does not guard: 256 requests later the id comes round again, and a late reply to the
 * old request would then be taken as the answer to the new one. We watch the ids of frames on the
 * socket, keep the ids that timed out and got no reply yet, and reopen the connection rather than
 * reuse such an id (the next id is our port's, MbapPort). A timeout never fails the other queued
 * requests.
 */
export class ModbusTransport extends EventEmitter<{ close: [reason: string] }> {
  readonly counters: TransportCounters = {
    connects: 0,
    requests: 0,
    refusedQueueFull: 0,
    reopens: 0,
    timeouts: 0,
    exceptions: 0,
    malformed: 0,
  };
  private state: 'closed' | 'connecting' | 'open' = 'closed';
  private socket: net.Socket | undefined;
  private client: ModbusRTU | undefined;
  /** The client's port: its `_transactionIdWrite` is the id of the next request. */
  private port: MbapPort | undefined;
  private pendingSocket: net.Socket | undefined;
  private readonly queue: Job[] = [];
  private inFlight: Done | undefined;
  private pumping = false;
  private framesReceived = 0;
  private malformedFrames = 0;
  private lastMalformed: string | undefined;
  private readonly unansweredTids = new Set<number>();
  /** Problems of reply frames seen on the socket, by transaction id, until the request they answer is finished. */
  private readonly frameProblems = new Map<number, string>();
  private silentTimeouts = 0;
  private lastSocketError: string | undefined;

  constructor(private readonly opts: TransportOptions) {
    super();
  }

  private isClosed(): boolean {
    return this.state === 'closed';
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  get queueDepth(): number {
    return this.queue.length;
  }

  /** True while connected: the transaction ids are our port's (see the class comment). */
  get tracksTransactionIds(): boolean {
    return this.port !== undefined;
  }

  /** One connection attempt. Rejects with MODBUS_CONNECT_FAILED. */
  async connect(): Promise<void> {
    if (this.state !== 'closed') throw new Error(`connect() while ${this.state}`);
    this.state = 'connecting';
    try {
      await this.openSocket();
      if (this.state !== 'connecting') throw new ModbusError('MODBUS_CONNECT_FAILED', 'connect aborted');
      this.state = 'open';
    } catch (err) {
      this.teardown();
      this.state = 'closed';
      throw err instanceof ModbusError
        ? err
        : new ModbusError('MODBUS_CONNECT_FAILED', `connect failed: ${String(err)}`);
    }
  }

  /** Closes the socket; queued and in-flight requests fail with 'disconnected'. Emits 'close' if it was open. */
  close(reason: string): void {
    const wasOpen = this.state === 'open';
    this.state = 'closed';
    this.teardown();
    const queued = this.queue.splice(0);
    this.inFlight?.(DISCONNECTED());
    for (const job of queued) job.reject(DISCONNECTED());
    if (wasOpen) this.emit('close', reason);
  }

  read(unitId: number, area: ModbusArea, address: number, count: number): Promise<number[]> {
    return this.request((client, done) => {
      const onRegisters = (err: unknown, res?: { data: number[]; buffer?: Buffer }): void => {
        if (err) return done(err);
        const data = res?.data ?? [];
        if (data.length < count) return done(new Error(`expected ${count} registers, got ${data.length}`));
        if (res?.buffer && res.buffer.length !== count * 2)
          return done(new Error(`byte count ${res.buffer.length} for ${count} registers`));
        // modbus-serial gives a fresh array of exactly the registers asked for: no copy needed.
        done(undefined, data.length === count ? data : data.slice(0, count));
      };
      const onBits = (err: unknown, res?: { data: boolean[] }): void => {
        if (err) return done(err);
        const data = res?.data ?? [];
        if (data.length < count) return done(new Error(`expected ${count} bits, got ${data.length}`));
        done(
          undefined,
          data.slice(0, count).map((b) => (b ? 1 : 0)),
        );
      };
      switch (area) {
        case 'holding':
          return client.writeFC3(unitId, address, count, onRegisters);
        case 'input':
          return client.writeFC4(unitId, address, count, onRegisters);
        case 'coil':
          return client.writeFC1(unitId, address, count, onBits);
        case 'discrete':
          return client.writeFC2(unitId, address, count, onBits);
      }
    });
  }

  writeRegisters(unitId: number, address: number, values: number[], single: boolean): Promise<void> {
    return this.request((client, done) => {
      const cb = (err: unknown): void => done(err ?? undefined, []);
      const first = values[0];
      if (single && first !== undefined) client.writeFC6(unitId, address, first, cb);
      else client.writeFC16(unitId, address, values, cb);
    }).then(() => undefined);
  }

  writeCoils(unitId: number, address: number, values: boolean[], single: boolean): Promise<void> {
    return this.request((client, done) => {
      const cb = (err: unknown): void => done(err ?? undefined, []);
      const first = values[0];
      if (single && first !== undefined) client.writeFC5(unitId, address, first, cb);
      else client.writeFC15(unitId, address, values, cb);
    }).then(() => undefined);
  }

  private request(run: Job['run']): Promise<number[]> {
    if (this.state !== 'open') return Promise.reject(DISCONNECTED());
    if (this.queue.length >= this.opts.maxQueue) {
      this.counters.refusedQueueFull++;
      return Promise.reject(new ModbusError('MODBUS_QUEUE_FULL', 'queue full'));
    }
    return new Promise<number[]>((resolve, reject) => {
      this.queue.push({ run, resolve, reject });
      void this.pump();
    });
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.state === 'open' && this.queue.length > 0) {
        if (this.mustReopen()) await this.reopen();
        const job = this.queue.shift();
        if (job === undefined || this.state !== 'open') {
          if (job) job.reject(DISCONNECTED());
          continue;
        }
        await this.send(job);
      }
    } finally {
      this.pumping = false;
    }
  }

  private mustReopen(): boolean {
    return this.port !== undefined && this.unansweredTids.has(this.port._transactionIdWrite);
  }

  /** Replaces the socket without failing the queue; if that fails, the transport closes. */
  private async reopen(): Promise<void> {
    this.opts.logger.info(
      { host: this.opts.host, port: this.opts.port, unanswered: [...this.unansweredTids] },
      'modbus: reopening the connection so that a late reply cannot answer a newer request',
    );
    this.counters.reopens++;
    this.teardown();
    try {
      await this.openSocket();
    } catch (err) {
      if (this.state === 'open') this.close(`reopen failed: ${classifyError(err).reading}`);
    }
  }

  private send(job: Job): Promise<void> {
    return new Promise<void>((settled) => {
      const client = this.client;
      const port = this.port;
      if (client === undefined || port === undefined) {
        job.reject(DISCONNECTED());
        settled();
        return;
      }
      const tid = port._transactionIdWrite;
      const framesAtSend = this.framesReceived;
      this.frameProblems.delete(tid);
      let finished = false;
      const finish: Done = (reply, data) => {
        if (finished) return;
        finished = true;
        clearTimeout(backstop);
        forgetTransaction(client, tid);
        this.inFlight = undefined;
        // A reply whose frame was malformed is refused, whatever modbus-serial made of it.
        const problem = this.frameProblems.get(tid);
        this.frameProblems.delete(tid);
        const err = problem !== undefined ? new Error(problem) : reply;
        if (err === undefined || err === null) {
          this.silentTimeouts = 0;
          job.resolve(data ?? []);
          settled();
          return;
        }
        const error = classifyError(err);
        if (error.code === 'MODBUS_TIMEOUT') this.counters.timeouts++;
        else if (error.code === 'MODBUS_EXCEPTION') this.counters.exceptions++;
        else if (error.code === 'MODBUS_BAD_RESPONSE') this.counters.malformed++;
        if (error.code === 'MODBUS_TIMEOUT') {
          this.unansweredTids.add(tid);
          this.silentTimeouts = this.framesReceived === framesAtSend ? this.silentTimeouts + 1 : 0;
        } else if (error.code !== 'MODBUS_DISCONNECTED') {
          this.silentTimeouts = 0;
        }
        job.reject(error);
        settled();
        if (this.state !== 'open') return;
        if (error.code === 'MODBUS_DISCONNECTED') this.close('connection lost');
        else if (this.silentTimeouts >= SILENT_TIMEOUTS_LIMIT)
          this.close(`no reply to ${this.silentTimeouts} requests in a row`);
      };
      this.inFlight = finish;
      const backstop = setTimeout(() => finish(TIMEOUT()), this.opts.timeoutMs + BACKSTOP_MS);
      this.counters.requests++;
      try {
        job.run(client, finish);
      } catch (err) {
        finish(err);
      }
    });
  }

  private openSocket(): Promise<void> {
    const { host, port, timeoutMs } = this.opts;
    return new Promise<net.Socket>((resolve, reject) => {
      const socket = new net.Socket();
      this.pendingSocket = socket;
      const fail = (message: string): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(new ModbusError('MODBUS_CONNECT_FAILED', message));
      };
      const timer = setTimeout(() => fail('connect timeout'), timeoutMs);
      socket.once('error', (err) => fail(`connect failed: ${err.message}`));
      socket.once('close', () => fail('connect aborted'));
      socket.connect({ host, port }, () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        socket.removeAllListeners('close');
        resolve(socket);
      });
    }).then(async (socket) => {
      this.pendingSocket = undefined;
      if (this.isClosed()) {
        socket.destroy();
        throw new ModbusError('MODBUS_CONNECT_FAILED', 'connect aborted');
      }
      // Our own Modbus TCP port (see MbapPort): each reply frame is checked (onFrame) before
      // modbus-serial's client takes it.
      const mbap = new MbapPort(socket, (frame) => {
        if (socket === this.socket) this.onFrame(frame);
      });
      const client = new ModbusRTU(mbap);
      // modbus-serial re-emits port errors as 'error'; without a listener that would throw.
      client.on('error', (err: unknown) =>
        this.opts.logger.debug?.({ err: String(err) }, 'modbus: client error'),
      );
      socket.on('error', (err) => {
        this.lastSocketError = err.message;
      });
      await new Promise<void>((resolve, reject) =>
        client.open((err?: unknown) => (err ? reject(classifyError(err)) : resolve())),
      );
      // modbus-serial's timeout of each request (our port arms no idle timeout on the socket).
      client.setTimeout(timeoutMs);
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 10_000);
      if (socket.destroyed || this.isClosed()) {
        client.destroy(() => undefined);
        throw new ModbusError(
          'MODBUS_CONNECT_FAILED',
          socket.destroyed ? 'connection closed at once' : 'connect aborted',
        );
      }
      this.lastSocketError = undefined;
      this.unansweredTids.clear();
      this.frameProblems.clear();
      this.silentTimeouts = 0;
      this.socket = socket;
      this.client = client;
      this.port = mbap;
      this.counters.connects++;
      socket.on('close', () => {
        if (socket !== this.socket) return;
        const why = this.lastSocketError
          ? `connection lost: ${this.lastSocketError}`
          : 'connection closed by peer';
        this.close(why);
      });
    });
  }

  /**
   * Each reply frame, before modbus-serial's client takes it: learns which transaction ids were
   * answered, and keeps the problems of a malformed frame to refuse the reply with.
   */
  private onFrame(frame: Buffer): void {
    this.framesReceived++;
    const tid = frame.readUInt16BE(0);
    this.unansweredTids.delete(tid);
    const problem = frameProblem(frame);
    if (problem === undefined) return;
    this.frameProblems.set(tid, problem);
    this.malformedFrames++;
    if (problem !== this.lastMalformed || this.malformedFrames % MALFORMED_LOG_EVERY === 0) {
      this.lastMalformed = problem;
      this.opts.logger.warn(
        { host: this.opts.host, port: this.opts.port, tid, problem, malformedFrames: this.malformedFrames },
        'modbus: malformed reply frame refused',
      );
    }
  }

  private teardown(): void {
    this.pendingSocket?.destroy();
    this.pendingSocket = undefined;
    const client = this.client;
    const socket = this.socket;
    this.client = undefined;
    this.port = undefined;
    this.socket = undefined;
    // destroy() also clears modbus-serial's pending transaction timers.
    if (client) client.destroy(() => undefined);
    socket?.destroy();
  }
}
