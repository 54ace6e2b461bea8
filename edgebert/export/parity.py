"""Parity: an export is done only when its outputs match the source model's on real sentences."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from edgebert.errors import ParityError
from edgebert.targets import ParityTolerance


@dataclass(frozen=True)
class ParityResult:
    sentences: int
    max_abs_logit_diff: float
    mean_abs_logit_diff: float
    label_agreement: float
    precision: str
    tolerance_max_abs_logit_diff: float
    tolerance_min_label_agreement: float
    passed: bool

    def to_dict(self) -> dict:
        return asdict(self)


MIN_SENTENCES = 64


def compare_logits(reference: np.ndarray, candidate: np.ndarray, tol: ParityTolerance, precision: str) -> ParityResult:
    if reference.shape != candidate.shape:
        raise ParityError(f"export returns logits of shape {candidate.shape}, the source model {reference.shape}")
    diff = np.abs(reference.astype(np.float64) - candidate.astype(np.float64))
    agreement = float((reference.argmax(1) == candidate.argmax(1)).mean()) if len(reference) else 0.0
    max_diff = float(diff.max()) if diff.size else 0.0
    ok = (
        bool(np.isfinite(candidate).all())
        and max_diff <= tol.max_abs_logit_diff
        and agreement >= tol.min_label_agreement
    )
    return ParityResult(
        len(reference),
        max_diff,
        float(diff.mean()) if diff.size else 0.0,
        agreement,
        precision,
        tol.max_abs_logit_diff,
        tol.min_label_agreement,
        ok,
    )


def check(result: ParityResult, what: str) -> None:
    if result.sentences < MIN_SENTENCES:
        raise ParityError(
            f"{what}: parity needs at least {MIN_SENTENCES} evaluation sentences, got {result.sentences}; pass a larger --dataset"
        )
    if not result.passed:
        raise ParityError(
            f"{what} failed parity on {result.sentences} sentences ({result.precision}): max |logit diff| "
            f"{result.max_abs_logit_diff:.4g} (limit {result.tolerance_max_abs_logit_diff:g}), label agreement "
            f"{result.label_agreement:.2%} (need {result.tolerance_min_label_agreement:.2%}); no bundle was written"
        )
