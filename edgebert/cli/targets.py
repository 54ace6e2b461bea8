"""`edgebert targets list|show`."""

from __future__ import annotations

import click
from rich.table import Table

from edgebert.cli.common import console, echo_json, examples, json_option, verbosity_options


@click.group(
    "targets",
    epilog=examples(
        "edgebert targets list", "edgebert targets show arm64", "edgebert targets show x86 --toml > my-target.toml"
    ),
)
def command() -> None:
    """List and show hardware targets (TOML files in targets/, shipped in the wheel)."""


def _quantization(t) -> str:
    q = t.quantization
    kinds = {"uint8": "U8", "int8": "S8"}
    return (
        "none"
        if q.mode == "none"
        else f"{q.mode} {q.format} {kinds[q.activation_type]}{kinds[q.weight_type]}"
        + (" per-ch" if q.per_channel else "")
    )


@command.command("list", epilog=examples("edgebert targets list", "edgebert targets list --json"))
@json_option
@verbosity_options
def list_targets(as_json: bool) -> None:
    """One line per shipped target, and whether this CPU fits it."""
    from edgebert.targets import builtin_targets

    targets = builtin_targets()
    if as_json:
        echo_json(
            [
                {
                    **t.to_dict(),
                    "precision": t.precision,
                    "missing_cpu_features": t.missing_cpu_features(),
                    "fits_this_cpu": not t.missing_cpu_features(),
                }
                for t in targets
            ]
        )
        return
    table = Table(title="edgebert targets")
    for col in ("name", "aliases", "format", "precision", "quantization", "fits this CPU"):
        table.add_column(col, no_wrap=col in ("name", "quantization"))
    for t in targets:
        table.add_row(
            t.name,
            ", ".join(t.aliases),
            t.export.format,
            t.precision,
            _quantization(t),
            "yes" if not t.missing_cpu_features() else "no",
        )
    console.print(table)


@command.command(
    "show",
    epilog=examples(
        "edgebert targets show arm64",
        "edgebert targets show x86 --json",
        "edgebert targets show x86 --toml > my-target.toml   # edit, then --target my-target.toml",
    ),
)
@click.argument("name")
@json_option
@click.option(
    "--toml",
    "as_toml",
    is_flag=True,
    help="Print only the target file (TOML), ready to save, edit and pass as --target FILE.",
)
@verbosity_options
def show_target(name: str, as_json: bool, as_toml: bool) -> None:
    """Print the resolved settings of a target (name, alias or .toml path)."""
    from edgebert.config import dumps_toml
    from edgebert.errors import UserError
    from edgebert.targets import load_target

    if as_json and as_toml:
        raise UserError("pass either --json or --toml, not both")
    t = load_target(name)
    if as_json:
        echo_json(t.to_dict())
        return
    # TOML is written with click, never through rich: rich wraps long lines, which breaks the file.
    if not as_toml:
        missing = t.missing_cpu_features()
        click.echo(f"# {t.name} — {t.description}\n# from {t.source}")
        click.echo("# this CPU lacks: " + ", ".join(missing) if missing else "# fits this CPU")
    click.echo(dumps_toml(t.to_dict()).rstrip("\n"))
