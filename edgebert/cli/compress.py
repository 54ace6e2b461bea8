"""`edgebert compress`: a recipe (TOML file and/or flags) → a compressed model directory with a stage record.

Every recipe setting is also a flag, generated from the same config dataclasses the TOML file is read into, so the
two cannot drift apart: `[prune_structured] heads_ratio = 0.5` is `--prune-heads-ratio 0.5`. Flags override the
file; a flag of a stage the file lacks adds that stage with its defaults for the rest.
"""

from __future__ import annotations

import dataclasses
import typing

import click

from edgebert.cli.common import (
    QUIET,
    console,
    err_console,
    examples,
    log,
    model_option,
    task_option,
    verbosity,
    verbosity_options,
)
from edgebert.compress.recipe import Recipe, load_recipe_dict, recipe_from_dict

# Flag prefix of each recipe section (the section names are the module names; the prefixes keep flags short).
PREFIXES = {
    "prune_structured": "prune",
    "share": "share",
    "prune_unstructured": "unstructured",
    "distill": "distill",
    "quantize": "quantize",
}
TOP_LEVEL = ("name", "seed", "max_length")


def _plain(tp):
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return args[0] if args else tp


def _option(section: str | None, f: dataclasses.Field, tp) -> click.Option:
    flag = f"{PREFIXES[section]}-{f.name}" if section else f.name
    flag = flag.replace("_", "-")
    dest = f"{section}__{f.name}" if section else f"recipe__{f.name}"
    default = "none" if f.default is None else (f.default if f.default is not dataclasses.MISSING else "required")
    where = f"[{section}] {f.name}" if section else f.name
    # A stage is off unless the recipe has its table or one of its flags is given: its defaults apply only then.
    help_text = (
        f"Recipe {where} (default: {default})."
        if section is None
        else f"Recipe {where}; setting it turns the stage on (its value in the stage when unset: {default})."
    )
    if tp is bool:
        return click.Option([f"--{flag}/--no-{flag}", dest], default=None, help=help_text)
    allowed = f.metadata.get("choices")
    kind = click.Choice(list(allowed)) if allowed else {float: click.FLOAT, int: click.INT}.get(tp, click.STRING)
    return click.Option([f"--{flag}", dest], type=kind, default=None, help=help_text)


def recipe_options(func):
    """Add one option per recipe field (top-level and every stage's), all defaulting to None (= not given)."""
    hints = typing.get_type_hints(Recipe)
    options = []
    for f in dataclasses.fields(Recipe):
        if f.name in PREFIXES:
            cls = _plain(hints[f.name])
            sub = typing.get_type_hints(cls)
            options.extend(_option(f.name, g, _plain(sub[g.name])) for g in dataclasses.fields(cls))
        elif f.name in TOP_LEVEL:
            options.append(_option(None, f, _plain(hints[f.name])))
    # click lists a command's params in reverse order of attachment; this decorator is applied first.
    func.__click_params__ = getattr(func, "__click_params__", []) + options[::-1]
    return func


def merge_flags(base: dict, flags: dict) -> dict:
    """Recipe dict from the file (or empty) with the given flags laid over it."""
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for key, value in flags.items():
        if value is None:
            continue
        section, _, name = key.partition("__")
        if section == "recipe":
            merged[name] = value
        else:
            merged.setdefault(section, {})[name] = value
    return merged


@click.command(
    "compress",
    epilog=examples(
        "edgebert recipes list                                            # the shipped recipes",
        "edgebert compress --recipe fast-x86 --out compressed/fast",
        "edgebert compress --prune-heads-ratio 0.5 --distill-steps 200 --out compressed/heads",
        "edgebert compress --recipe fast-x86 --distill-teacher ./teacher --out compressed/t   # any teacher, same labels",
        "edgebert compress --model ./my-bert --dataset reviews.csv --recipe my-recipe.toml",
        "edgebert compress --task token-classification --recipe fast-x86 --out compressed/ner   # the default NER model",
    ),
)
@model_option
@click.option(
    "--recipe",
    "-r",
    "recipe_path",
    type=click.Path(),
    default=None,
    help="A shipped recipe's name (`edgebert recipes list`) or a recipe TOML file; flags override it.",
)
@click.option(
    "--out", "-o", type=click.Path(), default=None, help="Model directory to write (default: compressed/<recipe name>)."
)
@click.option(
    "--dataset",
    type=click.Path(),
    default=None,
    help="CSV or JSONL of labelled texts (token classification: CoNLL-style or JSONL tokens/tags), split 80/10/10 "
    "into train/dev/test (default: the task's data).",
)
@click.option("--text-column", default="text", show_default=True)
@click.option("--label-column", default="label", show_default=True)
@click.option(
    "--force",
    is_flag=True,
    help="Replace an earlier edgebert output at --out (never other files, the working directory or an input).",
)
@task_option
@recipe_options
@verbosity_options
def command(model, recipe_path, out, dataset, text_column, label_column, force, task, **flags) -> None:
    """Compress a model with a recipe: prune, share, distil, and choose quantization for export.

    Stages are off unless the recipe has their table or one of their flags is given. A sentence-embedding model
    (`--task sentence-embedding`, or a sentence-transformers --model) is distilled on its own embeddings of unlabelled
    texts; its heads and FFN neurons need `--prune-importance activation`. A token classifier (`--task
    token-classification`: the default NER model, or a *ForTokenClassification --model with a token --dataset) is
    pruned and distilled per word on tagged sentences.
    """
    from edgebert.bundle import read_manifest
    from edgebert.compress.recipe import compress_model

    base = load_recipe_dict(recipe_path) if recipe_path else {}
    recipe = recipe_from_dict(merge_flags(base, flags), f"recipe {recipe_path}" if recipe_path else "recipe")
    from edgebert.bench.table import progress_bars

    with progress_bars(err_console if verbosity() > QUIET else _silent()) as progress:  # the library reports steps
        path = compress_model(
            model,
            recipe,
            out,
            dataset=dataset,
            text_column=text_column,
            label_column=label_column,
            force=force,
            log=log,
            progress=progress,
            task=task,
        )
    render(read_manifest(path))
    console.print(f"[green]wrote[/] {path}")


def _silent():
    from rich.console import Console

    return Console(quiet=True)  # -q: the distillation bar draws nowhere


def _pct(v) -> str:
    return "—" if v is None else f"{v:.2%}"


def render(manifest: dict) -> None:
    from rich.table import Table

    table = Table(title=f"compress: {manifest['recipe'].get('name', '')}", show_lines=False)
    # A sentence-embedding model's dev quality is its mean cosine to the teacher (compress/embedding.py).
    # A token classifier's is its dev entity F1 (compress/tagging.py), shown as a percentage like accuracy.
    metric = manifest.get("dev_metric", "dev_accuracy")
    fmt = _pct if metric in ("dev_accuracy", "dev_entity_f1") else (lambda v: "—" if v is None else f"{v:.4f}")
    for col in (
        "stage",
        "parameters",
        f"MACs/token @{manifest['macs_seq_len']}",
        "sparsity",
        metric.replace("_", " "),
        "seconds",
    ):
        table.add_column(col, justify="left" if col == "stage" else "right")
    src = manifest["source"]
    table.add_row("source", f"{src['parameters']:,}", f"{src['macs_per_token']:,}", "", fmt(src.get(metric)), "")
    for s in manifest["stages"]:
        if "params_after" not in s:
            continue  # stages from before compress (e.g. the default model's training)
        table.add_row(
            s["stage"],
            f"{s['params_after']:,}",
            f"{s['macs_per_token_after']:,}",
            f"{s['sparsity_after']:.1%}",
            fmt(s.get(f"{metric}_after")),
            f"{s['seconds']:.0f}",
        )
    console.print(table)
    ratio = src["macs_per_token"] / manifest["macs_per_token"] if manifest["macs_per_token"] else float("nan")
    console.print(
        f"{src['parameters'] / manifest['parameters']:.2f}× fewer parameters, {ratio:.2f}× fewer MACs per token"
        + (
            f"; export will apply {manifest['quantization']['mode']} quantization"
            if manifest.get("quantization", {}).get("mode", "none") != "none"
            else ""
        )
    )
