import { ModbusPoller, decodePoint, type ModbusPointSpec } from '@rigtrace/protocols/modbus';

/**
 * `rigtrace-edge probe modbus://host:port/unit --registers 0-40`: reads a range of registers once
 * and prints each decoded every common way (uint16, int16, and from each register on: 32-bit
 * integers and float32 in both word orders, two ASCII characters), so a technician can find where
 * a device keeps its counter, its serial and its measurements before writing a mapping.
 */
export interface ProbeOptions {
  url: string;
  registers: string;
  area: 'holding' | 'input';
  timeoutMs: number;
}

export function parseProbeTarget(url: string): { host: string; port: number; unitId: number } {
  const m = /^modbus(?:-tcp)?:\/\/([^/:]+|\[[^\]]+\])(?::(\d+))?(?:\/(\d+))?\/?$/.exec(url);
  if (!m) throw new Error(`"${url}" is not modbus://host:port/unit`);
  const port = m[2] ? Number(m[2]) : 502;
  const unitId = m[3] ? Number(m[3]) : 1;
  if (port < 1 || port > 65535) throw new Error(`port ${port} is out of range`);
  if (unitId > 247) throw new Error(`unit id ${unitId} is out of range (0–247)`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port, unitId };
}

export function parseRange(r: string): { from: number; to: number } {
  const m = /^(\d+)(?:-(\d+))?$/.exec(r.trim());
  if (!m) throw new Error(`--registers "${r}" is not FROM-TO (e.g. 0-40)`);
  const from = Number(m[1]);
  const to = m[2] ? Number(m[2]) : from;
  if (to < from || to > 65535) throw new Error(`--registers ${r}: the range must go up, within 0–65535`);
  if (to - from + 1 > 1000) throw new Error(`--registers ${r}: at most 1000 registers at a time`);
  return { from, to };
}

const fmt = (x: string | number | boolean | undefined) => (x === undefined ? '' : String(x));

/** Reads and formats the table (one line per register). */
export async function probe(o: ProbeOptions): Promise<string[]> {
  const { host, port, unitId } = parseProbeTarget(o.url);
  const { from, to } = parseRange(o.registers);
  const reg = (address: number): ModbusPointSpec => ({
    name: `r${address}`,
    unitId,
    area: o.area,
    address,
    type: 'uint16',
  });
  const poller = new ModbusPoller({
    host,
    port,
    points: [reg(from)],
    intervalMs: 3_600_000,
    timeoutMs: o.timeoutMs,
    reconnect: { initialMs: 3_600_000, maxMs: 3_600_000 },
  });
  try {
    await poller.start();
    if (!poller.stats().connected)
      throw new Error(`cannot connect to ${host}:${port}: ${poller.stats().lastError ?? 'no answer'}`);
    const readings = await poller.readPoints(Array.from({ length: to - from + 1 }, (_, k) => reg(from + k)));
    const words: (number | undefined)[] = [];
    for (let a = from; a <= to; a++) {
      const r = readings[`r${a}`];
      words.push(r?.quality === 'good' ? (r.value as number) : undefined);
    }
    const lines = [
      `${o.area} registers ${from}–${to} of unit ${unitId} at ${host}:${port}`,
      [
        'addr',
        'hex',
        'uint16',
        'int16',
        'uint32',
        'int32',
        'float32',
        'uint32 (LE words)',
        'float32 (LE words)',
        'ascii',
      ].join('\t'),
    ];
    for (let k = 0; k < words.length; k++) {
      const w = words[k];
      const address = from + k;
      if (w === undefined) {
        lines.push(`${address}\t(${readings[`r${address}`]?.error ?? 'not read'})`);
        continue;
      }
      const pair = words[k + 1] !== undefined ? [w, words[k + 1]!] : null;
      const d = (type: ModbusPointSpec['type'], data: number[], wordOrder: 'big' | 'little' = 'big') => {
        try {
          return decodePoint(
            { name: 'x', unitId, area: o.area, address: 0, type, wordOrder, length: 1 },
            data,
            0,
          );
        } catch {
          return undefined;
        }
      };
      const ascii = String.fromCharCode(w >> 8, w & 0xff).replace(/[^\x20-\x7e]/g, '.');
      lines.push(
        [
          address,
          `0x${w.toString(16).padStart(4, '0')}`,
          w,
          d('int16', [w]),
          pair ? d('uint32', pair) : '',
          pair ? d('int32', pair) : '',
          pair ? d('float32', pair) : '',
          pair ? d('uint32', pair, 'little') : '',
          pair ? d('float32', pair, 'little') : '',
          JSON.stringify(ascii),
        ]
          .map(fmt)
          .join('\t'),
      );
    }
    return lines;
  } finally {
    await poller.stop();
  }
}
