"""A virtual board's serial console: the USB-serial bridge between the user's pty and the VM's.

Two ptys: the user's side (`pty_path`, what mpremote or a technician opens; it lives as long
as the board) and the VM's stdio (a fresh one for every process). Bytes go across as a UART's
would, with what a chip adds: the ROM banner and "soft reboot" lines, the raw REPL kept across
a soft reset, and Ctrl-C turned into KeyboardInterrupt while code runs. Everything the board
prints is also kept in `console` for tests to wait on (`wait_output`).
"""

from __future__ import annotations

import os
import pty
import re
import signal
import threading
import time
import tty

_PROMPTS = (b">>> ", b"\r\n>", b"\x04>", b"... ")
_RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
_SIGINT_AFTER_S = 1.0  # a Ctrl-C the VM has not raised by then is sent as SIGINT


class ConsoleBridge:
    """The serial console of a board; a mixin of `Board`. The readers of `console` run on
    any thread; the bridge itself on the world's loop."""

    def _init_console(self) -> None:
        self.console = bytearray()
        self._cond = threading.Condition()  # guards console and the heap report's answer
        self._child_fd: int | None = None  # our side of the VM's pty
        self._mode = "friendly"  # the REPL the VM is in: friendly | raw
        self._tail = b""
        self._idle = False  # the VM sits at a prompt
        self._swallow = False  # hiding a friendly banner after a soft reset into raw REPL
        self._pending_intr = False  # a Ctrl-C that came before the VM booted
        self._held: bytearray | None = None  # input after a Ctrl-C held to decide its fate
        self._intr_n = 0  # Ctrl-Cs sent to the VM as world events
        self._intr_open = 0  # the one the VM has not raised yet, 0 for none
        # the USB-serial side: user opens self.pty_path
        self._user_master, self._user_slave = pty.openpty()
        tty.setraw(self._user_slave)
        tty.setraw(self._user_master)
        os.set_blocking(self._user_master, False)
        self.pty_path = os.ttyname(self._user_slave)
        self.world.loop.call_soon_threadsafe(
            self.world.loop.add_reader, self._user_master, self._on_user_input)

    # -- the console buffer (any thread) ---------------------------------------------------
    def output_text(self) -> str:
        with self._cond:
            return self.console.decode("utf-8", "replace")

    def wait_output(self, pattern: str | bytes, timeout: float = 10.0, *,
                    start: int = 0) -> int:
        """Wait until the console shows `pattern` (a regex) after byte offset `start`; returns
        the offset just past the match."""
        pat = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                m = pat.search(self.console, start)
                if m:
                    return m.end()
                left = end - time.monotonic()
                if left <= 0:
                    tail = self.console[-1500:].decode("utf-8", "replace")
                    raise TimeoutError(f"{self.name}: no {pattern!r} on the console within "
                                       f"{timeout}s; last output:\n{tail}")
                self._cond.wait(left)

    def output_since(self, mark: int) -> str:
        return self.console_since(mark).decode("utf-8", "replace")

    def console_since(self, mark: int) -> bytes:
        with self._cond:
            return bytes(self.console[mark:])

    def console_mark(self) -> int:
        with self._cond:
            return len(self.console)

    def _console_write(self, data: bytes, *, forward: bool) -> None:
        with self._cond:
            self.console += data
            if len(self.console) > 4 * 1024 * 1024:
                del self.console[: 1024 * 1024]
            self._cond.notify_all()
        if forward:
            try:
                os.write(self._user_master, data)
            except (BlockingIOError, OSError):
                pass  # nobody is reading the serial port: the UART drops it

    # -- the VM's side ---------------------------------------------------------------------
    def _console_boot(self, *, swallow: bool) -> None:
        """A new process starts in the friendly REPL; `swallow` hides its banner because the
        chip goes straight back to the raw REPL it was in."""
        self._swallow = swallow
        self._idle = False
        self._tail = b""
        self._mode = "friendly"

    def _open_child_pty(self) -> int:
        """A pty for the next process; returns the side the process gets as its stdio (the
        caller closes it once the process has it)."""
        master, slave = pty.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._child_fd = master
        self.world.loop.add_reader(master, self._on_child_output)
        return slave

    def _close_child_pty(self) -> None:
        if self._child_fd is not None:
            try:
                self.world.loop.remove_reader(self._child_fd)
            except Exception:
                pass
            try:
                os.close(self._child_fd)
            except OSError:
                pass
            self._child_fd = None

    def _drain_child(self) -> None:
        """Forward what the VM wrote before it stopped (e.g. the raw-paste ack that precedes
        machine.reset()), as the UART's FIFO would still send it."""
        if self._child_fd is None:
            return
        while True:
            try:
                data = os.read(self._child_fd, 4096)
            except OSError:
                return
            if not data:
                return
            self._forward_child_output(data)

    def _on_child_output(self) -> None:
        assert self._child_fd is not None
        try:
            data = os.read(self._child_fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._on_child_exit()
            return
        self._forward_child_output(data)

    def _forward_child_output(self, data: bytes) -> None:
        if self._swallow:
            # After a soft reset into the raw REPL, hide the friendly banner the VM prints
            # and the Ctrl-A we send it, as the chip would go straight back to raw mode.
            self._tail = (self._tail + data)[-4096:]
            if self._tail.endswith(b">>> "):
                os.write(self._child_fd, b"\x01")
                self._tail = b""
                return
            i = self._tail.find(_RAW_BANNER)
            if i < 0:
                return
            data = self._tail[i:]
            self._swallow = False
            self._tail = b""
        self._trace("<-", data)
        self._tail = (self._tail + data)[-64:]
        if _RAW_BANNER in self._tail:
            self._mode = "raw"
        elif b'Type "help()"' in data or (self._mode == "raw" and self._tail.endswith(b">>> ")):
            self._mode = "friendly"
        self._idle = self._tail.endswith(_PROMPTS)
        self._console_write(data, forward=True)

    # -- the user's side -------------------------------------------------------------------
    def _on_user_input(self) -> None:
        try:
            data = os.read(self._user_master, 4096)
        except (BlockingIOError, OSError):
            return
        if not data or self.state != "running" or self._child_fd is None:
            return
        self._user_bytes(data)

    def _user_bytes(self, data: bytes) -> None:
        """Forward keystrokes; a Ctrl-C is held briefly to learn whether the VM sits at a
        prompt (then it gets the byte) or runs code (then it gets SIGINT)."""
        self.world.clock.traffic()
        self._nudge()
        buf = bytearray()
        for b in data:
            if self._held is not None:
                self._held.append(b)
                continue
            if b == 3 and not self._idle:
                if buf:
                    self._to_child(bytes(buf))
                    buf.clear()
                self._held = bytearray()
                self.world.loop.call_later(0.03, self._decide_interrupt)
                continue
            buf.append(b)
            if b == 4 or (b in (13, 10) and self._mode == "friendly"):
                self._idle = False
        if buf:
            self._to_child(bytes(buf))

    def _decide_interrupt(self) -> None:
        held, self._held = self._held or bytearray(), None
        if self._idle:
            self._to_child(b"\x03")
        else:
            self._interrupt()
        if held:
            self._user_bytes(bytes(held))

    def _trace(self, direction: str, data: bytes) -> None:
        if os.environ.get("BOURG_EMU_TRACE"):
            with open(self.dir / "serial-trace.log", "a") as f:
                f.write(f"{time.monotonic():.3f} {direction} {data!r}\n")

    def _to_child(self, data: bytes) -> None:
        self._trace("->", data)
        if self._child_fd is None:
            return
        try:
            os.write(self._child_fd, data)
        except OSError:
            pass

    def _interrupt(self) -> None:
        """Ctrl-C while the VM is not at a prompt. While code runs: KeyboardInterrupt, like the
        UART interrupt character on the chip; the VM gets it as a world event and raises it
        at its next poll, sleep or peripheral call (fw/_world.py). Code that reaches none of
        these within a second (a busy loop, a long compile) gets SIGINT instead, which this
        Unix VM survives only while it runs code and is not inside gc.collect(). While no
        code runs (the VM reads a raw paste), the byte itself, which ends the paste."""
        if not self._booted:
            self._pending_intr = True
            return
        if self.proc is None:
            return
        if not _catches_sigint(self.proc.pid):
            # no code runs (pyexec sets the handler only around execution): the VM reads its
            # input, a raw paste say, and takes the byte as the chip takes it from the UART
            self._to_child(b"\x03")
            return
        self._intr_n += 1
        self._intr_open = self._intr_n
        self._event("intr", n=self._intr_n)
        self.world.loop.call_later(_SIGINT_AFTER_S, self._interrupt_by_signal, self._intr_n,
                                   self.proc)

    def _op_intr_taken(self, msg: dict[str, object]) -> None:
        if msg.get("n") == self._intr_open:
            self._intr_open = 0

    def _interrupt_by_signal(self, n: int, proc: object) -> None:
        if self._intr_open != n or self.proc is not proc or self.proc is None:
            return
        self._intr_open = 0
        if self._idle or not _catches_sigint(self.proc.pid):
            # the code ended first: the VM is at (or on its way to) a prompt, where a SIGINT
            # would kill it and the chip would have nothing left to interrupt
            self._event("intr_cancel", n=n)
            return
        try:
            os.kill(self.proc.pid, signal.SIGINT)
        except ProcessLookupError:
            pass


def _catches_sigint(pid: int) -> bool:
    """Whether the VM has its SIGINT handler in place: the Unix port sets it only while it
    runs code (pyexec's mp_hal_set_interrupt_char), and SIGINT's default kills the process."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    except OSError:
        pass
    return False
