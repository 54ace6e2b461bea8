"""Entity-level F1 for token classification, as seqeval computes it by default. Pure Python (runs on a Pi).

An entity is an exact (sentence, start word, end word, type) span. Spans are read as seqeval's default (non-strict)
mode reads IOB tags: an I- tag that follows O or another type starts a new entity, exactly as if it were B-, so IOB1
and IOB2 inputs score the same. A predicted entity counts only if its span and type both match a true one.
"""

from __future__ import annotations

from typing import Any, Sequence

from edgebert.ner_data import to_iob2

Span = tuple[int, int, int, str]  # sentence, first word, last word, type


def entities(tags: Sequence[str], sentence: int = 0) -> list[Span]:
    """The entity spans of one sentence's tags (IOB1 or IOB2; stray I- tags start entities)."""
    out: list[Span] = []
    start, kind = None, None
    for i, tag in enumerate([*to_iob2(tags), "O"]):
        if tag == "O" or tag.startswith("B-"):
            if kind is not None:
                out.append((sentence, start, i - 1, kind))
            start, kind = (i, tag[2:]) if tag != "O" else (None, None)
        # an I- tag here continues the open entity of its type (to_iob2 made every other I- a B-)
    return out


def _prf(tp: int, n_pred: int, n_true: int) -> dict[str, float]:
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": n_true}


def entity_scores(true_tags: Sequence[Sequence[str]], pred_tags: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Micro precision/recall/F1 over exact entity spans, per-type scores, and word-level tag accuracy.

    `true_tags[i]` and `pred_tags[i]` are the tags of sentence i, one per word (equal lengths)."""
    if len(true_tags) != len(pred_tags):
        raise ValueError(f"{len(pred_tags)} predicted sentences for {len(true_tags)} true ones")
    true_spans: set[Span] = set()
    pred_spans: set[Span] = set()
    words = same = 0
    for i, (t, p) in enumerate(zip(true_tags, pred_tags)):
        if len(t) != len(p):
            raise ValueError(f"sentence {i}: {len(p)} predicted tags for {len(t)} words")
        true_spans.update(entities(t, i))
        pred_spans.update(entities(p, i))
        words += len(t)
        same += sum(a == b for a, b in zip(t, p))
    micro = _prf(len(true_spans & pred_spans), len(pred_spans), len(true_spans))
    types = sorted({s[3] for s in true_spans | pred_spans})
    per_type = {
        k: _prf(
            len({s for s in true_spans & pred_spans if s[3] == k}),
            sum(s[3] == k for s in pred_spans),
            sum(s[3] == k for s in true_spans),
        )
        for k in types
    }
    return {
        "entity_f1": micro["f1"],
        "entity_precision": micro["precision"],
        "entity_recall": micro["recall"],
        "entities": micro["support"],
        "predicted_entities": len(pred_spans),
        "per_type": per_type,
        "token_accuracy": same / words if words else 0.0,
        "words": words,
    }


def tag_agreement(a: Sequence[Sequence[object]], b: Sequence[Sequence[object]]) -> float:
    """The fraction of words two taggers label alike (e.g. a bundle and its PyTorch source)."""
    words = sum(len(x) for x in a)
    if sum(len(x) for x in b) != words:
        raise ValueError("the two taggings cover different numbers of words")
    return float(sum(bool(x == y) for s, t in zip(a, b) for x, y in zip(s, t)) / words) if words else 0.0
