"""A Ctrl-C during a deploy always stops it before the switch-over, even when Python drops
the KeyboardInterrupt because the signal arrived while a finaliser ran."""

from __future__ import annotations

import hashlib
import signal
from typing import Any

import pytest

from host_tools.field import deploy


class FakeBoard:
    """Records what a deploy asks of the board; a Ctrl-C lands during the second put, inside
    a finaliser, where Python prints "Exception ignored" and carries on."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.execs: list[str] = []

    def put(self, path: str, data: bytes) -> None:
        self.files[path] = data
        if len(self.files) == 2:
            handler = signal.getsignal(signal.SIGINT)
            assert callable(handler)
            try:  # what the interpreter does with an exception raised in __del__
                handler(signal.SIGINT, None)
            except KeyboardInterrupt:
                pass

    def exec(self, code: str, timeout: float = 10) -> str:
        self.execs.append(code)
        return ""


def test_a_ctrl_c_lost_in_a_finaliser_still_stops_the_deploy_before_the_switch_over(
        monkeypatch: pytest.MonkeyPatch) -> None:
    board = FakeBoard()
    copy = {f"/lib/m{i}.py": b"x" * i for i in range(5)}
    plan = deploy.Plan(copy=copy)
    monkeypatch.setattr(deploy, "board_hashes", lambda b: {
        p + ".new": hashlib.sha256(d).hexdigest() for p, d in copy.items()})
    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    try:
        with pytest.raises(KeyboardInterrupt), deploy._catch_ctrl_c() as ctrl_c:
            deploy.apply_plan(board, plan, ctrl_c=ctrl_c)  # type: ignore[arg-type]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, before)
    assert len(board.files) == 2
    assert not any("os.rename" in code for code in board.execs)


def test_without_a_ctrl_c_the_deploy_switches_over(monkeypatch: pytest.MonkeyPatch) -> None:
    class QuietBoard(FakeBoard):
        def put(self, path: str, data: bytes) -> None:
            self.files[path] = data

    board = QuietBoard()
    copy: dict[str, Any] = {f"/lib/m{i}.py": b"x" * i for i in range(3)}
    monkeypatch.setattr(deploy, "board_hashes", lambda b: {
        p + ".new": hashlib.sha256(d).hexdigest() for p, d in copy.items()})
    with deploy._catch_ctrl_c() as ctrl_c:
        deploy.apply_plan(board, deploy.Plan(copy=copy), ctrl_c=ctrl_c)  # type: ignore[arg-type]
    assert any("os.rename" in code for code in board.execs)
