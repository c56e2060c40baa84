"""A simulated ESP32 serial bootloader (ROM and flasher stub) behind a TCP socket.

No real ESP32 ROM can run here, so `bourg flash` is tested through esptool's own Python API
with only the serial boundary simulated: esptool connects to `socket://127.0.0.1:PORT` and
speaks its SLIP protocol to this model, which answers as the chip's ROM does (sync, register
reads for chip detection, eFuse MAC, SPI flash ID), accepts the flasher stub esptool uploads,
and then implements the stub's commands (compressed writes, erase, MD5). What it cannot
show: timing and real reset lines. A socket carries no RTS/DTR, so esptool's closing "hard
reset" reaches the model only as the end of a connection that wrote the flash: `reset` is
set then, which is how `bourg emulate --bootloader` knows to boot what was written.
"""

from __future__ import annotations

import hashlib
import socket
import struct
import threading
import zlib

ESP32_MAGIC = 0x00F01D83
CHIP_DETECT_MAGIC_REG = 0x40001000
UART_CLKDIV_REG = 0x3FF40014
EFUSE_BASE = 0x3FF5A000
SPI_BASE = 0x3FF42000
SPI_CMD_USR = 1 << 18
FLASH_ID = 0x1640EF  # Winbond W25Q32 (4 MB): manufacturer 0xEF, type 0x40, capacity 0x16


class SimulatedEsp32Rom:
    def __init__(self, flash_size: int = 4 * 1024 * 1024,
                 mac: bytes = b"\x24\x0a\xc4\x00\x00\x01", max_baud: int = 2000000) -> None:
        self.max_baud = max_baud  # a long or poor cable: faster rates fail
        self.flash = bytearray(b"\xff" * flash_size)
        self.reset = threading.Event()  # a session that changed the flash has ended
        self._wrote = False
        self.mac = mac
        self.regs: dict[int, int] = {}
        self.stub = False
        self.commands: list[str] = []
        self.drop_after: int | None = None  # fault injection: go silent after N frames
        self._frames = 0
        self._write: tuple[int, int] | None = None  # (offset, block_size)
        self._inflate: zlib._Decompress | None = None
        self._inflate_pos = 0
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(2)
        self.port = self._sock.getsockname()[1]
        self.url = f"socket://127.0.0.1:{self.port}"
        self._stop = False
        self._deaf = False
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> SimulatedEsp32Rom:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop = True
        self._sock.close()

    def __enter__(self) -> SimulatedEsp32Rom:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport --------------------------------------------------------------------------
    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.stub = False  # a new connection is a reset into the ROM
            self._deaf = False
            self._wrote = False
            with conn:
                self._session(conn)
            if self._wrote:
                self.reset.set()

    def _session(self, conn: socket.socket) -> None:
        buf = bytearray()
        frame: bytearray | None = None
        esc = False
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            buf += data
            for b in bytes(buf):
                if frame is None:
                    if b == 0xC0:
                        frame = bytearray()
                    continue
                if esc:
                    frame.append(0xC0 if b == 0xDC else 0xDB)
                    esc = False
                elif b == 0xDB:
                    esc = True
                elif b == 0xC0:
                    if frame:
                        self._frames += 1
                        if self.drop_after is not None and self._frames > self.drop_after:
                            return  # the board went silent (cable pulled)
                        for out in self._handle(bytes(frame)):
                            conn.sendall(_slip(out))
                        frame = None
                    # an empty frame means the 0xC0 was a start marker: keep frame open
                else:
                    frame.append(b)
            buf.clear()

    # -- protocol ---------------------------------------------------------------------------
    def _resp(self, op: int, val: int = 0, data: bytes = b"", ok: bool = True,
              err: int = 0) -> bytes:
        status = bytes([0 if ok else 1, err]) + (b"" if self.stub else b"\0\0")
        body = data + status
        return struct.pack("<BBHI", 1, op, len(body), val) + body

    def _handle(self, pkt: bytes) -> list[bytes]:
        if len(pkt) < 8 or pkt[0] != 0 or self._deaf:
            return []
        _, op, size, _chk = struct.unpack("<BBHI", pkt[:8])
        data = pkt[8:8 + size]
        self.commands.append(f"{op:#04x}")
        if op in (0x02, 0x10) or (self.stub and op in (0xD0, 0xD1)):  # begin write / erase
            self._wrote = True
        if op == 0x08:  # SYNC: the ROM answers eight times with a non-zero value
            n = 1 if self.stub else 8
            return [self._resp(op, 0 if self.stub else 0x20120707)] * n
        if op == 0x0A:  # READ_REG
            (addr,) = struct.unpack("<I", data[:4])
            return [self._resp(op, self._read_reg(addr))]
        if op == 0x09:  # WRITE_REG
            addr, value, mask, _delay = struct.unpack("<IIII", data[:16])
            self._write_reg(addr, value, mask)
            return [self._resp(op)]
        if op in (0x05, 0x07):  # MEM_BEGIN, MEM_DATA: the stub goes to RAM
            return [self._resp(op)]
        if op == 0x06:  # MEM_END: jump to the entry point
            stay, _entry = struct.unpack("<II", data[:8])
            out = [self._resp(op)]
            if not stay:
                self.stub = True
                out.append(b"OHAI")
            return out
        if op == 0x0F:  # CHANGE_BAUDRATE
            (new,) = struct.unpack("<I", data[:4])
            if new > self.max_baud:
                # The chip switches, but the line cannot carry that rate: from now on it
                # hears only noise, until the next reset (a new connection).
                self._deaf = True
            return [self._resp(op)]
        if op in (0x0B, 0x0D, 0xD3):  # SPI_SET_PARAMS, SPI_ATTACH, RUN_USER_CODE
            return [self._resp(op)]
        if op == 0x02:  # FLASH_BEGIN
            erase, _blocks, block, offset = struct.unpack("<IIII", data[:16])
            self.flash[offset:offset + erase] = b"\xff" * erase
            self._write = (offset, block)
            return [self._resp(op)]
        if op == 0x03:  # FLASH_DATA
            length, seq = struct.unpack("<II", data[:8])
            if self._write is None:
                return [self._resp(op, ok=False, err=0x07)]
            off = self._write[0] + seq * self._write[1]
            self.flash[off:off + length] = data[16:16 + length]
            return [self._resp(op)]
        if op == 0x10:  # FLASH_DEFL_BEGIN
            size, _blocks, _block, offset = struct.unpack("<IIII", data[:16])
            self.flash[offset:offset + size] = b"\xff" * size
            self._inflate = zlib.decompressobj()
            self._inflate_pos = offset
            return [self._resp(op)]
        if op == 0x11:  # FLASH_DEFL_DATA
            length = struct.unpack("<I", data[:4])[0]
            if self._inflate is None:
                return [self._resp(op, ok=False, err=0x07)]
            out = self._inflate.decompress(data[16:16 + length])
            self.flash[self._inflate_pos:self._inflate_pos + len(out)] = out
            self._inflate_pos += len(out)
            return [self._resp(op)]
        if op in (0x04, 0x12):  # FLASH_END, FLASH_DEFL_END
            return [self._resp(op)]
        if op == 0x13:  # SPI_FLASH_MD5
            addr, size = struct.unpack("<II", data[:8])
            digest = hashlib.md5(self.flash[addr:addr + size]).digest()
            return [self._resp(op, data=digest if self.stub else digest.hex().encode())]
        if op == 0xD0 and self.stub:  # ERASE_FLASH
            self.flash[:] = b"\xff" * len(self.flash)
            return [self._resp(op)]
        if op == 0xD1 and self.stub:  # ERASE_REGION
            offset, size = struct.unpack("<II", data[:8])
            self.flash[offset:offset + size] = b"\xff" * size
            return [self._resp(op)]
        # GET_SECURITY_INFO and the rest: the ESP32 ROM does not know them.
        return [self._resp(op, ok=False, err=0x05)]

    def _read_reg(self, addr: int) -> int:
        if addr == CHIP_DETECT_MAGIC_REG:
            return ESP32_MAGIC
        if addr == UART_CLKDIV_REG:
            return 347  # 40 MHz crystal at 115200 baud
        if addr == EFUSE_BASE + 4 * 1:
            return int.from_bytes(self.mac[2:6], "big")
        if addr == EFUSE_BASE + 4 * 2:
            return (self.mac[0] << 8) | self.mac[1]
        if addr == SPI_BASE:
            return 0  # SPI_CMD_REG: the user command has completed
        return self.regs.get(addr, 0)

    def _write_reg(self, addr: int, value: int, mask: int) -> None:
        old = self.regs.get(addr, 0)
        self.regs[addr] = (old & ~mask) | (value & mask)
        if addr == SPI_BASE and value & SPI_CMD_USR:
            cmd = self.regs.get(SPI_BASE + 0x24, 0) & 0xFF  # SPI_USR2: command byte
            self.regs[SPI_BASE + 0x80] = FLASH_ID if cmd == 0x9F else 0


def _slip(data: bytes) -> bytes:
    return b"\xc0" + data.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0"
