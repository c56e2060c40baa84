"""TM1637 4-digit display (the parking totem's free-bay counters), decoded from its pins."""

from __future__ import annotations

from host_tools.emulator.parts.base import Device


class TM1637(Device):
    """A TM1637 4-digit display on two GPIOs, decoded from the pin changes: start/stop
    conditions, bytes LSB first sampled on CLK's rising edge, 0x40/0xC0+addr/0x88 commands.
    `text` is what a passer-by reads ("  12", "----")."""

    SEGS = {0x3F: "0", 0x06: "1", 0x5B: "2", 0x4F: "3", 0x66: "4", 0x6D: "5", 0x7D: "6",
            0x07: "7", 0x7F: "8", 0x6F: "9", 0x40: "-", 0x00: " "}

    def __init__(self, clk: int, dio: int) -> None:
        super().__init__()
        self.clk_pin, self.dio_pin = clk, dio
        self.clk, self.dio = 1, 1
        self.ram = bytearray(6)
        self.on = False
        self.updates = 0
        self._bits: list[int] = []
        self._bytes: list[int] = []
        self._active = False

    def on_pin(self, gpio: int, level: int) -> None:
        if gpio == self.dio_pin:
            if self.clk and self.dio and not level:
                self._active, self._bits, self._bytes = True, [], []  # start
            elif self.clk and not self.dio and level and self._active:
                self._active = False  # stop
                self._command(self._bytes)
            self.dio = level
        elif gpio == self.clk_pin:
            if level and not self.clk and self._active:
                self._bits.append(self.dio)
                if len(self._bits) == 9:  # 8 data bits + the ACK clock
                    self._bytes.append(sum(b << i for i, b in enumerate(self._bits[:8])))
                    self._bits = []
            self.clk = level

    def _command(self, data: list[int]) -> None:
        if not data:
            return
        cmd = data[0]
        if cmd & 0xC0 == 0xC0:
            addr = cmd & 0x07
            for i, b in enumerate(data[1:]):
                if addr + i < len(self.ram):
                    self.ram[addr + i] = b
            self.updates += 1
        elif cmd & 0xF0 == 0x80:
            self.on = bool(cmd & 0x08)

    @property
    def text(self) -> str:
        return "".join(self.SEGS.get(b & 0x7F, "?") for b in self.ram[:4])
