"""`python -m benchmarks.peers`: edgebert against Optimum and PyTorch on the same model, in the same run.

Builds every variant from one local model directory, feeds all of them the same tokenized inputs, times them
round-robin, measures each one's memory in its own process and the machine's GEMM limit, and writes peers.md and
peers.json to WORK_DIR/reports/ (every raw timing in WORK_DIR/peers-samples.json); `python -m benchmarks.publish
WORK_DIR` copies them into reports/. `--quick` is the CI smoke run: few iterations, a small slice of the test split,
a temp work directory.

`--tasks` picks the models: classification (the default task model against Optimum and PyTorch), embedding
(all-MiniLM-L6-v2 against sentence-transformers' ONNX backend and Optimum, embedding.py) and ner (the default NER model
against Optimum, ner.py). Each task's variants are timed round-robin against each other, one task after another.
"""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import click
import numpy as np

from edgebert.errors import DatasetError, EdgebertError

from benchmarks.publish import hint as publish_hint

# Never the hub: every model here is a local directory.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FULL = {
    "warmup": 10,
    "iterations": 100,
    "batch_iterations": 30,
    "real_texts": None,
    "gemm_iterations": 20,
    "probe_calls": 5,
    "threads": None,
    "distill_steps": None,
    "lee_resamples": 1000,
    "ner_timed": 1000,  # CoNLL-2003 test sentences timed at real lengths (of 3,453; ~1 min per 5 variants)
    "ner_scored": None,  # all 3,453 test sentences scored
    "task_eval_texts": None,  # edgebert's embedding/NER exports check parity on the whole test split
}
# Quick: a smoke run whose figures mean nothing. One thread, because two-thread PyTorch collapses on a busy
# 2-core CI machine (seconds per call) and the run must finish in a few minutes there.
QUICK = {
    "warmup": 1,
    "iterations": 4,
    "batch_iterations": 2,
    "real_texts": 32,
    "gemm_iterations": 3,
    "probe_calls": 1,
    "threads": 1,
    "distill_steps": 10,
    "lee_resamples": 100,
    "ner_timed": 16,
    "ner_scored": 64,
    "task_eval_texts": 64,
}
TASKS = ("classification", "embedding", "ner")
# edgebert's compressed bundles, built by default when no --compressed-bundle or --recipe is given: fast-x86 (what
# `edgebert run` seeds its study with) and fast-x86-augmented (the same shape, so the same speed, distilled 3x as long
# on augmented texts from the MPNet teacher; reports/recipe-seeds-fast-x86-augmented.md). --quick caps distillation
# and builds the first only (no teacher to fine-tune).
DEFAULT_RECIPES = [
    Path(__file__).resolve().parents[1] / "recipes" / f"{name}.toml" for name in ("fast-x86", "fast-x86-augmented")
]
# recipe file stem → the teacher it is distilled from here: all-mpnet-base-v2 fine-tuned on the task (89.8 % dev,
# 86.6 % test against MiniLM's ~83 / 82.5 %), built on first use by benchmarks/teacher.py (~40 minutes, then cached)
STRONG_TEACHER = {"fast-x86-augmented"}


def _teachers(recipes: list[Path]) -> dict[str, tuple[str, Callable[[], Path]]]:
    """The MPNet teacher for the recipes in STRONG_TEACHER. Its five packaged zip parts are checked now (a missing
    one is a one-line error before minutes of building); it is fine-tuned when the build reaches it."""
    wanted = [Path(r).stem for r in recipes if Path(r).stem in STRONG_TEACHER]
    if not wanted:
        return {}
    from benchmarks.teacher import mpnet_encoder_dir, mpnet_teacher_dir

    mpnet_encoder_dir()
    _log("fast-x86-augmented distils from all-mpnet-base-v2 fine-tuned on the task (~40 min on first use, cached)")
    return {stem: ("mpnet", mpnet_teacher_dir) for stem in wanted}


def _log(message: str) -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False).print(f"[dim]·[/] {message}")


def _model_dir(model: str | None) -> Path:
    if model is not None:
        return Path(model)
    from edgebert.tasks import default_model_dir

    _log("using the default task model (all-MiniLM-L6-v2 fine-tuned on Rotten Tomatoes)")
    return default_model_dir()


def _test_split(model_dir: Path, limit: int | None):
    """(first `limit` texts of the default task's test split, their label ids, the whole split).

    The model must predict the task's labels. The whole split fills the fixed-length rows and is what edgebert's
    exports check parity on (a 64-text slice is too small a sample for the int8 label-agreement gate).
    """
    import json

    from edgebert.models import read_config
    from edgebert.tasks import default_splits

    test = default_splits()["test"]
    labels = {str(v) for v in read_config(model_dir).get("id2label", {}).values()}
    if not set(test.labels) <= labels:
        raise DatasetError(
            f"{model_dir} predicts {sorted(labels)}, not the Rotten Tomatoes labels {sorted(set(test.labels))}; "
            "pass a model fine-tuned on the default task (or omit --model)"
        )
    label2id = {str(v): int(k) for k, v in json.loads((model_dir / "config.json").read_text())["id2label"].items()}
    full = test
    test = test.head(limit) if limit else test
    return test, test.label_ids(label2id), full


def run(
    model: str | None,
    out: Path,
    quick: bool,
    threads: int | None,
    compressed: list[Path],
    recipes: list[Path],
    variants_csv: str | None,
    gap_ms: float,
    keep: Path | None,
    settings: dict,
    wait_quiet_s: float = 0,
    tasks: tuple[str, ...] = TASKS,
) -> Path:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from edgebert import cpu
    from edgebert.bench.environment import CpuLoad

    from benchmarks.peers import build, limits, memory_probe, report, task_rows, timing
    from benchmarks.peers import embedding as task_embedding
    from benchmarks.peers import ner as task_ner
    from benchmarks.peers.runners import open_runner
    from benchmarks.peers.workload import build_workloads

    threads = threads or settings["threads"] or cpu.usable_cores()
    wanted = {s.strip() for s in variants_csv.split(",") if s.strip()} if variants_csv else None
    classify = "classification" in tasks
    if classify and not compressed and not recipes and settings.get("compressed", True) and wanted is None:
        recipes = DEFAULT_RECIPES[:1] if settings["distill_steps"] else DEFAULT_RECIPES
    from edgebert.bench.plan import check_bundle
    from edgebert.compress.recipe import load_recipe

    for bundle_dir in compressed:
        check_bundle(bundle_dir)  # a wrong path fails now, not after minutes of building
    for recipe in recipes:
        load_recipe(recipe)
    teachers = _teachers(recipes) if classify else {}
    started = time.time()
    if classify:
        model_dir = _model_dir(model)
        test, y, full_test = _test_split(model_dir, settings["real_texts"])
        workloads = build_workloads(model_dir, list(test.texts), list(full_test.texts))
    probe = CpuLoad()  # what other work does to the machine while this process sits idle for a second
    time.sleep(1.0)
    idle_load = probe.stop()
    gate = timing.QuietGate(budget_s=wait_quiet_s)
    phases = {"setup": time.time() - started}

    def phase(name: str) -> None:
        phases[name] = time.time() - started - sum(phases.values())

    with tempfile.TemporaryDirectory(prefix="peers-") as tmp:
        work = keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        sections = {}
        load = CpuLoad()
        for name, module in (("embedding", task_embedding), ("ner", task_ner)):
            if name not in tasks:
                continue
            section_variants = module.build_variants(work, _log, settings["task_eval_texts"])
            task_rows.check_tokenizers(section_variants, section_variants[0].model_dir)
            phase(f"{name}_build")
            sections[module.TASK] = module.measure(section_variants, settings, threads, gap_ms / 1e3, gate, _log)
            phase(f"{name}_timing_and_scoring")
        tasks_load = load.stop()
        if not classify:
            doc = report.base_document(
                command=command_line(),
                threads=threads,
                settings={
                    **settings,
                    "gap_ms": gap_ms,
                    "quick": quick,
                    "tasks": list(tasks),
                    "phases_s": {k: round(v, 1) for k, v in phases.items()},
                },
                loads={"before": idle_load, "during_timing": tasks_load, "quiet_gate": gate.to_dict()},
                seconds=time.time() - started,
            )
            return report.write({**doc, "tasks": sections}, out)
        eval_file = work / "eval.jsonl"
        full_test.to_jsonl(eval_file)
        variants = build.build_classification(
            model_dir, work, eval_file, compressed, recipes, wanted, _log, settings["distill_steps"], teachers
        )
        phase("build")
        task_rows.check_tokenizers(variants, model_dir)
        _log(f"loading {len(variants)} variants ({threads} threads each)")
        runners = {v.name: open_runner(v.spec, threads) for v in variants}
        _log("measuring onnxruntime's fp32 and int8 GEMM throughput (the machine's limit)")
        gemm = limits.measure_gemm_peak(threads, iterations=settings["gemm_iterations"])
        phase("load_and_gemm")
        rounds = {"b1-s128": settings["iterations"], "b8-s128": settings["batch_iterations"], "real-b1": len(test)}
        plan = [(workloads[name], n) for name, n in rounds.items()]
        latency, outputs = {}, {}
        load = CpuLoad()
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True
        ) as bar:
            for w, n in plan:
                _log(
                    f"timing {w.name}: {n} rounds of {len(runners)} variants ({time.time() - started:.0f} s into the run)"
                )
                task = bar.add_task(f"timing {w.name}", total=n * len(runners))
                stats, outs = timing.round_robin(
                    runners,
                    w,
                    n,
                    settings["warmup"],
                    gap_ms / 1e3,
                    keep_outputs=w.seq_len is None,
                    progress=lambda k, t=task: bar.update(t, advance=k),
                    gate=gate,
                )
                latency[w.name] = stats
                outputs.update(outs)
        timing_load = load.stop()
        phase("timing")
        del runners
        _log("measuring each variant's memory in its own process")
        npz = work / "b8.npz"
        np.savez(npz, **workloads["b8-s128"].calls[0])
        memory = {
            v.name: memory_probe.measure(v.spec.to_dict(), npz, threads, settings["probe_calls"]) for v in variants
        }
        phase("memory")
        macs = {}
        for d in {v.model_dir for v in variants}:
            counter = limits.MacCounter(d)
            macs[d] = {
                "shape": counter.shape,
                **{w.name: float(np.mean([counter.call(w.batch_size, s) for s in w.seq_lens(n)])) for w, n in plan},
            }
        doc = report.assemble(
            command=command_line(),
            variants=variants,
            latency=latency,
            outputs=outputs,
            labels=y,
            memory=memory,
            macs=macs,
            gemm=gemm,
            threads=threads,
            settings={
                **settings,
                "gap_ms": gap_ms,
                "quick": quick,
                "tasks": list(tasks),
                "real_texts": len(test),
                "plan": {w.name: n for w, n in plan},
                "phases_s": {k: round(v, 1) for k, v in phases.items()},
            },
            loads={"before": idle_load, "during_timing": timing_load, "quiet_gate": gate.to_dict()},
            model_dir=model_dir,
            seconds=time.time() - started,
        )
    return report.write({**doc, "tasks": sections}, out)


def command_line() -> str:
    return "python -m benchmarks.peers" + ("" if len(sys.argv) < 2 else " " + shlex.join(sys.argv[1:]))


@click.command()
@click.option(
    "--model", type=click.Path(), default=None, help="Local model directory (default: the default task model)."
)
@click.option(
    "--work",
    "out",
    type=click.Path(file_okay=False),
    default=None,
    help="Work directory: reports/peers.md and .json, peers-samples.json (default: build/peers; --quick: a temp dir).",
)
@click.option(
    "--quick", is_flag=True, help="Smoke run: few iterations, 32 test texts, 1 thread, a temp work directory."
)
@click.option(
    "--threads",
    type=click.IntRange(1, 256),
    default=None,
    help="Threads per variant (default: usable cores; 1 with --quick).",
)
@click.option(
    "--compressed-bundle",
    type=click.Path(),
    multiple=True,
    help="An edgebert bundle of a compressed model to include (repeatable).",
)
@click.option(
    "--recipe",
    type=click.Path(),
    multiple=True,
    help="Compress the model with this recipe, export for x86, include it (repeatable).",
)
@click.option(
    "--no-compressed",
    is_flag=True,
    help="Leave out the compressed bundles otherwise built with recipes/fast-x86{,-augmented}.toml (so does --variants).",
)
@click.option(
    "--variants", "variants_csv", default=None, help="Comma-separated variant names to run (eager fp32 always runs)."
)
@click.option(
    "--tasks",
    "tasks_csv",
    default=",".join(TASKS),
    show_default=True,
    help="Comma-separated: classification (the default task model), embedding (all-MiniLM-L6-v2 against "
    "sentence-transformers' ONNX backend and Optimum), ner (the default NER model against Optimum).",
)
@click.option("--iterations", type=click.IntRange(1), default=None, help="Timed rounds at batch 1 / seq 128.")
@click.option("--batch-iterations", type=click.IntRange(1), default=None, help="Timed rounds at batch 8 / seq 128.")
@click.option(
    "--real-texts", type=click.IntRange(8), default=None, help="Test texts for the real-length pass and accuracy."
)
@click.option("--warmup", type=click.IntRange(0), default=None, help="Untimed calls per variant before each workload.")
@click.option(
    "--gap-ms", type=click.FloatRange(0), default=2.0, show_default=True, help="Pause before each timed call."
)
@click.option(
    "--wait-quiet",
    type=click.FloatRange(0),
    default=0,
    show_default=True,
    help="Seconds, in all, to wait for other processes to quieten: timing blocks run while they were busy are redone.",
)
@click.option(
    "--keep-artifacts", type=click.Path(file_okay=False), default=None, help="Build the variants here and keep them."
)
def main(
    model,
    out,
    quick,
    threads,
    compressed_bundle,
    recipe,
    no_compressed,
    variants_csv,
    tasks_csv,
    iterations,
    batch_iterations,
    real_texts,
    warmup,
    gap_ms,
    wait_quiet,
    keep_artifacts,
) -> None:
    """Benchmark edgebert's bundles against Optimum and PyTorch on the same model, in one run."""
    import warnings

    warnings.filterwarnings("ignore")
    settings = dict(QUICK if quick else FULL, compressed=not no_compressed)
    for key, value in (
        ("iterations", iterations),
        ("batch_iterations", batch_iterations),
        ("real_texts", real_texts),
        ("warmup", warmup),
    ):
        if value is not None:
            settings[key] = value
    tasks = tuple(t for t in TASKS if t in {x.strip() for x in tasks_csv.split(",")})
    unknown = {x.strip() for x in tasks_csv.split(",")} - set(TASKS)
    if unknown or not tasks:
        click.echo(f"error: --tasks {tasks_csv!r}: choose one or more of {', '.join(TASKS)}, comma-separated", err=True)
        sys.exit(2)
    if variants_csv and "classification" not in tasks:
        click.echo("error: --variants picks classification variants; add classification to --tasks", err=True)
        sys.exit(2)
    if out is None:
        out = tempfile.mkdtemp(prefix="peers-quick-") if quick else "build/peers"
    try:
        path = run(
            model,
            Path(out),
            quick,
            threads,
            [Path(b) for b in compressed_bundle],
            [Path(r) for r in recipe],
            variants_csv,
            gap_ms,
            Path(keep_artifacts) if keep_artifacts else None,
            settings,
            wait_quiet,
            tasks,
        )
    except EdgebertError as exc:
        click.echo(f"error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("error: interrupted; nothing was written", err=True)
        sys.exit(130)
    click.echo(f"wrote {path / 'peers.md'} and {path / 'peers.json'}; {publish_hint(Path(out))}")


if __name__ == "__main__":
    main()
