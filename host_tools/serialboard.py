"""A board reached over a serial port (USB or a virtual board's pty) through mpremote's own
transport, so tools and tests speak to every board the way mpremote does."""

from __future__ import annotations

from mpremote.transport import TransportError, TransportExecError
from mpremote.transport_serial import SerialTransport

__all__ = ["SerialBoard", "TransportError", "TransportExecError"]


class SerialBoard:
    def __init__(self, port: str, baudrate: int = 115200, io_timeout: float = 5.0) -> None:
        self.port = port
        # A read timeout turns a board that went silent (power lost, cable pulled) into a
        # TransportError instead of a hang.
        self.t = SerialTransport(port, baudrate=baudrate, timeout=io_timeout)
        self._raw = False

    def _enter(self) -> None:
        if not self._raw:
            self.t.enter_raw_repl(soft_reset=False)
            self._raw = True

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
        self.t.close()

    def close(self) -> None:
        try:
            if self._raw:
                self.t.exit_raw_repl()
        except (OSError, TransportError):
            pass
        finally:
            self.t.close()
