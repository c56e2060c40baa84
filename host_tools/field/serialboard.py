"""A board reached over a serial port (USB or a virtual board's pty) through mpremote's own
transport, so tools and tests speak to every board the way mpremote does."""

from __future__ import annotations

import os
import time

from mpremote import transport_serial
from mpremote.transport import TransportError, TransportExecError
from mpremote.transport_serial import SerialTransport

__all__ = ["SerialBoard", "TransportError", "TransportExecError"]

# mpremote's transport prints the bytes it got when a board does not answer, then raises; the
# caller says what went wrong in one line. Its module-level print is silenced rather than
# sys.stdout swapped, which is not thread-safe (the demo deploys boards in parallel threads).
transport_serial.print = lambda *args, **kwargs: None  # type: ignore[attr-defined]


def _open(port: str, baudrate: int, io_timeout: float) -> SerialTransport:
    """mpremote's transport, with a read timeout that turns a board gone silent (power lost,
    cable pulled) into a TransportError instead of a hang. The port's exclusive lock can
    outlive its last user for a moment (a process forked while it was open holds it until
    exec), so a port that exists but is locked is tried again for up to a second."""
    end = time.monotonic() + 1.0
    while True:
        try:
            return SerialTransport(port, baudrate=baudrate, timeout=io_timeout)
        except TransportError:
            if not os.path.exists(port) or time.monotonic() > end:
                raise
            time.sleep(0.05)


# Whether the bourg app ran since the last boot: its runtime module stays imported after the
# raw REPL's Ctrl-C stopped it.
_APP_PROBE = "import sys\nprint('bourg.runtime' in sys.modules)"


class SerialBoard:
    def __init__(self, port: str, baudrate: int = 115200, io_timeout: float = 5.0, *,
                 restore_app: bool = False) -> None:
        """restore_app: for sessions that only read. Entering the raw REPL stops the running
        app, and a stopped app no longer feeds its watchdog, so close() soft-reboots the board
        back into main.py if the app was running when we came, instead of leaving it at the
        prompt until the watchdog resets it."""
        self.port = port
        self.t = _open(port, baudrate, io_timeout)
        self._raw = False
        self.restore_app = restore_app
        self.app_was_running: bool | None = None

    def _enter(self) -> None:
        if not self._raw:
            self.t.enter_raw_repl(soft_reset=False)
            self._raw = True
            if self.restore_app and self.app_was_running is None:
                out, _ = self.t.exec_raw(_APP_PROBE)
                self.app_was_running = out.strip() == b"True"

    def interrupt(self) -> None:
        """Back to the raw REPL's prompt from wherever a cut-off command left the board: the
        raw REPL entry's Ctrl-C ends a running command or a half-sent raw paste."""
        self._raw = False
        self._enter()

    def exec(self, code: str, timeout: float = 10.0) -> str:
        """Run code on the board and return what it printed; a board-side exception raises
        TransportError carrying the traceback."""
        self._enter()
        out, err = self.t.exec_raw(code, timeout=timeout)
        if err:
            raise TransportExecError(out, err.decode("utf-8", "replace"))
        return out.decode("utf-8", "replace")

    def eval(self, expr: str) -> str:
        return self.exec(f"print(repr({expr}))").strip()

    def put(self, path: str, data: bytes) -> None:
        self._enter()
        self.t.fs_writefile(path, data)

    def get(self, path: str) -> bytes:
        self._enter()
        return self.t.fs_readfile(path)

    def listdir(self, path: str = "/") -> list[str]:
        self._enter()
        return [e.name for e in self.t.fs_listdir(path)]

    def reset(self) -> None:
        """machine.reset(): the board reboots into main.py; the port is closed after."""
        self._enter()
        try:
            self.t.exec_raw_no_follow("import machine\nmachine.reset()")
        except TransportError:
            pass  # the board may reboot before its acknowledgement gets through
        self._raw = False
        self.restore_app = False
        self.t.close()

    def soft_reboot_into_app(self) -> None:
        """Ctrl-D at the friendly prompt: boot.py then main.py run again, as at power-on but
        without resetting the chip (a soft reboot from the raw REPL would skip main.py)."""
        self._enter()
        self.t.exit_raw_repl()
        self._raw = False
        self.t.read_until(1, b">>> ", timeout=5)
        self.t.serial.write(b"\x04")
        if not self.t.read_until(1, b"soft reboot\r\n", timeout=5).endswith(b"reboot\r\n"):
            raise TransportError("the board did not soft-reboot")

    def close(self) -> None:
        """Leave the raw REPL and, with restore_app, put a stopped app back (best effort: a
        board that stopped answering is left as it is)."""
        try:
            if self.restore_app and self.app_was_running:
                self.soft_reboot_into_app()
            elif self._raw:
                self.t.exit_raw_repl()
        except (OSError, TransportError):
            pass
        finally:
            self._raw = False
            self.t.close()
