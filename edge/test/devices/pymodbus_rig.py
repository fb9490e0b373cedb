"""An injector test rig that nobody in this project designed, for the edge's tests (pymodbus, Debian
python3-pymodbus, run with /usr/bin/python3). Its layout differs from our flow-rig simulator:

  holding 0        uint16   results completed (a counter; 0 = none yet)
  holding 1..5     string   part serial of the last result (10 characters)
  holding 6..7     float32  delivered quantity, mm3/stroke (big-endian words)
  holding 8..9     float32  back-leak, mL/min
  holding 10       uint16   operator number
  holding 20       uint16   acknowledge: the edge writes the counter of the result it stored
  (there is no overall pass/fail register)

Usage: python3 pymodbus_rig.py '{"port": 0, "periodS": 0.3, "handshake": true, "start": 0, "failEvery": 3, "prefix": "P"}'
With handshake, a new result is produced only after the previous one was acknowledged (the rig holds
its result block until then). Each result's quantity is 60 + small noise; every failEvery-th result is
out of limits (63.5). SIGUSR1 pauses it (no new results), SIGUSR2 resumes.
Prints {"event":"listening","port":N} once it accepts connections, then {"event":"result","n":N,"serial":...}
for each result it completes.
"""
import asyncio
import json
import logging
import signal
import struct
import sys

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.server.async_io import ModbusTcpServer

logging.basicConfig(level=logging.CRITICAL)
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


def f32(x):
    hi, lo = struct.unpack(">HH", struct.pack(">f", x))
    return [hi, lo]


def text(s, registers):
    b = s.encode("ascii").ljust(registers * 2, b" ")
    return [b[i] << 8 | b[i + 1] for i in range(0, registers * 2, 2)]


async def main():
    cfg = json.loads(sys.argv[1])
    slave = ModbusSlaveContext(zero_mode=True, hr=ModbusSequentialDataBlock(0, [0] * 64))
    context = ModbusServerContext(slaves={1: slave}, single=False)
    server = ModbusTcpServer(context, address=("127.0.0.1", int(cfg.get("port", 0))), allow_reuse_address=True)
    task = asyncio.create_task(server.serve_forever())
    await server.serving
    port = server.server.sockets[0].getsockname()[1]
    print(json.dumps({"event": "listening", "port": port}), flush=True)

    state = {"paused": False}

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, lambda: state.update(paused=True))
    loop.add_signal_handler(signal.SIGUSR2, lambda: state.update(paused=False))
    n = int(cfg.get("start", 0))
    slave.setValues(3, 0, [n])
    handshake = bool(cfg.get("handshake", False))
    fail_every = int(cfg.get("failEvery", 0))
    prefix = str(cfg.get("prefix", "P"))[:1]
    while True:
        await asyncio.sleep(float(cfg.get("periodS", 0.3)))
        if state["paused"]:
            continue
        if handshake and n > 0 and slave.getValues(3, 20, 1)[0] != n:
            continue  # hold the block until the edge has acknowledged it
        n += 1
        qty = 63.5 if fail_every and n % fail_every == 0 else 60 + (n % 7) * 0.1
        serial = f"{prefix}{n:09d}"
        # The block first, then the counter: a reader that sees the new counter sees the new block.
        slave.setValues(3, 1, text(serial, 5) + f32(qty) + f32(12.5 + n % 3) + [100 + n % 5])
        slave.setValues(3, 0, [n & 0xFFFF])
        print(json.dumps({"event": "result", "n": n, "serial": serial, "qty": qty}), flush=True)


asyncio.run(main())
