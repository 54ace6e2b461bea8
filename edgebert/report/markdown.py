"""GitHub-flavoured Markdown of a report: tables that paste into a release note, long detail folded in <details>.

Every user-supplied string goes through `cell`, which escapes HTML (GitHub renders inline HTML) and the characters
that would break a table or turn a name into emphasis or a link.
"""

from __future__ import annotations

import html
import re

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
)

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#~])")


def cell(text: object) -> str:
    """Escape a user string for a Markdown table cell or line."""
    flat = " ".join(str(text).split())  # a newline would end the table row
    return _MD_SPECIAL.sub(r"\\\1", html.escape(flat, quote=False))


def table(header: list[str], rows: list[list[str]], labels: int) -> list[str]:
    """A GFM table of already-escaped cells; the first `labels` columns align left, the numbers right."""
    rule = [":---" if i < labels else "---:" for i in range(len(header))]
    return ["| " + " | ".join(r) + " |" for r in (header, rule, *rows)]


def escaped(header: list[str], rows: list[list[str]], labels: int, bold_row: int | None = None) -> list[str]:
    cells = [[cell(v) for v in row] for row in rows]
    if bold_row is not None:
        cells[bold_row][0] = f"**{cells[bold_row][0]}**"
    return table([cell(h) for h in header], cells, labels)


def field_table(s: Summary, rows: list[tuple[str, list[str]]]) -> list[str]:
    return escaped(["", *(e.name for e in s.entries)], [[field, *values] for field, values in rows], len(s.entries) + 1)


def fleet_markdown(runs) -> list[str]:
    """The device x bundle matrices, one per workload, when the runs come from several machines; else nothing."""
    from edgebert.report.fleet import build_fleet, intro, matrix

    f = build_fleet(runs)
    if f is None:
        return []
    out = ["", "### Fleet: device × bundle", "", cell(intro(f))]
    for w in f.workloads:
        out += ["", f"**{cell(w.describe())}**", "", *escaped(*matrix(f, w), labels=1)]
    return out


def render_markdown(s: Summary) -> str:
    baseline_row = next((i for i, e in enumerate(s.entries) if e.is_baseline), None)
    out = ["## edgebert benchmark report", "", cell(intro(s)), ""]
    if s.command:
        # A code span shows its text verbatim (no escaping inside); a command holding a backtick needs a longer fence.
        code = f"`` {s.command} ``" if "`" in s.command else f"`{s.command}`"
        out[3:3] = ["", f"Regenerate with {code} (every figure comes from that run)."]
    for note in s.notes:
        out += [f"> **Warning:** {cell(note)}", ""]
    out += escaped(*summary_table(s), labels=4, bold_row=baseline_row)
    if any(e.run.emulated for e in s.entries):
        out += ["", cell(EMULATED_FOOTNOTE)]
    quality = quality_table(s)
    if quality is not None:
        out += ["", "### Quality", "", *escaped(*quality, labels=1)]
        noise = next((e.run.accuracy.get("noise") for e in s.entries if e.run.accuracy), None)
        out += ["", cell(f"Noise: {noise}.")] if noise else []
    out += fleet_markdown([e.run for e in s.entries])
    out += ["", "### Latency by workload", "", *escaped(*latency_table(s), labels=2), "", "### How measured", ""]
    out += [f"- {cell(line)}" for line in measurement_lines(s)]
    out += [
        "",
        "<details>",
        "<summary>Bundles and environment</summary>",
        "",
        *field_table(s, bundle_rows(s)),
        "",
        *field_table(s, environment_rows(s)),
        "",
        "</details>",
        "",
    ]
    return "\n".join(out)
