"""Entity-level F1 against hand-worked cases (seqeval's default mode), IOB1 and IOB2 alike."""

from __future__ import annotations

import pytest

from edgebert.ner_metric import entities, entity_scores, tag_agreement

O = "O"  # noqa: E741  (the outside tag, as in the tag tables)


@pytest.mark.parametrize(
    "tags, spans",
    [
        ([O, O], []),
        (["B-PER", "I-PER", O, "B-LOC"], [(0, 0, 1, "PER"), (0, 3, 3, "LOC")]),
        # IOB1: I- starts an entity after O or at the sentence start; B- only splits two same-type neighbours
        (["I-PER", "I-PER", "B-PER", O, "I-LOC"], [(0, 0, 1, "PER"), (0, 2, 2, "PER"), (0, 4, 4, "LOC")]),
        # a stray I- of another type starts a new entity (seqeval's default, non-strict mode)
        (["B-PER", "I-LOC", "I-LOC"], [(0, 0, 0, "PER"), (0, 1, 2, "LOC")]),
        (["B-ORG", "B-ORG"], [(0, 0, 0, "ORG"), (0, 1, 1, "ORG")]),
        (["I-MISC"], [(0, 0, 0, "MISC")]),
        (["B-PER", "I-PER"], [(0, 0, 1, "PER")]),
    ],
)
def test_entities_are_read_as_seqeval_reads_them(tags, spans):
    assert entities(tags) == spans


def test_micro_f1_worked_by_hand():
    # truth: PER(0-1), LOC(3) | ORG(0), MISC(2)       = 4 entities
    # pred:  PER(0-1), LOC(2-3) (wrong span) | ORG(0), MISC(2), PER(3)  = 5 predicted
    true = [["B-PER", "I-PER", O, "B-LOC"], ["B-ORG", O, "B-MISC", O]]
    pred = [["B-PER", "I-PER", "B-LOC", "I-LOC"], ["B-ORG", O, "B-MISC", "B-PER"]]
    s = entity_scores(true, pred)
    # correct: PER(0-1), ORG, MISC = 3; precision 3/5, recall 3/4, F1 = 2*.6*.75/1.35
    assert s["entity_precision"] == pytest.approx(3 / 5)
    assert s["entity_recall"] == pytest.approx(3 / 4)
    assert s["entity_f1"] == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    assert s["entities"] == 4 and s["predicted_entities"] == 5
    assert s["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert s["per_type"]["PER"]["precision"] == pytest.approx(0.5) and s["per_type"]["PER"]["recall"] == 1.0
    assert s["per_type"]["PER"]["support"] == 1
    assert s["token_accuracy"] == pytest.approx(5 / 8)  # words 2, 3 of the first sentence, 3 of the second
    assert s["words"] == 8


def test_iob1_and_iob2_of_the_same_entities_score_identically():
    iob1 = [["I-PER", "I-PER", "B-PER", O, "I-LOC"]]
    iob2 = [["B-PER", "I-PER", "B-PER", O, "B-LOC"]]
    assert entity_scores(iob2, iob1)["entity_f1"] == 1.0
    assert entity_scores(iob1, iob1) == entity_scores(iob2, iob2)


def test_partial_span_is_a_miss_not_half_a_hit():
    s = entity_scores([["B-ORG", "I-ORG", "I-ORG"]], [["B-ORG", "I-ORG", O]])
    assert s["entity_f1"] == 0.0 and s["token_accuracy"] == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    "true, pred, f1",
    [
        ([[O, O]], [[O, O]], 0.0),  # no entities anywhere: 0 (seqeval's zero_division default), not 1
        ([["B-PER"]], [[O]], 0.0),
        ([[O]], [["B-PER"]], 0.0),
        ([["B-PER"], ["B-LOC"]], [["B-PER"], ["B-LOC"]], 1.0),
        ([["B-PER"], ["B-LOC"]], [["B-LOC"], ["B-PER"]], 0.0),  # same spans, swapped sentences: not a hit
    ],
)
def test_edge_cases(true, pred, f1):
    assert entity_scores(true, pred)["entity_f1"] == f1


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="sentence 0"):
        entity_scores([["B-PER", O]], [["B-PER"]])
    with pytest.raises(ValueError, match="1 predicted sentences for 2"):
        entity_scores([[O], [O]], [[O]])


def test_tag_agreement():
    assert tag_agreement([[1, 2, 3], [4]], [[1, 2, 0], [4]]) == 0.75
    with pytest.raises(ValueError):
        tag_agreement([[1]], [[1, 2]])
