"""bourg.boot names the reset cause by the port's machine constants, not by numbers."""
import os
import re
import sys
import types
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "mp"))
import hostsetup
import pytest

pytestmark = pytest.mark.skipif(not hostsetup.umqtt_available(), reason="no umqtt")

REPO = Path(__file__).resolve().parents[1]


def _machine(cause, **consts):
    m = types.SimpleNamespace(**consts)
    m.reset_cause = lambda: cause
    return m


ESP32 = {"PWRON_RESET": 1, "HARD_RESET": 2, "WDT_RESET": 3, "DEEPSLEEP_RESET": 4,
         "SOFT_RESET": 5}


def test_cause_name_uses_the_machine_constants():
    from bourg import boot

    assert boot.cause_name(_machine(2, **ESP32)) == "HARD_RESET"
    assert boot.cause_name(_machine(5, **ESP32)) == "SOFT_RESET"
    # modmachine.c returns 0 for ESP_RST_SDIO/UNKNOWN: no name, the number
    assert boot.cause_name(_machine(0, **ESP32)) == 0
    # another port's numbering is named by its own constants
    other = {k: v + 10 for k, v in ESP32.items()}
    assert boot.cause_name(_machine(13, **other)) == "WDT_RESET"


def test_the_virtual_board_uses_the_esp32_values():
    """fw/machine.py and board.py carry ports/esp32/modmachine.c's reset_reason_t (1..5)."""
    src = (REPO / "host_tools/emulator/fw/machine.py").read_text()
    got = {k: int(v) for k, v in re.findall(r"^([A-Z_]+_RESET) = (\d+)$", src, re.M)}
    assert got == ESP32
    from host_tools.emulator import board

    assert board.CAUSE_NAMES == {v: k for k, v in ESP32.items()}
