"""Entity F1 of a token-classification bundle on its evaluation sentences or a user's tagged dataset. numpy only.

Scored through the runtime's word path (ner_runtime): first sub-token per word; words cut by the max length are not
scored and are counted (ner_runtime.TRUNCATION_POLICY). Token agreement with the source is only meaningful on the
bundle's own eval.jsonl, whose per-word reference predictions export stored; on a user's dataset it is null.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgebert import ner_data, ner_metric, task_types
from edgebert.bench.scoring import SCORERS, Scorer
from edgebert.bundle import listed
from edgebert.errors import BundleError
from edgebert.ner_runtime import WordEncoder, predict_words


@dataclass(frozen=True)
class TokenEvaluation:
    """Tagged sentences to score (`texts.texts`: the sentences as text, what latency is timed on)."""

    texts: ner_data.TaggedSentences
    name: str
    id2label: dict[int, str]
    reference_predictions: list[np.ndarray] | None
    reference_entity_f1: float | None = None


def load_token_evaluation(
    bundle_dir: Path, manifest: dict[str, Any], dataset: str | Path | None = None
) -> TokenEvaluation:
    id2label = {int(i): str(v) for i, v in manifest["source"]["id2label"].items()}
    label2id = {v: i for i, v in id2label.items()}
    if dataset is not None:
        sentences = ner_data.load_token_dataset(dataset)
        sentences.tag_ids(label2id)  # a tag the model does not know: one line naming it and its line
        return TokenEvaluation(sentences, sentences.name, id2label, None)
    ref = manifest.get("reference") or {}
    if not ref.get("file"):
        raise BundleError(f"bundle {bundle_dir} carries no evaluation sentences; pass --dataset FILE")
    sentences = ner_data.load_tagged_jsonl(listed(bundle_dir, manifest, ref["file"], "reference.file"))
    sentences.tag_ids(label2id)
    preds = ref.get("predictions")
    if preds is not None and (
        not isinstance(preds, list)
        or len(preds) != len(sentences)
        or not all(isinstance(p, list) and len(p) <= len(t) for p, t in zip(preds, sentences.tokens))
    ):
        raise BundleError(
            f"bundle {bundle_dir}: reference predictions do not match its evaluation sentences; re-export"
        )
    name = ref.get("dataset") or sentences.name
    return TokenEvaluation(
        sentences,
        name,
        id2label,
        None if preds is None else [np.asarray(p, dtype=np.int64) for p in preds],
        ref.get("entity_f1"),
    )


def score(evaluation: TokenEvaluation, runner, encoder) -> dict[str, Any]:
    """The results document's accuracy section: entity F1 (primary), per type, token accuracy, agreement with the
    source's tags, and what truncation cut. `encoder`: the bundle's runtime.Encoder (its tokenizer, input names)."""
    words = WordEncoder(encoder.tokenizer, encoder.input_names)  # truncation and padding as the manifest says
    o_id = {v: k for k, v in evaluation.id2label.items()}.get("O", 0)
    got = predict_words(runner, words, evaluation.texts.tokens, o_id)
    true = [tags[:k] for tags, k in zip(evaluation.texts.tags, got.visible)]
    pred = [[evaluation.id2label[int(i)] for i in p] for p in got.labels]
    scores = ner_metric.entity_scores(true, pred)
    ref = evaluation.reference_predictions
    agreement = None
    if ref is not None and [len(r) for r in ref] == got.visible:
        agreement = ner_metric.tag_agreement([r.tolist() for r in ref], [g.tolist() for g in got.labels])
    return {
        "dataset": evaluation.name,
        "dataset_sha256": ner_data.digest(evaluation.texts),
        "size": len(evaluation.texts),
        **scores,
        "agreement_with_reference": agreement,
        "reference_entity_f1": evaluation.reference_entity_f1,
        "truncation": got.truncation(),
    }


def quality_line(acc: dict[str, Any]) -> str:
    """Entity F1 with what qualifies it: per-type F1, word-tag agreement with the source, truncated words."""
    agreement, cut = acc.get("agreement_with_reference"), acc.get("truncation") or {}
    types = ", ".join(f"{k} {v['f1']:.1%}" for k, v in acc.get("per_type", {}).items())
    return (
        f"entity F1 {acc['entity_f1']:.2%} (P {acc['entity_precision']:.2%}, R {acc['entity_recall']:.2%}; {types}) "
        f"on {acc['size']} sentences, {acc['words']} words of {acc['dataset']}"
        + (f"; token agreement with the source {agreement:.2%}" if agreement is not None else "")
        + (f"; source model {acc['reference_entity_f1']:.2%}" if acc.get("reference_entity_f1") is not None else "")
        + f"; truncation cut {cut.get('words_cut', 0)} words in {cut.get('sentences', 0)} sentences (not scored)"
    )


class TokenClassificationScorer(Scorer):
    name = task_types.TOKEN_CLASSIFICATION

    def load(self, bundle_dir: Path, manifest: dict[str, Any], dataset, text_column: str, label_column: str):
        return load_token_evaluation(bundle_dir, manifest, dataset)

    def score_bundle(self, evaluation, runner, encoder) -> dict[str, Any]:
        return self.stamp(score(evaluation, runner, encoder))

    def score(self, evaluation, outputs) -> dict[str, Any]:
        raise NotImplementedError("token classification is scored word by word: score_bundle")

    def describe(self, section: dict[str, Any]) -> str:
        return quality_line(section)


SCORERS[TokenClassificationScorer.name] = TokenClassificationScorer
