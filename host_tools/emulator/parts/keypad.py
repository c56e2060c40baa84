"""A matrix keypad (the locker's 4x3 code pad), and the virtual typist who uses it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from host_tools.emulator.parts.base import Device

if TYPE_CHECKING:
    from host_tools.emulator.board import Board


class KeypadError(RuntimeError):
    """The virtual typist gave up: the firmware never read a key it held."""


class Keypad(Device):
    """A matrix keypad: a pressed key connects its row to its column. Columns have the
    board's pull-ups; a column reads low while a pressed key's row is driven low."""

    def __init__(self, rows: list[int], cols: list[int],
                 layout: tuple[str, ...] = ("123", "456", "789", "*0#")) -> None:
        super().__init__()
        self.rows, self.cols, self.layout = rows, cols, layout
        self.row_level: dict[int, int] = {r: 1 for r in rows}
        self.down: set[str] = set()
        self.seen: dict[str, int] = {}  # full scans that have read a key while held
        self.looked: dict[int, int] = {}  # times this row alone was driven low, per row
        self._alone: int | None = None  # the row a scan step has driven low, if any
        self._scanned: set[int] = set()  # rows stepped through in the scan under way

    def attached(self, board: Board) -> None:
        super().attached(board)
        self._update()

    def _where(self, key: str) -> tuple[int, int]:
        for i, line in enumerate(self.layout):
            if key in line:
                return self.rows[i], self.cols[line.index(key)]
        raise ValueError(f"no key {key!r} on this keypad")

    def _update(self, in_loop: bool = False) -> None:
        assert self.board is not None
        for c in self.cols:
            low = any(self.row_level.get(r, 1) == 0 for k in self.down
                      for r, cc in [self._where(k)] if cc == c)
            if in_loop:  # called by the world's loop (a row changed): drive directly
                self.board._drive(c, 0 if low else None)
            else:
                self.board.drive(c, 0 if low else None)

    def on_pin(self, gpio: int, level: int) -> None:
        if gpio in self.row_level:
            self.row_level[gpio] = level
            if self.down:
                self._update(in_loop=True)
            # a scan step: this row alone driven low, its columns read, the row back high
            if level == 0:
                alone = all(v == 1 for r, v in self.row_level.items() if r != gpio)
                self._alone = gpio if alone else None
                if alone:  # the firmware looks at this row's keys (a scan, or one key's check)
                    self.looked[gpio] = self.looked.get(gpio, 0) + 1
            elif gpio == self._alone:
                self._alone = None
                self._scanned.add(gpio)
                if gpio == self.rows[-1]:  # the last row: a full scan is over
                    for k in self.down:
                        if self._where(k)[0] in self._scanned:
                            self.seen[k] = self.seen.get(k, 0) + 1
                    self._scanned.clear()

    def on_reset(self) -> None:
        for r in self.rows:
            self.row_level[r] = 1  # outputs float while the MCU is reset

    def press(self, key: str) -> None:
        self.seen[key] = 0
        self.down.add(key)
        self._update()

    def release(self, key: str) -> None:
        self.down.discard(key)
        self._update()

    def type(self, keys: str, hold_s: float = 0.08, gap_s: float = 0.08, scans: int = 2,
             wait_s: float = 15.0, rollover_s: float = 0.0) -> None:
        """Type like a person: each key held hold_s, then released for gap_s.

        Like a person who feels a key take, each key is held longer, up to wait_s, until the
        firmware has read it in `scans` full scans; after a release, the next key waits until
        the firmware has looked at the released key's row 3 times (its "key up" check).
        Without this an emulated board on a loaded host, later to scan than a real one, loses
        keys: released before any scan, or pressed again before the release was seen.
        A key the firmware has not read within wait_s raises KeypadError: going on would
        lose the key silently and fail later with a wrong code.
        scans=0 never waits. rollover_s > 0 types like a fast typist: the next key goes down
        rollover_s before the last one comes up (not for a key typed twice in a row).

        A person types in real time: in a world in virtual time the clock is held while the
        keys go down and up, so that no entry timeout is skipped between two keys."""
        if self.board is None:
            self._type(keys, hold_s, gap_s, scans, wait_s, rollover_s)
            return
        with self.board.world.hold_clock():
            self._type(keys, hold_s, gap_s, scans, wait_s, rollover_s)

    def _type(self, keys: str, hold_s: float, gap_s: float, scans: int, wait_s: float,
              rollover_s: float) -> None:
        import time as _t

        def wait(done: Callable[[], bool], at_least: float) -> bool:
            t0 = _t.monotonic()
            _t.sleep(at_least)
            while scans and not done():
                if _t.monotonic() - t0 >= wait_s:
                    return False
                _t.sleep(0.005)
            return True

        def down(k: str) -> None:  # held until read in `scans` full scans
            if not wait(lambda: self.seen.get(k, 0) >= scans, hold_s):
                raise KeypadError(f"typing {keys!r}: the firmware did not scan key {k!r} "
                                  f"{scans} times within {wait_s:g} s")

        def up(k: str, at_least: float) -> None:  # released, and seen released 3 times
            row = self._where(k)[0]
            base = self.looked.get(row, 0)
            self.release(k)
            # a board that lost power on this key (a test's cut) never looks again
            wait(lambda: self.looked.get(row, 0) - base >= 3
                 or (self.board is not None and not self.board.running), at_least)

        prev = None
        for k in keys:
            if prev is not None and prev == k:
                up(prev, gap_s)
                prev = None
            self.press(k)
            if prev is not None:
                _t.sleep(rollover_s)
                up(prev, 0)
                self.seen[k] = 0  # count only the scans that can read k alone
            down(k)
            if rollover_s > 0:
                prev = k
            else:
                up(k, gap_s)
        if prev is not None:
            up(prev, gap_s)
