"""The report's three charts, drawn with our svg module: latency distribution, accuracy against latency (Pareto
front marked), and size per bundle. Each function takes plain values and returns one <svg> string.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgebert.report import units
from edgebert.report.svg import Scale, Svg, shorten, text_width, x_axis, y_axis

# Okabe-Ito: distinguishable with the common colour-vision deficiencies (yellow left out: unreadable on white).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000")
WIDTH = 880
MAX_DOTS = 1500  # per bundle; beyond this the strip shows evenly spaced order statistics


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def quantile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between order statistics, as numpy's default and the bench's percentiles."""
    pos = (len(sorted_values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


@dataclass(frozen=True)
class Series:
    """One bundle in a chart."""

    name: str
    color: str
    samples_ms: tuple[float, ...] = ()
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    accuracy: float | None = None  # fraction
    model_bytes: int = 0
    gzip_bytes: int | None = None


def _left_margin(series: list[Series]) -> float:
    return min(max(text_width(shorten(s.name)) for s in series) + 24, 300)


def latency_chart(series: list[Series], workload: str) -> str:
    """Per bundle: every timed call as a dot, a box from p25 to p75, the median as a bar, whiskers to p1 and p99."""
    band, top, left, right = 44, 12, _left_margin(series), WIDTH - 24
    height = top + band * len(series) + 48
    svg = Svg(WIDTH, height, f"Latency distribution per bundle, {workload}")
    stats = []
    for s in series:
        xs = sorted(s.samples_ms)
        if xs:
            stats.append((xs, quantile(xs, 0.01), quantile(xs, 0.25), quantile(xs, 0.75), quantile(xs, 0.99)))
        else:  # no samples kept: show what the percentiles say
            stats.append((xs, s.p50_ms, s.p50_ms, s.p90_ms, s.p99_ms))
    hi = max(max(st[4], s.p99_ms) for st, s in zip(stats, series)) * 1.1
    lo = min(st[1] for st in stats)
    log = lo > 0 and hi / lo > 30  # e.g. an emulated run next to native ones
    scale = Scale(lo / 1.2 if log else 0.0, hi, left, right, log=log)
    x_axis(
        svg,
        scale,
        top + band * len(series),
        top,
        f"time per call (ms, {'log' if log else 'linear'} scale) · {workload}",
    )
    for i, (s, (xs, p1, q1, q3, p99)) in enumerate(zip(series, stats)):
        y = top + band * i + band / 2
        svg.text(left - 10, y + 4, shorten(s.name), text_anchor="end", tooltip=s.name)
        step = max(1, len(xs) // MAX_DOTS)
        beyond = 0
        for k, v in enumerate(xs[::step]):
            if v > scale.hi:
                beyond += 1
                continue
            jitter = ((k * 0.6180339887) % 1 - 0.5) * band * 0.55  # golden-ratio spread: even, deterministic
            svg.circle(scale(v), y + jitter, 1.7, fill=s.color, fill_opacity=0.35)
        svg.line(scale(p1), y, scale(q1), y, stroke=s.color, stroke_width=1.5)
        svg.line(scale(q3), y, scale(p99), y, stroke=s.color, stroke_width=1.5)
        for x in (p1, p99):
            svg.line(scale(x), y - 6, scale(x), y + 6, stroke=s.color, stroke_width=1.5)
        svg.rect(
            scale(q1),
            y - band * 0.25,
            scale(q3) - scale(q1),
            band * 0.5,
            fill=s.color,
            fill_opacity=0.15,
            stroke=s.color,
            stroke_width=1.5,
            tooltip=f"{s.name}: p50 {units.ms(s.p50_ms)}, p90 {units.ms(s.p90_ms)}, p99 {units.ms(s.p99_ms)}, "
            f"{len(xs)} timed calls",
        )
        svg.line(scale(s.p50_ms), y - band * 0.3, scale(s.p50_ms), y + band * 0.3, stroke=s.color, stroke_width=3.5)
        if beyond:
            svg.text(
                right + 2,
                y + 4,
                f"+{beyond}",
                fill="#555",
                font_size=10,
                tooltip=f"{beyond} calls slower than {units.ms(scale.hi)} are off the scale",
            )
    return svg.render()


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the (latency, accuracy) points no other point beats: none is at least as fast and as accurate
    while strictly better in one. Sorted by latency."""
    front = []
    for i, (lat, acc) in enumerate(points):
        dominated = any(
            ol <= lat and oa >= acc and (ol < lat or oa > acc) for j, (ol, oa) in enumerate(points) if j != i
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (points[i][0], -points[i][1]))


def pareto_chart(series: list[Series], workload: str, metric: str = "accuracy", percent: bool = True) -> str:
    """Accuracy (y) against p50 latency (x); the Pareto front filled and joined, dominated bundles hollow. `metric`:
    the task's primary metric (`percent`: a percentage, else a score shown x100)."""
    top, left, bottom, right = 20, 64, 316, WIDTH - 24
    svg = Svg(WIDTH, bottom + 48, f"Accuracy against p50 latency, {workload}; Pareto front marked")
    pts = [(s.p50_ms, s.accuracy * 100) for s in series]
    lats, accs = [p[0] for p in pts], [p[1] for p in pts]
    pad = max((max(accs) - min(accs)) * 0.15, 0.5)
    log = min(lats) > 0 and max(lats) / min(lats) > 30
    xs = Scale(min(lats) / 1.3 if log else 0.0, max(lats) * 1.15, left, right - 150, log=log)
    ys = Scale(max(min(accs) - pad, 0.0), min(max(accs) + pad, 100.0), bottom, top)
    x_axis(svg, xs, bottom, top, f"p50 latency (ms) · {workload}")
    y_axis(svg, ys, left, right - 150, f"{metric} (%)" if percent else f"{metric} (x100)")
    front = pareto_front(pts)
    if len(front) > 1:
        svg.polyline(
            [(xs(pts[i][0]), ys(pts[i][1])) for i in front],
            fill="none",
            stroke="#444",
            stroke_width=1.5,
            stroke_dasharray="5 4",
        )
    centres = [(xs(lat), ys(acc)) for lat, acc in pts]
    boxes = [(cx - 8, cy - 8, cx + 8, cy + 8) for cx, cy in centres]  # every point, then every placed label
    for i, (s, (lat, acc)) in enumerate(zip(series, pts)):
        on_front = i in front
        svg.circle(
            *centres[i],
            6.5,
            fill=s.color if on_front else "#fff",
            stroke=s.color,
            stroke_width=2.5,
            tooltip=f"{s.name}: p50 {units.ms(lat)}, {metric} {acc:.2f}{'%' if percent else ''}"
            + (" (Pareto front)" if on_front else ""),
        )
    for i, s in enumerate(series):
        label = shorten(s.name, 36)
        x, y, anchor = _place_label(label, *centres[i], boxes, (left, top, WIDTH, bottom))
        svg.text(x, y, label, text_anchor=anchor, tooltip=s.name)
    lx, ly = right - 250, bottom + 34  # legend beside the axis title, where no point or label can be
    svg.circle(lx, ly - 4, 5, fill="#444", stroke="#444", stroke_width=2)
    svg.text(lx + 10, ly, "on the Pareto front", font_size=11)
    svg.circle(lx + 140, ly - 4, 5, fill="#fff", stroke="#444", stroke_width=2)
    svg.text(lx + 150, ly, "dominated", font_size=11)
    return svg.render()


def _place_label(
    label: str,
    cx: float,
    cy: float,
    boxes: list[tuple[float, float, float, float]],
    area: tuple[float, float, float, float],
) -> tuple[float, float, str]:
    """Right of the point, else left, below or above: the first spot that overlaps no point and no other label."""
    w, h = text_width(label), 14
    spots = [
        (cx + 11, cy + 4, "start", cx + 11, cy - 9),
        (cx - 11, cy + 4, "end", cx - 11 - w, cy - 9),
        (cx, cy + 22, "middle", cx - w / 2, cy + 10),
        (cx, cy - 14, "middle", cx - w / 2, cy - 26),
    ]
    spots += [(cx + 11, cy + 4 + k * h, "start", cx + 11, cy - 9 + k * h) for k in range(1, 8)]  # then lower and lower

    def free(x0: float, y0: float) -> bool:
        inside = area[0] <= x0 and x0 + w <= area[2] and area[1] - 30 <= y0 and y0 + h <= area[3]
        return inside and not any(x0 < b[2] and b[0] < x0 + w and y0 < b[3] and b[1] < y0 + h for b in boxes)

    x, y, anchor, x0, y0 = next((spot for spot in spots if free(spot[3], spot[4])), spots[0])
    boxes.append((x0, y0, x0 + w, y0 + h))
    return x, y, anchor


def size_chart(series: list[Series]) -> str:
    """Model file size per bundle as a bar; its gzip size as the darker inner bar."""
    band, top, left, right = 36, 12, _left_margin(series), WIDTH - 190
    height = top + band * len(series) + 48
    svg = Svg(WIDTH, height, "Model size per bundle, with gzip size")
    scale = Scale(0.0, max(s.model_bytes for s in series) / 1e6 * 1.05, left, right)
    x_axis(svg, scale, top + band * len(series), top, "model file size (MB, 10^6 bytes); inner bar: gzip")
    for i, s in enumerate(series):
        y = top + band * i + band / 2
        svg.text(left - 10, y + 4, shorten(s.name), text_anchor="end", tooltip=s.name)
        svg.rect(
            left,
            y - band * 0.32,
            scale(s.model_bytes / 1e6) - left,
            band * 0.64,
            fill=s.color,
            fill_opacity=0.85,
            tooltip=f"{s.name}: {units.size(s.model_bytes)}",
        )
        if s.gzip_bytes is not None:
            svg.rect(
                left,
                y - band * 0.1,
                scale(s.gzip_bytes / 1e6) - left,
                band * 0.2,
                fill="#111",
                fill_opacity=0.55,
                tooltip=f"{s.name}: gzip {units.size(s.gzip_bytes)}",
            )
        label = units.size(s.model_bytes) + (f" · gzip {units.size(s.gzip_bytes)}" if s.gzip_bytes is not None else "")
        svg.text(scale(s.model_bytes / 1e6) + 8, y + 4, label, fill="#333", font_size=11)
    return svg.render()
