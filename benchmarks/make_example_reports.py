"""Regenerate example.md and example.html, and the results JSON they are built from, by real runs.

    python benchmarks/make_example_reports.py       # the default task model; about half an hour on 2 cores
    python -m benchmarks.publish build/example-reports    # copies its reports/ into reports/

Three bundles of one model for one target, exported and then benched one after the other on this machine:
fp32, dynamic int8 (the target's quantization settings), and fp32 after structured pruning (half of the heads and
FFN neurons, importance measured by gradients, then a short distillation from the unpruned model). Nothing in the
reports is typed by hand: every figure is read from example-results/*.json, written by this run, and each
report names the command that regenerates it. `--quick` is a smoke run (few calls) written to a temp directory.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import click

from edgebert.errors import EdgebertError

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never the hub: every model here is a local directory
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _log(message: str) -> None:
    click.echo(f"· {message}", err=True)


def build_bundles(
    model: str | None, dataset: str | None, target: str, work: Path, prune: float, distill_steps: int, max_length: int
) -> dict[str, Path]:
    """fp32, int8 and pruned-fp32 bundles of one model, for one target, under `work`."""
    from edgebert.compress.recipe import compress_model
    from edgebert.export.exporter import export_bundle
    from edgebert.targets import QuantizationSettings

    fp32 = QuantizationSettings(mode="none")
    recipe = {"name": "pruned", "prune_structured": {"heads_ratio": prune, "ffn_ratio": prune}}
    if distill_steps:
        recipe["distill"] = {"steps": distill_steps}
    _log(f"compressing: {recipe}")
    pruned_model = compress_model(model, recipe, work / "pruned-model", dataset=dataset, log=_log)
    bundles = {}
    for name, source, quantization in (("fp32", model, fp32), ("int8", model, None), ("pruned", pruned_model, fp32)):
        _log(f"exporting {name} for {target}")
        bundles[name] = export_bundle(
            target,
            source,
            work / "bundles" / name,
            dataset=dataset,
            quantization=quantization,
            max_length=max_length,
            log=_log,
        )
    return bundles


def bench(name: str, bundle: Path, out_dir: Path, iterations: int, dataset: str | None) -> Path:
    """`edgebert bench` in a fresh process: this one holds torch and the models it compressed and exported, which
    would count in the bundle's peak memory. One bundle after the other: the same machine, minutes apart."""
    _log(f"benching {name}")
    out_dir.mkdir(exist_ok=True)
    doc_path = out_dir / f"{name}.json"
    args = [
        "bench",
        str(bundle),
        "--batch-sizes",
        "1,8",
        "--real",
        "--warmup",
        "10",
        "--iterations",
        str(iterations),
        "--out",
        str(doc_path),
    ] + (["--dataset", dataset] if dataset else [])
    proc = subprocess.run([sys.executable, "-c", "from edgebert.cli import main; main()", *args], stdout=sys.stderr)
    if proc.returncode != 0:
        raise EdgebertError(f"edgebert bench {bundle} failed (exit {proc.returncode}); see its message above")
    return doc_path


@click.command()
@click.option("--model", default=None, help="Model directory [default: the default task model].")
@click.option("--dataset", default=None, help="CSV/JSONL of labelled texts [default: the model's task data].")
@click.option(
    "--target", default="x86-avx512-vnni", show_default=True, help="Target the three bundles are exported for."
)
@click.option("--prune", default=0.5, show_default=True, type=float, help="Fraction of heads and FFN neurons removed.")
@click.option(
    "--distill-steps", default=100, show_default=True, type=int, help="Distillation steps after pruning (0: none)."
)
@click.option("--max-length", default=128, show_default=True, type=int, help="Tokens per text the bundles keep.")
@click.option("--iterations", default=100, show_default=True, type=int, help="Timed calls per workload.")
@click.option(
    "--work",
    "work",
    default="build/example-reports",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Work directory (emptied first): bundles, results, and reports/ for benchmarks.publish.",
)
@click.option("--quick", is_flag=True, help="Smoke run: 5 calls per workload, written to a temp directory.")
def main(model, dataset, target, prune, distill_steps, max_length, iterations, work, quick) -> None:
    from edgebert.report import render_report, write_text_atomic

    command = shlex.join(["python", "benchmarks/make_example_reports.py", *sys.argv[1:]])
    if quick:
        iterations, distill_steps = 5, min(distill_steps, 5)
        work = tempfile.mkdtemp(prefix="edgebert-example-")
    # Bundles stay in the work dir (build/, git-ignored) so every figure can be re-measured.
    work = Path(work)
    out = work / "reports"
    try:
        if work.is_dir() and any(work.iterdir()) and not (work / "bundles").is_dir():
            raise EdgebertError(f"--work {work} holds files this script did not write; choose another directory")
        shutil.rmtree(work, ignore_errors=True)  # a previous run's work directory: its figures are replaced
        (work / "bundles").mkdir(parents=True)
        out.mkdir()
        try:
            bundles = build_bundles(model, dataset, target, work, prune, distill_steps, max_length)
            results = [bench(name, path, work / "results", iterations, dataset) for name, path in bundles.items()]
            kept = out / "example-results"
            kept.mkdir(exist_ok=True)
            for r in results:
                write_text_atomic(kept / r.name, r.read_text())
            kept_paths = [kept / r.name for r in results]
            for fmt, name in (("md", "example.md"), ("html", "example.html")):
                write_text_atomic(out / name, render_report(kept_paths, fmt, command=command))
                _log(f"wrote {out / name}")
            _log(f"publish with: python -m benchmarks.publish {work}")
        finally:
            if quick:  # a smoke run keeps its reports (to look at), not its bundles
                shutil.rmtree(work / "bundles", ignore_errors=True)
    except EdgebertError as exc:
        click.echo(f"error: {str(exc).splitlines()[0]}", err=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
