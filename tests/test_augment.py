"""Perturbed copies of training texts for distillation (edgebert.compress.augment)."""

from __future__ import annotations

import pytest

from edgebert.compress.augment import augment_texts

TEXTS = (
    "a quiet and moving film about grief",
    "the plot never comes together and the jokes fall flat",
    "great",
    "one of the year's best, with a cast that never puts a foot wrong",
)


@pytest.mark.parametrize("copies", [0, 1, 3])
def test_copies_are_new_distinct_and_made_of_the_training_words(copies):
    out = augment_texts(TEXTS, copies)
    vocabulary = {w for t in TEXTS for w in t.split()}
    assert len(out) <= copies * len(TEXTS)
    assert len(out) >= copies * (len(TEXTS) - 1)  # only the one-word text may run out of variants
    assert len(set(out)) == len(out) and not set(out) & set(TEXTS)
    assert all(t and set(t.split()) <= vocabulary for t in out)


def test_the_same_texts_give_the_same_copies_and_another_seed_others():
    assert augment_texts(TEXTS, 2) == augment_texts(TEXTS, 2)
    assert augment_texts(TEXTS, 2) != augment_texts(TEXTS, 2, seed=1)


def test_negative_copies_are_refused():
    with pytest.raises(ValueError, match="copies"):
        augment_texts(TEXTS, -1)
