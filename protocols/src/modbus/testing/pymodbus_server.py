"""Independent Modbus TCP server for RigTrace's tests, built on pymodbus (Debian: python3-pymodbus).

Usage: python3 pymodbus_server.py '{"port": 0, "units": {"1": {"hr": {"0": 1, "1": 2}, "co": {"0": true}}}}'
Tables: hr (holding), ir (input), co (coils), di (discrete inputs), as {address: value}. Addresses are
0-based on the wire (zero_mode=True). Reading an address that is not listed gives exception 2;
a request to a unit id that is not listed gets no reply at all (pymodbus drops it).
Prints one JSON line {"event": "listening", "port": N} once it accepts connections.
"""
import asyncio
import json
import logging
import sys

from pymodbus.datastore import ModbusServerContext, ModbusSlaveContext, ModbusSparseDataBlock
from pymodbus.server.async_io import ModbusTcpServer

logging.basicConfig(level=logging.CRITICAL)
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


def block(table):
    values = {int(address): value for address, value in (table or {}).items()}
    # An empty sparse block misbehaves; park one value where no test reads.
    return ModbusSparseDataBlock(values or {65000: 0})


async def main():
    cfg = json.loads(sys.argv[1])
    slaves = {}
    for unit, tables in cfg["units"].items():
        slaves[int(unit)] = ModbusSlaveContext(
            zero_mode=True,
            hr=block(tables.get("hr")),
            ir=block(tables.get("ir")),
            co=block(tables.get("co")),
            di=block(tables.get("di")),
        )
    context = ModbusServerContext(slaves=slaves, single=False)
    server = ModbusTcpServer(
        context,
        address=(cfg.get("host", "127.0.0.1"), int(cfg.get("port", 0))),
        allow_reuse_address=True,
    )
    task = asyncio.create_task(server.serve_forever())
    await server.serving
    port = server.server.sockets[0].getsockname()[1]
    print(json.dumps({"event": "listening", "port": port}), flush=True)
    await task


asyncio.run(main())
