"""`edgebert export`."""
from __future__ import annotations

import click

from edgebert.cli.common import console, log


@click.command("export")
@click.option("--target", "-t", required=True, help="Target name or alias (see `edgebert targets list`) or a .toml file.")
@click.option("--model", "-m", type=click.Path(), default=None, help="Local Hugging Face model directory (default: the default task model).")
@click.option("--format", "fmt", type=click.Choice(["onnx", "torchscript"]), default=None, help="Override the target's export format.")
@click.option("--out", "-o", type=click.Path(), default=None, help="Bundle directory to write (default: bundles/<target>-<format>-<precision>).")
@click.option("--dataset", type=click.Path(), default=None, help="CSV or JSONL of labelled evaluation texts (default: the task's test split).")
@click.option("--text-column", default="text", show_default=True)
@click.option("--label-column", default="label", show_default=True)
@click.option("--max-length", default=128, show_default=True, type=click.IntRange(8, 512), help="Tokens per text the bundle keeps.")
@click.option("--force", is_flag=True, help="Replace an earlier edgebert output at --out (never other files, the working directory or an input).")
def command(target, model, fmt, out, dataset, text_column, label_column, max_length, force) -> None:
    """Export a model to a validated bundle for one hardware target."""
    from edgebert.bundle import read_manifest
    from edgebert.export.exporter import export_bundle

    path = export_bundle(target, model, out, format=fmt, dataset=dataset, text_column=text_column, label_column=label_column,
                         max_length=max_length, force=force, log=log)
    m = read_manifest(path)
    p = m["parity"]
    console.print(f"[green]wrote[/] {path}  ({m['target']['name']}, {m['format']}, {m['precision']}; "
                  f"parity on {p['sentences']} sentences: agreement {p['label_agreement']:.2%}, max |Δlogit| {p['max_abs_logit_diff']:.3g})")
