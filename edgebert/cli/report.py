"""`edgebert report` and `edgebert compare`: read bench results JSON, write Markdown / HTML / JSON, gate regressions."""

from __future__ import annotations

import click

from edgebert.cli.common import QUIET, examples, verbosity, verbosity_options


def _write(text: str, out: str, inputs) -> None:
    from edgebert.bundle import write_text_atomic

    path = write_text_atomic(out, text, inputs)
    if verbosity() > QUIET:
        click.echo(f"wrote {path}", err=True)  # stderr: stdout may carry the report itself


@click.command(
    "report",
    epilog=examples(
        "edgebert report results/*.json                                  # Markdown on stdout",
        "edgebert report results/*.json --baseline results/int8.json --out report.html",
        "edgebert report results/pi4.json results/pi5.json --format json --out report.json",
    ),
)
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=True))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["md", "html", "json"]),
    default=None,
    help="Output format (default: from the --out suffix, else md).",
)
@click.option(
    "--out",
    "-o",
    type=click.Path(),
    default=None,
    help="File to write (default: standard output; missing directories are created).",
)
@click.option(
    "--baseline",
    type=click.Path(),
    default=None,
    help="Results file the deltas are measured against (default: the first RESULTS file).",
)
@click.option("--no-baseline", is_flag=True, help="Show no deltas (× faster, × smaller, Δ accuracy).")
@verbosity_options
def report_command(results, fmt, out, baseline, no_baseline) -> None:
    """Set bench results side by side: Markdown for release notes, one self-contained HTML page with charts, or JSON.

    Deltas (× faster at p50, × smaller, Δ accuracy in points) are against --baseline, by default the first file.
    An --out whose extension names another format (x.pdf, x.md with --format html) is refused.
    """
    from edgebert.bundle import check_output_file
    from edgebert.report import check_output_format, format_for, render_report

    inputs = [*results, baseline]
    fmt = format_for(out, fmt)
    if out is not None:  # before any work: a typo in --out should not cost a render
        check_output_file(out, inputs)  # an input first: that mistake matters more than a suffix
        check_output_format(out, fmt)
    text = render_report(results, fmt, baseline=baseline, use_baseline=not no_baseline)
    if out is None:
        click.echo(text, nl=False)
    else:
        _write(text, out, inputs)


def parse_threshold(text: str, option: str, unit: str) -> float:
    """'5%' and '5.0 %' mean five percent; '0.5' half a point. A percent threshold must carry '%' (a bare 5 could be
    read as a ratio or as points); a one-line error for anything else."""
    from edgebert.errors import UserError

    stripped = text.strip()
    if unit == "percent" and not stripped.endswith("%"):
        raise UserError(f"{option} takes a number of percent written with %, such as 5%; got {text!r}")
    try:
        return float(stripped.removesuffix("%").strip())
    except ValueError:
        example = "5%" if unit == "percent" else "0.5"
        raise UserError(f"{option} takes a number of {unit} such as {example}, got {text!r}") from None


@click.command(
    "compare",
    epilog=examples(
        "edgebert compare results/main.json results/candidate.json",
        "edgebert compare results/main.json results/candidate.json --max-latency-regression 5% --max-accuracy-drop 0.5",
        "edgebert compare results/main.json results/candidate.json --json -q || echo regressed",
    ),
)
@click.argument("baseline", type=click.Path(dir_okay=True))
@click.argument("candidate", type=click.Path(dir_okay=True))
@click.option(
    "--max-latency-regression",
    default="5%",
    show_default=True,
    help="Slow-down band, with %: a workload regressed only when the 95% interval of its p50 ratio lies wholly above it.",
)
@click.option(
    "--max-accuracy-drop",
    default="0.5",
    show_default=True,
    help="Largest drop of the task's primary metric allowed, in points (accuracy or entity F1 in percentage points; "
    "Spearman x100, so 1 = 0.01).",
)
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md", show_default=True)
@click.option(
    "--json", "as_json", is_flag=True, help="The same as --format json: one machine-readable document on stdout."
)
@click.option("--out", "-o", type=click.Path(), default=None, help="Also write the comparison to this file.")
@click.option(
    "--allow-different-env",
    is_flag=True,
    help="Compare runs from different machines or thread counts (their latency ratio may mislead).",
)
@click.option(
    "--allow-busy",
    is_flag=True,
    help="Compare runs measured while other processes loaded the CPUs (flagged in the output).",
)
@verbosity_options
def compare_command(
    baseline, candidate, max_latency_regression, max_accuracy_drop, fmt, as_json, out, allow_different_env, allow_busy
) -> None:
    """Exit 1 if CANDIDATE regressed in latency or lost accuracy beyond a threshold, else 0.

    \b
    Each workload timed in both runs (same mode, batch size, sequence length) gets a verdict from the per-call
    samples: the p50 ratio's 95% bootstrap interval is wholly above the band (regressed, exit 1), wholly below it
    (improved), inside it (no change), or straddles an edge (undecidable (too noisy): passes, flagged).
    Two documents of one `bench --interleave` set are paired round by round. Runs under foreign load are
    refused unless --allow-busy; runs from different machines or thread counts unless --allow-different-env;
    runs of different tasks or datasets always. Emulated runs have their latency left out of the gate.
    Example: edgebert compare results/int8.json results/pruned.json --max-latency-regression 5%
    """
    from edgebert.errors import RegressionError
    from edgebert.report import compare_runs, load_results
    from edgebert.bundle import check_output_file
    from edgebert.report import check_output_format
    from edgebert.report.compare import render_json, render_markdown

    fmt = "json" if as_json else fmt
    if out is not None:
        check_output_file(out, [baseline, candidate])
        check_output_format(out, fmt)
    result = compare_runs(
        load_results(baseline),
        load_results(candidate),
        parse_threshold(max_latency_regression, "--max-latency-regression", "percent"),
        parse_threshold(max_accuracy_drop, "--max-accuracy-drop", "percentage points"),
        allow_different_env,
        allow_busy,
    )
    text = render_json(result) if fmt == "json" else render_markdown(result)
    click.echo(text, nl=False)
    if out is not None:
        _write(text, out, [baseline, candidate])
    if not result.passed:
        raise RegressionError(result.failure_message())


commands = [report_command, compare_command]
