/**
 * Test fixtures for the Modbus adapter (not exported by the package): a scriptable device on
 * modbus-serial's ServerTCP, and helpers to start pymodbus as an independent server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ServerTCP } from 'modbus-serial';
import type { ModbusArea } from '../types.js';

export interface UnitBehaviour {
  holding?: Record<number, number>;
  input?: Record<number, number>;
  coils?: Record<number, boolean>;
  discrete?: Record<number, boolean>;
  /** Answer every request with this exception code. */
  exception?: number;
  /** Addresses that do not exist: a request touching one gets exception 2. */
  illegal?: (area: ModbusArea, address: number) => boolean;
  /** Reply this late. */
  delayMs?: number;
  /** Never reply. */
  silent?: boolean;
}

export interface RecordedRequest {
  unitId: number;
  area: ModbusArea;
  address: number;
  count: number;
  at: number;
}

/** Asks the kernel for a free loopback port (ServerTCP itself turns port 0 into 502). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

function modbusError(code: number): Error & { modbusErrorCode: number } {
  return Object.assign(new Error(`exception ${code}`), { modbusErrorCode: code });
}

type Cb<T> = (err: Error | null, value?: T) => void;

/** A Modbus TCP device on modbus-serial's ServerTCP whose units behave as a test scripts them. */
export class TestDevice {
  readonly requests: RecordedRequest[] = [];
  /** Most requests being answered at the same time (replies delayed by delayMs overlap). */
  maxConcurrent = 0;
  private active = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private bitBurst: RecordedRequest | undefined;

  private constructor(
    private readonly server: ServerTCP,
    readonly port: number,
    public units: Record<number, UnitBehaviour>,
  ) {}

  static async start(units: Record<number, UnitBehaviour>, port?: number): Promise<TestDevice> {
    const chosen = port ?? (await freePort());
    const holder: { device?: TestDevice } = {};
    const serve = (
      unitId: number,
      area: ModbusArea,
      address: number,
      count: number,
      reply: Cb<number[]>,
    ): void => holder.device?.serve(unitId, area, address, count, reply);
    const vector = {
      getHoldingRegister: (addr: number, unitId: number, cb: Cb<number>) =>
        serve(unitId, 'holding', addr, 1, (e, v) => cb(e, v?.[0])),
      getMultipleHoldingRegisters: (addr: number, len: number, unitId: number, cb: Cb<number[]>) =>
        serve(unitId, 'holding', addr, len, cb),
      getInputRegister: (addr: number, unitId: number, cb: Cb<number>) =>
        serve(unitId, 'input', addr, 1, (e, v) => cb(e, v?.[0])),
      getMultipleInputRegisters: (addr: number, len: number, unitId: number, cb: Cb<number[]>) =>
        serve(unitId, 'input', addr, len, cb),
      // ServerTCP asks for bits one at a time, synchronously per request: serve() groups them.
      getCoil: (addr: number, unitId: number, cb: Cb<boolean>) =>
        serve(unitId, 'coil', addr, 1, (e, v) => cb(e, v?.[0] === 1)),
      getDiscreteInput: (addr: number, unitId: number, cb: Cb<boolean>) =>
        serve(unitId, 'discrete', addr, 1, (e, v) => cb(e, v?.[0] === 1)),
      setRegister: (addr: number, value: number, unitId: number, cb: Cb<void>) => {
        const unit = holder.device?.units[unitId];
        if (unit === undefined) return cb(modbusError(11));
        (unit.holding ??= {})[addr] = value;
        cb(null);
      },
    };
    const server = new ServerTCP(vector as never, { host: '127.0.0.1', port: chosen });
    await new Promise<void>((resolve, reject) => {
      server.once('initialized', () => resolve());
      server.once('serverError', (err: Error | null) => reject(err ?? new Error('serverError')));
    });
    const device = new TestDevice(server, chosen, units);
    holder.device = device;
    return device;
  }

  /** Requests per unit and area since the start or the last reset. */
  count(filter: Partial<Pick<RecordedRequest, 'unitId' | 'area'>> = {}): number {
    return this.requests.filter(
      (r) =>
        (filter.unitId === undefined || r.unitId === filter.unitId) &&
        (filter.area === undefined || r.area === filter.area),
    ).length;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private serve(unitId: number, area: ModbusArea, address: number, count: number, reply: Cb<number[]>): void {
    const bit = area === 'coil' || area === 'discrete';
    if (bit && this.bitBurst && this.bitBurst.unitId === unitId && this.bitBurst.area === area) {
      this.bitBurst.count++;
    } else {
      const req = { unitId, area, address, count, at: Date.now() };
      this.requests.push(req);
      if (bit) {
        this.bitBurst = req;
        queueMicrotask(() => {
          this.bitBurst = undefined;
        });
      }
    }
    const unit = this.units[unitId];
    if (unit === undefined) return reply(modbusError(11));
    if (unit.silent) return;
    const respond = (): void => {
      if (unit.exception !== undefined) return reply(modbusError(unit.exception));
      const values: number[] = [];
      for (let a = address; a < address + count; a++) {
        if (unit.illegal?.(area, a)) return reply(modbusError(2));
        if (area === 'holding') values.push(unit.holding?.[a] ?? 0);
        else if (area === 'input') values.push(unit.input?.[a] ?? 0);
        else if (area === 'coil') values.push(unit.coils?.[a] ? 1 : 0);
        else values.push(unit.discrete?.[a] ? 1 : 0);
      }
      reply(null, values);
    };
    if (!unit.delayMs) return respond();
    this.active++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.active);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.active--;
      respond();
    }, unit.delayMs);
    this.timers.add(timer);
  }
}

/** Words of a value as a device would hold them, written with Buffer (independent of decodePoint). */
export function words(
  type: 'int16' | 'uint16' | 'int32' | 'uint32' | 'float32' | 'float64',
  value: number,
  wordOrder: 'big' | 'little' = 'big',
  byteOrder: 'big' | 'little' = 'big',
): number[] {
  const size = { int16: 2, uint16: 2, int32: 4, uint32: 4, float32: 4, float64: 8 }[type];
  const b = Buffer.alloc(size);
  if (type === 'int16') b.writeInt16BE(value);
  else if (type === 'uint16') b.writeUInt16BE(value);
  else if (type === 'int32') b.writeInt32BE(value);
  else if (type === 'uint32') b.writeUInt32BE(value);
  else if (type === 'float32') b.writeFloatBE(value);
  else b.writeDoubleBE(value);
  const out: number[] = [];
  for (let i = 0; i < size; i += 2) out.push(byteOrder === 'big' ? b.readUInt16BE(i) : b.readUInt16LE(i));
  return wordOrder === 'big' ? out : out.reverse();
}

/** Registers of an ASCII string, 2 chars per register, high byte first, NUL padded. */
export function stringWords(text: string, registers: number, byteOrder: 'big' | 'little' = 'big'): number[] {
  const b = Buffer.alloc(registers * 2);
  b.write(text, 'latin1');
  const out: number[] = [];
  for (let i = 0; i < b.length; i += 2) out.push(byteOrder === 'big' ? b.readUInt16BE(i) : b.readUInt16LE(i));
  return out;
}

/** Lays words out from an address into a sparse table. */
export function place(table: Record<number, number>, address: number, ws: number[]): Record<number, number> {
  ws.forEach((w, i) => (table[address + i] = w));
  return table;
}

export interface PymodbusServer {
  port: number;
  child: ChildProcess;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface PymodbusUnits {
  [unitId: number]: {
    hr?: Record<number, number>;
    ir?: Record<number, number>;
    co?: Record<number, boolean>;
    di?: Record<number, boolean>;
  };
}

/** Starts testing/pymodbus_server.py with /usr/bin/python3 (Debian package python3-pymodbus). */
export async function startPymodbus(units: PymodbusUnits, port = 0): Promise<PymodbusServer> {
  const script = fileURLToPath(new URL('./pymodbus_server.py', import.meta.url));
  const child = spawn('/usr/bin/python3', [script, JSON.stringify({ port, units })], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stdout });
  const listening = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pymodbus did not start: ${stderr}`)), 10_000);
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`pymodbus exited with ${code}: ${stderr}`));
    });
  });
  return {
    port: listening,
    child,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
