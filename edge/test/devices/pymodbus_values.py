"""A Modbus device with fixed values of every numeric type, for the edge's tests (pymodbus, Debian
python3-pymodbus, run with /usr/bin/python3). Nobody here designed its layout:

  holding 0..1   uint32   123456789   (an operating-hours counter: nine digits)
  holding 2..3   int32    -98765432
  holding 4..7   float64  3.141592653589793
  holding 8..9   float32  60.12
  holding 10     uint16   12345        (read with scale 0.1: 1234.5)
  holding 11..12 uint32   4000000001

Prints {"event":"listening","port":N} once it accepts connections.
"""
import asyncio
import json
import logging
import struct

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.server.async_io import ModbusTcpServer

logging.basicConfig(level=logging.CRITICAL)
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


def words(fmt, x):
    raw = struct.pack(">" + fmt, x)
    return [raw[i] << 8 | raw[i + 1] for i in range(0, len(raw), 2)]


async def main():
    values = (
        words("I", 123456789)
        + words("i", -98765432)
        + words("d", 3.141592653589793)
        + words("f", 60.12)
        + [12345]
        + words("I", 4000000001)
    )
    slave = ModbusSlaveContext(zero_mode=True, hr=ModbusSequentialDataBlock(0, values + [0] * 16))
    context = ModbusServerContext(slaves={1: slave}, single=False)
    server = ModbusTcpServer(context, address=("127.0.0.1", 0), allow_reuse_address=True)
    task = asyncio.create_task(server.serve_forever())
    await server.serving
    port = server.server.sockets[0].getsockname()[1]
    print(json.dumps({"event": "listening", "port": port}), flush=True)
    await task


asyncio.run(main())
