"""`edgebert recipes list|show`: the compression recipes shipped with edgebert (benchmarks/recipes/*.toml, in the
wheel as edgebert/_recipes), usable anywhere as `edgebert compress --recipe NAME`."""

from __future__ import annotations

import click

from edgebert.cli.common import console, echo_json, examples, json_option, verbosity_options


@click.group(
    "recipes",
    epilog=examples(
        "edgebert recipes list",
        "edgebert recipes show fast-x86",
        "edgebert compress --recipe fast-x86 --out compressed/fast",
    ),
)
def command() -> None:
    """List and show the shipped compression recipes (pass a name to `compress --recipe`)."""


@command.command("list", epilog=examples("edgebert recipes list", "edgebert recipes list --json"))
@json_option
@verbosity_options
def list_recipes(as_json: bool) -> None:
    """One line per shipped recipe: its name, stages and description."""
    from rich.table import Table

    from edgebert.compress.recipe import load_recipe, shipped_recipes

    recipes = [(name, load_recipe(path), path) for name, path in shipped_recipes().items()]
    if as_json:
        echo_json(
            [
                {"name": name, "path": str(path), "stages": r.stages(), "description": r.description}
                for name, r, path in recipes
            ]
        )
        return
    table = Table(title="edgebert recipes")
    for col in ("name", "stages", "description"):
        table.add_column(col, no_wrap=col == "name", overflow="fold")
    for name, r, _ in recipes:
        table.add_row(name, ", ".join(r.stages()), r.description)
    console.print(table)


@command.command(
    "show",
    epilog=examples(
        "edgebert recipes show fast-x86",
        "edgebert recipes show fast-x86 > my-recipe.toml   # edit, then --recipe my-recipe.toml",
    ),
)
@click.argument("name")
@verbosity_options
def show_recipe(name: str) -> None:
    """Print a shipped recipe's TOML file as it is (comments included)."""
    from edgebert.compress.recipe import resolve_recipe_path

    click.echo(resolve_recipe_path(name).read_text(encoding="utf-8").rstrip("\n"))
