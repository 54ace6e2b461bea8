"""`edgebert predict`: label texts with a bundle. Base install only (onnxruntime + tokenizers + numpy): what a Pi
uses to serve or to spot-check a bundle."""

from __future__ import annotations

import json
import sys

import click

from edgebert.cli.common import console, echo_json, examples, verbosity_options
from edgebert.errors import UserError


def read_texts(source: str, text_column: str) -> list[str]:
    """Texts from a file or stdin ('-'): one per line, or JSONL objects with a `text_column` field (or strings)."""
    try:
        raw = sys.stdin.read() if source == "-" else open(source, encoding="utf-8").read()
    except FileNotFoundError:
        raise UserError(
            f"--input {source} does not exist; pass a text file (one text per line), JSONL, or - for stdin"
        ) from None
    except (IsADirectoryError, UnicodeDecodeError) as exc:
        raise UserError(
            f"cannot read --input {source} as UTF-8 text ({type(exc).__name__}); pass a text or JSONL file"
        ) from None
    lines = [line for line in raw.splitlines() if line.strip()]
    if source.endswith(".jsonl") or (lines and all(line.lstrip().startswith(("{", '"')) for line in lines)):
        return [_jsonl_text(line, i + 1, source, text_column) for i, line in enumerate(lines)]
    return lines


def _jsonl_text(line: str, number: int, source: str, text_column: str) -> str:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{source} line {number} is not JSON ({exc.msg}); give one JSON object or string per line"
        ) from None
    if isinstance(value, dict):
        value = value.get(text_column)
    if not isinstance(value, str):
        raise UserError(f"{source} line {number} has no string {text_column!r} field; pass --text-column NAME")
    return value


@click.command(
    "predict",
    epilog=examples(
        "edgebert predict bundles/x86 --input reviews.txt              # one text per line → a table",
        "echo 'a warm, funny film' | edgebert predict bundles/x86 --format jsonl",
        "edgebert predict bundles/x86 --input eval.jsonl --text-column review --json > predictions.json",
    ),
)
@click.argument("bundle", type=click.Path())
@click.option(
    "--input",
    "-i",
    "source",
    default="-",
    show_default=True,
    help="Texts: a file with one per line, a JSONL file (objects with --text-column, or strings), or - for stdin.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "jsonl"]),
    default="table",
    show_default=True,
    help="table for people; json (one array) or jsonl (one object per line) for programs.",
)
@click.option("--json", "as_json", is_flag=True, help="The same as --format json.")
@click.option("--text-column", default="text", show_default=True, help="The field holding the text in JSONL input.")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1, 4096))
@click.option(
    "--threads", type=click.IntRange(0), default=None, help="Intra-op threads [default: the bundle target's setting]."
)
@verbosity_options
def command(bundle, source, fmt, as_json, text_column, batch_size, threads) -> None:
    """Label texts with a bundle: the label and the probability of every label, per text.

    The bundle's sha256s are verified first. Each result has text, label, score (the label's probability) and
    scores (every label's).
    """
    from edgebert.predictor import load

    texts = read_texts(source, text_column)
    predictor = load(bundle, threads=threads)
    results = predictor.predict(texts, batch_size=batch_size)
    fmt = "json" if as_json else fmt
    if fmt == "json":
        echo_json([r.to_dict() for r in results])
    elif fmt == "jsonl":
        for r in results:
            click.echo(json.dumps(r.to_dict(), ensure_ascii=False))
    else:
        from rich.table import Table

        table = Table(title=f"{bundle}: {len(results)} texts")
        table.add_column("label")
        table.add_column("score", justify="right")
        table.add_column("text", overflow="fold")
        for r in results:
            table.add_row(r.label, f"{r.score:.3f}", r.text)
        console.print(table)
