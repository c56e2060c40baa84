"""The keypad part counts what the firmware read, not what it wrote: the virtual typist
waits on these counts. Counted from the row writes, a key pressed between a row write and
the column read made the typist press a key again while the firmware still waited for its
release, or wait for scans the firmware had already made."""

from __future__ import annotations

from typing import Any, Callable

from host_tools.emulator.parts import Keypad

ROWS, COLS = [1, 2, 3, 4], [5, 6, 7]


class _World:
    def call_fn(self, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)


class _Board:
    """What the part needs of a board: the columns it drives."""

    def __init__(self) -> None:
        self.world = _World()
        self.cols: dict[int, int | None] = {}

    def _drive(self, gpio: int, level: int | None) -> None:
        self.cols[gpio] = level

    drive = _drive


def _pad() -> tuple[Keypad, _Board]:
    kp, board = Keypad(ROWS, COLS), _Board()
    kp.attached(board)  # type: ignore[arg-type]
    for r in ROWS:
        kp.on_pin(r, 0)  # idle: every row low
    return kp, board


def _level(board: _Board, col: int) -> int:
    return 0 if board.cols.get(col) == 0 else 1  # the pull-up


def _rows_to(kp: Keypad, level: int) -> None:
    for r in ROWS:
        kp.on_pin(r, level)


def _check(kp: Keypad, board: _Board, row: int, col: int, saw: int | None = None) -> None:
    """The firmware's check of one key: all rows high, its row low, its column read."""
    _rows_to(kp, 1)
    kp.on_pin(row, 0)
    kp.on_read(col, _level(board, col) if saw is None else saw)
    _rows_to(kp, 0)


def _scan(kp: Keypad, board: _Board) -> None:
    _rows_to(kp, 1)
    for r in ROWS:
        kp.on_pin(r, 0)
        for c in COLS:
            kp.on_read(c, _level(board, c))
        kp.on_pin(r, 1)
    _rows_to(kp, 0)


def test_a_key_is_up_only_when_the_firmware_read_it_up() -> None:
    kp, board = _pad()
    _scan(kp, board)  # nothing down: every key read up once
    kp.press("5")  # row 2, column 6
    _check(kp, board, 2, 6)
    assert kp.ups["5"] == 1
    base = kp._release("5")
    assert base == 1  # the count so far, not from zero
    _check(kp, board, 2, 6, saw=0)  # the release had not reached the firmware's read yet
    assert kp.ups.get("5", 0) == base
    _check(kp, board, 2, 6)
    _check(kp, board, 2, 6)
    assert kp.ups["5"] == base + 2


def test_reads_with_every_row_low_are_not_looks() -> None:
    kp, board = _pad()
    for c in COLS:
        kp.on_read(c, 1)  # any key down? (all rows low)
    assert kp.ups == {}


def test_a_full_scan_counts_for_a_key_only_when_it_found_that_key_alone() -> None:
    kp, board = _pad()
    kp.press("1")
    _scan(kp, board)
    assert kp.seen["1"] == 1
    kp.press("9")  # rollover: two keys down, the firmware's scan returns nothing
    _scan(kp, board)
    assert kp.seen["1"] == 1 and kp.seen["9"] == 0
    kp.release("1")
    _scan(kp, board)
    assert kp.seen["9"] == 1


def test_a_key_pressed_after_its_row_was_read_is_not_in_that_scan() -> None:
    kp, board = _pad()
    _rows_to(kp, 1)
    for r in ROWS:
        kp.on_pin(r, 0)
        for c in COLS:
            kp.on_read(c, _level(board, c))
        if r == 1:
            kp.press("2")  # row 1, read already
        kp.on_pin(r, 1)
    _rows_to(kp, 0)
    assert kp.seen["2"] == 0
    _scan(kp, board)
    assert kp.seen["2"] == 1


def test_one_key_checks_are_not_a_scan() -> None:
    kp, board = _pad()
    kp.press("#")  # on the last row: checking it alone must not end a scan
    for r in ROWS[:3]:
        _check(kp, board, r, 5)
    _check(kp, board, 4, 7)
    assert kp.seen["#"] == 0


def test_a_scan_that_stops_at_a_second_key_counts_for_neither() -> None:
    """The firmware's scan returns nothing at the second key found; the rows after it are
    never read."""
    kp, board = _pad()
    kp.press("1")
    kp.press("3")  # the same row, the last column
    _rows_to(kp, 1)
    kp.on_pin(1, 0)
    for c in COLS:
        kp.on_read(c, _level(board, c))
    _rows_to(kp, 0)  # the scan gives up here
    _scan(kp, board)  # a whole scan with both down: nothing either
    assert kp.seen["1"] == 0 and kp.seen["3"] == 0


def test_a_reset_mid_scan_does_not_finish_that_scan() -> None:
    kp, board = _pad()
    kp.press("#")
    _rows_to(kp, 1)
    for r in ROWS:
        kp.on_pin(r, 0)
        for c in COLS:
            kp.on_read(c, _level(board, c))
        if r != ROWS[-1]:
            kp.on_pin(r, 1)
    kp.on_reset()  # before the last row goes back high
    kp.on_pin(ROWS[0], 0)  # the new boot drives its rows
    assert kp.seen["#"] == 0 and kp.resets == 1


def test_only_reads_of_the_rows_in_order_make_a_scan() -> None:
    kp, board = _pad()
    kp.press("#")
    _rows_to(kp, 1)
    for r in (ROWS[0], ROWS[2], ROWS[1], ROWS[3]):
        kp.on_pin(r, 0)
        for c in COLS:
            kp.on_read(c, _level(board, c))
        kp.on_pin(r, 1)
    _rows_to(kp, 0)
    assert kp.seen["#"] == 0
