"""Shapes first: the order in which `edgebert run` spends its minutes.

A candidate's latency needs no training (its shape decides it), its accuracy needs minutes of distillation. So a
study that will run more than `SCREEN_SHAPES` trials first times that many shapes — the seeds' and the sampler's
first proposals alike — and defers every distillation they ask for: a candidate that needs training stops after its
shape is benched (a *screened* trial, pruned at step 0) and is queued to be distilled once the screening ends. The
queue is then run cheapest first (distillation steps × multiply-accumulates per token), except that the fastest
seed goes first when its distillation fits the time left (`lead`; the rate comes from a few timed steps of the first
screened shape when nothing has distilled yet, search_trial.py), and each queued candidate
still has to pass the checks every trial does before it trains: its shape must be faster than the fastest trial
already inside the budget, and its distillation must fit the time left. Without this, a slow machine spent the whole
budget distilling the first two seeds and evaluated nothing else (reports/search-seeds-27fc044.md: 2 candidates).

The screening ends after `SCREEN_SHAPES` shapes or once `SCREEN_SHARE` of the run's budget is spent, whichever is
first, so that time is left to distil; and earlier when one more shape would leave the leading seed's distillation
no room (`costs_the_lead`). The trial that finds it over joins the queue too (a first version let that
trial distil at once: on a slow machine a sampler's 1,000-step proposal then took the rest of the budget ahead of
the seeds). A study of at most `SCREEN_SHAPES` trials distils every candidate anyway, and
is not screened. A screened trial does not count toward --trials: its queued re-run (marked `screened_in`, reusing
its shape's files when they are on this machine) does. Several workers may release the queue at once; the later
copy of a re-run stops at once as a duplicate (search_trial.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SCREEN_SHAPES = 6  # shapes timed before any distillation
# ... or this share of the run's budget (baselines included), whichever comes first. With 13 minutes on a slow 2-core
# machine, 0.45 held the baselines and six shapes (~45 s each) and left the cheapest seed's 300 distillation steps
# (~4 min) room to finish; 0.4 stopped at five. (costs_the_lead may end it sooner.)
SCREEN_SHARE = 0.45
# A shape stops before training only when it is this much slower than a trial already inside the budget: both were
# timed alone, minutes apart, and such times drift by more than the gap between close shapes (a seeds run stopped
# fast-x86, usually ~1.2x faster than heads-ffn-int8, at 2.57 ms against heads-ffn-int8's 2.53 ms).
SHAPE_MARGIN = 0.10


def clearly_slower(latency_ms: float, rival_ms: float) -> bool:
    """Whether a shape timed alone is slower than a rival timed alone by more than their drift (SHAPE_MARGIN)."""
    return latency_ms > rival_ms * (1 + SHAPE_MARGIN)


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


def lead(waiting: list, fits: Callable[[Any], bool] | None):
    """The screened seed that goes ahead of the cheapest-first queue, or None: the fastest shape among the shipped
    recipes' whose distillation `fits` the time left, when it is clearly faster than the cheapest candidate's.

    Why: once a candidate meets the budget, every clearly slower one stops before training, so the fastest candidate
    that can meet it is worth its minutes first. On a slow 2-core machine the cheapest seed (heads-ffn-int8, 300
    steps) took the minutes that fast-x86's 1,000 steps needed, and fast-x86 (~1.2x faster) never ran
    (reports/search-seeds-748498f.md). Only seeds lead: a shipped recipe comes with measured evidence that it reaches
    the budget; a sampler's proposal, possibly the fastest shape of all, has none, and one that failed would spend the
    time the cheap candidates needed."""
    if fits is None or len(waiting) < 2:
        return None
    cheapest = waiting[0].user_attrs.get("shape_latency_ms")
    seeds = [
        t
        for t in waiting[1:]
        if t.user_attrs.get("seed_recipe") and t.user_attrs.get("shape_latency_ms") is not None and fits(t)
    ]
    if cheapest is None or not seeds:
        return None
    fastest = min(seeds, key=lambda t: t.user_attrs["shape_latency_ms"])
    return fastest if clearly_slower(cheapest, fastest.user_attrs["shape_latency_ms"]) else None


def costs_the_lead(study, fits_now, fits_later) -> bool:
    """Whether going on screening would lose the queue its lead: a seed leads now (`fits_now`) but would not once
    another shape is timed (`fits_later`). The screening then ends early: measured on a slow 2-core machine, the
    screening's 45 % of the budget left fast-x86's 1,000 steps (5.5 minutes at the probe's rate) a few seconds short,
    and the cheapest seed ran instead."""
    waiting = sorted(owed(study), key=queue_order)
    return lead(waiting, fits_now) is not None and lead(waiting, fits_later) is None


def release(study, fits: Callable[[Any], bool] | None = None) -> list[int]:
    """Queue the distillation of every screened trial that has no re-run yet, cheapest first (`lead` may go first).
    Returns their numbers in queue order. `fits(trial)`: whether its distillation fits the time left (None: no
    time bound, or no rate to tell)."""
    waiting = sorted(owed(study), key=queue_order)
    first = lead(waiting, fits)
    if first is not None:
        waiting.remove(first)
        waiting.insert(0, first)
    for t in waiting:
        attrs: dict[str, Any] = {"screened_in": t.number}
        if t.user_attrs.get("seed_recipe"):
            attrs["seed_recipe"] = t.user_attrs["seed_recipe"]
        study.enqueue_trial(dict(t.params), user_attrs=attrs)
    return [t.number for t in waiting]
