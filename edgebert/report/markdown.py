"""GitHub-flavoured Markdown of a report: tables that paste into a release note, long detail folded in <details>.

Every user-supplied string goes through `cell`, which escapes HTML (GitHub renders inline HTML) and the characters
that would break a table or turn a name into emphasis or a link.
"""
from __future__ import annotations

import html
import re

from edgebert.report import units
from edgebert.report.summary import Entry, Summary, bundle_rows, environment_rows, measurement_lines

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#~])")


def cell(text: object) -> str:
    """Escape a user string for a Markdown table cell or line."""
    flat = " ".join(str(text).split())  # a newline would end the table row
    return _MD_SPECIAL.sub(r"\\\1", html.escape(flat, quote=False))


def table(header: list[str], rows: list[list[str]], align: str) -> list[str]:
    """`align`: one letter per column, l or r."""
    rule = ["---:" if a == "r" else ":---" for a in align]
    return ["| " + " | ".join(r) + " |" for r in (header, rule, *rows)]


def emulated_mark(e: Entry, text: str) -> str:
    return f"{text} †" if e.run.emulated and text != units.DASH else text


def summary_table(s: Summary) -> list[str]:
    header = ["Bundle", "Target", "Format", "Precision", "Size", "gzip", "p50", "p90", "p99", "Throughput",
              "Peak RSS", "Accuracy", "Agreement"]
    if s.baseline is not None:
        header += ["× faster", "× smaller", "Δ accuracy"]
    rows = []
    for e in s.entries:
        b, h, size = e.run.bundle, e.headline or {}, e.run.doc["size"]
        name = f"**{cell(e.name)}**" if e.is_baseline else cell(e.name)
        row = [name, cell(b["target"]), cell(b["format"]), cell(b["precision"]), units.size(size["model_bytes"]),
               units.size(size["model_gzip_bytes"]),
               *(emulated_mark(e, units.ms(h.get(k))) for k in ("p50_ms", "p90_ms", "p99_ms")),
               emulated_mark(e, units.rate(h.get("throughput_seq_s"), "seq/s")), units.size(e.run.peak_rss_bytes),
               units.percent(e.accuracy), units.percent(e.agreement)]
        if s.baseline is not None:
            if e.is_baseline:
                row += ["baseline", "baseline", "baseline"]
            else:
                faster = "emulated" if e.run.emulated or s.baseline.run.emulated else units.ratio(e.speedup)
                row += [faster, units.ratio(e.size_ratio), units.points(e.accuracy_delta)]
        rows.append(row)
    return table(header, rows, "llll" + "r" * (len(header) - 4))


def latency_table(s: Summary) -> list[str]:
    header = ["Workload", "Bundle", "p50", "p90", "p99", "Mean tokens", "Throughput", "Tokens/s", "CV"]
    if s.baseline is not None:
        header.append("× faster")
    rows = []
    for w in s.workloads:
        for e in s.entries:
            r = e.run.row(w)
            if r is None:
                continue
            tokens = r.get("mean_tokens") if w.mode == "real" else w.seq_len
            row = [w.describe(), cell(e.name), *(emulated_mark(e, units.ms(r[k])) for k in ("p50_ms", "p90_ms", "p99_ms")),
                   units.DASH if tokens is None else f"{tokens:.1f}" if w.mode == "real" else str(tokens),
                   emulated_mark(e, units.rate(r["throughput_seq_s"], "seq/s")),
                   units.rate(r.get("throughput_tok_s"), "tok/s"),
                   units.DASH if r.get("cv") is None else f"{r['cv']:.2f}"]
            if s.baseline is not None:
                row.append("baseline" if e.is_baseline else units.ratio(s.speedup(e, w)))
            rows.append(row)
    return table(header, rows, "ll" + "r" * (len(header) - 2))


def field_table(s: Summary, rows: list[tuple[str, list[str]]]) -> list[str]:
    return table(["", *(cell(e.name) for e in s.entries)], [[field, *map(cell, values)] for field, values in rows],
                 "l" * (len(s.entries) + 1))


def render_markdown(s: Summary) -> str:
    first = s.entries[0].run
    task = next((e.run.task for e in s.entries if e.run.task), None)
    intro = [f"{len(s.entries)} bundle{'s' if len(s.entries) != 1 else ''}"]
    if task:
        intro.append(f"task {cell(task)}")
    if first.accuracy:
        intro.append(f"evaluated on {cell(first.accuracy['dataset'])} ({first.accuracy['size']} texts)")
    if s.headline:
        intro.append(f"latency at {s.headline.describe()}")
    if s.baseline is not None:
        intro.append(f"baseline **{cell(s.baseline.name)}**")
    out = ["## edgebert benchmark report", "", " · ".join(intro) + ".", ""]
    for note in s.notes:
        out += [f"> **Warning:** {cell(note)}", ""]
    out += summary_table(s)
    if any(e.run.emulated for e in s.entries):
        out += ["", "† emulated run: this latency says nothing about the real device."]
    out += ["", "### Latency by workload", "", *latency_table(s), "", "### How measured", ""]
    out += [f"- {cell(line)}" for line in measurement_lines(s)]
    out += ["", "<details>", "<summary>Bundles and environment</summary>", "", *field_table(s, bundle_rows(s)), "",
            *field_table(s, environment_rows(s)), "", "</details>", ""]
    return "\n".join(out)
