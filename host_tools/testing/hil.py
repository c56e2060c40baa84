"""A real board made ready for the HIL suite, and put back afterwards: its running app's
watchdog held off while the tests have the board (app_running), then the app restarted
(restart_app). The work of `bourg hil`, whose arguments, messages and exit codes are
host_tools.commands.hil's:

    bourg hil --port /dev/ttyUSB0     # a real board (tests needing fault injection are skipped)
    bourg hil --emulator              # every test, on virtual boards
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def app_running(port: str) -> bool:
    """Whether the board's app was running before the tests stopped it; if so its watchdog
    gets deploy's long timeout, so that it does not reset the board under the tests."""
    from host_tools.field.deploy import hold_watchdog
    from host_tools.field.serialboard import SerialBoard

    sb = SerialBoard(port, restore_app=True)
    try:
        sb.exec("pass")
        if sb.app_was_running:
            hold_watchdog(sb)
        return bool(sb.app_was_running)
    finally:
        sb.restore_app = False
        sb.close()


def restart_app(port: str) -> None:
    """Put the app back as it was before the tests, without waiting for its watchdog."""
    from host_tools.field.serialboard import SerialBoard

    sb = SerialBoard(port)
    try:
        sb.soft_reboot_into_app()
    finally:
        sb.close()
