"""Numbers as people read them: three significant figures for times, decimal megabytes, percentages with one decimal.

Every format (Markdown, HTML, compare) uses these, so a figure reads the same wherever it appears.
"""

from __future__ import annotations

DASH = "—"


def ms(value: float | None) -> str:
    if value is None:
        return DASH
    for limit, digits in ((1, 3), (10, 2), (100, 1)):
        if abs(value) < limit:
            return f"{value:.{digits}f} ms"
    return f"{value:,.0f} ms"


def size(n: int | None) -> str:
    """Decimal units (1 MB = 10^6 bytes), as file managers and the gzip figures people quote use."""
    if n is None:
        return DASH
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            v = n / scale
            return f"{v:.1f} {unit}" if v >= 10 else f"{v:.2f} {unit}"
    return f"{n} B"


def count(n: int | None) -> str:
    """Parameter counts: 22.7M, 410k."""
    if n is None:
        return DASH
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    return f"{n / 1e3:.0f}k" if n >= 1e3 else str(n)


def rate(value: float | None, unit: str) -> str:
    if value is None:
        return DASH
    return f"{value:,.0f} {unit}" if value >= 100 else f"{value:.1f} {unit}"


def percent(fraction: float | None) -> str:
    return DASH if fraction is None else f"{fraction * 100:.1f}%"


def points(delta: float | None, digits: int = 1) -> str:
    """A difference of percentages, in percentage points, always signed."""
    return DASH if delta is None else f"{delta:+.{digits}f} pts"


def ratio(value: float | None) -> str:
    return DASH if value is None else f"{value:.2f}×"


def signed_percent(value: float | None) -> str:
    return DASH if value is None else f"{value:+.1f}%"
