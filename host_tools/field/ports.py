"""Serial port selection as esptool and mpremote do it: the given port if it exists, else the
only USB-serial adapter plugged in."""

from __future__ import annotations

import os
import stat

from serial.tools import list_ports


def usb_ports() -> list[str]:
    return sorted(p.device for p in list_ports.comports() if p.vid is not None)


PTY_HINT = "a virtual board's pty from `bourg emulate` works too"


def resolve_port(port: str | None, virtual: str = PTY_HINT) -> str:
    """The port to use; LookupError with what to do next when there is none or several.
    `virtual` says which virtual board stands in for a USB one for this command."""
    if port:
        if not os.path.exists(port):
            found = usb_ports()
            hint = (f" Boards found: {', '.join(found)}." if found
                    else " No USB board is plugged in.")
            raise LookupError(f"no such serial port {port}.{hint}")
        if not stat.S_ISCHR(os.stat(port).st_mode):  # a file or a folder, typed by mistake
            raise LookupError(f"{port} is not a serial port (a character device such as "
                              "/dev/ttyUSB0, or a virtual board's /dev/pts/N)")
        return port
    found = usb_ports()
    if not found:
        raise LookupError(f"no board found on USB. Plug one in, or give --port ({virtual}).")
    if len(found) > 1:
        raise LookupError(f"several boards are plugged in ({', '.join(found)}): choose one with "
                          "--port.")
    return found[0]
