"""A matrix keypad (the locker's 4x3 code pad), and the virtual typist who uses it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, TypeVar

from host_tools.emulator.parts.base import Device

if TYPE_CHECKING:
    from host_tools.emulator.board import Board


T = TypeVar("T")


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
        # What the firmware saw, from its reads of the columns (reads_watched):
        self.seen: dict[str, int] = {}  # full scans that read this key alone
        self.ups: dict[str, int] = {}  # reads of this key's column, its row alone low, that
        # saw it up: the firmware's checks of this key, and its scans' reads of that row
        self.resets = 0  # MCU resets: a typist stops waiting on a board that forgot its key
        self._alone: int | None = None  # the one row driven low, if only one is
        self._look_cols: set[int] = set()  # columns read while that row is low alone
        self._look_low: set[str] = set()  # the keys those reads found down
        self._pass: int | None = None  # rows read in order by the scan under way
        self._pass_keys: set[str] = set()  # the keys that scan found down

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

    def reads_watched(self) -> list[int]:
        return list(self.cols)

    def on_pin(self, gpio: int, level: int) -> None:
        if gpio not in self.row_level:
            return
        self.row_level[gpio] = level
        if self.down:
            self._update(in_loop=True)
        if self._alone is not None:
            self._end_look()
        if level == 0 and all(v == 1 for r, v in self.row_level.items() if r != gpio):
            self._alone = gpio

    def on_read(self, gpio: int, level: int) -> None:
        """The firmware read a column. With one row alone low it looks at that row's keys
        (a scan step, or its check of one key): a key up counts in `ups`, as the firmware's
        "key up" check does; keys found down make up the scan's result."""
        if self._alone is None or gpio not in self.cols:
            return
        key = self.layout[self.rows.index(self._alone)][self.cols.index(gpio)]
        self._look_cols.add(gpio)
        if level == 0:
            self._look_low.add(key)
        else:
            self.ups[key] = self.ups.get(key, 0) + 1

    def _end_look(self) -> None:
        """A row's look ends as the rows change. One that read every column is a scan step;
        a scan reads the rows in order, and a full one that found one key alone returns it
        (the firmware's scan stops at a second key, or returns nothing)."""
        row, low, full = self._alone, self._look_low, len(self._look_cols) == len(self.cols)
        self._alone, self._look_cols, self._look_low = None, set(), set()
        if not full:
            self._pass = None  # one key's check, or a scan that stopped
            return
        if row == self.rows[0]:
            self._pass, self._pass_keys = 0, set()
        elif self._pass is None or row != self.rows[self._pass]:
            self._pass = None
            return
        self._pass += 1
        self._pass_keys |= low
        if self._pass == len(self.rows):
            # any two full scans count, though the firmware needs two in a row to agree:
            # the typist changes no key before the second
            if len(self._pass_keys) == 1:
                k = next(iter(self._pass_keys))
                self.seen[k] = self.seen.get(k, 0) + 1
            self._pass = None

    def on_reset(self) -> None:
        """The MCU is reset: its rows float, a look or scan under way is never finished,
        and the firmware forgets the key it was reading."""
        for r in self.rows:
            self.row_level[r] = 1
        self._alone, self._pass = None, None
        self._look_cols, self._look_low, self._pass_keys = set(), set(), set()
        self.resets += 1

    def press(self, key: str) -> None:
        self._in_loop(self._press, key)

    def release(self, key: str) -> None:
        self._in_loop(self._release, key)

    def _in_loop(self, fn: Callable[[str], T], key: str) -> T:
        """Run fn in the world's loop, where the firmware's row writes and reads arrive, so
        that a count read here and a key's move are in the same order as the firmware's."""
        if self.board is None:
            return fn(key)
        return self.board.world.call_fn(fn, key)

    def _press(self, key: str) -> None:
        self.seen[key] = 0
        self.down.add(key)
        self._update(in_loop=True)

    def _release(self, key: str) -> int:
        """Release key; returns its `ups` so far, read with the release in the world's loop:
        every later up is a read that saw the key released."""
        self.down.discard(key)
        self._update(in_loop=True)
        return self.ups.get(key, 0)

    def type(self, keys: str, hold_s: float = 0.08, gap_s: float = 0.08, scans: int = 2,
             wait_s: float = 15.0, rollover_s: float = 0.0) -> None:
        """Type like a person: each key held hold_s, then released for gap_s.

        Like a person who feels a key take, each key is held longer, up to wait_s, until the
        firmware has read it in `scans` full scans; after a release, the next key waits until
        the firmware has read the released key up 3 times (its "key up" check).
        Without this an emulated board on a loaded host, later to scan than a real one, loses
        keys: released before any scan, or pressed again before the release was seen.
        A key the firmware has not read, or not read up after its release, within wait_s
        raises KeypadError: going on would lose the key silently and fail later with a
        wrong code. The waits end early on a board that is off, asleep or was reset.
        scans=0 never waits. rollover_s > 0 types like a fast typist: the next key goes down
        rollover_s before the last one comes up (not for a key typed twice in a row).

        In a world in virtual time the typist holds the clock and moves it on in steps
        (World.step): no entry timeout is skipped between two keys, and the firmware's
        debounce and scan waits pass as fast as the board runs them. Waits are counted on
        the world's clock, which runs at the host's pace while a board works."""
        if self.board is None:
            import time as _t

            self._type(keys, hold_s, gap_s, scans, wait_s, rollover_s, _t.sleep, _t.monotonic)
            return
        world = self.board.world
        with world.hold_clock():
            self._type(keys, hold_s, gap_s, scans, wait_s, rollover_s, world.step,
                       world.clock.now)

    def _type(self, keys: str, hold_s: float, gap_s: float, scans: int, wait_s: float,
              rollover_s: float, sleep: Callable[[float], None],
              now: Callable[[], float]) -> None:
        def wait(done: Callable[[], bool], at_least: float) -> bool:
            t0 = now()
            sleep(at_least)
            while scans and not done():
                if now() - t0 >= wait_s:
                    return False
                sleep(0.005)
            return True

        def gone(resets: int) -> bool:
            """The board stopped reading keys: it is off or asleep (a test's power cut), or
            its MCU was reset since (a watchdog, a crash) and forgot the key."""
            return (self.board is not None and not self.board.running) or self.resets != resets

        def down(k: str) -> None:  # held until read in `scans` full scans
            r0 = self.resets
            if not wait(lambda: self.seen.get(k, 0) >= scans or gone(r0), hold_s):
                raise KeypadError(f"typing {keys!r}: the firmware did not scan key {k!r} "
                                  f"{scans} times within {wait_s:g} s")

        def up(k: str, at_least: float) -> None:  # released, and read up 3 times
            r0, base = self.resets, self._in_loop(self._release, k)
            if not wait(lambda: self.ups.get(k, 0) - base >= 3 or gone(r0), at_least):
                raise KeypadError(f"typing {keys!r}: the firmware did not read released key "
                                  f"{k!r} up 3 times within {wait_s:g} s")

        prev = None
        for k in keys:
            if prev is not None and prev == k:
                up(prev, gap_s)
                prev = None
            self.press(k)
            if prev is not None:
                sleep(rollover_s)
                up(prev, 0)
            down(k)
            if rollover_s > 0:
                prev = k
            else:
                up(k, gap_s)
        if prev is not None:
            up(prev, gap_s)
