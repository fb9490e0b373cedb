import { EventEmitter } from 'node:events';
import type net from 'node:net';

/** The MBAP header: transaction id, protocol id, length (unit id and PDU follow). */
const MBAP_LENGTH = 6;
/** modbus-serial's requests and replies are RTU frames: the PDU with a CRC-16 after it. */
const CRC_LENGTH = 2;
/** The shortest request modbus-serial writes (unit, function code, CRC), as its TcpPort checks. */
const MIN_REQUEST_LENGTH = 4;
/** Bound on bytes buffered while waiting for the rest of a frame (the largest ADU is 260 bytes). */
const MAX_RX_BYTES = 64 * 1024;
/** modbus-serial keys its transactions by the MBAP transaction id modulo 256. */
const TRANSACTION_IDS = 256;

/** CRC-16/MODBUS (polynomial 0xA001 reflected, initial 0xFFFF), one table step per byte. */
const CRC_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
    t[i] = c;
  }
  return t;
})();

/** The Modbus RTU CRC-16 of `buf[start, end)`, as modbus-serial's crc16 computes it bit by bit. */
export function crc16(buf: Uint8Array, start = 0, end = buf.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) crc = (crc >>> 8) ^ CRC_TABLE[(crc ^ buf[i]!) & 0xff]!;
  return crc;
}

/**
 * A Modbus TCP port for modbus-serial's client (`new ModbusRTU(port)`), on a socket we opened.
 *
 * modbus-serial speaks RTU frames to its port: a request is the PDU with a CRC-16 after it, and a
 * reply must come back the same way (the client checks the CRC). Its own TcpPort turns each reply
 * into such a frame by computing the CRC bit by bit (and the client computes it again to check
 * it), chains every write on a promise, and frames the reply stream a second time beside ours.
 * This port does the same job once: it frames the MBAP stream, hands each frame to `onFrame` (the
 * transport's checks of ids and headers) before the client sees it, appends a table-driven CRC,
 * and writes each request straight to the socket. The transaction id bookkeeping is TcpPort's
 * (`_transactionIdWrite` counts modulo 256, `_transactionIdRead` is the id of the frame given),
 * which the client reads.
 */
export class MbapPort extends EventEmitter {
  /** The id of the next request (read by modbus-serial's client, which also resets it on open). */
  _transactionIdWrite = 1;
  /** The id of the reply frame being handed to the client. */
  _transactionIdRead = 1;
  private open_ = true;
  private rx: Buffer = Buffer.alloc(0);

  constructor(
    private readonly socket: net.Socket,
    /** Each complete reply frame (MBAP header included), before the client sees it. */
    private readonly onFrame: (frame: Buffer) => void,
  ) {
    super();
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {
      this.open_ = false;
    });
    socket.on('close', () => {
      this.open_ = false;
      this.rx = Buffer.alloc(0);
      this.emit('close');
    });
  }

  get isOpen(): boolean {
    return this.open_ && !this.socket.destroyed;
  }

  /** The socket is open already: modbus-serial's open() only needs to hear so. */
  open(callback: (err?: Error) => void): void {
    if (this.isOpen) callback();
    else callback(new Error('Modbus TCP port: the socket is not open'));
  }

  close(callback?: () => void): void {
    this.open_ = false;
    if (callback) this.socket.once('close', () => callback());
    this.socket.end();
  }

  destroy(callback?: () => void): void {
    this.open_ = false;
    if (!this.socket.destroyed) this.socket.destroy();
    callback?.();
  }

  /** One request: modbus-serial's RTU frame without its CRC, after an MBAP header, in one socket write. */
  write(data: Buffer): void {
    if (data.length < MIN_REQUEST_LENGTH) return;
    const pdu = data.length - CRC_LENGTH;
    const frame = Buffer.allocUnsafe(MBAP_LENGTH + pdu);
    frame.writeUInt16BE(this._transactionIdWrite, 0);
    frame.writeUInt16BE(0, 2);
    frame.writeUInt16BE(pdu, 4);
    data.copy(frame, MBAP_LENGTH, 0, pdu);
    this.socket.write(frame);
    this._transactionIdWrite = (this._transactionIdWrite + 1) % TRANSACTION_IDS;
  }

  private onData(chunk: Buffer): void {
    this.rx = this.rx.length === 0 ? chunk : Buffer.concat([this.rx, chunk]);
    while (this.rx.length >= MBAP_LENGTH) {
      const length = this.rx.readUInt16BE(4);
      const end = MBAP_LENGTH + length;
      if (this.rx.length < end) break;
      const frame = this.rx.subarray(0, end);
      this.rx = this.rx.subarray(end);
      this.onFrame(frame);
      // The client's RTU frame: unit id and PDU, then their CRC.
      const rtu = Buffer.allocUnsafe(length + CRC_LENGTH);
      frame.copy(rtu, 0, MBAP_LENGTH, end);
      rtu.writeUInt16LE(crc16(rtu, 0, length), length);
      this._transactionIdRead = frame.readUInt16BE(0);
      this.emit('data', rtu);
    }
    if (this.rx.length > MAX_RX_BYTES) this.rx = Buffer.alloc(0);
  }
}
