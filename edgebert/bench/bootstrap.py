"""Confidence intervals for a latency ratio, from the per-call samples, and the verdict they allow. numpy only.

The figure is the ratio of medians, candidate / baseline (> 1: the candidate is slower). Its interval is the
percentile bootstrap: resample the calls with replacement, recompute the ratio, take the central `confidence` share
of the resampled ratios. When both sides were timed interleaved in one process (round j of each at index j), the
rounds are resampled jointly (a paired bootstrap): the load a round met hit both sides, so it cancels in the ratio,
and the interval is narrower than two independent runs allow.
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
    ratio: float  # median(candidate) / median(baseline)
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
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = SEED,
) -> RatioCI:
    """Median ratio candidate/baseline with its percentile-bootstrap interval. `paired` needs equal lengths."""
    b, c = np.asarray(baseline, dtype=np.float64), np.asarray(candidate, dtype=np.float64)
    if b.size == 0 or c.size == 0:
        raise ValueError("both sides need at least one sample")
    if paired and b.size != c.size:
        raise ValueError(f"paired samples must be of equal length, got {b.size} and {c.size}")
    rng = np.random.default_rng(seed)
    ratios = np.empty(resamples)
    chunk = max(1, 2_000_000 // max(b.size, c.size))  # bound the index matrix to ~16 MB
    for start in range(0, resamples, chunk):
        n = min(chunk, resamples - start)
        ib = rng.integers(0, b.size, size=(n, b.size))
        ic = ib if paired else rng.integers(0, c.size, size=(n, c.size))
        ratios[start : start + n] = _medians(c, ic) / _medians(b, ib)
    tail = (1 - confidence) / 2
    low, high = np.quantile(ratios, [tail, 1 - tail])
    return RatioCI(float(np.median(c) / np.median(b)), float(low), float(high), confidence, paired)


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
