"""The light side of each task: which texts a bundle is scored on and how its outputs become the results document's
quality section ("accuracy", kept under that name for every task). numpy only; one small class per task, chosen by
the task type the bundle's manifest records (task_types.of_manifest).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from edgebert import task_types
from edgebert.bench import accuracy
from edgebert.errors import BundleError

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


SCORERS: dict[str, type[Scorer]] = {SequenceClassificationScorer.name: SequenceClassificationScorer}


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
