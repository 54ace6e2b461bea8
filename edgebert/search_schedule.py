"""Shapes first: the order in which `edgebert run` spends its minutes.

A candidate's latency needs no training (its shape decides it), its accuracy needs minutes of distillation. So a
study that will run more than `SCREEN_SHAPES` trials first times that many shapes — the seeds' and the sampler's
first proposals alike — and defers every distillation they ask for: a candidate that needs training stops after its
shape is benched (a *screened* trial, pruned at step 0) and is queued to be distilled once the screening ends. The
queue is then run cheapest first (distillation steps × multiply-accumulates per token), and each queued candidate
still has to pass the checks every trial does before it trains: its shape must be faster than the fastest trial
already inside the budget, and its distillation must fit the time left. Without this, a slow machine spent the whole
budget distilling the first two seeds and evaluated nothing else (reports/search-seeds-27fc044.md: 2 candidates).

The screening ends after `SCREEN_SHAPES` shapes or once `SCREEN_SHARE` of the run's budget is spent, whichever is
first, so that time is left to distil. The trial that finds it over joins the queue too (a first version let that
trial distil at once: on a slow machine a sampler's 1,000-step proposal then took the rest of the budget ahead of
the seeds). A study of at most `SCREEN_SHAPES` trials distils every candidate anyway, and
is not screened. A screened trial does not count toward --trials: its queued re-run (marked `screened_in`, reusing
its shape's files when they are on this machine) does. Several workers may release the queue at once; the later
copy of a re-run stops at once as a duplicate (search_trial.py).
"""

from __future__ import annotations

from typing import Any

SCREEN_SHAPES = 6  # shapes timed before any distillation
# ... or this share of the run's budget (baselines included), whichever comes first. With the default 13 minutes on a
# slow 2-core machine, 0.45 holds the baselines and six shapes (~45 s each) and leaves the cheapest seed's 300
# distillation steps (~4 min) room to finish; 0.4 stopped at five.
SCREEN_SHARE = 0.45


def screened(t) -> bool:
    """A trial stopped after its shape, its distillation queued (it does not count toward --trials)."""
    return bool(t.user_attrs.get("deferred"))


def shapes_timed(trials, before: int) -> int:
    """Candidates whose shape the study has timed, among trials numbered below `before` (re-runs and duplicates are
    the same candidate again)."""
    return sum(
        1
        for t in trials
        if t.number < before
        and t.user_attrs.get("shape_latency_ms") is not None
        and "screened_in" not in t.user_attrs
        and "duplicate_of" not in t.user_attrs
    )


def screening(trials, number: int, max_trials: int, spent_share: float | None) -> bool:
    """Whether trial `number`, a candidate that needs distillation, is still in the screening phase (it then stops
    after its shape). `spent_share`: the share of the run's budget already spent (None: unbounded)."""
    if max_trials <= SCREEN_SHAPES:
        return False
    if spent_share is not None and spent_share >= SCREEN_SHARE:
        return False
    return shapes_timed(trials, number) < SCREEN_SHAPES


def queue_order(t) -> tuple[float, float, int]:
    """Cheapest distillation first (steps × MACs per token), the faster shape on ties."""
    steps = t.params.get("distill_steps") or t.user_attrs.get("planned_steps") or 0
    macs = t.user_attrs.get("shape_macs_per_token") or 0
    return (steps * macs, t.user_attrs.get("shape_latency_ms") or 0.0, t.number)


def owed(study) -> list:
    """Screened trials whose distillation is not queued yet."""
    trials = study.get_trials(deepcopy=False)
    queued = {t.user_attrs.get("screened_in") for t in trials}
    return [t for t in trials if screened(t) and t.number not in queued]


def release(study) -> list[int]:
    """Queue the distillation of every screened trial that has no re-run yet, cheapest first. Returns their numbers."""
    waiting = sorted(owed(study), key=queue_order)
    for t in waiting:
        attrs: dict[str, Any] = {"screened_in": t.number}
        if t.user_attrs.get("seed_recipe"):
            attrs["seed_recipe"] = t.user_attrs["seed_recipe"]
        study.enqueue_trial(dict(t.params), user_attrs=attrs)
    return [t.number for t in waiting]
