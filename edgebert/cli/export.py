"""`edgebert export`."""

from __future__ import annotations

import click

from edgebert.cli.common import (
    console,
    echo_json,
    examples,
    json_option,
    log,
    model_option,
    target_option,
    task_option,
    verbosity_options,
)
from edgebert.export.exporter import PRECISION_CHOICES


@click.command(
    "export",
    epilog=examples(
        "edgebert export --target arm64                      # the default model → bundles/arm64-pi4-onnx-int8",
        "edgebert export --target arm64 --task sentence-embedding --out bundles/minilm-embed   # all-MiniLM-L6-v2",
        "edgebert export --target x86 --precision fp32 --out bundles/x86-fp32",
        "edgebert export --target x86 --model ./my-bert --dataset reviews.csv --text-column review --label-column stars",
        "edgebert export --target x86 --model compressed/fast --out bundles/fast --json",
    ),
)
@target_option
@model_option
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
    default=None,
    type=click.IntRange(8, 512),
    help="Tokens per text the bundle keeps [default: 128; a sentence-transformers model's max_seq_length].",
)
@task_option
@click.option(
    "--force",
    is_flag=True,
    help="Replace an earlier edgebert output at --out (never other files, the working directory or an input).",
)
@json_option
@verbosity_options
def command(
    target, model, fmt, precision, out, dataset, text_column, label_column, max_length, task, force, as_json
) -> None:
    """Export a model to a validated bundle for one hardware target.

    The bundle is also a Hugging Face model directory (config.json, tokenizer files, model.onnx): Optimum's
    ORTModelForSequenceClassification and transformers' pipeline() load it, and `edgebert predict` runs it.
    """
    from edgebert.bundle import read_manifest
    from edgebert.export.exporter import export_bundle

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
        task=task,
    )
    m = read_manifest(path)
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
    if "mean_cosine" in p:
        check = f"cosine to the source mean {p['mean_cosine']:.5f}, min {p['min_cosine']:.5f}"
    else:
        check = f"agreement {p['label_agreement']:.2%}, max |Δlogit| {p['max_abs_logit_diff']:.3g}"
    console.print(
        f"[green]wrote[/] {path}  ({m['target']['name']}, {m['format']}, {m['precision']}; "
        f"parity on {p['sentences']} sentences: {check})"
    )
