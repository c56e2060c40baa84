"""Matrix keypad (4x3 or 4x4) scanned by the firmware.

Why interrupts: in idle every row is driven low and every column has its pull-up; a pressed
key pulls its column low, which fires the column's IRQ. Only then the firmware scans, one row
low at a time, to find the key. No polling while nobody types.
"""
import time

import machine

LAYOUT_4X3 = ("123", "456", "789", "*0#")
LAYOUT_4X4 = ("123A", "456B", "789C", "*0#D")


class Keypad:
    def __init__(self, rows, cols, layout=None, flag=None, settle_ms=3):
        P = machine.Pin
        self.settle_ms = settle_ms  # the column lines' RC settle after a row changes
        self.rows = [P(r, P.OUT, value=0) for r in rows]
        self.cols = [P(c, P.IN, P.PULL_UP) for c in cols]
        self.layout = layout or (LAYOUT_4X3 if len(cols) == 3 else LAYOUT_4X4)
        self.flag = flag
        if flag is not None:
            for c in self.cols:
                c.irq(self._irq, P.IRQ_FALLING)

    def _irq(self, pin):
        self.flag.set()

    def any_down(self):
        for c in self.cols:
            if c.value() == 0:
                return True
        return False

    def held(self, key):
        """Is this one key down? Only its row is driven low, so another key held at the same
        time (a fast typist's rollover) does not count."""
        for i, line in enumerate(self.layout):
            j = line.find(key)
            if j >= 0:
                break
        else:
            return False
        for r in self.rows:
            r.value(1)
        self.rows[i].value(0)
        try:
            time.sleep_ms(self.settle_ms)
            return self.cols[j].value() == 0
        finally:
            for r in self.rows:
                r.value(0)
            time.sleep_ms(self.settle_ms)

    def scan(self):
        """The key held down now, or None (several at once: None)."""
        found = None
        for r in self.rows:
            r.value(1)
        time.sleep_ms(self.settle_ms)
        try:
            for i, r in enumerate(self.rows):
                r.value(0)
                time.sleep_ms(self.settle_ms)
                for j, c in enumerate(self.cols):
                    if c.value() == 0:
                        if found is not None:
                            return None
                        found = self.layout[i][j]
                r.value(1)
        finally:
            for r in self.rows:
                r.value(0)
            time.sleep_ms(self.settle_ms)  # back to idle before anyone reads the columns
        return found
