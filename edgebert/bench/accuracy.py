"""Accuracy of a bundle on labelled texts: the bundle's own evaluation split, or a user's dataset. numpy only.

Agreement with the source model is only meaningful on the exact texts export scored: the bundle's eval.jsonl,
whose reference predictions the manifest stores. On a user's dataset it is reported as null.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgebert import data
from edgebert.bundle import listed
from edgebert.errors import BundleError, DatasetError


@dataclass(frozen=True)
class Evaluation:
    """Labelled texts to score, their label ids, and the source model's predictions when they are known."""

    texts: data.LabelledTexts
    label_ids: np.ndarray
    name: str
    reference_predictions: np.ndarray | None
    reference_accuracy: float | None = None  # the PyTorch source's accuracy on these texts, measured at export


def label2id(manifest: dict[str, Any]) -> dict[str, int]:
    return {str(name): int(i) for i, name in manifest["source"]["id2label"].items()}


def load_evaluation(
    bundle_dir: Path,
    manifest: dict[str, Any],
    dataset: str | Path | None = None,
    text_column: str = "text",
    label_column: str = "label",
) -> Evaluation:
    """The texts to score; raises DatasetError for missing columns or labels the model does not know."""
    l2i = label2id(manifest)
    if dataset is not None:
        texts = data.load_dataset(dataset, text_column, label_column)
        return Evaluation(texts, texts.label_ids(l2i), texts.name, None)
    ref = manifest.get("reference") or {}
    if not ref.get("file"):
        raise BundleError(f"bundle {bundle_dir} carries no evaluation split; pass --dataset FILE with labelled texts")
    texts = data.load_dataset(listed(bundle_dir, manifest, ref["file"], "reference.file"), "text", "label")
    preds = ref.get("predictions")
    if preds is not None and len(preds) != len(texts):
        raise BundleError(
            f"bundle {bundle_dir}: {len(preds)} reference predictions for {len(texts)} evaluation texts; re-export it"
        )
    name = ref.get("dataset") or texts.name
    if ref.get("split") and ":" not in name:
        name = f"{name}:{ref['split']}"
    return Evaluation(
        texts,
        texts.label_ids(l2i),
        name,
        None if preds is None else np.asarray(preds, dtype=np.int64),
        ref.get("accuracy"),
    )


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Unweighted mean of per-label F1 over every label present in the truth or the predictions."""
    labels = np.union1d(y_true, y_pred)
    scores = []
    for label in labels:
        tp = float(np.sum((y_pred == label) & (y_true == label)))
        fp = float(np.sum((y_pred == label) & (y_true != label)))
        fn = float(np.sum((y_pred != label) & (y_true == label)))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(np.mean(scores)) if scores else 0.0


def score(evaluation: Evaluation, logits: np.ndarray) -> dict[str, Any]:
    """The results document's accuracy section for `logits` (one row per evaluation text)."""
    y_pred = np.asarray(logits).argmax(axis=1)
    y_true = evaluation.label_ids
    if len(y_pred) != len(y_true):
        raise DatasetError(f"{len(y_pred)} predictions for {len(y_true)} texts")
    ref = evaluation.reference_predictions
    return {
        "dataset": evaluation.name,
        "dataset_sha256": data.dataset_digest(evaluation.texts),
        "size": int(len(y_true)),
        "accuracy": float(np.mean(y_pred == y_true)) if len(y_true) else 0.0,
        "macro_f1": macro_f1(y_true, y_pred),
        "agreement_with_reference": None if ref is None else float(np.mean(y_pred == ref)),
        "reference_accuracy": evaluation.reference_accuracy,
    }
