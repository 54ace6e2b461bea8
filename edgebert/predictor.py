"""`edgebert.load(bundle).predict(texts)`: use a bundle, with the base install only (onnxruntime, tokenizers, numpy).

The predictor runs the bundle through `edgebert.runtime`, the same tokenizer and session code that export's parity
check validated and that `bench` times, so its labels are the ones those two measured. Every file's sha256 is
checked against the manifest before the model is loaded: a bundle is never trusted blindly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgebert import task_types
from edgebert.errors import BundleError, UserError

TASKS = (task_types.SEQUENCE_CLASSIFICATION,)  # an embedding bundle is run with runtime.make_runner


@dataclass(frozen=True)
class Prediction:
    """One text's result: the predicted label, its probability, and the probability of every label."""

    text: str
    label: str
    score: float
    scores: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "label": self.label, "score": self.score, "scores": self.scores}


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)  # no overflow for large logits
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


class Predictor:
    """A loaded bundle. Create it with :func:`edgebert.load`; call :meth:`predict` as often as you like."""

    def __init__(self, bundle_dir: Path, manifest: dict[str, Any], runner: Any, encoder: Any):
        self.path = Path(bundle_dir)
        self.manifest = manifest
        self._runner = runner
        self._encoder = encoder
        id2label = manifest["source"].get("id2label") or {}
        n = int(manifest["source"].get("num_labels") or len(id2label))
        self.labels: tuple[str, ...] = tuple(str(id2label.get(str(i), i)) for i in range(n))
        self.task: str = task_types.of_manifest(manifest).name
        self.max_length: int = int(manifest["tokenizer"]["max_length"])

    def __repr__(self) -> str:
        return f"Predictor({str(self.path)!r}, {self.manifest['format']} {self.manifest.get('precision')}, labels={list(self.labels)})"

    def logits(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Raw logits, one row per text, in input order (texts are batched by length so padding stays small)."""
        from edgebert.runtime import predict_logits

        return predict_logits(self._runner, self._encoder, _texts(texts), batch_size)

    def predict(self, texts: str | Sequence[str], batch_size: int = 32) -> list[Prediction]:
        """Label and score every text (a single string counts as one text). Texts longer than the bundle's
        max length are truncated to it, as they were when the bundle was validated."""
        items = _texts(texts)
        if not items:
            return []
        probs = softmax(self.logits(items, batch_size).astype(np.float64))
        best = probs.argmax(axis=1)
        return [
            Prediction(text, self.labels[int(k)], float(p[k]), {label: float(v) for label, v in zip(self.labels, p)})
            for text, k, p in zip(items, best, probs)
        ]


def _texts(texts: str | Sequence[str]) -> list[str]:
    items = [texts] if isinstance(texts, str) else list(texts)
    bad = next((t for t in items if not isinstance(t, str)), None)
    if bad is not None:
        raise UserError(f"predict takes strings; got a {type(bad).__name__}: {bad!r}")
    return items


def load(bundle: str | os.PathLike[str], *, threads: int | None = None) -> Predictor:
    """Verify a bundle written by `edgebert export` (every file's sha256) and load it for prediction.

    `threads`: intra-op threads (default: the bundle target's setting; 0 = onnxruntime's default).
    """
    from edgebert.bench.plan import check_bundle
    from edgebert.runtime import Encoder, make_runner

    bundle_dir = Path(bundle)
    manifest = check_bundle(bundle_dir)
    task = task_types.of_manifest(manifest).name
    if task not in TASKS:
        raise BundleError(f"{bundle_dir} is a {task!r} bundle; this edgebert predicts {', '.join(TASKS)} only")
    return Predictor(bundle_dir, manifest, make_runner(bundle_dir, manifest, threads), Encoder(bundle_dir, manifest))
