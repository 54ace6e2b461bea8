"""`edgebert export`."""

from __future__ import annotations

import click

from edgebert.cli.common import (
    QUIET,
    console,
    echo_json,
    err_console,
    examples,
    json_option,
    log,
    verbosity,
    verbosity_options,
)
from edgebert.errors import UserError
from edgebert.export.exporter import PRECISION_CHOICES


@click.command(
    "export",
    epilog=examples(
        "edgebert export --target arm64                      # the default model → bundles/arm64-pi4-onnx-int8",
        "edgebert export --target x86 --precision fp32 --out bundles/x86-fp32",
        "edgebert export --target x86 --model ./my-bert --dataset reviews.csv --text-column review --label-column stars",
        "edgebert export --target x86 --model compressed/fast --out bundles/fast --json",
    ),
)
@click.option(
    "--target", "-t", required=True, help="Target name or alias (see `edgebert targets list`) or a .toml file."
)
@click.option(
    "--model",
    "-m",
    type=click.Path(),
    default=None,
    help="Local Hugging Face model directory (default: the default task model).",
)
@click.option(
    "--task",
    type=click.Choice(["sequence-classification", "token-classification"]),
    default=None,
    help="What the model computes (default: read from the model; without --model, the sentiment classifier). "
    "token-classification without --model: the default NER model (MiniLM fine-tuned on CoNLL-2003).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["onnx", "torchscript"]),
    default=None,
    help="Override the target's export format.",
)
@click.option(
    "--precision",
    type=click.Choice(PRECISION_CHOICES),
    default=None,
    help="Override the target's (and a compress recipe's) precision: fp32, fp16 or int8.",
)
@click.option(
    "--out",
    "-o",
    type=click.Path(),
    default=None,
    help="Bundle directory to write (default: bundles/<target>-<format>-<precision>).",
)
@click.option(
    "--dataset",
    type=click.Path(),
    default=None,
    help="CSV or JSONL of labelled evaluation texts (default: the task's test split).",
)
@click.option("--text-column", default="text", show_default=True)
@click.option("--label-column", default="label", show_default=True)
@click.option(
    "--max-length",
    default=128,
    show_default=True,
    type=click.IntRange(8, 512),
    help="Tokens per text the bundle keeps.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace an earlier edgebert output at --out (never other files, the working directory or an input).",
)
@json_option
@verbosity_options
def command(
    target, model, task, fmt, precision, out, dataset, text_column, label_column, max_length, force, as_json
) -> None:
    """Export a model to a validated bundle for one hardware target.

    The bundle is also a Hugging Face model directory (config.json, tokenizer files, model.onnx): Optimum's
    ORTModelForSequenceClassification and transformers' pipeline() load it, and `edgebert predict` runs it.
    """
    from edgebert.bundle import read_manifest
    from edgebert.export.exporter import export_bundle
    from edgebert.export.ner import check_head, export_token_bundle, is_token_model

    if task == "sequence-classification" and model is not None and is_token_model(model):
        raise UserError(
            f"{model} is a token classifier (its config.json says so); --task sequence-classification contradicts "
            "its head: use --task token-classification (or drop --task)"
        )
    if task == "token-classification" and model is not None:
        check_head(model)
    if task == "token-classification" or (task is None and model is not None and is_token_model(model)):
        from rich.console import Console

        from edgebert.bench.table import progress_bars

        with progress_bars(err_console if verbosity() > QUIET else Console(quiet=True)) as progress:
            path = export_token_bundle(
                target,
                model,
                out,
                format=fmt,
                precision=precision,
                dataset=dataset,
                max_length=max_length,
                force=force,
                log=log,
                progress=progress,  # the default NER model's training, on first use
            )
        _print(path, read_manifest(path), as_json)
        return
    path = export_bundle(
        target,
        model,
        out,
        format=fmt,
        precision=precision,
        dataset=dataset,
        text_column=text_column,
        label_column=label_column,
        max_length=max_length,
        force=force,
        log=log,
    )
    _print(path, read_manifest(path), as_json)


def _print(path, m: dict, as_json: bool) -> None:
    p = m["parity"]
    if as_json:
        echo_json(
            {
                "bundle": str(path),
                "target": m["target"]["name"],
                "format": m["format"],
                "precision": m["precision"],
                "model_file": m["model_file"],
                "parity": p,
                "files": m["files"],
            }
        )
        return
    console.print(
        f"[green]wrote[/] {path}  ({m['target']['name']}, {m['format']}, {m['precision']}; "
        f"parity on {p['sentences']} sentences: agreement {p['label_agreement']:.2%}, max |Δlogit| {p['max_abs_logit_diff']:.3g})"
    )
