"""Study orchestration: open (or resume) the run's Optuna study, queue the seeds and interrupted trials, and let it
run until --trials have finished or the time budget is spent.

`Study` is a part of `search.Search`; the trial itself is `search_trial.Trials.objective`.
"""

from __future__ import annotations

from typing import Any

from edgebert.errors import EdgebertError, require
from edgebert.search_stats import budget_pruner
from edgebert.search_storage import check_identity, open_study

MIN_TRIAL_S = 90  # no trial starts with less time than this left: its shape alone (prune, export, bench) takes that


class Study:
    """The run's study (a part of `Search`)."""

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
        try:
            study.optimize(
                self.objective,
                n_trials=1 if self.unbounded else None,
                timeout=max(left - MIN_TRIAL_S, 1.0) if left else None,
                catch=(EdgebertError, RuntimeError, ValueError),
                callbacks=callbacks,
            )
        except Exception as exc:
            if interrupted_by_user(exc):
                raise KeyboardInterrupt from None
            raise
        return study


def interrupted_by_user(exc: BaseException) -> bool:
    """Whether `exc` was raised while handling a Ctrl-C. Optuna 5.0's _run_trial, interrupted while it records a
    trial's state in the database, fails with an UnboundLocalError whose context is the KeyboardInterrupt: the user
    pressed Ctrl-C, and must get the one-line "interrupted" exit (130), not Optuna's traceback."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


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
            attrs = {k: t.user_attrs[k] for k in ("seed_recipe", "screened_in") if k in t.user_attrs}
            study.enqueue_trial(params, user_attrs=attrs | {"rerun_of": t.number})


def counts(t) -> bool:
    """Whether a trial counts toward --trials: finished, stopped, or failed by itself (not interrupted, not a duplicate,
    not screened: a screened trial's re-run counts for it, search_schedule.py)."""
    if "duplicate_of" in t.user_attrs or t.user_attrs.get("deferred"):
        return False
    return t.state.name in ("COMPLETE", "PRUNED") or (t.state.name == "FAIL" and not interrupted(t))
