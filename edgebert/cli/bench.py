"""`edgebert bench`: time, measure and score a bundle (or several, interleaved) on this machine. Imports no torch."""

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
    task_option,
    verbosity,
    verbosity_options,
)
from edgebert.errors import UserError


def parse_ints(text: str, option: str) -> list[int]:
    """'1,8' → [1, 8]; anything else is a one-line error naming the option."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"{option} takes comma-separated whole numbers such as 1,8; got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise UserError(f"{option} takes comma-separated whole numbers >= 1 such as 1,8; got {text!r}")
    return values


@click.command(
    "bench",
    epilog=examples(
        "edgebert bench bundles/x86                                # synthetic inputs: batch 1 and 8 × 32 and max tokens",
        "edgebert bench bundles/x86 --real --out results/x86.json  # also the evaluation split at its true lengths",
        "edgebert bench bundles/x86 --batch-sizes 1 --seq-lens 64 --min-time 5 --threads 2",
        "edgebert bench bundles/fp32 bundles/int8 --interleave --real --batch-sizes 1 --out-dir results/",
        "edgebert bench bundles/x86 --json -q > results/x86.json",
    ),
)
@click.argument("bundles", nargs=-1, required=True, type=click.Path())
@click.option(
    "--interleave",
    is_flag=True,
    help="Time several bundles in one process, round-robin on the same inputs, "
    "and print each one's ratio to the first with a 95% bootstrap interval.",
)
@click.option("--batch-sizes", default="1,8", show_default=True, help="Comma-separated batch sizes.")
@click.option(
    "--seq-lens",
    default=None,
    help="Comma-separated synthetic sequence lengths [default: 32 and the bundle's max length].",
)
@click.option(
    "--real", is_flag=True, help="Also time the evaluation split at its true token lengths (dynamic padding)."
)
@click.option(
    "--sort-by-length/--no-sort-by-length",
    default=True,
    show_default=True,
    help="With --real: batch texts of similar length.",
)
@click.option("--warmup", default=10, show_default=True, type=int, help="Untimed calls before each configuration.")
@click.option(
    "--iterations",
    type=int,
    default=None,
    help="Timed calls (rounds with --interleave) per configuration [default: 100; one pass of the split with --real].",
)
@click.option(
    "--min-time",
    "min_time",
    type=float,
    default=None,
    help="Instead of --iterations: time each configuration for this many seconds.",
)
@click.option("--threads", type=int, default=None, help="Intra-op threads [default: the bundle target's setting].")
@click.option(
    "--dataset",
    type=click.Path(),
    default=None,
    help="CSV or JSONL of labelled texts to score [default: the bundle's eval.jsonl].",
)
@click.option("--text-column", default="text", show_default=True)
@click.option("--label-column", default="label", show_default=True)
@click.option(
    "--out",
    "-o",
    type=click.Path(),
    default=None,
    help="Write the results JSON document here (one bundle; missing directories are created).",
)
@click.option(
    "--out-dir", type=click.Path(), default=None, help="With --interleave: write one results document per bundle here."
)
@click.option(
    "--quiet-wait",
    type=float,
    default=60.0,
    show_default=True,
    help="With --interleave: seconds in all to wait for other processes to quieten before redoing busy rounds.",
)
@click.option(
    "--trust-torchscript",
    is_flag=True,
    help="Load a TorchScript bundle: TorchScript is code, so only from a source you trust.",
)
@task_option
@json_option
@verbosity_options
def command(
    bundles,
    interleave,
    batch_sizes,
    seq_lens,
    real,
    sort_by_length,
    warmup,
    iterations,
    min_time,
    threads,
    dataset,
    text_column,
    label_column,
    out,
    out_dir,
    quiet_wait,
    trust_torchscript,
    task,
    as_json,
) -> None:
    """Benchmark a bundle on this machine: cold start, latency, memory, size, accuracy, and the fraction of the
    machine's GEMM peak; or several bundles side by side with --interleave.

    Cold start (session creation, tokenizer load, the first call) is recorded apart from the steady state, which
    is timed after --warmup untimed calls. Needs only the base install (no torch).
    """
    import contextlib

    from edgebert.bench.table import progress_bars, render

    if iterations is not None and min_time is not None:
        raise UserError("pass either --iterations or --min-time, not both")
    if task is not None:
        from edgebert.task_types import resolve

        for b in bundles:  # a bundle of another task: one line before anything is loaded
            resolve(b, task)
    common = dict(
        batch_sizes=parse_ints(batch_sizes, "--batch-sizes"),
        seq_lens=parse_ints(seq_lens, "--seq-lens") if seq_lens is not None else None,
        real=real,
        sort_by_length=sort_by_length,
        warmup=warmup,
        iterations=iterations,
        threads=threads,
        dataset=dataset,
        text_column=text_column,
        label_column=label_column,
        log=log,
        trust_torchscript=trust_torchscript,
    )
    bars = progress_bars(err_console) if verbosity() > QUIET else contextlib.nullcontext(None)
    shown = err_console if as_json else console
    if not interleave:
        if len(bundles) > 1:
            raise UserError(
                f"{len(bundles)} bundles given: pass --interleave to time them side by side, or bench one at a time"
            )
        if out_dir is not None:
            raise UserError("--out-dir is for --interleave; with one bundle use --out FILE")
        from edgebert.bench.runner import bench_bundle

        with bars as progress:
            doc = bench_bundle(bundles[0], min_time_s=min_time, out=out, progress=progress, **common)
        if as_json:
            echo_json(doc)
        else:
            render(doc, console)
        if out is not None:
            shown.print(f"[green]wrote[/] {out}")
        return
    if min_time is not None:
        raise UserError(
            "--min-time does not apply with --interleave (every bundle gets the same rounds); use --iterations"
        )
    if out is not None:
        raise UserError("--out names one file; with --interleave use --out-dir DIR (one results document per bundle)")
    from edgebert.bench.interleave import bench_interleaved, output_names
    from edgebert.bench.table import render_interleaved

    with bars as progress:
        docs = bench_interleaved(bundles, out_dir=out_dir, quiet_wait_s=quiet_wait, progress=progress, **common)
    if as_json:
        echo_json(docs)
    else:
        render_interleaved(docs, console)
    if out_dir is not None:
        for name in output_names(bundles):
            shown.print(f"[green]wrote[/] {out_dir.rstrip('/')}/{name}")
