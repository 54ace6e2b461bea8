"""Shapes first (edgebert/search_schedule.py): which trials a larger study screens, what does and does not count, and
the order the screened candidates' distillations are queued in, on an in-memory Optuna study."""

import optuna
import pytest

from edgebert.search_choice import choose, trial_rows
from edgebert.search_schedule import SCREEN_SHAPES, costs_the_lead, owed, release, screening
from edgebert.search_study import counts

optuna.logging.set_verbosity(optuna.logging.WARNING)


def add(study, number_params, state=optuna.trial.TrialState.PRUNED, **attrs):
    """A finished trial with these parameters and user attributes."""
    dist = {k: optuna.distributions.CategoricalDistribution([v]) for k, v in number_params.items()}
    study.add_trial(
        optuna.trial.create_trial(
            params=number_params,
            distributions=dist,
            user_attrs=attrs,
            state=state,
            value=1.0 if state == optuna.trial.TrialState.COMPLETE else None,
        )
    )
    return study.trials[-1]


def params(steps: int, layers: int = 4) -> dict:
    return {"layers_kept": layers, "distill_steps": steps}


@pytest.fixture
def study():
    return optuna.create_study()


def test_a_small_study_is_not_screened(study):
    assert not screening(study.trials, 0, SCREEN_SHAPES, None)
    assert screening(study.trials, 0, SCREEN_SHAPES + 1, None)


def test_screening_ends_after_enough_shapes_and_re_runs_or_duplicates_are_not_new_shapes(study):
    for i in range(SCREEN_SHAPES - 1):
        add(study, params(300, layers=i + 1), deferred=True, shape_latency_ms=1.0)
    add(study, params(300), shape_latency_ms=1.0, screened_in=0)  # the same candidate as trial 0
    add(study, params(300), shape_latency_ms=1.0, duplicate_of=0)
    add(study, params(0), state=optuna.trial.TrialState.FAIL)  # failed before its shape was timed
    n = len(study.trials)
    assert screening(study.trials, n, 12, None)  # one shape short
    add(study, params(0), state=optuna.trial.TrialState.COMPLETE, shape_latency_ms=0.9)  # no training: not deferred
    assert not screening(study.trials, n + 1, 12, None)
    assert screening(study.trials, n, 12, None)  # what a trial numbered before it saw


@pytest.mark.parametrize("spent,screened", [(0.0, True), (0.44, True), (0.45, False), (0.9, False)])
def test_screening_ends_once_its_share_of_the_budget_is_spent(study, spent, screened):
    assert screening(study.trials, 0, 12, spent) is screened


def test_release_queues_the_screened_cheapest_first_once_and_keeps_their_seed_names(study):
    add(study, params(1000), deferred=True, shape_latency_ms=0.6, shape_macs_per_token=4e6, seed_recipe="fast-x86")
    add(study, params(300), deferred=True, shape_latency_ms=1.2, shape_macs_per_token=9e6)  # 2.7e9: cheaper
    add(study, params(300), deferred=True, shape_latency_ms=0.8, shape_macs_per_token=9e6)  # as cheap, faster
    add(study, params(0), state=optuna.trial.TrialState.COMPLETE, shape_latency_ms=2.0)  # not screened
    assert [t.number for t in owed(study)] == [0, 1, 2]  # a candidate proposed now joins them (search_trial.py)
    assert release(study) == [2, 1, 0]
    assert owed(study) == []
    waiting = [t for t in study.trials if t.state == optuna.trial.TrialState.WAITING]
    assert [t.user_attrs["screened_in"] for t in waiting] == [2, 1, 0]  # Optuna runs the lowest number first
    assert [t.system_attrs["fixed_params"] for t in waiting] == [params(300), params(300), params(1000)]
    assert waiting[2].user_attrs["seed_recipe"] == "fast-x86"
    assert release(study) == []  # two workers releasing: the second finds nothing owed


@pytest.mark.parametrize(
    "fits, fast_ms, order",
    [
        (lambda t: True, 1.8, [1, 0, 2]),  # the fastest seed that fits goes first; the sampler's proposal does not
        (lambda t: t.params["distill_steps"] < 1000, 1.8, [0, 2, 1]),  # it does not fit: cheapest first
        (None, 1.8, [0, 2, 1]),  # no time bound or no rate: cheapest first
        (lambda t: True, 3.0, [0, 2, 1]),  # not clearly faster than the cheapest (SHAPE_MARGIN): cheapest first
    ],
    ids=["leads", "does-not-fit", "no-rate", "not-clearly-faster"],
)
def test_the_fastest_seed_leads_the_queue_only_when_its_distillation_fits(study, fits, fast_ms, order):
    seed = {"deferred": True, "shape_macs_per_token": 9e6}
    add(study, params(300, 6), **seed, shape_latency_ms=3.1, seed_recipe="heads-ffn-int8")  # 2.7e9: the cheapest
    add(study, params(1000), **seed | {"shape_macs_per_token": 4e6}, shape_latency_ms=fast_ms, seed_recipe="fast-x86")
    add(study, params(1000, 2), deferred=True, shape_macs_per_token=3e6, shape_latency_ms=1.0)  # no seed: never leads
    assert release(study, fits) == order
    waiting = [t.user_attrs["screened_in"] for t in study.trials if t.state == optuna.trial.TrialState.WAITING]
    assert waiting == order  # Optuna runs the queue in the order it was enqueued


@pytest.mark.parametrize(
    "now, later, ends",
    [(True, False, True), (True, True, False), (False, False, False)],
    ids=["one-more-shape-loses-the-lead", "room-for-both", "no-lead-anyway"],
)
def test_the_screening_ends_early_when_one_more_shape_would_cost_the_lead(study, now, later, ends):
    seed = {"deferred": True, "shape_macs_per_token": 9e6}
    add(study, params(300, 6), **seed, shape_latency_ms=3.1, seed_recipe="heads-ffn-int8")
    add(study, params(1000), **seed, shape_latency_ms=1.8, seed_recipe="fast-x86")
    long = lambda ok: lambda t: ok or t.params["distill_steps"] < 1000  # noqa: E731
    assert costs_the_lead(study, long(now), long(later)) is ends
    assert costs_the_lead(study, None, None) is False  # no rate measured yet


def test_a_screened_trial_does_not_count_toward_trials_and_the_report_says_where_it_went(study):
    first = add(study, params(300), deferred=True, shape_latency_ms=0.8, pruned_reason="screened")
    left = add(study, params(600), deferred=True, shape_latency_ms=0.7)
    rerun = add(
        study, params(300), state=optuna.trial.TrialState.COMPLETE, screened_in=0, upper_points=0.5, drop_points=0.1
    )
    assert not counts(first) and not counts(left) and counts(rerun)
    rows = trial_rows(study)
    chosen, _ = choose(rows, budget=1.0)
    assert chosen["trial"] == 2
    assert rows[0]["verdict"] == "screened" and "distilled as trial 2" in rows[0]["why"] and "0.80 ms" in rows[0]["why"]
    assert rows[1]["verdict"] == "screened" and "ran out before its distillation" in rows[1]["why"]
    assert rows[2]["screened_in"] == 0 and rows[2]["verdict"] == "chosen"
