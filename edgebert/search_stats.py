"""How sure a search may be that a candidate loses at most N points of the task's primary metric against fp32: a
paired bootstrap over the task's items.

Both bundles are scored on the same items (texts for classification, sentences for NER, documents for Lee), so each
resample draws n items with replacement (seeded) and recomputes the metric of *both* bundles on that same draw; the
drop is the difference. That keeps the correlation between the two bundles (they are right and wrong on mostly the
same items, which makes the paired interval much narrower than two independent ones) and needs nothing but the
per-item statistics and the metric's aggregation (`Metric`):

- accuracy: per text 1/0 (correct), aggregated as the mean;
- entity micro-F1: per sentence (true positives, predicted entities, true entities), aggregated as 2·TP / (P + T)
  over the summed counts — F1 of the resampled corpus, not a mean of per-sentence F1s;
- Spearman on Lee: per document its embedding; a resample of documents keeps every pair of *distinct* documents
  among the drawn ones (a document drawn twice is not paired with itself) and recomputes Spearman over those pairs.
  Pairs sharing a document are not independent, so resampling documents, not pairs, is the honest unit.

The one-sided upper bound at confidence c is the c-quantile of the resampled drops: "with c confidence the drop on
unseen items like these is at most this". A candidate meets the budget only when that bound does; a candidate whose
observed drop is inside the budget but whose bound is not is *undecided* — dev is too small (or the candidate too
close to the line) to say.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgebert.errors import require

CONFIDENCE = 0.90  # one-sided: the choice rule
RESAMPLES = 4000
CHUNK_CELLS = 2_000_000  # resamples x items drawn at once (an index matrix of 16 MB)


@dataclass(frozen=True)
class Metric:
    """A task's primary metric as the bootstrap needs it: `points(stats, idx)` aggregates the per-item statistics
    `stats` (first axis: items) over each row of item indices `idx` [resamples, n], in points (x100)."""

    name: str  # "accuracy", "entity_f1", "spearman": the results document's key
    points: Callable[[np.ndarray, np.ndarray], np.ndarray]


def _accuracy_points(stats: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return 100.0 * stats[idx].mean(axis=1)


def _f1_points(stats: np.ndarray, idx: np.ndarray) -> np.ndarray:
    tp, pred, true = np.moveaxis(stats[idx].sum(axis=1), -1, 0).astype(np.float64)
    denom = pred + true
    return np.where(denom > 0, 200.0 * tp / np.where(denom > 0, denom, 1.0), 0.0)


ACCURACY = Metric("accuracy", _accuracy_points)
ENTITY_F1 = Metric("entity_f1", _f1_points)


def spearman_metric(ratings: np.ndarray) -> Metric:
    """Spearman (x100) of cosine similarity against `ratings` [n, n] over the pairs of distinct documents drawn;
    per-item statistics: the documents' embeddings [n, dim]."""
    from edgebert.bench.embedding import l2_normalise, spearman

    ratings = np.asarray(ratings, dtype=np.float64)

    def points(stats: np.ndarray, idx: np.ndarray) -> np.ndarray:
        e = l2_normalise(stats)
        sims = e @ e.T
        iu = np.triu_indices(idx.shape[1], 1)
        out = np.empty(len(idx))
        for k, row in enumerate(idx):
            a, b = row[iu[0]], row[iu[1]]
            keep = a != b
            # (i, j) and (j, i) read the same cell: a pair drawn twice must tie exactly (e @ e.T is not bit-symmetric)
            lo, hi = np.minimum(a, b)[keep], np.maximum(a, b)[keep]
            out[k] = 100.0 * spearman(sims[lo, hi], ratings[lo, hi])
        return out

    return Metric("spearman", points)


@dataclass(frozen=True)
class PairedDrop:
    """Drop of a candidate's primary metric against fp32 on the same items, in points (positive: it is worse)."""

    n: int
    drop_points: float  # observed
    upper_points: float  # one-sided `confidence` upper bound
    interval_points: tuple[float, float]  # two-sided `confidence` interval
    confidence: float
    reference_points: float | None = None  # fp32's metric on these items, in points
    candidate_points: float | None = None

    def verdict(self, budget_points: float) -> str:
        """'meets' (the bound is inside the budget), 'undecided' (only the observed drop is), or 'fails'."""
        if self.upper_points <= budget_points + 1e-9:
            return "meets"
        return "undecided" if self.drop_points <= budget_points + 1e-9 else "fails"


def draws(n: int, resamples: int = RESAMPLES, seed: int = 0):
    """The resamples' item indices, [rows, n] blocks of at most CHUNK_CELLS cells: the same for a seed, every time."""
    rng = np.random.default_rng(seed)
    rows = max(1, CHUNK_CELLS // max(n, 1))
    for start in range(0, resamples, rows):
        yield rng.integers(0, n, size=(min(rows, resamples - start), n))


def paired_drop(
    reference,
    candidate,
    metric: Metric = ACCURACY,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> PairedDrop:
    """The paired bootstrap above. `reference`, `candidate`: per-item statistics over the same items in the same order
    (per-text booleans for ACCURACY; see Metric), first axis the items."""
    ref, cand = np.asarray(reference), np.asarray(candidate)
    if ref.shape != cand.shape or ref.ndim < 1 or len(ref) == 0:
        raise ValueError(
            f"paired_drop needs two equal-shaped, non-empty item vectors, got {ref.shape} and {cand.shape}"
        )
    if not 0.5 <= confidence < 1:
        raise ValueError(f"confidence must be in [0.5, 1), got {confidence}")
    n = len(ref)
    if ref.dtype == bool:
        ref, cand = ref.astype(np.int8), cand.astype(np.int8)
    everything = np.arange(n)[None, :]
    ref_points, cand_points = float(metric.points(ref, everything)[0]), float(metric.points(cand, everything)[0])
    drops = np.concatenate([metric.points(ref, idx) - metric.points(cand, idx) for idx in draws(n, resamples, seed)])
    tail = (1 - confidence) / 2
    return PairedDrop(
        n=n,
        drop_points=ref_points - cand_points,
        upper_points=float(np.quantile(drops, confidence)),
        interval_points=(float(np.quantile(drops, tail)), float(np.quantile(drops, 1 - tail))),
        confidence=confidence,
        reference_points=ref_points,
        candidate_points=cand_points,
    )


def cannot_reach(intermediate: dict[int, float], planned_steps: int, budget: float, margin: float) -> str | None:
    """Why a distilling candidate cannot end inside the budget, or None while it still can.

    `intermediate`: {steps run: dev points below fp32}. Distillation's learning curve flattens (and its learning rate
    decays linearly to 0), so the improvement per step over the last interval, kept up until the last planned step,
    is an optimistic forecast; `margin` (one standard error of dev accuracy) keeps a noisy checkpoint from ending it.
    It needs two checkpoints after training began: the first interval holds the learning-rate warm-up, where dev
    accuracy can dip before it climbs (measured: the heads-ffn-int8 seed went from 5.0 to 5.9 points below fp32 in its
    first 75 steps with one seed, and from 5.3 to 3.1 with another, finishing 0.1 above fp32)."""
    steps = sorted(intermediate)
    if len([s for s in steps if s > 0]) < 2 or steps[-1] >= planned_steps:
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
