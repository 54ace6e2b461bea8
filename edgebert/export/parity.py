"""Parity: an export is done only when its outputs match the source model's on real sentences."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from edgebert.bench.embedding import cosine_rows
from edgebert.errors import ConfigError, ParityError
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


@dataclass(frozen=True)
class EmbeddingParityResult:
    """Cosine similarity of each evaluation text's embedding in the bundle to the source model's."""

    sentences: int
    min_cosine: float
    mean_cosine: float
    precision: str
    tolerance_min_cosine: float
    tolerance_min_mean_cosine: float
    passed: bool

    def to_dict(self) -> dict:
        return asdict(self)


def compare_embeddings(
    reference: np.ndarray, candidate: np.ndarray, tol: ParityTolerance, precision: str, target: str
) -> EmbeddingParityResult:
    if tol.min_cosine is None or tol.min_mean_cosine is None:
        raise ConfigError(
            f"target {target} has no min_cosine / min_mean_cosine in [parity.{precision}], so a sentence-embedding "
            "export cannot be validated; add them (edgebert targets show x86 --toml has examples)"
        )
    if reference.shape != candidate.shape:
        raise ParityError(f"export returns embeddings of shape {candidate.shape}, the source model {reference.shape}")
    cos = cosine_rows(reference, candidate) if len(reference) else np.zeros(0)
    finite = bool(np.isfinite(candidate).all())
    lo = float(cos.min()) if cos.size and finite else float("nan")
    mean = float(cos.mean()) if cos.size and finite else float("nan")
    ok = finite and lo >= tol.min_cosine and mean >= tol.min_mean_cosine
    return EmbeddingParityResult(len(reference), lo, mean, precision, tol.min_cosine, tol.min_mean_cosine, ok)


def check_embeddings(result: EmbeddingParityResult, what: str) -> None:
    if result.sentences < MIN_SENTENCES:
        raise ParityError(
            f"{what}: parity needs at least {MIN_SENTENCES} evaluation sentences, got {result.sentences}; pass a larger --dataset"
        )
    if not result.passed:
        raise ParityError(
            f"{what} failed parity on {result.sentences} sentences ({result.precision}): cosine to the source model "
            f"min {result.min_cosine:.5f} (limit {result.tolerance_min_cosine:g}), mean {result.mean_cosine:.5f} "
            f"(limit {result.tolerance_min_mean_cosine:g}); no bundle was written"
        )
