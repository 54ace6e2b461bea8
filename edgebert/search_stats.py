"""How sure a search may be that a candidate loses at most N points against fp32: a paired bootstrap over texts.

Both bundles score the same texts, so what matters is the per-text difference d_i = correct_fp32_i − correct_cand_i
(−1, 0 or +1). The accuracy drop is mean(d) in points; resampling the *texts* (with replacement, seeded) and taking
the mean of d each time gives the sampling distribution of that drop, with the correlation between the two bundles
kept (they are right and wrong on mostly the same texts, which makes the paired interval much narrower than two
independent ones). The one-sided upper bound at confidence c is the c-quantile of the resampled drops: "with c
confidence the drop on unseen texts like these is at most this". A candidate meets the budget only when that bound
does; a candidate whose observed drop is inside the budget but whose bound is not is *undecided* — dev is too small
(or the candidate too close to the line) to say.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgebert.errors import require

CONFIDENCE = 0.90  # one-sided: the choice rule
RESAMPLES = 4000


@dataclass(frozen=True)
class PairedDrop:
    """Accuracy drop of a candidate against fp32 on the same texts, in points (positive: the candidate is worse)."""

    n: int
    drop_points: float  # observed
    upper_points: float  # one-sided `confidence` upper bound
    interval_points: tuple[float, float]  # two-sided `confidence` interval
    confidence: float

    def verdict(self, budget_points: float) -> str:
        """'meets' (the bound is inside the budget), 'undecided' (only the observed drop is), or 'fails'."""
        if self.upper_points <= budget_points + 1e-9:
            return "meets"
        return "undecided" if self.drop_points <= budget_points + 1e-9 else "fails"


def paired_drop(
    reference_correct, candidate_correct, confidence: float = CONFIDENCE, resamples: int = RESAMPLES, seed: int = 0
) -> PairedDrop:
    """The paired bootstrap above; `*_correct` are per-text booleans (or 0/1) over the same texts, in the same order."""
    ref = np.asarray(reference_correct, dtype=np.int8)
    cand = np.asarray(candidate_correct, dtype=np.int8)
    if ref.shape != cand.shape or ref.ndim != 1 or len(ref) == 0:
        raise ValueError(f"paired_drop needs two equal-length, non-empty vectors, got {ref.shape} and {cand.shape}")
    if not 0.5 <= confidence < 1:
        raise ValueError(f"confidence must be in [0.5, 1), got {confidence}")
    d = (ref - cand).astype(np.int64)
    n = len(d)
    # Only the counts of +1 and -1 texts matter: resample them as a multinomial (same distribution as drawing n
    # texts with replacement, without an n x resamples index matrix).
    counts = np.array([np.sum(d == 1), np.sum(d == -1), np.sum(d == 0)])
    draws = np.random.default_rng(seed).multinomial(n, counts / n, size=resamples)
    drops = 100.0 * (draws[:, 0] - draws[:, 1]) / n
    tail = (1 - confidence) / 2
    return PairedDrop(
        n=n,
        drop_points=100.0 * float(d.mean()),
        upper_points=float(np.quantile(drops, confidence)),
        interval_points=(float(np.quantile(drops, tail)), float(np.quantile(drops, 1 - tail))),
        confidence=confidence,
    )


def cannot_reach(intermediate: dict[int, float], planned_steps: int, budget: float, margin: float) -> str | None:
    """Why a distilling candidate cannot end inside the budget, or None while it still can.

    `intermediate`: {steps run: dev points below fp32}. Distillation's learning curve flattens (and its learning rate
    decays linearly to 0), so the improvement per step over the last interval, kept up until the last planned step,
    is an optimistic forecast; `margin` (one standard error of dev accuracy) keeps a noisy checkpoint from ending it."""
    steps = sorted(intermediate)
    if len(steps) < 2 or steps[-1] >= planned_steps:
        return None
    (s0, d0), (s1, d1) = (steps[-2], intermediate[steps[-2]]), (steps[-1], intermediate[steps[-1]])
    rate = max(0.0, (d0 - d1) / (s1 - s0))
    forecast = d1 - rate * (planned_steps - s1)
    if forecast - margin <= budget:
        return None
    return (
        f"stopped at step {s1} of {planned_steps}: {d1:.2f} points below fp32 on dev, and at its last rate "
        f"({100 * rate:.2f} points per 100 steps) it would still be {forecast:.2f} points below, outside the "
        f"{budget:g}-point budget"
    )


def budget_pruner(budget: float, margin: float):
    """`cannot_reach` as an Optuna pruner, so `trial.should_prune()` answers it."""
    optuna = require("optuna")

    class BudgetPruner(optuna.pruners.BasePruner):
        def prune(self, study, trial) -> bool:
            return (
                cannot_reach(trial.intermediate_values, trial.user_attrs.get("planned_steps", 0), budget, margin)
                is not None
            )

    return BudgetPruner()
