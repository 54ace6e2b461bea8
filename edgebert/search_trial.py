"""One trial: build its shape and bench it, distil it with checkpoints the budget pruner watches, then measure the drop
of the task's primary metric against fp32 with a paired bootstrap over the dev items (search_tasks.py).

`Trials` is a part of `search.Search`: `objective` is what the study optimizes.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable

import numpy as np

from edgebert import bundle
from edgebert.errors import EdgebertError, require
from edgebert.search_baselines import real_p50
from edgebert.search_space import recipe_for
from edgebert.search_stats import cannot_reach, paired_drop
from edgebert.search_schedule import SHAPE_MARGIN, clearly_slower, costs_the_lead, owed, release, screened, screening
from edgebert.search_study import counts

# A trial's work after its distillation: dev accuracy, export (with parity), dev-split bench and statistics; 25 s
# measured for a 6-layer MiniLM on a slow 2-core machine, kept with room.
TRIAL_TAIL_S = 35
CHECKPOINTS = 4  # accuracy checkpoints per distillation (the last one is the finished model)
# Distillation steps a screened shape is timed for when the study has no distillation rate yet: the rate tells the
# queue which distillations fit the time left before any of them has run (search_schedule.release).
PROBE_STEPS = 10
# What one more screened shape costs, looked ahead when deciding whether the screening may go on (the question is asked
# after each shape): a shape took 31-46 s on a slow 2-core machine (pruning, a timing-only export, a dev bench).
NEXT_SHAPE_S = 50


def distill_rate(manifest: dict) -> float | None:
    """Seconds per distillation step per million multiply-accumulates per token, from a distilled model's manifest
    (the teacher's one-off outputs left out: they are cached for later trials; so is the first step, which sets up
    the kernels). None when it did not distil. Measured over three runs: a probe's 10 steps read -2 to +10 % of the
    rate of the 1,000-step distillation that followed (one probe, with its first step, read +18 %)."""
    macs = manifest.get("macs_per_token")
    for st in reversed(manifest.get("stages", [])):
        result = st.get("result") or {}
        if st.get("stage") == "distill" and result.get("steps_run") and macs:
            seconds, steps = st["seconds"] - (result.get("teacher_seconds") or 0.0), result["steps_run"]
            if steps > 1 and result.get("first_step_seconds") is not None:
                seconds, steps = seconds - result["first_step_seconds"], steps - 1
            return max(seconds, 0.0) / steps / (macs / 1e6)
    return None


def distill_need(rates: list[float], steps: int, macs_per_token: int | None) -> float | None:
    """Seconds a distillation of `steps` steps of a model of `macs_per_token` should take, at the median rate this
    study measured (None: nothing measured yet). Scaling by MACs per token is an approximation (the embedding
    lookup, the optimizer and the checkpoints do not shrink with the matrices), good enough to tell a 300-step
    candidate that fits from a 1500-step one that cannot."""
    if not rates or not steps or not macs_per_token:
        return None
    return float(np.median(rates)) * steps * macs_per_token / 1e6


class Trials:
    """A trial of the run's study (a part of `Search`)."""

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

        # Two workers opening a new study both enqueue the seeds, and two releasing the screened queue both enqueue
        # its re-runs: the later copy stops at once.
        prior = trial.user_attrs.get("screened_in")
        key = ("screened_in", prior) if prior is not None else ("seed_recipe", trial.user_attrs.get("seed_recipe"))
        twins = [
            t.number
            for t in trial.study.get_trials(deepcopy=False)
            if t.number < trial.number
            and key[1] is not None
            and t.user_attrs.get(key[0]) == key[1]
            and counts(t)
            and "duplicate_of" not in t.user_attrs
        ]
        if twins:
            trial.set_user_attr("duplicate_of", twins[0])
            what = "re-run of a screened trial" if prior is not None else "seed"
            self._stop(trial, 0, {}, f"a duplicate of trial {twins[0]} (the same {what}, enqueued by another worker)")
        params = self.space.suggest(trial)
        recipe = recipe_for(
            params, self.num_layers, seed=self.config.seed, task=self.kind.name, precision=self.train_precision
        )
        d = self.out / "trials" / f"{trial.number:03d}"
        d.mkdir(parents=True, exist_ok=True)
        trial.set_user_attr("dir", str(d))
        trial.set_user_attr("recipe", recipe)  # in the study itself: workers on other machines see it too
        trial.set_user_attr("planned_steps", params["distill_steps"])
        # A small space runs out: the sampler then proposes a finished candidate again, which stops at once (it
        # counts toward --trials, so the study ends).
        same = [
            t.number
            for t in trial.study.get_trials(deepcopy=False)
            if t.number < trial.number
            and (t.state.name == "COMPLETE" or (screened(t) and t.number != prior))
            and dict(t.params) == params
        ]
        if same:
            self._stop(trial, 0, {}, f"the same candidate as trial {same[0]}, already measured")
        self.log(f"trial {trial.number}: {params}")
        started = time.time()
        kw = {
            "dataset": self.config.dataset,
            "text_column": self.config.text_column,
            "label_column": self.config.label_column,
            "force": True,
            "resolved": self.data,  # the run's data, resolved once in prepare()
        }
        # 1. The shape, untrained: its latency is the candidate's, whatever distillation later does to its weights.
        # A screened trial's re-run reads the shape that trial built (search_schedule.py), when it is on this machine.
        s = self.out / "trials" / f"{prior:03d}" if prior is not None else d
        s = s if (s / "shape-model" / bundle.MANIFEST).is_file() and (s / "shape-dev-results.json").is_file() else d
        shape_recipe = {k: v for k, v in recipe.items() if k != "distill"}
        if not (s / "shape-model" / bundle.MANIFEST).is_file():
            compress_model(self.model_dir, shape_recipe, s / "shape-model", **kw)
        # A shape that will be distilled is exported for timing only: its untrained logits are near ties that int8
        # flips, so parity there says nothing of the distilled model, whose own export is checked (step 2).
        shape_bundle = self._export(s / "shape-model", s / "shape-bundle", timing_only=bool(params["distill_steps"]))
        shape_results = self.bench(shape_bundle, s / "shape-dev-results.json", self.dev_file)
        latency = real_p50(shape_results)
        shape_manifest = bundle.read_manifest(s / "shape-model")
        accuracy = shape_manifest["accuracy"]
        # The learning curve steers the pruner only when compress measures the task's primary metric while it works
        # (accuracy; entity F1): an embedding model's dev cosine to its teacher is no forecast of its Spearman.
        dev_metric = shape_manifest.get("dev_metric", "dev_accuracy")
        curve = dev_metric in self.task.curve_metrics and accuracy.get("dev") is not None
        reference = accuracy["dev_source"]  # the unpruned model, same texts, same max_length: the checkpoints' zero
        trial.set_user_attr("shape_latency_ms", latency)
        trial.set_user_attr("shape_macs_per_token", shape_manifest.get("macs_per_token"))
        seen: dict[int, float] = {}  # {steps run: dev points below fp32}: this trial's learning curve
        if curve:
            seen[0] = 100 * (reference - accuracy["dev"])
            trial.report(seen[0], 0)
        untrained = accuracy.get("dev")
        self.log(
            f"trial {trial.number}: shape {latency:.2f} ms before training"
            + (f", {dev_metric.replace('_', ' ')} {untrained:.4f} untrained" if untrained is not None else "")
        )
        rival = self._fastest_meeting(trial.study, trial.number)
        if rival is not None and clearly_slower(latency, rival[1]):
            self._stop(
                trial,
                0,
                seen,
                f"stopped before training: its shape ({latency:.2f} ms) is more than {SHAPE_MARGIN:.0%} slower than "
                f"trial {rival[0]} ({rival[1]:.2f} ms), which already meets the budget",
            )
        # A candidate proposed while screened ones wait to be queued (the screening's share of the budget ran out
        # under it) joins them, so the queue's order holds: it must not spend the rest of the budget ahead of them.
        if (
            params["distill_steps"]
            and prior is None
            and (self._screening(trial.study, trial.number) or owed(trial.study))
        ):
            trial.set_user_attr("deferred", True)
            if not self._rates(trial.study):
                self._probe(trial, s / "shape-model", d / "probe-model", recipe, kw)
            self._release_when_screened(trial.study, trial.number)  # this may have been the screening's last shape
            self._stop(
                trial,
                0,
                seen,
                f"screened: shape timed first ({latency:.2f} ms); its {params['distill_steps']} distillation steps "
                "were queued for after the screening",
            )
        self._release_when_screened(trial.study, trial.number)
        final_model, final_bundle, results = s / "shape-model", shape_bundle, shape_results
        steps_run = 0
        if params["distill_steps"]:
            # 2. Distillation from the unpruned model, checked at checkpoints against the budget.
            left = self.seconds_left()
            # Cheap candidates first, expensive ones only when they can finish: a distillation the time left cannot
            # hold would end cut short, at a learning rate its schedule had not yet decayed, so it is not started;
            # its time goes to candidates that fit.
            need = distill_need(self._rates(trial.study), params["distill_steps"], shape_manifest.get("macs_per_token"))
            if left is not None and need is not None and need > left - TRIAL_TAIL_S:
                self._stop(
                    trial,
                    0,
                    seen,
                    f"stopped before training: its {params['distill_steps']} distillation steps need about "
                    f"{need / 60:.1f} min at the rate measured in this study, {max(left - TRIAL_TAIL_S, 0) / 60:.1f} "
                    "min are left",
                )
            distil = dict(recipe["distill"], teacher=str(self.model_dir))
            if left is not None:  # bounded so the trial ends inside the run's budget; the manifest says what stopped it
                distil["minutes"] = round(max(left - TRIAL_TAIL_S, 30) / 60, 2)
            trial.set_user_attr(
                "recipe",
                dict(recipe, distill=dict(recipe["distill"], **{k: distil[k] for k in ("minutes",) if k in distil})),
            )

            def checkpoint(step: int, acc: float | None) -> None:
                if acc is None or not curve:
                    return
                seen[step] = 100 * (reference - acc)
                trial.report(seen[step], step)
                if trial.should_prune():
                    why = cannot_reach(seen, params["distill_steps"], self.config.max_accuracy_drop, self.noise_points)
                    self._stop(trial, step, seen, why or f"stopped at step {step} by the pruner")

            final_model = d / "model"
            if not (final_model / bundle.MANIFEST).is_file():
                compress_model(
                    s / "shape-model",
                    {k: v for k, v in recipe.items() if k != "prune_structured"} | {"distill": distil},
                    final_model,
                    checkpoint=checkpoint,
                    checkpoint_every=max(1, params["distill_steps"] // CHECKPOINTS),
                    **kw,
                )
            final_bundle = self._export(final_model, d / "bundle")
            results = self.bench(final_bundle, d / "dev-results.json", self.dev_file)
            distilled = bundle.read_manifest(final_model)
            ran = [st["result"]["steps_run"] for st in distilled.get("stages", []) if st.get("stage") == "distill"]
            steps_run = ran[-1] if ran else 0
            rate = distill_rate(distilled)
            if rate is not None:
                trial.set_user_attr("distill_rate", rate)
        return self._full_fidelity(trial, params, d, final_model, final_bundle, results, steps_run, started)

    def _full_fidelity(self, trial, params, d, final_model, final_bundle, results, steps_run: int, started) -> float:
        """3. Full fidelity: the primary metric, paired against fp32 on the same dev items."""
        stats = self.task.stats(final_bundle, "dev", d / f"{final_bundle.name}-dev-items.json")
        drop = paired_drop(self.fp32_dev_stats, stats, self.task.metric("dev"), seed=self.config.seed)
        manifest = bundle.read_manifest(final_model) if final_model is not None else {}
        # TPE keeps to the feasible side: a trial is feasible when its bound is inside the budget (constraint <= 0).
        trial.set_constraint("accuracy_bound", drop.upper_points - self.config.max_accuracy_drop)
        trial.set_user_attr("steps_run", steps_run)
        value = None if drop.candidate_points is None else drop.candidate_points / 100
        trial.set_user_attr("accuracy", value)  # the primary metric on the dev items (a fraction, or a correlation)
        trial.set_user_attr("drop_points", drop.drop_points)
        trial.set_user_attr("upper_points", drop.upper_points)
        trial.set_user_attr("dev_size", drop.n)
        trial.set_user_attr("size_bytes", results["size"]["model_bytes"])
        trial.set_user_attr("macs_per_token", manifest.get("macs_per_token"))
        trial.set_user_attr(
            "results", str(d / ("dev-results.json" if (d / "dev-results.json").is_file() else "shape-dev-results.json"))
        )
        trial.set_user_attr("bundle", str(final_bundle))
        trial.set_user_attr("seconds", round(time.time() - started, 1))
        latency = real_p50(results)
        kind = self.kind
        self.log(
            f"trial {trial.number}: {latency:.2f} ms (real lengths, batch 1), dev {kind.metric_label} "
            f"{kind.show(value)}, {drop.drop_points:+.2f} {self.task.unit} vs fp32 "
            f"(90 % bound {drop.upper_points:+.2f})"
        )
        return latency

    @staticmethod
    def _rates(study) -> list[float]:
        """The distillation rates measured in this study (search_trial.distill_rate), probes included."""
        return [
            t.user_attrs["distill_rate"] for t in study.get_trials(deepcopy=False) if t.user_attrs.get("distill_rate")
        ]

    def _probe(self, trial, shape_model, probe_dir, recipe, kw) -> None:
        """Time PROBE_STEPS distillation steps of this shape: the study's first distillation rate, so that the queue
        released after the screening knows which distillations fit the time left before any has run. 11 s measured on
        a slow 2-core machine; its model is not kept."""
        from edgebert.compress.recipe import compress_model

        distil = dict(recipe["distill"], steps=PROBE_STEPS, teacher=str(self.model_dir))
        try:
            compress_model(
                shape_model,
                {"max_length": recipe["max_length"], "seed": recipe["seed"], "distill": distil},
                probe_dir,
                **kw,
            )
            rate = distill_rate(bundle.read_manifest(probe_dir))
        finally:
            shutil.rmtree(probe_dir, ignore_errors=True)
        if rate is not None:
            trial.set_user_attr("distill_rate", rate)
            trial.set_user_attr("distill_rate_probe_steps", PROBE_STEPS)
            macs = bundle.read_manifest(shape_model).get("macs_per_token") or 0
            self.log(
                f"trial {trial.number}: {PROBE_STEPS} distillation steps timed, {rate * macs / 1e6:.2f} s per step "
                "(the study's first distillation rate: which distillations fit the time left)"
            )

    def _fits(self, study) -> Callable[..., bool] | None:
        """`fits(trial, later=0.0)`: whether a queued candidate's distillation fits the time left (`later` seconds from
        now) at the rates measured so far; None when there is no time bound or nothing measured."""
        left, rates = self.seconds_left(), self._rates(study)
        if left is None or not rates:
            return None

        def fits(t, later: float = 0.0) -> bool:
            need = distill_need(rates, t.params.get("distill_steps") or 0, t.user_attrs.get("shape_macs_per_token"))
            return need is not None and need <= left - later - TRIAL_TAIL_S

        return fits

    def _screening(self, study, number: int) -> bool:
        """Whether the screening goes on: it ends early when one more shape would leave the leading seed's
        distillation no room (search_schedule.lead)."""
        if not screening(study.get_trials(deepcopy=False), number, self.config.trials, self.spent_share()):
            return False
        fits = self._fits(study)
        return fits is None or not costs_the_lead(study, fits, lambda t: fits(t, NEXT_SHAPE_S))

    def _release_when_screened(self, study, number: int) -> None:
        """Queue the screened trials' distillations once the screening is over (the shapes up to trial `number`
        included; a no-op while it goes on, and once every screened trial is queued)."""
        if not self._screening(study, number + 1):
            numbers = release(study, self._fits(study))
            if numbers:
                self.log(f"screening done: the distillations of trials {numbers} are queued, in that order")

    def _stop(self, trial, step: int, curve: dict[int, float], why: str) -> None:
        optuna = require("optuna")
        if step:  # stopped while learning: its last checkpoint is what the sampler learns from (not a slower shape)
            trial.set_constraint("accuracy_bound", curve[max(curve)] - self.config.max_accuracy_drop)
        trial.set_user_attr("pruned_reason", why)
        trial.set_user_attr("pruned_at_step", step)
        self.log(f"trial {trial.number}: {why}")
        raise optuna.TrialPruned(why)
