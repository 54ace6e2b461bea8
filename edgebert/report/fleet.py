"""Fleet view: one bundle across several devices. When a report's results come from more than one machine (the
environment's machine_id fingerprint tells them apart), a device x bundle matrix of p50 latency per workload, with
the share of the device's GEMM peak where the bench measured it, and a grouped bar chart for the HTML page.

Cells compare within a column (one bundle across devices) and within a row (bundles on one device); a ratio across
both at once compares machines and models together. Two results of the same bundle on the same device: the later
one (created_at) is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgebert.report import units
from edgebert.report.charts import PALETTE, WIDTH
from edgebert.report.results import Run, Workload
from edgebert.report.svg import Scale, Svg, shorten, text_width, x_axis


@dataclass(frozen=True)
class Fleet:
    devices: list[tuple[str, str]]  # (machine_id, label), in first-seen order
    bundles: list[tuple[str, str]]  # (sha256, label)
    workloads: list[Workload]
    cells: dict[tuple[str, str, Workload], dict[str, Any]]  # (machine_id, sha256, workload) → latency row

    def cell(self, device: str, bundle: str, w: Workload) -> dict[str, Any] | None:
        return self.cells.get((device, bundle, w))


def device_label(env: dict[str, Any]) -> str:
    return f"{env['cpu_model']} ({env.get('arch', '?')}, {env['cores']} cores)"


def build_fleet(runs: list[Run]) -> Fleet | None:
    """The matrix, or None when every run comes from one machine."""
    if len({r.env["machine_id"] for r in runs}) < 2:
        return None
    devices: dict[str, str] = {}
    bundles: dict[str, str] = {}
    latest: dict[tuple[str, str], Run] = {}
    for r in runs:
        devices.setdefault(r.env["machine_id"], device_label(r.env))
        bundles.setdefault(r.bundle["sha256"], r.bundle["label"])
        key = (r.env["machine_id"], r.bundle["sha256"])
        if key not in latest or (r.doc.get("created_at") or "") >= (latest[key].doc.get("created_at") or ""):
            latest[key] = r
    labels = list(devices.values())
    for mid, label in list(devices.items()):  # two machines with one CPU model: tell them apart by the fingerprint
        if labels.count(label) > 1:
            devices[mid] = f"{label} #{mid[:6]}"
    blabels = list(bundles.values())
    for sha, label in list(bundles.items()):
        if blabels.count(label) > 1:
            bundles[sha] = f"{label} #{sha[:6]}"
    cells: dict[tuple[str, str, Workload], dict[str, Any]] = {}
    workloads: set[Workload] = set()
    for (mid, sha), r in latest.items():
        for w in r.workloads:
            cells[(mid, sha, w)] = r.row(w)
            workloads.add(w)
    return Fleet(list(devices.items()), list(bundles.items()), sorted(workloads, key=Workload.sort_key), cells)


def cell_text(row: dict[str, Any] | None) -> str:
    if row is None:
        return "–"
    frac = row.get("fraction_of_peak")
    return units.ms(row["p50_ms"]) + (f" · {frac:.0%} of peak" if frac is not None else "")


def matrix(f: Fleet, w: Workload) -> tuple[list[str], list[list[str]]]:
    header = ["device", *(label for _, label in f.bundles)]
    rows = [[dlabel, *(cell_text(f.cell(mid, sha, w)) for sha, _ in f.bundles)] for mid, dlabel in f.devices]
    return header, rows


def intro(f: Fleet) -> str:
    return (
        f"{len(f.devices)} devices × {len(f.bundles)} bundles (devices told apart by the environment fingerprint). "
        "p50 latency per call; where the bench measured the device's GEMM peak, the share of it the bundle reached."
    )


def fleet_chart(f: Fleet, w: Workload) -> str:
    """Grouped horizontal bars: one group per device, one bar per bundle (p50 ms), a shared log-free x axis."""
    bar, gap, top = 16, 14, 12
    left = min(max(text_width(shorten(d)) for _, d in f.devices) + 24, 300)
    right = WIDTH - 24
    per_group = bar * len(f.bundles) + gap
    legend_y = top + per_group * len(f.devices) + 44
    svg = Svg(
        WIDTH, legend_y + 22 * ((len(f.bundles) + 2) // 3) + 8, f"p50 latency per device and bundle, {w.describe()}"
    )
    values = [row["p50_ms"] for row in (f.cell(m, s, w) for m, _ in f.devices for s, _ in f.bundles) if row]
    scale = Scale(0.0, max(values) * 1.1 if values else 1.0, left, right)
    axis_y = top + per_group * len(f.devices)
    x_axis(svg, scale, axis_y, top, "p50 ms per call")
    for g, (mid, dlabel) in enumerate(f.devices):
        y0 = top + g * per_group
        svg.text(left - 8, y0 + bar * len(f.bundles) / 2 + 4, shorten(dlabel), text_anchor="end", fill="#333")
        for b, (sha, blabel) in enumerate(f.bundles):
            row = f.cell(mid, sha, w)
            if row is None:
                continue
            svg.rect(
                left,
                y0 + b * bar,
                scale(row["p50_ms"]) - left,
                bar - 3,
                fill=PALETTE[b % len(PALETTE)],
                tooltip=f"{dlabel} · {blabel}: {cell_text(row)}",
            )
    for b, (_, blabel) in enumerate(f.bundles):
        x, y = left + (b % 3) * 260, legend_y + (b // 3) * 22
        svg.rect(x, y - 10, 12, 12, fill=PALETTE[b % len(PALETTE)])
        svg.text(x + 18, y, shorten(blabel, 36), fill="#333")
    return svg.render()
