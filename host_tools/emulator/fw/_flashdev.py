"""The board's SPI flash as a block device over an image file, with power-cut injection.

Every erase and program is one counted write, flushed to the image before the next, so a cut
can fall between any two block writes. The world chooses the write index to cut at.
"""
import _world

BLOCK = 4096
# An erase writes 0xff from this small buffer, made once: on the chip an erase takes nothing
# from the MicroPython heap, and a 4 KB bytes per erase failed updates on a fragmented heap.
_ERASED = b"\xff" * 256


class Flash:
    def __init__(self, f, nblocks, cut_at=None):
        self.f = f
        self.n = nblocks
        self.writes = 0
        self.cut_at = cut_at

    def _count(self):
        self.writes += 1
        _world.flash_writes = self.writes
        if self.cut_at is not None and self.writes >= self.cut_at:
            # Power fails before this write reaches the chip: nothing more is written.
            _world.call("power_cut", writes=self.writes)

    def arm(self, msg):
        """World event "arm_cut": cut before the n-th write from now (n None: disarm)."""
        n = msg.get("n")
        self.cut_at = None if n is None else self.writes + int(n)
        _world.send("cut_armed", at=self.cut_at, now=self.writes)

    def readblocks(self, block, buf, off=0):
        self.f.seek(block * BLOCK + off)
        self.f.readinto(buf)

    def writeblocks(self, block, buf, off=None):
        self._count()
        self.f.seek(block * BLOCK + (off or 0))
        self.f.write(buf)
        self.f.flush()

    def ioctl(self, op, arg):
        if op == 4:
            return self.n
        if op == 5:
            return BLOCK
        if op == 6:
            self._count()
            self.f.seek(arg * BLOCK)
            for _ in range(BLOCK // len(_ERASED)):
                self.f.write(_ERASED)
            self.f.flush()
            return 0
        return 0
