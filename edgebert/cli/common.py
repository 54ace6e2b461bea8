"""Pieces every verb shares: the consoles, verbosity (-q/-v), --json output and the examples in each --help.

Conventions: a verb's result goes to standard output (as JSON with --json, nothing else on stdout then); steps,
progress bars and warnings go to standard error, so `edgebert bench B --json > r.json` and pipes stay clean.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import click
from rich.console import Console

console = Console(highlight=False)  # results: standard output
err_console = Console(highlight=False, stderr=True)  # steps, progress and warnings: standard error

QUIET, NORMAL, VERBOSE = -1, 0, 1
_state = {"level": NORMAL}


def verbosity() -> int:
    return _state["level"]


def set_verbosity(level: int) -> None:
    _state["level"] = level


def log(message: str) -> None:
    """A stage's step, on stderr; silent with -q."""
    if verbosity() > QUIET:
        err_console.print(f"[dim]·[/] {message}")


def warn(message: str) -> None:
    """Warnings are shown even with -q: they say a figure may mislead."""
    err_console.print(f"[yellow]warning: {message}[/]")


def echo_json(doc: Any) -> None:
    """Machine-readable output: one JSON document on stdout (no rich: it would wrap and colour it)."""
    click.echo(json.dumps(doc, indent=2, ensure_ascii=False, default=str))


def _set_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        set_verbosity(QUIET)


def _set_verbose(ctx: click.Context, param: click.Parameter, value: int) -> None:
    if value:
        import os
        import warnings

        set_verbosity(VERBOSE)
        os.environ["TRANSFORMERS_VERBOSITY"] = "warning"
        warnings.resetwarnings()  # undo the group's filter when -v comes after the verb


def verbosity_options(func: Callable) -> Callable:
    """-q/--quiet and -v/--verbose, accepted before the verb (`edgebert -q bench`) and after it (`edgebert bench -q`)."""
    func = click.option(
        "-v",
        "--verbose",
        count=True,
        expose_value=False,
        is_eager=True,
        callback=_set_verbose,
        help="Say more: library warnings, and the cause of an error after its one line.",
    )(func)
    return click.option(
        "-q",
        "--quiet",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_set_quiet,
        help="Only the result and errors: no steps, no progress bars.",
    )(func)


def json_option(func: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print one machine-readable JSON document on stdout.")(
        func
    )


def task_option(func: Callable) -> Callable:
    from edgebert.task_types import TASK_TYPES

    return click.option(
        "--task",
        type=click.Choice(list(TASK_TYPES)),
        default=None,
        help="What the model computes [default: detected from the model directory; must agree with it].",
    )(func)


def target_option(func: Callable) -> Callable:
    return click.option(
        "--target", "-t", required=True, help="Target name or alias (see `edgebert targets list`) or a .toml file."
    )(func)


def model_option(func: Callable) -> Callable:
    return click.option(
        "--model",
        "-m",
        type=click.Path(),
        default=None,
        help="Local Hugging Face model directory (default: the default task model).",
    )(func)


def examples(*lines: str) -> str:
    """An --help epilog listing example command lines, kept as written (click's \\b stops re-wrapping)."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)
