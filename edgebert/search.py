"""`edgebert run`: from a model to the fastest bundle for a target that stays inside an accuracy budget, with stated
confidence.

Multi-fidelity: a trial first builds its *shape* (the structured pruning and quantization settings, no training),
exports and benches it — its latency is known in seconds, because distillation changes weights, not shapes. A
candidate already slower than a trial that meets the budget cannot win and stops there. Otherwise it is distilled,
and its dev accuracy at checkpoints goes to Optuna as intermediate values (points below fp32); the budget pruner
(`cannot_reach`) stops it when even its last learning rate, kept up to its last step, would not bring it inside the
budget. Seeds (the shipped recipes, search_space.py) run first, cheapest first; Optuna's TPE sampler proposes the
rest, minimizing latency with the accuracy budget as its constraint.

The choice is a statement about unseen data: a candidate meets the budget only when the one-sided 90 % upper bound
of its accuracy drop against fp32, from a paired bootstrap over the dev texts (search_stats.py), is inside it. The
test split is touched only at the end, to report the chosen bundle's drop with its interval. The study lives in an
Optuna RDB storage (SQLite in the run directory by default, PostgreSQL to share it between machines; search_storage.py)
and records what it was made for, so a resumed run with another target, model, dataset or space is refused.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgebert import bundle, cpu, data
from edgebert.errors import EdgebertError, UserError, require
from edgebert.search_choice import choose, trial_rows
from edgebert.search_space import SearchSpace, recipe_for, shipped_seeds
from edgebert.search_stats import CONFIDENCE, budget_pruner, cannot_reach, paired_drop
from edgebert.search_storage import check_identity, mask_url, open_study, scrub
from edgebert.targets import Target, load_target

Log = Callable[[str], None]
FINAL_RESERVE_S = 90  # benching the chosen bundle and both baselines on the test split, and writing the report
TRIAL_TAIL_S = 60  # a trial's export (with parity) and dev-split bench, after its distillation
MIN_TRIAL_S = 90  # no trial starts with less time than this left: its shape alone (prune, export, bench) takes that
CHECKPOINTS = 4  # accuracy checkpoints per distillation (the last one is the finished model)


@dataclass(frozen=True)
class RunConfig:
    target: str
    model: str | None = None
    dataset: str | None = None
    text_column: str = "text"
    label_column: str = "label"
    max_accuracy_drop: float = 1.0  # points below fp32 that the 90 % bound of the dev drop may reach
    budget_minutes: float = 12.0  # the whole run: baselines, trials and the final bench
    trials: int = 12
    storage: str | None = None
    out: str = "runs/default"
    max_length: int = 128
    bench_iterations: int = 50
    study_name: str | None = None
    seed: int = 0  # pruning samples, distillation batches, the sampler, the bootstrap (the data splits stay fixed)
    recipes: str | None = None  # directory of recipe files that seed the study (default: the shipped recipes)

    def __post_init__(self) -> None:
        if self.trials < 1:
            raise ValueError(f"--trials must be at least 1, got {self.trials}")
        if not self.budget_minutes > 0:
            raise ValueError(f"--budget-minutes must be more than 0, got {self.budget_minutes}")
        if not 0 <= self.max_accuracy_drop <= 100:
            raise ValueError(f"--max-accuracy-drop is in points (0-100), got {self.max_accuracy_drop}")
        if self.seed < 0:
            raise ValueError(f"--seed must be 0 or more, got {self.seed}")


def real_p50(results: dict[str, Any]) -> float:
    rows = [r for r in results["latency"] if r["mode"] == "real" and r["batch_size"] == 1]
    return float(rows[0]["p50_ms"])


def correct_on(bundle_dir: Path, texts: data.LabelledTexts, cache: Path) -> np.ndarray:
    """Per-text correctness of a bundle (what the paired bootstrap resamples), cached beside its results."""
    if cache.is_file():
        return np.asarray(json.loads(cache.read_text()), dtype=bool)
    from edgebert.bench.accuracy import label2id
    from edgebert.runtime import Encoder, make_runner, predict_logits

    manifest = bundle.read_manifest(bundle_dir)
    preds = predict_logits(
        make_runner(Path(bundle_dir), manifest), Encoder(Path(bundle_dir), manifest), texts.texts
    ).argmax(1)
    correct = preds == texts.label_ids(label2id(manifest))
    write_json_atomic(cache, [int(c) for c in correct])
    return correct


def write_json_atomic(path: Path, value: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value) + "\n")
    tmp.replace(path)


class Search:
    """One run directory: baselines, the study, the trials; `run_search` chooses and reports."""

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
        self.storage_url = config.storage or f"sqlite:///{self.out / 'study.db'}"
        self.study_name = config.study_name or f"edgebert-{self.target.name}"

    # -- set-up ---------------------------------------------------------------------------------------------
    def prepare(self) -> None:
        from edgebert.compress.recipe import resolve_data
        from edgebert.export.exporter import resolve_model_dir
        from edgebert.models import read_config, weights_file

        bundle.prepare_run_dir(self.out, [self.config.model, self.config.dataset])  # parents created; inputs protected
        self.model_dir = resolve_model_dir(self.config.model, self.log)
        splits, _ = resolve_data(self.model_dir, self.config.dataset, self.config.text_column, self.config.label_column)
        if splits is None:
            raise UserError(f"{self.model_dir} is not an edgebert task model; pass --dataset FILE with labelled texts")
        self.splits = splits
        cfg = read_config(self.model_dir)
        self.num_layers = int(cfg.get("num_hidden_layers") or cfg.get("n_layers"))
        if self.config.recipes is not None and not Path(self.config.recipes).is_dir():
            raise UserError(f"--recipes {self.config.recipes} is not a directory of recipe .toml files")
        seeds, notes = shipped_seeds(self.num_layers, Path(self.config.recipes) if self.config.recipes else None)
        for note in notes:
            self.log(note)
        self.seeds = seeds
        self.space = SearchSpace.for_model(self.num_layers, [p for _, p in seeds])
        self.identity = {
            "target": self.target.name,
            "model_sha256": bundle.sha256_file(weights_file(self.model_dir)),
            "dataset_sha256": "+".join(data.dataset_digest(splits[k])[:16] for k in ("train", "dev", "test")),
            "space_sha256": self.space.digest(),
        }
        # The run directory holds baselines and trials made for one identity: re-running it with other inputs would
        # report old evidence under new names, whatever storage the study is in.
        record = self.out / "identity.json"
        if record.is_file():
            check_identity(_Stored(json.loads(record.read_text())), self.identity, f"run directory {self.out}")
        self.out.mkdir(exist_ok=True)
        if not record.is_file():
            write_json_atomic(record, self.identity)
        self.dev_file = self.out / "dev.jsonl"
        if not self.dev_file.is_file():
            splits["dev"].to_jsonl(self.dev_file)
        self.started = (
            time.time()
        )  # the budget starts here: training the default model on first use is not the search's
        # One standard error of dev accuracy: how far one checkpoint's figure can move by chance.
        self.noise_points = 100 * float(np.sqrt(0.25 / max(len(splits["dev"]), 1)))

    def _export(self, model_dir: Path, out: Path, quantization=None) -> Path:
        from edgebert.export.exporter import export_bundle

        if (out / bundle.MANIFEST).is_file():
            return out  # resumed: already exported and validated
        dataset = None
        if self.config.dataset is not None:
            dataset = self.out / "test.jsonl"
            if not dataset.is_file():
                self.splits["test"].to_jsonl(dataset)
        return export_bundle(
            self.target,
            model_dir,
            out,
            dataset=dataset,
            quantization=quantization,
            max_length=self.config.max_length,
            force=True,
        )

    def bench(self, bundle_dir: Path, out: Path, dataset: Path | None) -> dict[str, Any]:
        from edgebert.bench.runner import bench_bundle

        if out.is_file():
            return json.loads(out.read_text())
        seq = min(128, int(bundle.read_manifest(bundle_dir)["tokenizer"]["max_length"]))
        return bench_bundle(
            bundle_dir,
            batch_sizes=(1,),
            seq_lens=(seq,),
            real=True,
            warmup=5,
            iterations=self.config.bench_iterations,
            dataset=dataset,
            out=out,
            trust_torchscript=True,
        )  # bundles this run exported itself

    def bench_together(self, named: dict[str, str], paths: dict[str, Path], dataset: Path | None) -> None:
        """Bench `named` bundles interleaved round by round (edgebert.bench.interleave), so their ratios are measured
        side by side; skipped when every results file already holds its bundle (a resumed run)."""
        from edgebert.bench.interleave import bench_interleaved

        if all(
            paths[n].is_file() and json.loads(paths[n].read_text())["bundle"]["path"] == str(Path(b).absolute())
            for n, b in named.items()
        ):
            return
        seq = min(128, int(bundle.read_manifest(Path(next(iter(named.values()))))["tokenizer"]["max_length"]))
        bench_interleaved(
            list(named.values()),
            batch_sizes=(1,),
            seq_lens=(seq,),
            real=True,
            warmup=5,
            iterations=self.config.bench_iterations,
            dataset=dataset,
            out_files=[paths[n] for n in named],
            log=self.log,
            trust_torchscript=True,
        )

    def baselines(self) -> dict[str, dict[str, Any]]:
        """The fp32 export and the plain int8 export of the unmodified model: what the search must beat."""
        from edgebert.targets import QuantizationSettings

        named, paths = {}, {}
        for name, q in (("fp32", QuantizationSettings(mode="none")), ("int8", None)):
            d = self.out / "baselines" / name
            d.mkdir(parents=True, exist_ok=True)
            self.log(f"baseline {name}: export")
            named[name], paths[name] = str(self._export(self.model_dir, d / "bundle", q)), d / "dev-results.json"
        self.log("baselines: bench on dev, interleaved")
        self.bench_together(named, paths, self.dev_file)
        out = {name: {"bundle": named[name], "dev": json.loads(paths[name].read_text())} for name in named}
        self.base = out
        self.fp32_dev_correct = correct_on(
            Path(out["fp32"]["bundle"]), self.splits["dev"], self.out / "baselines" / "fp32" / "dev-correct.json"
        )
        return out

    def seconds_left(self) -> float | None:
        """Seconds of the run's budget left for trials (the final bench's reserve kept back); None: unbounded."""
        if self.unbounded:
            return None
        return self.config.budget_minutes * 60 - (time.time() - self.started) - FINAL_RESERVE_S

    # -- the study ------------------------------------------------------------------------------------------
    def study(self):
        optuna = require("optuna")
        budget = self.config.max_accuracy_drop

        study = open_study(
            self.storage_url,
            self.study_name,
            lambda: optuna.samplers.TPESampler(seed=self.config.seed, n_startup_trials=len(self.seeds) + 2),
            lambda: budget_pruner(budget, self.noise_points),
        )
        check_identity(study, self.identity, f"study {self.study_name!r} in {self.storage_url}")
        requeue_interrupted(study)
        room = self.config.trials - sum(counts(t) for t in study.trials)  # a finished study gets no new work
        for name, params in self.seeds[: max(room, 0)]:
            study.enqueue_trial(params, user_attrs={"seed_recipe": name}, skip_if_exists=True)
        return study

    def _fastest_meeting(self, study, number: int) -> tuple[int, float] | None:
        """(trial, latency) of the fastest finished trial whose bound meets the budget (another worker's too)."""
        best = None
        for t in study.get_trials(deepcopy=False):
            upper = t.user_attrs.get("upper_points")
            if (
                t.number != number
                and t.state.name == "COMPLETE"
                and upper is not None
                and upper <= self.config.max_accuracy_drop + 1e-9
            ):
                if best is None or t.values[0] < best[1]:
                    best = (t.number, t.values[0])
        return best

    def objective(self, trial) -> float:
        try:
            return self._trial(trial)
        except (EdgebertError, RuntimeError, ValueError) as exc:  # recorded in the study (Optuna 5 keeps no reason)
            trial.set_user_attr("error", (str(exc).splitlines() or [type(exc).__name__])[0][:300])
            raise
        except KeyboardInterrupt:
            # Optuna records the trial as failed; marked, it does not count toward --trials, and its parameters go
            # back into the study, so another worker (or this one, resumed) runs it: an interrupted trial is not lost.
            trial.set_user_attr("interrupted", True)
            raise

    def _trial(self, trial) -> float:
        from edgebert.compress.recipe import compress_model

        name = trial.user_attrs.get("seed_recipe")
        twins = [
            t.number
            for t in trial.study.get_trials(deepcopy=False)
            if t.number < trial.number
            and name
            and t.user_attrs.get("seed_recipe") == name
            and counts(t)
            and "duplicate_of" not in t.user_attrs
        ]
        if twins:  # two workers opening a new study both enqueued the seeds: the later copy stops at once
            trial.set_user_attr("duplicate_of", twins[0])
            self._stop(trial, 0, {}, f"a duplicate of trial {twins[0]} (the same seed, enqueued by another worker)")
        params = self.space.suggest(trial)
        recipe = recipe_for(params, self.num_layers, seed=self.config.seed)
        d = self.out / "trials" / f"{trial.number:03d}"
        d.mkdir(parents=True, exist_ok=True)
        trial.set_user_attr("dir", str(d))
        trial.set_user_attr("recipe", recipe)  # in the study itself: workers on other machines see it too
        trial.set_user_attr("planned_steps", params["distill_steps"])
        self.log(f"trial {trial.number}: {params}")
        started = time.time()
        kw = {
            "dataset": self.config.dataset,
            "text_column": self.config.text_column,
            "label_column": self.config.label_column,
            "force": True,
        }
        # 1. The shape, untrained: its latency is the candidate's, whatever distillation later does to its weights.
        shape_recipe = {k: v for k, v in recipe.items() if k != "distill"}
        if not (d / "shape-model" / bundle.MANIFEST).is_file():
            compress_model(self.model_dir, shape_recipe, d / "shape-model", **kw)
        shape_bundle = self._export(d / "shape-model", d / "shape-bundle")
        shape_results = self.bench(shape_bundle, d / "shape-dev-results.json", self.dev_file)
        latency = real_p50(shape_results)
        accuracy = bundle.read_manifest(d / "shape-model")["accuracy"]
        reference = accuracy["dev_source"]  # the unpruned model, same texts, same max_length: the checkpoints' zero
        trial.set_user_attr("shape_latency_ms", latency)
        seen = {
            0: 100 * (reference - accuracy["dev"])
        }  # {steps run: dev points below fp32}: this trial's learning curve
        trial.report(seen[0], 0)
        self.log(
            f"trial {trial.number}: shape {latency:.2f} ms before training, dev accuracy {accuracy['dev']:.2%} untrained"
        )
        rival = self._fastest_meeting(trial.study, trial.number)
        if rival is not None and latency >= rival[1]:
            self._stop(
                trial,
                0,
                seen,
                f"stopped before training: its shape ({latency:.2f} ms) is no faster than trial {rival[0]} "
                f"({rival[1]:.2f} ms), which already meets the budget",
            )
        final_model, final_bundle, results = d / "shape-model", shape_bundle, shape_results
        steps_run = 0
        if params["distill_steps"]:
            # 2. Distillation from the unpruned model, checked at checkpoints against the budget.
            left = self.seconds_left()
            distil = dict(recipe["distill"], teacher=str(self.model_dir))
            if left is not None:  # bounded so the trial ends inside the run's budget; the manifest says what stopped it
                distil["minutes"] = round(max(left - TRIAL_TAIL_S, 30) / 60, 2)
            trial.set_user_attr(
                "recipe",
                dict(recipe, distill=dict(recipe["distill"], **{k: distil[k] for k in ("minutes",) if k in distil})),
            )

            def checkpoint(step: int, acc: float | None) -> None:
                if acc is None:
                    return
                seen[step] = 100 * (reference - acc)
                trial.report(seen[step], step)
                if trial.should_prune():
                    why = cannot_reach(seen, params["distill_steps"], self.config.max_accuracy_drop, self.noise_points)
                    self._stop(trial, step, seen, why or f"stopped at step {step} by the pruner")

            final_model = d / "model"
            if not (final_model / bundle.MANIFEST).is_file():
                compress_model(
                    d / "shape-model",
                    {k: v for k, v in recipe.items() if k != "prune_structured"} | {"distill": distil},
                    final_model,
                    checkpoint=checkpoint,
                    checkpoint_every=max(1, params["distill_steps"] // CHECKPOINTS),
                    **kw,
                )
            final_bundle = self._export(final_model, d / "bundle")
            results = self.bench(final_bundle, d / "dev-results.json", self.dev_file)
            ran = [
                st["result"]["steps_run"]
                for st in bundle.read_manifest(final_model).get("stages", [])
                if st.get("stage") == "distill"
            ]
            steps_run = ran[-1] if ran else 0
        # 3. Full fidelity: the bundle's accuracy, paired against fp32 on the same dev texts.
        correct = correct_on(final_bundle, self.splits["dev"], d / f"{final_bundle.name}-dev-correct.json")
        drop = paired_drop(self.fp32_dev_correct, correct, seed=self.config.seed)
        manifest = bundle.read_manifest(final_model)
        # TPE keeps to the feasible side: a trial is feasible when its bound is inside the budget (constraint <= 0).
        trial.set_constraint("accuracy_bound", drop.upper_points - self.config.max_accuracy_drop)
        trial.set_user_attr("steps_run", steps_run)
        trial.set_user_attr("accuracy", results["accuracy"]["accuracy"])
        trial.set_user_attr("drop_points", drop.drop_points)
        trial.set_user_attr("upper_points", drop.upper_points)
        trial.set_user_attr("dev_size", drop.n)
        trial.set_user_attr("size_bytes", results["size"]["model_bytes"])
        trial.set_user_attr("macs_per_token", manifest.get("macs_per_token"))
        trial.set_user_attr(
            "results", str(d / ("dev-results.json" if params["distill_steps"] else "shape-dev-results.json"))
        )
        trial.set_user_attr("bundle", str(final_bundle))
        trial.set_user_attr("seconds", round(time.time() - started, 1))
        latency = real_p50(results)
        self.log(
            f"trial {trial.number}: {latency:.2f} ms (real lengths, batch 1), dev accuracy {results['accuracy']['accuracy']:.2%}, "
            f"{drop.drop_points:+.2f} points vs fp32 (90 % bound {drop.upper_points:+.2f})"
        )
        return latency

    def _stop(self, trial, step: int, curve: dict[int, float], why: str) -> None:
        optuna = require("optuna")
        if step:  # stopped while learning: its last checkpoint is what the sampler learns from (not a slower shape)
            trial.set_constraint("accuracy_bound", curve[max(curve)] - self.config.max_accuracy_drop)
        trial.set_user_attr("pruned_reason", why)
        trial.set_user_attr("pruned_at_step", step)
        self.log(f"trial {trial.number}: {why}")
        raise optuna.TrialPruned(why)

    def optimize(self, study) -> Any:
        optuna = require("optuna")
        done = [t for t in study.trials if counts(t)]
        # Queued trials (seeds, an interrupted trial's re-run) are owed whatever the count: they were queued within it.
        waiting = len(waiting_trials(study))
        remaining = max(self.config.trials - len(done), waiting)
        if remaining <= 0:
            self.log(
                f"the study already has {len(done)} finished trials; nothing left to run (raise --trials to run more)"
            )
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

        def enough(study, trial) -> None:  # every worker stops once the study as a whole has --trials finished
            requeue_interrupted(study)  # another worker's Ctrl-C: its trial is picked up here
            if sum(counts(t) for t in study.get_trials(deepcopy=False)) >= self.config.trials and not waiting_trials(
                study
            ):
                study.stop()

        callbacks = [enough]
        if self.progress is not None:
            callbacks.append(lambda study, trial: self.progress(trial))
        # Failed trials are recorded with their error (Optuna's fail_reason) and the search goes on.
        # No trial count per worker: `enough` stops every worker when the study is done (other workers' trials count).
        study.optimize(
            self.objective,
            n_trials=1 if self.unbounded else None,
            timeout=max(left - MIN_TRIAL_S, 1.0) if left else None,
            catch=(EdgebertError, RuntimeError, ValueError),
            callbacks=callbacks,
        )
        return study


def waiting_trials(study) -> list:
    """Queued trials (seeds, re-runs of interrupted trials) still waiting for a worker."""
    return [t for t in study.get_trials(deepcopy=False) if t.state.name == "WAITING"]


def interrupted(t) -> bool:
    """Stopped by Ctrl-C inside its objective (marked there). A Ctrl-C between two trials can leave the trial Optuna
    had just taken from the queue unmarked: it is not re-run (a known limit)."""
    return t.state.name == "FAIL" and bool(t.user_attrs.get("interrupted"))


def requeue_interrupted(study) -> None:
    """Queue again every interrupted trial that has no re-run yet: an interrupted trial is never lost."""
    trials = study.get_trials(deepcopy=False)
    owed = {t.user_attrs.get("rerun_of") for t in trials}
    for t in trials:
        params = dict(t.params) or dict(t.system_attrs.get("fixed_params") or {})
        if interrupted(t) and t.number not in owed and params:
            attrs = {k: t.user_attrs[k] for k in ("seed_recipe",) if k in t.user_attrs}
            study.enqueue_trial(params, user_attrs=attrs | {"rerun_of": t.number})


def counts(t) -> bool:
    """Whether a trial counts toward --trials: finished, stopped, or failed by itself (not interrupted, not a duplicate)."""
    if "duplicate_of" in t.user_attrs:
        return False
    return t.state.name in ("COMPLETE", "PRUNED") or (t.state.name == "FAIL" and not interrupted(t))


class _Stored:
    """A run directory's identity record, shaped like the study attribute check_identity reads."""

    def __init__(self, identity: dict[str, Any]):
        from edgebert.search_storage import IDENTITY_KEY

        self.user_attrs, self.trials = {IDENTITY_KEY: identity}, []


class BudgetNotMet(EdgebertError):
    """No trial stayed inside the accuracy budget with the stated confidence (the report names the closest)."""

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
    summary: dict[str, Any] = {
        "target": search.target.name,
        "proxy_latency": search.proxy,
        "max_accuracy_drop_points": search.config.max_accuracy_drop,
        "confidence": CONFIDENCE,
        "seed": search.config.seed,
        "storage": mask_url(search.storage_url),
        "study": search.study_name,
        "identity": search.identity,
        "fp32_dev_accuracy": search.base["fp32"]["dev"]["accuracy"]["accuracy"],
        "dev_size": len(search.splits["dev"]),
        "test_size": len(search.splits["test"]),
        "seeds": [name for name, _ in search.seeds],
        "chosen": chosen,
        "closest": closest,
        "chosen_elsewhere": chosen is not None and not chosen_here,
        "trials": rows,
        "recipe": dumps_toml(chosen["recipe"]) if chosen is not None and chosen.get("recipe") else None,
        "test": {
            k: {
                "real_p50_ms": real_p50(v),
                "accuracy": v["accuracy"]["accuracy"],
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
        ref = correct_on(Path(bundles["fp32"]), search.splits["test"], final_dir / "fp32-test-correct.json")
        cand = correct_on(
            Path(bundles["chosen"]), search.splits["test"], final_dir / f"trial-{chosen['trial']:03d}-test-correct.json"
        )
        drop = paired_drop(ref, cand, seed=search.config.seed)
        summary["test_drop"] = {
            "drop_points": drop.drop_points,
            "interval_points": list(drop.interval_points),
            "upper_points": drop.upper_points,
            "n": drop.n,
            "within_budget": drop.drop_points <= search.config.max_accuracy_drop + 1e-9,
        }
        summary["speedup_vs_int8"] = t["int8"]["real_p50_ms"] / t["chosen"]["real_p50_ms"]
        summary["speedup_vs_fp32"] = t["fp32"]["real_p50_ms"] / t["chosen"]["real_p50_ms"]
    return summary


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
    chosen, closest = choose(rows, config.max_accuracy_drop)
    summary = finish(search, rows, chosen, closest)
    summary.update(write_report(summary, search.out))
    if chosen is None:
        if closest is None:
            raise BudgetNotMet(f"no trial finished (see {summary['report_md']}); raise --budget-minutes or --trials")
        undecided = [r["trial"] for r in rows if r.get("verdict") == "undecided"]
        raise BudgetNotMet(
            f"no trial is within {config.max_accuracy_drop:g} points of fp32 with {100 * CONFIDENCE:.0f} % confidence; the closest, "
            f"trial {closest['trial']} ({closest['latency_ms']:.2f} ms), is {closest['drop_points']:+.2f} points on dev "
            f"(bound {closest['upper_points']:+.2f})"
            + (f"; dev is too small to decide trials {undecided}" if undecided else "")
            + f" (report: {summary['report_md']})"
        )
    return summary
