"""Jinja filters of the UI: numbers, shares and times as people read them, never colour alone.

>>> percent(0.98765), percent(None), number(1234567), number(0.5)
('98.8%', '—', '1,234,567', '0.5')
>>> number(0.004166), number(68.4712), number(0.0)
('0.00417', '68.47', '0')
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

DASH = "—"


def percent(value: Any, digits: int = 1) -> str:
    """A share (0..1) as a percentage; unknown is a dash."""
    if value is None:
        return DASH
    return f"{float(value) * 100:.{digits}f}%"


def number(value: Any, digits: int = 2) -> str:
    """A count with thousands separators, a fraction with at most ``digits`` decimals."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 1000):
        return f"{int(value):,}"
    if 0 < abs(float(value)) < 1:  # a small rate keeps three significant digits, not "0"
        return f"{float(value):.3g}"
    text = f"{float(value):,.{digits}f}".rstrip("0").rstrip(".")
    return text or "0"


def when(value: Any) -> str:
    """A timestamp to the minute, UTC."""
    if value is None:
        return DASH
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M") + (" UTC" if value.utcoffset() is not None else "")
    return str(value)


def attr(value: Any) -> str:
    """A number for a ``data-*`` attribute: exact (repr of a float), empty when unknown, so a test
    compares what was drawn with the API's JSON."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


FILTERS = {"percent": percent, "number": number, "when": when, "attr": attr}
