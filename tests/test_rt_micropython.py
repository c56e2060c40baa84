"""Run tests/mp/mp_*.py on the real MicroPython VM (source and compiled .mpy), 128k heap."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "mp"))
import hostsetup
import pytest
import run_mp_tests as rmt

MP = rmt.micropython_bin()
pytestmark = [pytest.mark.skipif(MP is None, reason="micropython not installed"),
              pytest.mark.skipif(not hostsetup.umqtt_available(), reason="no umqtt")]
CASES = []
for _s in rmt.scripts():
    if not rmt.needs_mpy(_s):
        CASES.append((_s, "src"))
    CASES.append((_s, "mpy"))


@pytest.fixture(scope="module")
def mpy_lib(tmp_path_factory):
    return rmt.compile_lib(str(tmp_path_factory.mktemp("mpylib")))


@pytest.mark.parametrize(("script", "mode"), CASES,
                         ids=[os.path.basename(s)[:-3] + "-" + m for s, m in CASES])
def test_on_micropython(script, mode, mpy_lib):
    ok, out = rmt.run_script(script, MP, lib=mpy_lib if mode == "mpy" else None)
    assert ok, out
