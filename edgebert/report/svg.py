"""A small SVG writer: elements, scales with readable ticks, and axes. Just enough for the report's three charts.

Why our own: the HTML report must be one file that opens from disk with no network, so no charting library from a
CDN; and a plotting package (matplotlib) would be a heavy dependency for three simple charts. Every text and
attribute value is escaped here, so a model name can never become markup.
"""

from __future__ import annotations

import html
import math
from typing import Callable, Iterable

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"


def _value(v: object) -> str:
    if isinstance(v, float):
        text = f"{v:.2f}".rstrip("0").rstrip(".")
        return "0" if text == "-0" else text
    return html.escape(str(v), quote=True)


class Svg:
    """An <svg> element built mark by mark; `render` gives the markup."""

    def __init__(self, width: float, height: float, label: str):
        self.width, self.height, self.label = width, height, label
        self.parts: list[str] = []

    def add(self, tag: str, text: str | None = None, tooltip: str | None = None, **attrs: object) -> None:
        """Append `<tag attrs>text</tag>`; `tooltip` becomes a <title> child (shown on hover). Attribute names use
        `_` for `-` (font_size → font-size) and a trailing `_` for Python keywords (class_)."""
        attr = "".join(f' {k.rstrip("_").replace("_", "-")}="{_value(v)}"' for k, v in attrs.items() if v is not None)
        inner = (f"<title>{html.escape(tooltip)}</title>" if tooltip else "") + (html.escape(text) if text else "")
        self.parts.append(f"<{tag}{attr}>{inner}</{tag}>" if inner else f"<{tag}{attr}/>")

    def line(self, x1: float, y1: float, x2: float, y2: float, **attrs: object) -> None:
        self.add("line", x1=x1, y1=y1, x2=x2, y2=y2, **attrs)

    def rect(self, x: float, y: float, w: float, h: float, **attrs: object) -> None:
        self.add("rect", x=x, y=y, width=max(w, 0.0), height=max(h, 0.0), **attrs)

    def circle(self, cx: float, cy: float, r: float, **attrs: object) -> None:
        self.add("circle", cx=cx, cy=cy, r=r, **attrs)

    def text(self, x: float, y: float, text: str, **attrs: object) -> None:
        attrs.setdefault("font_size", 12)
        attrs.setdefault("fill", "#222")
        self.add("text", text, x=x, y=y, **attrs)

    def polyline(self, points: Iterable[tuple[float, float]], **attrs: object) -> None:
        self.add("polyline", points=" ".join(f"{_value(float(x))},{_value(float(y))}" for x, y in points), **attrs)

    def render(self) -> str:
        head = (
            f'<svg class="chart" role="img" aria-label="{_value(self.label)}" width="{_value(self.width)}" '
            f'height="{_value(self.height)}" viewBox="0 0 {_value(self.width)} {_value(self.height)}" '
            f'font-family="{_value(FONT)}">'
        )
        return head + "".join(self.parts) + "</svg>"


def nice_step(span: float, count: int) -> float:
    """A 1-2-2.5-5 × 10^k step that cuts `span` into about `count` intervals."""
    raw = span / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)


class Scale:
    """Maps a data domain onto pixels, linearly or logarithmically, and proposes tick values."""

    def __init__(self, lo: float, hi: float, start: float, end: float, log: bool = False):
        if hi <= lo:  # one value: widen so it lands mid-axis instead of dividing by zero
            pad = abs(lo) * 0.1 or 1.0
            lo, hi = lo - pad, hi + pad
        if log:
            lo = max(lo, hi * 1e-6, 1e-12)
        self.lo, self.hi, self.start, self.end, self.log = lo, hi, start, end, log

    def __call__(self, v: float) -> float:
        f = (lambda x: math.log10(max(x, 1e-12))) if self.log else (lambda x: x)
        return self.start + (f(v) - f(self.lo)) / (f(self.hi) - f(self.lo)) * (self.end - self.start)

    def ticks(self, count: int = 5) -> list[float]:
        if self.log:
            out = [
                m * 10**k
                for k in range(math.floor(math.log10(self.lo)), math.ceil(math.log10(self.hi)) + 1)
                for m in (1, 2, 5)
            ]
            return [t for t in out if self.lo <= t <= self.hi]
        step = nice_step(self.hi - self.lo, count)
        first = math.ceil(self.lo / step - 1e-9) * step
        return [round(first + i * step, 10) for i in range(int((self.hi - first) / step + 1e-9) + 1)]


def tick_label(v: float) -> str:
    return f"{v:g}" if abs(v) >= 1 or v == 0 else f"{v:.3g}"


def x_axis(svg: Svg, scale: Scale, y: float, top: float, title: str, fmt: Callable[[float], str] = tick_label) -> None:
    """Grid lines from `top` down to the axis at `y`, tick labels under it, and the axis title."""
    for t in scale.ticks():
        x = scale(t)
        svg.line(x, top, x, y, stroke="#e3e3e3")
        svg.text(x, y + 16, fmt(t), text_anchor="middle", fill="#555", font_size=11)
    svg.line(scale.start, y, scale.end, y, stroke="#888")
    svg.text((scale.start + scale.end) / 2, y + 34, title, text_anchor="middle", fill="#333")


def y_axis(
    svg: Svg, scale: Scale, x: float, right: float, title: str, fmt: Callable[[float], str] = tick_label
) -> None:
    for t in scale.ticks():
        y = scale(t)
        svg.line(x, y, right, y, stroke="#e3e3e3")
        svg.text(x - 6, y + 4, fmt(t), text_anchor="end", fill="#555", font_size=11)
    svg.line(x, scale.start, x, scale.end, stroke="#888")
    mid = (scale.start + scale.end) / 2
    svg.text(14, mid, title, text_anchor="middle", fill="#333", transform=f"rotate(-90 14 {mid:.1f})")


def text_width(text: str, font_size: float = 12) -> float:
    """A rough width for laying out labels (no font metrics offline): 0.58 em per character."""
    return len(text) * font_size * 0.58


def shorten(text: str, limit: int = 40) -> str:
    """Cut the middle out of a long label: both ends tell bundles apart (target at the start, stages at the end)."""
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head) :]
