"""`edgebert.load(bundle)`: use a bundle with the base install only (onnxruntime, tokenizers, numpy): `.predict(texts)`
for a classifier, `.embed(texts)` for a sentence-embedding model, `.tag(sentences)` for a token classifier (NER).

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

TASKS = (task_types.SEQUENCE_CLASSIFICATION, task_types.SENTENCE_EMBEDDING, task_types.TOKEN_CLASSIFICATION)
VERB = {  # the one method that uses each task's bundle
    task_types.SEQUENCE_CLASSIFICATION: "predict(texts)",
    task_types.SENTENCE_EMBEDDING: "embed(texts)",
    task_types.TOKEN_CLASSIFICATION: "tag(sentences)",
}


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

    def _needs(self, task: str) -> None:
        if self.task != task:
            raise UserError(f"{self.path} is a {self.task} bundle: use .{VERB[self.task]}, not .{VERB[task]}")

    def logits(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Raw logits, one row per text, in input order (texts are batched by length so padding stays small)."""
        from edgebert.runtime import predict_logits

        self._needs(task_types.SEQUENCE_CLASSIFICATION)
        return predict_logits(self._runner, self._encoder, _texts(texts), batch_size)

    def embed(self, texts: str | Sequence[str], batch_size: int = 32) -> np.ndarray:
        """A sentence-embedding bundle's vectors, one row per text in input order ([n, dim] float32; unit length
        when the source model normalises). Pooling and normalisation ran inside the graph, as parity checked."""
        from edgebert.runtime import predict_logits

        self._needs(task_types.SENTENCE_EMBEDDING)
        items = _texts(texts)
        if not items:
            return np.zeros((0, 0), dtype=np.float32)
        return predict_logits(self._runner, self._encoder, items, batch_size)

    def tag(self, sentences: str | Sequence[str] | Sequence[Sequence[str]], batch_size: int = 32) -> list[list[tuple]]:
        """A token-classification bundle's tag for every word: one list of (word, tag) per sentence. A sentence is a
        list of words, or a string split on whitespace. A word past the bundle's max length (its first sub-token
        was cut) gets the tag None: no prediction, never a silent "O"."""
        from edgebert.ner_runtime import WordEncoder, predict_words

        self._needs(task_types.TOKEN_CLASSIFICATION)
        items = _sentences(sentences)
        o_id = next((int(i) for i, t in enumerate(self.labels) if t == "O"), 0)
        words = WordEncoder(self._encoder.tokenizer, self._encoder.input_names)
        got = predict_words(self._runner, words, items, o_id, batch_size)
        return [
            [(w, self.labels[int(got.labels[i][j])] if j < got.visible[i] else None) for j, w in enumerate(sentence)]
            for i, sentence in enumerate(items)
        ]

    def predict(self, texts: str | Sequence[str], batch_size: int = 32) -> list[Prediction]:
        """Label and score every text (a single string counts as one text). Texts longer than the bundle's
        max length are truncated to it, as they were when the bundle was validated."""
        self._needs(task_types.SEQUENCE_CLASSIFICATION)
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


def _sentences(sentences: str | Sequence[str] | Sequence[Sequence[str]]) -> list[list[str]]:
    items = [sentences] if isinstance(sentences, str) else list(sentences)
    out = []
    for s in items:
        words = s.split() if isinstance(s, str) else list(s) if isinstance(s, (list, tuple)) else None
        if words is None or not all(isinstance(w, str) and w for w in words):
            raise UserError(f"tag takes sentences as strings or lists of non-empty words; got {s!r}")
        out.append(words)
    return out


def load(bundle: str | os.PathLike[str], *, threads: int | None = None) -> Predictor:
    """Verify a bundle written by `edgebert export` (every file's sha256) and load it for prediction.

    `threads`: intra-op threads (default: the bundle target's setting; 0 = onnxruntime's default).
    """
    from edgebert.bench.plan import check_bundle, timing_only_miss
    from edgebert.runtime import Encoder, make_runner

    bundle_dir = Path(bundle)
    manifest = check_bundle(bundle_dir)
    if timing_only_miss(manifest):
        raise BundleError(
            f"{bundle_dir} was exported for timing only and failed parity, so it does not predict what its source "
            "does; load the trial's distilled bundle (trials/NNN/bundle) or export the model again"
        )
    task = task_types.of_manifest(manifest).name
    if task not in TASKS:
        raise BundleError(f"{bundle_dir} is a {task!r} bundle; this edgebert runs {', '.join(TASKS)} bundles only")
    return Predictor(bundle_dir, manifest, make_runner(bundle_dir, manifest, threads), Encoder(bundle_dir, manifest))
