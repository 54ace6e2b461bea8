"""The light side of each task: which texts a bundle is scored on and how its outputs become the results document's
quality section ("accuracy", kept under that name for every task). numpy only; one small class per task, chosen by
the task type the bundle's manifest records (task_types.of_manifest).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from edgebert import data, task_types
from edgebert.bench import accuracy, embedding
from edgebert.bundle import listed
from edgebert.errors import BundleError, UserError

Outputs = Callable[[Sequence[str]], np.ndarray]  # texts → the bundle's output rows, through the timed runner


class Scorer:
    """The interface. `load` returns an evaluation whose `.texts` (LabelledTexts) bench also times at real lengths
    and whose `.name` names the dataset; `score` runs what it needs through `outputs`."""

    name: str = ""

    def load(self, bundle_dir: Path, manifest: dict[str, Any], dataset, text_column: str, label_column: str):
        raise NotImplementedError

    def score(self, evaluation, outputs: Outputs) -> dict[str, Any]:
        raise NotImplementedError

    def score_bundle(self, evaluation, runner, encoder) -> dict[str, Any]:
        """Score through the bundle's runner and encoder (runtime); a task that needs more than one output row per
        text (a tag per word) overrides this."""
        from edgebert.runtime import predict_logits

        return self.score(evaluation, lambda texts: predict_logits(runner, encoder, texts))

    def describe(self, section: dict[str, Any]) -> str:
        """One line for the terminal: the primary metric and what it was measured on."""
        tt = task_types.of_quality(section)
        return f"{tt.metric_label} {tt.show(section.get(tt.metric))} on {section['size']} texts of {section['dataset']}"

    def stamp(self, section: dict[str, Any]) -> dict[str, Any]:
        """The task type and the primary metric's name and value, first in the section."""
        tt = task_types.get(self.name)
        return {"task_type": tt.name, "metric": tt.metric, "metric_value": section[tt.metric], **section}


class SequenceClassificationScorer(Scorer):
    name = task_types.SEQUENCE_CLASSIFICATION

    def load(self, bundle_dir: Path, manifest: dict[str, Any], dataset, text_column: str, label_column: str):
        return accuracy.load_evaluation(bundle_dir, manifest, dataset, text_column, label_column)

    def score(self, evaluation, outputs: Outputs) -> dict[str, Any]:
        return self.stamp(accuracy.score(evaluation, outputs(evaluation.texts.texts)))

    def describe(self, section: dict[str, Any]) -> str:
        agreement = section["agreement_with_reference"]
        return (
            f"accuracy  {section['accuracy']:.2%} (macro-F1 {section['macro_f1']:.4f}) on {section['size']} texts of "
            f"{section['dataset']}"
            + (f"; agreement with the source model {agreement:.2%}" if agreement is not None else "")
            + (
                f"; source model {section['reference_accuracy']:.2%}"
                if section.get("reference_accuracy") is not None
                else ""
            )
        )


@dataclass(frozen=True)
class EmbeddingEvaluation:
    """What export packed into a sentence-embedding bundle: the evaluation texts (neighbours, probe test), the probe's
    training texts, the Lee documents and ratings, the source model's neighbours and scores."""

    texts: data.LabelledTexts
    name: str
    probe_train: data.LabelledTexts
    lee_documents: tuple[str, ...]
    lee_ratings: np.ndarray
    reference_neighbours: np.ndarray | None
    source_scores: dict[str, Any]


class SentenceEmbeddingScorer(Scorer):
    name = task_types.SENTENCE_EMBEDDING

    def load(self, bundle_dir: Path, manifest: dict[str, Any], dataset, text_column: str, label_column: str):
        if dataset is not None:
            raise UserError(
                "--dataset does not apply to a sentence-embedding bundle: it is scored on the texts export packed "
                "(export it with --dataset FILE to use your labelled texts)"
            )
        ref = manifest.get("reference") or {}

        def file(key: str) -> Path:
            if not isinstance(ref.get(key), str):
                raise BundleError(f"bundle {bundle_dir}: manifest reference.{key} is missing; re-export the bundle")
            return listed(bundle_dir, manifest, ref[key], f"reference.{key}")

        texts = data.load_dataset(file("file"), "text", "label")
        probe = data.load_dataset(file("probe_train_file"), "text", "label")
        lee_path = file("lee_file")
        try:
            docs = tuple(json.loads(line)["text"] for line in lee_path.read_text(encoding="utf-8").splitlines() if line)
            ratings = np.asarray(json.loads(file("lee_ratings_file").read_text(encoding="utf-8"))["ratings"], float)
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise BundleError(
                f"bundle {bundle_dir}: the Lee files are unreadable ({exc!s:.80}); re-export it"
            ) from None
        if not docs or ratings.shape != (len(docs), len(docs)) or not np.isfinite(ratings).all():
            raise BundleError(
                f"bundle {bundle_dir}: {len(docs)} Lee documents but ratings of shape {ratings.shape}; re-export it"
            )
        neighbours = ref.get("neighbours")
        table = None
        if neighbours is not None:
            try:
                table = np.asarray(neighbours, dtype=np.int64)
            except (ValueError, TypeError):
                table = None
            if table is None or table.ndim != 2 or len(table) != len(texts) or table.size == 0:
                raise BundleError(
                    f"bundle {bundle_dir}: reference.neighbours does not match its {len(texts)} texts; re-export it"
                )
        name = ref.get("dataset") or texts.name
        if ref.get("split") and ":" not in name:
            name = f"{name}:{ref['split']}"
        scores = ref.get("source_scores")
        return EmbeddingEvaluation(texts, name, probe, docs, ratings, table, scores if isinstance(scores, dict) else {})

    def score(self, evaluation: EmbeddingEvaluation, outputs: Outputs) -> dict[str, Any]:
        ev = evaluation
        vectors = outputs(ev.texts.texts)
        section: dict[str, Any] = {
            "dataset": ev.name,
            "dataset_sha256": data.dataset_digest(ev.texts),
            "size": len(ev.texts),
            "accuracy": None,
            **embedding.lee_spearman(outputs(ev.lee_documents), ev.lee_ratings),
            **embedding.ridge_probe(
                outputs(ev.probe_train.texts), np.array(ev.probe_train.labels), vectors, np.array(ev.texts.labels)
            ),
        }
        if ev.reference_neighbours is not None:
            k = ev.reference_neighbours.shape[1]
            agree = embedding.neighbour_agreement(embedding.neighbours(vectors, k), ev.reference_neighbours)
            section.update(agree, agreement_with_reference=agree["nn_top1_agreement"])
        else:
            section["agreement_with_reference"] = None
        for key in ("spearman", "probe_accuracy"):
            if isinstance(ev.source_scores.get(key), (int, float)):
                section[f"source_{key}"] = float(ev.source_scores[key])
        section["noise"] = (
            "95% bootstrap intervals: Spearman over the 50 Lee documents (1,000 resamples), probe accuracy over the "
            "evaluation texts; neighbour agreement is exact on these texts"
        )
        return self.stamp(section)

    def describe(self, section: dict[str, Any]) -> str:
        lo, hi = section["spearman_ci95"]
        plo, phi = section["probe_accuracy_ci95"]
        line = (
            f"Spearman (Lee) {section['spearman']:.3f} [{lo:.3f}, {hi:.3f}] on {section['pairs']} pairs; "
            f"probe accuracy {section['probe_accuracy']:.2%} [{plo:.1%}, {phi:.1%}] on {section['size']} texts of "
            f"{section['dataset']}"
        )
        if section.get("nn_top1_agreement") is not None:
            line += f"; nearest neighbour as the source {section['nn_top1_agreement']:.2%}"
            overlap = next((v for k, v in section.items() if k.startswith("nn_top") and k.endswith("_overlap")), None)
            if overlap is not None:
                line += f" (top-10 overlap {overlap:.2%})"
        if "source_spearman" in section:
            line += f"; source model: Spearman {section['source_spearman']:.3f}"
            if "source_probe_accuracy" in section:
                line += f", probe {section['source_probe_accuracy']:.2%}"
        return line


SCORERS: dict[str, type[Scorer]] = {
    SequenceClassificationScorer.name: SequenceClassificationScorer,
    SentenceEmbeddingScorer.name: SentenceEmbeddingScorer,
}


# Tasks whose scorer lives in its own module, which registers it in SCORERS when imported (on first use).
SCORER_MODULES = {task_types.TOKEN_CLASSIFICATION: "edgebert.bench.tokens"}


def _registered(name: str) -> bool:
    if name not in SCORERS and name in SCORER_MODULES:
        import importlib

        importlib.import_module(SCORER_MODULES[name])
    return name in SCORERS


def scorer_for(manifest: dict[str, Any], bundle_dir: Path | str = "") -> Scorer:
    """The scorer of the task the bundle's manifest records, or a one-line BundleError."""
    try:
        tt = task_types.of_manifest(manifest)
    except Exception as exc:  # an unknown task name: UserError from task_types.get
        raise BundleError(f"bundle {bundle_dir}: {exc}") from None
    _registered(tt.name)
    if tt.name not in SCORERS:
        raise BundleError(f"bundle {bundle_dir} is a {tt.name} bundle, which this edgebert cannot score yet")
    return SCORERS[tt.name]()


def describe(section: dict[str, Any]) -> str:
    """The terminal line of a results document's quality section, whatever its task."""
    tt = task_types.of_quality(section)
    return (SCORERS[tt.name]() if _registered(tt.name) else Scorer()).describe(section)
