"""Reports from bench results documents: Markdown, a self-contained HTML page with SVG charts, JSON, and the
regression gate (`compare`). Reads only JSON; never imports torch, transformers, optimum or onnx.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Sequence

from edgebert.errors import UserError
from edgebert.report.compare import Comparison, compare_runs
from edgebert.report.results import ResultsError, Run, load_results, write_text_atomic
from edgebert.report.summary import Summary, build_summary

FORMATS = ("md", "html", "json")
SUFFIXES = {"md": (".md", ".markdown"), "html": (".html", ".htm"), "json": (".json",)}

__all__ = [
    "FORMATS",
    "Comparison",
    "ResultsError",
    "Run",
    "Summary",
    "build_summary",
    "compare_runs",
    "load_results",
    "check_output_format",
    "format_for",
    "render",
    "render_report",
    "write_text_atomic",
]


def format_for(out: str | os.PathLike | None, fmt: str | None) -> str:
    """The format to write: `fmt` when given, else the one --out's extension names, else Markdown."""
    if fmt is not None:
        return fmt
    suffix = os.path.splitext(os.fspath(out))[1].lower() if out is not None else ""
    return next((f for f, names in SUFFIXES.items() if suffix in names), "md")


def check_output_format(out: str | os.PathLike, fmt: str) -> None:
    """Refuse an output file whose extension names another format than the one written (x.pdf holding Markdown)."""
    stem, suffix = os.path.splitext(os.fspath(out))
    suffix = suffix.lower()
    if suffix and suffix not in SUFFIXES.get(fmt, ()):
        named = next((f for f, names in SUFFIXES.items() if suffix in names), None)
        fix = (
            f"pass --format {named} or name it {stem}{SUFFIXES[fmt][0]}"
            if named
            else f"reports are {', '.join(FORMATS)}: name it {stem}{SUFFIXES[fmt][0]}"
        )
        raise UserError(f"--out {os.fspath(out)} ends in {suffix} but the report is {fmt}; {fix}")


def render(summary: Summary, fmt: str) -> str:
    """The summary in one of FORMATS."""
    if fmt == "md":
        from edgebert.report.markdown import render_markdown

        return render_markdown(summary)
    if fmt == "html":
        from edgebert.report.html import render_html

        return render_html(summary)
    if fmt == "json":
        from edgebert.report.summary import to_json

        return json.dumps(to_json(summary), indent=2, ensure_ascii=False) + "\n"
    raise UserError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")


def render_report(
    paths: Sequence[str | os.PathLike],
    fmt: str = "md",
    baseline: str | os.PathLike | None = None,
    use_baseline: bool = True,
    command: str | None = None,
) -> str:
    """Load results files and render them side by side.

    The baseline the deltas are measured against is `baseline` when given (one of `paths`, or another results file,
    which is then shown first), else the first of `paths`; `use_baseline=False` shows no deltas at all.
    `command`, when given, is printed at the top as the way to regenerate the report.
    """
    if not paths:
        raise UserError("no results files given; pass one or more files written by `edgebert bench --out`")
    runs = [load_results(p) for p in paths]
    index: int | None = 0 if use_baseline and len(runs) > 1 else None  # one run alone has nothing to differ from
    if baseline is not None and use_baseline:
        wanted = os.path.realpath(baseline)
        index = next((i for i, r in enumerate(runs) if os.path.realpath(r.path) == wanted), None)
        if index is None:
            runs.insert(0, load_results(baseline))
            index = 0
    return render(dataclasses.replace(build_summary(runs, index), command=command), fmt)
