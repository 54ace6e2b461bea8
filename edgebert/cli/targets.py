"""`edgebert targets list|show`."""
from __future__ import annotations

import json

import click
from rich.table import Table

from edgebert.cli.common import console


@click.group("targets")
def command() -> None:
    """List and show hardware targets (TOML files in targets/)."""


@command.command("list")
def list_targets() -> None:
    """One line per shipped target."""
    from edgebert.targets import builtin_targets

    table = Table(title="edgebert targets")
    for col in ("name", "aliases", "format", "precision", "quantization", "fits this CPU"):
        table.add_column(col, no_wrap=col in ("name", "quantization"))
    for t in builtin_targets():
        q = t.quantization
        kinds = {"uint8": "U8", "int8": "S8"}
        quant = "none" if q.mode == "none" else f"{q.mode} {q.format} {kinds[q.activation_type]}{kinds[q.weight_type]}" + (" per-ch" if q.per_channel else "")
        missing = t.missing_cpu_features()
        table.add_row(t.name, ", ".join(t.aliases), t.export.format, t.precision, quant, "yes" if not missing else "no")
    console.print(table)


@command.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the resolved settings as JSON.")
def show_target(name: str, as_json: bool) -> None:
    """Print the resolved settings of a target (name, alias or .toml path)."""
    from edgebert.config import dumps_toml
    from edgebert.targets import load_target

    t = load_target(name)
    if as_json:
        click.echo(json.dumps(t.to_dict(), indent=2))
        return
    console.print(f"# {t.name} — {t.description}\n# from {t.source}", markup=False)
    missing = t.missing_cpu_features()
    console.print("# this CPU lacks: " + ", ".join(missing) if missing else "# fits this CPU", markup=False)
    console.print(dumps_toml(t.to_dict()), markup=False)
