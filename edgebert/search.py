"""`edgebert run`: from a model to the fastest bundle for a target that stays inside an accuracy budget.

Each trial is compress → export → bench, with its recipe drawn by Optuna's multi-objective TPE sampler over
(latency, accuracy, size). Recipes are *chosen* on the dev split — bench scores every trial's bundle on it — and
the test split is only what export validates parity on and what the final report shows. The study lives in an
Optuna RDB storage (SQLite file in the run directory by default), so a run resumes where it stopped and several
machines can work on one study. Every trial keeps its model, bundle and bench results in `trials/NNN/`.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from edgebert import bundle, cpu, data
from edgebert.config import dumps_toml
from edgebert.errors import EdgebertError, UserError, require
from edgebert.targets import Target, load_target

Log = Callable[[str], None]
FINAL_RESERVE_S = 90  # benching the chosen bundle and both baselines on the test split, and writing the report
TRIAL_TAIL_S = 60  # a trial's export (with parity) and dev-split bench, after its distillation
MIN_TRIAL_S = 150  # no trial starts with less time than this left: it could not distil long enough to be useful

# Starting points tried first, measured on the default task (2 cores, see README "Results"): 4 of 6 layers, half the
# FFN neurons and a quarter of the heads, distilled for 1000 steps, ran ~2x faster than plain int8 and stayed within
# 0.3 test points of fp32 for two seeds. Cutting half the heads was as fast but less steady (-0.4 and -2.2 points);
# 500 steps lost ~2 points. Distillation is most of a trial (~5 minutes for 1000 steps): a 12-minute run fits ~two.
SEED_TRIALS = (
    {"layers_kept": 4, "heads_ratio": 0.25, "ffn_ratio": 0.5, "distill_steps": 1000, "quantization": "dynamic-per-channel"},
    {"layers_kept": 4, "heads_ratio": 0.5, "ffn_ratio": 0.5, "distill_steps": 1000, "quantization": "dynamic-per-channel"},
)


@dataclass(frozen=True)
class SearchSpace:
    layers_kept: tuple[int, ...] = (6, 4, 3)
    heads_ratio: tuple[float, ...] = (0.0, 0.25, 0.5)
    ffn_ratio: tuple[float, ...] = (0.0, 0.25, 0.5)
    distill_steps: tuple[int, ...] = (0, 300, 500, 1000)
    quantization: tuple[str, ...] = ("dynamic-per-channel", "dynamic-per-tensor", "static-qdq")


@dataclass(frozen=True)
class RunConfig:
    target: str
    model: str | None = None
    dataset: str | None = None
    text_column: str = "text"
    label_column: str = "label"
    max_accuracy_drop: float = 1.0  # points of dev accuracy below the fp32 bundle
    budget_minutes: float = 12.0  # the whole run: baselines, trials and the final bench
    trials: int = 4
    storage: str | None = None
    out: str = "runs/default"
    max_length: int = 128
    bench_iterations: int = 50
    study_name: str | None = None

    def __post_init__(self) -> None:
        if self.trials < 1:
            raise ValueError(f"--trials must be at least 1, got {self.trials}")
        if not self.budget_minutes > 0:
            raise ValueError(f"--budget-minutes must be more than 0, got {self.budget_minutes}")
        if not 0 <= self.max_accuracy_drop <= 100:
            raise ValueError(f"--max-accuracy-drop is in points (0-100), got {self.max_accuracy_drop}")


def recipe_for(params: dict[str, Any], num_layers: int, seed: int = 0) -> dict[str, Any]:
    """The compress recipe a trial's parameters stand for."""
    q = params["quantization"]
    recipe: dict[str, Any] = {"name": "trial", "seed": seed, "max_length": 64}
    layers_ratio = round(1 - params["layers_kept"] / num_layers, 6) if params["layers_kept"] < num_layers else 0.0
    if layers_ratio or params["heads_ratio"] or params["ffn_ratio"]:
        recipe["prune_structured"] = {"heads_ratio": params["heads_ratio"], "ffn_ratio": params["ffn_ratio"], "layers_ratio": layers_ratio}
    if params["distill_steps"]:
        recipe["distill"] = {"steps": params["distill_steps"], "learning_rate": 2e-4}
    recipe["quantize"] = {
        "dynamic-per-channel": {"mode": "dynamic", "per_channel": True},
        "dynamic-per-tensor": {"mode": "dynamic", "per_channel": False},
        "static-qdq": {"mode": "static", "format": "QDQ", "activation_type": "int8", "weight_type": "int8"},
    }[q]
    return recipe


class Search:
    """One run directory: baselines, the study, the trials, the choice and the report."""

    def __init__(self, config: RunConfig, log: Log | None = None, progress=None):
        self.config = config
        self.log = log or (lambda msg: None)
        self.progress = progress
        self.out = Path(config.out).absolute()
        self.target: Target = load_target(config.target)
        self.started = time.time()
        self.unbounded = False  # set when the budget is spent before any trial finished: one trial runs regardless
        self.proxy = self.target.arch not in ("any", cpu.machine()) or "CUDAExecutionProvider" in self.target.runtime.execution_providers

    # -- set-up ---------------------------------------------------------------------------------------------
    def prepare(self) -> None:
        from edgebert.export.exporter import resolve_model_dir

        bundle.prepare_run_dir(self.out, [self.config.model, self.config.dataset])  # parents created; inputs protected
        self.model_dir = resolve_model_dir(self.config.model, self.log)
        self.dev_file = self._write_dev_split()
        from edgebert.models import read_config

        cfg = read_config(self.model_dir)
        self.num_layers = int(cfg.get("num_hidden_layers") or cfg.get("n_layers"))

    def _write_dev_split(self) -> Path:
        """The dev split as JSONL: what every trial's accuracy is measured on (never the test split)."""
        from edgebert.compress.recipe import resolve_data

        splits, _ = resolve_data(self.model_dir, self.config.dataset, self.config.text_column, self.config.label_column)
        if splits is None:
            raise UserError(f"{self.model_dir} is not an edgebert task model; pass --dataset FILE with labelled texts")
        self.splits = splits
        path = self.out / "dev.jsonl"
        splits["dev"].to_jsonl(path)
        return path

    def _export(self, model_dir: Path, out: Path, quantization=None) -> Path:
        from edgebert.export.exporter import export_bundle

        if (out / bundle.MANIFEST).is_file():
            return out  # resumed: already exported and validated
        dataset = None
        if self.config.dataset is not None:
            test = self.out / "test.jsonl"
            self.splits["test"].to_jsonl(test)
            dataset = test
        return export_bundle(self.target, model_dir, out, dataset=dataset, quantization=quantization, max_length=self.config.max_length,
                             force=True)

    def _bench(self, bundle_dir: Path, out: Path, dataset: Path | None) -> dict[str, Any]:
        from edgebert.bench.runner import bench_bundle

        if out.is_file():
            return json.loads(out.read_text())
        seq = min(128, int(bundle.read_manifest(bundle_dir)["tokenizer"]["max_length"]))
        return bench_bundle(bundle_dir, batch_sizes=(1,), seq_lens=(seq,), real=True, warmup=5,
                            iterations=self.config.bench_iterations, dataset=dataset, out=out,
                            trust_torchscript=True)  # bundles this run exported itself

    def baselines(self) -> dict[str, dict[str, Any]]:
        """The fp32 export and the plain int8 export of the unmodified model: what the search must beat."""
        from edgebert.targets import QuantizationSettings

        bundles, files = {}, {}
        for name, q in (("fp32", QuantizationSettings(mode="none")), ("int8", None)):
            d = self.out / "baselines" / name
            d.mkdir(parents=True, exist_ok=True)
            self.log(f"baseline {name}: export")
            bundles[name], files[name] = self._export(self.model_dir, d / "bundle", q), d / "dev-results.json"
        if not all(f.is_file() for f in files.values()):  # both timed together, interleaved: their ratio holds
            from edgebert.bench.interleave import bench_interleaved

            self.log("baselines: bench fp32 and int8 interleaved")
            seq = min(128, int(bundle.read_manifest(bundles["fp32"])["tokenizer"]["max_length"]))
            bench_interleaved(list(bundles.values()), batch_sizes=(1,), seq_lens=(seq,), real=True, warmup=5,
                              iterations=self.config.bench_iterations, dataset=self.dev_file, out_files=list(files.values()))
        out = {n: {"bundle": str(bundles[n]), "dev": json.loads(files[n].read_text())} for n in bundles}
        self.base = out
        return out

    def seconds_left(self) -> float | None:
        """Seconds of the run's budget left for trials (the final bench's reserve kept back); None: unbounded."""
        if self.unbounded:
            return None
        return self.config.budget_minutes * 60 - (time.time() - self.started) - FINAL_RESERVE_S

    # -- the study ------------------------------------------------------------------------------------------
    def study(self):
        optuna = require("optuna")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        url = self.config.storage or f"sqlite:///{self.out / 'study.db'}"
        name = self.config.study_name or f"edgebert-{self.target.name}"
        # SQLite: wait for a busy database instead of failing, so several local workers can share one file.
        engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
        attempts = 5
        for attempt in range(attempts):
            try:
                storage = optuna.storages.RDBStorage(url, engine_kwargs=engine)
                study = optuna.create_study(study_name=name, storage=storage, load_if_exists=True,
                                            directions=["minimize", "maximize", "minimize"],
                                            sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=len(SEED_TRIALS) + 1))
                break
            except Exception as exc:  # sqlalchemy/optuna raise many kinds for a bad URL or an unreachable server
                if isinstance(exc, EdgebertError):
                    raise
                # Two workers creating the same new database race on its schema (a table or the schema-version row
                # written twice); the loser retries and loads what the winner wrote.
                racing = any(s in str(exc) for s in ("already exists", "locked", "UNIQUE constraint failed", "duplicate key"))
                if not racing or attempt == attempts - 1:
                    raise UserError(f"cannot open the Optuna storage {url!r}: {str(exc).splitlines()[0][:160]}") from None
                time.sleep(0.5 + attempt)
        space = SearchSpace()
        for params in SEED_TRIALS:
            if params["layers_kept"] <= self.num_layers and all(params[k] in getattr(space, k) for k in params):
                study.enqueue_trial(params, skip_if_exists=True)
        return study

    def objective(self, trial) -> tuple[float, float, float]:
        space = SearchSpace()
        layers = tuple(n for n in space.layers_kept if n <= self.num_layers) or (self.num_layers,)
        params = {
            "layers_kept": trial.suggest_categorical("layers_kept", layers),
            "heads_ratio": trial.suggest_categorical("heads_ratio", space.heads_ratio),
            "ffn_ratio": trial.suggest_categorical("ffn_ratio", space.ffn_ratio),
            "distill_steps": trial.suggest_categorical("distill_steps", space.distill_steps),
            "quantization": trial.suggest_categorical("quantization", space.quantization),
        }
        recipe = recipe_for(params, self.num_layers)
        left = self.seconds_left()
        if "distill" in recipe and left is not None:
            # Distillation is most of a trial's time: bound it so the trial ends inside the run's budget. The
            # model's manifest records whether steps or minutes stopped it.
            recipe["distill"]["minutes"] = round(max(left - TRIAL_TAIL_S, 60) / 60, 2)
        d = self.out / "trials" / f"{trial.number:03d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / "recipe.toml").write_text(dumps_toml(recipe))
        trial.set_user_attr("dir", str(d))
        trial.set_user_attr("recipe", recipe)  # in the study itself: workers on other machines see it too
        self.log(f"trial {trial.number}: {params}")
        from edgebert.compress.recipe import compress_model

        started = time.time()
        model = d / "model"
        if not (model / bundle.MANIFEST).is_file():
            compress_model(self.model_dir, recipe, model, dataset=self.config.dataset, text_column=self.config.text_column,
                           label_column=self.config.label_column, force=True)
        b = self._export(model, d / "bundle")
        results = self._bench(b, d / "dev-results.json", self.dev_file)
        latency = real_p50(results)
        acc = results["accuracy"]["accuracy"]
        size = results["size"]["model_bytes"]
        manifest = bundle.read_manifest(model)
        trial.set_user_attr("macs_per_token", manifest.get("macs_per_token"))
        distilled = [st["result"]["steps_run"] for st in manifest.get("stages", []) if st.get("stage") == "distill"]
        if distilled:  # fewer than asked when the time bound stopped it
            trial.set_user_attr("distill_steps_run", distilled[-1])
        trial.set_user_attr("seconds", round(time.time() - started, 1))
        trial.set_user_attr("bundle", str(b))
        self.log(f"trial {trial.number}: {latency:.2f} ms (real lengths, batch 1), dev accuracy {acc:.2%}, {size / 1e6:.1f} MB")
        return latency, acc, float(size)

    def optimize(self, study) -> Any:
        optuna = require("optuna")
        done = [t for t in study.trials if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL)]
        remaining = self.config.trials - len(done)
        if remaining <= 0:
            self.log(f"the study already has {len(done)} finished trials; nothing left to run (raise --trials to run more)")
            return study
        # The budget covers the whole run: what the baselines used and the final bench's reserve come off it, but a
        # study with no finished trial always runs one, or there would be nothing to choose.
        left = self.seconds_left()
        if left < MIN_TRIAL_S and not [t for t in done if t.state == optuna.trial.TrialState.COMPLETE]:
            remaining, left = 1, None
            self.unbounded = True
        elif left < MIN_TRIAL_S:
            self.log("the time budget is spent; reporting the trials the study has")
            return study
        self.log(f"running up to {remaining} trials" + (f" within {left / 60:.1f} minutes" if left else ""))
        # Failed trials are recorded with their error (Optuna's fail_reason) and the search goes on.
        callbacks = [optuna.study.MaxTrialsCallback(self.config.trials, states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL))]
        if self.progress is not None:
            callbacks.append(lambda study, trial: self.progress(trial))
        study.optimize(self.objective, n_trials=remaining, timeout=max(left - MIN_TRIAL_S, 1.0) if left else None,
                       catch=(EdgebertError, RuntimeError, ValueError), callbacks=callbacks)
        return study


def real_p50(results: dict[str, Any]) -> float:
    rows = [r for r in results["latency"] if r["mode"] == "real" and r["batch_size"] == 1]
    return float(rows[0]["p50_ms"])


@dataclass(frozen=True)
class Choice:
    trial: int | None
    params: dict[str, Any]
    latency_ms: float
    accuracy: float
    size_bytes: float
    bundle: str
    within_budget: bool
    recipe: dict[str, Any] | None = None


def choose(study, fp32_accuracy: float, max_drop_points: float) -> tuple[Choice | None, list[Choice]]:
    """(the fastest completed trial within the accuracy budget, the Pareto front). Without one: the closest."""
    optuna = require("optuna")
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        return None, []
    floor = fp32_accuracy - max_drop_points / 100 - 1e-9

    def as_choice(t) -> Choice:
        lat, acc, size = t.values
        return Choice(t.number, dict(t.params), lat, acc, size, t.user_attrs.get("bundle", ""), acc >= floor, t.user_attrs.get("recipe"))

    front = sorted((as_choice(t) for t in study.best_trials), key=lambda c: c.latency_ms)
    inside = [as_choice(t) for t in done if t.values[1] >= floor]
    if inside:
        return min(inside, key=lambda c: c.latency_ms), front
    return max((as_choice(t) for t in done), key=lambda c: c.accuracy), front


def choice_dict(c: Choice | None) -> dict[str, Any] | None:
    return dataclasses.asdict(c) if c is not None else None


def dev_dataset_digest(path: Path) -> str:
    return data.dataset_digest(data.load_dataset(path))


class BudgetNotMet(EdgebertError):
    """No trial stayed inside the accuracy budget (the report names the closest)."""

    exit_code = 1


def run_search(config: RunConfig, log: Log | None = None, progress=None) -> dict[str, Any]:
    """The whole `edgebert run`: baselines, search, choice, final test-split bench, report. Returns the summary."""
    log = log or (lambda msg: None)
    search = Search(config, log, progress)
    search.prepare()
    study = search.study()  # a bad storage URL fails here, before minutes of baselines
    base = search.baselines()
    fp32_dev = base["fp32"]["dev"]["accuracy"]["accuracy"]
    study = search.optimize(study)
    best, front = choose(study, fp32_dev, config.max_accuracy_drop)
    from edgebert.run_report import final_report

    summary = final_report(search, study, best, front)
    if best is None:
        raise BudgetNotMet(f"no trial finished (see {summary['report_md']}); raise --budget-minutes or --trials")
    if not best.within_budget:
        raise BudgetNotMet(
            f"no trial stayed within {config.max_accuracy_drop:g} points of fp32 dev accuracy {fp32_dev:.2%}; the closest, "
            f"trial {best.trial}, reached {best.accuracy:.2%} (report: {summary['report_md']})"
        )
    return summary
