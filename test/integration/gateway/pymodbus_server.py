"""A Modbus TCP server we did not write (pymodbus 3.0, Debian python3-pymodbus) holding known values.

Run with Debian's interpreter: /usr/bin/python3 pymodbus_server.py '<json spec>'. The spec lists values to
encode with pymodbus's own BinaryPayloadBuilder, each with its byte order (inside a register) and word order:
  {"port": 5020, "holding": [{"address": 0, "type": "float32", "value": 12.5, "byteorder": "big", "wordorder": "little"}],
   "input": [...], "coils": [true, false], "discrete": [false, true], "size": 200}
Reads beyond `size` registers answer exception 2 (Illegal Data Address).
With "framer": "rtu" the TCP server speaks RTU frames (RTU over TCP). With "serial": {"port": "/tmp/x/b",
"baudrate": 19200, "parity": "N", "bytesize": 8, "stopbits": 1} it serves Modbus RTU on that serial device instead
(a pseudo-terminal from socat in the tests), and prints "serving" once the device is open.
"""
import json
import logging
import sys

from pymodbus.constants import Endian
from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.payload import BinaryPayloadBuilder
import asyncio

from pymodbus.framer.rtu_framer import ModbusRtuFramer
from pymodbus.framer.socket_framer import ModbusSocketFramer
from pymodbus.server import StartTcpServer
from pymodbus.server.async_io import ModbusSerialServer

ADDERS = {
    "int16": "add_16bit_int",
    "uint16": "add_16bit_uint",
    "int32": "add_32bit_int",
    "uint32": "add_32bit_uint",
    "float32": "add_32bit_float",
    "float64": "add_64bit_float",
}


def registers(entries, size):
    words = [0] * size
    for entry in entries:
        builder = BinaryPayloadBuilder(
            byteorder=Endian.Big if entry["byteorder"] == "big" else Endian.Little,
            wordorder=Endian.Big if entry["wordorder"] == "big" else Endian.Little,
        )
        getattr(builder, ADDERS[entry["type"]])(entry["value"])
        for i, word in enumerate(builder.to_registers()):
            words[entry["address"] + i] = word
    return words


def main():
    logging.basicConfig(level=logging.ERROR)
    spec = json.loads(sys.argv[1])
    size = spec.get("size", 200)
    bits = lambda values: [bool(v) for v in values] + [False] * (size - len(values))
    store = ModbusSlaveContext(
        co=ModbusSequentialDataBlock(0, bits(spec.get("coils", []))),
        di=ModbusSequentialDataBlock(0, bits(spec.get("discrete", []))),
        hr=ModbusSequentialDataBlock(0, registers(spec.get("holding", []), size)),
        ir=ModbusSequentialDataBlock(0, registers(spec.get("input", []), size)),
        zero_mode=True,
    )
    context = ModbusServerContext(slaves=store, single=True)
    serial = spec.get("serial")
    if serial:
        asyncio.run(serve_serial(context, serial))
        return
    # A restarted device must be able to listen again while the old connections linger in TIME_WAIT.
    StartTcpServer(
        context=context,
        address=("127.0.0.1", spec["port"]),
        allow_reuse_address=True,
        framer=ModbusRtuFramer if spec.get("framer") == "rtu" else ModbusSocketFramer,
    )


async def serve_serial(context, serial):
    server = ModbusSerialServer(
        context,
        ModbusRtuFramer,
        port=serial["port"],
        baudrate=serial.get("baudrate", 9600),
        parity=serial.get("parity", "N"),
        bytesize=serial.get("bytesize", 8),
        stopbits=serial.get("stopbits", 1),
    )
    await server.start()
    # pymodbus 3.0 logs a failure to open the device at debug level only and carries on without it.
    if server.transport is None:
        sys.exit(f"cannot open serial device {serial['port']} (a pseudo-terminal refuses parity other than N)")
    print("serving", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    main()
