"""Confidence intervals for a latency ratio, from the per-call samples, and the verdict they allow. numpy only.

The figure is candidate / baseline (> 1: the candidate is slower). Its interval is the percentile bootstrap:
resample with replacement, recompute the figure, take the central `confidence` share of the resampled figures.

- Independent runs: the ratio of the two medians, each side's calls resampled on its own.
- Interleaved in one process (round j of each side at index j, on the same input): the median of the per-cycle
  ratios, the cycles resampled (a paired bootstrap). A cycle is one full rotation of the round-robin order (k rounds
  for k bundles: A B | B A for two), and its ratio is sum(c) / sum(b) over its rounds. The load a cycle met and the
  length of the text it timed hit both sides, so they cancel in its ratio; and every side takes every position in the
  round once per cycle. That matters: the call right after another bundle's call pays for that bundle's still-spinning
  threads, so per-round ratios of a bundle against itself alternate between ~1.14 and ~0.86 (measured, two-thread int8
  MiniLM) and their median is bimodal and unstable; per-cycle ratios cancel the position, and the interval for a
  bundle against itself narrowed from +-3 % to +-1 % at 600 rounds. A ratio of the two medians would not cancel
  anything (the two medians come from different rounds): its interval was +-10 % (reports/compare-noise.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

RESAMPLES = 2000
CONFIDENCE = 0.95
SEED = 0  # fixed: the same samples give the same interval every time (golden files, reruns of compare)
VERDICTS = ("regressed", "improved", "no change", "undecidable (too noisy)")


@dataclass(frozen=True)
class RatioCI:
    ratio: float  # paired: median of per-cycle candidate/baseline; else median(candidate) / median(baseline)
    low: float
    high: float
    confidence: float
    paired: bool

    def to_dict(self) -> dict:
        return {
            "ratio": self.ratio,
            "low": self.low,
            "high": self.high,
            "confidence": self.confidence,
            "paired": self.paired,
        }


def _medians(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return np.median(x[idx], axis=1)


def ratio_ci(
    baseline: Sequence[float],
    candidate: Sequence[float],
    paired: bool = False,
    cycle: int = 1,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = SEED,
) -> RatioCI:
    """candidate/baseline with its percentile-bootstrap interval (see the module doc). `paired` needs equal lengths;
    `cycle` is the number of rounds in one rotation of the round-robin order (the number of bundles interleaved).
    Rounds past the last whole cycle are left out (at most cycle - 1)."""
    b, c = np.asarray(baseline, dtype=np.float64), np.asarray(candidate, dtype=np.float64)
    if b.size == 0 or c.size == 0:
        raise ValueError("both sides need at least one sample")
    if paired and b.size != c.size:
        raise ValueError(f"paired samples must be of equal length, got {b.size} and {c.size}")
    if paired and (np.any(b <= 0) or np.any(c <= 0)):
        raise ValueError("paired samples must be positive times")
    if paired and not (isinstance(cycle, int) and 1 <= cycle <= b.size):
        raise ValueError(f"a cycle is 1 to {b.size} rounds, got {cycle!r}")
    rng = np.random.default_rng(seed)
    if paired:
        whole = b.size - b.size % cycle
        per_cycle = c[:whole].reshape(-1, cycle).sum(1) / b[:whole].reshape(-1, cycle).sum(1)
        return _paired(per_cycle, rng, resamples, confidence)
    ratios = np.empty(resamples)
    chunk = max(1, 2_000_000 // max(b.size, c.size))  # bound the index matrix to ~16 MB
    for start in range(0, resamples, chunk):
        n = min(chunk, resamples - start)
        ib = rng.integers(0, b.size, size=(n, b.size))
        ic = rng.integers(0, c.size, size=(n, c.size))
        ratios[start : start + n] = _medians(c, ic) / _medians(b, ib)
    tail = (1 - confidence) / 2
    low, high = np.quantile(ratios, [tail, 1 - tail])
    return RatioCI(float(np.median(c) / np.median(b)), float(low), float(high), confidence, False)


def _paired(per_round: np.ndarray, rng: np.random.Generator, resamples: int, confidence: float) -> RatioCI:
    medians = np.empty(resamples)
    chunk = max(1, 2_000_000 // per_round.size)
    for start in range(0, resamples, chunk):
        n = min(chunk, resamples - start)
        medians[start : start + n] = np.median(
            per_round[rng.integers(0, per_round.size, size=(n, per_round.size))], axis=1
        )
    tail = (1 - confidence) / 2
    low, high = np.quantile(medians, [tail, 1 - tail])
    return RatioCI(float(np.median(per_round)), float(low), float(high), confidence, True)


def verdict(ci: RatioCI, threshold_percent: float) -> str:
    """What the interval allows one to say against a ±threshold band around "no change".

    regressed: the whole interval is above 1 + t; improved: the whole interval is below 1 / (1 + t); no change: the
    whole interval lies inside the band; otherwise the interval straddles an edge of the band: undecidable.
    """
    up = 1 + threshold_percent / 100
    down = 1 / up
    if ci.low > up:
        return "regressed"
    if ci.high < down:
        return "improved"
    if ci.low >= down and ci.high <= up:
        return "no change"
    return "undecidable (too noisy)"
