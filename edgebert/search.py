"""`edgebert run`: from a model to the fastest bundle for a target that stays inside a budget on the task's primary
metric (accuracy, entity F1, Spearman on Lee; search_tasks.py), with stated confidence.

Multi-fidelity: a trial first builds its *shape* (the structured pruning and quantization settings, no training),
exports and benches it — its latency is known in seconds, because distillation changes weights, not shapes. A
candidate already slower than a trial that meets the budget cannot win and stops there. Otherwise it is distilled,
and its dev accuracy at checkpoints goes to Optuna as intermediate values (points below fp32); the budget pruner
(`cannot_reach`) stops it when even its last learning rate, kept up to its last step, would not bring it inside the
budget. Seeds (the shipped recipes, search_space.py) run first, cheapest first; Optuna's TPE sampler proposes the
rest, minimizing latency with the accuracy budget as its constraint.

The choice is a statement about unseen data: a candidate meets the budget only when the one-sided 90 % upper bound
of its metric's drop against fp32, from a paired bootstrap over the dev items (search_stats.py), is inside it. The
test split is touched only at the end, to report the chosen bundle's drop with its interval. The study lives in an
Optuna RDB storage (SQLite in the run directory by default, PostgreSQL to share it between machines; search_storage.py)
and records what it was made for, so a resumed run with another target, model, dataset or space is refused.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgebert import bundle, cpu, task_types
from edgebert.errors import EdgebertError, UserError
from edgebert.search_baselines import Baselines, real_p50, write_json_atomic
from edgebert.search_choice import choose, speed, trial_rows
from edgebert.search_space import SearchSpace, shipped_seeds
from edgebert.search_stats import CONFIDENCE, paired_drop
from edgebert.search_storage import check_identity, mask_url, scrub
from edgebert.search_study import Study
from edgebert.search_tasks import describe as describe_task
from edgebert.search_tasks import search_task
from edgebert.search_trial import Trials
from edgebert.targets import Target, load_target

Log = Callable[[str], None]
# The runoff on dev, benching the chosen bundle and both baselines on the test split, and writing the report: 45 s
# measured with two bundles on a slow 2-core machine (runoff 14 s, final bench and test statistics 31 s), kept with room.
FINAL_RESERVE_S = 75


@dataclass(frozen=True)
class RunConfig:
    target: str
    model: str | None = None
    dataset: str | None = None
    text_column: str = "text"
    label_column: str = "label"
    max_accuracy_drop: float = 1.0  # points of the task's primary metric below fp32 the 90 % bound may reach
    min_speedup: float = 1.0  # times faster than the plain int8 export on dev a trial must be to be chosen (0: any)
    budget_minutes: float = 14.0  # the whole run: baselines, trials and the final bench
    trials: int = 12
    storage: str | None = None
    out: str = "runs/default"
    max_length: int | None = None  # tokens per text in the bundles (None: the task's default for the model, as export)
    bench_iterations: int = 50
    study_name: str | None = None
    seed: int = 0  # pruning samples, distillation batches, the sampler, the bootstrap (the data splits stay fixed)
    recipes: str | None = None  # directory of recipe files that seed the study (default: the shipped recipes)
    task: str | None = None  # default: what the model directory says (task_types.resolve)

    def __post_init__(self) -> None:
        if self.trials < 1:
            raise ValueError(f"--trials must be at least 1, got {self.trials}")
        if not self.budget_minutes > 0:
            raise ValueError(f"--budget-minutes must be more than 0, got {self.budget_minutes}")
        if not 0 <= self.max_accuracy_drop <= 100:
            raise ValueError(f"--max-accuracy-drop is in points (0-100), got {self.max_accuracy_drop}")
        if not (self.min_speedup >= 0 and np.isfinite(self.min_speedup)):
            raise ValueError(f"--min-speedup is a ratio to the plain int8 export (0 or more), got {self.min_speedup}")
        if self.seed < 0:
            raise ValueError(f"--seed must be 0 or more, got {self.seed}")


class Search(Baselines, Study, Trials):
    """One run directory: baselines (search_baselines.py), the study (search_study.py), the trials (search_trial.py);
    `run_search` chooses and reports."""

    def __init__(self, config: RunConfig, log: Log | None = None, progress=None):
        self.config = config
        self.log = log or (lambda msg: None)
        self.progress = progress
        self.out = Path(config.out).absolute()
        self.target: Target = load_target(config.target)
        self.started = time.time()
        self.unbounded = False  # set when the budget is spent before any trial finished: one trial runs regardless
        self.proxy = (
            self.target.arch not in ("any", cpu.machine())
            or "CUDAExecutionProvider" in self.target.runtime.execution_providers
        )
        # Distillation in bf16 where the CPU multiplies bf16 in hardware (cpu.trains_in_bf16): the same steps in less
        # time, so more candidates fit the budget. Each trial's recipe records it.
        self.train_precision = "bf16" if cpu.trains_in_bf16() else "fp32"
        self.storage_url = config.storage or f"sqlite:///{self.out / 'study.db'}"
        self.study_name = config.study_name or f"edgebert-{self.target.name}"

    # -- set-up ---------------------------------------------------------------------------------------------
    def prepare(self) -> None:
        from edgebert.compress.recipe import COMPRESSIBLE_TASKS
        from edgebert.export.exporter import resolve_model_dir

        # Before the run dir exists: a --task that contradicts the model's head is one line, nothing written.
        self.kind = task_types.resolve(self.config.model, self.config.task)
        self.task = search_task(self.kind)
        if self.config.model is not None:  # a model directory the task cannot read is one line, nothing written
            self._model_facts(Path(self.config.model))
        bundle.prepare_run_dir(self.out, [self.config.model, self.config.dataset])  # parents created; inputs protected
        self.model_dir = resolve_model_dir(self.config.model, self.log, task=self.kind.name)
        self._model_facts(self.model_dir)
        # Resolved once for the whole run: every trial's compress_model gets it (self.data) and every export its
        # evaluation (self.task.evals), instead of re-reading them.
        self.task.load(self.model_dir, self.config, self.out)
        self.data, self.splits = self.task.data, self.task.splits
        if self.kind.name not in COMPRESSIBLE_TASKS:  # every task type today; a new one must be taught to compress
            raise UserError(f"compress does not support {self.kind.name} models, so run cannot search them")
        if self.config.recipes is not None and not Path(self.config.recipes).is_dir():
            raise UserError(f"--recipes {self.config.recipes} is not a directory of recipe .toml files")
        seeds, notes = shipped_seeds(
            self.num_layers, Path(self.config.recipes) if self.config.recipes else None, self.kind.name
        )
        for note in notes:
            self.log(note)
        self.seeds = seeds
        self.space = SearchSpace.for_model(self.num_layers, [p for _, p in seeds])
        self.identity = {
            "target": self.target.name,
            "model_sha256": bundle.sha256_file(self.weights),
            "dataset_sha256": self.task.digest(),
            "space_sha256": self.space.digest(),
        }
        if self.kind.name != task_types.DEFAULT:  # a classifier's identity stays what older run directories hold
            self.identity["task_type"] = self.kind.name
        # The run directory holds baselines and trials made for one identity: re-running it with other inputs would
        # report old evidence under new names, whatever storage the study is in.
        record = self.out / "identity.json"
        if record.is_file():
            check_identity(_Stored(json.loads(record.read_text())), self.identity, f"run directory {self.out}")
        self.out.mkdir(exist_ok=True)
        if not record.is_file():
            write_json_atomic(record, self.identity)
        self.dev_file = self.task.write_dev_file(self.out)
        self.started = (
            time.time()
        )  # the budget starts here: training the default model on first use is not the search's
        self.noise_points = self.task.noise_points()

    def _model_facts(self, model_dir: Path) -> None:
        """The weights the study is made for and the layer count its space spans."""
        from edgebert.models import read_config, weights_file

        if self.kind.name == task_types.SENTENCE_EMBEDDING:  # its encoder may sit in a module folder
            from edgebert.compress.embedding import source_weights

            self.weights = source_weights(model_dir)
        else:
            self.weights = weights_file(model_dir)
        cfg = read_config(self.weights.parent)
        self.num_layers = int(cfg.get("num_hidden_layers") or cfg.get("n_layers"))

    def seconds_left(self) -> float | None:
        """Seconds of the run's budget left for trials (the final bench's reserve kept back); None: unbounded."""
        if self.unbounded:
            return None
        return self.config.budget_minutes * 60 - (time.time() - self.started) - FINAL_RESERVE_S

    def spent_share(self) -> float | None:
        """The share of the run's budget spent so far (None: unbounded)."""
        if self.unbounded:
            return None
        return (time.time() - self.started) / (self.config.budget_minutes * 60)


class _Stored:
    """A run directory's identity record, shaped like the study attribute check_identity reads."""

    def __init__(self, identity: dict[str, Any]):
        from edgebert.search_storage import IDENTITY_KEY

        self.user_attrs, self.trials = {IDENTITY_KEY: identity}, []


class BudgetNotMet(EdgebertError):
    """No trial stayed inside the budget with the stated confidence (the report names the closest)."""

    exit_code = 1


def finish(
    search: Search, rows: list[dict[str, Any]], chosen: dict[str, Any] | None, closest: dict[str, Any] | None
) -> dict[str, Any]:
    """Bench both baselines and the chosen bundle on the test split (the first time it is used) and gather the summary:
    a plain, JSON-ready value that run_report renders."""
    from edgebert.config import dumps_toml

    out, log = search.out, search.log
    final_dir = out / "final"
    final_dir.mkdir(exist_ok=True)
    bundles = {"fp32": search.base["fp32"]["bundle"], "int8": search.base["int8"]["bundle"]}
    chosen_here = chosen is not None and (Path(chosen["bundle"]) / bundle.MANIFEST).is_file()
    if chosen_here:
        bundles["chosen"] = chosen["bundle"]
    paths = {name: final_dir / f"{name}.json" for name in bundles}
    log(f"final bench on the test split, interleaved: {', '.join(bundles)}")
    search.bench_together(bundles, paths, None)  # rebenches all when a later run chose another trial
    finals = {name: str(path) for name, path in paths.items()}
    results = {k: json.loads(Path(v).read_text()) for k, v in finals.items()}
    dev_metric = search.task.metric("dev")
    fp32_dev = float(dev_metric.points(search.fp32_dev_stats, np.arange(len(search.fp32_dev_stats))[None, :])[0])
    summary: dict[str, Any] = {
        "target": search.target.name,
        "proxy_latency": search.proxy,
        "max_accuracy_drop_points": search.config.max_accuracy_drop,
        "confidence": CONFIDENCE,
        "seed": search.config.seed,
        "storage": mask_url(search.storage_url),
        "study": search.study_name,
        "identity": search.identity,
        "metric": describe_task(search.kind, search.task),
        "fp32_dev_value": fp32_dev / 100,  # the primary metric on the dev items (a fraction, or a correlation)
        "dev_size": search.task.size("dev"),
        "test_size": search.task.size("test"),
        "seeds": [name for name, _ in search.seeds],
        "chosen": chosen,
        "closest": closest,
        "chosen_elsewhere": chosen is not None and not chosen_here,
        "trials": rows,
        "recipe": dumps_toml(chosen["recipe"]) if chosen is not None and chosen.get("recipe") else None,
        "test": {
            k: {
                "real_p50_ms": real_p50(v),
                "metric_value": task_types.primary_value(v["accuracy"]),
                "model_bytes": v["size"]["model_bytes"],
            }
            for k, v in results.items()
        },
        "files": {
            "final": finals,
            "dev": [str(out / "baselines" / n / "dev-results.json") for n in ("fp32", "int8")]
            + [
                r["results"]
                for r in rows
                if r["state"] == "COMPLETE" and r.get("results") and Path(r["results"]).is_file()
            ],
        },
    }
    if chosen_here:
        t = summary["test"]
        ref = search.task.stats(Path(bundles["fp32"]), "test", final_dir / "fp32-test-items.json")
        cand = search.task.stats(
            Path(bundles["chosen"]), "test", final_dir / f"trial-{chosen['trial']:03d}-test-items.json"
        )
        drop = paired_drop(ref, cand, search.task.metric("test"), seed=search.config.seed)
        summary["test_drop"] = {
            "drop_points": drop.drop_points,
            "fp32_value": _fraction(drop.reference_points),
            "chosen_value": _fraction(drop.candidate_points),
            "interval_points": list(drop.interval_points),
            "upper_points": drop.upper_points,
            "n": drop.n,
            "within_budget": drop.drop_points <= search.config.max_accuracy_drop + 1e-9,
        }
        summary["speedup_vs_int8"] = t["int8"]["real_p50_ms"] / t["chosen"]["real_p50_ms"]
        summary["speedup_vs_fp32"] = t["fp32"]["real_p50_ms"] / t["chosen"]["real_p50_ms"]
    return summary


def runoff(search: Search, rows: list[dict[str, Any]], int8_bundle: str | None) -> float | None:
    """Time the trials that meet the budget side by side on dev, with the plain int8 export (`int8_bundle`) they must
    beat, the same sample of dev texts each, round-robin; record each trial's p50 as `runoff_ms` (what choose() then ranks
    by) and return int8's (None: not run; NaN: int8 was not timed, `int8_bundle` being None). Each trial's own
    latency was timed alone and minutes apart; the choice between two candidates a few tenths of a millisecond apart
    needs them timed together. Skipped when one of them was another worker's and its bundle is not on this machine:
    times from two ways of measuring are not ranked against each other."""
    meeting = [r for r in rows if r.get("verdict") in ("chosen", "slower", "no faster")]
    if not meeting or not all(r.get("bundle") and (Path(r["bundle"]) / bundle.MANIFEST).is_file() for r in meeting):
        return None
    named = {f"trial-{r['trial']:03d}": r["bundle"] for r in meeting}
    if int8_bundle:
        named["int8"] = int8_bundle
    if len(named) < 2:
        return None
    paths = {name: search.out / "runoff" / f"{name}.json" for name in named}
    (search.out / "runoff").mkdir(exist_ok=True)
    search.log(f"runoff on dev, interleaved, the trials that meet the budget and plain int8: {', '.join(named)}")
    search.bench_together(named, paths, search.dev_file, runoff=True)
    for r, name in zip(meeting, named):
        r["runoff_ms"] = real_p50(json.loads(paths[name].read_text()))
    return real_p50(json.loads(paths["int8"].read_text())) if int8_bundle else float("nan")


def _fraction(points: float | None) -> float | None:
    return None if points is None else points / 100


def run_search(config: RunConfig, log: Log | None = None, progress=None) -> dict[str, Any]:
    """The whole `edgebert run`: baselines, search, choice, final test-split bench, report. Returns the summary."""
    from edgebert.run_report import write_report

    log = log or (lambda msg: None)
    search = Search(config, log, progress)
    try:
        search.prepare()
        study = (
            search.study()
        )  # a bad storage URL or a study made for other inputs fails here, before minutes of baselines
        search.baselines()
        study = search.optimize(study)
        rows = trial_rows(study)
    except EdgebertError:
        raise
    except Exception as exc:  # the database went away mid-run: one line, password masked
        if type(exc).__module__.split(".")[0] not in ("sqlalchemy", "psycopg2", "optuna"):
            raise
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise UserError(
            scrub(f"the Optuna storage {search.storage_url!r} failed: {first[:200]}", search.storage_url)
        ) from None
    rival = config.min_speedup > 0  # a trial must beat the plain int8 export (by this much)
    int8_ms = real_p50(search.base["int8"]["dev"]) if rival else None  # timed with fp32 first, alone as each trial
    budget, items = config.max_accuracy_drop, search.task.items
    chosen, closest = choose(rows, budget, items, int8_ms, config.min_speedup)
    timed = runoff(search, rows, search.base["int8"]["bundle"] if rival else None)
    if timed is not None:
        int8_ms = timed if rival else None
        chosen, closest = choose(rows, budget, items, int8_ms, config.min_speedup)
    summary = finish(search, rows, chosen, closest)
    summary.update(write_report(summary, search.out))
    if chosen is None:
        undecided = undecided_note(rows)
        if closest is None:
            raise BudgetNotMet(f"no trial finished (see {summary['report_md']}); raise --budget-minutes or --trials")
        if closest.get("verdict") == "no faster":
            times = "" if config.min_speedup == 1 else f"{config.min_speedup:g}x "
            raise BudgetNotMet(
                f"no trial inside the budget is {times}faster than the plain int8 export "
                f"({int8_ms:.2f} ms on dev); the fastest, trial {closest['trial']}, took {speed(closest):.2f} ms: use "
                f"the plain int8 export (edgebert export --target {search.target.name}) or lower --min-speedup"
                f"{undecided} (report: {summary['report_md']})"
            )
        raise BudgetNotMet(
            f"no trial is within {config.max_accuracy_drop:g} {search.task.unit} of fp32 with {100 * CONFIDENCE:.0f} % "
            f"confidence; the closest, "
            f"trial {closest['trial']} ({closest['latency_ms']:.2f} ms), is {closest['drop_points']:+.2f} points on dev "
            f"(bound {closest['upper_points']:+.2f})" + f"{undecided} (report: {summary['report_md']})"
        )
    return summary


def undecided_note(rows: list[dict[str, Any]]) -> str:
    """The trials whose drop on dev is inside the budget but whose bound is not ("; dev is too small to decide trial 8
    (+0.00 points, bound +1.10)"), or "": a run that exits 1 says which candidates a larger dev split might pass."""
    undecided = [r for r in rows if r.get("verdict") == "undecided"]
    if not undecided:
        return ""
    named = ", ".join(
        f"{r['trial']} ({r['drop_points']:+.2f} points, bound {r['upper_points']:+.2f})" for r in undecided
    )
    return f"; dev is too small to decide trial{'s' if len(undecided) > 1 else ''} {named}"
