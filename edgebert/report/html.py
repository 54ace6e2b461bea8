"""One self-contained HTML page: the report's tables plus three inline SVG charts, no network and no script.

The page loads nothing (no CDN, fonts, images or scripts) and says so in its Content-Security-Policy, so it opens
from disk anywhere and a string that slipped past escaping still could not run. Every user-supplied string is passed
through `html.escape` here or in the svg module.
"""

from __future__ import annotations

import html

from edgebert.report.charts import Series, color, latency_chart, pareto_chart, size_chart
from edgebert.report.summary import (
    EMULATED_FOOTNOTE,
    Summary,
    bundle_rows,
    environment_rows,
    intro,
    latency_table,
    measurement_lines,
    quality_table,
    summary_table,
    task_of,
)

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; margin: 24px auto;
       max-width: 1400px; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; }
table { border-collapse: collapse; margin: 8px 0; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 6px; font-size: 12.5px; border-bottom: 1px solid #e4e4e4; white-space: nowrap; }
th { background: #f5f5f5; text-align: left; } td.num, th.num { text-align: right; }
tr.baseline td { font-weight: 600; }
td:first-child { white-space: normal; min-width: 12em; max-width: 18em; }  /* long bundle names wrap, numbers never */
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
.warn { background: #fff4e5; border-left: 4px solid #e69f00; padding: 6px 10px; margin: 8px 0; }
.scroll { overflow-x: auto; }
figure { margin: 18px 0; } figcaption { color: #444; margin-bottom: 4px; } figcaption b { color: #222; }
details { margin-top: 24px; } summary { cursor: pointer; font-weight: 600; }
.muted { color: #666; }
"""


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def html_table(
    header: list[str],
    rows: list[list[str]],
    labels: int,
    baseline_row: int | None = None,
    swatches: list[str] | None = None,
) -> str:
    """A table of plain-text cells (escaped here); columns after `labels` are numbers, aligned right."""

    def cls(i: int) -> str:
        return "" if i < labels else ' class="num"'

    head = "".join(f"<th{cls(i)}>{esc(h)}</th>" for i, h in enumerate(header))
    body = []
    for r, row in enumerate(rows):
        cells = []
        for i, v in enumerate(row):
            swatch = f'<span class="swatch" style="background:{swatches[r]}"></span>' if swatches and i == 0 else ""
            cells.append(f"<td{cls(i)}>{swatch}{esc(v)}</td>")
        attr = ' class="baseline"' if r == baseline_row else ""
        body.append(f"<tr{attr}>{''.join(cells)}</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _series(s: Summary) -> list[Series]:
    out = []
    for i, e in enumerate(s.entries):
        h = e.headline or {}
        out.append(
            Series(
                name=e.name + (" (emulated)" if e.run.emulated else ""),
                color=color(i),
                samples_ms=tuple(h.get("samples_ms") or ()),
                p50_ms=h.get("p50_ms", 0.0),
                p90_ms=h.get("p90_ms", 0.0),
                p99_ms=h.get("p99_ms", 0.0),
                accuracy=e.accuracy,
                model_bytes=e.run.doc["size"]["model_bytes"],
                gzip_bytes=e.run.doc["size"]["model_gzip_bytes"],
            )
        )
    return out


def figures(s: Summary) -> list[str]:
    series = _series(s)
    out = []
    if s.headline is not None:
        where = s.headline.describe()
        out.append(
            _figure(
                "Latency distribution",
                f"every timed call at {where}: dots are calls, the box spans "
                "p25–p75, the thick bar is p50, whiskers reach p1 and p99",
                latency_chart(series, where),
            )
        )
        usable = [x for x, e in zip(series, s.entries) if e.accuracy is not None and not e.run.emulated]
        left_out = [e.name for e in s.entries if e.accuracy is None or e.run.emulated]
        caption = (
            "filled points are the Pareto front: no other bundle is both at least as fast and at least as "
            "accurate" + (f"; not shown (no accuracy or emulated): {', '.join(left_out)}" if left_out else "")
        )
        if usable:
            tt = task_of(s)
            metric = "accuracy" if tt.metric == "accuracy" else tt.metric_label
            out.append(_figure("Accuracy against latency", caption, pareto_chart(usable, where, metric, tt.percent)))
        else:
            out.append(
                _figure(
                    "Accuracy against latency",
                    caption,
                    '<p class="muted">no bundle has both a measured accuracy and a native latency</p>',
                )
            )
    out.append(
        _figure(
            "Size per bundle",
            "model file bytes; the dark inner bar is the same file gzip-compressed",
            size_chart(series),
        )
    )
    return out


def _figure(title: str, caption: str, body: str) -> str:
    return f"<figure><figcaption><b>{esc(title)}</b> — {esc(caption)}</figcaption>{body}</figure>"


def fleet_html(runs) -> str:
    """The device x bundle matrices and a grouped bar chart per workload, when the runs come from several machines."""
    from edgebert.report.fleet import build_fleet, fleet_chart, intro, matrix

    f = build_fleet(runs)
    if f is None:
        return ""
    parts = ["<h2>Fleet: device × bundle</h2>", f"<p>{esc(intro(f))}</p>"]
    for w in f.workloads:
        parts += [
            f"<h3>{esc(w.describe())}</h3>",
            html_table(*matrix(f, w), labels=1),
            _figure("Latency per device", f"p50 per call, {w.describe()}; one colour per bundle", fleet_chart(f, w)),
        ]
    return "\n".join(parts)


def _quality_html(s: Summary) -> list[str]:
    """The task's further quality figures with their intervals (sentence embeddings), as in the Markdown."""
    quality = quality_table(s)
    if quality is None:
        return []
    noise = next((e.run.accuracy.get("noise") for e in s.entries if e.run.accuracy), None)
    return [
        "<h2>Quality</h2>",
        html_table(*quality, labels=1),
        f'<p class="muted">Noise: {esc(noise)}.</p>' if noise else "",
    ]


def render_html(s: Summary) -> str:
    baseline_row = next((i for i, e in enumerate(s.entries) if e.is_baseline), None)
    swatches = [color(i) for i in range(len(s.entries))]
    notes = "".join(f'<div class="warn"><b>Warning:</b> {esc(n)}</div>' for n in s.notes)
    emulated = f'<p class="muted">{esc(EMULATED_FOOTNOTE)}</p>' if any(e.run.emulated for e in s.entries) else ""
    names = [e.name for e in s.entries]
    fields = lambda rows: html_table(["", *names], [[f, *v] for f, v in rows], len(names) + 1)  # noqa: E731
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>edgebert benchmark report: {esc(', '.join(names))}</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>edgebert benchmark report</h1>",
        f"<p>{esc(intro(s))}</p>",
        f'<p class="muted">Regenerate with <code>{esc(s.command)}</code> (every figure comes from that run).</p>'
        if s.command
        else "",
        notes,
        html_table(*summary_table(s), labels=4, baseline_row=baseline_row, swatches=swatches),
        emulated,
        *_quality_html(s),
        fleet_html([e.run for e in s.entries]),
        "<h2>Charts</h2>",
        *figures(s),
        "<h2>Latency by workload</h2>",
        html_table(*latency_table(s), labels=2),
        emulated,
        "<h2>How measured</h2>",
        "<ul>",
        *(f"<li>{esc(line)}</li>" for line in measurement_lines(s)),
        "</ul>",
        "<details><summary>Bundles and environment</summary>",
        fields(bundle_rows(s)),
        fields(environment_rows(s)),
        "</details>",
        "</body></html>",
        "",
    ]
    return "\n".join(p for p in parts if p)
