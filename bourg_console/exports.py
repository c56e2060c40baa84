"""CSV exports a spreadsheet opens safely: a cell that starts like a formula (`=`, `+`, `-`,
`@`, a tab or a carriage return) gets a leading quote, so text a board sent (an alarm's name,
a detail) is shown, never run (OWASP's CSV injection)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def cell(v: Any) -> Any:
    if isinstance(v, str) and v.startswith(_FORMULA):
        return "'" + v
    return v


def csv_text(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(list(header))
    for row in rows:
        w.writerow([cell(v) for v in row])
    return buf.getvalue()
